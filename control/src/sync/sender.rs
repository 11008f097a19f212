//! The master sync daemon's thread: drains the workers' record rings every
//! [`FLUSH_INTERVAL`] and sends them as IPVS sync messages of at most `maxlen` bytes.

use super::{SyncCounters, SyncDaemon};
use dataplane::sync::{wire, RecordConsumer, SyncConn};
use nix::sys::socket::{setsockopt, sockopt};
use std::ffi::OsString;
use std::net::{SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a record waits for the next message at most.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<RecordConsumer>>,
}

impl Sender {
    /// Opens the socket and starts the thread; on error gives the rings back.
    pub fn start(
        spec: &SyncDaemon,
        rings: Vec<RecordConsumer>,
        counters: Arc<SyncCounters>,
    ) -> Result<Sender, (String, Vec<RecordConsumer>)> {
        let socket = match socket(spec) {
            Ok(s) => s,
            Err(e) => {
                return Err((
                    format!("sync master on {}: {e}", spec.mcast_interface),
                    rings,
                ))
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, to) = (stop.clone(), SocketAddrV4::new(spec.group, spec.port));
        let (syncid, maxlen) = (spec.syncid, usize::from(spec.maxlen));
        let thread = std::thread::Builder::new()
            .name("rvs-sync-master".into())
            .spawn(move || {
                let mut rings = rings;
                let mut sending = Sending {
                    socket,
                    to,
                    syncid,
                    maxlen,
                    counters,
                };
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(FLUSH_INTERVAL);
                    sending.drain(&mut rings);
                }
                rings
            });
        match thread {
            Ok(thread) => Ok(Sender { stop, thread }),
            Err(e) => Err((format!("sync master thread: {e}"), Vec::new())),
        }
    }

    /// Stops the thread and gives the rings back (records left in them are sent later, or
    /// never).
    pub fn stop(self) -> Vec<RecordConsumer> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

struct Sending {
    socket: UdpSocket,
    to: SocketAddrV4,
    syncid: u8,
    maxlen: usize,
    counters: Arc<SyncCounters>,
}

impl Sending {
    /// Sends what the rings hold, in messages as full as `maxlen` allows.
    fn drain(&mut self, rings: &mut [RecordConsumer]) {
        let mut conns: Vec<SyncConn> = Vec::new();
        for ring in rings.iter_mut() {
            while let Ok(c) = ring.pop() {
                conns.push(c);
            }
        }
        let mut msg = Vec::with_capacity(self.maxlen);
        let mut rest = &conns[..];
        while !rest.is_empty() {
            let n = wire::encode(self.syncid, rest, self.maxlen, &mut msg);
            if n == 0 {
                // A record larger than maxlen on its own: never sendable.
                SyncCounters::add(&self.counters.send_errors, 1);
                rest = &rest[1..];
                continue;
            }
            match self.socket.send_to(&msg, self.to) {
                Ok(_) => {
                    SyncCounters::add(&self.counters.messages_sent, 1);
                    SyncCounters::add(&self.counters.conns_sent, n as u64);
                }
                Err(_) => SyncCounters::add(&self.counters.send_errors, 1),
            }
            rest = &rest[n..];
        }
    }
}

/// A UDP socket that sends out of the sync interface, with the daemon's TTL, not looped back.
fn socket(spec: &SyncDaemon) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    setsockopt(
        &socket,
        sockopt::BindToDevice,
        &OsString::from(&spec.mcast_interface),
    )?;
    setsockopt(&socket, sockopt::IpMulticastTtl, &spec.ttl)?;
    setsockopt(&socket, sockopt::IpMulticastLoop, &false)?;
    Ok(socket)
}
