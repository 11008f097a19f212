//! rte_flow rules that steer FULLNAT replies to the worker owning their local port (DPVS
//! sa_pool style).
//!
//! Workers own FULLNAT local ports by `lport % workers == worker`. When `workers` is a power of
//! two that is `lport & (workers - 1) == worker`, which one rule per (local address, protocol,
//! worker) expresses:
//!
//! ```text
//! pattern ETH (any) / IPV4 dst=laddr mask 255.255.255.255 / TCP|UDP dst_port=worker mask=workers-1
//! action  QUEUE index=queue / END
//! ```
//!
//! Any other worker count cannot be written as a port mask and is refused.
//!
//! A port whose driver has no usable rte_flow (net_ring and net_null have none: ENOSYS at
//! validation; weak NICs) refuses with [`Error::Flow`] naming the driver's reason: the caller then
//! falls back to the software redirect ring. Validation alone is not a reliable probe: net_tap
//! (22.11) validates a partial port mask and only refuses it when creating the rule ("item not
//! supported": TC flower cannot mask ports). So every rule here is validated *and* created, and
//! the created rules are the proof.
//!
//! A [`FlowRule`] owns its rule and destroys it on drop; it keeps the device open (like a queue
//! handle does), so a rule can never outlive its port. DPDK serialises rte_flow calls per port
//! (unless the driver declares them thread-safe), so rules may be created and dropped on the
//! control thread while workers poll the queues.

use super::error::{Error, Result};
use super::port::{Device, Port, PortId};
use std::ffi::CStr;
use std::fmt;
use std::net::Ipv4Addr;
use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// One rte_flow rule steering a worker's slice of a local address's ports to an rx queue.
/// Dropping it destroys the rule.
pub struct FlowRule {
    dev: Arc<Device>,
    /// `None` once destroyed.
    flow: Option<NonNull<dpdk_sys::rte_flow>>,
    laddr: Ipv4Addr,
    protocol: u8,
    workers: u16,
    worker: u16,
    queue: u16,
}

// SAFETY: the rte_flow handle is an opaque token that only this value uses, and only to destroy
// it. rte_flow_destroy may be called from any thread: ethdev serialises flow operations of a
// port with its flow_ops_mutex unless the driver declares them thread-safe. The device is kept
// open by `dev` (an Arc of a Send + Sync type).
unsafe impl Send for FlowRule {}

impl FlowRule {
    pub fn port(&self) -> PortId {
        PortId(self.dev.id)
    }

    pub fn local_addr(&self) -> Ipv4Addr {
        self.laddr
    }

    /// [`IPPROTO_TCP`] or [`IPPROTO_UDP`].
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// `(worker, workers)`: the rule matches local ports with `lport % workers == worker`.
    pub fn worker(&self) -> (u16, u16) {
        (self.worker, self.workers)
    }

    /// The rx queue matching packets go to.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Destroys the rule now, reporting a failure that dropping would ignore.
    pub fn destroy(mut self) -> Result<()> {
        self.destroy_now()
    }

    fn destroy_now(&mut self) -> Result<()> {
        let Some(flow) = self.flow.take() else {
            return Ok(());
        };
        let mut err = dpdk_sys::rte_flow_error::default();
        // SAFETY: `flow` was returned by rte_flow_create on this port, which `dev` keeps open, and
        // is destroyed exactly once (taken out of `self.flow`); `err` is a valid out pointer.
        let ret = unsafe { dpdk_sys::rte_flow_destroy(self.dev.id, flow.as_ptr(), &mut err) };
        // Whatever the driver said, the handle is gone from our side.
        self.dev.flow_rules.fetch_sub(1, Ordering::SeqCst);
        if ret < 0 {
            // SAFETY: `err` was filled (or left zeroed) by rte_flow_destroy just now.
            return Err(unsafe { flow_error("rte_flow_destroy", -ret, &err) });
        }
        Ok(())
    }
}

impl Drop for FlowRule {
    fn drop(&mut self) {
        // Nothing to do about a failure here: the port is being torn down or the driver lost
        // the rule already. `destroy` reports it for callers who care.
        let _ = self.destroy_now();
    }
}

