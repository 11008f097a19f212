//! rvsd end to end on net_pcap ports, one test per forwarding mode.
//!
//! Each test builds the input pcaps itself: on the wan port, the client side of two TCP
//! connections (SYN, ACK, ACK+data, FIN|ACK each, from two clients behind the router) and a UDP
//! request; on the lan port, for NAT and FULLNAT, the real servers' answers to what the box sent
//! them (SYN|ACK, ACK+data, FIN|ACK, the UDP reply); DR and TUN get an empty lan capture (their
//! replies bypass the box). It writes a config for one service per protocol whose real servers
//! all use the mode, starts `rvsd --config`, waits until the expected frames came out (or a
//! deadline passed), stops it with SIGTERM and checks, byte for byte:
//! - `out_lan.pcap`: the client frames rewritten towards their real servers, in input order;
//! - `out_wan.pcap`: the replies rewritten towards the clients (to the router's MAC), in order;
//! - the ARP frames among them (the control thread's, sent through worker 0's tx queue): only
//!   gratuitous ARP for the port's addresses and VIPs (and, FULLNAT, the local address on lan),
//!   whole rounds in order, and no ARP request for the static neighbours.
//!
//! The expected frames are built with etherparse through the golden tables' helpers
//! (`dataplane/tests/golden/mod.rs`, whose module doc states how each mode rewrites packets),
//! and every output checksum is verified with the golden module's own RFC 1071 sum.
//!
//! Each port has one rx and one tx queue (one worker). The worker polls wan's rx queue, then
//! lan's, 32 packets a burst, so every client frame (fewer than 32) is handled before any server
//! reply.

#[path = "../../dataplane/tests/golden/mod.rs"]
mod golden;

use dataplane::snapshot::Method;
use golden::{arp_frame, compare, ipip_frame, mode_name, verify_checksums, Ip, Pkt, Tcp, L4};
use golden::{ACK, FIN, PSH, SYN};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const WAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
/// The client-side router 10.10.0.254: every client frame comes from it.
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const WAN_IP: [u8; 4] = [10, 10, 0, 1];
const LAN_IP: [u8; 4] = [10, 20, 0, 1];
const VIP: [u8; 4] = [10, 10, 0, 100];
/// FULLNAT local address.
const LADDR: [u8; 4] = [10, 20, 0, 250];
const CLIENTS: [[u8; 4]; 2] = [[192, 0, 2, 10], [192, 0, 2, 11]];
const RS: [[u8; 4]; 2] = [[10, 20, 0, 11], [10, 20, 0, 12]];
const RS_MAC: [[u8; 6]; 2] = [[2, 0, 0, 0, 1, 0x11], [2, 0, 0, 0, 1, 0x12]];
const HTTP: u16 = 80;
const NAT_HTTP: u16 = 8080;
const DNS: u16 = 53;

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n";
const REQUEST_B: &[u8] = b"GET /b HTTP/1.0\r\n\r\n";
const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
const RESPONSE_B: &[u8] = b"HTTP/1.0 404 Not Found\r\n\r\n";
const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03vip\x00\x00\x01\x00\x01";
const ANSWER: &[u8] =
    b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x03vip\x00\x00\x01\x00\x01";

/// How long rvsd gets to start and forward everything, and to exit after SIGTERM.
const DEADLINE: Duration = Duration::from_secs(60);

/// One flow of the lab: which client and real server (rr order), ports and, for FULLNAT, the
/// local port (handed out from 65535 down in session-creation order).
#[derive(Debug, Clone, Copy)]
struct Flow {
    udp: bool,
    client: usize,
    cport: u16,
    vport: u16,
    rport: u16,
    dest: usize,
    lport: u16,
}

/// The frames of one mode: what goes in on each port and what must come out.
#[derive(Default)]
struct Frames {
    in_wan: Vec<Vec<u8>>,
    in_lan: Vec<Vec<u8>>,
    out_lan: Vec<Vec<u8>>,
    out_wan: Vec<Vec<u8>>,
}

