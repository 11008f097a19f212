//! The master sync daemon's thread: drains the workers' record rings every [`FLUSH_INTERVAL`]
//! (every [`BUSY_INTERVAL`] while records come, so that each drain is short and never holds its
//! cpu for long) and sends them as IPVS sync messages of at most `maxlen` bytes.

use super::{SyncCounters, SyncDaemon};
use dataplane::sync::{wire, RecordConsumer, SyncConn};
use nix::sys::socket::{
    sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders, SockaddrIn,
};
use std::ffi::OsString;
use std::io::IoSlice;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a record waits for the next message at most.
const FLUSH_INTERVAL: Duration = Duration::from_millis(10);
/// The wait after a drain that sent something.
const BUSY_INTERVAL: Duration = Duration::from_millis(1);

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
                    to: SockaddrIn::from(to),
                    connected: false,
                    syncid,
                    maxlen,
                    counters,
                    batch: Vec::new(),
                    ends: Vec::new(),
                };
                let mut wait = FLUSH_INTERVAL;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(wait);
                    wait = if sending.drain(&mut rings) {
                        BUSY_INTERVAL
                    } else {
                        FLUSH_INTERVAL
                    };
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
    to: SockaddrIn,
    /// Whether the socket is connected to `to` (then its messages go without an address).
    connected: bool,
    syncid: u8,
    maxlen: usize,
    counters: Arc<SyncCounters>,
    /// Encoded messages waiting for one `sendmmsg`, back to back ...
    batch: Vec<u8>,
    /// ... each one's end in `batch` and its record count.
    ends: Vec<(usize, usize)>,
}

impl Sending {
    /// Sends what the rings hold, in messages as full as `maxlen` allows, read in place. True
    /// if they held anything.
    fn drain(&mut self, rings: &mut [RecordConsumer]) -> bool {
        let mut msg = Vec::with_capacity(self.maxlen);
        let mut any = false;
        for ring in rings.iter_mut() {
            let Ok(chunk) = ring.read_chunk(ring.slots()) else {
                continue;
            };
            any |= !chunk.is_empty();
            let (first, second) = chunk.as_slices();
            self.send_all(first, &mut msg);
            self.send_all(second, &mut msg);
            chunk.commit_all();
        }
        self.flush();
        any
    }

    /// Sends `conns` in messages, prefetching the records of the next message while it
    /// encodes one: the worker's core wrote them last.
    fn send_all(&mut self, conns: &[SyncConn], msg: &mut Vec<u8>) {
        let mut rest = conns;
        prefetch(&rest[..rest.len().min(PER_MESSAGE)]);
        while !rest.is_empty() {
            let ahead = rest.len().min(PER_MESSAGE)..rest.len().min(2 * PER_MESSAGE);
            prefetch(&rest[ahead]);
            let n = wire::encode(self.syncid, rest, self.maxlen, msg);
            if n == 0 {
                // A record larger than maxlen on its own: never sendable.
                SyncCounters::add(&self.counters.send_errors, 1);
                rest = &rest[1..];
                continue;
            }
            self.batch.extend_from_slice(msg);
            self.ends.push((self.batch.len(), n));
            if self.ends.len() == BATCH {
                self.flush();
            }
            rest = &rest[n..];
        }
    }

