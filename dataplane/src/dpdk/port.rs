//! Ethernet ports: opening (PCI, virtual device, or a pair of rings), queue setup with RSS,
//! start/stop, MAC, link and statistics, and the per-queue burst I/O used by workers.

use super::error::{check, Error, Result};
use super::mbuf::{Mbuf, MbufBurst};
use super::mempool::Mempool;
use super::ring::{Consumer, Producer};
use super::Eal;
use std::any::Any;
use std::ffi::{c_char, CStr, CString};
use std::fmt;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// DPDK's device hot-plug (devargs list, bus scan, probe/remove) and ethdev creation are not
/// safe to run concurrently from several threads; every attach/detach in this module holds this
/// lock. Control path only: the packet path never touches it.
/// The lock also holds the ids of the ports a [`Device`] owns: one owner per port, so two
/// `Port`s can never hand out handles to the same queue nor close each other's device.
static DEVICE_LOCK: Mutex<Vec<u16>> = Mutex::new(Vec::new());

fn device_lock() -> std::sync::MutexGuard<'static, Vec<u16>> {
    // A panic while holding the lock leaves no DPDK state half-changed that we could repair.
    DEVICE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A DPDK port id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

impl fmt::Display for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// How to set a port up.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    /// Pool the rx queues take their mbufs from.
    pub mempool: Mempool,
    /// Spread flows over rx queues by RSS (L3+L4) when the device supports it and rx_queues > 1.
    pub rss: bool,
    pub promiscuous: bool,
}

impl PortConfig {
    pub fn new(mempool: Mempool) -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            mempool,
            rss: true,
            promiscuous: false,
        }
    }
}

/// Link state as reported by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// Basic port counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device because no rx descriptor was free.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Rx failures because the mempool was empty.
    pub rx_no_mbuf: u64,
}

/// The device itself; closed when the Port, all its queue handles and all its flow rules
/// ([`super::flow::FlowRule`]) are gone.
pub(super) struct Device {
    pub(super) id: u16,
    name: String,
    /// Hot-plugged virtual device to remove after close.
    vdev: bool,
    /// Objects the device points into (the rings of a ring port); dropped after close.
    _keep: Vec<Box<dyn Any + Send + Sync>>,
    /// Live flow rules created on this device (see `super::flow`).
    pub(super) flow_rules: AtomicUsize,
}

impl Drop for Device {
    fn drop(&mut self) {
        let mut owned = device_lock();
        owned.retain(|&p| p != self.id);
        // SAFETY: no queue handle exists any more (they hold this Device), so no thread polls
        // the port; stopping a stopped port is harmless.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
        if self.vdev {
            if let (Ok(bus), Ok(name)) = (CString::new("vdev"), CString::new(self.name.as_str())) {
                // SAFETY: valid C strings; the device is closed.
                unsafe { dpdk_sys::rte_eal_hotplug_remove(bus.as_ptr(), name.as_ptr()) };
            }
        }
    }
}

/// A configured port. Queue handles are taken once each and may move to worker threads.
pub struct Port {
    dev: Arc<Device>,
    /// One clone per queue handle: counts the handles in existence (in the port or out), apart
    /// from other holders of `dev` such as flow rules.
    queues: Arc<()>,
    rx: Vec<Option<RxQueue>>,
    tx: Vec<Option<TxQueue>>,
}

/// Receive side of one queue; polled by exactly one thread.
pub struct RxQueue {
    dev: Arc<Device>,
    _handle: Arc<()>,
    queue: u16,
}

/// Transmit side of one queue; used by exactly one thread.
pub struct TxQueue {
    dev: Arc<Device>,
    _handle: Arc<()>,
    queue: u16,
}

impl Port {
    /// Sets up an existing port (e.g. a PCI device probed at EAL init).
    pub fn open(eal: &Eal, id: PortId, config: &PortConfig) -> Result<Port> {
        Self::setup(eal, id, false, Vec::new(), config)
    }

    /// Hot-plugs a virtual device from a devargs string (e.g.
    /// `net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap`) and sets it up. It is removed on close.
    pub fn open_vdev(eal: &Eal, devargs: &str, config: &PortConfig) -> Result<Port> {
        let cargs =
            CString::new(devargs).map_err(|_| Error::invalid("vdev", "contains a NUL byte"))?;
        let name = devargs.split(',').next().unwrap_or(devargs);
        let guard = device_lock();
        // rte_dev_probe reports success for a device that is already attached (22.11 swallows
        // -EEXIST): refuse here, or two Ports would own one device.
        if Self::find(name).is_ok() {
            return Err(Error::invalid(
                "vdev",
                format!("{name} is already attached"),
            ));
        }
        // SAFETY: valid C string; EAL initialised.
        check("rte_dev_probe", unsafe {
            dpdk_sys::rte_dev_probe(cargs.as_ptr())
        })?;
        let id = Self::find(name)?;
        drop(guard);
        Self::setup(eal, id, true, Vec::new(), config)
    }

