//! Connection sync daemons, as IPVS's (`ipvsadm --start-daemon master|backup`): the master
//! sends the workers' records of new sessions and state changes in IPVS's sync protocol
//! version 1 (`dataplane::sync::wire`), the backup installs what it receives in the table of
//! the worker that will own each flow. Both are threads of their own with kernel UDP sockets
//! bound to the sync interface (a kernel interface of rvs's ports), so the messages travel
//! through the exception path; either, both or none may run, started by the config's `[sync]`
//! or by rvsadm.

mod receiver;
mod sender;

use dataplane::forward::owner;
use dataplane::forward::SyncControl;
use dataplane::snapshot::Snapshot;
use dataplane::sync::{wire, InstallProducer, RecordConsumer, SyncConn, SyncInstall};
use dataplane::wire::ethernet::MacAddr;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use rvs_api::{SyncDaemon, SyncRole};

/// How long a received connection waits for its client's next hop to resolve.
const PENDING_FOR: Duration = Duration::from_secs(3);
/// Received connections waiting for a next hop, at most.
const PENDING_MAX: usize = 65536;

/// What the daemons did, shared with their threads.
#[derive(Debug, Default)]
pub struct SyncCounters {
    pub messages_sent: AtomicU64,
    pub conns_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub messages_received: AtomicU64,
    pub conns_received: AtomicU64,
    /// Connections lost on the backup: no next hop in time, or a worker's ring full.
    pub conns_lost: AtomicU64,
    /// Messages dropped, by [`wire::SyncError`] (index in `SyncError::ALL`).
    pub dropped: [AtomicU64; wire::SyncError::ALL.len()],
}

impl SyncCounters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The daemons' state on the control thread.
pub struct Sync {
    master: Option<(SyncDaemon, sender::Sender)>,
    backup: Option<(SyncDaemon, receiver::Receiver)>,
    /// The workers' record rings while no master runs.
    records: Vec<RecordConsumer>,
    /// Tells the workers to hand records over, and how often to refresh them.
    control: Arc<SyncControl>,
    installs: Vec<InstallProducer>,
    received: Option<mpsc::Receiver<Vec<SyncConn>>>,
    /// Received connections whose client's next hop is not resolved yet.
    pending: Vec<(Instant, SyncConn)>,
    /// Next hops the received connections need (kept resolved).
    next_hops: BTreeSet<(u16, Ipv4Addr)>,
    pub counters: Arc<SyncCounters>,
}

/// Resolves the next hop towards a client: its interface and the address to ARP for.
pub trait Routes {
    fn next_hop(&self, client: Ipv4Addr) -> Option<(u16, Ipv4Addr)>;
    fn mac(&self, interface: u16, addr: Ipv4Addr) -> Option<MacAddr>;
}

impl Sync {
    /// The daemons stopped, with every worker's rings.
    pub fn new(
        records: Vec<RecordConsumer>,
        installs: Vec<InstallProducer>,
        control: Arc<SyncControl>,
    ) -> Sync {
        Sync {
            master: None,
            backup: None,
            records,
            control,
            installs,
            received: None,
            pending: Vec::new(),
            next_hops: BTreeSet::new(),
            counters: Arc::new(SyncCounters::default()),
        }
    }

    /// Starts a daemon (a running one of the same role is refused, as ipvsadm's).
    pub fn start(&mut self, role: SyncRole, spec: SyncDaemon) -> Result<(), String> {
        let running = match role {
            SyncRole::Master => self.master.is_some(),
            SyncRole::Backup => self.backup.is_some(),
        };
        if running {
            return Err(format!(
                "the {} sync daemon is already running",
                role.name()
            ));
        }
        let counters = self.counters.clone();
        match role {
            SyncRole::Master => {
                let rings = std::mem::take(&mut self.records);
                match sender::Sender::start(&spec, rings, counters) {
                    Ok(s) => {
                        self.control.on.store(true, Ordering::Relaxed);
                        self.master = Some((spec, s));
                    }
                    Err((e, rings)) => {
                        self.records = rings;
                        return Err(e);
                    }
                }
            }
            SyncRole::Backup => {
                let (tx, rx) = mpsc::channel();
                let r = receiver::Receiver::start(&spec, tx, counters)?;
                self.received = Some(rx);
                self.backup = Some((spec, r));
            }
        }
        Ok(())
    }

