//! A worker's counters as the control thread sees them. The worker counts in plain fields and
//! copies them here every [`PUBLISH_INTERVAL_US`] (relaxed stores, no lock, nothing per packet);
//! the control thread reads a [`WorkerCounters`] copy whenever it likes.
//!
//! The counters are defined once, in the `worker_counters!` table below; the struct, the layout
//! of the shared block, the exported metrics (names, kinds, help) and the shutdown summary all
//! derive from it.

use crate::verdict::DropReason;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Shown under this label in [`WorkerCounters::summary`], if at all.
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
    help:
        "Packets lost after a forwarding decision (tx queue, redirect ring or control ring full).",
};

/// Exported besides the table's metrics: [`WorkerCounters::drops`], one series per reason.
pub const DROPS: Metric = Metric {
    name: "drops_total",
    kind: Kind::Counter,
    help: "Packets the engine dropped, by reason.",
};

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
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct WorkerCounters {
            $(#[doc = $help] pub $field: u64,)*
            /// Packets the engine dropped, by reason (index: `DropReason as usize`).
            pub drops: [u64; DropReason::COUNT],
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
        "Packets the engine decided to transmit (those then lost are in tx_full).",
    icmp_errors: Counter, "icmp_errors_sent_total", -,
        "Packets answered with an ICMP error in their place (time exceeded, fragmentation \
         needed); included in tx.",
    redirected_out: Counter, "redirected_out_total", "redirected",
        "Packets handed to the worker that owns the flow.",
    redirected_in: Counter, "redirected_in_total", -,
        "Packets received from other workers' redirect rings (included in rx).",
    to_control: Counter, -, -,
        "Packets handed to the control plane (ARP for the neighbour cache).",
    tx_full: Counter, -, -,
        "Decided Transmit but found the tx buffer still full after a flush (the queue \
         refuses), or the interface unknown, or left in the buffer at shutdown: freed.",
    redirect_full: Counter, -, -,
        "Decided Redirect but the owner's ring was full: freed.",
    control_full: Counter, -, -,
        "Decided Local but the control ring was full: freed.",
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
    from_control: Counter, -, -,
        "Frames the control plane sent through this worker (ARP requests and announcements).",
}

/// Length of the shared block: every field, then every drop reason.
const LEN: usize = WorkerCounters::FIELDS.len() + DropReason::COUNT;

impl WorkerCounters {
    /// Packets lost after a forwarding decision (queues or rings full).
    pub fn io_drops(&self) -> u64 {
        self.tx_full + self.redirect_full + self.control_full
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

    /// One line: the fields that have a summary label, then all drops and the io drops
    /// (`rx 1 tx 2 redirected 3 dropped 4 (io 5)`).
    pub fn summary(&self) -> impl fmt::Display + '_ {
        Summary(self)
    }
}

struct Summary<'a>(&'a WorkerCounters);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0;
        for (field, value) in WorkerCounters::FIELDS.iter().zip(c.to_array()) {
            if let Some(label) = field.summary {
                write!(f, "{label} {value} ")?;
            }
        }
        write!(
            f,
            "dropped {} (io {})",
            c.drops.iter().sum::<u64>(),
            c.io_drops()
        )
    }
}

/// The published copy, shared between one worker (writer) and the control thread (reader).
/// Fields are individually atomic: a reader may see a mix of two publications, which is fine
/// for monotonic counters.
#[repr(align(64))]
pub struct SharedCounters {
    cells: [AtomicU64; LEN],
}

impl Default for SharedCounters {
    fn default() -> Self {
        SharedCounters {
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl SharedCounters {
    pub fn publish(&self, c: &WorkerCounters) {
        for (cell, v) in self.cells.iter().zip(c.to_array()) {
            cell.store(v, Ordering::Relaxed);
        }
    }

    pub fn read(&self) -> WorkerCounters {
        let a = std::array::from_fn(|i| self.cells[i].load(Ordering::Relaxed));
        WorkerCounters::from_array(&a)
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
            tx_full: 6,
            redirect_full: 7,
            control_full: 8,
            ..WorkerCounters::default()
        };
        let a = c.to_array();
        let at = |name| {
            a[WorkerCounters::FIELDS
                .iter()
                .position(|f| f.name == name)
                .unwrap()]
        };
        assert_eq!((at("rx"), at("redirected_out"), at("tx_full")), (1, 3, 6));
        assert_eq!(c.io_drops(), 21);
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
        let c = WorkerCounters {
            rx: 10,
            tx: 7,
            redirected_out: 2,
            tx_full: 1,
            drops: std::array::from_fn(|i| u64::from(i == 0)),
            ..WorkerCounters::default()
        };
        assert_eq!(
            c.summary().to_string(),
            "rx 10 tx 7 redirected 2 dropped 1 (io 1)"
        );
    }
}
