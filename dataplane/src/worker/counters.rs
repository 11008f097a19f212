//! A worker's counters as the control thread sees them. The worker counts in plain fields and
//! copies them here every [`PUBLISH_INTERVAL_US`] (relaxed stores, no lock, nothing per packet);
//! the control thread reads a [`WorkerCounters`] copy whenever it likes.
//!
//! The counters are defined once, in the `worker_counters!` table below; the struct, the layout
//! of the shared block, the exported metrics (names, kinds, help) and the shutdown summary all
//! derive from it.
//!
//! Every published copy satisfies, exactly,
//! `rx == tx + redirected_out + to_control + reassembled + drops` (the sum over every reason):
//! each received packet is in exactly one term, by its final fate. A packet lost after its
//! verdict (a queue or ring full) leaves its verdict's term for the drop reason of the loss
//! (`tx_full`, `redirect_full`, `control_full`: [`DropReason::IO`]); so `tx` counts packets
//! transmitted or waiting in a tx buffer, and at shutdown what a buffer still holds moves from
//! `tx` to `tx_full` (the only time a counter goes back).
//!
//! Fragments: one held for reassembly is not counted (rx nor fate) until its fate is known;
//! one the reassembler drops counts rx and its drop (`frag_refused`, `frag_timeout` — those
//! still held at shutdown too —, `frag_too_big`). When a datagram of N fragments completes, the
//! fragment that completed it stands for the datagram (one rx, the datagram's one fate: a
//! redirected datagram is one packet on both workers) and the N - 1 others count rx and
//! `reassembled`. A packet sent as K fragments is one packet (one `tx`): only its last
//! fragment counts if lost in a tx buffer, and its first fragment refused stops the rest and
//! counts the packet in `tx_full` once; fragments made are not received frames.

use crate::forward::WorkerStats;
use crate::verdict::DropReason;
use std::fmt;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// How often a worker publishes its counters.
pub const PUBLISH_INTERVAL_US: u64 = 10_000;

/// How a value behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (until the process restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One exported metric of a worker (one series per worker, or per worker and drop reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// Snake_case name, unique among a worker's metrics; the exporter adds its prefix.
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

/// One row of the table: a `u64` field of [`WorkerCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's name.
    pub name: &'static str,
    pub kind: Kind,
    /// Exported under this name, if at all.
    pub metric: Option<&'static str>,
    /// Shown under this label in [`WorkerCounters::summary`], if at all: the terms of the
    /// identity, `rx` first.
    pub summary: Option<&'static str>,
    pub help: &'static str,
}

impl Field {
    /// The metric this field is exported as, if it is.
    pub fn metric(&self) -> Option<Metric> {
        Some(Metric {
            name: self.metric?,
            kind: self.kind,
            help: self.help,
        })
    }
}

/// Exported besides the table's metrics: [`WorkerCounters::io_drops`].
pub const IO_DROPS: Metric = Metric {
    name: "io_drops_total",
    kind: Kind::Counter,
    help: "Packets lost after a forwarding decision (tx queue, redirect ring or control ring \
           full): the drops_total of reasons tx_full, redirect_full and control_full.",
};

/// Exported besides the table's metrics: [`WorkerCounters::drops`], one series per reason.
pub const DROPS: Metric = Metric {
    name: "drops_total",
    kind: Kind::Counter,
    help: "Packets dropped, by reason: rx = tx + redirected_out + to_control + reassembled + \
           drops (all reasons).",
};

/// Packets a worker lost after the engine decided them; the worker counts them in plain
/// fields and [`WorkerCounters::set_traffic`] moves them to their drop reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoLosses {
    /// Decided Transmit (see [`DropReason::TxFull`]).
    pub tx_full: u64,
    /// Decided Redirect (see [`DropReason::RedirectFull`]).
    pub redirect_full: u64,
    /// Decided Local (see [`DropReason::ControlFull`]).
    pub control_full: u64,
}

/// One exported value: `metric`'s series for one worker (and one drop reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub metric: Metric,
    pub reason: Option<DropReason>,
    pub value: u64,
}

