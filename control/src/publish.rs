//! Talking to the workers: versioned snapshots out, acknowledgements and replies back, over one
//! command ring and one reply ring per worker.
//!
//! Publishing a snapshot keeps the one it replaces here until every worker has acknowledged
//! the new generation (or a later one): a worker drops its old snapshot when it installs the
//! new one, before it acknowledges, so the last reference to a table is always dropped here,
//! off the hot path.
//!
//! Requests (every command but installs) are counted per worker on both sides, and a reply
//! names the count of the request it answers ([`Reply::seq`]): an answer that comes after its
//! request timed out is told from the answer to the next one.

use dataplane::dpdk::{Consumer, Producer};
use dataplane::snapshot::Snapshot;
use dataplane::worker::{Command, Reply, ReplyBody};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One worker's ends of its command and reply rings.
pub struct WorkerChannel {
    pub commands: Producer<Box<Command>>,
    pub replies: Consumer<Box<Reply>>,
}

struct Retained {
    generation: u64,
    /// The snapshot this one replaced, which workers may still be running: held only to be
    /// dropped here.
    _replaced: Arc<Snapshot>,
    published: Instant,
    /// Per worker: acknowledged this generation (or a later one).
    acked: Vec<bool>,
}

/// Why a request to the workers failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Some workers did not answer in time (their indices).
    Timeout(Vec<u16>),
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RequestError::Timeout(w) => write!(f, "workers {w:?} did not answer in time"),
        }
    }
}

impl std::error::Error for RequestError {}

pub struct Publisher {
    channels: Vec<WorkerChannel>,
    /// Commands a full ring could not take yet, per worker, sent first on the next pump.
    backlog: Vec<VecDeque<Box<Command>>>,
    /// Per worker: requests sent so far (see [`Reply::seq`]).
    requests: Vec<u64>,
    current: Arc<Snapshot>,
    retained: Vec<Retained>,
    /// Publish -> last acknowledgement, for the most recent fully acknowledged snapshot.
    last_swap: Option<Duration>,
}

impl Publisher {
    /// `initial` is the snapshot the workers were built with (already installed everywhere).
    pub fn new(channels: Vec<WorkerChannel>, initial: Arc<Snapshot>) -> Publisher {
        let n = channels.len();
        Publisher {
            backlog: (0..n).map(|_| VecDeque::new()).collect(),
            requests: vec![0; n],
            channels,
            current: initial,
            retained: Vec::new(),
            last_swap: None,
        }
    }

    pub fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }

    pub fn workers(&self) -> usize {
        self.channels.len()
    }

    /// How long the last fully acknowledged swap took, from publish to the last worker's ack.
    pub fn last_swap(&self) -> Option<Duration> {
        self.last_swap
    }

    /// Sends `snapshot` to every worker. Its generation must be above the current one.
    pub fn publish(&mut self, snapshot: Arc<Snapshot>) {
        debug_assert!(snapshot.generation > self.current.generation);
        for w in 0..self.channels.len() {
            self.send(w, Box::new(Command::InstallSnapshot(snapshot.clone())));
        }
        let generation = snapshot.generation;
        self.retained.push(Retained {
            generation,
            _replaced: std::mem::replace(&mut self.current, snapshot),
            published: Instant::now(),
            acked: vec![false; self.channels.len()],
        });
    }

    fn send(&mut self, w: usize, cmd: Box<Command>) {
        if !self.backlog[w].is_empty() {
            self.backlog[w].push_back(cmd);
            return;
        }
        if let Err(cmd) = self.channels[w].commands.push(cmd) {
            self.backlog[w].push_back(cmd);
        }
    }

    /// Sends backlogged commands and takes every waiting reply; acknowledgements are consumed
    /// here, other replies are passed to `other`.
    pub fn pump(&mut self, mut other: impl FnMut(Reply)) {
        for w in 0..self.channels.len() {
            while let Some(cmd) = self.backlog[w].pop_front() {
                if let Err(cmd) = self.channels[w].commands.push(cmd) {
                    self.backlog[w].push_front(cmd);
                    break;
                }
            }
            while let Some(reply) = self.channels[w].replies.pop() {
                match reply.body {
                    ReplyBody::SnapshotInstalled { generation } => self.acknowledge(w, generation),
                    _ => other(*reply),
                }
            }
        }
    }

    fn acknowledge(&mut self, worker: usize, generation: u64) {
        for r in &mut self.retained {
            if r.generation <= generation {
                r.acked[worker] = true;
            }
        }
        let mut done = None;
        self.retained.retain(|r| {
            let all = r.acked.iter().all(|&a| a);
            if all {
                done = Some(r.published.elapsed());
            }
            !all
        });
        if done.is_some() {
            self.last_swap = done;
        }
    }

    /// Sends `make(worker)` to every worker and waits up to `timeout` for one reply from each
    /// (in worker order). Acknowledgements arriving meanwhile are processed.
    pub fn request_all(
        &mut self,
        make: impl Fn(u16) -> Command,
        timeout: Duration,
    ) -> Result<Vec<ReplyBody>, RequestError> {
        let n = self.channels.len();
        for w in 0..n {
            self.requests[w] += 1;
            self.send(w, Box::new(make(w as u16)));
        }
        let expected = self.requests.clone();
        let mut answers: Vec<Option<ReplyBody>> = (0..n).map(|_| None).collect();
        let deadline = Instant::now() + timeout;
        loop {
            self.pump(|reply| {
                let w = usize::from(reply.worker);
                // Anything else answers a request given up on earlier: dropped.
                if expected.get(w) == Some(&reply.seq) {
                    answers[w] = Some(reply.body);
                }
            });
            if answers.iter().all(Option::is_some) {
                return Ok(answers.into_iter().flatten().collect());
            }
            if Instant::now() >= deadline {
                let missing = (0..n as u16)
                    .filter(|&w| answers[usize::from(w)].is_none())
                    .collect();
                return Err(RequestError::Timeout(missing));
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Waits until every worker runs the current generation (or `timeout`); true if they do.
    pub fn wait_installed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.pump(|_| {});
            if self.retained.is_empty() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}
