//! What the control plane asks of a worker and what the worker answers, carried as boxed items
//! on per-worker rings (control -> worker commands, worker -> control replies). A worker polls
//! its command ring once per loop and never waits on the control plane.

use crate::conn::{Addr, Counters, State, Timeouts};
use crate::forward::Forwarder;
use crate::snapshot::{Method, Snapshot};
use std::sync::Arc;

/// A request to one worker.
pub enum Command {
    /// Swap to this service table between bursts; answered with [`Reply::SnapshotInstalled`].
    /// The sender keeps its own reference until every worker has answered, so the worker never
    /// frees a table on its own thread.
    InstallSnapshot(Arc<Snapshot>),
    /// List at most `max` sessions from `cursor` (0 to start; then the reply's `next`).
    ListSessions { cursor: usize, max: usize },
    /// Remove every session (ipvsadm's connection flush).
    FlushSessions,
    /// New session timeouts (ipvsadm --set); applies to new deadlines.
    SetTimeouts(Timeouts),
    /// Per-real-server counters of the current snapshot (by dest id).
    DestStats,
    /// Zero the per-real-server counters (ipvsadm -Z) of these dest ids, or of all.
    ZeroStats(Option<Vec<u32>>),
}

/// A worker's answer, tagged with the worker index and, for requests (every command but
/// `InstallSnapshot`), with how many requests this worker has taken so far (1 for its first):
/// the sender counts the requests it sends the same way, so it tells the answer to its request
/// from the late answer to one it gave up on, even when the reply ring lost a reply.
pub struct Reply {
    pub worker: u16,
    pub seq: u64,
    pub body: ReplyBody,
}

pub enum ReplyBody {
    SnapshotInstalled {
        generation: u64,
    },
    Sessions {
        entries: Vec<SessionEntry>,
        next: Option<usize>,
    },
    Flushed {
        sessions: usize,
    },
    TimeoutsSet,
    DestStats(Vec<crate::forward::DestStats>),
    StatsZeroed,
}

/// One connection as `ipvsadm -Lnc` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    pub protocol: u8,
    pub state: State,
    /// Milliseconds until it expires.
    pub expires_ms: u64,
    pub client: (Addr, u16),
    pub virtual_: (Addr, u16),
    pub dest: (Addr, u16),
    /// FULLNAT: the local address and port the real server sees.
    pub local: Option<(Addr, u16)>,
    pub method: Method,
    pub counters: Counters,
    /// Persistence template rather than a connection.
    pub template: bool,
}

/// Up to `max` sessions of `fw` from slot `cursor`; `next` is where to continue, None at the end.
pub(super) fn list_sessions(
    fw: &Forwarder,
    cursor: usize,
    max: usize,
    now_ms: u64,
) -> (Vec<SessionEntry>, Option<usize>) {
    let mut entries = Vec::with_capacity(max.min(fw.sessions().len()));
    let mut next = None;
    for (id, s) in fw.sessions().iter_from(cursor) {
        if entries.len() == max {
            next = Some(id.slot() as usize);
            break;
        }
        let k = s.in_key();
        let b = &s.payload;
        let local = match (b.method, s.out_key()) {
            (Method::FullNat, Some(out)) => Some((out.dst, out.dst_port)),
            _ => None,
        };
        entries.push(SessionEntry {
            protocol: k.protocol,
            state: s.state(),
            expires_ms: s.deadline().saturating_sub(now_ms),
            client: (k.src, k.src_port),
            virtual_: (k.dst, k.dst_port),
            dest: (b.dest_addr, b.dest_port),
            local,
            method: b.method,
            counters: s.counters(),
            template: s.is_template(),
        });
    }
    (entries, next)
}
