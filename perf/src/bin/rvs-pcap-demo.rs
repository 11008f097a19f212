//! The pcap forwarding demo: generates client traffic into a pcap file, runs it through DPDK's
//! net_pcap driver and the macswap forwarder on a worker lcore, and verifies every output frame
//! byte for byte against the expected rewrite.
//!
//! Usage: rvs-pcap-demo [--frames N] [--flows N] [--dir DIR] [--no-huge]

use dataplane::dpdk::{lcore, Eal, Mempool, Port, PortConfig, SOCKET_ANY};
use dataplane::macswap;
use perf::flows::{FlowTemplate, L4};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Options {
    frames: usize,
    flows: u32,
    dir: PathBuf,
    no_huge: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        frames: 100_000,
        flows: 1000,
        dir: std::env::temp_dir().join("rvs-pcap-demo"),
        no_huge: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--frames" => {
                o.frames = value("--frames")?
                    .parse()
                    .map_err(|e| format!("--frames: {e}"))?
            }
            "--flows" => {
                o.flows = value("--flows")?
                    .parse()
                    .map_err(|e| format!("--flows: {e}"))?
            }
            "--dir" => o.dir = value("--dir")?.into(),
            "--no-huge" => o.no_huge = true,
            "-h" | "--help" => {
                return Err(
                    "usage: rvs-pcap-demo [--frames N] [--flows N] [--dir DIR] [--no-huge]".into(),
                )
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if o.frames == 0 || o.flows == 0 {
        return Err("--frames and --flows must be at least 1".into());
    }
    Ok(o)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rvs-pcap-demo: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let o = parse_args()?;
    std::fs::create_dir_all(&o.dir)?;
    let (input, output) = (o.dir.join("in.pcap"), o.dir.join("out.pcap"));

    let template = FlowTemplate {
        src_mac: [0x02, 0, 0, 0, 0, 0x01],
        dst_mac: [0x02, 0, 0, 0, 0, 0xfe],
        client_base: Ipv4Addr::new(10, 1, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 100),
        dst_port: 80,
        l4: L4::Udp,
        flows: o.flows,
        frame_sizes: vec![64 - 4, 128 - 4, 512 - 4, 1518 - 4],
    };
    println!(
        "[1/4] generating {} frames over {} UDP flows (64..1518 B) into {}",
        o.frames,
        o.flows,
        input.display()
    );
    let frames = template.frames(o.frames);
    perf::pcap::write(&input, &frames)?;

    let mut eal_args = vec![
        "rvs-pcap-demo",
        "-l",
        "0-1",
        "--no-pci",
        "--in-memory",
        "--no-telemetry",
        "--log-level",
        "*:warning",
    ];
    if o.no_huge {
        eal_args.retain(|a| *a != "--in-memory");
        eal_args.extend(["--no-huge", "--no-shconf", "-m", "512"]);
    }
    println!("[2/4] starting DPDK EAL: {}", eal_args[1..].join(" "));
    let eal = Eal::init(&eal_args)?;
    let pool = Mempool::create(
        &eal,
        "demo_pool",
        8191,
        256,
        Mempool::default_data_room(),
        SOCKET_ANY,
    )?;
    let devargs = format!(
        "net_pcap0,rx_pcap={},tx_pcap={}",
        input.display(),
        output.display()
    );
    let mut port = Port::open_vdev(&eal, &devargs, &PortConfig::new(pool))?;
    port.start()?;
    let (mut rx, mut tx) = (
        port.rx_queue(0).ok_or("rx queue")?,
        port.tx_queue(0).ok_or("tx queue")?,
    );

    let worker = lcore::workers(&eal)
        .first()
        .copied()
        .ok_or("no worker lcore (EAL needs -l 0-1)")?;
    println!(
        "[3/4] forwarding on worker lcore {worker} ({}): rx -> swap MACs -> tx",
        port.name()
    );
    let total = frames.len() as u64;
    let started = Instant::now();
    let job = lcore::launch(&eal, worker, move || {
        let stats = macswap::run(&mut rx, &mut tx, |s, idle| {
            s.rx < total && idle < 10_000_000
        });
        println!(
            "      worker: rx {} tx {} dropped(runt) {} dropped(tx full) {}",
            stats.rx, stats.tx, stats.dropped_runt, stats.dropped_tx_full
        );
        i32::from(stats.tx != total)
    })?;
    let worker_failed = job.wait() != 0;
    let elapsed = started.elapsed();
    let s = port.stats()?;
    println!(
        "      port: rx {} pkts / {} B, tx {} pkts / {} B, missed {}, errors rx {} tx {}; {:.2} Mpps through pcap files in {:.1} ms",
        s.rx_packets,
        s.rx_bytes,
        s.tx_packets,
        s.tx_bytes,
        s.rx_missed,
        s.rx_errors,
        s.tx_errors,
        s.tx_packets as f64 / elapsed.as_secs_f64() / 1e6,
        elapsed.as_secs_f64() * 1e3
    );
    drop(port); // closes the device and flushes out.pcap

    println!("[4/4] verifying {} byte for byte", output.display());
    let out = perf::pcap::read(&output)?;
    let mut bad = 0usize;
    for (i, (got, sent)) in out.iter().zip(&frames).enumerate() {
        let mut want = sent.clone();
        want[..6].copy_from_slice(&sent[6..12]);
        want[6..12].copy_from_slice(&sent[..6]);
        if *got != want {
            if bad < 5 {
                println!("      frame {i} differs");
            }
            bad += 1;
        }
    }
    for (i, f) in out.iter().take(3).enumerate() {
        println!(
            "      out[{i}] {} B  dst {}  src {}  type {:02x}{:02x}",
            f.len(),
            mac(&f[..6]),
            mac(&f[6..12]),
            f[12],
            f[13]
        );
    }
    let ok = !worker_failed && bad == 0 && out.len() == frames.len();
    println!(
        "{}: {}/{} frames forwarded and verified byte-exact ({bad} wrong, {} missing)",
        if ok { "PASS" } else { "FAIL" },
        out.len() - bad.min(out.len()),
        frames.len(),
        frames.len().saturating_sub(out.len())
    );
    Ok(ok)
}

fn mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
