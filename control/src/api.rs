//! The control socket: rvsd's unix-socket server for `rvsadm` (protocol in `rvs_api`).
//!
//! - The socket is created mode 0660 in a directory of mode 0750 (both group-owned by the
//!   configured group when there is one), so only root and that group can even reach it.
//! - Every connection is checked with SO_PEERCRED: uid 0, or a member (primary or
//!   supplementary) of `control.group`; anyone else gets "Permission denied" to its first
//!   request and is disconnected; nothing of theirs reaches the daemon.
//! - Requests are capped at `rvs_api::MAX_REQUEST` bytes and a connection silent for
//!   [`IDLE_TIMEOUT`] is closed; at most [`MAX_CONNECTIONS`] are served at once.
//! - Connection threads never touch the daemon: they hand each request to the control thread
//!   (the only owner of the [`Daemon`](crate::daemon::Daemon), see [`crate::control_loop`])
//!   over a channel and wait for its answer. Read-only requests are answered; mutating ones are
//!   applied atomically and written to the [`AuditLog`] (who, what, result).

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{Gid, Group};
use rvs_api::{
    read_message, write_message, Request, RequestMessage, Response, ResponseMessage, MAX_REQUEST,
    VERSION,
};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A connection silent this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are refused.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection waits for the control thread's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Who is asking (from SO_PEERCRED).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: i32,
}

/// A request on its way to the control thread, with where to send the answer.
pub struct Call {
    pub peer: Peer,
    pub request: Request,
    pub answer: Sender<Result<Response, String>>,
}

/// The listening side; calls arrive on [`ApiServer::calls`].
pub struct ApiServer {
    path: PathBuf,
    calls: Receiver<Call>,
    stop: Arc<AtomicBool>,
}

impl ApiServer {
    /// Creates the socket (replacing a stale one) and starts accepting.
    pub fn bind(path: &Path, group: Option<&str>) -> io::Result<ApiServer> {
        let gid = match group {
            Some(name) => Some(
                Group::from_name(name)
                    .map_err(io::Error::from)?
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("control.group: no group named {name:?}"),
                        )
                    })?
                    .gid,
            ),
            None => None,
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o750))?;
        if let Some(g) = gid {
            std::os::unix::fs::chown(dir, None, Some(g.as_raw()))?;
        }
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o660))?;
        if let Some(g) = gid {
            std::os::unix::fs::chown(path, None, Some(g.as_raw()))?;
        }
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicUsize::new(0));
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("rvs-api".into())
            .spawn(move || accept_loop(listener, tx, gid, active, stop2))?;
        Ok(ApiServer {
            path: path.to_path_buf(),
            calls: rx,
            stop,
        })
    }

    pub fn calls(&self) -> &Receiver<Call> {
        &self.calls
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag, then remove the socket.
        let _ = UnixStream::connect(&self.path);
        let _ = fs::remove_file(&self.path);
    }
}

fn accept_loop(
    listener: UnixListener,
    calls: Sender<Call>,
    group: Option<Gid>,
    active: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let peer = authorise(&stream, group);
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            let mut s = stream;
            let _ = refuse(&mut s, "too many control connections");
            continue;
        }
        let calls = calls.clone();
        let active = active.clone();
        let spawned = std::thread::Builder::new()
            .name("rvs-api-conn".into())
            .spawn(move || {
                let _ = match peer {
                    Some(peer) => serve_connection(stream, peer, &calls),
                    None => deny(stream),
                };
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            eprintln!("rvsd: cannot start a control connection thread");
        }
    }
}

/// Root, or a member of the configured group.
fn authorise(stream: &UnixStream, group: Option<Gid>) -> Option<Peer> {
    let cred = getsockopt(stream, PeerCredentials).ok()?;
    let peer = Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    };
    if peer.uid == 0 {
        return Some(peer);
    }
    let g = group?.as_raw();
    (peer.gid == g || supplementary_groups(peer.pid).contains(&g)).then_some(peer)
}

/// The peer's supplementary groups, from /proc (empty if unreadable).
fn supplementary_groups(pid: i32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Groups:")).map(|g| {
                g.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn refuse(stream: &mut UnixStream, why: &str) -> io::Result<()> {
    write_message(
        stream,
        &ResponseMessage {
            version: VERSION,
            result: Err(why.to_string()),
        },
    )
}

/// An unauthorised peer: its (size-capped) request is read and answered with a refusal, so the
/// client can tell the operator why, and nothing reaches the daemon.
fn deny(mut stream: UnixStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let _ = read_message::<RequestMessage>(&mut stream, MAX_REQUEST);
    refuse(
        &mut stream,
        "Permission denied (you must be root or in rvsd's control group)",
    )
}

fn serve_connection(mut stream: UnixStream, peer: Peer, calls: &Sender<Call>) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(IDLE_TIMEOUT))?;
    loop {
        let msg: RequestMessage = match read_message(&mut stream, MAX_REQUEST) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => {
                // Oversized or malformed: say why, then close.
                let _ = refuse(&mut stream, &format!("bad request: {e}"));
                return Err(e);
            }
        };
        let result = if msg.version != VERSION {
            Err(format!(
                "protocol version {} not supported (rvsd speaks {VERSION})",
                msg.version
            ))
        } else {
            let (tx, rx) = mpsc::channel();
            let call = Call {
                peer,
                request: msg.request,
                answer: tx,
            };
            if calls.send(call).is_err() {
                return Ok(()); // daemon stopping
            }
            rx.recv_timeout(ANSWER_TIMEOUT)
                .unwrap_or_else(|_| Err("rvsd did not answer in time".into()))
        };
        write_message(
            &mut stream,
            &ResponseMessage {
                version: VERSION,
                result,
            },
        )?;
    }
}

/// Appends one line per mutating request: time, who, what, result.
pub struct AuditLog {
    file: Option<fs::File>,
}

impl AuditLog {
    pub fn open(path: Option<&Path>) -> io::Result<AuditLog> {
        let file = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    fs::create_dir_all(dir)?;
                }
                Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .mode_0640()
                        .open(p)?,
                )
            }
            None => None,
        };
        Ok(AuditLog { file })
    }

    pub fn record(&mut self, peer: &Peer, request: &Request, result: &Result<Response, String>) {
        let outcome = match result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        };
        let line = format!(
            "{} uid={} gid={} pid={} request={} result={}\n",
            utc_now(),
            peer.uid,
            peer.gid,
            peer.pid,
            serde_json::to_string(request).unwrap_or_default(),
            outcome
        );
        if let Some(f) = &mut self.file {
            let _ = f.write_all(line.as_bytes());
        } else {
            eprint!("rvsd: audit: {line}");
        }
    }
}

trait Mode0640 {
    fn mode_0640(&mut self) -> &mut Self;
}

impl Mode0640 for OpenOptions {
    fn mode_0640(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o640)
    }
}

/// RFC 3339 UTC timestamp of now, to the second.
fn utc_now() -> String {
    utc(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0))
}

/// RFC 3339 UTC timestamp of `secs` since the Unix epoch.
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_timestamps_are_rfc3339() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
