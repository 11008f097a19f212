//! rvs-pktgen: a pktgen-like DPDK traffic generator on two `net_memif` ports (client side "wan",
//! server side "lan"), single lcore, that plays the clients and the real servers.
//!
//! Modes:
//! - `udp`: one datagram per flow first (creates the sessions), then stamped datagrams over all
//!   flows at `--rate` (0 = as fast as possible) for `--duration`; counts what comes back on
//!   either port by the stamp in the payload, and the latency from the TSC in it. With
//!   `--new-flows-per-sec`, that many flows a second are replaced by fresh ones while it runs.
//! - `tcp`: a full handshake per flow first (the established sessions), then stamped TCP data.
//! - `cps`: SYNs over fresh flows; the server side answers SYN|ACK (`--reply lb`, through the load
//!   balancer: NAT/FULLNAT) or has the client ACK at once (`--reply direct`: DR/TUN, whose replies
//!   bypass it); the final ACK reaching the server side completes a connection, which is then
//!   reset (`--close rst`). Connections per second = completed handshakes / duration.
//!
//! The hot loop allocates nothing: templates are built once, mbufs come in bulk, answers are
//! written into the received mbuf, bursts are fixed arrays. Prints one JSON object (`GenResult`).

use clap::{Parser, ValueEnum};
use dataplane::dpdk::{lcore, Eal, Mbuf, MbufBurst, Mempool, Port, PortConfig, RxQueue, TxQueue};
use perf::gen::hist::Histogram;
use perf::gen::pace::{warmup_limit, FlowSeq, FlowWindow, Pacer};
use perf::gen::packet::{self, Endpoints, Kind, TcpInfo, Template, ACK, RST, SYN};
use perf::results::GenResult;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const BURST: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Udp,
    Tcp,
    Cps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Reply {
    /// Replies go back through the load balancer (NAT, FULLNAT, testpmd io).
    Lb,
    /// Replies bypass the load balancer (DR, TUN).
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Close {
    None,
    Rst,
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).map_err(|e| format!("{s}: {e}")))
        .collect::<Result<_, _>>()?;
    v.try_into().map_err(|_| format!("{s}: need 6 bytes"))
}

#[derive(Debug, Parser)]
#[command(about = "DPDK traffic generator for rvs benchmarks (two memif ports)")]
struct Args {
    /// memif socket of the client-side port (the device under test is the memif server).
    #[arg(long)]
    wan_sock: String,
    /// memif socket of the server-side port; absent = one port (testpmd 5tswap bounce).
    #[arg(long)]
    lan_sock: Option<String>,
    #[arg(long, value_enum, default_value = "udp")]
    mode: Mode,
    #[arg(long, default_value_t = 1000)]
    flows: u64,
    /// First flow index (fresh flows for successive cps runs).
    #[arg(long, default_value_t = 0)]
    flow_base: u64,
    /// udp: flows replaced by fresh ones each second of the measurement, the oldest first (new
    /// sessions for the device to schedule while it runs); 0 = the warm-up's flows throughout.
    #[arg(long, default_value_t = 0)]
    new_flows_per_sec: u64,
    /// Frame size on the wire including the 4-byte FCS (64..=1518).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Packets (cps: SYNs) per second; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Measured seconds.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Rate of the warm-up (one packet or handshake per flow). A warm-up whose frames have not
    /// all left after twice its time plus 10 s ends the run with an error.
    #[arg(long, default_value_t = 1_000_000)]
    warmup_rate: u64,
    #[arg(long, value_enum, default_value = "lb")]
    reply: Reply,
    #[arg(long, value_enum, default_value = "rst")]
    close: Close,
    /// MAC of the load balancer's client-side port (frames from clients go there).
    #[arg(long, value_parser = parse_mac, default_value = "02:00:00:00:01:01")]
    lb_mac: [u8; 6],
    /// MAC of the generator's client-side port (the clients' gateway).
    #[arg(long, value_parser = parse_mac, default_value = "02:00:00:00:01:fe")]
    client_mac: [u8; 6],
    /// MAC of the generator's server-side port (the real servers).
    #[arg(long, value_parser = parse_mac, default_value = "02:00:00:00:02:11")]
    server_mac: [u8; 6],
    #[arg(long, default_value = "10.10.0.100")]
    vip: Ipv4Addr,
    #[arg(long, default_value_t = 80)]
    vport: u16,
    #[arg(long, default_value = "10.1.0.1")]
    client_base: Ipv4Addr,
    /// CPU of the generator's (single) lcore.
    #[arg(long, default_value_t = 0)]
    cpu: u32,
    #[arg(long, default_value = "rvs-pktgen")]
    file_prefix: String,
    /// Seconds to wait for the memif links.
    #[arg(long, default_value_t = 10.0)]
    link_timeout: f64,
    /// A file created when the measurement starts, after the warm-up (rvs-bench starts its
    /// profiler of the device then).
    #[arg(long)]
    measuring_file: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rvs-pktgen: {e}");
            ExitCode::from(2)
        }
    }
}

