//! The backup sync daemon's thread: receives IPVS sync messages on the sync interface, decodes
//! them (a bad message is dropped whole and counted by reason) and hands the connections to
//! the control thread.

use super::{SyncCounters, SyncDaemon};
use dataplane::sync::{wire, SyncConn};
use nix::sys::socket::{setsockopt, sockopt, IpMembershipRequest};
use std::ffi::OsString;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the thread looks at its stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

pub struct Receiver {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Receiver {
    pub fn start(
        spec: &SyncDaemon,
        to_control: mpsc::Sender<Vec<SyncConn>>,
        counters: Arc<SyncCounters>,
    ) -> Result<Receiver, String> {
        let socket =
            socket(spec).map_err(|e| format!("sync backup on {}: {e}", spec.mcast_interface))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, syncid) = (stop.clone(), spec.syncid);
        let thread = std::thread::Builder::new()
            .name("rvs-sync-backup".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !flag.load(Ordering::Relaxed) {
                    let Ok(n) = socket.recv(&mut buf) else {
                        continue;
                    };
                    if let Some(conns) = take(&buf[..n], syncid, &counters) {
                        let _ = to_control.send(conns);
                    }
                }
            })
            .map_err(|e| format!("sync backup thread: {e}"))?;
        Ok(Receiver { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// The connections of one message, counted; None (counted by reason) for a bad one.
pub fn take(msg: &[u8], syncid: u8, counters: &SyncCounters) -> Option<Vec<SyncConn>> {
    SyncCounters::add(&counters.messages_received, 1);
    let mut conns = Vec::new();
    match wire::decode(msg, syncid, &mut conns) {
        Ok(()) => {
            SyncCounters::add(&counters.conns_received, conns.len() as u64);
            Some(conns)
        }
        Err(e) => {
            if let Some(i) = wire::SyncError::ALL.iter().position(|&x| x == e) {
                SyncCounters::add(&counters.dropped[i], 1);
            }
            None
        }
    }
}

/// A UDP socket on the group's port, bound to the sync interface, in the group there.
fn socket(spec: &SyncDaemon) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, spec.port))?;
    setsockopt(
        &socket,
        sockopt::BindToDevice,
        &OsString::from(&spec.mcast_interface),
    )?;
    if spec.group.is_multicast() {
        let join = IpMembershipRequest::new(spec.group, interface_addr(&spec.mcast_interface));
        setsockopt(&socket, sockopt::IpAddMembership, &join)?;
    }
    socket.set_read_timeout(Some(STOP_CHECK))?;
    Ok(socket)
}

/// The first IPv4 address of interface `name`, if it has one.
fn interface_addr(name: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|a| a.interface_name == name)
        .find_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::conn::Addr;
    use dataplane::sync::flags;

    fn message(syncid: u8) -> Vec<u8> {
        let conn = SyncConn {
            protocol: 6,
            flags: flags::MASQ,
            state: 1,
            caddr: Addr::v4([10, 10, 0, 2]),
            cport: 40000,
            vaddr: Addr::v4([10, 10, 0, 100]),
            vport: 80,
            daddr: Addr::v4([10, 20, 0, 11]),
            dport: 80,
            fwmark: 0,
            timeout_s: 900,
            local: None,
        };
        let mut msg = Vec::new();
        assert_eq!(wire::encode(syncid, &[conn], 1472, &mut msg), 1);
        msg
    }

    fn dropped(c: &SyncCounters, e: wire::SyncError) -> u64 {
        let i = wire::SyncError::ALL.iter().position(|&x| x == e).unwrap();
        c.dropped[i].load(Ordering::Relaxed)
    }

    #[test]
    fn bad_messages_are_counted_by_reason_and_give_nothing() {
        let c = SyncCounters::default();
        assert_eq!(take(&message(1), 1, &c).map(|v| v.len()), Some(1));
        assert!(take(&message(2), 1, &c).is_none());
        assert_eq!(dropped(&c, wire::SyncError::WrongSyncid), 1);
        let msg = message(1);
        assert!(take(&msg[..msg.len() - 3], 1, &c).is_none());
        assert_eq!(dropped(&c, wire::SyncError::BadSize), 1);
        let mut v0 = message(1);
        v0[5] = 0;
        assert!(take(&v0, 1, &c).is_none());
        assert_eq!(dropped(&c, wire::SyncError::WrongVersion), 1);
        assert_eq!(c.messages_received.load(Ordering::Relaxed), 4);
        assert_eq!(c.conns_received.load(Ordering::Relaxed), 1);
    }
}
