//! The built binary against a fake rvsd: a unix socket in a temporary directory, served with
//! the protocol's own framing, answering canned responses and recording every request.

use rvs_api::{
    read_message, write_message, ConnInfo, DestInfo, DestSpec, Info, Method, Protocol, Rates,
    Request, RequestMessage, Response, ResponseMessage, ServiceId, ServiceInfo, ServiceSpec, Stats,
    Timeouts, MAX_REQUEST, VERSION,
};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A unique temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = NEXT_DIR.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("rvsadm-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct FakeDaemon {
    dir: TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn vip() -> ServiceId {
    ServiceId {
        protocol: Protocol::Tcp,
        addr: "10.10.0.100".parse().unwrap(),
        port: 80,
    }
}

fn table() -> Vec<ServiceInfo> {
    vec![ServiceInfo {
        spec: ServiceSpec {
            id: vip(),
            scheduler: "rr".into(),
            persistence: None,
            netmask: 32,
            sched_flags: Default::default(),
        },
        local_addrs: Vec::new(),
        stats: Stats::default(),
        rates: Rates::default(),
        dests: vec![DestInfo {
            spec: DestSpec {
                addr: "10.20.0.11".parse().unwrap(),
                port: 80,
                method: Method::Masq,
                weight: 1,
                upper_threshold: 0,
                lower_threshold: 0,
            },
            active_conns: 0,
            inactive_conns: 0,
            stats: Stats::default(),
            rates: Rates::default(),
        }],
    }]
}

/// rvsd's canned answers: the service above exists; anything about another is refused.
fn answer(req: &Request) -> Result<Response, String> {
    let known = |id: &ServiceId| {
        if *id == vip() {
            Ok(Response::Done)
        } else {
            Err("Service not defined".to_string())
        }
    };
    match req {
        Request::GetInfo => Ok(Response::Info(Info {
            version: "0.1.0".into(),
            conn_table_size: 4096,
            workers: 2,
        })),
        Request::ListServices { service: None } => Ok(Response::Services(table())),
        Request::ListServices { service: Some(id) } => {
            known(id).map(|_| Response::Services(table()))
        }
        Request::ListConnections => Ok(Response::Connections(vec![ConnInfo {
            protocol: Protocol::Tcp,
            expire_s: 898,
            state: "ESTABLISHED".into(),
            client: "192.0.2.10:40000".parse().unwrap(),
            virtual_addr: "10.10.0.100:80".parse().unwrap(),
            dest: "10.20.0.11:80".parse().unwrap(),
            local: None,
        }])),
        Request::GetTimeouts => Ok(Response::Timeouts(Timeouts {
            tcp: 900,
            tcpfin: 120,
            udp: 300,
        })),
        Request::AddService(spec) if spec.id == vip() => Err("Service already exists".into()),
        Request::AddDest { service, .. } | Request::EditDest { service, .. } => known(service),
        Request::DeleteDest { service, .. } => known(service),
        _ => Ok(Response::Done),
    }
}

impl FakeDaemon {
    fn start() -> FakeDaemon {
        let dir = TempDir::new();
        let socket = dir.0.join("rvsd.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                while let Ok(Some(msg)) = read_message::<RequestMessage>(&mut stream, MAX_REQUEST) {
                    assert_eq!(msg.version, VERSION);
                    let result = answer(&msg.request);
                    log.lock().unwrap().push(msg.request);
                    let reply = ResponseMessage {
                        version: VERSION,
                        result,
                    };
                    if write_message(&mut stream, &reply).is_err() {
                        break;
                    }
                }
            }
        });
        FakeDaemon {
            dir,
            socket,
            requests,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn run(&self, args: &str) -> Outcome {
        let mut full = vec!["--socket".to_string(), self.socket.display().to_string()];
        full.extend(args.split_whitespace().map(String::from));
        rvsadm(&full, None, "")
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rvsadm(args: &[String], env_socket: Option<&Path>, stdin: &str) -> Outcome {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rvsadm"));
    cmd.args(args)
        .env_remove(rvs_api::SOCKET_ENV)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(s) = env_socket {
        cmd.env(rvs_api::SOCKET_ENV, s);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Outcome {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn ok(stdout: &str) -> Outcome {
    Outcome {
        code: 0,
        stdout: stdout.into(),
        stderr: String::new(),
    }
}

fn failed(code: i32, stderr: &str) -> Outcome {
    Outcome {
        code,
        stdout: String::new(),
        stderr: stderr.into(),
    }
}

const LISTING: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.10.0.100:80 rr
  -> 10.20.0.11:80                Masq    1      0          0         \n";

#[test]
fn add_service_sends_the_request() {
    let d = FakeDaemon::start();
    assert_eq!(d.run("-A -t 10.10.0.101:80 -s rr -p"), ok(""));
    assert_eq!(
        d.requests(),
        vec![Request::AddService(ServiceSpec {
            id: ServiceId {
                addr: "10.10.0.101".parse().unwrap(),
                ..vip()
            },
            scheduler: "rr".into(),
            persistence: Some(300),
            netmask: 32,
            sched_flags: Default::default(),
        })]
    );
}

#[test]
fn add_server_sends_the_request() {
    let d = FakeDaemon::start();
    assert_eq!(
        d.run("-a -t 10.10.0.100:80 -r 10.20.0.12:8080 -m -w 2"),
        ok("")
    );
    assert_eq!(
        d.requests(),
        vec![Request::AddDest {
            service: vip(),
            dest: DestSpec {
                addr: "10.20.0.12".parse().unwrap(),
                port: 8080,
                method: Method::Masq,
                weight: 2,
                upper_threshold: 0,
                lower_threshold: 0,
            },
        }]
    );
}

#[test]
fn list_numeric_prints_ipvsadm_layout() {
    let d = FakeDaemon::start();
    assert_eq!(d.run("-Ln"), ok(LISTING));
    assert_eq!(
        d.requests(),
        vec![Request::GetInfo, Request::ListServices { service: None }]
    );
}

#[test]
fn connections_timeouts_and_save() {
    let d = FakeDaemon::start();
    assert_eq!(
        d.run("-Lnc"),
        ok("IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:58  ESTABLISHED 192.0.2.10:40000   10.10.0.100:80     10.20.0.11:80\n")
    );
    assert_eq!(
        d.run("-L --timeout"),
        ok("Timeout (tcp tcpfin udp): 900 120 300\n")
    );
    assert_eq!(
        d.run("-Sn"),
        ok("-A -t 10.10.0.100:80 -s rr\n-a -t 10.10.0.100:80 -r 10.20.0.11:80 -m -w 1\n")
    );
    assert_eq!(
        d.requests(),
        vec![
            Request::ListConnections,
            Request::GetTimeouts,
            Request::ListServices { service: None }
        ]
    );
}

#[test]
fn daemon_errors_are_printed_verbatim() {
    let d = FakeDaemon::start();
    assert_eq!(
        d.run("-a -t 10.10.0.100:81 -r 10.20.0.11 -m"),
        failed(1, "Service not defined\n")
    );
    assert_eq!(
        d.run("-A -t 10.10.0.100:80"),
        failed(1, "Service already exists\n")
    );
    assert_eq!(
        d.run("-L -t 10.10.0.100:81"),
        failed(1, "Service not defined\n")
    );
    assert_eq!(d.requests().len(), 3);
}

#[test]
fn usage_errors_exit_2_without_contacting_the_daemon() {
    let d = FakeDaemon::start();
    assert_eq!(
        d.run("-A"),
        failed(
            2,
            "You need to supply the 'service-address' option for the 'add-service' command\n"
        )
    );
    assert_eq!(
        d.run("-a -t 10.10.0.100:80 -r 10.20.0.11 -w 100000"),
        failed(2, "illegal weight specified\n")
    );
    assert!(d.requests().is_empty());
}

#[test]
fn unreachable_daemon() {
    let dir = TempDir::new();
    let socket = dir.0.join("absent.sock");
    let out = rvsadm(
        &["--socket".into(), socket.display().to_string(), "-C".into()],
        None,
        "",
    );
    assert_eq!(out.code, 1);
    assert!(out.stdout.is_empty());
    let prefix = format!("Can't connect to rvsd at {}: ", socket.display());
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
}

#[test]
fn socket_from_the_environment() {
    let d = FakeDaemon::start();
    let out = rvsadm(&["-Ln".into()], Some(&d.socket), "");
    assert_eq!(out, ok(LISTING));
    // --socket wins over the environment.
    let out = rvsadm(
        &[
            "--socket".into(),
            d.socket.display().to_string(),
            "-Z".into(),
        ],
        Some(Path::new("/nonexistent/rvsd.sock")),
        "",
    );
    assert_eq!(out, ok(""));
}

#[test]
fn restore_stops_at_the_first_failure() {
    let d = FakeDaemon::start();
    let rules = "-A -t 10.10.0.102:80 -s rr\n\
                 -a -t 10.10.0.102:80 -r 10.20.0.11:80 -m -w 1\n\
                 -a -t 10.10.0.100:80 -r 10.20.0.12:80 -m -w 1\n\
                 -C\n";
    let args = vec![
        "--socket".to_string(),
        d.socket.display().to_string(),
        "-R".into(),
    ];
    // The rules are applied one by one: the message says how far it got.
    assert_eq!(
        rvsadm(&args, None, rules),
        failed(
            1,
            "line 2: Service not defined (1 rule before it applied, none from it on)\n"
        )
    );
    assert_eq!(d.requests().len(), 2);
    assert_eq!(
        rvsadm(
            &args,
            None,
            "# saved\n-a -t 10.10.0.102:80 -r 10.20.0.12:80 -m\n"
        ),
        failed(1, "line 2: Service not defined (nothing was applied)\n")
    );
    assert_eq!(d.requests().len(), 3);
    // A syntax error anywhere: nothing is applied.
    assert_eq!(
        rvsadm(&args, None, "-C\n-a -t 10.10.0.100:80\n"),
        failed(
            2,
            "line 2: You need to supply the 'real-server' option for the 'add-server' command\n"
        )
    );
    assert_eq!(d.requests().len(), 3);
    assert_eq!(
        rvsadm(
            &args,
            None,
            "# saved\n-C\n\n-a -t 10.10.0.100:80 -r 10.20.0.13 -g\n"
        ),
        ok("")
    );
    assert_eq!(d.requests().len(), 5);
    // No daemon: nothing was sent.
    let gone = vec![
        "--socket".to_string(),
        "/nonexistent/rvsd.sock".into(),
        "-R".into(),
    ];
    let out = rvsadm(&gone, None, "-C\n");
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with("line 1: Can't connect to rvsd at /nonexistent/rvsd.sock")
            && out.stderr.ends_with(" (nothing was applied)\n"),
        "{}",
        out.stderr
    );
}

#[test]
fn import_keepalived_dry_run_and_apply() {
    let d = FakeDaemon::start();
    let conf = d.dir.0.join("keepalived.conf");
    std::fs::write(
        &conf,
        "global_defs { router_id X }\n\
         virtual_server 10.10.0.100 80 {\n  lb_algo rr\n  lb_kind NAT\n\
           real_server 10.20.0.12 8080 {\n    weight 2\n    TCP_CHECK { connect_timeout 3 }\n  }\n}\n",
    )
    .unwrap();
    let conf = conf.display().to_string();
    // --dry-run needs no daemon.
    let out = rvsadm(
        &[
            "--socket".into(),
            "/nonexistent/rvsd.sock".into(),
            "--import-keepalived".into(),
            conf.clone(),
            "--dry-run".into(),
        ],
        None,
        "",
    );
    // The checker is named, not silently dropped.
    let warning = format!(
        "rvsadm: {conf}:7: warning: TCP_CHECK is not run by an import; rvsd runs the checkers \
         of the keepalived.conf its [keepalived] config names\n"
    );
    assert_eq!(
        out,
        Outcome {
            stderr: warning.clone(),
            ..ok("-A -t 10.10.0.100:80 -s rr\n-a -t 10.10.0.100:80 -r 10.20.0.12:8080 -m -w 2\n")
        }
    );
    // Applying: the service exists already in the fake daemon.
    let out = d.run(&format!("--import-keepalived {conf}"));
    assert_eq!(
        out,
        failed(
            1,
            &format!("{warning}{conf}:2: Service already exists (-A -t 10.10.0.100:80 -s rr)\n")
        )
    );
    assert_eq!(d.requests().len(), 1);
}