/// One side (port) of the generator: its queues and a buffer of answers to transmit.
struct Side {
    rx: RxQueue,
    tx: TxQueue,
    out: MbufBurst<BURST>,
}

impl Side {
    /// Queues an answer; flushes when full.
    #[inline]
    fn push(&mut self, m: Mbuf, c: &mut Counters) {
        if let Err(m) = self.out.push(m) {
            self.flush(c);
            if self.out.push(m).is_err() {
                c.tx_refused += 1;
            }
        }
    }

    #[inline]
    fn flush(&mut self, c: &mut Counters) {
        if self.out.is_empty() {
            return;
        }
        self.tx.tx_burst(&mut self.out);
        if !self.out.is_empty() {
            c.tx_refused += self.out.len() as u64;
            self.out.free_all();
        }
    }
}

#[derive(Default)]
struct Counters {
    sent: u64,
    tx_refused: u64,
    received: u64,
    other: u64,
    conns: u64,
    resets: u64,
}

struct Gen {
    mode: Mode,
    reply: Reply,
    close: Close,
    client_mac: [u8; 6],
    lb_mac: [u8; 6],
    pool: Mempool,
    wan: Side,
    lan: Option<Side>,
    rx: MbufBurst<BURST>,
    tx: MbufBurst<BURST>,
    c: Counters,
    hist: Histogram,
    client_base: u32,
    flow_base: u64,
    /// The live flows the visiting order's indices stand for.
    window: FlowWindow,
    seq: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum From {
    Wan,
    Lan,
}

enum Answer {
    Free,
    Wan(usize),
    Lan(usize),
}

impl Gen {
    /// Offers the client-side port the frames it refused last time, as they were built (stamp
    /// included), or else up to `n` new frames of `t`, flows from `flows`. Returns how many the
    /// port took and how many new frames were built. Building new frames while the port's queue
    /// is full would spend the generator's cpu on frames that cannot leave, and so slow its
    /// receiving down more the slower the device under test drains: that would measure the
    /// generator, not the device.
    #[inline]
    fn send(&mut self, t: &Template, flows: &mut FlowSeq, n: usize) -> (usize, usize) {
        let mut built = 0;
        if self.tx.is_empty() {
            if n == 0 {
                return (0, 0);
            }
            if !self.pool.alloc_bulk(&mut self.tx, n) {
                self.c.tx_refused += n as u64;
                return (0, 0);
            }
            let now = lcore::tsc();
            self.window.advance(now);
            let len = t.len() as u16;
            for m in self.tx.iter_mut() {
                let flow = self.window.flow(flows.next());
                let (src, sport) = packet::flow_endpoint(self.client_base, self.flow_base + flow);
                if let Some(d) = m.append(len) {
                    t.write(d, src, sport, self.seq, now);
                }
                self.seq = self.seq.wrapping_add(1);
            }
            built = n;
        }
        let took = self.wan.tx.tx_burst(&mut self.tx);
        self.c.tx_refused += self.tx.len() as u64;
        self.c.sent += took as u64;
        (took, built)
    }

    /// Frees the frames the port refused and that are still waiting (at the end of a phase).
    fn drop_unsent(&mut self) {
        self.tx.free_all();
    }

