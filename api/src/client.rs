//! A blocking client for `rvsadm` and tests.

use crate::{read_message, write_message, Request, RequestMessage, Response, ResponseMessage};
use crate::{MAX_RESPONSE, VERSION};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One connection to rvsd.
pub struct Client {
    stream: UnixStream,
}

/// Why a call failed: the transport, or the daemon refused the request (its message).
#[derive(Debug)]
pub enum CallError {
    Io(io::Error),
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Io(e) => write!(f, "{e}"),
            CallError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CallError {}

impl Client {
    /// Connects to the daemon's socket; calls time out after `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client { stream })
    }

    pub fn call(&mut self, request: Request) -> Result<Response, CallError> {
        let msg = RequestMessage {
            version: VERSION,
            request,
        };
        write_message(&mut self.stream, &msg).map_err(CallError::Io)?;
        let reply: ResponseMessage = read_message(&mut self.stream, MAX_RESPONSE)
            .map_err(CallError::Io)?
            .ok_or_else(|| {
                CallError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "rvsd closed the connection (permission denied or shutting down?)",
                ))
            })?;
        reply.result.map_err(CallError::Refused)
    }
}
