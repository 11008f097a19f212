//! Executes a parsed command against rvsd and produces what ipvsadm would print.

use crate::args::{self, Command, ListWhat};
use crate::format;
use rvs_api::client::{CallError, Client};
use rvs_api::keepalived;
use rvs_api::{Request, Response, ServiceInfo};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one call may take (a full connection listing can be large).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a command failed: the message for stderr and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    /// The daemon refused (the message is its own).
    pub refused: bool,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            refused: false,
        }
    }
}

/// A lazily opened connection to rvsd.
struct Daemon {
    path: PathBuf,
    client: Option<Client>,
}

impl Daemon {
    fn call(&mut self, req: Request) -> Result<Response, Failure> {
        let client = match &mut self.client {
            Some(c) => c,
            None => {
                let c = Client::connect(&self.path, CALL_TIMEOUT).map_err(|e| {
                    Failure::new(
                        1,
                        format!("Can't connect to rvsd at {}: {e}", self.path.display()),
                    )
                })?;
                self.client.insert(c)
            }
        };
        client.call(req).map_err(|e| match e {
            CallError::Refused(m) => Failure {
                code: 1,
                message: m,
                refused: true,
            },
            CallError::Io(e) => Failure::new(
                1,
                format!("Error talking to rvsd at {}: {e}", self.path.display()),
            ),
        })
    }

