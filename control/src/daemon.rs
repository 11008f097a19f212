//! The running appliance: ports, pinned workers, the neighbour cache and the service table.
//!
//! Setup is separate from the loops (as in DPDK's l3fwd): [`create_pool`] and [`open_ports`]
//! open the configured devices, and [`Daemon::start`] runs the named setup steps in order:
//! interfaces, the ports' kernel interfaces ([`crate::kernel_interface`]), route and neighbour
//! tables, the first snapshot, the rings, starting the ports,
//! the queues (one rx and one tx queue per worker on every port; the control thread's own
//! frames go out through worker 0) and one [`Worker`] launched per worker lcore; the first
//! [`Daemon::poll`] then sends gratuitous ARP. [`Daemon::poll`] is one iteration of the control
//! thread (`crate::control_loop` runs it): neighbour learning and resolution, snapshot
//! acknowledgements and reclaim. [`Daemon::shutdown`] stops the workers (they drain their tx
//! buffers) and closes the ports.
//!
//! The operator's intent is [`Daemon::services`] (the same `ServiceConfig` the snapshot holds);
//! [`compile`] turns it into a snapshot by filling in each real server's interface and next-hop
//! MAC from the route table and the neighbour cache. A real server whose next hop is not
//! resolved yet has a zero MAC, and workers refuse new sessions to it (`no_neighbour`) until
//! the control thread learns the MAC and publishes a new generation.