/// Defines [`WorkerCounters`] from one row per `u64` field:
/// `field: Kind, metric name or -, summary label or -, "help",` (the help is the field's doc).
macro_rules! worker_counters {
    ($($field:ident: $kind:ident, $metric:tt, $summary:tt, $help:literal,)*) => {
        /// One worker's counters (monotonic unless a gauge).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct WorkerCounters {
            $(#[doc = $help] pub $field: u64,)*
            /// Packets the engine dropped, by reason (index: `DropReason as usize`).
            pub drops: [u64; DropReason::COUNT],
        }

        // By hand: arrays longer than 32 have no derived Default.
        impl Default for WorkerCounters {
            fn default() -> Self {
                WorkerCounters {
                    $($field: 0,)*
                    drops: [0; DropReason::COUNT],
                }
            }
        }

        impl WorkerCounters {
            /// The table, in field order.
            pub const FIELDS: &'static [Field] = &[$(Field {
                name: stringify!($field),
                kind: Kind::$kind,
                metric: worker_counters!(@optional $metric),
                summary: worker_counters!(@optional $summary),
                help: $help,
            },)*];

            /// Every value: the table's fields in order, then `drops`.
            fn to_array(self) -> [u64; LEN] {
                let mut a = [0; LEN];
                let fields = [$(self.$field,)*];
                a[..fields.len()].copy_from_slice(&fields);
                a[fields.len()..].copy_from_slice(&self.drops);
                a
            }

            /// The inverse of [`Self::to_array`].
            fn from_array(a: &[u64; LEN]) -> Self {
                let mut i = 0;
                $(
                    let $field = a[i];
                    i += 1;
                )*
                let mut drops = [0; DropReason::COUNT];
                drops.copy_from_slice(&a[i..]);
                WorkerCounters { $($field,)* drops }
            }
        }
    };
    (@optional -) => { None };
    (@optional $x:literal) => { Some($x) };
}

worker_counters! {
    rx: Counter, "rx_packets_total", "rx",
        "Packets the engine decided on (received from ports or handed over by other workers).",
    tx: Counter, "tx_packets_total", "tx",
        "Packets decided Transmit and handed to a tx queue or waiting in a tx buffer.",
    icmp_errors: Counter, "icmp_errors_sent_total", -,
        "Packets answered with an ICMP error in their place (time exceeded, fragmentation \
         needed); included in tx.",
    redirected_out: Counter, "redirected_out_total", "redirected",
        "Packets handed to the redirect ring of the worker that owns the flow.",
    redirected_in: Counter, "redirected_in_total", -,
        "Packets received from other workers' redirect rings (included in rx).",
    to_control: Counter, "to_control_total", "to_control",
        "Packets handed to the control ring (ARP for the neighbour cache).",
    reassembled: Counter, "reassembled_total", "reassembled",
        "IPv4 fragments absorbed into a reassembled datagram, but the one that completed it \
         (counted as the datagram, by its fate).",
    sessions: Gauge, "sessions", -,
        "Sessions (and persistence templates) in the table.",
    sessions_created: Counter, "sessions_created_total", -,
        "Sessions created.",
    sessions_expired: Counter, "sessions_expired_total", -,
        "Sessions expired.",
    capacity: Gauge, "session_capacity", -,
        "Capacity of the session table (a constant).",
    generation: Gauge, -, -,
        "Generation of the installed snapshot.",
    from_control: Counter, "from_control_total", -,
        "Frames the control plane sent through this worker (ARP requests and announcements; \
         not received, so outside rx).",
    from_control_lost: Counter, "from_control_lost_total", -,
        "Frames of the control plane the tx queue refused, or for a port not ours: freed.",
    sync_sent: Counter, "sync_records_total", -,
        "Connection sync records (new sessions, state changes) handed to the sync sender.",
    sync_lost: Counter, "sync_records_lost_total", -,
        "Connection sync records lost to a full ring (the packets were not).",
    sync_installed: Counter, "sync_installed_total", -,
        "Synced connections installed (backup sync daemon).",
    sync_refused: Counter, "sync_refused_total", -,
        "Synced connections not installed (no such service or server, bad state, full table).",
}

/// Length of the shared block: every field, then every drop reason.
const LEN: usize = WorkerCounters::FIELDS.len() + DropReason::COUNT;

impl WorkerCounters {
    /// Sets the traffic terms from the engine's verdict counts and the losses after them: each
    /// loss leaves its verdict's term for its drop reason. Contract: every loss follows a
    /// verdict the engine counted (`lost.tx_full <= engine.tx`, and so on).
    pub fn set_traffic(&mut self, engine: &WorkerStats, lost: &IoLosses) {
        self.rx = engine.rx;
        self.icmp_errors = engine.icmp_errors;
        self.tx = engine.tx - lost.tx_full;
        self.redirected_out = engine.redirected - lost.redirect_full;
        self.to_control = engine.local - lost.control_full;
        self.reassembled = engine.reassembled;
        for &reason in DropReason::ALL {
            self.drops[reason as usize] = engine.drops.get(reason);
        }
        self.drops[DropReason::TxFull as usize] += lost.tx_full;
        self.drops[DropReason::RedirectFull as usize] += lost.redirect_full;
        self.drops[DropReason::ControlFull as usize] += lost.control_full;
    }