impl fmt::Debug for FlowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FlowRule({} {} {} lport % {} == {} -> queue {})",
            self.port(),
            if self.protocol == IPPROTO_TCP {
                "tcp"
            } else {
                "udp"
            },
            self.laddr,
            self.workers,
            self.worker,
            self.queue
        )
    }
}

/// Steers `protocol` packets for local address `laddr` whose destination (local) port satisfies
/// `lport % workers == worker` to rx queue `queue` of `port`.
///
/// `workers` must be a power of two (otherwise no port mask expresses the partition, and an
/// [`Error::InvalidArgument`] naming `workers` says so). The rule is validated, then created; a
/// driver that cannot do it returns [`Error::Flow`] with its reason: fall back to software
/// redirection. Create rules after [`Port::start`]; whether they survive a stop is up to the
/// driver.
pub fn steer_local_ports(
    port: &Port,
    laddr: Ipv4Addr,
    protocol: u8,
    workers: u16,
    worker: u16,
    queue: u16,
) -> Result<FlowRule> {
    check_protocol(protocol)?;
    check_workers(workers)?;
    if worker >= workers {
        return Err(Error::invalid(
            "worker",
            format!("{worker} is not below the worker count {workers}"),
        ));
    }
    if queue >= port.rx_queue_count() {
        return Err(Error::invalid(
            "queue",
            format!(
                "{queue} is not an rx queue of {} (it has {})",
                port.name(),
                port.rx_queue_count()
            ),
        ));
    }
    let dev = port.device();
    let port_id = dev.id;
    // `rule` owns every buffer the pattern and actions point into and stays in this frame, unmoved,
    // until both calls have returned (the driver copies what it keeps).
    let rule = RuleSpec::new(laddr, protocol, workers, worker, queue);
    let (attr, pattern, actions) = (&rule.attr, rule.pattern(), rule.actions());

    let mut err = dpdk_sys::rte_flow_error::default();
    // SAFETY: the port is open (`dev`); attr, the END-terminated pattern, the END-terminated
    // actions and every spec/mask/conf they point to live in `rule`, alive and unmoved in this
    // frame; `err` is a valid out pointer.
    let ret = unsafe {
        dpdk_sys::rte_flow_validate(port_id, attr, pattern.as_ptr(), actions.as_ptr(), &mut err)
    };
    if ret < 0 {
        // SAFETY: `err` was filled (or left zeroed) by rte_flow_validate just now.
        return Err(unsafe { flow_error("rte_flow_validate", -ret, &err) });
    }
    let mut err = dpdk_sys::rte_flow_error::default();
    // SAFETY: as for rte_flow_validate above.
    let flow = unsafe {
        dpdk_sys::rte_flow_create(port_id, attr, pattern.as_ptr(), actions.as_ptr(), &mut err)
    };
    let Some(flow) = NonNull::new(flow) else {
        // SAFETY: reads this thread's rte_errno, which rte_flow_create set on failure.
        let code = unsafe { dpdk_sys::rvs_rte_errno() };
        let code = if code > 0 { code } else { libc::EIO };
        // SAFETY: `err` was filled (or left zeroed) by rte_flow_create just now.
        return Err(unsafe { flow_error("rte_flow_create", code, &err) });
    };
    dev.flow_rules.fetch_add(1, Ordering::SeqCst);
    Ok(FlowRule {
        dev: Arc::clone(dev),
        flow: Some(flow),
        laddr,
        protocol,
        workers,
        worker,
        queue,
    })
}

/// The buffers of one steering rule. [`RuleSpec::pattern`] and [`RuleSpec::actions`] point into
/// it, so it must stay alive and unmoved while DPDK reads them. Addresses and ports are stored
/// big-endian (`rte_be32_t`, `rte_be16_t`).
struct RuleSpec {
    attr: dpdk_sys::rte_flow_attr,
    ipv4: [dpdk_sys::rte_flow_item_ipv4; 2],
    tcp: [dpdk_sys::rte_flow_item_tcp; 2],
    udp: [dpdk_sys::rte_flow_item_udp; 2],
    queue: dpdk_sys::rte_flow_action_queue,
    protocol: u8,
}

