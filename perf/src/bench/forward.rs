//! The forwarding scenario: established flows at each frame size through testpmd io, testpmd
//! 5tswap and every rvs forwarding mode.

use super::device::Dut;
use super::runner::Bench;
use super::rvsd::MODES;
use super::Res;
use crate::results::RVS;

/// The forwarding scenario's flows, and rvsd's session capacity for it.
pub const FORWARD_FLOWS: u64 = 1000;
pub const FORWARD_RVSD: Dut = Dut::Rvsd {
    capacity: 1 << 20,
    kernel_if: false,
    sync: false,
};

impl Bench {
    /// The generator's arguments for a forwarding point: 1000 UDP flows of `size` bytes to
    /// service port `port`.
    pub fn forward_args(&self, size: usize, port: u16) -> Vec<String> {
        [
            "--mode",
            "udp",
            "--flows",
            &FORWARD_FLOWS.to_string(),
            "--size",
            &size.to_string(),
            "--duration",
            &self.secs(),
            "--vport",
            &port.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn forward(&mut self) -> Res<()> {
        let sizes = self.a.sizes.clone();
        for round in 0..self.a.rounds {
            eprintln!("forward: round {}", round + 1);
            // Devices alternate per frame size, so that each ratio compares runs a few seconds
            // apart (the machine is shared and its load changes by the minute).
            for &size in &sizes {
                for dut in [Dut::TestpmdIo, Dut::Testpmd5tswap, FORWARD_RVSD] {
                    let mut d = self.start(dut)?;
                    let modes: Vec<(&str, u16)> = if dut.name() == RVS {
                        MODES.to_vec()
                    } else {
                        vec![("-", 80)]
                    };
                    for (mode, port) in modes {
                        let args = self.forward_args(size, port);
                        let Some(g) = self.point(&mut d, &args) else {
                            continue;
                        };
                        let v = g.gen.rx_pps;
                        self.record("forward", &mut d, mode, size, FORWARD_FLOWS, g, v);
                    }
                }
            }
        }
        Ok(())
    }
}
