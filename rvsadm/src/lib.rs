//! rvsadm: the ipvsadm-compatible command line of rvs. It speaks to rvsd over its unix socket
//! (the `rvs-api` protocol) and links no DPDK.
//!
//! - [`args`]: argv to a [`args::Command`] (ipvsadm's syntax, checks and messages).
//! - [`format`]: ipvsadm's output layouts (-L, -Lc, --stats, --rate, --timeout, -S).
//! - [`run`]: executes a command against the daemon.

pub mod args;
pub mod format;
pub mod run;
