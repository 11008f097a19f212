//! keepalived.conf's checkers and health keywords: what is read, with keepalived's defaults
//! left to the reader (`None`), and every malformed input refused with its line.

use rvs_api::keepalived::checker::{CheckKind, Url};
use rvs_api::keepalived::{parse, ParseError};
use std::time::Duration;

const CONF: &str = r#"
virtual_server 10.10.0.100 80 {
    delay_loop 1.5
    lb_algo rr
    lb_kind DR
    alpha
    omega
    quorum 2
    hysteresis 1
    quorum_up "/bin/true up"
    quorum_down /bin/true down
    sorry_server 10.20.0.99 8080
    sorry_server_inhibit
    inhibit_on_failure
    smtp_alert
    connect_timeout 2
    retry 3
    delay_before_retry 0.5
    real_server 10.20.0.11 80 {
        weight 2
        inhibit_on_failure false
        notify_up "/usr/local/bin/up 11"
        notify_down /usr/local/bin/down
        HTTP_GET {
            url {
                path /health
                status_code 200 301-302
                digest 640205B7B0FC66C1EA91C463FAC6334D
                virtualhost www.example.com
            }
            url { path /ready }
            connect_port 8080
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
        TCP_CHECK {
            connect_ip 10.20.1.11
            bindto 10.20.0.1
            warmup 5
        }
    }
    real_server 10.20.0.12 80 {
        SSL_GET { url { path / } }
        UDP_CHECK {
            payload 0a0b
            require_reply 0c
        }
        DNS_CHECK {
            type A
            name example.com
        }
        PING_CHECK { }
        MISC_CHECK {
            misc_path "/usr/local/bin/check 10.20.0.12"
            misc_timeout 3
            misc_dynamic
            user nobody
        }
    }
}
"#;

#[test]
fn checkers_and_health_keywords_are_read() {
    let cfg = parse(CONF).unwrap();
    let vs = &cfg.virtual_servers[0];
    let h = &vs.health;
    assert_eq!(h.delay_loop, Some(Duration::from_millis(1500)));
    assert!(h.alpha && h.omega && h.inhibit_on_failure);
    assert_eq!((h.quorum, h.hysteresis), (Some(2), 1));
    assert_eq!(h.quorum_up.as_deref(), Some("/bin/true up"));
    assert_eq!(h.quorum_down.as_deref(), Some("/bin/true down"));
    let sorry = h.sorry_server.as_ref().unwrap();
    assert_eq!(
        (sorry.addr.to_string(), sorry.port, sorry.inhibit),
        ("10.20.0.99".into(), 8080, true)
    );
    assert_eq!(
        (h.connect_timeout, h.retry),
        (Some(Duration::from_secs(2)), Some(3))
    );
    assert_eq!(h.delay_before_retry, Some(Duration::from_millis(500)));
    assert_eq!(cfg.warnings.len(), 1);
    assert_eq!(cfg.warnings[0].line, 15);
    assert_eq!(cfg.warnings[0].message, "smtp_alert has no effect in rvs");

    let rs1 = &vs.real_servers[0];
    assert_eq!((rs1.weight, rs1.inhibit_on_failure), (2, Some(false)));
    assert_eq!(rs1.notify_up.as_deref(), Some("/usr/local/bin/up 11"));
    let http = &rs1.checkers[0];
    assert_eq!(http.line, 24);
    assert_eq!((http.connect_port, http.retry), (Some(8080), Some(1)));
    assert_eq!(http.connect_timeout, Some(Duration::from_secs(1)));
    let CheckKind::Http {
        tls: false,
        urls,
        virtualhost: None,
    } = &http.kind
    else {
        panic!("{http:?}");
    };
    assert_eq!(
        urls,
        &[
            Url {
                path: "/health".into(),
                digest: Some("640205b7b0fc66c1ea91c463fac6334d".into()),
                status_codes: vec![(200, 200), (301, 302)],
                virtualhost: Some("www.example.com".into()),
            },
            Url {
                path: "/ready".into(),
                digest: None,
                status_codes: vec![],
                virtualhost: None,
            }
        ]
    );
    let tcp = &rs1.checkers[1];
    assert_eq!(tcp.kind, CheckKind::Tcp);
    assert_eq!(tcp.connect_ip, Some("10.20.1.11".parse().unwrap()));
    assert_eq!(tcp.bindto, Some("10.20.0.1".parse().unwrap()));
    assert_eq!(
        (tcp.warmup, tcp.retry),
        (Some(Duration::from_secs(5)), None)
    );

    let kinds: Vec<&CheckKind> = vs.real_servers[1]
        .checkers
        .iter()
        .map(|c| &c.kind)
        .collect();
    assert!(matches!(kinds[0], CheckKind::Http { tls: true, .. }));
    assert_eq!(
        kinds[1],
        &CheckKind::Udp {
            payload: vec![0x0a, 0x0b],
            require_reply: Some(vec![0x0c])
        }
    );
    assert_eq!(
        kinds[2],
        &CheckKind::Dns {
            query_type: "A".into(),
            name: "example.com".into()
        }
    );
    assert_eq!(kinds[3], &CheckKind::Ping);
    assert_eq!(
        kinds[4],
        &CheckKind::Misc {
            path: "/usr/local/bin/check 10.20.0.12".into(),
            timeout: Some(Duration::from_secs(3)),
            dynamic: true,
            user: Some("nobody".into())
        }
    );
}

fn error(conf: &str) -> ParseError {
    match parse(conf) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e,
    }
}

