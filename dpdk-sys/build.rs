//! Binds the system DPDK. Finds it through pkg-config (never vendored), generates bindings for an
//! allowlist with bindgen, and compiles bindgen's wrappers for DPDK's static-inline functions plus
//! `shim.c` (macros and thread-locals) with the same flags DPDK asks for.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_DPDK: &str = "22.11";

/// Functions the safe layer calls. Static-inline ones among them get C wrappers generated.
const FUNCTIONS: &[&str] = &[
    // EAL, lcores, launch, time, devices.
    "rte_eal_init",
    "rte_eal_cleanup",
    "rte_eal_remote_launch",
    "rte_eal_wait_lcore",
    "rte_eal_get_lcore_state",
    "rte_eal_hotplug_remove",
    "rte_dev_probe",
    "rte_strerror",
    "rte_socket_id",
    "rte_lcore_id",
    "rte_lcore_count",
    "rte_lcore_to_socket_id",
    "rte_get_main_lcore",
    "rte_get_next_lcore",
    "rte_thread_register",
    "rte_thread_unregister",
    "rte_rdtsc",
    "rte_get_tsc_cycles",
    "rte_get_tsc_hz",
    // Mempools and mbufs.
    "rte_pktmbuf_pool_create",
    "rte_mempool_avail_count",
    "rte_mempool_in_use_count",
    "rte_pktmbuf_alloc",
    "rte_pktmbuf_alloc_bulk",
    "rte_pktmbuf_free",
    "rte_pktmbuf_free_bulk",
    "rte_pktmbuf_prepend",
    "rte_pktmbuf_append",
    "rte_pktmbuf_adj",
    "rte_pktmbuf_trim",
    "rte_pktmbuf_headroom",
    "rte_pktmbuf_tailroom",
    // Rings.
    "rte_ring_create",
    "rte_ring_free",
    "rte_ring_enqueue_burst",
    "rte_ring_dequeue_burst",
    "rte_ring_count",
    "rte_ring_free_count",
    // Ethernet devices.
    "rte_eth_dev_count_avail",
    "rte_eth_dev_is_valid_port",
    "rte_eth_dev_get_port_by_name",
    "rte_eth_dev_get_name_by_port",
    "rte_eth_dev_socket_id",
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
    "rte_eth_dev_stop",
    "rte_eth_dev_close",
    "rte_eth_macaddr_get",
    "rte_eth_link_get_nowait",
    "rte_eth_stats_get",
    "rte_eth_stats_reset",
    "rte_eth_promiscuous_enable",
    "rte_eth_dev_get_mtu",
    "rte_eth_rx_burst",
    "rte_eth_tx_burst",
    "rte_eth_from_rings",
    // Flow rules (rte_flow): steering FULLNAT replies to the worker owning the local port.
    "rte_flow_validate",
    "rte_flow_create",
    "rte_flow_destroy",
    "rte_flow_flush",
    // IPv4 reassembly (librte_ip_frag; del_expired_entries is experimental in 22.11).
    "rte_ip_frag_table_create",
    "rte_ip_frag_table_destroy",
    "rte_ipv4_frag_reassemble_packet",
    "rte_ip_frag_free_death_row",
    "rte_ip_frag_table_del_expired_entries",
    // shim.c
    "rvs_.*",
];

const TYPES: &[&str] = &[
    "rte_mbuf",
    "rte_eth_conf",
    "rte_eth_dev_info",
    "rte_eth_stats",
    "rte_eth_link",
    "rte_flow_attr",
    "rte_flow_item",
    "rte_flow_item_type",
    "rte_flow_item_eth",
    "rte_flow_item_ipv4",
    "rte_flow_item_tcp",
    "rte_flow_item_udp",
    "rte_flow_action",
    "rte_flow_action_type",
    "rte_flow_action_queue",
    "rte_flow_error",
    "rte_flow_error_type",
    "rte_ip_frag_death_row",
    "rte_ip_frag_tbl",
];

const VARS: &[&str] = &[
    "RTE_ETH_RSS_.*",
    "RTE_ETH_MQ_RX_.*",
    "RTE_ETH_LINK_.*",
    "RTE_MAX_LCORE",
    "RTE_PKTMBUF_HEADROOM",
    "RING_F_.*",
    "SOCKET_ID_ANY",
    "RTE_MBUF_F_.*",
    "RTE_LIBRTE_IP_FRAG_MAX_FRAG",
    "RTE_IP_FRAG_DEATH_ROW_MBUF_LEN",
];

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(err) => {
            let text = err.to_string();
            let reason = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("libdpdk missing");
            eprintln!(
                "error: DPDK >= {MIN_DPDK} not found through pkg-config ({reason}). Install it with: \
                 sudo apt-get install libdpdk-dev pkg-config clang libclang-dev (or run ./test.sh, \
                 which installs everything)."
            );
            std::process::exit(1);
        }
    };
    // net_ring's rte_eth_from_rings is a driver API, not in libdpdk.pc's shared link line.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");

    let cflags = pkg_config_cflags();
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let wrappers_c = out.join("static_wrappers");

    let mut builder = bindgen::Builder::default()
        .header("wrapper.h")
        .clang_args(&cflags)
        .clang_arg("-I.")
        // rte_ip_frag_table_del_expired_entries is experimental in 22.11.
        .clang_arg("-DALLOW_EXPERIMENTAL_API")
        .wrap_static_fns(true)
        .wrap_static_fns_path(&wrappers_c)
        .layout_tests(true)
        .derive_default(true)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::ModuleConsts)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for f in FUNCTIONS {
        builder = builder.allowlist_function(f);
    }
    for t in TYPES {
        builder = builder.allowlist_type(t);
    }
    for v in VARS {
        builder = builder.allowlist_var(v);
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        eprintln!("error: bindgen failed on the DPDK headers: {e}");
        std::process::exit(1);
    });
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    let mut cc = cc::Build::new();
    cc.file(wrappers_c.with_extension("c"))
        .file("shim.c")
        .include(".")
        .include(env::current_dir().expect("cwd"))
        .flag("-include")
        .flag("wrapper.h")
        .define("ALLOW_EXPERIMENTAL_API", None)
        .warnings(false)
        .opt_level(3);
    for path in &dpdk.include_paths {
        cc.include(path);
    }
    for flag in cflags.iter().filter(|f| !f.starts_with("-I")) {
        cc.flag(flag);
    }
    cc.compile("rvs_dpdk_shim");
}

/// The raw `pkg-config --cflags libdpdk` list: bindgen and cc need `-include rte_config.h` and
/// `-march=...` exactly as DPDK was built, which the pkg-config crate does not expose.
fn pkg_config_cflags() -> Vec<String> {
    let pc = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let output = Command::new(pc)
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("run pkg-config");
    assert!(
        output.status.success(),
        "pkg-config --cflags libdpdk failed"
    );
    let text = String::from_utf8(output.stdout).expect("pkg-config output is UTF-8");
    // "-include rte_config.h" is two words that must stay together.
    let mut flags = Vec::new();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(file) = words.next() {
                flags.push(format!("-include{file}"));
            }
        } else {
            flags.push(w.to_string());
        }
    }
    flags
}
