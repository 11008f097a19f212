//! A worker's counters as the control thread sees them. The worker counts in plain fields and
//! copies them here every [`PUBLISH_INTERVAL_US`] (relaxed stores, no lock, nothing per packet);
//! the control thread reads a [`WorkerCounters`] copy whenever it likes.

use crate::verdict::DropReason;
use std::sync::atomic::{AtomicU64, Ordering};

/// How often a worker publishes its counters.
pub const PUBLISH_INTERVAL_US: u64 = 10_000;

/// One worker's counters (monotonic unless noted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Packets the engine decided on (received from ports or handed over by other workers).
    pub rx: u64,
    pub tx: u64,
    /// Handed to the worker that owns the flow.
    pub redirected_out: u64,
    /// Received from other workers' redirect rings (included in `rx`).
    pub redirected_in: u64,
    /// Handed to the control plane (ARP for the neighbour cache).
    pub to_control: u64,
    /// Frames the control plane sent through this worker (ARP requests and announcements).
    pub from_control: u64,
    pub drops: [u64; DropReason::COUNT],
    /// Decided `Transmit` but found the tx buffer still full after a flush (the queue refuses),
    /// or the interface unknown, or left in the buffer at shutdown: freed.
    pub tx_full: u64,
    /// Decided `Redirect` but the owner's ring was full: freed.
    pub redirect_full: u64,
    /// Decided `Local` but the control ring was full: freed.
    pub control_full: u64,
    /// Current number of sessions (and templates) in the table (a gauge).
    pub sessions: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    /// Table capacity (a constant).
    pub capacity: u64,
    /// Generation of the installed snapshot (a gauge).
    pub generation: u64,
}

impl WorkerCounters {
    /// Packets lost after a forwarding decision (queues or rings full).
    pub fn io_drops(&self) -> u64 {
        self.tx_full + self.redirect_full + self.control_full
    }

    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    const FIELDS: usize = 14 + DropReason::COUNT;

    fn to_array(self) -> [u64; Self::FIELDS] {
        let mut a = [0; Self::FIELDS];
        let head = [
            self.rx,
            self.tx,
            self.redirected_out,
            self.redirected_in,
            self.to_control,
            self.tx_full,
            self.redirect_full,
            self.control_full,
            self.sessions,
            self.sessions_created,
            self.sessions_expired,
            self.capacity,
            self.generation,
            self.from_control,
        ];
        a[..14].copy_from_slice(&head);
        a[14..].copy_from_slice(&self.drops);
        a
    }

    fn from_array(a: &[u64; Self::FIELDS]) -> Self {
        let mut drops = [0; DropReason::COUNT];
        drops.copy_from_slice(&a[14..]);
        WorkerCounters {
            rx: a[0],
            tx: a[1],
            redirected_out: a[2],
            redirected_in: a[3],
            to_control: a[4],
            tx_full: a[5],
            redirect_full: a[6],
            control_full: a[7],
            sessions: a[8],
            sessions_created: a[9],
            sessions_expired: a[10],
            capacity: a[11],
            generation: a[12],
            from_control: a[13],
            drops,
        }
    }
}

/// The published copy, shared between one worker (writer) and the control thread (reader).
/// Fields are individually atomic: a reader may see a mix of two publications, which is fine
/// for monotonic counters.
#[repr(align(64))]
pub struct SharedCounters {
    cells: [AtomicU64; WorkerCounters::FIELDS],
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

    #[test]
    fn publish_then_read_round_trips_every_field() {
        let mut c = WorkerCounters {
            rx: 1,
            tx: 2,
            redirected_out: 3,
            redirected_in: 4,
            to_control: 5,
            tx_full: 6,
            redirect_full: 7,
            control_full: 8,
            sessions: 9,
            sessions_created: 10,
            sessions_expired: 11,
            capacity: 12,
            generation: 13,
            from_control: 14,
            ..WorkerCounters::default()
        };
        for (i, d) in c.drops.iter_mut().enumerate() {
            *d = 100 + i as u64;
        }
        let shared = SharedCounters::default();
        shared.publish(&c);
        assert_eq!(shared.read(), c);
        assert_eq!(c.io_drops(), 21);
        assert_eq!(c.drop_count(DropReason::NotOurMac), 101);
    }
}
