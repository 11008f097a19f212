//! NAT (masquerading, ipvsadm -m): client packets are DNAT'ed to the real server; the server's
//! replies (which route back through the box) are SNAT'ed back to VIP:port. TTL is decremented.
//!
//! Keys: in = client:cport -> VIP:vport; out = RS:rport -> client:cport.

use super::{rewrite_l3l4, set_l2, v4, Endpoints, NextHop};
use crate::buf::PacketBuf;
use crate::conn::{Direction, FlowKey};
use crate::verdict::DropReason;

#[inline]
pub fn endpoints(dir: Direction, in_key: &FlowKey, out_key: &FlowKey) -> Endpoints {
    match dir {
        Direction::In => Endpoints {
            src: None,
            dst: Some((v4(&out_key.src), out_key.src_port)),
        },
        Direction::Out => Endpoints {
            src: Some((v4(&in_key.dst), in_key.dst_port)),
            dst: None,
        },
    }
}

/// The reply key of a NAT session to `rs:rs_port`.
#[inline]
pub fn out_key(in_key: &FlowKey, rs: crate::conn::Addr, rs_port: u16) -> FlowKey {
    FlowKey::new(in_key.protocol, rs, rs_port, in_key.src, in_key.src_port)
}

/// Rewrites a packet of a NAT session (its IPv4 header at `l2`) to `to`, its [`endpoints`] in
/// its direction, decrementing the TTL (the caller has checked that TTL > 1), and addresses it
/// to `hop`. FULLNAT's transmit too (one copy of the rewrite in the packet path).
#[inline]
pub fn transmit<B: PacketBuf>(
    buf: &mut B,
    l2: usize,
    to: &Endpoints,
    hop: NextHop,
    vlan: u16,
) -> Result<(), DropReason> {
    rewrite_l3l4(&mut buf.data_mut()[l2..], to)?;
    set_l2(buf, l2, hop, vlan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{Addr, PROTO_TCP};

    #[test]
    fn endpoints_restore_the_client_view() {
        let inn = FlowKey::new(
            PROTO_TCP,
            Addr::v4([1, 1, 1, 1]),
            1000,
            Addr::v4([10, 0, 0, 100]),
            80,
        );
        let out = out_key(&inn, Addr::v4([10, 0, 2, 1]), 8080);
        assert_eq!(
            endpoints(Direction::In, &inn, &out).dst,
            Some(([10, 0, 2, 1].into(), 8080))
        );
        assert_eq!(
            endpoints(Direction::Out, &inn, &out).src,
            Some(([10, 0, 0, 100].into(), 80))
        );
    }
}
