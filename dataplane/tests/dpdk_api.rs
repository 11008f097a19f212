//! The safe DPDK layer's contracts: EAL once, lcore launch, mbuf operations, bulk allocation,
//! rings of owned items, port queue ownership (one owner per port; start and stop refused
//! while queue handles are out), virtual devices released on close.

mod common;

use common::*;
use dataplane::dpdk::ring::{channel, Producers};
use dataplane::dpdk::{lcore, Eal, Error, Mbuf, MbufBurst, Port, PortConfig, SOCKET_ANY};
use dataplane::forward::Arrival;

#[test]
fn eal_initialises_once_per_process() {
    eal();
    assert_eq!(Eal::init(EAL_ARGS).unwrap_err(), Error::AlreadyInitialized);
}

#[test]
fn runs_a_closure_on_the_worker_lcore() {
    let eal = eal();
    let workers = lcore::workers(eal);
    assert_eq!(workers, vec![1], "tests run with -l 0-1");
    let job = lcore::launch(eal, 1, || {
        lcore::current().map_or(-2, |id| id as i32 * 10 + 2)
    })
    .unwrap();
    assert_eq!(job.wait(), 12);
    let err = lcore::launch(eal, 0, || 0).unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument { what: "lcore", .. }),
        "{err}"
    );
    assert!(lcore::tsc_hz(eal) > 1_000_000);
    let t0 = lcore::tsc();
    assert!(lcore::tsc() >= t0);
}

#[test]
fn mbuf_grows_and_shrinks_at_both_ends() {
    let pool = pool(63);
    let mut m = pool.alloc().unwrap();
    assert_eq!(m.data_len(), 0);
    let headroom = m.headroom();
    assert_eq!(headroom, 128, "RTE_PKTMBUF_HEADROOM");
    m.append(4).unwrap().copy_from_slice(b"body");
    m.prepend(2).unwrap().copy_from_slice(b"hd");
    assert_eq!(m.data(), b"hdbody");
    assert_eq!(m.pkt_len(), 6);
    assert_eq!(m.headroom(), headroom - 2);
    assert!(m.adj(2));
    assert!(m.trim(1));
    assert_eq!(m.data(), b"bod");
    assert!(!m.adj(4), "adj beyond the data is refused");
    assert!(!m.trim(4), "trim beyond the data is refused");
    assert_eq!(m.data(), b"bod");
    assert!(
        m.prepend(m.headroom() + 1).is_none(),
        "prepend beyond the headroom is refused"
    );
    assert!(m.set_data(&[7u8; 1500]));
    assert_eq!(m.data(), &[7u8; 1500][..]);
    assert!(!m.set_data(&vec![0u8; 4000]), "larger than the buffer");
    assert!(m.is_contiguous());
    drop(m);
    assert_eq!(pool.in_use(), 0);
}

/// What a worker records of a frame it hands on is what the next worker reads.
#[test]
fn an_mbuf_carries_its_arrival_between_workers() {
    let pool = pool(15);
    let mut m = pool.alloc().unwrap();
    for arrival in [
        Arrival::received(2).handed_on(),
        Arrival::new(0, 2),
        Arrival::new(0x3fff, 1),
    ] {
        m.set_arrival(arrival);
        assert_eq!(m.arrival(), arrival);
    }
}

