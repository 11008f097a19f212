//! The rvs packet path. Only [`dpdk`] calls into C or touches raw pointers (the workspace lint
//! denies it everywhere else); the rest is safe Rust over byte buffers and that layer.

pub mod dpdk;
pub mod macswap;