    /// Makes a port whose rx queues read from `rx` rings and tx queues write to `tx` rings
    /// (DPDK's net_ring driver): a NIC-less port for tests and inter-process plumbing.
    pub fn open_rings(
        eal: &Eal,
        name: &str,
        rx: Vec<Consumer<Mbuf>>,
        tx: Vec<Producer<Mbuf>>,
        config: &PortConfig,
    ) -> Result<Port> {
        if rx.len() != usize::from(config.rx_queues) || tx.len() != usize::from(config.tx_queues) {
            return Err(Error::invalid(
                "ring port",
                "one ring per configured rx and tx queue",
            ));
        }
        let cname = CString::new(name)
            .map_err(|_| Error::invalid("ring port name", "contains a NUL byte"))?;
        let rx_raw: Vec<_> = rx.iter().map(|c| c.inner().as_ptr()).collect();
        let tx_raw: Vec<_> = tx.iter().map(|p| p.inner().as_ptr()).collect();
        let guard = device_lock();
        // SAFETY: arrays of valid ring pointers with the given lengths; the rings are kept alive
        // by the Device (`_keep`) until after the port is closed.
        let ret = unsafe {
            dpdk_sys::rte_eth_from_rings(
                cname.as_ptr(),
                rx_raw.as_ptr(),
                rx_raw.len() as u32,
                tx_raw.as_ptr(),
                tx_raw.len() as u32,
                0,
            )
        };
        drop(guard);
        if ret < 0 {
            return Err(Error::from_errno("rte_eth_from_rings"));
        }
        let mut keep: Vec<Box<dyn Any + Send + Sync>> = Vec::new();
        keep.extend(
            rx.into_iter()
                .map(|c| Box::new(Arc::clone(c.inner())) as Box<dyn Any + Send + Sync>),
        );
        keep.extend(
            tx.into_iter()
                .map(|p| Box::new(Arc::clone(p.inner())) as Box<dyn Any + Send + Sync>),
        );
        // rte_eth_from_rings registers a virtual device ("net_ring_<name>"): removed on close.
        Self::setup(eal, PortId(ret as u16), true, keep, config)
    }