    fn exec(&mut self, req: Request) -> Result<(), Failure> {
        match self.call(req)? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn services(
        &mut self,
        service: Option<rvs_api::ServiceId>,
    ) -> Result<Vec<ServiceInfo>, Failure> {
        match self.call(Request::ListServices { service })? {
            Response::Services(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(r: &Response) -> Failure {
    let kind = match r {
        Response::Done => "Done",
        Response::Info(_) => "Info",
        Response::Services(_) => "Services",
        Response::Connections(_) => "Connections",
        Response::Timeouts(_) => "Timeouts",
        Response::Health(_) => "Health",
        Response::Daemons(_) => "Daemons",
        Response::Sysctl(..) => "Sysctl",
    };
    Failure::new(1, format!("Unexpected answer from rvsd: {kind}"))
}

/// The socket: --socket, else $RVS_SOCKET, else the default.
pub fn socket_path(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os(rvs_api::SOCKET_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(rvs_api::DEFAULT_SOCKET))
}

/// Runs `command`; returns what goes to stdout.
pub fn execute(command: Command, socket: &Path, stdin: impl Read) -> Result<String, Failure> {
    let mut d = Daemon {
        path: socket.to_path_buf(),
        client: None,
    };
    match command {
        Command::Help => Ok(args::usage()),
        Command::Version => Ok(format!(
            "rvsadm {} (ipvsadm-compatible)\n",
            env!("CARGO_PKG_VERSION")
        )),
        Command::Exec(req) => d.exec(req).map(|()| String::new()),
        Command::List { what, format: f } => match what {
            ListWhat::All => {
                let info = match d.call(Request::GetInfo)? {
                    Response::Info(i) => i,
                    other => return Err(unexpected(&other)),
                };
                let services = d.services(None)?;
                Ok(format::list_all(&info, &services, &f))
            }
            ListWhat::Service(id) => {
                let services = d.services(Some(id))?;
                if services.is_empty() {
                    return Err(Failure::new(1, "No such service"));
                }
                Ok(format::list_services(&services, &f))
            }
            ListWhat::Connections => match d.call(Request::ListConnections)? {
                Response::Connections(c) => Ok(format::connections(&c)),
                other => Err(unexpected(&other)),
            },
            ListWhat::Timeouts => match d.call(Request::GetTimeouts)? {
                Response::Timeouts(t) => Ok(format::timeouts(&t)),
                other => Err(unexpected(&other)),
            },
            ListWhat::Daemons => match d.call(Request::ListDaemons)? {
                Response::Daemons(list) => Ok(format::daemons(&list)),
                other => Err(unexpected(&other)),
            },
        },
        Command::Save => Ok(format::save(&d.services(None)?)),
        Command::GetSysctl(name) => match d.call(Request::GetSysctl(name))? {
            Response::Sysctl(name, value) => Ok(format::sysctl(name, value)),
            other => Err(unexpected(&other)),
        },
        Command::Health => match d.call(Request::ListHealth)? {
            Response::Health(h) => Ok(format::health(&h)),
            other => Err(unexpected(&other)),
        },
        Command::GetLocalAddrs(service) => Ok(format::local_addrs(&d.services(service)?)),
        Command::Restore => {
            let mut text = String::new();
            let mut stdin = stdin;
            stdin
                .read_to_string(&mut text)
                .map_err(|e| Failure::new(1, format!("Can't read the rules from stdin: {e}")))?;
            let rules = args::parse_rules(&text)
                .map_err(|(line, e)| Failure::new(2, format!("line {line}: {e}")))?;
            for (applied, (line, req)) in rules.into_iter().enumerate() {
                d.exec(req).map_err(|mut f| {
                    // Connected: the request went out, so only a refusal says it did nothing.
                    let unapplied = f.refused || d.client.is_none();
                    f.message = format!(
                        "line {line}: {} ({})",
                        f.message,
                        restore_progress(applied, unapplied)
                    );
                    f
                })?;
            }
            Ok(String::new())
        }
        Command::ImportKeepalived { path, dry_run } => {
            let shown = path.display();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Failure::new(1, format!("Can't read {shown}: {e}")))?;
            let at = |e: keepalived::ParseError| {
                Failure::new(1, format!("{shown}:{}: {}", e.line, e.message))
            };
            let cfg = keepalived::parse(&text).map_err(at)?;
            let requests = keepalived::to_requests(&cfg).map_err(at)?;
            for w in &cfg.warnings {
                eprintln!("rvsadm: {shown}:{}: warning: {}", w.line, w.message);
            }
            let checkers = cfg.virtual_servers.iter().flat_map(|v| &v.real_servers);
            for c in checkers.flat_map(|r| &r.checkers) {
                eprintln!(
                    "rvsadm: {shown}:{}: warning: {} is not run by an import; rvsd runs the \
                     checkers of the keepalived.conf its [keepalived] config names",
                    c.line,
                    c.kind.keyword()
                );
            }
            let mut out = String::new();
            for (line, req) in requests {
                let rule = format::rule(&req).unwrap_or_default();
                if dry_run {
                    out.push_str(&rule);
                    out.push('\n');
                } else {
                    d.exec(req).map_err(|mut f| {
                        if f.refused {
                            f.message = format!("{shown}:{line}: {} ({rule})", f.message);
                        }
                        f
                    })?;
                }
            }
            Ok(out)
        }
    }
}

/// What a `-R` that stopped at a rule had done: the rules are sent one by one, each applied
/// whole or not at all, and the first failure ends the restore. `applied` rules went before
/// it; `unapplied`: this one is known not to have been applied.
fn restore_progress(applied: usize, unapplied: bool) -> String {
    let before = match applied {
        1 => "1 rule".to_string(),
        n => format!("{n} rules"),
    };
    match (applied, unapplied) {
        (0, true) => "nothing was applied".into(),
        (_, true) => format!("{before} before it applied, none from it on"),
        (_, false) => format!("{before} before it applied; it may have been, none after it"),
    }
}

/// The whole program: argv (without the program name) to exit status.
pub fn main(argv: &[String]) -> i32 {
    let inv = match args::parse(argv) {
        Ok(inv) => inv,
        Err(e) => {
            let _ = writeln!(io::stderr(), "{e}");
            return 2;
        }
    };
    let socket = socket_path(inv.socket);
    match execute(inv.command, &socket, io::stdin().lock()) {
        Ok(out) => {
            // A closed pipe (`rvsadm -Lnc | head`) is not an error worth reporting.
            let mut stdout = io::stdout().lock();
            let _ = stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush());
            0
        }
        Err(f) => {
            let _ = writeln!(io::stderr(), "{}", f.message);
            f.code
        }
    }
}
