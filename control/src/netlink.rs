//! The box's kernel interfaces over rtnetlink (`netlink-packet-route` on a blocking
//! `netlink-sys` socket): bring an interface up with an MTU or down, give it addresses and
//! routes. Only the control thread calls it; every request waits for the kernel's acknowledgement,
//! so an error names the request that failed.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::Ipv4Addr;

/// An rtnetlink socket of the calling thread's network namespace.
pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Sets interface `index` up with `mtu`.
    pub fn set_up(&mut self, index: u32, mtu: u32) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    /// Sets interface `index` down: the kernel keeps its addresses and drops its routes.
    pub fn set_down(&mut self, index: u32) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    /// Adds `addr/prefix` to interface `index` (with its broadcast address, as `ip addr add
    /// ... brd +` does).
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        let host_mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
        let broadcast = Ipv4Addr::from(u32::from(addr) | host_mask);
        msg.attributes.extend([
            AddressAttribute::Local(addr.into()),
            AddressAttribute::Address(addr.into()),
        ]);
        if prefix < 31 {
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds a route to `dst/prefix` out of interface `index`, through `via` (None: on link), to
    /// the main table.
    pub fn add_route(
        &mut self,
        index: u32,
        dst: Ipv4Addr,
        prefix: u8,
        via: Option<Ipv4Addr>,
    ) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        let h = &mut msg.header;
        h.address_family = AddressFamily::Inet;
        h.destination_prefix_length = prefix;
        h.table = RouteHeader::RT_TABLE_MAIN;
        h.protocol = RouteProtocol::Static;
        h.kind = RouteType::Unicast;
        h.scope = match via {
            Some(_) => RouteScope::Universe,
            None => RouteScope::Link,
        };
        if prefix > 0 {
            let dst = RouteAddress::Inet(dst);
            msg.attributes.push(RouteAttribute::Destination(dst));
        }
        if let Some(via) = via {
            let via = RouteAddress::Inet(via);
            msg.attributes.push(RouteAttribute::Gateway(via));
        }
        msg.attributes.push(RouteAttribute::Oif(index));
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds (`add`) or deletes the route `dst/32` out of interface `index` on link, in routing
    /// table `table`. Deleting a route that is gone already (its interface went down) is no
    /// error.
    pub fn host_route(
        &mut self,
        index: u32,
        dst: Ipv4Addr,
        table: u32,
        add: bool,
    ) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        let h = &mut msg.header;
        h.address_family = AddressFamily::Inet;
        h.destination_prefix_length = 32;
        // Tables past 255 are named by the attribute alone.
        h.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        h.protocol = RouteProtocol::Static;
        h.kind = RouteType::Unicast;
        h.scope = RouteScope::Link;
        msg.attributes.extend([
            RouteAttribute::Destination(RouteAddress::Inet(dst)),
            RouteAttribute::Table(table),
            RouteAttribute::Oif(index),
        ]);
        if add {
            return self.request(
                RouteNetlinkMessage::NewRoute(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            );
        }
        match self.request(RouteNetlinkMessage::DelRoute(msg), 0) {
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ESRCH as i32) => Ok(()),
            other => other,
        }
    }

    /// Sends `msg` and waits for its acknowledgement; the kernel's refusal is the error.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        req.finalize();
        let mut buf = vec![0; req.buffer_len()];
        req.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut reply = vec![0u8; 8192];
        loop {
            let n = self.socket.recv(&mut &mut reply[..], 0)?;
            let answer = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            if answer.header.sequence_number != self.sequence {
                continue;
            }
            return match answer.payload {
                NetlinkPayload::Error(e) => match e.code {
                    None => Ok(()),
                    Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                },
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected answer {other:?}"),
                )),
            };
        }
    }
}

/// Whether the kernel refused a request because what it adds exists already (EEXIST).
pub fn already_exists(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EEXIST as i32)
}

/// The index of the interface named `name` in this network namespace.
pub fn index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `f` on a thread of its own in a new network namespace (root only; skipped else).
    fn in_new_netns(f: impl FnOnce() + Send + 'static) -> bool {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root for a network namespace");
            return false;
        }
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            f();
        })
        .join()
        .expect("test thread");
        true
    }

    fn ip(args: &[&str]) -> String {
        let out = Command::new("ip").args(args).output().expect("ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn configures_an_interface_its_addresses_and_routes() {
        in_new_netns(|| {
            let mut nl = Netlink::open().expect("netlink");
            let lo = index("lo").expect("lo");
            assert!(!ip(&["-4", "addr", "show", "lo"]).contains("10.77.0.1"));
            nl.set_up(lo, 65000).expect("up");
            nl.add_address(lo, Ipv4Addr::new(10, 77, 0, 1), 24)
                .expect("address");
            nl.add_route(
                lo,
                Ipv4Addr::new(10, 78, 0, 0),
                16,
                Some([10, 77, 0, 2].into()),
            )
            .expect("route");
            nl.add_route(lo, Ipv4Addr::UNSPECIFIED, 0, Some([10, 77, 0, 254].into()))
                .expect("default route");
            let link = ip(&["link", "show", "lo"]);
            assert!(link.contains("mtu 65000") && link.contains("UP"), "{link}");
            let addrs = ip(&["-4", "addr", "show", "lo"]);
            assert!(
                addrs.contains("inet 10.77.0.1/24 brd 10.77.0.255"),
                "{addrs}"
            );
            let routes = ip(&["-4", "route", "show"]);
            assert!(
                routes.contains("10.78.0.0/16 via 10.77.0.2 dev lo"),
                "{routes}"
            );
            assert!(
                routes.contains("default via 10.77.0.254 dev lo"),
                "{routes}"
            );
            // The kernel's refusal comes back as the error: the address exists.
            let again = nl.add_address(lo, Ipv4Addr::new(10, 77, 0, 1), 24);
            assert!(again.is_err_and(|e| already_exists(&e)));
            assert!(index("no-such-if").is_err());
            // Host routes in a table of their own: there, gone, and gone again without error.
            let vip = Ipv4Addr::new(10, 77, 0, 100);
            nl.host_route(lo, vip, 1000, true).expect("announce");
            let table = ip(&["-4", "route", "show", "table", "1000"]);
            assert!(
                table.contains("10.77.0.100 dev lo proto static scope link"),
                "{table}"
            );
            assert!(
                !ip(&["-4", "route", "show"]).contains("10.77.0.100"),
                "not in main"
            );
            let again = nl.host_route(lo, vip, 1000, true);
            assert!(again.is_err_and(|e| already_exists(&e)));
            nl.host_route(lo, vip, 1000, false).expect("withdraw");
            assert!(!ip(&["-4", "route", "show", "table", "1000"]).contains("10.77.0.100"));
            nl.host_route(lo, vip, 1000, false)
                .expect("withdrawn twice");
        });
    }
}
