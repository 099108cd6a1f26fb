//! The server's configuration.

use std::time::Duration;

use crate::parse::Limits;

/// How a [`crate::Server`] treats its connections. The pool (its size and its bounded accepted
/// queue) is configured on the pool itself.
#[derive(Clone, Debug)]
pub struct Config {
    /// Head and body size limits (414, 431, 413).
    pub limits: Limits,
    /// A request head must arrive within this from its first byte (or from the accept) → 408.
    pub header_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_timeout: Duration,
    /// How long a complete request may wait for room in the pool's queue → 503 after it
    /// (cheroot `accepted_queue_timeout`).
    pub queue_timeout: Duration,
    /// The `Retry-After` seconds of a 503.
    pub retry_after: u32,
    /// How long a worker's read or write of one request may wait on the socket.
    pub io_timeout: Duration,
    /// How long a closing connection is drained (so the client sees the response, not a reset).
    pub linger: Duration,
    /// Show a handler's panic or error text in the 500 page (off by default: never to anyone).
    pub debug_errors: bool,
    /// Answer `GET /_stats` (HTML) and `GET /_stats.json` with the live figures before the
    /// handler sees them (off by default in the library; the binary turns it on unless
    /// `--no-stats`). The page never shows request contents.
    pub stats_page: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            queue_timeout: Duration::from_secs(10),
            retry_after: 1,
            io_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
            debug_errors: false,
            stats_page: false,
        }
    }
}
