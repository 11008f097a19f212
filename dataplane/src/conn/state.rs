//! Protocol states, the IPVS TCP state machine and the timeout table.
//!
//! The TCP transition table is IPVS's `tcp_states` (net/netfilter/ipvs/ip_vs_proto_tcp.c, the
//! non-"secure_tcp" table), driven by the same flag priority (RST, then SYN, then FIN, then ACK;
//! a segment with none of them moves the session to CLOSE, as in IPVS) and the same three
//! directions: input (client to server), output (server reply) and input-only (DR/TUN, where
//! replies bypass the box).
//!
//! Active/inactive: [`State::is_established`] is the "active connection" test of classic IPVS
//! (ESTABLISHED is active, everything else inactive; UDP/ICMP are always inactive). Newer kernels
//! also count SYN_SENT/SYN_RECV/SYNACK as active; rvs keeps the classic rule.

/// TCP flag bits (one definition, in the TCP header's module).
pub use crate::wire::tcp::flags as tcp_flags;

/// Which way a packet travels relative to the session.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Direction {
    /// Client to virtual service (matched the session's "in" key).
    In = 0,
    /// Real server's reply (matched the session's "out" key).
    Out = 1,
}

/// Session state. TCP states are IPVS's; other protocols have one state each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum State {
    /// TCP: created, no segment seen yet.
    None = 0,
    /// TCP ESTABLISHED (the only "active" state).
    Established = 1,
    /// TCP SYN_SENT.
    SynSent = 2,
    /// TCP SYN_RECV.
    SynRecv = 3,
    /// TCP FIN_WAIT.
    FinWait = 4,
    /// TCP TIME_WAIT.
    TimeWait = 5,
    /// TCP CLOSE.
    Close = 6,
    /// TCP CLOSE_WAIT.
    CloseWait = 7,
    /// TCP LAST_ACK.
    LastAck = 8,
    /// TCP LISTEN.
    Listen = 9,
    /// TCP SYNACK.
    SynAck = 10,
    /// UDP flow.
    Udp = 11,
    /// ICMP / ICMPv6 echo flow.
    Icmp = 12,
    /// Any other protocol.
    Other = 13,
    /// Persistence template (timeout set per template).
    Template = 14,
}

impl State {
    /// Initial state of a session whose in key has protocol `protocol`.
    #[inline]
    pub fn initial(protocol: u8) -> State {
        match protocol {
            super::key::PROTO_TCP => State::None,
            super::key::PROTO_UDP => State::Udp,
            super::key::PROTO_ICMP | super::key::PROTO_ICMPV6 => State::Icmp,
            super::key::PROTO_TEMPLATE => State::Template,
            _ => State::Other,
        }
    }

    /// IPVS "active connection": TCP ESTABLISHED only.
    #[inline]
    pub fn is_established(self) -> bool {
        self == State::Established
    }

    /// True for the eleven TCP states.
    #[inline]
    pub fn is_tcp(self) -> bool {
        (self as u8) <= State::SynAck as u8
    }

    /// Name as `ipvsadm -lc` prints it.
    pub fn name(self) -> &'static str {
        match self {
            State::None => "NONE",
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait => "FIN_WAIT",
            State::TimeWait => "TIME_WAIT",
            State::Close => "CLOSE",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Listen => "LISTEN",
            State::SynAck => "SYNACK",
            State::Udp => "UDP",
            State::Icmp => "ICMP",
            State::Other => "IP",
            State::Template => "NONE",
        }
    }
}

/// Which half of the IPVS table drives a TCP transition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpDir {
    /// Client to server, replies also pass through the box (NAT, FULLNAT).
    Input = 0,
    /// Server to client (NAT, FULLNAT replies).
    Output = 1,
    /// Client to server, replies never seen (DR, TUN).
    InputOnly = 2,
}

use State::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynRecv as SR, SynSent as SS, TimeWait as TW,
};

