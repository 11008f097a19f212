//! Direct routing (ipvsadm -g): the packet is sent unchanged at L3 to the real server's MAC on
//! the shared segment; the server has the VIP on a loopback and answers the client directly.
//! Only the Ethernet header changes ([`transmit`]), so this method has no L3 work: no TTL
//! change, no checksum change. Port mapping is refused at validation.
//!
//! Keys: in = client:cport -> VIP:vport; no out key (replies bypass the box), so the session
//! table runs IPVS's input-only TCP states for it.

use super::{set_l2, NextHop};
use crate::buf::PacketBuf;
use crate::verdict::DropReason;

/// Sends a client's packet (Ethernet header of `l2` bytes) on to its real server: only the
/// Ethernet header changes.
#[inline]
pub fn transmit<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    hop: NextHop,
    vlan: u16,
) -> Result<(), DropReason> {
    set_l2(buf, l2, hop, vlan)
}
