//! EAL initialisation: once per process.

use super::error::{Error, Result};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

/// Proof that the EAL is initialised. Functions that need a running EAL take `&Eal`.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL from an argument list (the first item is the program name, as argv[0]).
    /// A second call in the same process returns [`Error::AlreadyInitialized`], as does any call
    /// after a failed one (DPDK cannot retry initialisation).
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        let args = args
            .into_iter()
            .map(|a| {
                CString::new(a.as_ref())
                    .map_err(|_| Error::invalid("EAL argument", "contains a NUL byte"))
            })
            .collect::<Result<Vec<_>>>()?;
        if args.is_empty() {
            return Err(Error::invalid(
                "EAL arguments",
                "need at least the program name",
            ));
        }
        take_rt_signals()?;
        // EAL may keep pointers into argv (and reorders it): the strings live for the process.
        let mut argv: Vec<*mut c_char> = args.into_iter().map(|a| a.into_raw()).collect();
        let argc =
            i32::try_from(argv.len()).map_err(|_| Error::invalid("EAL arguments", "too many"))?;
        // SAFETY: argv holds argc valid NUL-terminated strings that are never freed; this is the
        // only call in the process (guarded by STARTED).
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        std::mem::forget(argv);
        if ret < 0 {
            return Err(Error::from_errno("rte_eal_init"));
        }
        Ok(Eal { _private: () })
    }

    /// Releases EAL resources and ends the process with exit status `code`: no code of this
    /// thread runs after DPDK's cleanup, so no handle it kept (an mbuf, a pool) can reach what
    /// the cleanup released. Other threads that use DPDK objects must be stopped first (rvsd
    /// joins its workers and closes its ports; its other threads hold none).
    pub fn cleanup_and_exit(self, code: i32) -> ! {
        // SAFETY: the process exits right after; the caller has stopped the threads that use
        // DPDK objects (see above).
        let ret = unsafe { dpdk_sys::rte_eal_cleanup() };
        if let Err(e) = super::error::check("rte_eal_cleanup", ret) {
            eprintln!("EAL cleanup: {e}");
        }
        std::process::exit(code)
    }
}

/// rvs's handler of the real-time signals: does nothing.
extern "C" fn ignore_signal(_: libc::c_int) {}

/// Takes the real-time signals among which `net_tap` looks for a free one for its rx trigger
/// (SIGRTMIN + 1 to SIGRTMAX - 1), before any device exists. Finding none, `net_tap` turns
/// the trigger off (it logs "No Rx trigger signal available"), and an rx burst on a tap reads
/// the tap whether or not a frame waits. With the trigger on, the kernel queues a signal to
/// the process for every frame it sends through a tap, delivered to the thread that sent it
/// (the sync sender) or to any other (a worker), at a cost above the frame's. rvs uses no
/// real-time signal itself.
fn take_rt_signals() -> Result<()> {
    for signo in libc::SIGRTMIN() + 1..libc::SIGRTMAX() {
        // SAFETY: a zeroed sigaction is a valid value (empty mask, no flags); the handler is
        // async-signal-safe (it does nothing) and lives for the process; `signo` is a
        // real-time signal, which glibc does not reserve.
        let ret = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigaction(signo, &action, std::ptr::null_mut())
        };
        if ret != 0 {
            let code = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            return Err(Error::Call {
                op: "sigaction",
                code,
            });
        }
    }
    Ok(())
}