/// `TCP_STATES[dir][flag row][current state]`; rows are syn, fin, ack, rst. (NONE and SYNACK
/// are never a next state in the non-"secure_tcp" table.)
#[rustfmt::skip]
const TCP_STATES: [[[State; 11]; 4]; 3] = [
    // INPUT          NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /* syn */    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */    [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /* ack */    [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT
    [
        /* syn */    [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /* fin */    [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /* ack */    [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /* rst */    [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT-ONLY
    [
        /* syn */    [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /* fin */    [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /* ack */    [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /* rst */    [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// IPVS `set_tcp_state`: the next state of a TCP session in `state` after a segment with
/// `flags` travelling `dir`. Non-TCP states are returned unchanged.
#[inline]
pub fn tcp_next(state: State, dir: TcpDir, flags: u8) -> State {
    let row = if flags & tcp_flags::RST != 0 {
        3
    } else if flags & tcp_flags::SYN != 0 {
        0
    } else if flags & tcp_flags::FIN != 0 {
        1
    } else if flags & tcp_flags::ACK != 0 {
        2
    } else {
        // IPVS: no usable flag -> CLOSE.
        return if state.is_tcp() { State::Close } else { state };
    };
    match TCP_STATES
        .get(dir as usize)
        .and_then(|d| d.get(row))
        .and_then(|r| r.get(state as usize))
    {
        Some(&next) => next,
        None => state,
    }
}

/// Per-state timeouts in milliseconds. Defaults are IPVS's.
///
/// A value of 0 is treated as 1 ms. `ipvsadm --set tcp tcpfin udp` maps to
/// [`Timeouts::set_ipvsadm`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Timeouts {
    /// TCP NONE (2 s).
    pub tcp_none: u32,
    /// TCP ESTABLISHED (900 s).
    pub tcp_established: u32,
    /// TCP SYN_SENT (120 s).
    pub tcp_syn_sent: u32,
    /// TCP SYN_RECV (60 s).
    pub tcp_syn_recv: u32,
    /// TCP FIN_WAIT (120 s).
    pub tcp_fin_wait: u32,
    /// TCP TIME_WAIT (120 s).
    pub tcp_time_wait: u32,
    /// TCP CLOSE (10 s).
    pub tcp_close: u32,
    /// TCP CLOSE_WAIT (60 s).
    pub tcp_close_wait: u32,
    /// TCP LAST_ACK (30 s).
    pub tcp_last_ack: u32,
    /// TCP LISTEN (120 s).
    pub tcp_listen: u32,
    /// TCP SYNACK (120 s).
    pub tcp_synack: u32,
    /// UDP (300 s).
    pub udp: u32,
    /// ICMP / ICMPv6 (60 s).
    pub icmp: u32,
    /// Other protocols (300 s, like UDP).
    pub other: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        const S: u32 = 1000;
        Timeouts {
            tcp_none: 2 * S,
            tcp_established: 900 * S,
            tcp_syn_sent: 120 * S,
            tcp_syn_recv: 60 * S,
            tcp_fin_wait: 120 * S,
            tcp_time_wait: 120 * S,
            tcp_close: 10 * S,
            tcp_close_wait: 60 * S,
            tcp_last_ack: 30 * S,
            tcp_listen: 120 * S,
            tcp_synack: 120 * S,
            udp: 300 * S,
            icmp: 60 * S,
            other: 300 * S,
        }
    }
}

impl Timeouts {
    /// Timeout of `state` in ms (at least 1). Templates carry their own timeout; this returns
    /// the UDP value for them and is not used by the table.
    #[inline]
    pub fn for_state(&self, state: State) -> u32 {
        let t = match state {
            State::None => self.tcp_none,
            State::Established => self.tcp_established,
            State::SynSent => self.tcp_syn_sent,
            State::SynRecv => self.tcp_syn_recv,
            State::FinWait => self.tcp_fin_wait,
            State::TimeWait => self.tcp_time_wait,
            State::Close => self.tcp_close,
            State::CloseWait => self.tcp_close_wait,
            State::LastAck => self.tcp_last_ack,
            State::Listen => self.tcp_listen,
            State::SynAck => self.tcp_synack,
            State::Udp | State::Template => self.udp,
            State::Icmp => self.icmp,
            State::Other => self.other,
        };
        t.max(1)
    }

    /// `ipvsadm --set tcp tcpfin udp` (seconds; 0 leaves a value unchanged): ESTABLISHED,
    /// FIN_WAIT and UDP.
    pub fn set_ipvsadm(&mut self, tcp_s: u32, tcpfin_s: u32, udp_s: u32) {
        if tcp_s != 0 {
            self.tcp_established = tcp_s.saturating_mul(1000);
        }
        if tcpfin_s != 0 {
            self.tcp_fin_wait = tcpfin_s.saturating_mul(1000);
        }
        if udp_s != 0 {
            self.udp = udp_s.saturating_mul(1000);
        }
    }
}
