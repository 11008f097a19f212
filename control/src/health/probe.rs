//! One attempt of each checker kind, with ordinary kernel sockets (so from the box's own
//! addresses, through its kernel interfaces): `Ok` with the weight a `misc_dynamic` script set,
//! or `Err` with keepalived's wording of the failure. Every attempt ends within its timeout.

use super::{Target, Verdict};
use md5::{Digest, Md5};
use rvs_api::keepalived::checker::{CheckKind, Url};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

/// The largest HTTP response read (keepalived reads the whole body for its digest).
const MAX_HTTP_RESPONSE: usize = 1 << 20;

/// Runs one attempt of `t`'s check.
pub async fn attempt(t: &Target) -> Verdict {
    match &t.kind {
        CheckKind::Tcp => tcp(t).await.map(|_| None),
        CheckKind::Http {
            urls,
            virtualhost,
            tls: false,
        } => http(t, urls, virtualhost.as_deref()).await.map(|_| None),
        CheckKind::Misc {
            path,
            timeout,
            dynamic,
            user,
        } => {
            misc(
                t,
                path,
                timeout.unwrap_or(t.delay_loop),
                *dynamic,
                user.as_deref(),
            )
            .await
        }
        other => Err(format!("{} is not implemented yet", other.keyword())),
    }
}

/// keepalived's words for a passed check of `t`.
pub fn success(t: &Target) -> String {
    let at = endpoint(t.connect);
    match &t.kind {
        CheckKind::Http { .. } => format!("HTTP status code success to {at}."),
        CheckKind::Misc { path, .. } => format!("Misc check to {at} for [{path}] success."),
        _ => format!("TCP connection to {at} success."),
    }
}

/// `[10.20.0.12]:tcp:80`, as keepalived writes a checked server.
pub fn endpoint(addr: SocketAddr) -> String {
    format!("[{}]:tcp:{}", addr.ip(), addr.port())
}

async fn connect(t: &Target) -> Result<TcpStream, String> {
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

/// Each url in turn: the status code, then the body's MD5 if a digest is given.
async fn http(t: &Target, urls: &[Url], virtualhost: Option<&str>) -> Result<(), String> {
    for (i, url) in urls.iter().enumerate() {
        let at = format!("{} url({})", endpoint(t.connect), i + 1);
        let mut s = connect(t)
            .await
            .map_err(|e| format!("Error connecting server {} ({e}).", endpoint(t.connect)))?;
        let host = url
            .virtualhost
            .as_deref()
            .or(virtualhost)
            .map_or_else(|| host_header(t.connect), str::to_string);
        let request = format!(
            "GET {} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n\r\n",
            url.path
        );
        let response = timeout(t.connect_timeout, exchange(&mut s, request.as_bytes()))
            .await
            .map_err(|_| format!("Read timeout from server {at}."))?
            .map_err(|e| format!("Error reading from server {at} ({e})."))?;
        let (status, body) = parse_response(&response)
            .ok_or_else(|| format!("Malformed HTTP response from server {at}."))?;
        if !status_ok(url, status) {
            return Err(format!(
                "HTTP status code error to {at}, status_code [{status}]."
            ));
        }
        if let Some(want) = &url.digest {
            let got = hex(&Md5::digest(body));
            if &got != want {
                return Err(format!("MD5 digest error to {at}, MD5SUM [{got}]."));
            }
        }
    }
    Ok(())
}

fn host_header(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("{}:{}", v.ip(), v.port()),
        SocketAddr::V6(v) => format!("[{}]:{}", v.ip(), v.port()),
    }
}

/// Sends `request` and reads the response to its end (HTTP/1.0: the server closes).
async fn exchange(s: &mut TcpStream, request: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(request).await?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 || response.len() + n > MAX_HTTP_RESPONSE {
            response.extend_from_slice(&chunk[..n.min(MAX_HTTP_RESPONSE - response.len())]);
            return Ok(response);
        }
        response.extend_from_slice(&chunk[..n]);
    }
}

/// The status code and body of an HTTP/1.x response.
pub fn parse_response(r: &[u8]) -> Option<(u16, &[u8])> {
    let end = r.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&r[..end]).ok()?;
    let mut status = head.lines().next()?.split_ascii_whitespace();
    if !status.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = status.next()?.parse().ok()?;
    Some((code, &r[end + 4..]))
}

/// keepalived: the url's status codes, any 2xx when it lists none.
pub fn status_ok(url: &Url, status: u16) -> bool {
    if url.status_codes.is_empty() {
        return (200..300).contains(&status);
    }
    url.status_codes
        .iter()
        .any(|&(lo, hi)| (lo..=hi).contains(&status))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
