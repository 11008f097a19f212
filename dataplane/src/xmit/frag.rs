//! IPv4 fragmentation of a frame too big for its output interface (RFC 791, as Linux's
//! `ip_do_fragment`): each fragment is a whole frame written into a buffer the caller provides
//! (the worker: a fresh single-segment mbuf), so no driver needs multi-segment transmit.
//!
//! Every fragment carries the frame's Ethernet header (VLAN tag included) and its IP header:
//! payload `(mtu - ihl) & !7` bytes each (the last the rest), offset and MF set, DF cleared,
//! checksum computed afresh. As Linux does, the first fragment keeps all options and the others
//! keep only those with the copy flag, the rest overwritten by NOPs (same header length).

use crate::verdict::DropReason;
use crate::wire::{checksum, ethernet, ipv4};

/// The IPv4 flag bits of the fragment field.
const DF: u16 = 0x4000;
const MF: u16 = 0x2000;
const OFFSET: u16 = 0x1fff;

/// The fragments of one frame, written one after another by [`next_into`](Self::next_into).
pub struct Fragmenter<'a> {
    frame: &'a [u8],
    /// Ethernet header length; the IP header starts there.
    l2: usize,
    ihl: usize,
    /// IP payload bytes of the datagram (padding excluded).
    payload: usize,
    /// Payload bytes per fragment (a multiple of 8).
    chunk: usize,
    /// Payload bytes already written.
    done: usize,
    /// The original fragment field (offset and MF, if the frame is itself a fragment).
    field: u16,
}