impl RuleSpec {
    /// The rule for `lport & (workers - 1) == worker` (`workers` a power of two).
    fn new(laddr: Ipv4Addr, protocol: u8, workers: u16, worker: u16, queue: u16) -> Self {
        let mut attr = dpdk_sys::rte_flow_attr::default();
        attr.set_ingress(1);
        let mut ipv4 = [dpdk_sys::rte_flow_item_ipv4::default(); 2];
        ipv4[0].hdr.dst_addr = u32::from(laddr).to_be();
        ipv4[1].hdr.dst_addr = u32::MAX.to_be();
        let (spec, mask) = (worker.to_be(), (workers - 1).to_be());
        let mut tcp = [dpdk_sys::rte_flow_item_tcp::default(); 2];
        tcp[0].hdr.dst_port = spec;
        tcp[1].hdr.dst_port = mask;
        let mut udp = [dpdk_sys::rte_flow_item_udp::default(); 2];
        udp[0].hdr.dst_port = spec;
        udp[1].hdr.dst_port = mask;
        RuleSpec {
            attr,
            ipv4,
            tcp,
            udp,
            queue: dpdk_sys::rte_flow_action_queue { index: queue },
            protocol,
        }
    }

    /// ETH (any) / IPV4 dst / TCP or UDP dst_port / END, pointing into `self`.
    fn pattern(&self) -> [dpdk_sys::rte_flow_item; 4] {
        use dpdk_sys::rte_flow_item_type::*;
        let l4 = if self.protocol == IPPROTO_TCP {
            item(
                RTE_FLOW_ITEM_TYPE_TCP,
                ptr::addr_of!(self.tcp[0]).cast(),
                ptr::addr_of!(self.tcp[1]).cast(),
            )
        } else {
            item(
                RTE_FLOW_ITEM_TYPE_UDP,
                ptr::addr_of!(self.udp[0]).cast(),
                ptr::addr_of!(self.udp[1]).cast(),
            )
        };
        [
            // Any Ethernet frame: no spec, no mask.
            item(RTE_FLOW_ITEM_TYPE_ETH, ptr::null(), ptr::null()),
            item(
                RTE_FLOW_ITEM_TYPE_IPV4,
                ptr::addr_of!(self.ipv4[0]).cast(),
                ptr::addr_of!(self.ipv4[1]).cast(),
            ),
            l4,
            item(RTE_FLOW_ITEM_TYPE_END, ptr::null(), ptr::null()),
        ]
    }

    /// QUEUE / END, pointing into `self`.
    fn actions(&self) -> [dpdk_sys::rte_flow_action; 2] {
        use dpdk_sys::rte_flow_action_type::*;
        [
            dpdk_sys::rte_flow_action {
                type_: RTE_FLOW_ACTION_TYPE_QUEUE,
                conf: ptr::addr_of!(self.queue).cast(),
            },
            dpdk_sys::rte_flow_action {
                type_: RTE_FLOW_ACTION_TYPE_END,
                conf: ptr::null(),
            },
        ]
    }
}

/// Steers every worker's slice of `laddr`'s local ports to the rx queue of the same number
/// (worker `w` to queue `w`): `workers` rules, all or none. Any error means this port cannot
/// steer this address; rules created before it are destroyed.
pub fn steer_workers(
    port: &Port,
    laddr: Ipv4Addr,
    protocol: u8,
    workers: u16,
) -> Result<Vec<FlowRule>> {
    check_protocol(protocol)?;
    check_workers(workers)?;
    (0..workers)
        .map(|w| steer_local_ports(port, laddr, protocol, workers, w, w))
        .collect()
}

