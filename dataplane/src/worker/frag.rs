//! A worker's fragment handling, apart from its loop: reassembling IPv4 fragments to services
//! with DPDK's library (`dpdk::ip_frag`) and fragmenting packets too big for their output
//! interface into fresh mbufs (`xmit::frag`).
//!
//! Counting (the worker's `rx == tx + redirected_out + to_control + reassembled + drops`, see
//! [`counters`](super::counters)): a fragment handed to the reassembler counts nothing while it
//! is held. When its datagram completes, the fragment that completed it stands for the
//! datagram (one rx, one fate) and the others count rx and `reassembled`; fragments dropped by
//! the reassembler (refused, timed out, held at shutdown, datagram too large) count rx and that
//! drop each. A packet sent as fragments counts once as transmitted (fragments made are not
//! received frames): by its last fragment in a tx buffer, the others marked uncounted.

use crate::dpdk::{FragTable, Mbuf, Mempool};
use crate::forward::{Arrival, Forwarder};
use crate::verdict::{DropReason, Verdict};
use crate::wire::{ethernet, ipv4};
use crate::xmit::frag::Fragmenter;

/// How workers reassemble IPv4 fragments to services.
pub mod reassembly {
    /// Datagrams in reassembly per worker: each holds at most 7 received mbufs, so a flood of
    /// fragments holds at most 1792 rx mbufs per worker.
    pub const DATAGRAMS: u32 = 256;
    /// From a datagram's first fragment, as DPDK's example and DPVS (Linux: 30 s).
    pub const TIMEOUT_MS: u64 = 1000;
    /// Data room of the reassembled datagrams' mbufs: headroom plus 16 KiB, more than 8
    /// fragments of the 2048-byte rx buffers hold.
    pub const DATA_ROOM: u16 = 128 + 16 * 1024;
    /// Reassembled datagrams in flight (in tx buffers, redirect rings) per worker.
    pub const POOL_PER_WORKER: u32 = 64;
}

/// A worker's IPv4 reassembly: its table (which copies completed datagrams into mbufs large
/// enough for them) and the pool the fragments of oversize packets are written into.
pub struct Fragments {
    pub table: FragTable,
    pub pool: Mempool,
}

/// Hands fragment `m` (which reached the worker as `arrival`; `fw` said
/// [`Verdict::Reassemble`]) to the table at `now_ms`, counting in `fw` the fragments the table
/// drops. A datagram it completes is decided as one packet received on the fragment's interface
/// (free to go to its flow's owner) and returned with its verdict, for the caller to act on.
pub fn reassemble(
    fw: &mut Forwarder,
    frags: &mut Fragments,
    m: Mbuf,
    arrival: Arrival,
    now_ms: u64,
) -> Option<(Mbuf, Verdict)> {
    let Some((l2, l3)) = ip_headers(m.data()) else {
        fw.count_fragments(DropReason::Fragment, 1);
        return None;
    };
    let pushed = frags.table.push(m, l2, l3, now_ms);
    for (reason, n) in [
        (DropReason::FragRefused, pushed.refused),
        (DropReason::FragTimeout, pushed.timed_out),
    ] {
        if n > 0 {
            fw.count_fragments(reason, u64::from(n));
        }
    }
    match pushed.datagram? {
        Err(frames) => {
            fw.count_fragments(DropReason::FragTooBig, u64::from(frames));
            None
        }
        Ok((mut datagram, frames)) => {
            // DPDK leaves the header checksum 0.
            if let Ok(mut ip) = ipv4::Packet::new_checked(&mut datagram.data_mut()[l2.into()..]) {
                ip.fill_checksum();
            }
            let in_if = arrival.in_if();
            let verdict = fw.process_reassembled(&mut datagram, in_if, now_ms, frames.into());
            Some((datagram, verdict))
        }
    }
}

/// The port field of a fragment that does not count when lost in a tx buffer: every fragment
/// of a packet but its last. No other mbuf has it: a received one holds its port or its
/// arrival (hops at most 2: below 0xc000), a fresh one DPDK's invalid port (0xffff).
const UNCOUNTED: u16 = u16::MAX - 1;

/// Whether `m`, lost in a tx buffer, is a packet lost: all but the fragments [`fragment`]
/// marks uncounted.
#[inline]
pub fn is_counted(m: &Mbuf) -> bool {
    m.port() != UNCOUNTED
}

/// Writes the frame in `m` as IPv4 fragments of at most `mtu` IP bytes into fresh mbufs of
/// `pool`, each with `m`'s Ethernet header (VLAN tag included), handing each to `send` in
/// order, all but the last marked uncounted ([`is_counted`]); `send` returns false to stop
/// (the fragment was lost, and with it the datagram). Fails (`frag_failed`), having handed some
/// or none, when the pool runs dry; `too_big` when the MTU leaves no room.
pub fn fragment(
    m: &Mbuf,
    mtu: u16,
    pool: &Mempool,
    mut send: impl FnMut(Mbuf) -> bool,
) -> Result<(), DropReason> {
    let mut fragments = Fragmenter::new(m.data(), mtu)?;
    while let Some(len) = fragments.next_len() {
        let mut f = pool.alloc().ok_or(DropReason::FragFailed)?;
        let room = u16::try_from(len)
            .ok()
            .and_then(|n| f.append(n))
            .ok_or(DropReason::FragFailed)?;
        fragments.next_into(room);
        if fragments.next_len().is_some() {
            f.set_port(UNCOUNTED);
        }
        if !send(f) {
            break;
        }
    }
    Ok(())
}

/// Drops the fragments `frags` still holds (at shutdown), counting them in `fw` as
/// `frag_timeout`: their datagrams will not complete.
pub fn drop_held(fw: &mut Forwarder, frags: &mut Fragments) {
    loop {
        let n = frags.table.expire(u64::MAX);
        if n == 0 {
            return;
        }
        fw.count_fragments(DropReason::FragTimeout, u64::from(n));
    }
}

/// The Ethernet and IPv4 header lengths of a frame, if both are whole.
fn ip_headers(frame: &[u8]) -> Option<(u16, u16)> {
    let l2 = ethernet::Packet::new_checked(frame).ok()?.header_len();
    let ip = ipv4::Packet::new_checked(frame.get(l2..)?).ok()?;
    Some((l2 as u16, ip.header_len() as u16))
}
