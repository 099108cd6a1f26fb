//! `pool-http`: a strict HTTP/1.1 server on any pool of the workspace, through the
//! [`pool_core::Pool`] contract.
//!
//! One thread runs an acceptor and a readiness loop (`mio`) that owns every connection whose
//! request head is still arriving and every idle keep-alive connection: neither holds a worker,
//! so idle clients and slowloris clients cost a slot in a table, not a thread. A complete head
//! (parsed by `httparse`, then checked against every framing rule of RFC 9112) is dispatched to
//! the pool as one job, which owns the connection until the response is written and hands it
//! back to the loop. When the pool's bounded queue has no room within the queue timeout, the
//! loop answers `503` with `Retry-After` itself. How a connection moves is in
//! `docs/architecture.md`.
//!
//! Handlers are blocking, in the spirit of ISAPI's `Dispatch(ecb)`:
//!
//! ```
//! use std::io::Read;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pool_http::{Config, HandlerError, Request, Response, Server};
//!
//! fn echo(req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
//!     let mut body = Vec::new();
//!     req.body().read_to_end(&mut body)?; // enforces the framing; sends 100-continue if asked
//!     res.header("Content-Type", "text/plain")?;
//!     res.send(&body)?; // Content-Length, one write; HEAD would send no body
//!     Ok(())
//! }
//!
//! let pool = Arc::new(pool_core::Builder::new().min(1).max(4).capacity(64).fast()?);
//! let server = Server::bind("127.0.0.1:0".parse()?, pool, echo, Config::default())?;
//! # use std::io::Write;
//! # let mut c = std::net::TcpStream::connect(server.local_addr())?;
//! # c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")?;
//! # let mut s = String::new();
//! # c.read_to_string(&mut s)?;
//! # assert!(s.starts_with("HTTP/1.1 200 OK") && s.ends_with("hi"));
//! # drop(c);
//! let report = server.stop(Duration::from_secs(5));
//! println!("{report}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod chunked;
mod config;
mod conn;
mod date;
mod exchange;
mod parse;
mod request;
mod response;
mod server;
mod static_files;
mod stats;
mod stats_page;

pub use chunked::{ChunkError, ChunkedDecoder};
pub use config::Config;
pub use parse::{Framing, Head, HeaderSpan, Limits, Rejection, parse_head};
pub use request::{Body, Request};
pub use response::{InvalidHeader, Response};
pub use server::{ServeError, Server, StopReport};
pub use static_files::StaticFiles;
pub use stats::ServerStats;
pub use stats_page::{STATS_JSON_PATH, STATS_PATH};

/// What a handler returns on failure: the client gets a `500` (the text only with
/// `Config::debug_errors`), or a closed connection if the response head was already sent.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one request on a pool worker; may block. A panic is caught and treated like an
/// error.
pub trait Handler: Send + Sync + 'static {
    /// Reads `req` and writes `res`. Returning without finishing the response finishes it
    /// (an empty `200` if nothing was written).
    fn handle(&self, req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError>;
}

impl<F> Handler for F
where
    F: Fn(&mut Request<'_>, &mut Response<'_>) -> Result<(), HandlerError> + Send + Sync + 'static,
{
    fn handle(&self, req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
        self(req, res)
    }
}