    /// Sends the batched messages with as few `sendmmsg` calls as the kernel takes them in; a
    /// message it refuses is counted and skipped.
    fn flush(&mut self) {
        self.connect();
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(end, _)| end));
        let slices: Vec<[IoSlice; 1]> = (starts.zip(&self.ends))
            .map(|(start, &(end, _))| [IoSlice::new(&self.batch[start..end])])
            .collect();
        let to = (!self.connected).then_some(self.to);
        let addrs = vec![to; slices.len()];
        let mut i = 0;
        while i < slices.len() {
            let mut headers = MultiHeaders::<SockaddrIn>::preallocate(slices.len() - i, None);
            let fd = self.socket.as_raw_fd();
            let none: [ControlMessage; 0] = [];
            let sent = sendmmsg(
                fd,
                &mut headers,
                &slices[i..],
                &addrs[i..],
                none,
                MsgFlags::empty(),
            )
            .map_or(0, |r| r.count());
            let conns: usize = self.ends[i..i + sent].iter().map(|&(_, n)| n).sum();
            SyncCounters::add(&self.counters.messages_sent, sent as u64);
            SyncCounters::add(&self.counters.conns_sent, conns as u64);
            if sent == 0 {
                SyncCounters::add(&self.counters.send_errors, 1);
            }
            i += sent.max(1);
        }
        self.batch.clear();
        self.ends.clear();
    }

    /// Connects the socket to a multicast group, as IPVS's master does, so that it keeps its
    /// route instead of looking one up and allocating it for every message; tried at each
    /// flush until it succeeds (the interface may be down at start). A unicast peer's route is
    /// cached by the kernel already, and a connected socket would fail a send per ICMP error.
    fn connect(&mut self) {
        if !self.connected && self.to.ip().is_multicast() {
            self.connected = self.socket.connect(SocketAddrV4::from(self.to)).is_ok();
        }
    }
}

/// Messages one `sendmmsg` sends at most.
const BATCH: usize = 64;

/// Records a message of the default size holds (IPv4, no options).
const PER_MESSAGE: usize = 40;

fn prefetch(conns: &[SyncConn]) {
    for c in conns {
        dataplane::dpdk::mem::prefetch(c);
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

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::conn::Addr;
    use std::net::Ipv4Addr;

    fn conn(i: u32) -> SyncConn {
        let v4 = |a: u32| Addr::from(Ipv4Addr::from(a));
        SyncConn {
            protocol: 6,
            // The decoder marks every connection synced, as IPVS's backup does.
            flags: dataplane::sync::flags::SYNC,
            state: 1,
            caddr: v4(0x0a01_0000 + i),
            cport: (i % 60_000) as u16 + 1024,
            vaddr: v4(0x0a0a_0064),
            vport: 80,
            daddr: v4(0x0a14_000b),
            dport: 80,
            fwmark: 0,
            timeout_s: 900,
            local: i
                .is_multiple_of(2)
                .then(|| (v4(0x0a14_0101), (i % 50_000) as u16 + 1024)),
        }
    }

    /// Every record pushed arrives once, in order, in messages no larger than maxlen, across
    /// the ring's wrap and more messages than one `sendmmsg` takes.
    #[test]
    fn every_record_arrives_in_order_in_messages_within_maxlen() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        // Room for a round's messages (root may exceed rmem_max).
        let _ = setsockopt(&sink, sockopt::RcvBufForce, &(8 << 20));
        let mut spec = SyncDaemon {
            port: sink.local_addr().unwrap().port(),
            group: Ipv4Addr::LOCALHOST,
            syncid: 7,
            ..SyncDaemon::on("lo")
        };
        spec.maxlen = 1000;
        let (mut producer, consumer) = dataplane::sync::record_ring();
        let counters = Arc::new(SyncCounters::default());
        let sender = Sender::start(&spec, vec![consumer], counters.clone()).unwrap();
        // 40 rounds of 2,000 records: the ring (65,536) wraps, and a round is ~80 messages.
        let (rounds, per_round) = (40, 2_000);
        let total = rounds * per_round;
        let (mut got, mut one) = (Vec::new(), Vec::new());
        let mut buf = [0u8; 65536];
        for round in 0..rounds {
            for i in round * per_round..(round + 1) * per_round {
                producer.push(conn(i)).unwrap();
            }
            while got.len() < ((round + 1) * per_round) as usize {
                let n = sink
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("{e} after {} records, {counters:?}", got.len()));
                assert!(n <= spec.maxlen as usize, "{n}-byte message over maxlen");
                wire::decode(&buf[..n], 7, &mut one).unwrap();
                got.append(&mut one);
            }
        }
        sender.stop();
        assert_eq!(got.len(), total as usize);
        if let Some((c, i)) = got.iter().zip(0..).find(|&(c, i)| *c != conn(i)) {
            panic!("record {i}: {c:?}, sent {:?}", conn(i));
        }
        assert_eq!(counters.conns_sent.load(Ordering::Relaxed), total as u64);
        assert_eq!(counters.send_errors.load(Ordering::Relaxed), 0);
    }
}
