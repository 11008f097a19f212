//! The wire parsers alone: every view's `new_checked` on the input (and on the payloads it
//! finds), then every accessor, `Repr::parse`, and an emit/parse round trip where the Repr
//! describes everything it emits. After `new_checked` succeeds no accessor may panic.
#![no_main]

use dataplane::wire::{arp, ethernet, icmp, ipv4, ipv6, tcp, udp};
use libfuzzer_sys::fuzz_target;
use std::hint::black_box;

fn l4(protocol: u8, bytes: &[u8]) {
    match protocol {
        6 => {
            if let Ok(p) = tcp::Packet::new_checked(bytes) {
                black_box((
                    p.src_port(),
                    p.dst_port(),
                    p.seq_number(),
                    p.ack_number(),
                    p.header_len(),
                ));
                black_box((
                    p.flags(),
                    p.is_syn_only(),
                    p.window(),
                    p.checksum(),
                    p.urgent(),
                ));
                black_box((p.options(), p.payload(), p.segment_len()));
            }
        }
        17 => {
            if let Ok(p) = udp::Packet::new_checked(bytes) {
                black_box((
                    p.src_port(),
                    p.dst_port(),
                    p.len(),
                    p.checksum(),
                    p.datagram(),
                    p.payload(),
                ));
            }
        }
        1 => {
            if let Ok(p) = icmp::Packet::new_checked(bytes) {
                black_box((
                    p.msg_type(),
                    p.msg_code(),
                    p.checksum(),
                    p.rest_of_header(),
                    p.is_echo(),
                ));
                black_box((
                    p.is_error(),
                    p.is_frag_needed(),
                    p.next_hop_mtu(),
                    p.data(),
                    p.verify_checksum(),
                ));
                let _ = black_box(icmp::Repr::parse(&p));
                if let Some(quoted) = p.inner() {
                    if let Ok(inner) = ipv4::Packet::new_checked_quoted(quoted) {
                        black_box((
                            inner.src_addr(),
                            inner.dst_addr(),
                            inner.protocol(),
                            inner.header_len(),
                        ));
                        let rest = &quoted[inner.header_len().min(quoted.len())..];
                        black_box(icmp::quoted_ports(rest));
                    }
                }
            }
        }
        _ => {}
    }
}

fn ip4(bytes: &[u8], depth: u8) {
    let Ok(p) = ipv4::Packet::new_checked(bytes) else {
        return;
    };
    black_box((
        p.version(),
        p.header_len(),
        p.tos(),
        p.dscp(),
        p.ecn(),
        p.total_len(),
        p.ident(),
    ));
    black_box((
        p.flags_frag_offset(),
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
        p.is_fragment(),
    ));
    black_box((
        p.is_first_fragment(),
        p.ttl(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
        p.has_options(),
    ));
    black_box((
        p.options(),
        ipv4::Options::parse(p.options()),
        p.header(),
        p.verify_checksum(),
        p.pseudo_header_sum(),
    ));
    if let Ok(repr) = ipv4::Repr::parse(&p) {
        let mut out = vec![0u8; repr.buffer_len() + repr.payload_len];
        if repr
            .emit(&mut ipv4::Packet::new_unchecked(&mut out[..]))
            .is_ok()
        {
            let again = ipv4::Packet::new_checked(&out[..]).expect("an emitted header parses");
            assert!(
                again.verify_checksum(),
                "an emitted header has a valid checksum"
            );
            assert_eq!(
                ipv4::Repr::parse(&again).ok(),
                Some(repr),
                "emit/parse round trip"
            );
        }
    }
    if p.protocol() == 4 && depth < 2 {
        ip4(p.payload(), depth + 1);
    } else {
        l4(p.protocol(), p.payload());
    }
}

fn ip6(bytes: &[u8]) {
    let Ok(p) = ipv6::Packet::new_checked(bytes) else {
        return;
    };
    black_box((
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
        p.total_len(),
    ));
    black_box((
        p.next_header(),
        p.hop_limit(),
        p.src_addr(),
        p.dst_addr(),
        p.pseudo_header_sum(),
    ));
    let _ = black_box(ipv6::Repr::parse(&p));
    l4(p.next_header(), p.payload());
}

fuzz_target!(|data: &[u8]| {
    // The input as a frame ...
    if let Ok(eth) = ethernet::Packet::new_checked(data) {
        black_box((
            eth.dst_addr(),
            eth.src_addr(),
            eth.outer_ethertype(),
            eth.is_tagged(),
            eth.vlan_tci(),
        ));
        black_box((eth.vlan_id(), eth.header_len()));
        black_box(ethernet::Repr::parse(&eth));
        let payload = eth.payload();
        match eth.ethertype() {
            0x0800 => ip4(payload, 0),
            0x86dd => ip6(payload),
            0x0806 => {
                if let Ok(a) = arp::Packet::new_checked(payload) {
                    black_box((
                        a.hardware_type(),
                        a.protocol_type(),
                        a.hardware_len(),
                        a.protocol_len(),
                    ));
                    black_box((
                        a.operation(),
                        a.sender_hw_addr(),
                        a.sender_proto_addr(),
                        a.target_hw_addr(),
                    ));
                    black_box((a.target_proto_addr(), a.is_gratuitous()));
                    if let Ok(repr) = arp::Repr::parse(&a) {
                        let mut out = vec![0u8; 28];
                        repr.emit(&mut arp::Packet::new_unchecked(&mut out[..]))
                            .expect("28 bytes fit");
                        let again = arp::Packet::new_checked(&out[..])
                            .expect("an emitted ARP packet parses");
                        assert_eq!(
                            arp::Repr::parse(&again).ok(),
                            Some(repr),
                            "emit/parse round trip"
                        );
                    }
                }
            }
            _ => {}
        }
    }
    // ... and as a bare IP packet.
    ip4(data, 0);
    ip6(data);
});