use crate::announce::{Announced, Announcer};
use crate::config::{Config, Device};
use crate::dest_ids::DestIds;
use crate::flow::Steering;
use crate::health::{CheckerState, Health};
use crate::kernel_interface::{self, ExceptionCounts, KernelInterface};
use crate::model::{self, same_dest, ModelError, Network};
use crate::neigh::{self, NeighbourTable};
use crate::netlink::Netlink;
use crate::publish::{Publisher, RequestError, WorkerChannel};
use crate::route::RouteTable;
use crate::sync::{Sync, SyncCounters, SyncDaemon, SyncRole};
use crate::vrrp::Ownership;
use dataplane::conn::{Addr, Timeouts};
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{
    lcore, Consumer, Eal, FragTable, Mbuf, MbufBurst, Mempool, Port, PortConfig, PortStats,
    Producer, SOCKET_ANY,
};
use dataplane::forward::{DestStats, Forwarder, ForwarderConfig, SyncControl, SyncOut};
use dataplane::snapshot::{Interface, ServiceConfig, Snapshot, SnapshotError};
use dataplane::wire::arp;
use dataplane::wire::ethernet::MacAddr;
use dataplane::worker::{
    reassembly, Command, Fragments, Reply, ReplyBody, SessionEntry, SharedCounters, Worker,
    WorkerCounters, WorkerIo, WorkerLinks,
};
use rvs_api::sysctl::Sysctl;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Capacity of each worker's redirect ring (packets handed over by other workers).
const REDIRECT_RING: u32 = 4096;
/// Capacity of the workers -> control ring (ARP) and of the control -> worker 0 ring.
const CONTROL_RING: u32 = 1024;
/// Capacity of each command and reply ring.
const COMMAND_RING: u32 = 256;
/// How long a request to the workers may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Gratuitous ARP: sent at start, then this many more times a second apart.
const GARP_REPEATS: u32 = 2;
/// How often the kernel interfaces' links are matched to their ports'.
const LINK_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often the VIPs' announcements are brought up to date (`[announce]`).
const ANNOUNCE_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Debug)]
pub enum DaemonError {
    Dpdk {
        what: String,
        error: dataplane::dpdk::Error,
    },
    Snapshot(SnapshotError),
    Route(String),
    Setup(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::Dpdk { what, error } => write!(f, "{what}: {error}"),
            DaemonError::Snapshot(e) => write!(f, "services: {e}"),
            DaemonError::Route(e) => write!(f, "routes: {e}"),
            DaemonError::Setup(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DaemonError {}

fn dpdk(what: impl Into<String>) -> impl FnOnce(dataplane::dpdk::Error) -> DaemonError {
    let what = what.into();
    move |error| DaemonError::Dpdk { what, error }
}

/// Queue layout every port gets: one rx and one tx queue per worker.
pub fn port_config(config: &Config, pool: Mempool, promiscuous: bool) -> PortConfig {
    let workers = config.cores.workers.len() as u16;
    PortConfig {
        rx_queues: workers,
        tx_queues: workers,
        rx_descriptors: config.dataplane.rx_desc,
        tx_descriptors: config.dataplane.tx_desc,
        mempool: pool,
        rss: true,
        promiscuous,
    }
}

/// The mbuf pool of the daemon.
pub fn create_pool(eal: &Eal, config: &Config) -> Result<Mempool, DaemonError> {
    Mempool::create(
        eal,
        "rvs_mbufs",
        config.dataplane.mbufs,
        256,
        config.dataplane.mbuf_data_room,
        SOCKET_ANY,
    )
    .map_err(dpdk("mbuf pool"))
}

/// The pool of reassembled datagrams, shared by the workers: mbufs whose data room holds
/// the largest datagram a worker reassembles. Named per daemon start (tests start several).
pub fn create_reassembly_pool(eal: &Eal, workers: usize) -> Result<Mempool, DaemonError> {
    static STARTS: AtomicU32 = AtomicU32::new(0);
    let name = format!("rvs_reasm_{}", STARTS.fetch_add(1, Ordering::Relaxed));
    let count = (reassembly::POOL_PER_WORKER * workers as u32).max(63);
    Mempool::create(eal, &name, count, 0, reassembly::DATA_ROOM, SOCKET_ANY)
        .map_err(dpdk("reassembly pool"))
}

/// Opens every configured port (all were probed at EAL init, from [`Config::eal_args`]).
/// Virtual devices and ports with a configured MAC run promiscuous (the packet path drops
/// unicast frames for other MACs itself).
pub fn open_ports(eal: &Eal, config: &Config, pool: Mempool) -> Result<Vec<Port>, DaemonError> {
    let mut ports = Vec::with_capacity(config.ports.len());
    for (i, spec) in config.devices().enumerate() {
        let what = format!(
            "ports[{i}] ({}) device {}",
            spec.name,
            spec.device.devargs()
        );
        // Config::eal_args hands every device to the EAL (`-a` / `--vdev`): they are probed.
        let id = Port::find(spec.device.id()).map_err(dpdk(what.clone()))?;
        let promiscuous = spec.mac.is_some() || matches!(spec.device, Device::Vdev(_));
        let pc = port_config(config, pool, promiscuous);
        let what = format!(
            "{what} (needs {} rx and {} tx queues, one of each per worker; e.g. net_pcap: \
             rx_pcap and tx_pcap given {} times, net_af_packet: qpairs={})",
            pc.rx_queues, pc.tx_queues, pc.tx_queues, pc.tx_queues
        );
        let port = Port::open(eal, id, &pc).map_err(dpdk(what))?;
        ports.push(port);
    }
    Ok(ports)
}

/// Builds the snapshot for `services`: each real server's interface and next-hop MAC come from
/// the route table and the neighbour cache (zero MAC while unresolved). Also returns the next
/// hops to resolve. Pure: the caller decides whether to publish.
pub fn compile(
    generation: u64,
    interfaces: &[Interface],
    routes: &RouteTable,
    neighbours: &NeighbourTable,
    services: &[ServiceConfig],
) -> Result<(Snapshot, Vec<(u16, Ipv4Addr)>), SnapshotError> {
    let mut wanted = Vec::new();
    let mut compiled = services.to_vec();
    for service in &mut compiled {
        for d in &mut service.dests {
            let Some(addr) = d.addr.to_v4().map(Ipv4Addr::from) else {
                continue;
            };
            match routes.lookup(addr) {
                Some(hop) => {
                    d.interface = hop.interface;
                    d.mac = neighbours
                        .lookup(hop.interface, hop.addr)
                        .unwrap_or(MacAddr::ZERO);
                    if !wanted.contains(&(hop.interface, hop.addr)) {
                        wanted.push((hop.interface, hop.addr));
                    }
                }
                None => d.mac = MacAddr::ZERO,
            }
        }
    }
    let snapshot = Snapshot::build(generation, interfaces.to_vec(), compiled)?;
    Ok((snapshot, wanted))
}

/// Setup step: each interface (MAC, configured or the port device's; its own addresses, then
/// the VIPs it announces; a VLAN's port and id), and the interface number of each DPDK port id
/// (`u16::MAX` for ports that are not ours).
fn interfaces(config: &Config, ports: &[Port]) -> Result<(Vec<Interface>, Vec<u16>), DaemonError> {
    let mut interfaces: Vec<Interface> = Vec::with_capacity(config.ports.len());
    let mut interface_of_port = Vec::new();
    for (i, spec) in config.ports.iter().enumerate() {
        let port_index = spec.vlan.map_or(i, |v| usize::from(v.port));
        let mac = match (spec.mac, interfaces.get(port_index), ports.get(i)) {
            (Some(m), _, _) => m,
            (None, Some(port), _) if spec.vlan.is_some() => port.mac,
            (None, _, Some(port)) => MacAddr(port.mac().map_err(dpdk(format!("ports[{i}] MAC")))?),
            _ => return Err(DaemonError::Setup(format!("ports[{i}]: no device"))),
        };
        let mut addrs: Vec<Addr> = spec
            .addrs
            .iter()
            .map(|p| Addr::v4(p.addr.octets()))
            .collect();
        addrs.extend(spec.vips.iter().map(|v| Addr::v4(v.octets())));
        interfaces.push(Interface {
            mac,
            addrs,
            mtu: spec.mtu,
            port: port_index as u16,
            vlan: spec.vlan.map(|v| v.id),
        });
        let Some(port) = ports.get(i).filter(|_| spec.vlan.is_none()) else {
            continue;
        };
        let id = usize::from(port.id().0);
        if interface_of_port.len() <= id {
            interface_of_port.resize(id + 1, u16::MAX);
        }
        interface_of_port[id] = i as u16;
    }
    Ok((interfaces, interface_of_port))
}

/// Setup step: the ports' connected subnets and the configured static routes.
fn route_table(config: &Config) -> Result<RouteTable, DaemonError> {
    let connected: Vec<(u16, Ipv4Addr, u8)> = config
        .ports
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.addrs.iter().map(move |a| (i as u16, a.addr, a.len)))
        .collect();
    let statics: Vec<(Ipv4Addr, u8, Ipv4Addr)> = config
        .routes
        .iter()
        .map(|r| (r.prefix.addr, r.prefix.len, r.via))
        .collect();
    RouteTable::new(&connected, &statics).map_err(|e| DaemonError::Route(e.to_string()))
}

/// Setup step: a neighbour cache holding the configured static neighbours.
fn neighbour_table(config: &Config) -> NeighbourTable {
    let mut neighbours = NeighbourTable::new();
    for n in &config.neighbours {
        neighbours.add_static(n.port, n.addr, n.mac);
    }
    neighbours
}

/// Setup step: generation 1, compiled from `services`; its next hops are wanted from time 0
/// (the daemon's clock starts here).
fn first_snapshot(
    interfaces: &[Interface],
    routes: &RouteTable,
    neighbours: &mut NeighbourTable,
    services: &[ServiceConfig],
    (standby, held_extra): (Vec<Addr>, Vec<Addr>),
    sloppy_tcp: bool,
) -> Result<Arc<Snapshot>, DaemonError> {
    let now_ms = 0;
    let (snapshot, wanted) =
        compile(1, interfaces, routes, neighbours, services).map_err(DaemonError::Snapshot)?;
    for (i, a) in wanted {
        neighbours.want(i, a, now_ms);
    }
    let snapshot = snapshot.with_vrrp(standby, held_extra);
    Ok(Arc::new(snapshot.with_sloppy_tcp(sloppy_tcp)))
}

/// VRRP's view of the floating addresses (the VIPs, the local addresses and `[vrrp] addrs`):
/// those the kernel interfaces do not hold, and the `[vrrp] addrs` they hold. Nothing is
/// floating without `[vrrp]`.
fn vrrp_view(
    config: &Config,
    vrrp: Option<&Ownership>,
    services: &[ServiceConfig],
) -> (Vec<Addr>, Vec<Addr>) {
    let (Some(v), Some(own)) = (&config.vrrp, vrrp) else {
        return (Vec::new(), Vec::new());
    };
    let held = |a: &Addr| {
        a.to_v4()
            .is_some_and(|o| own.held().contains(&Ipv4Addr::from(o)))
    };
    let mut floating: Vec<Addr> = services
        .iter()
        .flat_map(|s| std::iter::once(s.key.vip).chain(s.local_addrs.iter().copied()))
        .chain(
            config
                .ports
                .iter()
                .flat_map(|p| p.vips.iter())
                .map(|a| Addr::v4(a.octets())),
        )
        .chain(v.addrs.iter().map(|a| Addr::v4(a.octets())))
        .collect();
    floating.sort();
    floating.dedup();
    let extra = v.addrs.iter().map(|a| Addr::v4(a.octets()));
    let held_extra = extra.filter(|a| held(a)).collect();
    floating.retain(|a| !held(a));
    (floating, held_extra)
}

/// The rings of one start, until they are handed to the workers ([`Rings::links`]) and the
/// control thread (`to_worker`, `from_workers`). Command and reply rings are made per worker
/// as it is launched ([`command_rings`]).
struct Rings {
    /// Tells the rings of this start from those of an earlier one in the same process.
    instance: u32,
    /// Each worker's redirect ring, read by that worker, in worker order.
    redirect_in: std::vec::IntoIter<Consumer<Mbuf>>,
    /// The same rings' producer ends, written by every other worker.
    redirect_out: Vec<Producer<Mbuf>>,
    /// Workers -> control thread (ARP), shared by the workers.
    to_control: Producer<Mbuf>,
    from_workers: Consumer<Mbuf>,
    /// Control thread -> worker 0 (the frames the control thread sends).
    to_worker: Producer<Mbuf>,
    from_control: Option<Consumer<Mbuf>>,
    /// Each worker's connection-sync rings: records out, installs in (the workers' ends, in
    /// worker order), and the daemons' ends.
    sync_out: std::vec::IntoIter<dataplane::sync::RecordProducer>,
    sync_in: std::vec::IntoIter<dataplane::sync::InstallConsumer>,
    sync: Option<Sync>,
    sync_control: Arc<SyncControl>,
}

impl Rings {
    /// Setup step: a redirect ring per worker and the two control rings.
    fn create(eal: &Eal, workers: usize) -> Result<Rings, DaemonError> {
        static INSTANCE: AtomicU32 = AtomicU32::new(0);
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let mut redirect_in = Vec::with_capacity(workers);
        let mut redirect_out = Vec::with_capacity(workers);
        for w in 0..workers {
            let (p, c) = channel::<Mbuf>(
                eal,
                &format!("rvs_redirect_{instance}_{w}"),
                REDIRECT_RING,
                Producers::Multi,
                SOCKET_ANY,
            )
            .map_err(dpdk("redirect ring"))?;
            redirect_in.push(c);
            redirect_out.push(p);
        }
        let (to_control, from_workers) = channel::<Mbuf>(
            eal,
            &format!("rvs_to_control_{instance}"),
            CONTROL_RING,
            Producers::Multi,
            SOCKET_ANY,
        )
        .map_err(dpdk("control ring"))?;
        let (to_worker, from_control) = channel::<Mbuf>(
            eal,
            &format!("rvs_from_control_{instance}"),
            CONTROL_RING,
            Producers::Single,
            SOCKET_ANY,
        )
        .map_err(dpdk("control ring"))?;
        let (sync_out, records): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| dataplane::sync::record_ring()).unzip();
        let (installs, sync_in): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| dataplane::sync::install_ring())
            .unzip();
        let sync_control = Arc::new(SyncControl::default());
        Ok(Rings {
            instance,
            redirect_in: redirect_in.into_iter(),
            redirect_out,
            to_control,
            from_workers,
            to_worker,
            from_control: Some(from_control),
            sync_out: sync_out.into_iter(),
            sync_in: sync_in.into_iter(),
            sync: Some(Sync::new(records, installs, sync_control.clone())),
            sync_control,
        })
    }