    /// Packets dropped, every reason.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Packets lost after a forwarding decision (queues or rings full; included in drops).
    pub fn io_drops(&self) -> u64 {
        DropReason::IO.iter().map(|&r| self.drop_count(r)).sum()
    }

    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// Every exported metric: the table's, then [`IO_DROPS`] and [`DROPS`].
    pub fn metrics() -> impl Iterator<Item = Metric> {
        Self::FIELDS
            .iter()
            .filter_map(Field::metric)
            .chain([IO_DROPS, DROPS])
    }

    /// Every exported value, in the order of [`Self::metrics`] (drops: one per reason).
    pub fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        let fields = Self::FIELDS
            .iter()
            .zip(self.to_array())
            .filter_map(|(f, value)| {
                Some(Sample {
                    metric: f.metric()?,
                    reason: None,
                    value,
                })
            });
        let io = Sample {
            metric: IO_DROPS,
            reason: None,
            value: self.io_drops(),
        };
        let drops = DropReason::ALL.iter().map(|&r| Sample {
            metric: DROPS,
            reason: Some(r),
            value: self.drop_count(r),
        });
        fields.chain([io]).chain(drops)
    }

    /// One line, the identity's terms: the first field with a summary label (`rx`), `=`, the
    /// others joined by `+`, then all drops and, of them, the io drops
    /// (`rx 12 = tx 6 + redirected 2 + to_control 1 + reassembled 2 + dropped 1 (io 1)`).
    pub fn summary(&self) -> impl fmt::Display + '_ {
        Summary(self)
    }
}

struct Summary<'a>(&'a WorkerCounters);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        let mut sep = "";
        for (field, value) in WorkerCounters::FIELDS.iter().zip(c.to_array()) {
            if let Some(label) = field.summary {
                write!(f, "{sep}{label} {value}")?;
                sep = if sep.is_empty() { " = " } else { " + " };
            }
        }
        write!(f, "{sep}dropped {} (io {})", c.dropped(), c.io_drops())
    }
}

/// The published copy, shared between one worker (writer) and the control thread (reader).
/// A sequence count makes each read one whole publication (a seqlock: the writer never waits,
/// a reader retries while a publication is under way), so a read keeps the identity too.
#[repr(align(64))]
pub struct SharedCounters {
    /// Odd while a publication is being written.
    seq: AtomicU64,
    cells: [AtomicU64; LEN],
}

