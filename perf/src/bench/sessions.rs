//! The sessions scenario: rvs DR's cost per packet as its live sessions grow, with the
//! platform's cost of a random memory access at the session table's footprint.

use super::device::Dut;
use super::runner::Bench;
use super::Res;
use crate::results::MemoryProbe;
use dataplane::conn::SessionTable;
use dataplane::xmit::Binding;

/// The sessions scenario's frame size.
pub const SESSIONS_SIZE: usize = 64;

impl Bench {
    /// rvsd's session capacity for the sessions scenario: its largest point and a fifth more.
    pub fn sessions_capacity(&self) -> usize {
        let max = self.a.sessions.iter().copied().max().unwrap_or(0) as usize;
        (max + max / 5).max(1 << 16)
    }

    /// The generator's arguments for a sessions point: `flows` UDP flows of 64 B to the DR
    /// service, the warm-up (one packet a flow, the sessions made) at a rate the device takes.
    pub fn sessions_args(&self, flows: u64) -> Vec<String> {
        [
            "--mode",
            "udp",
            "--flows",
            &flows.to_string(),
            "--size",
            &SESSIONS_SIZE.to_string(),
            "--duration",
            &self.secs(),
            "--vport",
            "80",
            "--warmup-rate",
            "800000",
        ]
        .map(String::from)
        .to_vec()
    }

    pub fn sessions(&mut self) -> Res<()> {
        let capacity = self.sessions_capacity();
        // The platform's baseline, before rvsd takes its memory: a random load past the
        // caches (64 MiB) and at the table's footprint.
        self.results.memory.clear();
        let table = SessionTable::<Binding>::footprint(capacity);
        for bytes in [64 << 20, table] {
            let ns = crate::memlat::dependent_load_ns(bytes, 3_000_000);
            eprintln!(
                "sessions: a dependent random load costs {ns:.1} ns in {} MiB",
                bytes >> 20
            );
            self.results.memory.push(MemoryProbe {
                bytes: bytes as u64,
                ns,
            });
        }
        for round in 0..self.a.rounds {
            eprintln!("sessions: round {} (rvsd capacity {capacity})", round + 1);
            let mut d = self.start(Dut::Rvsd {
                capacity,
                kernel_if: false,
                sync: false,
            })?;
            let counts = self.a.sessions.clone();
            for flows in counts {
                // Same flows 0..N each time: sessions of smaller points are a subset, so the
                // table holds ~N sessions at point N (UDP timeout 300 s).
                let args = self.sessions_args(flows);
                let Some(g) = self.point(&mut d, &args) else {
                    continue;
                };
                let v = g.gen.rx_pps;
                self.record("sessions", &mut d, "dr", SESSIONS_SIZE, flows, g, v);
            }
        }
        Ok(())
    }
}