    /// Worker `w`'s links, for the workers in order from 0: its redirect ring, the other
    /// workers', the shared ring to the control thread, its command ring ends, and (the first
    /// worker only) the control thread's frames.
    fn links(&mut self, w: usize, ends: CommandEnds) -> Result<WorkerLinks, DaemonError> {
        let redirect_out = self
            .redirect_out
            .iter()
            .enumerate()
            .map(|(o, p)| if o == w { None } else { p.try_clone() })
            .collect();
        Ok(WorkerLinks {
            redirect_in: self
                .redirect_in
                .next()
                .ok_or_else(|| DaemonError::Setup("redirect rings".into()))?,
            redirect_out,
            to_control: self
                .to_control
                .try_clone()
                .ok_or_else(|| DaemonError::Setup("control ring".into()))?,
            from_control: self.from_control.take(),
            commands: ends.commands,
            replies: ends.replies,
            sync_in: self.sync_in.next(),
        })
    }
}

/// Setup step: starts every port.
fn start_ports(ports: &mut [Port]) -> Result<(), DaemonError> {
    for port in ports {
        port.start()
            .map_err(dpdk(format!("starting {}", port.name())))?;
    }
    Ok(())
}

/// Setup step: worker `w` gets queue `w` (rx and tx) of every port, in port order.
fn worker_queues(
    ports: &mut [Port],
    workers: usize,
    interface_of_port: &[u16],
) -> Result<Vec<WorkerIo>, DaemonError> {
    let mut queues: Vec<WorkerIo> = (0..workers)
        .map(|_| WorkerIo {
            rx: Vec::new(),
            tx: Vec::new(),
            interface_of_port: interface_of_port.to_vec(),
        })
        .collect();
    for port in ports {
        for (w, io) in queues.iter_mut().enumerate() {
            let q = w as u16;
            let name = port.name().to_string();
            let missing = || DaemonError::Setup(format!("{name}: queue {q} taken"));
            io.rx.push(port.rx_queue(q).ok_or_else(missing)?);
            io.tx.push(port.tx_queue(q).ok_or_else(missing)?);
        }
    }
    Ok(queues)
}

/// What every worker is launched with.
struct Launch<'a> {
    eal: &'a Eal,
    config: &'a Config,
    /// The snapshot each forwarder starts on.
    snapshot: &'a Arc<Snapshot>,
    /// Set to stop the workers.
    stop: &'a Arc<AtomicBool>,
    tsc_hz: u64,
    /// The packet pool (fragments of oversize packets) and the reassembled datagrams' pool.
    pool: Mempool,
    datagrams: Mempool,
}

/// The launched workers, as the daemon keeps them.
struct Workers {
    /// The control thread's ends of each worker's command and reply rings.
    channels: Vec<WorkerChannel>,
    counters: Vec<Arc<SharedCounters>>,
    launched: Vec<lcore::Launched>,
}

/// Setup step: launches one worker per worker lcore, worker `w` with `queues[w]`. On an error
/// after some workers were launched, they are stopped and waited for before the error is
/// returned, so that no worker keeps polling (and holding its queues).
fn launch_workers(
    launch: &Launch,
    queues: Vec<WorkerIo>,
    rings: &mut Rings,
) -> Result<Workers, DaemonError> {
    let n = queues.len();
    let mut workers = Workers {
        channels: Vec::with_capacity(n),
        counters: Vec::with_capacity(n),
        launched: Vec::with_capacity(n),
    };
    for (w, io) in queues.into_iter().enumerate() {
        if let Err(e) = launch_worker(launch, w, io, rings, &mut workers) {
            stop_workers(launch.stop, &mut workers.launched);
            return Err(e);
        }
    }
    Ok(workers)
}

/// Worker `w`: its command rings, links and forwarder, launched on its lcore.
fn launch_worker(
    launch: &Launch,
    w: usize,
    io: WorkerIo,
    rings: &mut Rings,
    workers: &mut Workers,
) -> Result<(), DaemonError> {
    let (channel, ends) = command_rings(launch.eal, rings.instance, w)?;
    workers.channels.push(channel);
    let links = rings.links(w, ends)?;
    let config = launch.config;
    let fc = ForwarderConfig {
        worker: w as u16,
        workers: config.cores.workers.len() as u16,
        capacity: config.sessions.capacity,
        seed: random_seed(w),
        timeouts: config.sessions.timeouts,
        full_policy: config.sessions.full_policy,
        exception_rates: config
            .ports
            .iter()
            .map(|p| p.kernel_interface.as_ref().map_or(0, |_| p.exception_rate))
            .collect(),
    };
    let mut forwarder = Forwarder::new(&fc, launch.snapshot.clone())
        .map_err(|e| DaemonError::Setup(format!("sessions.capacity: {e:?}")))?;
    if let Some(ring) = rings.sync_out.next() {
        let control = rings.sync_control.clone();
        forwarder = forwarder.with_sync(SyncOut { ring, control });
    }
    let shared = Arc::new(SharedCounters::default());
    workers.counters.push(shared.clone());
    let worker = Worker::new(
        w as u16,
        forwarder,
        io,
        links,
        shared,
        launch.tsc_hz,
        u64::from(config.dataplane.burst_drain_us),
    )
    .with_idle_sleep(config.dataplane.idle_sleep_us)
    .with_fragments(Fragments {
        table: FragTable::new(
            launch.eal,
            reassembly::DATAGRAMS,
            reassembly::TIMEOUT_MS,
            launch.datagrams,
            SOCKET_ANY,
        )
        .map_err(dpdk("reassembly table"))?,
        pool: launch.pool,
    });
    let stop = launch.stop.clone();
    let lcore_id = config.cores.workers[w];
    let job = move || {
        drop(worker.run(&stop));
        0
    };
    workers.launched.push(
        lcore::launch(launch.eal, lcore_id, job)
            .map_err(dpdk(format!("worker lcore {lcore_id}")))?,
    );
    Ok(())
}

