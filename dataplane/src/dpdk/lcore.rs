//! Logical cores: identity, enumeration, launching work on worker lcores, and the TSC clock.

use super::error::{check, Error, Result};
use super::Eal;
use std::ffi::{c_int, c_void};

/// The lcore id of the calling thread, or None on a thread that is not an EAL lcore.
#[inline]
pub fn current() -> Option<u32> {
    // SAFETY: reads a thread-local; no preconditions.
    let id = unsafe { dpdk_sys::rte_lcore_id() };
    // SAFETY: returns a constant.
    (id != unsafe { dpdk_sys::rvs_lcore_id_any() }).then_some(id)
}

/// The main lcore (the one that called `Eal::init`).
pub fn main(_eal: &Eal) -> u32 {
    // SAFETY: EAL is initialised (token).
    unsafe { dpdk_sys::rte_get_main_lcore() }
}

/// Enabled worker lcores (all enabled lcores but the main one), in increasing order.
pub fn workers(_eal: &Eal) -> Vec<u32> {
    let mut out = Vec::new();
    let mut id = u32::MAX; // rte_get_next_lcore(-1, ...) starts from the first lcore.
    loop {
        // SAFETY: EAL is initialised; rte_get_next_lcore accepts any value and returns
        // RTE_MAX_LCORE when there is no next lcore.
        id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
        if id >= dpdk_sys::RTE_MAX_LCORE {
            return out;
        }
        out.push(id);
    }
}

/// NUMA socket of an lcore.
pub fn socket_of(_eal: &Eal, lcore: u32) -> i32 {
    // SAFETY: EAL is initialised; out-of-range ids return -1.
    unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) as i32 }
}

/// A function running on a worker lcore; `wait` returns its result.
#[derive(Debug)]
#[must_use = "wait() for the lcore, or it stays busy"]
pub struct Launched {
    lcore: u32,
}

type Job = Box<dyn FnOnce() -> i32 + Send + 'static>;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Job> leaked by `launch`, handed over exactly once.
    let job: Box<Job> = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // A panic must not unwind into C: report it as -1.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}

/// Runs `job` on worker lcore `lcore`. Fails if that lcore is not an idle worker.
pub fn launch<F>(eal: &Eal, lcore: u32, job: F) -> Result<Launched>
where
    F: FnOnce() -> i32 + Send + 'static,
{
    if !workers(eal).contains(&lcore) {
        return Err(Error::invalid(
            "lcore",
            format!("{lcore} is not an enabled worker lcore"),
        ));
    }
    // rte_eal_remote_launch is the main lcore's alone: two threads launching at once could
    // both find the lcore idle and overwrite each other's job.
    static LAUNCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = LAUNCH.lock().unwrap_or_else(|p| p.into_inner());
    let job: Box<Job> = Box::new(Box::new(job));
    let arg = Box::into_raw(job).cast::<c_void>();
    // SAFETY: `trampoline` takes ownership of `arg` when DPDK runs it; DPDK runs it only on
    // success, so on failure we take the box back below.
    let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if ret < 0 {
        // SAFETY: the launch failed, so `arg` was not consumed; reclaim and drop it.
        drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        check("rte_eal_remote_launch", ret)?;
    }
    Ok(Launched { lcore })
}

impl Launched {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Blocks until the function returns; yields its return value (-1 if it panicked).
    pub fn wait(self) -> i32 {
        // SAFETY: `lcore` is a worker lcore we launched on.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) }
    }
}

/// The time-stamp counter (cycles). Cheap enough to read once per poll loop.
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the CPU's TSC; no preconditions.
    unsafe { dpdk_sys::rte_rdtsc() }
}

/// TSC ticks per second.
pub fn tsc_hz(_eal: &Eal) -> u64 {
    // SAFETY: EAL is initialised (it calibrates the TSC during init).
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
