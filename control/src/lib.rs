//! The rvs control plane (config, model and validation, snapshot compilation and publishing, the
//! unix-socket API, health checks, metrics) and the `rvsd` / `rvsadm` binaries.
//!
//! It is filled in by the daemon and CLI issues; the data path it drives lives in `dataplane`.
//! `rvsadm` must not link DPDK, so the CLI side of this crate will not depend on `dataplane`'s
//! DPDK layer.

pub mod config;