    /// Stops a daemon; false if it was not running.
    pub fn stop(&mut self, role: SyncRole) -> bool {
        match role {
            SyncRole::Master => {
                let Some((_, s)) = self.master.take() else {
                    return false;
                };
                self.control.on.store(false, Ordering::Relaxed);
                self.records = s.stop();
            }
            SyncRole::Backup => {
                let Some((_, r)) = self.backup.take() else {
                    return false;
                };
                r.stop();
                self.received = None;
                self.pending.clear();
            }
        }
        true
    }

    /// The master sends the records of its long-lived sessions again every `seconds` (0:
    /// never), as IPVS's `sync_refresh_period`.
    pub fn set_refresh(&mut self, seconds: u32) {
        let ms = seconds.saturating_mul(1000);
        self.control.refresh_ms.store(ms, Ordering::Relaxed);
    }

    /// The running daemons.
    pub fn running(&self) -> Vec<(SyncRole, SyncDaemon)> {
        let m = self
            .master
            .iter()
            .map(|(s, _)| (SyncRole::Master, s.clone()));
        let b = self
            .backup
            .iter()
            .map(|(s, _)| (SyncRole::Backup, s.clone()));
        m.chain(b).collect()
    }

    /// Next hops towards synced clients, for the neighbour table to keep resolved.
    pub fn next_hops(&self) -> impl Iterator<Item = (u16, Ipv4Addr)> + '_ {
        self.next_hops.iter().copied()
    }

    /// Hands what the backup received to the workers that will own each flow, by `table`;
    /// connections whose client's next hop is unresolved wait (up to [`PENDING_FOR`]).
    /// Returns true when a new next hop needs resolving.
    pub fn poll(&mut self, table: &Snapshot, routes: &impl Routes) -> bool {
        let Some(rx) = &self.received else {
            return false;
        };
        let mut conns: Vec<(Instant, SyncConn)> = std::mem::take(&mut self.pending);
        let now = Instant::now();
        conns.extend(rx.try_iter().flatten().map(|c| (now, c)));
        let mut wants = false;
        let workers = self.installs.len() as u16;
        for (since, conn) in conns {
            match self.resolve(&conn, routes) {
                Ok(Some(install)) => {
                    let w = owner::synced_owner(table, &conn, workers);
                    let ring = &mut self.installs[usize::from(w)];
                    if ring.push(install).is_err() {
                        SyncCounters::add(&self.counters.conns_lost, 1);
                    }
                }
                Ok(None) if now.duration_since(since) < PENDING_FOR => {
                    if self.pending.len() < PENDING_MAX {
                        self.pending.push((since, conn));
                    } else {
                        SyncCounters::add(&self.counters.conns_lost, 1);
                    }
                }
                Ok(None) | Err(()) => SyncCounters::add(&self.counters.conns_lost, 1),
            }
            wants |= self.pending.last().is_some_and(|(_, c)| c == &conn)
                && self.wants_new_hop(&conn, routes);
        }
        wants
    }

    /// The install of `conn`: None while its client's next hop is unresolved; Err if there is
    /// no route to the client.
    fn resolve(&self, conn: &SyncConn, routes: &impl Routes) -> Result<Option<SyncInstall>, ()> {
        let client = conn.caddr.to_v4().map(Ipv4Addr::from).ok_or(())?;
        let (interface, hop) = routes.next_hop(client).ok_or(())?;
        Ok(routes.mac(interface, hop).map(|mac| SyncInstall {
            conn: *conn,
            client_if: interface,
            client_mac: mac,
        }))
    }

    fn wants_new_hop(&mut self, conn: &SyncConn, routes: &impl Routes) -> bool {
        let Some(client) = conn.caddr.to_v4().map(Ipv4Addr::from) else {
            return false;
        };
        routes
            .next_hop(client)
            .is_some_and(|hop| self.next_hops.insert(hop))
    }
}

impl Drop for Sync {
    fn drop(&mut self) {
        self.stop(SyncRole::Master);
        self.stop(SyncRole::Backup);
    }
}