/// A worker's ends of its command and reply rings.
struct CommandEnds {
    commands: Consumer<Box<Command>>,
    replies: Producer<Box<Reply>>,
}

/// Worker `w`'s command and reply rings: the control thread's ends, and the worker's.
fn command_rings(
    eal: &Eal,
    instance: u32,
    w: usize,
) -> Result<(WorkerChannel, CommandEnds), DaemonError> {
    let (cmd_p, cmd_c) = channel::<Box<Command>>(
        eal,
        &format!("rvs_cmd_{instance}_{w}"),
        COMMAND_RING,
        Producers::Single,
        SOCKET_ANY,
    )
    .map_err(dpdk("command ring"))?;
    let (rep_p, rep_c) = channel(
        eal,
        &format!("rvs_reply_{instance}_{w}"),
        COMMAND_RING,
        Producers::Single,
        SOCKET_ANY,
    )
    .map_err(dpdk("reply ring"))?;
    let channel = WorkerChannel {
        commands: cmd_p,
        replies: rep_c,
    };
    let ends = CommandEnds {
        commands: cmd_c,
        replies: rep_p,
    };
    Ok((channel, ends))
}

/// Starts the checkers of the config's keepalived.conf, if it has any; those checking as one
/// of `previous`'s did keep its state.
fn start_health(config: &Config, previous: Option<&Health>) -> Result<Option<Health>, DaemonError> {
    let Some(k) = &config.keepalived else {
        return Ok(None);
    };
    if !k
        .virtual_servers
        .iter()
        .any(|(_, vs)| vs.real_servers.iter().any(|r| !r.checkers.is_empty()))
    {
        return Ok(None);
    }
    let (keys, vss): (Vec<_>, Vec<_>) = k.virtual_servers.iter().cloned().unzip();
    Health::start(&vss, &keys, previous)
        .map(Some)
        .map_err(|e| DaemonError::Setup(format!("starting the health checks: {e}")))
}

/// Setup step: the VIPs' announcements, with `[announce]`.
fn open_announcer(config: &Config) -> Result<Option<Announcer>, DaemonError> {
    let Some(a) = config.announce else {
        return Ok(None);
    };
    Announcer::open(a.table)
        .map(Some)
        .map_err(|e| DaemonError::Setup(format!("announce: netlink: {e}")))
}

/// The first section of `old` that `new` changes, other than the services.
fn restart_needed(old: &Config, new: &Config) -> Option<&'static str> {
    [
        (old.eal == new.eal, "[eal]"),
        (old.cores == new.cores, "[cores]"),
        (old.dataplane == new.dataplane, "[dataplane]"),
        (old.sessions == new.sessions, "[sessions]"),
        (old.control == new.control, "[control]"),
        (old.metrics == new.metrics, "[metrics]"),
        (old.ports == new.ports, "[[ports]]"),
        (old.routes == new.routes, "[[routes]]"),
        (old.neighbours == new.neighbours, "[[neighbours]]"),
        (
            old.sync == new.sync && old.sync_refresh_s == new.sync_refresh_s,
            "[sync]",
        ),
        (old.vrrp == new.vrrp, "[vrrp]"),
        (old.announce == new.announce, "[announce]"),
    ]
    .into_iter()
    .find_map(|(same, section)| (!same).then_some(section))
}

pub struct Daemon {
    config: Config,
    pool: Mempool,
    /// Kept open for the daemon's life; closed after the workers stopped.
    ports: Vec<Port>,
    /// The ports' kernel interfaces; closing them removes them from the kernel.
    kernel: Vec<KernelInterface>,
    /// For the kernel interfaces' link changes (opened at the first).
    netlink: Option<Netlink>,
    next_link_check: Instant,
    interfaces: Vec<Interface>,
    interface_of_port: Vec<u16>,
    routes: RouteTable,
    neighbours: NeighbourTable,
    services: Vec<ServiceConfig>,
    /// Hands out real-server ids.
    dest_ids: DestIds,
    timeouts: Timeouts,
    publisher: Publisher,
    /// Frames for worker 0 to transmit, each with its output port id in `Mbuf::port`.
    to_worker: Producer<Mbuf>,
    from_workers: Consumer<Mbuf>,
    counters: Vec<Arc<SharedCounters>>,
    launched: Vec<lcore::Launched>,
    stop: Arc<AtomicBool>,
    started: Instant,
    garp_left: u32,
    next_garp: Instant,
    steering: Steering,
    due: Vec<(u16, Ipv4Addr)>,
    /// The keepalived.conf's checkers, when it has any.
    health: Option<Health>,
    /// The connection sync daemons.
    sync: Sync,
    /// `[vrrp]`: which floating addresses the kernel interfaces hold.
    vrrp: Option<Ownership>,
    /// IPVS's `sloppy_tcp` (`[sysctl]`, `rvsadm --sysctl`), published with the table.
    sloppy_tcp: bool,
    /// `[announce]`: the VIPs' routes for BIRD, brought up to date at `next_announce`.
    announcer: Option<Announcer>,
    next_announce: Instant,
}