/// Removes every flow rule of the port through the driver (`rte_flow_flush`), e.g. rules left by
/// an earlier owner of the device. Refused while any [`FlowRule`] of this port exists, since
/// flushing would leave it dangling.
pub fn flush(port: &mut Port) -> Result<()> {
    let dev = port.device();
    let live = dev.flow_rules.load(Ordering::SeqCst);
    if live > 0 {
        return Err(Error::invalid(
            "flow flush",
            format!("{live} flow rule(s) of {} are still owned", port.name()),
        ));
    }
    let mut err = dpdk_sys::rte_flow_error::default();
    // SAFETY: the port is open; no FlowRule holds a handle of this port (checked above; new ones
    // need `&Port`, which `&mut Port` excludes); `err` is a valid out pointer.
    let ret = unsafe { dpdk_sys::rte_flow_flush(dev.id, &mut err) };
    if ret < 0 {
        // SAFETY: `err` was filled (or left zeroed) by rte_flow_flush just now.
        return Err(unsafe { flow_error("rte_flow_flush", -ret, &err) });
    }
    Ok(())
}

fn check_protocol(protocol: u8) -> Result<()> {
    if protocol == IPPROTO_TCP || protocol == IPPROTO_UDP {
        Ok(())
    } else {
        Err(Error::invalid(
            "protocol",
            format!("{protocol} (only TCP (6) and UDP (17) have local ports)"),
        ))
    }
}

fn check_workers(workers: u16) -> Result<()> {
    if workers.is_power_of_two() {
        Ok(())
    } else {
        Err(Error::invalid(
            "workers",
            format!(
                "{workers} is not a power of two: lport % {workers} is not a port mask, so no \
                 rte_flow rule can steer it (use the software redirect ring)"
            ),
        ))
    }
}

fn item(
    type_: dpdk_sys::rte_flow_item_type::Type,
    spec: *const std::ffi::c_void,
    mask: *const std::ffi::c_void,
) -> dpdk_sys::rte_flow_item {
    dpdk_sys::rte_flow_item {
        type_,
        spec,
        last: ptr::null(),
        mask,
    }
}

/// Builds [`Error::Flow`] from a failed rte_flow call.
///
/// # Safety
/// `err` must have been zeroed before the call and filled (or left alone) by it, so that
/// `err.message` is null or a NUL-terminated string still valid (drivers use static strings or
/// rte_strerror's per-thread buffer, read here on the calling thread before any other call).
unsafe fn flow_error(op: &'static str, code: i32, err: &dpdk_sys::rte_flow_error) -> Error {
    let message = if err.message.is_null() {
        format!("the driver gave no reason ({})", cause(err.type_))
    } else {
        // SAFETY: non-null, NUL-terminated per this function's contract.
        unsafe { CStr::from_ptr(err.message) }
            .to_string_lossy()
            .into_owned()
    };
    Error::Flow { op, code, message }
}