    /// Looks a port up by its device name.
    pub fn find(name: &str) -> Result<PortId> {
        let cname =
            CString::new(name).map_err(|_| Error::invalid("port name", "contains a NUL byte"))?;
        let mut id = 0u16;
        // SAFETY: valid C string and out pointer.
        check("rte_eth_dev_get_port_by_name", unsafe {
            dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id)
        })?;
        Ok(PortId(id))
    }

    /// Takes ownership of port `id`, checks and configures it (RSS, descriptors, queues,
    /// promiscuity) and hands out its queues. On error the port is closed again (and a
    /// hot-plugged `vdev` removed).
    fn setup(
        _eal: &Eal,
        id: PortId,
        vdev: bool,
        keep: Vec<Box<dyn Any + Send + Sync>>,
        c: &PortConfig,
    ) -> Result<Port> {
        let dev = Self::claim(id, vdev, keep)?;
        let info = Self::device_info(&dev, c)?;
        Self::configure(dev.id, &info, c)?;
        Self::setup_queues(dev.id, c)?;
        if c.promiscuous {
            // SAFETY: valid port. Some virtual devices cannot change it; that is not fatal.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(dev.id) };
        }
        Ok(Self::with_queues(dev, c))
    }

    /// Records this process as the port's only owner and wraps it in a [`Device`]: from then
    /// on, dropping the device closes the port (and removes a hot-plugged `vdev`) and gives up
    /// its ownership.
    fn claim(id: PortId, vdev: bool, keep: Vec<Box<dyn Any + Send + Sync>>) -> Result<Arc<Device>> {
        let port = id.0;
        let name = port_name(port)?;
        {
            let mut owned = device_lock();
            if owned.contains(&port) {
                return Err(Error::invalid("port", format!("{name} is already open")));
            }
            owned.push(port);
        }
        Ok(Arc::new(Device {
            id: port,
            name,
            vdev,
            _keep: keep,
            flow_rules: AtomicUsize::new(0),
        }))
    }

    /// The device's capabilities, after checking that it has the queues `c` asks for.
    fn device_info(dev: &Device, c: &PortConfig) -> Result<dpdk_sys::rte_eth_dev_info> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id (just probed/looked up) and out pointer.
        check("rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(dev.id, &mut info)
        })?;
        if c.rx_queues == 0 || c.rx_queues > info.max_rx_queues {
            return Err(Error::invalid(
                "rx_queues",
                format!(
                    "{} (device {} allows 1..={})",
                    c.rx_queues, dev.name, info.max_rx_queues
                ),
            ));
        }
        if c.tx_queues == 0 || c.tx_queues > info.max_tx_queues {
            return Err(Error::invalid(
                "tx_queues",
                format!(
                    "{} (device {} allows 1..={})",
                    c.tx_queues, dev.name, info.max_tx_queues
                ),
            ));
        }
        Ok(info)
    }

    /// Configures the queue counts, with RSS over L3+L4 when asked for, the port has several
    /// rx queues and the device hashes any of those fields.
    fn configure(port: u16, info: &dpdk_sys::rte_eth_dev_info, c: &PortConfig) -> Result<()> {
        let mut conf = dpdk_sys::rte_eth_conf::default();
        // SAFETY: returns a constant.
        let rss_hf = unsafe { dpdk_sys::rvs_eth_rss_l3_l4() } & info.flow_type_rss_offloads;
        if c.rss && c.rx_queues > 1 && rss_hf != 0 {
            conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: valid port, conf fully initialised.
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(port, c.rx_queues, c.tx_queues, &conf)
        })?;
        Ok(())
    }

    /// Sets up every rx and tx queue of a configured port, with the descriptor counts the
    /// device accepts nearest to `c`'s, on the port's NUMA socket.
    fn setup_queues(port: u16, c: &PortConfig) -> Result<()> {
        let (mut nb_rx, mut nb_tx) = (c.rx_descriptors, c.tx_descriptors);
        // SAFETY: valid port and out pointers.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut nb_rx, &mut nb_tx)
        })?;
        // SAFETY: plain query.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(port) };
        let socket = if socket < 0 {
            super::SOCKET_ANY
        } else {
            socket
        } as u32;
        for q in 0..c.rx_queues {
            // SAFETY: configured port, queue in range, default rxconf (NULL), pool lives forever.
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    port,
                    q,
                    nb_rx,
                    socket,
                    std::ptr::null(),
                    c.mempool.as_ptr(),
                )
            })?;
        }
        for q in 0..c.tx_queues {
            // SAFETY: configured port, queue in range, default txconf (NULL).
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(port, q, nb_tx, socket, std::ptr::null())
            })?;
        }
        Ok(())
    }

    /// The port with one handle per configured queue, each ready to be taken once.
    fn with_queues(dev: Arc<Device>, c: &PortConfig) -> Port {
        let queues = Arc::new(());
        let rx = (0..c.rx_queues)
            .map(|queue| {
                Some(RxQueue {
                    dev: dev.clone(),
                    _handle: queues.clone(),
                    queue,
                })
            })
            .collect();
        let tx = (0..c.tx_queues)
            .map(|queue| {
                Some(TxQueue {
                    dev: dev.clone(),
                    _handle: queues.clone(),
                    queue,
                })
            })
            .collect();
        Port {
            dev,
            queues,
            rx,
            tx,
        }
    }

    pub fn id(&self) -> PortId {
        PortId(self.dev.id)
    }

    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// How many rx queues the port was configured with.
    pub fn rx_queue_count(&self) -> u16 {
        self.rx.len() as u16
    }

    /// The device, for objects that must keep it open (flow rules).
    pub(super) fn device(&self) -> &Arc<Device> {
        &self.dev
    }

    /// Starts the device (rx/tx begin). Refused while any queue handle is out: starting
    /// rewrites the queue pointers a polling thread reads.
    pub fn start(&mut self) -> Result<()> {
        self.no_handle_out("port start")?;
        // SAFETY: configured port.
        check("rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(self.dev.id)
        })
        .map(|_| ())
    }

    /// Stops the device. Refused while any queue handle is out, since a thread might be
    /// polling, and while flow rules of the port live (DPDK wants them destroyed before a
    /// stop; some drivers invalidate them).
    pub fn stop(&mut self) -> Result<()> {
        self.no_handle_out("port stop")?;
        let rules = self
            .dev
            .flow_rules
            .load(std::sync::atomic::Ordering::SeqCst);
        if rules > 0 {
            return Err(Error::invalid(
                "port stop",
                format!("{rules} flow rule(s) of {} are still alive", self.dev.name),
            ));
        }
        // SAFETY: no queue is in use by any thread (checked above).
        check("rte_eth_dev_stop", unsafe {
            dpdk_sys::rte_eth_dev_stop(self.dev.id)
        })
        .map(|_| ())
    }

    /// Refuses `op` while a queue handle is out of the port.
    fn no_handle_out(&self, op: &'static str) -> Result<()> {
        let held = self.rx.iter().flatten().count() + self.tx.iter().flatten().count();
        let out = Arc::strong_count(&self.queues) - 1 - held;
        if out > 0 {
            return Err(Error::invalid(
                op,
                format!(
                    "{out} queue handle(s) of {} are still in use",
                    self.dev.name
                ),
            ));
        }
        Ok(())
    }

    /// Takes rx queue `q` (once).
    pub fn rx_queue(&mut self, q: u16) -> Option<RxQueue> {
        self.rx.get_mut(usize::from(q))?.take()
    }

    /// Takes tx queue `q` (once).
    pub fn tx_queue(&mut self, q: u16) -> Option<TxQueue> {
        self.tx.get_mut(usize::from(q))?.take()
    }

    /// Gives a queue back (e.g. after its worker stopped), so that `stop` may proceed.
    pub fn return_rx_queue(&mut self, q: RxQueue) {
        let i = usize::from(q.queue);
        if Arc::ptr_eq(&q.dev, &self.dev) && i < self.rx.len() {
            self.rx[i] = Some(q);
        }
    }

    /// Gives a queue back (e.g. after its worker stopped), so that `stop` may proceed.
    pub fn return_tx_queue(&mut self, q: TxQueue) {
        let i = usize::from(q.queue);
        if Arc::ptr_eq(&q.dev, &self.dev) && i < self.tx.len() {
            self.tx[i] = Some(q);
        }
    }

    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.dev.id, &mut addr)
        })?;
        Ok(addr.addr_bytes)
    }

    pub fn link(&self) -> Result<Link> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_link_get_nowait", unsafe {
            dpdk_sys::rte_eth_link_get_nowait(self.dev.id, &mut link)
        })?;
        Ok(Link {
            up: u32::from(link.link_status()) == dpdk_sys::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: u32::from(link.link_duplex()) == dpdk_sys::RTE_ETH_LINK_FULL_DUPLEX,
        })
    }

    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port and out pointer.
        check("rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.dev.id, &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        })
    }

    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: valid port.
        check("rte_eth_stats_reset", unsafe {
            dpdk_sys::rte_eth_stats_reset(self.dev.id)
        })
        .map(|_| ())
    }

    pub fn mtu(&self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid port and out pointer.
        check("rte_eth_dev_get_mtu", unsafe {
            dpdk_sys::rte_eth_dev_get_mtu(self.dev.id, &mut mtu)
        })?;
        Ok(mtu)
    }
}

