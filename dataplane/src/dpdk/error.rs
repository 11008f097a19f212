//! DPDK return codes as typed errors.

use std::ffi::CStr;
use std::fmt;

/// Why a DPDK operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `Eal::init` was called a second time in this process.
    AlreadyInitialized,
    /// An argument was refused before reaching DPDK; `what` names it.
    InvalidArgument { what: &'static str, reason: String },
    /// A DPDK call failed with an errno-style code (positive).
    Call { op: &'static str, code: i32 },
    /// An rte_flow call failed with an errno-style code (positive); `message` is the driver's
    /// own explanation (`rte_flow_error.message`, or the error type when it gave none). For
    /// steering this means the port cannot do it: fall back to software redirection.
    Flow {
        op: &'static str,
        code: i32,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }

    /// The error DPDK left in `rte_errno` after a call that returned NULL or -1.
    pub(crate) fn from_errno(op: &'static str) -> Self {
        // SAFETY: reads this thread's rte_errno; no preconditions.
        let code = unsafe { dpdk_sys::rvs_rte_errno() };
        Error::Call { op, code }
    }
}

/// Turns a DPDK `int` return (negative errno on failure) into a Result.
pub(crate) fn check(op: &'static str, ret: i32) -> Result<i32> {
    if ret < 0 {
        Err(Error::Call { op, code: -ret })
    } else {
        Ok(ret)
    }
}

/// DPDK's text for an errno value.
fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string
    // for any code; it is copied before anything else can overwrite it.
    unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code)) }
        .to_string_lossy()
        .into_owned()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::AlreadyInitialized => {
                write!(
                    f,
                    "the DPDK EAL is already initialised in this process (init runs once)"
                )
            }
            Error::InvalidArgument { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::Call { op, code } => {
                write!(f, "{op} failed: {} (errno {code})", strerror(*code))
            }
            Error::Flow { op, code, message } => write!(
                f,
                "{op} failed: {message} (errno {code}: {})",
                strerror(*code)
            ),
        }
    }
}

impl std::error::Error for Error {}