fn cause(kind: dpdk_sys::rte_flow_error_type::Type) -> &'static str {
    use dpdk_sys::rte_flow_error_type::*;
    match kind {
        RTE_FLOW_ERROR_TYPE_NONE => "no error type",
        RTE_FLOW_ERROR_TYPE_HANDLE => "flow handle",
        RTE_FLOW_ERROR_TYPE_ATTR_GROUP
        | RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY
        | RTE_FLOW_ERROR_TYPE_ATTR_INGRESS
        | RTE_FLOW_ERROR_TYPE_ATTR_EGRESS
        | RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER
        | RTE_FLOW_ERROR_TYPE_ATTR => "rule attributes",
        RTE_FLOW_ERROR_TYPE_ITEM_NUM
        | RTE_FLOW_ERROR_TYPE_ITEM_SPEC
        | RTE_FLOW_ERROR_TYPE_ITEM_LAST
        | RTE_FLOW_ERROR_TYPE_ITEM_MASK
        | RTE_FLOW_ERROR_TYPE_ITEM => "pattern item",
        RTE_FLOW_ERROR_TYPE_ACTION_NUM
        | RTE_FLOW_ERROR_TYPE_ACTION_CONF
        | RTE_FLOW_ERROR_TYPE_ACTION => "action",
        _ => "unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `len` bytes at `p`.
    fn bytes(p: *const std::ffi::c_void, len: usize) -> Vec<u8> {
        // SAFETY: every pointer tested below points into a live RuleSpec field of `len` bytes.
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) }.to_vec()
    }

    #[test]
    fn rule_matches_laddr_and_masked_local_port_in_network_order() {
        use dpdk_sys::rte_flow_item_type::*;
        let rule = RuleSpec::new(Ipv4Addr::new(10, 1, 2, 3), IPPROTO_TCP, 8, 5, 5);
        assert_eq!(rule.attr.ingress(), 1);
        assert_eq!((rule.attr.egress(), rule.attr.transfer()), (0, 0));
        let p = rule.pattern();
        let types: Vec<_> = p.iter().map(|i| i.type_).collect();
        assert_eq!(
            types,
            [
                RTE_FLOW_ITEM_TYPE_ETH,
                RTE_FLOW_ITEM_TYPE_IPV4,
                RTE_FLOW_ITEM_TYPE_TCP,
                RTE_FLOW_ITEM_TYPE_END
            ]
        );
        assert!(p[0].spec.is_null() && p[0].mask.is_null(), "any Ethernet");
        assert!(p.iter().all(|i| i.last.is_null()), "no ranges");
        // IPv4 header: the destination address is bytes 16..20.
        let spec = bytes(p[1].spec, 20);
        let mask = bytes(p[1].mask, 20);
        assert_eq!(spec[16..20], [10, 1, 2, 3]);
        assert_eq!(mask[16..20], [0xff; 4]);
        assert!(spec[..16].iter().chain(&mask[..16]).all(|&b| b == 0));
        // TCP header: the destination port is bytes 2..4.
        let spec = bytes(p[2].spec, 20);
        let mask = bytes(p[2].mask, 20);
        assert_eq!(spec[2..4], [0, 5]);
        assert_eq!(mask[2..4], [0, 7]);
        for header in [&spec, &mask] {
            let others_zero = header
                .iter()
                .enumerate()
                .all(|(i, &b)| (2..4).contains(&i) || b == 0);
            assert!(
                others_zero,
                "only the destination port is matched: {header:?}"
            );
        }
        let a = rule.actions();
        assert_eq!(
            a[0].type_,
            dpdk_sys::rte_flow_action_type::RTE_FLOW_ACTION_TYPE_QUEUE
        );
        assert_eq!(bytes(a[0].conf, 2), 5u16.to_ne_bytes());
        assert_eq!(
            a[1].type_,
            dpdk_sys::rte_flow_action_type::RTE_FLOW_ACTION_TYPE_END
        );
    }

    #[test]
    fn udp_rule_and_wide_worker_counts() {
        let rule = RuleSpec::new(Ipv4Addr::new(192, 0, 2, 1), IPPROTO_UDP, 1024, 0x2ab, 3);
        let p = rule.pattern();
        assert_eq!(
            p[2].type_,
            dpdk_sys::rte_flow_item_type::RTE_FLOW_ITEM_TYPE_UDP
        );
        let spec = bytes(p[2].spec, 8);
        let mask = bytes(p[2].mask, 8);
        assert_eq!(spec, [0, 0, 0x02, 0xab, 0, 0, 0, 0]);
        assert_eq!(mask, [0, 0, 0x03, 0xff, 0, 0, 0, 0]);
        // One worker: the mask is empty, every port of the address matches.
        let rule = RuleSpec::new(Ipv4Addr::new(192, 0, 2, 1), IPPROTO_UDP, 1, 0, 0);
        assert_eq!(bytes(rule.pattern()[2].mask, 8), [0; 8]);
    }

    #[test]
    fn only_powers_of_two_partition_by_mask() {
        for w in [1u16, 2, 4, 8, 16, 1 << 15] {
            assert!(check_workers(w).is_ok(), "{w}");
        }
        for w in [0u16, 3, 5, 6, 24, u16::MAX] {
            let err = check_workers(w).unwrap_err();
            assert!(err.to_string().contains("not a power of two"), "{err}");
        }
        assert!(check_protocol(IPPROTO_TCP).is_ok() && check_protocol(IPPROTO_UDP).is_ok());
        assert!(check_protocol(1).is_err());
    }
}