fn port_name(port: u16) -> Result<String> {
    let mut buf = [0 as c_char; 64];
    // SAFETY: buf is larger than RTE_ETH_NAME_MAX_LEN (64 incl. NUL).
    check("rte_eth_dev_get_name_by_port", unsafe {
        dpdk_sys::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr())
    })?;
    // SAFETY: DPDK wrote a NUL-terminated name into buf.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}

impl RxQueue {
    pub fn port(&self) -> PortId {
        PortId(self.dev.id)
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives into the burst's free room; returns how many mbufs were added.
    #[inline]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let room = burst.room() as u16;
        // SAFETY: this handle is the only poller of (port, queue) (`&mut self`, handed out once);
        // DPDK writes at most `room` owned mbufs into the free slots.
        let n = unsafe {
            dpdk_sys::rte_eth_rx_burst(self.dev.id, self.queue, burst.spare_slots_ptr(), room)
        };
        // SAFETY: the driver filled n slots with mbufs now owned by us.
        unsafe { burst.assume_filled(n.into()) };
        n.into()
    }
}

impl TxQueue {
    pub fn port(&self) -> PortId {
        PortId(self.dev.id)
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Hands the front of the burst to the driver; returns how many it took. The rest stay in
    /// the burst, at its front (retry or free them).
    #[inline]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> usize {
        let len = burst.len() as u16;
        // SAFETY: this handle is the only user of (port, queue); the first len slots are owned
        // mbufs; the driver takes ownership of the first n it returns.
        let n =
            unsafe { dpdk_sys::rte_eth_tx_burst(self.dev.id, self.queue, burst.filled_ptr(), len) };
        burst.forget_front(n.into());
        n.into()
    }
}
