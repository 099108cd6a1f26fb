//! The server's counters and their snapshot: the HTTP side of the job ledger.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// Statuses the server itself answers a refused head with; their counters in this order.
pub(crate) const REFUSED_STATUSES: [u16; 8] = [400, 408, 413, 414, 417, 431, 501, 505];

/// Latency buckets: bucket `i` counts responses that took `[2^i, 2^(i+1))` microseconds.
pub(crate) const LATENCY_BUCKETS: usize = 32;

/// Live counters, written by the loop and the workers with relaxed atomics.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) accepted: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) open: AtomicUsize,
    pub(crate) idle: AtomicUsize,
    pub(crate) reading: AtomicUsize,
    pub(crate) waiting: AtomicUsize,
    pub(crate) busy: AtomicUsize,
    pub(crate) received: AtomicU64,
    pub(crate) answered: AtomicU64,
    pub(crate) answered_error: AtomicU64,
    pub(crate) cut: AtomicU64,
    pub(crate) cut_at_stop: AtomicU64,
    pub(crate) rejected_503: AtomicU64,
    pub(crate) refused: [AtomicU64; REFUSED_STATUSES.len()],
    pub(crate) closed_idle: AtomicU64,
    pub(crate) closed_by_peer: AtomicU64,
    pub(crate) closed_mid_head: AtomicU64,
    pub(crate) closed_at_stop: AtomicU64,
    pub(crate) latency_us: [AtomicU64; LATENCY_BUCKETS],
}

impl Counters {
    pub(crate) fn refused(&self, status: u16) {
        if let Some(i) = REFUSED_STATUSES.iter().position(|&s| s == status) {
            self.refused[i].fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let i = (63 - us.leading_zeros() as usize).min(LATENCY_BUCKETS - 1);
        self.latency_us[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, pool: pool_core::Stats) -> ServerStats {
        let g = |a: &AtomicU64| a.load(Relaxed);
        ServerStats {
            accepted: g(&self.accepted),
            accept_errors: g(&self.accept_errors),
            open: self.open.load(Relaxed),
            idle: self.idle.load(Relaxed),
            reading: self.reading.load(Relaxed),
            waiting: self.waiting.load(Relaxed),
            busy: self.busy.load(Relaxed),
            received: g(&self.received),
            answered: g(&self.answered),
            answered_error: g(&self.answered_error),
            cut: g(&self.cut),
            cut_at_stop: g(&self.cut_at_stop),
            rejected_503: g(&self.rejected_503),
            refused: REFUSED_STATUSES
                .iter()
                .zip(&self.refused)
                .map(|(&s, c)| (s, g(c)))
                .collect(),
            closed_idle: g(&self.closed_idle),
            closed_by_peer: g(&self.closed_by_peer),
            closed_mid_head: g(&self.closed_mid_head),
            closed_at_stop: g(&self.closed_at_stop),
            latency_us: self.latency_us.iter().map(g).collect(),
            pool,
        }
    }
}

/// A snapshot of the server. The ledger: every complete, valid request head is `received`, and
/// ends as exactly one of `answered` (a whole response was written: the handler's, or the
/// server's 500 / 400 / 413 when the handler failed before its head was sent), `cut` (its
/// connection closed mid-response, reason logged) or `rejected_503` (the pool had no room in
/// time); `in_flight()` are the ones still being served. Heads refused before dispatch are in
/// `refused`, by status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
    /// `accept` calls that failed (e.g. out of file descriptors).
    pub accept_errors: u64,
    /// Connections open now.
    pub open: usize,
    /// Open connections idle between requests (owned by the loop, no worker).
    pub idle: usize,
    /// Open connections whose head is arriving (owned by the loop, no worker).
    pub reading: usize,
    /// Complete requests waiting for room in the pool's queue.
    pub waiting: usize,
    /// Connections with a worker (their request is in the pool or running).
    pub busy: usize,
    /// Complete, valid request heads.
    pub received: u64,
    /// Requests answered with a complete response.
    pub answered: u64,
    /// Of `answered`: the server's own 500 / 400 / 413 after a handler failed or a body was bad.
    pub answered_error: u64,
    /// Requests whose connection closed mid-response (handler failed after its head was sent,
    /// the client went away, the body was short, or the stop deadline passed).
    pub cut: u64,
    /// Of `cut`: cut at the stop deadline.
    pub cut_at_stop: u64,
    /// Requests answered 503 by the loop because the pool had no room within the queue timeout.
    pub rejected_503: u64,
    /// Heads refused by the loop, by status (400, 408, 413, 414, 417, 431, 501, 505).
    pub refused: Vec<(u16, u64)>,
    /// Idle keep-alive connections closed at the keep-alive timeout.
    pub closed_idle: u64,
    /// Connections the client closed between requests.
    pub closed_by_peer: u64,
    /// Connections the client closed (or that failed) with a head half sent.
    pub closed_mid_head: u64,
    /// Idle or half-read connections closed by `stop`.
    pub closed_at_stop: u64,
    /// Response latency histogram: entry `i` counts responses of `[2^i, 2^(i+1))` µs, from the
    /// complete head to the last byte written.
    pub latency_us: Vec<u64>,
    /// The pool's own figures.
    pub pool: pool_core::Stats,
}

impl ServerStats {
    /// Requests received and not yet answered, cut or rejected. The counters are read one by
    /// one while workers move them, so a snapshot may show a request answered but not yet
    /// received: that counts as none in flight, never an overflow.
    pub fn in_flight(&self) -> u64 {
        self.received
            .saturating_sub(self.answered + self.cut + self.rejected_503)
    }

    /// How many heads were refused with `status`.
    pub fn refused_with(&self, status: u16) -> u64 {
        self.refused
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    /// The latency below which `q` (0..=1) of the responses fell, as a bucket's upper bound.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.latency_us.iter().sum();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.latency_us.iter().enumerate() {
            seen += n;
            if seen >= want.max(1) {
                return Some(Duration::from_micros(1u64 << (i + 1)));
            }
        }
        None
    }
}

impl fmt::Display for ServerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "connections:   {} accepted, {} open ({} idle, {} reading, {} waiting, {} busy)",
            self.accepted, self.open, self.idle, self.reading, self.waiting, self.busy
        )?;
        writeln!(
            f,
            "requests:      {} received, {} answered ({} by the server after a failure), {} cut ({} at stop), {} rejected 503, {} in flight",
            self.received,
            self.answered,
            self.answered_error,
            self.cut,
            self.cut_at_stop,
            self.rejected_503,
            self.in_flight()
        )?;
        let refused: Vec<String> = self
            .refused
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(
            f,
            "refused heads: {}",
            if refused.is_empty() {
                "none".into()
            } else {
                refused.join(", ")
            }
        )?;
        writeln!(
            f,
            "closed:        {} idle timeout, {} by peer, {} mid-head, {} at stop",
            self.closed_idle, self.closed_by_peer, self.closed_mid_head, self.closed_at_stop
        )?;
        if let (Some(p50), Some(p99)) = (self.latency_quantile(0.5), self.latency_quantile(0.99)) {
            writeln!(f, "latency:       p50 < {p50:?}, p99 < {p99:?}")?;
        }
        write!(f, "{}", self.pool)
    }
}
