//! The rvs packet path. Only [`dpdk`] calls into C or touches raw pointers (the workspace lint
//! denies it everywhere else); the rest is safe Rust over byte buffers and that layer.

pub mod buf;
pub mod conn;
pub mod dpdk;
pub mod forward;
pub mod macswap;
pub mod sched;
pub mod snapshot;
pub mod sync;
pub mod verdict;
pub mod wire;
pub mod worker;
pub mod xmit;