#[test]
fn bulk_alloc_is_all_or_nothing_and_bursts_free_on_drop() {
    let pool = pool(31);
    let avail = pool.available();
    let mut burst = MbufBurst::<64>::new();
    assert!(pool.alloc_bulk(&mut burst, 16));
    assert_eq!(burst.len(), 16);
    assert_eq!(pool.in_use(), 16);
    assert!(
        !pool.alloc_bulk(&mut burst, avail as usize),
        "more than the pool holds"
    );
    assert_eq!(burst.len(), 16, "a failed bulk alloc adds nothing");
    let mut first_two: Vec<Mbuf> = burst.drain().take(2).collect();
    assert!(
        burst.is_empty(),
        "drain empties the burst even when not fully consumed"
    );
    assert_eq!(pool.in_use(), 2, "undrained mbufs were freed");
    first_two.clear();
    assert!(pool.alloc_bulk(&mut burst, 8));
    drop(burst);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn rings_carry_owned_items_and_free_leftovers() {
    let eal = eal();
    let (mut tx, mut rx) =
        channel::<Box<(u32, String)>>(eal, &unique("ring_box"), 4, Producers::Single, SOCKET_ANY)
            .unwrap();
    assert!(
        tx.try_clone().is_none(),
        "single-producer end cannot be cloned"
    );
    for i in 0..4 {
        tx.push(Box::new((i, format!("msg {i}")))).unwrap();
    }
    let back = tx.push(Box::new((9, "overflow".into()))).unwrap_err();
    assert_eq!(back.1, "overflow", "a full ring gives the item back");
    assert_eq!(rx.len(), 4);
    assert_eq!(*rx.pop().unwrap(), (0, "msg 0".to_string()));

    let pool = pool(63);
    let (mut mtx, mrx) =
        channel::<Mbuf>(eal, &unique("ring_mbuf"), 64, Producers::Multi, SOCKET_ANY).unwrap();
    let mut other = mtx.try_clone().expect("multi-producer end clones");
    let mut burst = MbufBurst::<8>::new();
    assert!(pool.alloc_bulk(&mut burst, 8));
    assert_eq!(mtx.push_burst(&mut burst), 8);
    other.push(pool.alloc().unwrap()).unwrap();
    assert_eq!(pool.in_use(), 9);
    drop((mtx, other, mrx));
    assert_eq!(pool.in_use(), 0, "dropping the last end frees queued mbufs");
}

#[test]
fn port_hands_out_each_queue_once_and_refuses_stop_while_in_use() {
    let eal = eal();
    let (_p, c) =
        channel::<Mbuf>(eal, &unique("ring_q_in"), 64, Producers::Single, SOCKET_ANY).unwrap();
    let (p, _c) = channel::<Mbuf>(
        eal,
        &unique("ring_q_out"),
        64,
        Producers::Single,
        SOCKET_ANY,
    )
    .unwrap();
    let mut port = Port::open_rings(
        eal,
        &unique("net_ring_q"),
        vec![c],
        vec![p],
        &PortConfig::new(pool(255)),
    )
    .unwrap();
    port.start().unwrap();
    assert!(port.link().unwrap().up);
    assert_eq!(port.mac().unwrap().len(), 6);
    let rx = port.rx_queue(0).unwrap();
    assert!(port.rx_queue(0).is_none(), "taken once");
    assert!(port.rx_queue(1).is_none(), "no such queue");
    let err = port.stop().unwrap_err();
    assert!(err.to_string().contains("still in use"), "{err}");
    port.return_rx_queue(rx);
    port.stop().unwrap();
}

#[test]
fn bad_queue_counts_are_refused_naming_the_field() {
    let eal = eal();
    let (_p, c) = channel::<Mbuf>(
        eal,
        &unique("ring_bad_in"),
        64,
        Producers::Single,
        SOCKET_ANY,
    )
    .unwrap();
    let (p, _c) = channel::<Mbuf>(
        eal,
        &unique("ring_bad_out"),
        64,
        Producers::Single,
        SOCKET_ANY,
    )
    .unwrap();
    let mut config = PortConfig::new(pool(63));
    config.rx_queues = 2;
    let err = Port::open_rings(eal, &unique("net_ring_bad"), vec![c], vec![p], &config)
        .err()
        .unwrap();
    assert!(err.to_string().contains("ring port"), "{err}");
}

#[test]
fn concurrent_attach_and_detach_of_virtual_devices_is_safe() {
    // DPDK's hot-plug is not thread-safe by itself (CI once saw "Cannot find device" when two
    // tests attached net_pcap ports at the same moment); Port serialises it. 8 threads each
    // attach and remove pcap-backed devices repeatedly; every attach must find its own port.
    let eal = eal();
    let dir = std::env::temp_dir().join(unique("rvs-hotplug-"));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("in.pcap");
    let header: [u8; 24] = [
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ];
    std::fs::write(&input, header).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (input, dir) = (input.clone(), dir.clone());
            std::thread::spawn(move || {
                for i in 0..25 {
                    let name = format!("net_pcap_c{t}x{i}");
                    let devargs = format!(
                        "{name},rx_pcap={},tx_pcap={}",
                        input.display(),
                        dir.join(format!("{name}.pcap")).display()
                    );
                    let port = Port::open_vdev(eal, &devargs, &PortConfig::new(pool(63)))
                        .unwrap_or_else(|e| panic!("attach {name}: {e}"));
                    assert_eq!(port.name(), name);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread failed");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A ring port named `name` with one rx and one tx ring.
fn ring_port(name: &str) -> dataplane::dpdk::Result<Port> {
    let eal = eal();
    let (_p, c) = channel::<Mbuf>(eal, &unique("rv_in"), 64, Producers::Single, SOCKET_ANY)?;
    let (p, _c) = channel::<Mbuf>(eal, &unique("rv_out"), 64, Producers::Single, SOCKET_ANY)?;
    Port::open_rings(eal, name, vec![c], vec![p], &PortConfig::new(pool(255)))
}

/// A port has one owner: opening it again is refused (two owners could hand out the same
/// queue twice, or close each other's device), and the refusal leaves the owner's device
/// open. Starting is refused while queue handles are out, like stopping.
#[test]
fn a_port_has_one_owner() {
    let eal = eal();
    let mut a = ring_port(&unique("net_ring_own")).unwrap();
    a.start().unwrap();
    let rx = a.rx_queue(0).unwrap();
    let mut twice = PortConfig::new(pool(255));
    twice.rx_queues = 2;
    for config in [PortConfig::new(pool(255)), twice] {
        let err = Port::open(eal, a.id(), &config).err().expect("refused");
        assert!(err.to_string().contains("already open"), "{err}");
    }
    assert!(
        a.mac().is_ok() && a.stats().is_ok(),
        "the owner's device is open"
    );
    let err = a.start().unwrap_err();
    assert!(err.to_string().contains("still in use"), "{err}");
    a.return_rx_queue(rx);
    a.stop().unwrap();
    let id = a.id();
    drop(a);
    let err = Port::open(eal, id, &PortConfig::new(pool(255)))
        .err()
        .expect("closed");
    assert!(
        !err.to_string().contains("already open"),
        "ownership given up: {err}"
    );
}

/// A ring port is a virtual device: closing it removes the device, so its name can be used
/// again.
#[test]
fn a_ring_port_releases_its_name_on_drop() {
    let name = unique("net_ring_re");
    for round in 0..3 {
        let port = ring_port(&name).unwrap_or_else(|e| panic!("round {round}: {e}"));
        drop(port);
    }
}

/// `append` refuses a chained mbuf (its end is in another segment than `data` views) instead
/// of handing out bytes of the first segment.
#[test]
fn append_refuses_a_chained_mbuf() {
    let eal = eal();
    let dir = std::env::temp_dir().join(unique("rvs-chain-"));
    std::fs::create_dir_all(&dir).unwrap();
    let frame: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    write_pcap(&dir.join("in.pcap"), std::slice::from_ref(&frame));
    let devargs = format!(
        "{},rx_pcap={},tx_pcap={}",
        unique("net_pcap_chain"),
        dir.join("in.pcap").display(),
        dir.join("out.pcap").display()
    );
    let mut port = Port::open_vdev(eal, &devargs, &PortConfig::new(pool(255))).unwrap();
    port.start().unwrap();
    let mut rx = port.rx_queue(0).unwrap();
    let mut burst = MbufBurst::<8>::new();
    for _ in 0..1000 {
        if rx.rx_burst(&mut burst) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let mut m = burst.drain().next().expect("the frame");
    assert_eq!(m.pkt_len(), 3000);
    assert!(!m.is_contiguous(), "received in two segments");
    let first = m.data().to_vec();
    assert!(m.append(4).is_none());
    assert_eq!((m.pkt_len(), m.data()), (3000, &first[..]), "unchanged");
    drop(m);
    port.return_rx_queue(rx);
    drop(port);
    let _ = std::fs::remove_dir_all(&dir);
}