impl<'a> Fragmenter<'a> {
    /// Fragments of the IPv4 frame `frame` for IP packets of at most `mtu` bytes. Refused
    /// (`too_big`) when the MTU leaves less than 8 payload bytes beside the header.
    pub fn new(frame: &'a [u8], mtu: u16) -> Result<Fragmenter<'a>, DropReason> {
        let eth = ethernet::Packet::new_checked(frame).map_err(|_| DropReason::Truncated)?;
        let l2 = eth.header_len();
        let ip = ipv4::Packet::new_checked(&frame[l2..]).map_err(|_| DropReason::BadIpHeader)?;
        let ihl = ip.header_len();
        let total = usize::from(ip.total_len());
        let chunk = usize::from(mtu).saturating_sub(ihl) & !7;
        if chunk == 0 {
            return Err(DropReason::TooBig);
        }
        let field = u16::from_be_bytes([frame[l2 + 6], frame[l2 + 7]]);
        Ok(Fragmenter {
            frame,
            l2,
            ihl,
            payload: total - ihl,
            chunk,
            done: 0,
            field,
        })
    }

    /// How many fragments the frame makes.
    pub fn count(&self) -> usize {
        self.payload.div_ceil(self.chunk).max(1)
    }

    /// The frame length of the next fragment; None when all are written.
    pub fn next_len(&self) -> Option<usize> {
        if self.done >= self.payload && self.done > 0 {
            return None;
        }
        Some(self.l2 + self.ihl + (self.payload - self.done).min(self.chunk))
    }

    /// Writes the next fragment into `out` (at least [`next_len`](Self::next_len) bytes) and
    /// returns its length; None when all are written or `out` is too short.
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<usize> {
        let len = self.next_len()?;
        let out = out.get_mut(..len)?;
        let (l2, ihl) = (self.l2, self.ihl);
        let data = (self.payload - self.done).min(self.chunk);
        out[..l2 + ihl].copy_from_slice(&self.frame[..l2 + ihl]);
        let from = l2 + ihl + self.done;
        out[l2 + ihl..].copy_from_slice(&self.frame[from..from + data]);
        let header = &mut out[l2..l2 + ihl];
        if self.done > 0 {
            keep_copied_options(&mut header[ipv4::HEADER_LEN..]);
        }
        let last = self.done + data >= self.payload;
        let offset = (self.field & OFFSET) + (self.done / 8) as u16;
        let more = if last { self.field & MF } else { MF };
        let field = (offset & OFFSET) | more;
        debug_assert_eq!(field & DF, 0);
        header[2..4].copy_from_slice(&((ihl + data) as u16).to_be_bytes());
        header[6..8].copy_from_slice(&field.to_be_bytes());
        header[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum::checksum(header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        self.done += data;
        if self.payload == 0 {
            self.done = 1; // an empty payload makes one fragment
        }
        Some(len)
    }
}

/// Overwrites the options without the copy flag (bit 7 of the type) with NOPs, as Linux's
/// `ip_options_fragment`: a later fragment carries only what every fragment must.
fn keep_copied_options(options: &mut [u8]) {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => break,
            1 => i += 1,
            ty => {
                let len = usize::from(*options.get(i + 1).unwrap_or(&0));
                if len < 2 || i + len > options.len() {
                    break;
                }
                if ty & 0x80 == 0 {
                    options[i..i + len].fill(1);
                }
                i += len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: usize, options: &[u8]) -> Vec<u8> {
        let ihl = 20 + options.len();
        let mut f = vec![0u8; 14 + ihl + payload];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x40 | (ihl / 4) as u8;
        f[16..18].copy_from_slice(&((ihl + payload) as u16).to_be_bytes());
        f[22] = 64;
        f[23] = 17;
        f[34..34 + options.len()].copy_from_slice(options);
        for (i, b) in f[14 + ihl..].iter_mut().enumerate() {
            *b = i as u8;
        }
        f
    }

    fn all(f: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        let mut fr = Fragmenter::new(f, mtu).unwrap();
        let mut out = Vec::new();
        while let Some(n) = fr.next_len() {
            let mut b = vec![0; n];
            assert_eq!(fr.next_into(&mut b), Some(n));
            out.push(b);
        }
        assert_eq!(out.len(), Fragmenter::new(f, mtu).unwrap().count());
        out
    }

    #[test]
    fn splits_at_multiples_of_eight_and_marks_all_but_the_last() {
        let f = frame(3000, &[]);
        let frags = all(&f, 1500);
        let lens: Vec<usize> = frags.iter().map(Vec::len).collect();
        assert_eq!(lens, [14 + 1500, 14 + 1500, 14 + 20 + 40]);
        let fields: Vec<u16> = frags
            .iter()
            .map(|x| u16::from_be_bytes([x[20], x[21]]))
            .collect();
        assert_eq!(fields, [MF, MF | 185, 370]);
        for x in &frags {
            assert_eq!(checksum::checksum(&x[14..34]), 0);
        }
        let mut joined = Vec::new();
        for x in &frags {
            joined.extend_from_slice(&x[34..]);
        }
        assert_eq!(joined, f[34..]);
    }

    #[test]
    fn fragments_of_a_tagged_frame_keep_its_tag() {
        // As set_l2 leaves a frame for a VLAN sub-interface: 802.1Q tag, VLAN 200.
        let plain = frame(3000, &[]);
        let mut f = plain[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 200]);
        f.extend_from_slice(&plain[12..]);
        let frags = all(&f, 1500);
        assert_eq!(frags.len(), 3);
        let mut joined = Vec::new();
        for x in &frags {
            assert_eq!(x[..18], f[..18], "MACs and tag of the frame");
            assert!(x.len() <= 18 + 1500);
            assert_eq!(checksum::checksum(&x[18..38]), 0);
            joined.extend_from_slice(&x[38..]);
        }
        assert_eq!(joined, f[38..]);
    }

    #[test]
    fn later_fragments_keep_only_copied_options() {
        // Record route (7, not copied) then a security-like option (0x82, copied).
        let opts = [7, 3, 4, 0x82, 3, 9, 0, 0];
        let frags = all(&frame(100, &opts), 28 + 48);
        assert_eq!(frags[0][34..42], opts);
        assert_eq!(frags[1][34..42], [1, 1, 1, 0x82, 3, 9, 0, 0]);
    }

    #[test]
    fn an_mtu_without_room_is_refused() {
        assert!(Fragmenter::new(&frame(100, &[]), 27).is_err());
        assert!(Fragmenter::new(&frame(100, &[]), 28).is_ok());
        assert!(Fragmenter::new(&[0; 20], 1500).is_err());
    }
}
