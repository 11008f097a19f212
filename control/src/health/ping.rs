//! `PING_CHECK`: one ICMP echo request to the real server (IPv4, a raw socket: rvsd runs as
//! root), answered within the connect timeout. The blocking exchange runs on the runtime's
//! blocking pool, so a server that does not answer delays only its own check.

use super::probe::endpoint;
use super::Target;
use nix::sys::socket::{
    recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
    SockType, SockaddrIn,
};
use nix::sys::time::TimeVal;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

pub async fn check(t: &Target) -> Result<(), String> {
    let at = endpoint(t.connect).replace(":tcp:", ":icmp:");
    let (addr, limit) = (t.connect.ip(), t.connect_timeout);
    let IpAddr::V4(v4) = addr else {
        return Err(format!("ICMP echo to {at} failed (IPv6 is not supported)."));
    };
    let done = tokio::task::spawn_blocking(move || echo(v4, limit)).await;
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("ICMP echo to {at} failed ({e}).")),
        Err(e) => Err(format!("ICMP echo to {at} failed ({e}).")),
    }
}

/// Sends one echo request to `addr` and waits up to `limit` for its reply.
fn echo(addr: Ipv4Addr, limit: Duration) -> io::Result<()> {
    static SEQUENCE: AtomicU16 = AtomicU16::new(0);
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )?;
    let (id, seq) = (
        std::process::id() as u16,
        SEQUENCE.fetch_add(1, Ordering::Relaxed),
    );
    let request = echo_request(id, seq);
    let to = SockaddrIn::from(SocketAddrV4::new(addr, 0));
    sendto(fd.as_raw_fd(), &request, &to, MsgFlags::empty())?;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"));
        }
        let wait = TimeVal::new(left.as_secs() as i64, left.subsec_micros().max(1) as i64);
        setsockopt(&fd, sockopt::ReceiveTimeout, &wait)?;
        match recvfrom::<SockaddrIn>(fd.as_raw_fd(), &mut buf) {
            Ok((n, Some(from))) if from.ip() == addr && is_reply(&buf[..n], id, seq) => {
                return Ok(())
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// An ICMP echo request with `id`, `seq` and a short payload, its checksum filled in.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![ECHO_REQUEST, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(b"rvs health check");
    let sum = checksum(&m);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// Whether `packet` (an IPv4 packet, as a raw socket receives it) is the echo reply to
/// `id`/`seq`.
fn is_reply(packet: &[u8], id: u16, seq: u16) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let icmp = packet
        .get(usize::from(first & 0x0f) * 4..)
        .unwrap_or_default();
    icmp.len() >= 8
        && icmp[0] == ECHO_REPLY
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_is_etherparses_and_its_reply_is_known() {
        let m = echo_request(0x4242, 7);
        let echo = etherparse::IcmpEchoHeader { id: 0x4242, seq: 7 };
        let header = etherparse::Icmpv4Header::with_checksum(
            etherparse::Icmpv4Type::EchoRequest(echo),
            &m[8..],
        );
        assert_eq!(m[..8], header.to_bytes()[..]);
        let mut reply = vec![0x45; 20];
        reply.extend_from_slice(&m);
        reply[20] = ECHO_REPLY;
        assert!(is_reply(&reply, 0x4242, 7));
        assert!(!is_reply(&reply, 0x4242, 8));
        reply[20] = ECHO_REQUEST;
        assert!(!is_reply(&reply, 0x4242, 7));
    }
}