struct Lab {
    method: Method,
    /// Idents of the packets the lab's hosts send (distinct, any value).
    host_ident: u16,
    /// rvs numbers the tunnel headers it builds 1, 2, 3 ... per worker.
    box_ident: u16,
    frames: Frames,
}

impl Lab {
    fn new(method: Method) -> Lab {
        Lab {
            method,
            host_ident: 0x2000,
            box_ident: 0,
            frames: Frames::default(),
        }
    }

    fn nat_like(&self) -> bool {
        self.method.replies_through_box()
    }

    fn ident(&mut self) -> u16 {
        self.host_ident += 1;
        self.host_ident
    }

    fn flow(&self, udp: bool, client: usize, cport: u16, dest: usize, lport: u16) -> Flow {
        let (vport, rport) = match (udp, self.nat_like()) {
            (true, _) => (DNS, DNS),
            (false, true) => (HTTP, NAT_HTTP),
            (false, false) => (HTTP, HTTP),
        };
        Flow {
            udp,
            client,
            cport,
            vport,
            rport,
            dest,
            lport,
        }
    }

    /// A packet of `f` from its client, as it arrives on wan from the router.
    fn client(&mut self, f: &Flow, l4: L4, payload: &[u8]) -> Pkt {
        Pkt {
            src_mac: GW_MAC,
            dst_mac: WAN_MAC,
            ip: Ip::new(CLIENTS[f.client], VIP, self.ident()),
            l4,
            payload: payload.to_vec(),
            pad_to: 0,
        }
    }