    /// Polls both ports once: counts stamped frames, answers handshakes.
    #[inline]
    fn poll(&mut self) {
        self.poll_side(From::Wan);
        if self.lan.is_some() {
            self.poll_side(From::Lan);
        }
    }

    fn poll_side(&mut self, from: From) {
        let n = match from {
            From::Wan => self.wan.rx.rx_burst(&mut self.rx),
            From::Lan => match self.lan.as_mut() {
                Some(l) => l.rx.rx_burst(&mut self.rx),
                None => 0,
            },
        };
        if n == 0 {
            return;
        }
        let now = lcore::tsc();
        let mut burst = std::mem::take(&mut self.rx);
        for mut m in burst.drain() {
            match self.classify(&mut m, from, now) {
                Answer::Free => drop(m),
                Answer::Wan(len) => {
                    trim_to(&mut m, len);
                    self.wan.push(m, &mut self.c);
                }
                Answer::Lan(len) => {
                    trim_to(&mut m, len);
                    match self.lan.as_mut() {
                        Some(l) => l.push(m, &mut self.c),
                        None => self.wan.push(m, &mut self.c),
                    }
                }
            }
        }
        self.rx = burst;
        self.wan.flush(&mut self.c);
        if let Some(l) = self.lan.as_mut() {
            l.flush(&mut self.c);
        }
    }

    #[inline]
    fn classify(&mut self, m: &mut Mbuf, from: From, now: u64) -> Answer {
        if let Some((_, tsc)) = packet::read_stamp(m.data()) {
            self.c.received += 1;
            self.hist.record(now.wrapping_sub(tsc));
            return Answer::Free;
        }
        if self.mode != Mode::Cps && self.mode != Mode::Tcp {
            self.c.other += 1;
            return Answer::Free;
        }
        if from == From::Lan && packet::is_ipip(m.data()) {
            let strip = packet::decap_ipip(m.data_mut());
            m.adj(strip as u16);
        }
        let Some(t) = packet::tcp_info(m.data()) else {
            self.c.other += 1;
            return Answer::Free;
        };
        let direct = self.reply == Reply::Direct;
        let (cm, lm) = (self.client_mac, self.lb_mac);
        let f = m.data_mut();
        match (from, t.flags & (SYN | ACK | RST)) {
            // Real server receives a SYN.
            (From::Lan, SYN) if direct => Answer::Wan(packet::syn_to_client_ack(f, &t, cm, lm)),
            (From::Lan, SYN) => Answer::Lan(packet::syn_to_synack(f, &t)),
            // Client receives the SYN|ACK.
            (From::Wan, x) if x == SYN | ACK => Answer::Wan(packet::synack_to_ack(f, &t)),
            // Real server receives the final ACK: one more connection.
            (From::Lan, ACK) if t.payload == 0 => self.established(f, &t, now),
            (_, x) if x & RST != 0 => {
                self.c.resets += 1;
                Answer::Free
            }
            _ => {
                self.c.other += 1;
                Answer::Free
            }
        }
    }

    #[inline]
    fn established(&mut self, f: &mut [u8], t: &TcpInfo, now: u64) -> Answer {
        self.c.conns += 1;
        // The client's ISN was the low 32 bits of the TSC when the SYN left.
        let sent = t.seq.wrapping_sub(1);
        self.hist.record(u64::from((now as u32).wrapping_sub(sent)));
        if self.close == Close::None || self.mode == Mode::Tcp {
            return Answer::Free;
        }
        if self.reply == Reply::Direct {
            Answer::Wan(packet::ack_to_client_rst(
                f,
                t,
                self.client_mac,
                self.lb_mac,
            ))
        } else {
            Answer::Lan(packet::ack_to_server_rst(f, t))
        }
    }

    /// Polls for `d` without sending.
    fn drain(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            for _ in 0..1000 {
                self.poll();
            }
        }
    }