impl Default for SharedCounters {
    fn default() -> Self {
        SharedCounters {
            seq: AtomicU64::new(0),
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl SharedCounters {
    /// Contract: one writer (the worker).
    pub fn publish(&self, c: &WorkerCounters) {
        let values = c.to_array();
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        for (cell, v) in self.cells.iter().zip(values) {
            cell.store(v, Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// One whole publication. Retries while one is being written: a publication is a few dozen
    /// stores that cannot fail, every 10 ms.
    pub fn read(&self) -> WorkerCounters {
        let mut a = [0; LEN];
        loop {
            let before = self.seq.load(Ordering::Acquire);
            for (v, cell) in a.iter_mut().zip(&self.cells) {
                *v = cell.load(Ordering::Relaxed);
            }
            fence(Ordering::Acquire);
            if before.is_multiple_of(2) && self.seq.load(Ordering::Relaxed) == before {
                return WorkerCounters::from_array(&a);
            }
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counters whose every value (field or drop reason) is distinct: `100 + index`.
    fn distinct() -> WorkerCounters {
        WorkerCounters::from_array(&std::array::from_fn(|i| 100 + i as u64))
    }

    #[test]
    fn publish_then_read_round_trips_every_field() {
        let c = distinct();
        // Every slot lands in its own field (a slot read twice or never would repeat a value
        // or leave a default).
        let mut values = c.to_array().to_vec();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), LEN);
        assert!(values.iter().all(|&v| v >= 100));
        let shared = SharedCounters::default();
        shared.publish(&c);
        assert_eq!(shared.read(), c);
        assert_eq!(c.drop_count(DropReason::ALL[0]), c.drops[0]);
    }

    #[test]
    fn fields_follow_the_table() {
        let c = WorkerCounters {
            rx: 1,
            redirected_out: 3,
            from_control: 6,
            ..WorkerCounters::default()
        };
        let a = c.to_array();
        let at = |name| {
            a[WorkerCounters::FIELDS
                .iter()
                .position(|f| f.name == name)
                .unwrap()]
        };
        assert_eq!(
            (at("rx"), at("redirected_out"), at("from_control")),
            (1, 3, 6)
        );
    }

    #[test]
    fn losses_move_from_their_verdict_to_their_drop_reason() {
        let mut engine = WorkerStats {
            rx: 107,
            tx: 60,
            redirected: 20,
            local: 5,
            reassembled: 7,
            ..WorkerStats::default()
        };
        for _ in 0..15 {
            engine.drops.count(DropReason::NotOurMac);
        }
        let lost = IoLosses {
            tx_full: 4,
            redirect_full: 3,
            control_full: 2,
        };
        let mut c = WorkerCounters::default();
        c.set_traffic(&engine, &lost);
        assert_eq!(
            (c.rx, c.tx, c.redirected_out, c.to_control, c.reassembled),
            (107, 56, 17, 3, 7)
        );
        assert_eq!(c.drop_count(DropReason::NotOurMac), 15);
        assert_eq!(c.drop_count(DropReason::TxFull), 4);
        assert_eq!(c.drop_count(DropReason::RedirectFull), 3);
        assert_eq!(c.drop_count(DropReason::ControlFull), 2);
        assert_eq!((c.dropped(), c.io_drops()), (24, 9));
        let ends = c.tx + c.redirected_out + c.to_control + c.reassembled + c.dropped();
        assert_eq!(ends, c.rx);
    }

    #[test]
    fn a_read_is_one_whole_publication() {
        let shared = std::sync::Arc::new(SharedCounters::default());
        let writer = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                // Publications back to back, far closer than a worker's (10 ms).
                for n in 1..=50_000 {
                    let mut c = WorkerCounters {
                        rx: n,
                        tx: n,
                        ..WorkerCounters::default()
                    };
                    c.drops[DropReason::COUNT - 1] = n;
                    shared.publish(&c);
                    for _ in 0..200 {
                        std::hint::spin_loop();
                    }
                }
            })
        };
        let mut reads = 0;
        loop {
            let done = writer.is_finished();
            let c = shared.read();
            assert!(
                c.rx == c.tx && c.tx == c.drops[DropReason::COUNT - 1],
                "{c:?}"
            );
            reads += 1;
            if done {
                break;
            }
        }
        writer.join().unwrap();
        assert!(reads > 1);
    }

    #[test]
    fn metric_names_are_unique() {
        let mut names: Vec<_> = WorkerCounters::metrics().map(|m| m.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn samples_cover_every_metric_with_its_value() {
        let c = distinct();
        let samples: Vec<_> = c.samples().collect();
        let exported = WorkerCounters::FIELDS.iter().filter(|f| f.metric.is_some());
        assert_eq!(samples.len(), exported.count() + 1 + DropReason::COUNT);
        let value = |name| {
            samples
                .iter()
                .find(|s| s.metric.name == name)
                .unwrap()
                .value
        };
        assert_eq!(value("rx_packets_total"), c.rx);
        assert_eq!(value("sessions"), c.sessions);
        assert_eq!(value("io_drops_total"), c.io_drops());
        for &r in DropReason::ALL {
            let s = samples.iter().find(|s| s.reason == Some(r)).unwrap();
            assert_eq!((s.metric, s.value), (DROPS, c.drop_count(r)));
        }
        let mut metrics: Vec<_> = samples.iter().map(|s| s.metric).collect();
        metrics.dedup();
        assert_eq!(metrics, WorkerCounters::metrics().collect::<Vec<_>>());
    }

    #[test]
    fn summary_reads_like_the_shutdown_line() {
        let mut c = WorkerCounters {
            rx: 12,
            tx: 6,
            redirected_out: 2,
            to_control: 1,
            reassembled: 2,
            ..WorkerCounters::default()
        };
        c.drops[DropReason::TxFull as usize] = 1;
        assert_eq!(
            c.summary().to_string(),
            "rx 12 = tx 6 + redirected 2 + to_control 1 + reassembled 2 + dropped 1 (io 1)"
        );
    }
}