    fn c_tcp(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Pkt {
        let t = Tcp {
            sport: f.cport,
            dport: f.vport,
            seq,
            ack,
            flags,
            window: 64240,
            mss: (flags & SYN != 0).then_some(1460),
        };
        self.client(f, L4::Tcp(t), payload)
    }

    fn c_udp(&mut self, f: &Flow, payload: &[u8]) -> Pkt {
        let l4 = L4::Udp {
            sport: f.cport,
            dport: f.vport,
            zero_checksum: false,
        };
        self.client(f, l4, payload)
    }

    /// Where the real server sends its answers: the client (NAT) or the local address and
    /// port (FULLNAT).
    fn peer_of_server(&self, f: &Flow) -> ([u8; 4], u16) {
        if self.method == Method::FullNat {
            (LADDR, f.lport)
        } else {
            (CLIENTS[f.client], f.cport)
        }
    }

    /// A packet of `f` from its real server, as it arrives on lan.
    fn server(&mut self, f: &Flow, l4: L4, payload: &[u8]) -> Pkt {
        let (to, _) = self.peer_of_server(f);
        Pkt {
            src_mac: RS_MAC[f.dest],
            dst_mac: LAN_MAC,
            ip: Ip::new(RS[f.dest], to, self.ident()),
            l4,
            payload: payload.to_vec(),
            pad_to: 0,
        }
    }

    fn s_tcp(&mut self, f: &Flow, flags: u8, seq: u32, ack: u32, payload: &[u8]) -> Pkt {
        let (_, dport) = self.peer_of_server(f);
        let t = Tcp {
            sport: f.rport,
            dport,
            seq,
            ack,
            flags,
            window: 65160,
            mss: (flags & SYN != 0).then_some(1460),
        };
        self.server(f, L4::Tcp(t), payload)
    }

    fn s_udp(&mut self, f: &Flow, payload: &[u8]) -> Pkt {
        let (_, dport) = self.peer_of_server(f);
        let l4 = L4::Udp {
            sport: f.rport,
            dport,
            zero_checksum: false,
        };
        self.server(f, l4, payload)
    }

    /// The frame the box sends to the real server for client packet `p`: NAT DNATs (FULLNAT
    /// also SNATs to the local address and port), TTL - 1, padding kept; DR changes the MACs
    /// only; TUN wraps the IP packet (padding dropped) in a header from lan's first address with
    /// the inner TTL, TOS and DF and the next box ident.
    fn at_server(&mut self, p: &Pkt, f: &Flow) -> Vec<u8> {
        let mut q = p.clone();
        q.src_mac = LAN_MAC;
        q.dst_mac = RS_MAC[f.dest];
        match self.method {
            Method::Nat | Method::FullNat => {
                q.ip.dst = RS[f.dest];
                q.ip.ttl -= 1;
                set_ports(&mut q.l4, None, Some(f.rport));
                if self.method == Method::FullNat {
                    q.ip.src = LADDR;
                    set_ports(&mut q.l4, Some(f.lport), None);
                }
                q.frame()
            }
            Method::Dr => q.frame(),
            Method::Tunnel => {
                self.box_ident += 1;
                let outer = Ip {
                    ttl: p.ip.ttl,
                    tos: p.ip.tos,
                    df: p.ip.df,
                    ..Ip::new(LAN_IP, RS[f.dest], self.box_ident)
                };
                ipip_frame(LAN_MAC, RS_MAC[f.dest], &outer, &p.ip_bytes())
            }
        }
    }

    /// Server packet `p` as it leaves towards the client (NAT/FULLNAT): from VIP:vport (FULLNAT
    /// also to client:cport), TTL - 1, to the router's MAC.
    fn at_client(&self, p: &Pkt, f: &Flow) -> Vec<u8> {
        let mut q = p.clone();
        q.src_mac = WAN_MAC;
        q.dst_mac = GW_MAC;
        q.ip.src = VIP;
        q.ip.ttl -= 1;
        set_ports(&mut q.l4, Some(f.vport), None);
        if self.method == Method::FullNat {
            q.ip.dst = CLIENTS[f.client];
            set_ports(&mut q.l4, None, Some(f.cport));
        }
        q.frame()
    }

    fn send_in(&mut self, p: Pkt, f: &Flow) {
        let out = self.at_server(&p, f);
        self.frames.in_wan.push(p.frame());
        self.frames.out_lan.push(out);
    }

    fn send_out(&mut self, p: Pkt, f: &Flow) {
        let out = self.at_client(&p, f);
        self.frames.in_lan.push(p.frame());
        self.frames.out_wan.push(out);
    }

    /// Two TCP connections (client 0 to the first real server, client 1 to the second, by rr)
    /// and a UDP exchange (the UDP service's rr starts at the first server), interleaved.
    fn build(mut self) -> Frames {
        let a = self.flow(false, 0, 40000, 0, 65535);
        let b = self.flow(false, 1, 40001, 1, 65534);
        let u = self.flow(true, 0, 5353, 0, 65533);
        assert!(!a.udp && !b.udp && u.udp);
        let (a_isn, b_isn, sa_isn, sb_isn) = (1000u32, 7000u32, 5000u32, 9000u32);
        let a_end = a_isn + 1 + REQUEST.len() as u32;
        let b_end = b_isn + 1 + REQUEST_B.len() as u32;

        // The clients' side, all on wan.
        let p = self.c_tcp(&a, SYN, a_isn, 0, &[]);
        self.send_in(p, &a);
        let p = self.c_tcp(&b, SYN, b_isn, 0, &[]);
        self.send_in(p, &b);
        let mut p = self.c_tcp(&a, ACK, a_isn + 1, sa_isn + 1, &[]);
        p.pad_to = 60; // minimum Ethernet frame: NAT/FULLNAT/DR keep the padding, TUN drops it
        self.send_in(p, &a);
        let p = self.c_tcp(&b, ACK, b_isn + 1, sb_isn + 1, &[]); // 54 bytes, unpadded
        self.send_in(p, &b);
        let p = self.c_tcp(&a, ACK | PSH, a_isn + 1, sa_isn + 1, REQUEST);
        self.send_in(p, &a);
        let mut p = self.c_tcp(&b, ACK | PSH, b_isn + 1, sb_isn + 1, REQUEST_B);
        p.ip.tos = 0xb8 | 0x01; // DSCP EF, ECN ECT(1): kept (TUN copies it outside)
        self.send_in(p, &b);
        let p = self.c_udp(&u, QUERY);
        self.send_in(p, &u);
        let p = self.c_tcp(&a, FIN | ACK, a_end, sa_isn + 1, &[]);
        self.send_in(p, &a);
        let p = self.c_tcp(&b, FIN | ACK, b_end, sb_isn + 1, &[]);
        self.send_in(p, &b);

        // The real servers' side, on lan (NAT/FULLNAT only).
        if self.nat_like() {
            let p = self.s_tcp(&a, SYN | ACK, sa_isn, a_isn + 1, &[]);
            self.send_out(p, &a);
            let p = self.s_tcp(&b, SYN | ACK, sb_isn, b_isn + 1, &[]);
            self.send_out(p, &b);
            let p = self.s_tcp(&a, ACK | PSH, sa_isn + 1, a_end, RESPONSE);
            self.send_out(p, &a);
            let p = self.s_tcp(&b, ACK | PSH, sb_isn + 1, b_end, RESPONSE_B);
            self.send_out(p, &b);
            let p = self.s_udp(&u, ANSWER);
            self.send_out(p, &u);
            let sa_fin = sa_isn + 1 + RESPONSE.len() as u32;
            let p = self.s_tcp(&a, FIN | ACK, sa_fin, a_end + 1, &[]);
            self.send_out(p, &a);
            let sb_fin = sb_isn + 1 + RESPONSE_B.len() as u32;
            let p = self.s_tcp(&b, FIN | ACK, sb_fin, b_end + 1, &[]);
            self.send_out(p, &b);
        }
        assert!(
            self.frames.in_wan.len() <= 24,
            "one rx burst of client frames"
        );
        self.frames
    }
}

fn set_ports(l4: &mut L4, sport: Option<u16>, dport: Option<u16>) {
    let (s, d) = match l4 {
        L4::Tcp(t) => (&mut t.sport, &mut t.dport),
        L4::Udp { sport, dport, .. } => (sport, dport),
        _ => panic!("no ports"),
    };
    if let Some(p) = sport {
        *s = p;
    }
    if let Some(p) = dport {
        *d = p;
    }
}

/// The gratuitous ARP rvsd sends for `ip` on a port with `mac`: a broadcast request whose
/// sender and target protocol addresses are both `ip`, target hardware address zero, padded to
/// 60 bytes.
fn garp(mac: [u8; 6], ip: [u8; 4]) -> Vec<u8> {
    arp_frame(mac, [0xff; 6], 1, mac, ip, [0; 6], ip)
}

fn ip_str(a: [u8; 4]) -> String {
    std::net::Ipv4Addr::from(a).to_string()
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The rvsd configuration of `method`'s lab, with every file under `dir`.
fn config(method: Method, dir: &Path, prefix: &str) -> String {
    let d = dir.display();
    let nat_like = method.replies_through_box();
    let method_name = match method {
        Method::Nat => "nat",
        Method::FullNat => "fullnat",
        Method::Dr => "dr",
        Method::Tunnel => "tunnel",
    };
    let mut s = format!(
        r#"[eal]
args = ["--no-huge", "-m", "256", "--no-shconf", "--no-telemetry", "--log-level", "*:error", "--file-prefix", "{prefix}"]

[cores]
main = 0
workers = [1]

[dataplane]
mbufs = 4095
rx_desc = 256
tx_desc = 256

[sessions]
capacity = 4096

[control]
socket = "{d}/rvsd.sock"

[[ports]]
name = "wan"
kernel_interface = ""
device = "net_pcap0,rx_pcap={d}/in_wan.pcap,tx_pcap={d}/out_wan.pcap"
addrs = ["{wan}/24"]
vips = ["{vip}"]
mac = "{wan_mac}"

[[ports]]
name = "lan"
kernel_interface = ""
device = "net_pcap1,rx_pcap={d}/in_lan.pcap,tx_pcap={d}/out_lan.pcap"
addrs = ["{lan}/24"]
mac = "{lan_mac}"

[[routes]]
prefix = "0.0.0.0/0"
via = "10.10.0.254"
"#,
        wan = ip_str(WAN_IP),
        lan = ip_str(LAN_IP),
        vip = ip_str(VIP),
        wan_mac = mac_str(WAN_MAC),
        lan_mac = mac_str(LAN_MAC),
    );
    for (addr, mac) in RS.iter().zip(RS_MAC) {
        write!(
            s,
            "\n[[neighbours]]\naddr = \"{}\"\nmac = \"{}\"\nport = \"lan\"\n",
            ip_str(*addr),
            mac_str(mac)
        )
        .unwrap();
    }
    let tcp_rport = if nat_like { NAT_HTTP } else { HTTP };
    for (protocol, port, rport) in [("tcp", HTTP, tcp_rport), ("udp", DNS, DNS)] {
        write!(
            s,
            "\n[[services]]\nprotocol = \"{protocol}\"\nvip = \"{}\"\nport = {port}\nscheduler = \"rr\"\n",
            ip_str(VIP)
        )
        .unwrap();
        if method == Method::FullNat {
            writeln!(s, "local_addrs = [\"{}\"]", ip_str(LADDR)).unwrap();
        }
        for addr in RS {
            write!(
                s,
                "\n[[services.real_servers]]\naddr = \"{}\"\nport = {rport}\nmethod = \"{method_name}\"\n",
                ip_str(addr)
            )
            .unwrap();
        }
    }
    s
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
        ..PcapHeader::default()
    };
    let mut w = PcapWriter::with_header(File::create(path).unwrap(), header).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_secs(1_700_000_000) + Duration::from_micros(i as u64 * 10);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
}

/// The frames of a pcap file. While rvsd runs the file may end in a partly written record:
/// `complete` false stops quietly there (and on a missing file); true requires a whole file.
fn read_pcap(path: &Path, complete: bool) -> Vec<Vec<u8>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(_) if !complete => return Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let mut r = match PcapReader::new(file) {
        Ok(r) => r,
        Err(_) if !complete => return Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    };
    if complete {
        assert_eq!(
            r.header().datalink,
            DataLink::ETHERNET,
            "{}",
            path.display()
        );
    }
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        match p {
            Ok(p) => {
                assert_eq!(
                    p.orig_len as usize,
                    p.data.len(),
                    "{}: truncated capture",
                    path.display()
                );
                out.push(p.data.into_owned());
            }
            Err(_) if !complete => break,
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares the frames of an output pcap with the expected ones; returns every difference.
fn check_frames(what: &str, expected: &[Vec<u8>], actual: &[Vec<u8>]) -> Vec<String> {
    let mut errors = Vec::new();
    if expected.len() != actual.len() {
        errors.push(format!(
            "{what}: {} frames, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if let Err(msg) = compare(e, a) {
            errors.push(format!("{what} frame {i}: {msg}"));
        }
    }
    for (i, a) in actual.iter().enumerate().skip(expected.len()) {
        errors.push(format!("{what} frame {i} not expected: {}", hex(a)));
    }
    for (i, a) in actual.iter().enumerate() {
        if let Err(msg) = verify_checksums(a) {
            errors.push(format!("{what} frame {i}: checksum: {msg}"));
        }
    }
    errors
}

/// The control thread's frames on one port: gratuitous ARP for `round` (the port's addresses,
/// its VIPs, then the FULLNAT local addresses in its subnets), sent at start and repeated a second apart; nothing else (the real servers'
/// next hops are static neighbours: no ARP request).
fn check_arp(what: &str, round: &[Vec<u8>], actual: &[Vec<u8>]) -> Vec<String> {
    let mut errors = Vec::new();
    if actual.is_empty() {
        errors.push(format!("{what}: no gratuitous ARP"));
    }
    for (i, a) in actual.iter().enumerate() {
        let e = &round[i % round.len()];
        if let Err(msg) = compare(e, a) {
            errors.push(format!("{what} frame {i}: {msg}"));
        }
    }
    if actual.chunks(round.len()).any(|c| c.len() != round.len()) {
        errors.push(format!(
            "{what}: {} frames, not whole rounds of {}",
            actual.len(),
            round.len()
        ));
    }
    errors
}

/// Splits a port's output into forwarded frames and ARP frames (the control thread's), each
/// in order.
fn split_arp(frames: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    frames
        .into_iter()
        .partition(|f| f.get(12..14) != Some(&[0x08, 0x06][..]))
}

fn wait_exit(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_mode(method: Method) {
    let mode = mode_name(method);
    let frames = Lab::new(method).build();
    let tag = format!("rvsd-pcap-{mode}-{}", std::process::id());
    let dir = std::env::temp_dir().join(&tag);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| -> PathBuf { dir.join(name) };
    write_pcap(&path("in_wan.pcap"), &frames.in_wan);
    write_pcap(&path("in_lan.pcap"), &frames.in_lan);
    let config_path = path("rvsd.toml");
    std::fs::write(&config_path, config(method, &dir, &tag)).unwrap();
    let log_path = path("rvsd.log");

    let mut child = Command::new(env!("CARGO_BIN_EXE_rvsd"))
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(File::create(path("rvsd.out")).unwrap())
        .stderr(File::create(&log_path).unwrap())
        .spawn()
        .expect("start rvsd");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Wait until every expected frame is out and the first gratuitous ARP round went (or the
    // deadline passes: the comparison below then says what is missing), then a little more to
    // catch anything unexpected.
    let wan_round = [garp(WAN_MAC, WAN_IP), garp(WAN_MAC, VIP)];
    // FULLNAT: the local address (shared by both services) is announced once, after the ports'
    // own addresses, on the port whose subnet holds it.
    let mut lan_round = vec![garp(LAN_MAC, LAN_IP)];
    if method == Method::FullNat {
        lan_round.push(garp(LAN_MAC, LADDR));
    }
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let mut early_exit = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            early_exit = Some(status);
            break;
        }
        let (lan, lan_arp) = split_arp(read_pcap(&path("out_lan.pcap"), false));
        let (wan, wan_arp) = split_arp(read_pcap(&path("out_wan.pcap"), false));
        let done = lan.len() >= frames.out_lan.len()
            && wan.len() >= frames.out_wan.len()
            && wan_arp.len() >= wan_round.len()
            && lan_arp.len() >= lan_round.len();
        if (done && started.elapsed() >= Duration::from_millis(1500)) || Instant::now() >= deadline
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(status) = early_exit {
        panic!("{mode}: rvsd exited before SIGTERM ({status}):\n{}", log());
    }
    std::thread::sleep(Duration::from_millis(300));

    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -TERM {pid}");
    let Some(status) = wait_exit(&mut child, Instant::now() + DEADLINE) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{mode}: rvsd did not exit after SIGTERM:\n{}", log());
    };
    assert!(
        status.success(),
        "{mode}: rvsd exited with {status}:\n{}",
        log()
    );

    let mut errors = Vec::new();
    let (out_lan, arp_lan) = split_arp(read_pcap(&path("out_lan.pcap"), true));
    let (out_wan, arp_wan) = split_arp(read_pcap(&path("out_wan.pcap"), true));
    errors.extend(check_frames("out_lan.pcap", &frames.out_lan, &out_lan));
    errors.extend(check_frames("out_wan.pcap", &frames.out_wan, &out_wan));
    errors.extend(check_arp("out_wan.pcap ARP", &wan_round, &arp_wan));
    errors.extend(check_arp("out_lan.pcap ARP", &lan_round, &arp_lan));
    // The expectations themselves carry correct checksums (etherparse built them).
    for f in frames.out_lan.iter().chain(&frames.out_wan) {
        verify_checksums(f).expect("expected frame checksums");
    }
    assert!(
        errors.is_empty(),
        "{mode}: {} problem(s) (files kept in {}):\n{}\n--- rvsd log ---\n{}",
        errors.len(),
        dir.display(),
        errors.join("\n"),
        log()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rvsd_nat_pcap() {
    run_mode(Method::Nat);
}

#[test]
fn rvsd_fullnat_pcap() {
    run_mode(Method::FullNat);
}

#[test]
fn rvsd_dr_pcap() {
    run_mode(Method::Dr);
}

#[test]
fn rvsd_tun_pcap() {
    run_mode(Method::Tunnel);
}