    /// Sends `count` frames of `t` over `flows` at `pps`, polling in between; stops early after
    /// `cycles` TSC cycles. Returns the number sent.
    fn run_phase(
        &mut self,
        t: &Template,
        flows: &mut FlowSeq,
        pps: u64,
        count: Option<u64>,
        cycles: u64,
        hz: u64,
    ) -> u64 {
        let start = lcore::tsc();
        let mut pacer = Pacer::new(pps, hz, start);
        let mut sent = 0u64;
        loop {
            let now = lcore::tsc();
            if now.wrapping_sub(start) >= cycles || count.is_some_and(|c| sent >= c) {
                self.drop_unsent();
                return sent;
            }
            let mut n = pacer.allowed(now, BURST as u64);
            if let Some(c) = count {
                n = n.min(c - sent);
            }
            let (took, built) = self.send(t, flows, n as usize);
            pacer.sent(built as u64);
            sent += took as u64;
            self.poll();
        }
    }
}

fn trim_to(m: &mut Mbuf, len: usize) {
    let cur = usize::from(m.data_len());
    if len < cur {
        m.trim((cur - len) as u16);
    } else if len > cur {
        m.append((len - cur) as u16);
    }
}

fn open_port(
    eal: &Eal,
    index: u8,
    sock: &str,
    mac: [u8; 6],
    pool: Mempool,
) -> Result<Port, Box<dyn std::error::Error>> {
    let m = mac.map(|b| format!("{b:02x}")).join(":");
    let devargs =
        format!("net_memif{index},role=client,id=0,socket={sock},socket-abstract=no,mac={m}");
    let mut cfg = PortConfig::new(pool);
    cfg.rss = false;
    cfg.promiscuous = true;
    let mut port = Port::open_vdev(eal, &devargs, &cfg)?;
    port.start()?;
    Ok(port)
}