/// A virtual server around `body` (its first line is line 2).
fn vs(body: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n{body}\n}}\n")
}

/// A real server around `body` in a virtual server (its first line is line 3).
fn rs(body: &str) -> String {
    vs(&format!("real_server 10.0.1.1 80 {{\n{body}\n}}"))
}

#[test]
fn malformed_health_configurations_name_the_line() {
    let cases: Vec<(String, usize, &str)> = vec![
        (
            rs("SMTP_CHECK {\n}"),
            3,
            "SMTP_CHECK is not supported by rvs",
        ),
        (rs("BFD_CHECK {\n}"), 3, "BFD_CHECK is not supported by rvs"),
        (rs("FOO_CHECK {\n}"), 3, "unknown checker FOO_CHECK"),
        (
            rs("TCP_CHECK {\n connect_timeout abc\n}"),
            4,
            "connect_timeout `abc' is not a number of seconds",
        ),
        (
            rs("TCP_CHECK {\n connect_timeout -1\n}"),
            4,
            "connect_timeout `-1' is not a number of seconds",
        ),
        (
            rs("TCP_CHECK {\n delay_loop 1.1234567\n}"),
            4,
            "delay_loop `1.1234567' is not a number of seconds",
        ),
        (
            rs("TCP_CHECK {\n delay_loop 90000\n}"),
            4,
            "delay_loop `90000' is more than a day",
        ),
        (
            rs("TCP_CHECK {\n retry many\n}"),
            4,
            "retry `many' is not a number in 0..1000000",
        ),
        (
            rs("TCP_CHECK {\n connect_port 70000\n}"),
            4,
            "invalid connect_port `70000'",
        ),
        (
            rs("TCP_CHECK {\n connect_ip host\n}"),
            4,
            "invalid connect_ip address `host'",
        ),
        (
            rs("TCP_CHECK {\n path /\n}"),
            4,
            "unknown keyword path in TCP_CHECK",
        ),
        (
            rs("HTTP_GET {\n}"),
            3,
            "HTTP_GET needs at least one url block",
        ),
        (
            rs("HTTP_GET {\n url {\n digest 12\n }\n}"),
            5,
            "digest `12' is not 32 hex digits (MD5)",
        ),
        (
            rs("HTTP_GET {\n url {\n status_code 42\n }\n}"),
            5,
            "status_code `42' is not an HTTP status (100..599) or range",
        ),
        (
            rs("HTTP_GET {\n url {\n status_code 300-200\n }\n}"),
            5,
            "status_code `300-200' is not an HTTP status (100..599) or range",
        ),
        (
            rs("HTTP_GET {\n url {\n status_code 200\n }\n}"),
            4,
            "url needs a path",
        ),
        (
            rs("HTTP_GET {\n url {\n path /\n regex x\n }\n}"),
            6,
            "unknown keyword regex in url",
        ),
        (
            rs("MISC_CHECK {\n misc_timeout 3\n}"),
            3,
            "MISC_CHECK needs a misc_path",
        ),
        (
            rs("UDP_CHECK {\n payload xyz\n}"),
            4,
            "payload `xyz' is not hex bytes",
        ),
        (
            rs("DNS_CHECK {\n type BOGUS\n}"),
            4,
            "unknown DNS type `BOGUS'",
        ),
        (
            rs("TCP_CHECK {\n alpha maybe\n}"),
            4,
            "alpha `maybe' is not true or false",
        ),
        (rs("wieght 3"), 3, "unknown keyword wieght in real_server"),
        (
            rs("DNS_CHECK {\n type A name x\n}"),
            4,
            "type takes one value, not 3",
        ),
        (
            vs("quorum 0"),
            2,
            "quorum `0' is not a number in 1..4294967295",
        ),
        (
            vs("sorry_server_inhibit"),
            2,
            "sorry_server_inhibit before sorry_server",
        ),
        (
            vs("sorry_server nowhere 80"),
            2,
            "invalid sorry_server address `nowhere'",
        ),
        (
            vs("delay_lop 6"),
            2,
            "unknown keyword delay_lop in virtual_server",
        ),
        (
            vs("real_server 10.0.1.1 80 {\n TCP_CHECK {\n"),
            2,
            "missing '}' for the block opened here",
        ),
        (
            "real_server 10.0.1.1 80 {\n}\n}\n".into(),
            3,
            "unexpected '}'",
        ),
        (vs("real_server {\n}"), 2, "real_server needs a value"),
        (
            "virtual_server_group web {\n}\n".into(),
            1,
            "virtual_server_group is not supported",
        ),
    ];
    for (conf, line, message) in &cases {
        let e = error(conf);
        assert_eq!((e.line, e.message.as_str()), (*line, *message), "{conf}");
    }
    assert!(cases.len() >= 20);
}
