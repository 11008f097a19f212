//! The rvs control plane and the `rvsd` daemon: the service model ([`model`]: what a valid
//! service table is), configuration ([`config`]), the running appliance ([`daemon`]: ports,
//! workers, neighbours, snapshot compilation), the next-hop table ([`route`]) and neighbour
//! cache ([`neigh`]) that fill in each real server's MAC, publishing snapshots and requests to
//! the workers ([`publish`]), steering FULLNAT replies ([`flow`]), the box's kernel interfaces
//! ([`kernel_interface`]), keepalived.conf's virtual servers ([`keepalived`]) and their health
//! checks ([`health`]), the control thread's loop ([`control_loop`]) and the control socket it
//! answers ([`api`]).
//! The data path it drives lives in `dataplane`.

pub mod admin;
pub mod announce;
pub mod api;
pub mod config;
pub mod control_loop;
pub mod daemon;
pub mod dest_ids;
pub mod flow;
pub mod health;
pub mod keepalived;
pub mod kernel_interface;
pub mod metrics;
pub mod model;
pub mod neigh;
pub mod netlink;
pub mod publish;
pub mod request;
pub mod route;
pub mod stats;
pub mod sync;
pub mod vrrp;
