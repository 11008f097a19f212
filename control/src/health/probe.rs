//! One attempt of each checker kind, with ordinary kernel sockets (so from the box's own
//! addresses, through its kernel interfaces): `Ok` with the weight a `misc_dynamic` script set,
//! or `Err` with keepalived's wording of the failure. Every attempt ends within its timeout.

use super::{datagram, http, ping, Target, Verdict};
use rvs_api::keepalived::checker::CheckKind;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// Runs one attempt of `t`'s check.
pub async fn attempt(t: &Target) -> Verdict {
    match &t.kind {
        CheckKind::Tcp => tcp(t).await.map(|_| None),
        CheckKind::Http {
            urls,
            virtualhost,
            tls,
        } => http::check(t, urls, virtualhost.as_deref(), *tls)
            .await
            .map(|_| None),
        CheckKind::Udp {
            payload,
            require_reply,
        } => datagram::udp(t, payload, require_reply.as_deref())
            .await
            .map(|_| None),
        CheckKind::Dns { query_type, name } => {
            datagram::dns(t, query_type, name).await.map(|_| None)
        }
        CheckKind::Ping => ping::check(t).await.map(|_| None),
        CheckKind::Misc {
            path,
            timeout,
            dynamic,
            user,
        } => {
            let limit = timeout.unwrap_or(t.delay_loop);
            misc(t, path, limit, *dynamic, user.as_deref()).await
        }
    }
}

/// keepalived's words for a passed check of `t`.
pub fn success(t: &Target) -> String {
    let at = endpoint(t.connect);
    match &t.kind {
        CheckKind::Http { .. } => format!("HTTP status code success to {at}."),
        CheckKind::Udp { .. } => format!("UDP check to {at} success."),
        CheckKind::Dns { .. } => format!("DNS check to {at} success."),
        CheckKind::Ping => format!("ICMP echo to {at} success."),
        CheckKind::Misc { path, .. } => format!("Misc check to {at} for [{path}] success."),
        _ => format!("TCP connection to {at} success."),
    }
}

/// `[10.20.0.12]:tcp:80`, as keepalived writes a checked server.
pub fn endpoint(addr: SocketAddr) -> String {
    format!("[{}]:tcp:{}", addr.ip(), addr.port())
}

/// A TCP connection to `t`'s address from its `bindto`, within its connect timeout.
pub async fn connect(t: &Target) -> Result<TcpStream, String> {
    let socket = match t.connect.ip() {
        std::net::IpAddr::V4(_) => TcpSocket::new_v4(),
        std::net::IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(b) = t.bindto {
        socket.bind(b).map_err(|e| format!("bind {b}: {e}"))?;
    }
    match timeout(t.connect_timeout, socket.connect(t.connect)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

async fn tcp(t: &Target) -> Result<(), String> {
    connect(t)
        .await
        .map(drop)
        .map_err(|e| format!("TCP connection to {} failed ({e}).", endpoint(t.connect)))
}

/// keepalived's MISC_CHECK: exit 0 up, 1 down; with `dynamic`, 2..=255 up with weight
/// code - 2. Killed at the timeout (down).
async fn misc(
    t: &Target,
    path: &str,
    limit: Duration,
    dynamic: bool,
    user: Option<&str>,
) -> Verdict {
    let at = endpoint(t.connect);
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(path).kill_on_drop(true);
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(u) = user {
        let uid = nix::unistd::User::from_name(u)
            .ok()
            .flatten()
            .ok_or_else(|| format!("MISC_CHECK for {at}: no user {u}"))?;
        cmd.uid(uid.uid.as_raw()).gid(uid.gid.as_raw());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("Misc check to {at} for [{path}] failed to start: {e}"))?;
    let status = match timeout(limit, child.wait()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("Misc check to {at} for [{path}]: {e}")),
        Err(_) => return Err(format!("Misc check to {at} for [{path}] timed out")),
    };
    match status.code() {
        Some(0) => Ok(None),
        Some(code @ 2..=255) if dynamic => Ok(Some(code as u32 - 2)),
        Some(code) => Err(format!(
            "Misc check to {at} for [{path}] failed with exit status {code}."
        )),
        None => Err(format!(
            "Misc check to {at} for [{path}] killed by a signal."
        )),
    }
}