impl Daemon {
    /// Configures `ports` (in config order), launches the workers and sends gratuitous ARP.
    /// The workers start forwarding with the configured services at once. The steps, in order:
    /// `interfaces`, `route_table` and `neighbour_table` from the config, `first_snapshot`,
    /// `Rings::create`, `start_ports`, `worker_queues` and `launch_workers`; then the control
    /// thread's first [`poll`](Self::poll). A step that fails ends the start with its error;
    /// workers launched by then are stopped and waited for first.
    pub fn start(
        eal: &Eal,
        config: Config,
        pool: Mempool,
        mut ports: Vec<Port>,
    ) -> Result<Daemon, DaemonError> {
        let n_workers = config.cores.workers.len();
        if ports.len() != config.devices().count() {
            return Err(DaemonError::Setup(format!(
                "{} ports opened for {} configured",
                ports.len(),
                config.devices().count()
            )));
        }
        let (interfaces, interface_of_port) = interfaces(&config, &ports)?;
        let kernel =
            kernel_interface::open(eal, &config, &interfaces, pool).map_err(DaemonError::Setup)?;
        let routes = route_table(&config)?;
        let mut neighbours = neighbour_table(&config);
        let services = config.services.clone();
        let started = Instant::now();
        let vrrp = match &config.vrrp {
            Some(_) => Some(
                Ownership::open(kernel.iter().map(|k| k.name.clone()).collect())
                    .map_err(|e| DaemonError::Setup(format!("vrrp: address events: {e}")))?,
            ),
            None => None,
        };
        let announcer = open_announcer(&config)?;
        let view = vrrp_view(&config, vrrp.as_ref(), &services);
        let sloppy_tcp = config.sloppy_tcp;
        let snapshot = first_snapshot(
            &interfaces,
            &routes,
            &mut neighbours,
            &services,
            view,
            sloppy_tcp,
        )?;
        let mut rings = Rings::create(eal, n_workers)?;
        start_ports(&mut ports)?;
        let queues = worker_queues(&mut ports, n_workers, &interface_of_port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let launch = Launch {
            eal,
            config: &config,
            snapshot: &snapshot,
            stop: &stop,
            tsc_hz: lcore::tsc_hz(eal),
            pool,
            datagrams: create_reassembly_pool(eal, n_workers)?,
        };
        let workers = launch_workers(&launch, queues, &mut rings)?;
        let timeouts = config.sessions.timeouts;
        let mut daemon = Daemon {
            steering: Steering::SingleWorker,
            config,
            pool,
            ports,
            kernel,
            netlink: None,
            next_link_check: started,
            interfaces,
            interface_of_port,
            routes,
            neighbours,
            dest_ids: DestIds::new(services.iter().flat_map(|s| s.dests.iter().map(|d| d.id))),
            services,
            timeouts,
            publisher: Publisher::new(workers.channels, snapshot),
            to_worker: rings.to_worker,
            from_workers: rings.from_workers,
            counters: workers.counters,
            launched: workers.launched,
            stop,
            started,
            garp_left: GARP_REPEATS + 1,
            next_garp: started,
            due: Vec::new(),
            health: None,
            sync: rings
                .sync
                .take()
                .ok_or_else(|| DaemonError::Setup("sync rings".into()))?,
            vrrp,
            sloppy_tcp,
            announcer,
            next_announce: started,
        };
        daemon.sync.set_refresh(daemon.config.sync_refresh_s);
        for (role, spec) in daemon.config.sync.clone() {
            daemon.sync.start(role, spec).map_err(DaemonError::Setup)?;
        }
        daemon.health = start_health(&daemon.config, None)?;
        daemon.settle_health()?;
        daemon.update_steering();
        daemon.poll();
        Ok(daemon)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// One iteration of the control thread (non-blocking). True if a kernel interface had
    /// more frames than one iteration takes: poll again soon.
    pub fn poll(&mut self) -> bool {
        let now = self.now_ms();
        self.publisher.pump(|_| {});
        let mut burst = MbufBurst::<32>::new();
        let mut changed = false;
        while self.from_workers.pop_burst(&mut burst) > 0 {
            for m in burst.drain() {
                let Some(info) = neigh::parse_arp(m.data()) else {
                    self.hand_to_kernel(m);
                    continue;
                };
                let port = self
                    .interface_of_port
                    .get(usize::from(m.port()))
                    .copied()
                    .unwrap_or(u16::MAX);
                // The workers handed over only frames of a configured VLAN (or untagged).
                let vid = info.vlan_id.unwrap_or(0);
                let iface = self
                    .snapshot()
                    .vlan_interface(port, vid)
                    .unwrap_or(u16::MAX);
                changed |= self
                    .neighbours
                    .learn(iface, info.sender_ip, info.sender_mac, now);
                self.answer_arp(iface, &info);
                self.hand_to_kernel(m);
            }
        }
        let mut kernel_busy = false;
        for k in &mut self.kernel {
            if let Some(port) = self.ports.get(usize::from(k.port)) {
                kernel_busy |= k.from_kernel(port.id().0, &mut self.to_worker);
            }
        }
        if !self.kernel.is_empty() && Instant::now() >= self.next_link_check {
            self.next_link_check = Instant::now() + LINK_CHECK_INTERVAL;
            self.follow_links();
        }
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        changed |= self.neighbours.due_requests(now, &mut due);
        for &(iface, addr) in &due {
            self.send_arp_request(iface, addr);
        }
        self.due = due;
        if self.garp_left > 0 && Instant::now() >= self.next_garp {
            self.garp_left -= 1;
            self.next_garp = Instant::now() + Duration::from_secs(1);
            self.send_gratuitous_arp();
        }
        if changed {
            // The services are unchanged and were valid: only next-hop MACs moved.
            let _ = self.republish();
        }
        self.follow_health();
        self.follow_sync(now);
        self.follow_vrrp();
        self.follow_announce();
        kernel_busy
    }

    /// Brings the VIPs' announcements up to date, every [`ANNOUNCE_INTERVAL`].
    fn follow_announce(&mut self) {
        if self.announcer.is_none() || Instant::now() < self.next_announce {
            return;
        }
        self.next_announce = Instant::now() + ANNOUNCE_INTERVAL;
        let wanted = self.announce_wanted();
        if let Some(a) = &mut self.announcer {
            a.update(&wanted);
        }
    }

    /// The VIPs to announce: those whose every service can serve (its quorum of live real
    /// servers where the keepalived.conf checks it, else a real server of weight > 0), each
    /// through the kernel interface of the port that lists it (else the first), while that
    /// interface is up. A box that cannot serve all of a VIP leaves it to the others.
    fn announce_wanted(&self) -> Announced {
        let mut serves: BTreeMap<Ipv4Addr, bool> = BTreeMap::new();
        for s in &self.services {
            let IpAddr::V4(vip) = s.key.vip.to_ip() else {
                continue;
            };
            let up = match self.health.as_ref().and_then(|h| h.has_quorum(&s.key)) {
                Some(quorum) => quorum,
                None => s.dests.iter().any(|d| d.weight > 0),
            };
            *serves.entry(vip).or_insert(true) &= up;
        }
        let mut wanted = Announced::new();
        for (vip, _) in serves.into_iter().filter(|&(_, up)| up) {
            let lists = |k: &&KernelInterface| {
                let spec = self.config.ports.get(usize::from(k.port));
                spec.is_some_and(|p| p.vips.contains(&vip))
            };
            let k = self.kernel.iter().find(lists).or(self.kernel.first());
            if let Some(k) = k.filter(|k| k.is_up()) {
                wanted.insert(vip, k.index());
            }
        }
        wanted
    }

    /// The announced VIPs (`[announce]`).
    pub fn announced(&self) -> Option<&Announced> {
        self.announcer.as_ref().map(|a| a.announced())
    }

    /// Serves the floating addresses the kernel interfaces hold now (keepalived moved them):
    /// the table changes, and the addresses taken are announced.
    fn follow_vrrp(&mut self) {
        let Some(own) = &mut self.vrrp else {
            return;
        };
        let before = own.held().clone();
        if !own.poll() {
            return;
        }
        let now = own.held().clone();
        for a in now.difference(&before) {
            eprintln!("rvsd: VRRP: the kernel interfaces hold {a}: serving it");
        }
        for a in before.difference(&now) {
            eprintln!("rvsd: VRRP: the kernel interfaces gave {a} up: standby");
        }
        if let Err(e) = self.republish() {
            eprintln!("rvsd: VRRP: the table was refused: {e}");
        }
        self.garp_left = GARP_REPEATS + 1;
        self.next_garp = Instant::now();
    }

    /// Hands the connections the backup sync daemon received to the workers; the next hops
    /// towards their clients are resolved like a real server's.
    fn follow_sync(&mut self, now: u64) {
        let table = self.publisher.current().clone();
        let routes = SyncRoutes {
            routes: &self.routes,
            neighbours: &self.neighbours,
        };
        if self.sync.poll(&table, &routes) {
            let hops: Vec<_> = self.sync.next_hops().collect();
            for (i, a) in hops {
                self.neighbours.want(i, a, now);
            }
        }
    }

    /// Starts a connection sync daemon (rvsadm --start-daemon).
    /// Its interface must be a port's kernel interface, or `lo` (daemons of one machine).
    pub fn start_sync(&mut self, role: SyncRole, spec: SyncDaemon) -> Result<(), String> {
        let known = self
            .config
            .ports
            .iter()
            .any(|p| p.kernel_interface.as_deref() == Some(spec.mcast_interface.as_str()));
        if !known && spec.mcast_interface != "lo" {
            return Err(format!(
                "--mcast-interface {}: not the kernel interface of a port",
                spec.mcast_interface
            ));
        }
        self.sync.start(role, spec)
    }

    /// Stops a connection sync daemon; false if it was not running.
    pub fn stop_sync(&mut self, role: SyncRole) -> bool {
        self.sync.stop(role)
    }

    /// The running sync daemons (rvsadm -L --daemon).
    pub fn sync_daemons(&self) -> Vec<(SyncRole, SyncDaemon)> {
        self.sync.running()
    }

    /// What the sync daemons did.
    pub fn sync_counters(&self) -> &SyncCounters {
        &self.sync.counters
    }

    /// Applies what the health checks ask of the table, as an rvsadm change would be.
    fn follow_health(&mut self) {
        let Some(mut health) = self.health.take() else {
            return;
        };
        let net = Network {
            ports: &self.config.ports,
            routes: &self.config.routes,
        };
        let wanted = health.poll(&self.services, net);
        self.health = Some(health);
        let result = match wanted {
            Ok(Some(services)) => self.set_services(services),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!(
                "rvsd: the health checks' change was refused: {}",
                e.ipvsadm()
            );
        }
    }

    /// Puts the services as the health states have them ([`Health::settle`]).
    fn settle_health(&mut self) -> Result<(), DaemonError> {
        let Some(mut health) = self.health.take() else {
            return Ok(());
        };
        let net = Network {
            ports: &self.config.ports,
            routes: &self.config.routes,
        };
        let settled = health.settle(self.services.clone(), net);
        self.health = Some(health);
        let refused = |e: ModelError| DaemonError::Setup(e.ipvsadm());
        let services = settled.map_err(refused)?;
        if services != self.services {
            self.set_services(services).map_err(refused)?;
        }
        Ok(())
    }

    /// Replaces the service table and health checks with `config`'s, as one change: sessions
    /// stay, and so do the states of checkers that check as before. Only the services (the
    /// TOML's and the keepalived.conf's) may differ from the running configuration; anything
    /// else takes a restart. On error nothing changes.
    pub fn reload(&mut self, config: Config) -> Result<(), String> {
        if let Some(section) = restart_needed(&self.config, &config) {
            return Err(format!("{section} changed: that takes a restart"));
        }
        let mut health = start_health(&config, self.health.as_ref()).map_err(|e| e.to_string())?;
        let net = Network {
            ports: &config.ports,
            routes: &config.routes,
        };
        let services = match &mut health {
            Some(h) => h.settle(config.services.clone(), net),
            None => Ok(config.services.clone()),
        };
        let services = services.map_err(|e| e.ipvsadm())?;
        self.set_services(services).map_err(|e| e.ipvsadm())?;
        self.health = health;
        if config.sloppy_tcp != self.sloppy_tcp {
            self.set_sysctl(Sysctl::SloppyTcp, u32::from(config.sloppy_tcp))
                .map_err(|e| e.to_string())?;
        }
        self.config = config;
        Ok(())
    }

    /// An IPVS sysctl's value now.
    pub fn sysctl(&self, name: Sysctl) -> u32 {
        match name {
            Sysctl::SloppyTcp => u32::from(self.sloppy_tcp),
        }
    }

    /// Sets an IPVS sysctl (`value` checked by the caller): the workers have it with the next
    /// table. On error nothing changes.
    pub fn set_sysctl(&mut self, name: Sysctl, value: u32) -> Result<(), SnapshotError> {
        let old = self.sloppy_tcp;
        match name {
            Sysctl::SloppyTcp => self.sloppy_tcp = value != 0,
        }
        self.republish().inspect_err(|_| self.sloppy_tcp = old)
    }

    /// The health checkers' states (none without a keepalived.conf with checkers).
    pub fn health(&self) -> &[CheckerState] {
        self.health.as_ref().map_or(&[], |h| h.checkers())
    }

    /// Sets each kernel interface up or down as its port's link is (a port whose link cannot
    /// be read counts as up).
    fn follow_links(&mut self) {
        if self.netlink.is_none() {
            match Netlink::open() {
                Ok(nl) => self.netlink = Some(nl),
                Err(e) => return eprintln!("rvsd: netlink: {e}"),
            }
        }
        let Some(nl) = self.netlink.as_mut() else {
            return;
        };
        for k in &mut self.kernel {
            let port = self.ports.get(usize::from(k.port));
            let down = port.and_then(|p| p.link().ok()).is_some_and(|l| !l.up);
            if let Err(e) = k.follow_link(nl, !down) {
                eprintln!("rvsd: kernel interface {e}");
            }
        }
    }

    /// Hands `m`, which a worker handed over, to the kernel interface of the port it came in on
    /// (freed if that port has none).
    fn hand_to_kernel(&mut self, m: Mbuf) {
        let port = self.interface_of_port.get(usize::from(m.port())).copied();
        if let Some(k) = self.kernel.iter_mut().find(|k| Some(k.port) == port) {
            k.hand_to_kernel(m);
        }
    }

    /// Each kernel interface's name and exception counts.
    pub fn exception_counts(&self) -> Vec<(&str, ExceptionCounts)> {
        self.kernel
            .iter()
            .map(|k| (k.name.as_str(), k.counts))
            .collect()
    }

    /// Sends the frame `build` writes out of port `port` (an interface number), through worker 0.
    fn send_frame(&mut self, port: u16, build: impl FnOnce(&mut [u8]) -> Option<usize>) {
        let mut frame = [0u8; 64];
        let Some(len) = build(&mut frame) else {
            return;
        };
        let Some(mut m) = self.pool.alloc() else {
            return;
        };
        if !m.set_data(&frame[..len]) {
            return;
        }
        let Some(port) = self.ports.get(usize::from(port)) else {
            return;
        };
        m.set_port(port.id().0);
        // Full ring: the frame is dropped; ARP retries and the next announcement cover it.
        let _ = self.to_worker.push(m);
    }

    fn send_arp_request(&mut self, iface: u16, target: Ipv4Addr) {
        let Some(i) = self.interfaces.get(usize::from(iface)) else {
            return;
        };
        let (mac, vlan, port) = (i.mac, i.vlan, i.port);
        let src = self
            .routes
            .lookup(target)
            .filter(|h| h.interface == iface)
            .map(|h| h.src)
            .or_else(|| i.addrs.iter().find_map(Addr::to_v4).map(Ipv4Addr::from));
        let Some(src) = src else {
            return;
        };
        self.send_frame(port, |buf| {
            neigh::arp_request(buf, mac, vlan, src, target).ok()
        });
    }

    /// Answers `request`, received on interface `iface`, if it asks for one of the
    /// interface's addresses (the workers answer the others; they hand these over so that the
    /// kernel interface sees them too).
    fn answer_arp(&mut self, iface: u16, request: &neigh::ArpInfo) {
        let Some(i) = self.interfaces.get(usize::from(iface)) else {
            return;
        };
        let target = Addr::v4(request.target_ip.octets());
        if request.operation != arp::Operation::Request
            || request.sender_ip == request.target_ip
            || !i.addrs.contains(&target)
        {
            return;
        }
        let (mac, port) = (i.mac, i.port);
        self.send_frame(port, |buf| neigh::arp_reply(buf, mac, request).ok());
    }

    /// Announces every port's addresses and VIPs, and each FULLNAT local address on the port
    /// its subnet is on.
    fn send_gratuitous_arp(&mut self) {
        let mut announce: Vec<(u16, Ipv4Addr)> = Vec::new();
        let table = self.publisher.current().clone();
        for (iface, i) in self.interfaces.iter().enumerate() {
            for a in i
                .addrs
                .iter()
                .filter(|a| table.holds(a))
                .filter_map(Addr::to_v4)
            {
                announce.push((iface as u16, Ipv4Addr::from(a)));
            }
        }
        let extra = self.config.vrrp.iter().flat_map(|v| v.addrs.iter());
        let extra = extra
            .map(|a| Addr::v4(a.octets()))
            .filter(|a| table.is_held_extra(a));
        let laddrs = self
            .services
            .iter()
            .flat_map(|s| s.local_addrs.iter().copied());
        for a in laddrs.filter(|a| table.holds(a)).chain(extra) {
            if let Some(a) = a.to_v4() {
                let ip = Ipv4Addr::from(a);
                if let Some(hop) = self.routes.lookup(ip).filter(|h| h.addr == ip) {
                    if !announce.contains(&(hop.interface, ip)) {
                        announce.push((hop.interface, ip));
                    }
                }
            }
        }
        for (iface, ip) in announce {
            let Some(i) = self.interfaces.get(usize::from(iface)) else {
                continue;
            };
            let (mac, vlan, port) = (i.mac, i.vlan, i.port);
            self.send_frame(port, |buf| neigh::gratuitous_arp(buf, mac, vlan, ip).ok());
        }
    }

    /// rte_flow steering of FULLNAT replies where the ports allow it (see [`crate::flow`]).
    /// The old rules go first, so a NIC never holds two identical rules (some refuse the
    /// second, which would send every reply through the redirect rings); the replies of the
    /// moment in between reach their owners through those rings.
    fn update_steering(&mut self) {
        let laddrs = steered_laddrs(&self.services);
        drop(std::mem::replace(
            &mut self.steering,
            Steering::SingleWorker,
        ));
        self.steering =
            Steering::install(&self.ports, &laddrs, self.config.cores.workers.len() as u16);
    }

    /// How FULLNAT replies reach their owner.
    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    fn republish(&mut self) -> Result<(), SnapshotError> {
        let generation = self.publisher.current().generation + 1;
        let (snapshot, mut wanted) = compile(
            generation,
            &self.interfaces,
            &self.routes,
            &self.neighbours,
            &self.services,
        )?;
        let (standby, held_extra) = vrrp_view(&self.config, self.vrrp.as_ref(), &self.services);
        let snapshot = snapshot
            .with_vrrp(standby, held_extra)
            .with_sloppy_tcp(self.sloppy_tcp);
        let now = self.now_ms();
        wanted.extend(self.sync.next_hops());
        wanted.sort_unstable();
        wanted.dedup();
        self.neighbours.forget_unwanted(&wanted);
        for (i, a) in wanted {
            self.neighbours.want(i, a, now);
        }
        self.publisher.publish(Arc::new(snapshot));
        Ok(())
    }

    /// Replaces the service table, if the service model accepts it ([`model::validate`]). On
    /// error nothing changes (the running table stays as it was).
    /// Real-server ids are the daemon's: a real server already in the table (same service,
    /// address and port, a port of 0 being the service's) keeps its id, so workers keep its
    /// connection counts; a new one gets a fresh id, and the ids of the servers that are gone
    /// are given back. The ids in `services` are ignored.
    pub fn set_services(&mut self, mut services: Vec<ServiceConfig>) -> Result<(), ModelError> {
        let (ports, routes) = (&self.config.ports, &self.config.routes);
        model::validate(&services, Network { ports, routes })?;
        // The id each server keeps: that of the same server in the running table, if any.
        let kept: Vec<Vec<Option<u32>>> = services
            .iter()
            .map(|service| {
                let old = self.services.iter().find(|o| o.key == service.key);
                service
                    .dests
                    .iter()
                    .map(|d| {
                        let od = old?.dests.iter().find(|od| same_dest(service.key, od, d))?;
                        Some(od.id)
                    })
                    .collect()
            })
            .collect();
        // Ids of the servers that go are given back first, so a change that replaces servers
        // needs room for the resulting table only.
        let mut ids = self.dest_ids.clone();
        let staying: std::collections::HashSet<u32> =
            kept.iter().flatten().flatten().copied().collect();
        for gone in self.services.iter().flat_map(|s| &s.dests) {
            if !staying.contains(&gone.id) {
                ids.release(gone.id);
            }
        }
        for (service, kept) in services.iter_mut().zip(kept) {
            for (d, id) in service.dests.iter_mut().zip(kept) {
                d.id = match id {
                    Some(id) => id,
                    None => ids.allocate().ok_or(SnapshotError::TooManyDests)?,
                };
            }
        }
        let old = std::mem::replace(&mut self.services, services);
        if let Err(e) = self.republish() {
            self.services = old;
            return Err(e.into());
        }
        self.dest_ids = ids;
        if steered_laddrs(&old) != steered_laddrs(&self.services) {
            self.update_steering();
        }
        Ok(())
    }

    /// The operator's service table (what `rvsadm -S` saves).
    pub fn services(&self) -> &[ServiceConfig] {
        &self.services
    }

    /// The running snapshot.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        self.publisher.current()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn neighbours(&self) -> &NeighbourTable {
        &self.neighbours
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Waits until every worker runs the latest snapshot.
    pub fn wait_installed(&mut self, timeout: Duration) -> bool {
        self.publisher.wait_installed(timeout)
    }

    /// Each configured port's name and its device's counters (None where the driver keeps
    /// none): what the NIC dropped before any worker saw it (`rx_missed`: rx queue full,
    /// `rx_no_mbuf`: mempool empty) shows only here.
    pub fn port_stats(&self) -> Vec<(&str, Option<PortStats>)> {
        self.config
            .devices()
            .zip(&self.ports)
            .map(|(spec, port)| (spec.name.as_str(), port.stats().ok()))
            .collect()
    }

    /// Each worker's counters, as last published.
    pub fn counters(&self) -> Vec<WorkerCounters> {
        self.counters.iter().map(|c| c.read()).collect()
    }

    /// Every session of every worker (`ipvsadm -Lnc`).
    pub fn list_sessions(&mut self) -> Result<Vec<SessionEntry>, RequestError> {
        const PAGE: usize = 4096;
        let n = self.publisher.workers();
        let mut cursors: Vec<Option<usize>> = vec![Some(0); n];
        let mut all = Vec::new();
        while cursors.iter().any(Option::is_some) {
            let snapshot = cursors.clone();
            let replies = self.publisher.request_all(
                |w| match snapshot[usize::from(w)] {
                    Some(cursor) => Command::ListSessions { cursor, max: PAGE },
                    None => Command::ListSessions { cursor: 0, max: 0 },
                },
                REQUEST_TIMEOUT,
            )?;
            for (w, body) in replies.into_iter().enumerate() {
                if let (Some(_), ReplyBody::Sessions { entries, next }) = (cursors[w], body) {
                    all.extend(entries);
                    cursors[w] = next;
                }
            }
        }
        Ok(all)
    }

    /// Removes every session on every worker; returns how many.
    pub fn flush_sessions(&mut self) -> Result<usize, RequestError> {
        let replies = self
            .publisher
            .request_all(|_| Command::FlushSessions, REQUEST_TIMEOUT)?;
        Ok(replies
            .into_iter()
            .map(|b| match b {
                ReplyBody::Flushed { sessions } => sessions,
                _ => 0,
            })
            .sum())
    }

    /// Per-real-server traffic summed over the workers, by dest id.
    pub fn dest_stats(&mut self) -> Result<Vec<DestStats>, RequestError> {
        let replies = self
            .publisher
            .request_all(|_| Command::DestStats, REQUEST_TIMEOUT)?;
        let mut sum: Vec<DestStats> = Vec::new();
        for body in replies {
            if let ReplyBody::DestStats(list) = body {
                for d in list {
                    match sum.iter_mut().find(|s| s.id == d.id) {
                        Some(s) => {
                            s.conns += d.conns;
                            s.in_packets += d.in_packets;
                            s.out_packets += d.out_packets;
                            s.in_bytes += d.in_bytes;
                            s.out_bytes += d.out_bytes;
                            s.active_conns += d.active_conns;
                            s.inactive_conns += d.inactive_conns;
                        }
                        None => sum.push(d),
                    }
                }
            }
        }
        Ok(sum)
    }

    /// Zeroes the per-real-server counters (ipvsadm -Z) of the dests in `ids`, or of all.
    pub fn zero_stats(&mut self, ids: Option<Vec<u32>>) -> Result<(), RequestError> {
        self.publisher
            .request_all(|_| Command::ZeroStats(ids.clone()), REQUEST_TIMEOUT)
            .map(|_| ())
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// ipvsadm --set: new timeouts on every worker. A worker that does not answer in time
    /// still has the command queued and takes it later, so the new timeouts are recorded
    /// either way.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) -> Result<(), RequestError> {
        self.timeouts = timeouts;
        self.publisher
            .request_all(|_| Command::SetTimeouts(timeouts), REQUEST_TIMEOUT)
            .map(|_| ())
    }

    /// Stops the workers (each drains its tx buffers), waits for them and closes the ports.
    /// Returns the workers' final counters.
    pub fn shutdown(mut self) -> Vec<WorkerCounters> {
        if let Some(h) = &mut self.health {
            h.shutdown();
        }
        stop_workers(&self.stop, &mut self.launched);
        self.publisher.pump(|_| {});
        let counters = self.counters();
        self.steering = Steering::SingleWorker;
        for mut port in self.ports.drain(..) {
            let _ = port.stop();
        }
        // Closing the taps removes the kernel interfaces, their addresses and routes.
        self.kernel.clear();
        counters
    }
}

impl Drop for Daemon {
    /// A daemon dropped without [`Daemon::shutdown`] (an error path) still stops its workers
    /// before the ports close under them.
    fn drop(&mut self) {
        stop_workers(&self.stop, &mut self.launched);
    }
}

/// The FULLNAT local addresses to steer, each once however many services share it (identical
/// rte_flow rules would be refused by some NICs).
fn steered_laddrs(services: &[ServiceConfig]) -> Vec<Ipv4Addr> {
    let mut laddrs: Vec<Ipv4Addr> = services
        .iter()
        .flat_map(|s| s.local_addrs.iter())
        .filter_map(|a| a.to_v4().map(Ipv4Addr::from))
        .collect();
    laddrs.sort_unstable();
    laddrs.dedup();
    laddrs
}

/// Tells the workers to stop and waits for each launched one to return.
fn stop_workers(stop: &AtomicBool, launched: &mut Vec<lcore::Launched>) {
    stop.store(true, Ordering::Relaxed);
    for l in launched.drain(..) {
        l.wait();
    }
}

/// Per-worker session-hash key: distinct per worker and per start.
fn random_seed(worker: usize) -> [u64; 2] {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(worker);
    let a = h.finish();
    h.write_u64(a);
    [a, h.finish()]
}

/// The route and neighbour tables, as the sync daemon resolves clients.
struct SyncRoutes<'a> {
    routes: &'a RouteTable,
    neighbours: &'a NeighbourTable,
}

impl crate::sync::Routes for SyncRoutes<'_> {
    fn next_hop(&self, client: Ipv4Addr) -> Option<(u16, Ipv4Addr)> {
        self.routes.lookup(client).map(|h| (h.interface, h.addr))
    }

