//! The keepalived.conf named by `[keepalived] config`: its virtual servers join the TOML's
//! services, through the service model as `rvsadm --import-keepalived`'s requests would
//! ([`crate::request::apply`]), and rvsd runs their checkers ([`crate::health`]). A real server
//! whose checkers start down (`alpha`) starts out of the table. A service defined in both
//! files is an error naming both places; every error names the keepalived.conf's line.

use crate::health;
use crate::model::{self, Front, Network, Table};
use crate::request;
use dataplane::snapshot::{ServiceConfig, ServiceKey};
use rvs_api::keepalived::{self, VirtualServer};
use rvs_api::Request;

/// An error of the keepalived.conf at `line` (0: the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedError {
    pub line: usize,
    pub message: String,
}

/// The table with the keepalived.conf's services, and its virtual servers with their keys.
pub type Merged = (Vec<ServiceConfig>, Vec<(ServiceKey, VirtualServer)>);

/// The table with the virtual servers of the keepalived.conf `text` (at `file`, for warnings)
/// added to `services` (the TOML's, `toml` naming them in errors), and each virtual server with its key. Real servers
/// added have id 0 (the caller numbers them).
pub fn merge(
    services: &[ServiceConfig],
    net: Network,
    toml: &str,
    file: &str,
    text: &str,
) -> Result<Merged, KeepalivedError> {
    let at = |line: usize, message: String| KeepalivedError { line, message };
    let conf = keepalived::parse(text).map_err(|e| at(e.line, e.message))?;
    for w in &conf.warnings {
        eprintln!("rvsd: {file}:{}: warning: {}", w.line, w.message);
    }
    let requests = keepalived::to_requests(&conf).map_err(|e| at(e.line, e.message))?;
    let mut table = Table::new(services.to_vec(), net, Front::Ipvsadm);
    let mut keys = Vec::new();
    for (line, request) in requests {
        if let Request::AddService(spec) = &request {
            let key = request::key(&spec.id)
                .map_err(|f| at(line, model::ModelError::new("", f).ipvsadm()))?;
            if let Some(i) = services.iter().position(|s| s.key == key) {
                let both = format!("{toml}: services[{i}]");
                return Err(at(line, format!("virtual_server is defined in {both} too")));
            }
            keys.push(key);
        }
        if starts_out(&conf.virtual_servers, &request) {
            continue;
        }
        request::apply(&mut table, request).map_err(|e| at(line, e.ipvsadm()))?;
    }
    table.check().map_err(|e| at(0, e.ipvsadm()))?;
    Ok((
        table.into_services(),
        keys.into_iter().zip(conf.virtual_servers).collect(),
    ))
}

/// Whether `request` adds a real server whose checkers start down.
fn starts_out(virtual_servers: &[VirtualServer], request: &Request) -> bool {
    let Request::AddDest { service, dest } = request else {
        return false;
    };
    virtual_servers
        .iter()
        .filter(|vs| vs.id == *service)
        .flat_map(|vs| vs.real_servers.iter().map(move |rs| (vs, rs)))
        .any(|(vs, rs)| {
            rs.addr == dest.addr
                && health::dest_port(vs, rs) == dest.port
                && !health::starts_alive(vs, rs)
        })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::MINIMAL;
    use crate::config::{parse, with_keepalived, Config};
    use std::path::Path;

    /// A service in the TOML, and a keepalived.conf named.
    fn toml() -> String {
        format!(
            "{MINIMAL}[[services]]\nprotocol = \"tcp\"\nvip = \"192.0.2.100\"\nport = 443\n\
             [[services.real_servers]]\naddr = \"192.0.2.11\"\n\
             [keepalived]\nconfig = \"/etc/keepalived/keepalived.conf\"\n"
        )
    }

    fn merged(conf: &str) -> Result<Config, String> {
        let mut c = parse(&toml()).expect("toml");
        let path = Path::new("/etc/rvs/rvsd.toml");
        with_keepalived(&mut c, path, conf).map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn virtual_servers_join_the_toml_services_numbered_after_them() {
        let c = merged(
            "virtual_server 192.0.2.100 80 {\n real_server 192.0.2.12 80 {\n  TCP_CHECK {\n  }\n }\n \
             real_server 192.0.2.13 80 {\n  alpha\n  TCP_CHECK {\n  }\n }\n}\n",
        )
        .unwrap();
        assert_eq!(c.services.len(), 2);
        let http = &c.services[1];
        assert_eq!(http.key.port, 80);
        let ids: Vec<(u32, Option<[u8; 4]>)> = c
            .services
            .iter()
            .flat_map(|s| &s.dests)
            .map(|d| (d.id, d.addr.to_v4()))
            .collect();
        // .13 starts down (alpha): out of the table until its check passes.
        assert_eq!(
            ids,
            [(1, Some([192, 0, 2, 11])), (2, Some([192, 0, 2, 12]))]
        );
        let k = c.keepalived.unwrap();
        assert_eq!(k.virtual_servers.len(), 1);
        assert_eq!(k.virtual_servers[0].0, http.key);
    }

    #[test]
    fn errors_name_the_keepalived_conf_line_and_leave_the_config() {
        let both = merged("\nvirtual_server 192.0.2.100 443 {\n real_server 192.0.2.12 443\n}\n");
        assert_eq!(
            both.unwrap_err(),
            "/etc/keepalived/keepalived.conf:2: virtual_server is defined in \
             /etc/rvs/rvsd.toml: services[0] too"
        );
        let bad = merged("virtual_server 192.0.2.100 80 {\n lb_algo nope\n}\n");
        assert!(bad
            .unwrap_err()
            .starts_with("/etc/keepalived/keepalived.conf:1: "));
        let syntax = merged("virtual_server 192.0.2.100 80 {\n real_server 192.0.2.12 80 {\n SMTP_CHECK {\n }\n }\n}\n");
        assert_eq!(
            syntax.unwrap_err(),
            "/etc/keepalived/keepalived.conf:3: SMTP_CHECK is not supported by rvs"
        );
        let mut c = parse(&toml()).unwrap();
        let before = c.clone();
        let dup = "virtual_server 192.0.2.100 443 {\n}\n";
        assert!(with_keepalived(&mut c, Path::new("x.toml"), dup).is_err());
        assert_eq!(c, before, "unchanged on error");
    }
}
