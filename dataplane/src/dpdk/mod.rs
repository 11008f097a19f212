//! The safe face of DPDK: the ONLY module of the workspace (besides `dpdk-sys`) with `unsafe`.
//!
//! Raw pointers never leave this module. Every `unsafe` block carries a `// SAFETY:` comment that
//! names the DPDK contract it relies on. C return codes become [`Error`] values.
//!
//! Ownership model:
//! - [`Eal`] is a token proving the EAL was initialised (once per process); constructors take it.
//! - [`Mempool`]s live for the whole process (an appliance never frees its pools), so mbufs can
//!   never outlive their pool.
//! - [`Mbuf`] is owned; dropping it frees it. [`MbufBurst`] is a fixed array of them for
//!   rx/tx/ring bursts: no allocation per burst.
//! - A [`Port`] hands out each [`RxQueue`]/[`TxQueue`] once; a queue is polled by one thread.
//!   The device is closed when the port and all its queues are gone.
//! - Rings are typed channels ([`ring::channel`]) of owned items (`Mbuf`, `Box<T>`).
//! - A [`FlowRule`] ([`flow`]) owns one rte_flow rule and destroys it on drop; it keeps the
//!   device open, like a queue handle.
//! - A [`FragTable`] ([`ip_frag`]) is one worker's IPv4 reassembly table; it holds the
//!   fragments given to it until their datagram completes or times out.
//! - [`mem`] holds the memory hints of the big tables (prefetch, transparent huge pages).
#![allow(unsafe_code)]

mod eal;
mod error;
pub mod flow;
pub mod ip_frag;
pub mod lcore;
mod mbuf;
pub mod mem;
mod mempool;
mod port;
pub mod ring;

pub use eal::Eal;
pub use error::{Error, Result};
pub use flow::FlowRule;
pub use ip_frag::FragTable;
pub use mbuf::{Drain, Mbuf, MbufBurst};
pub use mempool::Mempool;
pub use port::{Link, Port, PortConfig, PortId, PortStats, RxQueue, TxQueue};
pub use ring::{Consumer, Producer};

/// Allowed in a socket parameter: let DPDK pick any NUMA socket.
pub const SOCKET_ANY: i32 = dpdk_sys::SOCKET_ID_ANY;
