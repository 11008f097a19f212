//! rvsadm's mutating requests as operations on the service model's [`Table`]: the one place a
//! request becomes drafts. rvsd's request handler ([`crate::admin`]) and the keepalived.conf
//! front end ([`crate::keepalived`]) apply them.

use crate::model::{
    self, DestDraft, Fault, FlagsDraft, MethodDraft, ModelError, ServiceDraft, Table,
};
use dataplane::conn::{PROTO_TCP, PROTO_UDP};
use dataplane::snapshot::{Method, ServiceKey};
use rvs_api as api;
use rvs_api::Request;

/// Applies one mutating request to `t` (the rule across services is the caller's to check).
pub fn apply(t: &mut Table, request: Request) -> Result<(), ModelError> {
    match request {
        Request::AddService(spec) => t.add_service(&service_draft(&spec)?)?,
        Request::EditService(spec) => {
            let draft = service_draft(&spec)?;
            t.edit_service(find(t, &spec.id, Fault::NoSuchService)?, &draft)?;
        }
        Request::DeleteService(id) => t.delete_service(find(t, &id, Fault::NoSuchService)?),
        Request::Clear => t.clear(),
        Request::AddDest { service, dest } => t.add_dest(
            find(t, &service, Fault::ServiceNotDefined)?,
            &dest_draft(&dest),
        )?,
        Request::EditDest { service, dest } => t.edit_dest(
            find(t, &service, Fault::ServiceNotDefined)?,
            &dest_draft(&dest),
        )?,
        Request::DeleteDest {
            service,
            addr,
            port,
        } => t.delete_dest(find(t, &service, Fault::ServiceNotDefined)?, addr, port)?,
        Request::AddLocalAddr { service, laddr } => {
            let i = find(t, &service, Fault::ServiceNotDefined)?;
            t.add_local_addr(i, laddr.addr, Some(&laddr.interface))?
        }
        Request::DeleteLocalAddr { service, addr } => {
            t.delete_local_addr(find(t, &service, Fault::ServiceNotDefined)?, addr)?
        }
        other => {
            let fault = Fault::NotAChange(format!("{other:?}"));
            return Err(ModelError::new("", fault));
        }
    }
    Ok(())
}

/// The service `id` names in `t`, else `missing` (ipvsadm words it by request).
fn find(t: &Table, id: &api::ServiceId, missing: Fault) -> Result<usize, ModelError> {
    let k = key(id).map_err(|f| ModelError::new("services", f))?;
    t.find(&k)
        .ok_or_else(|| ModelError::new("services", missing))
}

fn service_draft(spec: &api::ServiceSpec) -> Result<ServiceDraft, ModelError> {
    Ok(ServiceDraft {
        key: key(&spec.id).map_err(|f| ModelError::new("services", f))?,
        scheduler: Some(spec.scheduler.clone()),
        sched_flags: FlagsDraft::Flags(spec.sched_flags),
        persistence: spec.persistence.map(i64::from),
        netmask: Some(i64::from(spec.netmask)),
    })
}

/// The forwarding method the protocol's name stands for.
pub fn method_of(m: api::Method) -> Method {
    match m {
        api::Method::Masq => Method::Nat,
        api::Method::Route => Method::Dr,
        api::Method::Tunnel => Method::Tunnel,
        api::Method::FullNat => Method::FullNat,
    }
}

fn dest_draft(d: &api::DestSpec) -> DestDraft {
    DestDraft {
        addr: d.addr,
        port: d.port,
        method: MethodDraft::Method(method_of(d.method)),
        weight: i64::from(d.weight),
        upper_threshold: i64::from(d.upper_threshold),
        lower_threshold: i64::from(d.lower_threshold),
    }
}

pub fn key(id: &api::ServiceId) -> Result<ServiceKey, Fault> {
    Ok(ServiceKey {
        protocol: match id.protocol {
            api::Protocol::Tcp => PROTO_TCP,
            api::Protocol::Udp => PROTO_UDP,
        },
        vip: model::addr(id.addr)?,
        port: id.port,
    })
}
