//! IPVS's sysctls that rvs has (`net.ipv4.vs.NAME`): set in rvsd's `[sysctl]` section or with
//! `rvsadm --sysctl NAME=VALUE`, read with `rvsadm --sysctl NAME`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sysctl {
    /// `sloppy_tcp`: a TCP segment other than a SYN (not a RST) without a connection starts
    /// one, so that a flow moved from another director goes on (0 or 1).
    SloppyTcp,
}

/// The prefix of IPVS's sysctls, which a name may carry.
pub const PREFIX: &str = "net.ipv4.vs.";

impl Sysctl {
    pub const ALL: [Sysctl; 1] = [Sysctl::SloppyTcp];

    /// Its name, without [`PREFIX`].
    pub fn name(self) -> &'static str {
        match self {
            Sysctl::SloppyTcp => "sloppy_tcp",
        }
    }

    /// The sysctl named `name` (with or without [`PREFIX`]); the error says why there is none.
    pub fn parse(name: &str) -> Result<Sysctl, String> {
        let short = name.strip_prefix(PREFIX).unwrap_or(name);
        if let Some(s) = Sysctl::ALL.into_iter().find(|s| s.name() == short) {
            return Ok(s);
        }
        Err(match short {
            "sloppy_sctp" => {
                format!("{name}: rvs balances TCP and UDP only; there is no SCTP to be sloppy with")
            }
            _ => format!("{name}: not an IPVS sysctl that rvs has (sloppy_tcp)"),
        })
    }

    /// `value` checked for this sysctl (both are booleans: 0 or 1).
    pub fn parse_value(self, value: &str) -> Result<u32, String> {
        match value.trim() {
            "0" => Ok(0),
            "1" => Ok(1),
            v => Err(format!(
                "{}: invalid value '{v}': expected 0 or 1",
                self.name()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_and_without_the_prefix_and_precise_refusals() {
        assert_eq!(Sysctl::parse("sloppy_tcp"), Ok(Sysctl::SloppyTcp));
        assert_eq!(
            Sysctl::parse("net.ipv4.vs.sloppy_tcp"),
            Ok(Sysctl::SloppyTcp)
        );
        let sctp = Sysctl::parse("net.ipv4.vs.sloppy_sctp").unwrap_err();
        assert!(sctp.contains("SCTP"), "{sctp}");
        let other = Sysctl::parse("expire_nodest_conn").unwrap_err();
        assert!(
            other.starts_with("expire_nodest_conn: not an IPVS sysctl"),
            "{other}"
        );
        assert_eq!(Sysctl::SloppyTcp.parse_value("1"), Ok(1));
        assert_eq!(Sysctl::SloppyTcp.parse_value("0"), Ok(0));
        let bad = Sysctl::SloppyTcp.parse_value("2").unwrap_err();
        assert_eq!(bad, "sloppy_tcp: invalid value '2': expected 0 or 1");
    }
}