fn wait_links(ports: &[&Port], timeout: f64) -> Result<(), String> {
    let end = Instant::now() + Duration::from_secs_f64(timeout);
    loop {
        if ports
            .iter()
            .all(|p| p.link().map(|l| l.up).unwrap_or(false))
        {
            return Ok(());
        }
        if Instant::now() > end {
            return Err(format!("memif links not up after {timeout} s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    if !(64..=1518).contains(&a.size) {
        return Err(format!("--size {} outside 64..=1518", a.size).into());
    }
    if a.flows == 0 {
        return Err("--flows must be at least 1".into());
    }
    if a.new_flows_per_sec > 0 && a.mode != Mode::Udp {
        // tcp data on a fresh flow has no session; cps flows are all fresh already.
        return Err("--new-flows-per-sec needs --mode udp".into());
    }
    let lcores = format!("0@{}", a.cpu);
    let eal_args = [
        "rvs-pktgen",
        "--lcores",
        &lcores,
        "--file-prefix",
        &a.file_prefix,
        "--no-pci",
        "--no-telemetry",
        "--log-level",
        "*:error",
    ];
    let eal = Eal::init(eal_args)?;
    let hz = lcore::tsc_hz(&eal);
    let pool = Mempool::create(
        &eal,
        "pktgen",
        32767,
        256,
        Mempool::default_data_room(),
        dataplane::dpdk::SOCKET_ANY,
    )?;
    let mut wan_port = open_port(&eal, 0, &a.wan_sock, a.client_mac, pool)?;
    let mut lan_port = match &a.lan_sock {
        Some(s) => Some(open_port(&eal, 1, s, a.server_mac, pool)?),
        None => None,
    };
    let mut ports = vec![&wan_port];
    ports.extend(lan_port.as_ref());
    wait_links(&ports, a.link_timeout)?;
    // Let both ends settle (the device under test may announce itself with gratuitous ARP).
    std::thread::sleep(Duration::from_millis(200));

    let side = |p: &mut Port| -> Result<Side, String> {
        Ok(Side {
            rx: p.rx_queue(0).ok_or("rx queue")?,
            tx: p.tx_queue(0).ok_or("tx queue")?,
            out: MbufBurst::new(),
        })
    };
    let wan = side(&mut wan_port)?;
    let lan = match lan_port.as_mut() {
        Some(p) => Some(side(p)?),
        None => None,
    };
    let ep = Endpoints {
        src_mac: a.client_mac,
        dst_mac: a.lb_mac,
        client_base: [0; 4],
        dst: a.vip.octets(),
        dst_port: a.vport,
    };
    let frame = a.size - 4;
    let mut g = Gen {
        mode: a.mode,
        reply: a.reply,
        close: a.close,
        client_mac: a.client_mac,
        lb_mac: a.lb_mac,
        pool,
        wan,
        lan,
        rx: MbufBurst::new(),
        tx: MbufBurst::new(),
        c: Counters::default(),
        hist: Histogram::new(),
        client_base: u32::from(a.client_base),
        flow_base: a.flow_base,
        window: FlowWindow::new(a.flows, 0, hz, 0),
        seq: 0,
    };
    let secs = |s: f64| (s * hz as f64) as u64;

    // Warm-up: one packet (udp) or one handshake (tcp) per flow, in flow order.
    let (mut warmup_sent, mut warmup_received) = (0, 0);
    if a.mode != Mode::Cps {
        let kind = if a.mode == Mode::Udp {
            Kind::Udp
        } else {
            Kind::TcpSyn
        };
        let t = Template::new(kind, &ep, if kind == Kind::TcpSyn { 60 } else { frame })?;
        let mut seq = FlowSeq::sequential(a.flows);
        let limit = warmup_limit(a.flows, a.warmup_rate, hz);
        warmup_sent = g.run_phase(&t, &mut seq, a.warmup_rate, Some(a.flows), limit, hz);
        if warmup_sent < a.flows {
            return Err(format!(
                "warm-up: the client-side port took {warmup_sent} of {} frames in {:.0} s \
                 (the device stopped taking them)",
                a.flows,
                limit as f64 / hz as f64
            )
            .into());
        }
        g.drain(Duration::from_millis(300));
        warmup_received = if a.mode == Mode::Udp {
            g.c.received
        } else {
            g.c.conns
        };
        g.c = Counters::default();
        g.hist.clear();
    }

    // Measurement.
    let kind = match a.mode {
        Mode::Udp => Kind::Udp,
        Mode::Tcp => Kind::TcpData,
        Mode::Cps => Kind::TcpSyn,
    };
    let t = Template::new(kind, &ep, if kind == Kind::TcpSyn { 60 } else { frame })?;
    let mut flows = FlowSeq::new(a.flows);
    g.window = FlowWindow::new(a.flows, a.new_flows_per_sec, hz, lcore::tsc());
    if let Some(path) = &a.measuring_file {
        std::fs::write(path, b"")?;
    }
    let started = Instant::now();
    g.run_phase(&t, &mut flows, a.rate, None, secs(a.duration), hz);
    let elapsed = started.elapsed().as_secs_f64();
    g.drain(Duration::from_millis(300));

    let to_ns = |c: u64| c as f64 * 1e9 / hz as f64;
    let q = |x: f64| g.hist.quantile(x).map(to_ns);
    let stats: Vec<_> = std::iter::once(&wan_port)
        .chain(lan_port.as_ref())
        .map(|p| p.stats().unwrap_or_default())
        .collect();
    let c = &g.c;
    let r = GenResult {
        mode: format!("{:?}", a.mode).to_lowercase(),
        frame_size: a.size,
        flows: a.flows,
        rate_pps: a.rate,
        new_flows_per_sec: a.new_flows_per_sec,
        duration_s: elapsed,
        warmup_sent,
        warmup_received,
        sent: c.sent,
        tx_refused: c.tx_refused,
        received: c.received,
        lost: if a.mode == Mode::Cps {
            0
        } else {
            c.sent.saturating_sub(c.received)
        },
        other: c.other,
        tx_pps: c.sent as f64 / elapsed,
        rx_pps: c.received as f64 / elapsed,
        lat_p50_ns: q(0.5),
        lat_p99_ns: q(0.99),
        lat_p999_ns: q(0.999),
        lat_max_ns: (g.hist.count() > 0).then(|| to_ns(g.hist.max())),
        conns: c.conns,
        cps: c.conns as f64 / elapsed,
        resets: c.resets,
        port_rx_missed: stats.iter().map(|s| s.rx_missed).collect(),
        port_tx_errors: stats.iter().map(|s| s.tx_errors).collect(),
        tsc_hz: hz,
    };
    println!("{}", serde_json::to_string(&r)?);
    drop(g);
    drop(wan_port);
    drop(lan_port);
    Ok(())
}
