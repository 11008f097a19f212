//! The rvs control plane and the `rvsd` daemon: the service model ([`model`]: what a valid
//! service table is), configuration ([`config`]), the running appliance ([`daemon`]: ports,
//! workers, neighbours, snapshot compilation), publishing snapshots and requests to the
//! workers ([`publish`]) and steering FULLNAT replies ([`flow`]).
//! The data path it drives lives in `dataplane`.

pub mod admin;
pub mod api;
pub mod config;
pub mod daemon;
pub mod dest_ids;
pub mod flow;
pub mod metrics;
pub mod model;
pub mod publish;
pub mod stats;
