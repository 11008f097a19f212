//! The devices under test: which program runs ([`Dut`]), starting it with its memif sockets,
//! stopping it, and reading its forwarding thread's time on its cpu from `/proc`.

use super::rvsd::rvsd_config;
use super::Res;
use crate::results::{RVS, TESTPMD_5TSWAP, TESTPMD_IO};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A device under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dut {
    TestpmdIo,
    Testpmd5tswap,
    /// `kernel_if`: the lan port has a kernel interface; `sync`: the master sync daemon runs
    /// and sends through it.
    Rvsd {
        capacity: usize,
        kernel_if: bool,
        sync: bool,
    },
}

impl Dut {
    /// Its name in the results (`Point::dut`).
    pub fn name(&self) -> &'static str {
        match self {
            Dut::TestpmdIo => TESTPMD_IO,
            Dut::Testpmd5tswap => TESTPMD_5TSWAP,
            Dut::Rvsd { .. } => RVS,
        }
    }

    /// The name of its process (`/proc/PID/comm`).
    pub fn comm(&self) -> &'static str {
        match self {
            Dut::TestpmdIo | Dut::Testpmd5tswap => "dpdk-testpmd",
            Dut::Rvsd { .. } => "rvsd",
        }
    }

    /// Starts the device (rvsd from `bin`) with its sockets, configuration and log in `run`,
    /// and waits for its sockets.
    pub fn start(self, run: &Path, bin: &Path) -> Res<Running> {
        for s in ["wan.sock", "lan.sock", "rvsd.sock"] {
            let _ = std::fs::remove_file(run.join(s));
        }
        let log = std::fs::File::create(run.join(format!("{}.log", self.name())))?;
        let mut cmd = match self {
            Dut::TestpmdIo | Dut::Testpmd5tswap => self.testpmd(run),
            Dut::Rvsd {
                capacity,
                kernel_if,
                sync,
            } => {
                let cfg = run.join("rvsd.toml");
                std::fs::write(&cfg, rvsd_config(run, capacity, kernel_if, sync))?;
                let mut c = Command::new(bin.join("rvsd"));
                c.arg("--config").arg(cfg);
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut r = Running {
            dut: self,
            child: Some(child),
        };
        r.wait_for_sockets(run)?;
        std::thread::sleep(Duration::from_millis(500));
        eprintln!("  started {}", self.name());
        Ok(r)
    }

    /// dpdk-testpmd's command line for this device (a testpmd one), its memif sockets in `run`.
    fn testpmd(self, run: &Path) -> Command {
        let mut c = Command::new("dpdk-testpmd");
        c.args([
            "--lcores",
            "0@0,1@1",
            "--main-lcore",
            "0",
            "--file-prefix",
            "rvs-perf-testpmd",
            "--no-pci",
            "--no-telemetry",
            "--log-level",
            "*:error",
        ]);
        let vdev = |i: u8, name: &str| {
            format!(
                "net_memif{i},role=server,id=0,socket={}/{name}.sock,socket-abstract=no",
                run.display()
            )
        };
        c.args(["--vdev", &vdev(0, "wan")]);
        if self == Dut::TestpmdIo {
            c.args(["--vdev", &vdev(1, "lan")]);
        }
        c.args([
            "--",
            "--nb-cores=1",
            "--rxq=1",
            "--txq=1",
            "--auto-start",
            "--stats-period=3600",
        ]);
        if self == Dut::TestpmdIo {
            c.args(["--forward-mode=io", "--port-topology=paired"]);
        } else {
            c.args(["--forward-mode=5tswap", "--port-topology=loop"]);
        }
        c
    }
}

/// A started device; dropping it stops the device.
pub struct Running {
    pub dut: Dut,
    /// None once stopped.
    pub(crate) child: Option<Child>,
}

impl Running {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Nanoseconds the forwarding lcore thread has been on a cpu.
    pub fn worker_runtime(&self) -> Option<u64> {
        task_runtime(&worker_task(self.pid()?)?)
    }

    /// How the device's process ended, once it has: its exit code or the signal that killed it
    /// (SIGSEGV in net_memif, see ARCHITECTURE; SIGABRT is a panic). None while it runs.
    pub fn exit_reason(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.as_mut()?.try_wait().ok()??;
        Some(match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(name) => format!("killed by {name}"),
                Err(_) => format!("killed by signal {sig}"),
            },
            (None, None) => status.to_string(),
        })
    }

    /// SIGINT: both testpmd and rvsd stop cleanly on it (ports closed, hugepages released).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Waits (a minute at most) for the device to create its sockets in `run`: an error if it
    /// exits first or never does.
    fn wait_for_sockets(&mut self, run: &Path) -> Res<()> {
        let dut = self.dut;
        let mut want = vec!["wan.sock"];
        if dut != Dut::Testpmd5tswap {
            want.push("lan.sock");
        }
        if matches!(dut, Dut::Rvsd { .. }) {
            want.push("rvsd.sock");
        }
        let end = Instant::now() + Duration::from_secs(60);
        while !want.iter().all(|s| run.join(s).exists()) {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "{} exited ({st}) at start: see {}",
                    dut.name(),
                    run.display()
                )
                .into());
            }
            if Instant::now() > end {
                return Err(format!("{} did not create its sockets", dut.name()).into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pid of this harness's child process named `comm` (it runs one device at a time).
pub fn child_named(comm: &str) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, not ')'.
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (name.trim_end() == comm && ppid == me).then_some(pid)
    })
}

/// Nanoseconds the thread whose `/proc` task directory is `task` has been on a cpu.
pub fn task_runtime(task: &Path) -> Option<u64> {
    let st = std::fs::read_to_string(task.join("schedstat")).ok()?;
    st.split_whitespace().next()?.parse().ok()
}

/// The `/proc` directory of process `pid`'s forwarding lcore thread (`rte-worker-*`, the
/// EAL's name for worker lcores in both rvsd and testpmd).
pub fn worker_task(pid: u32) -> Option<PathBuf> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    tasks.flatten().map(|t| t.path()).find(|t| {
        std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.starts_with("rte-worker"))
    })
}
