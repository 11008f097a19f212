//! `UDP_CHECK` and `DNS_CHECK`, over a connected UDP socket (so the kernel reports an ICMP port
//! unreachable as a refused receive).
//!
//! UDP_CHECK (keepalived's): the payload is sent; with `require_reply` a reply must come within
//! the connect timeout and match the given bytes over the shorter of the two; without it the
//! server is up unless the kernel reports it unreachable. DNS_CHECK: a query for `name` and
//! `type` (recursion desired) must be answered, with RCODE 0; replies to other ids are ignored.

use super::probe::endpoint;
use super::Target;
use rvs_api::keepalived::checker::DNS_TYPES;
use std::io;
use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio::time::timeout;

/// A UDP socket bound as the checker says and connected to its server.
async fn socket(t: &Target) -> io::Result<UdpSocket> {
    let any = match t.connect {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    let s = UdpSocket::bind(t.bindto.unwrap_or(any)).await?;
    s.connect(t.connect).await?;
    Ok(s)
}

/// Sends `query` and waits (the connect timeout) for a reply that `wanted` accepts; `Ok(None)`
/// when none came.
async fn ask(
    t: &Target,
    query: &[u8],
    wanted: impl Fn(&[u8]) -> bool,
) -> io::Result<Option<Vec<u8>>> {
    let s = socket(t).await?;
    s.send(query).await?;
    let mut buf = vec![0u8; 4096];
    let reply = async {
        loop {
            let n = s.recv(&mut buf).await?;
            if wanted(&buf[..n]) {
                return Ok(buf[..n].to_vec());
            }
        }
    };
    match timeout(t.connect_timeout, reply).await {
        Ok(Ok(r)) => Ok(Some(r)),
        Ok(Err(e)) => Err(e),
        Err(_) => Ok(None),
    }
}

pub async fn udp(t: &Target, payload: &[u8], require_reply: Option<&[u8]>) -> Result<(), String> {
    let at = endpoint(t.connect).replace(":tcp:", ":udp:");
    let fail = |why: &str| Err(format!("UDP check to {at} failed ({why})."));
    match (ask(t, payload, |_| true).await, require_reply) {
        (Err(e), _) => fail(&e.to_string()),
        (Ok(None), Some(_)) => fail("no reply"),
        (Ok(None), None) => Ok(()),
        (Ok(Some(r)), Some(want)) if r.iter().zip(want).any(|(a, b)| a != b) => {
            fail("unexpected reply")
        }
        (Ok(Some(_)), _) => Ok(()),
    }
}

pub async fn dns(t: &Target, query_type: &str, name: &str) -> Result<(), String> {
    let at = endpoint(t.connect).replace(":tcp:", ":udp:");
    let fail = |why: String| Err(format!("DNS check to {at} failed ({why})."));
    let id = (t.connect.port() ^ std::process::id() as u16).rotate_left(5);
    let Some(query) = dns_query(id, name, query_type) else {
        return fail(format!("cannot ask for `{name}'"));
    };
    match ask(t, &query, |r| is_reply_to(id, r)).await {
        Err(e) => fail(e.to_string()),
        Ok(None) => fail("no reply".into()),
        Ok(Some(reply)) => dns_answered(&reply).or_else(fail),
    }
}

/// A DNS query (RFC 1035 4.1): header with `id` and RD, one question for `name`, `qtype`, IN.
/// None for a name that cannot be written (a label over 63 bytes, a name over 255).
pub fn dns_query(id: u16, name: &str, qtype: &str) -> Option<Vec<u8>> {
    let code = DNS_TYPES.iter().find(|(n, _)| *n == qtype)?.1;
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        let len = u8::try_from(label.len()).ok().filter(|l| *l <= 63)?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() - 12 > 255 {
        return None;
    }
    q.extend_from_slice(&code.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    Some(q)
}

/// Whether `reply` is a response to query `id`.
pub fn is_reply_to(id: u16, reply: &[u8]) -> bool {
    reply.len() >= 12 && reply[..2] == id.to_be_bytes() && reply[2] & 0x80 != 0
}

/// A response's verdict: RCODE 0 passes (keepalived does not count the answers).
pub fn dns_answered(reply: &[u8]) -> Result<(), String> {
    match reply.get(3).map(|b| b & 0x0f) {
        Some(0) => Ok(()),
        Some(rcode) => Err(format!("RCODE {rcode}")),
        None => Err("short reply".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_written_as_rfc_1035_has_it() {
        let q = dns_query(0x1234, "example.com.", "A").unwrap();
        #[rustfmt::skip]
        let want = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
            7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
            0, 1, 0, 1,
        ];
        assert_eq!(q, want);
        assert_eq!(dns_query(1, ".", "SOA").unwrap()[12..], [0, 0, 6, 0, 1]);
        assert_eq!(dns_query(1, &"a".repeat(64), "A"), None);
        assert_eq!(dns_query(1, "x", "BOGUS"), None);
    }

    #[test]
    fn a_reply_must_match_and_have_no_error() {
        let mut r = dns_query(7, "example.com", "A").unwrap();
        assert!(!is_reply_to(7, &r), "a query is not a reply");
        r[2] |= 0x80;
        assert!(is_reply_to(7, &r) && !is_reply_to(8, &r), "its id only");
        assert_eq!(dns_answered(&r), Ok(()));
        r[3] = 3;
        assert_eq!(dns_answered(&r), Err("RCODE 3".into()));
    }
}
