//! The connections-per-second scenario: TCP handshakes through testpmd io and rvs (DR and
//! FULLNAT), each rvs mode on a fresh rvsd.

use super::device::Dut;
use super::runner::Bench;
use super::rvsd::{CpsCase, CPS, CPS_SYNC};
use super::Res;

impl Bench {
    /// Connections per second. Each rvsd mode starts on a fresh rvsd: closed sessions stay in
    /// the table for the CLOSE timeout (10 s), so a run after another would start in a table
    /// the first one filled (evicting on every insert) and measure that instead. The table
    /// (16M sessions) holds every connection of a default 3 s run at more than 5M/s, so such a
    /// run never measures eviction either.
    pub fn cps(&mut self) -> Res<()> {
        let mut runs: Vec<(Dut, Vec<CpsCase>)> = vec![(
            Dut::TestpmdIo,
            vec![("lb", 90, "lb"), ("direct", 90, "direct")],
        )];
        for sync in [false, true] {
            for case in if sync { CPS_SYNC } else { CPS } {
                let capacity = 16 << 20;
                runs.push((
                    Dut::Rvsd {
                        capacity,
                        kernel_if: true,
                        sync,
                    },
                    vec![case],
                ));
            }
        }
        for round in 0..self.a.rounds {
            eprintln!("cps: round {}", round + 1);
            for (dut, cases) in &runs {
                let mut d = self.start(*dut)?;
                for &(mode, port, reply) in cases {
                    // Fresh client tuples for every run: no session of an earlier run is reused.
                    self.flow_base += 20_000_000;
                    let args: Vec<String> = [
                        "--mode",
                        "cps",
                        "--flows",
                        "16000000",
                        "--flow-base",
                        &self.flow_base.to_string(),
                        "--duration",
                        &self.secs(),
                        "--vport",
                        &port.to_string(),
                        "--reply",
                        reply,
                        "--size",
                        "64",
                    ]
                    .map(String::from)
                    .to_vec();
                    let Some(g) = self.point(&mut d, &args) else {
                        continue;
                    };
                    let v = g.gen.cps;
                    self.record("cps", &mut d, mode, 64, 0, g, v);
                }
            }
        }
        Ok(())
    }
}