    fn mac(&self, interface: u16, addr: Ipv4Addr) -> Option<MacAddr> {
        self.neighbours.lookup(interface, addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::sched::{SchedParams, SchedulerKind};

    fn fullnat(port: u16, local_addrs: &[[u8; 4]]) -> ServiceConfig {
        ServiceConfig {
            key: dataplane::snapshot::ServiceKey {
                protocol: dataplane::conn::PROTO_TCP,
                vip: Addr::v4([10, 10, 0, 100]),
                port,
            },
            scheduler: SchedulerKind::Rr,
            sched_params: SchedParams::default(),
            persistence_s: None,
            persistence_prefix: 32,
            dests: vec![],
            local_addrs: local_addrs.iter().map(|a| Addr::v4(*a)).collect(),
        }
    }

    /// Services may share local addresses (DPVS's laddr groups): each is steered once, or the
    /// NIC would be asked for identical rules.
    #[test]
    fn a_shared_local_address_is_steered_once() {
        let services = [
            fullnat(80, &[[10, 20, 0, 251], [10, 20, 0, 250]]),
            fullnat(443, &[[10, 20, 0, 250]]),
        ];
        assert_eq!(
            steered_laddrs(&services),
            [Ipv4Addr::new(10, 20, 0, 250), Ipv4Addr::new(10, 20, 0, 251)]
        );
    }
}
