//! The server: an acceptor and readiness loop (mio) that owns every connection whose head is
//! arriving and every idle keep-alive connection, and the pool that serves complete requests.
//! The protocol between them is in `docs/architecture.md` ("pool-http").

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst, fence};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use http::StatusCode;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use pool_core::{Job, Pool, PutError, StartError};
use slab::Slab;

use crate::Handler;
use crate::config::Config;
use crate::conn::{Buf, Conn};
use crate::exchange::{error_page, serve};
use crate::parse::{Head, parse_head};
use crate::stats::{Counters, ServerStats};

const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);
/// A connection's first read buffer; it grows up to the head limit.
const INITIAL_BUF: usize = 4096;
/// Read buffers kept for reuse by connections that go idle.
const SPARE_BUFS: usize = 256;
/// While the pool's queue is full, the loop retries the oldest waiting request this often.
const ADMISSION_RETRY: Duration = Duration::from_millis(1);
/// After `accept` fails (e.g. out of descriptors), accepting pauses this long.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// A connection coming back from a worker.
pub(crate) enum Back {
    /// Keep it open: the loop waits for its next request.
    KeepAlive(Box<Conn>),
    /// Close it (after draining what the client still sends, so it sees the response).
    Close(Box<Conn>),
}

/// What the loop and the workers share.
pub(crate) struct Shared {
    pub(crate) pool: Arc<dyn Pool>,
    pub(crate) handler: Box<dyn Handler>,
    pub(crate) config: Config,
    pub(crate) stats: Counters,
    /// The stats page's last minute (sampled by the loop's sweep when the page is on).
    pub(crate) history: crate::stats_page::History,
    /// `stop` was called: no new connections, no keep-alive.
    pub(crate) stopping: AtomicBool,
    /// The stop deadline passed: workers' socket calls fail at once.
    pub(crate) cut: AtomicBool,
    back_tx: Sender<Back>,
    waker: Waker,
    /// The loop is in (or about to enter) `poll` and must be woken for a hand-back. Set by the
    /// loop before its last look at `back_rx`, cleared by whoever wakes it; a fence on each
    /// side (store flag; fence; read channel — send; fence; swap flag) means a hand-back is
    /// either seen by that look or wakes the loop, so no hand-back waits for a timeout, and a
    /// busy loop is not woken once per response (`eventfd` writes were ~7% of the server's CPU).
    loop_asleep: AtomicBool,
}

impl Shared {
    /// Hands a connection back to the loop; if the loop is gone, the connection just closes.
    pub(crate) fn hand_back(&self, back: Back) {
        if self.back_tx.send(back).is_ok() {
            fence(SeqCst);
            if self.loop_asleep.swap(false, SeqCst) {
                let _ = self.waker.wake();
            }
        }
    }
}

thread_local! {
    /// Set on the loop thread while it opens a refused job to take its connection back.
    static RECLAIMING: Cell<bool> = const { Cell::new(false) };
    static RECLAIMED: RefCell<Option<Box<Conn>>> = const { RefCell::new(None) };
}

/// The pool job for one complete request: it owns the connection until it hands it back.
fn request_job(shared: Arc<Shared>, conn: Box<Conn>) -> Job {
    Job::new(move || {
        if RECLAIMING.get() {
            RECLAIMED.set(Some(conn));
        } else {
            serve(&shared, conn);
        }
    })
}

/// Takes the connection back out of a job the pool refused (on the loop thread).
fn reclaim(job: Job) -> Option<Box<Conn>> {
    RECLAIMING.set(true);
    let _ = job.run();
    RECLAIMING.set(false);
    RECLAIMED.take()
}

/// Where a connection is, as the loop sees it. A slot that holds a `Conn` (or a `Job` holding
/// one) is its only owner; `Busy` means a worker has it.
enum Slot {
    /// Its head is arriving (`fresh`: no request yet on this connection), since `since`.
    Reading {
        conn: Box<Conn>,
        since: Instant,
        fresh: bool,
    },
    /// Idle between requests since `since`.
    Idle { conn: Box<Conn>, since: Instant },
    /// A complete request waiting for room in the pool's queue until `deadline`.
    Waiting { job: Job, deadline: Instant },
    /// A worker owns it.
    Busy,
    /// Being closed: `out[at..]` still to write, then a half-close and a drain until `deadline`.
    Closing {
        conn: Box<Conn>,
        out: Vec<u8>,
        at: usize,
        deadline: Instant,
        shut: bool,
    },
}

/// A running server. [`Server::stop`] ends it (so does dropping it, with a 1 s deadline).
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Mutex<Option<JoinHandle<()>>>,
    done_rx: Receiver<()>,
    report: Mutex<Option<StopReport>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Why a server did not start.
#[derive(Debug)]
pub enum ServeError {
    /// Binding or setting up the loop failed.
    Io(io::Error),
    /// The pool was stopped before it could start.
    PoolShutDown,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Io(e) => write!(f, "{e}"),
            ServeError::PoolShutDown => f.write_str("the pool was stopped before it started"),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<io::Error> for ServeError {
    fn from(e: io::Error) -> Self {
        ServeError::Io(e)
    }
}

impl Server {
    /// Binds `addr` and serves with `handler` on `pool` (started here if it is not running).
    /// The pool should use [`pool_core::Policy::Reject`]: the loop asks it with `try_put` and
    /// answers 503 itself when no room comes within `config.queue_timeout`.
    pub fn bind(
        addr: SocketAddr,
        pool: Arc<dyn Pool>,
        handler: impl Handler,
        config: Config,
    ) -> Result<Server, ServeError> {
        match pool.start() {
            Ok(_) | Err(StartError::AlreadyStarted) => {}
            Err(StartError::ShutDown) => return Err(ServeError::PoolShutDown),
        }
        let mut listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (back_tx, back_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let shared = Arc::new(Shared {
            pool,
            handler: Box::new(handler),
            config,
            stats: Counters::default(),
            history: crate::stats_page::History::new(Instant::now()),
            stopping: AtomicBool::new(false),
            cut: AtomicBool::new(false),
            back_tx,
            waker,
            loop_asleep: AtomicBool::new(false),
        });
        let mut lp = Loop {
            poll,
            listener: Some(listener),
            slots: Slab::new(),
            shared: Arc::clone(&shared),
            back_rx,
            pending: VecDeque::new(),
            spare: Vec::new(),
            accept_paused_until: None,
            ready: Vec::new(),
            expired: Vec::new(),
            stop_begun: false,
            unread: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("pool-http-loop".into())
            .spawn(move || {
                lp.run();
                let _ = done_tx.send(());
            })?;
        Ok(Server {
            shared,
            addr,
            thread: Mutex::new(Some(thread)),
            done_rx,
            report: Mutex::new(None),
        })
    }

    /// The address the server listens on (the port chosen when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// A snapshot of the server's and the pool's figures.
    pub fn stats(&self) -> ServerStats {
        self.shared.stats.snapshot(self.shared.pool.stats())
    }

    /// Stops: no new connections; idle and half-read connections closed; requests in flight
    /// finish (answered `Connection: close`) until `timeout`, then their sockets fail and they
    /// are cut; then the pool is stopped. Idempotent: a second call returns the first report.
    pub fn stop(&self, timeout: Duration) -> StopReport {
        let mut slot = self.report.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = slot.as_ref() {
            return r.clone();
        }
        let deadline = Instant::now() + timeout;
        self.shared.stopping.store(true, Relaxed);
        let _ = self.shared.waker.wake();
        let drained = self.done_rx.recv_deadline(deadline).is_ok();
        if !drained {
            self.shared.cut.store(true, Relaxed);
            let _ = self.shared.waker.wake();
            let _ = self.done_rx.recv_timeout(Duration::from_secs(1));
        }
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let pool = self.shared.pool.stop(left.max(Duration::from_millis(200)));
        let stats = self.stats();
        let report = StopReport {
            served: stats.answered,
            closed_idle: stats.closed_at_stop,
            cut_at_deadline: stats.cut_at_stop,
            workers_still_running: pool.still_running,
            drained,
            stats,
        };
        *slot = Some(report.clone());
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

/// What [`Server::stop`] found.
#[derive(Clone, Debug)]
pub struct StopReport {
    /// Requests answered over the server's life.
    pub served: u64,
    /// Idle or half-read connections closed by the stop.
    pub closed_idle: u64,
    /// Requests cut because they were still running at the deadline.
    pub cut_at_deadline: u64,
    /// Pool workers still running after the deadline (a handler that does not return).
    pub workers_still_running: usize,
    /// Whether every connection was done before the deadline.
    pub drained: bool,
    /// The final figures.
    pub stats: ServerStats,
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stopped: {} requests served, {} idle connections closed, {} requests cut at the deadline, {} workers still running{}",
            self.served,
            self.closed_idle,
            self.cut_at_deadline,
            self.workers_still_running,
            if self.drained {
                ""
            } else {
                " (deadline reached)"
            }
        )?;
        write!(f, "{}", self.stats)
    }
}

struct Loop {
    poll: Poll,
    listener: Option<TcpListener>,
    slots: Slab<Slot>,
    shared: Arc<Shared>,
    back_rx: Receiver<Back>,
    /// Slots in `Waiting`, oldest first (they share one timeout, so deadlines are in order).
    pending: VecDeque<usize>,
    /// Read buffers of connections that went idle, for reuse.
    spare: Vec<Buf>,
    accept_paused_until: Option<Instant>,
    ready: Vec<usize>,
    expired: Vec<usize>,
    stop_begun: bool,
    /// By slot: the socket may hold bytes nobody has read while a worker owned the connection
    /// (a readiness edge came for it then, or the loop dispatched it without reading the socket
    /// dry). A keep-alive return reads the socket only then: otherwise that `read` is an
    /// `EAGAIN` per request. A stale `true` costs one read; `false` is only ever left where
    /// the last read came back short of its room and no edge arrived since.
    unread: Vec<bool>,
}

impl Loop {
    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let sweep_every = sweep_interval(&self.shared.config);
        let mut next_sweep = Instant::now() + sweep_every;
        let mut listener_ready = false;
        loop {
            let now = Instant::now();
            let mut timeout = next_sweep.saturating_duration_since(now);
            if !self.pending.is_empty() {
                timeout = timeout.min(ADMISSION_RETRY);
            }
            if let Some(t) = self.accept_paused_until {
                timeout = timeout.min(t.saturating_duration_since(now));
            }
            self.shared.loop_asleep.store(true, SeqCst);
            fence(SeqCst);
            if !self.back_rx.is_empty() {
                timeout = Duration::ZERO;
            }
            let polled = self.poll.poll(&mut events, Some(timeout));
            self.shared.loop_asleep.store(false, Relaxed);
            if let Err(e) = polled {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(target: "pool_http", "poll failed: {e}");
                    return;
                }
            }
            self.ready.clear();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => listener_ready = true,
                    WAKER => {}
                    Token(k) => self.ready.push(k),
                }
            }
            if self.shared.cut.load(Relaxed) {
                self.slots.clear();
                return;
            }
            if self.shared.stopping.load(Relaxed) && !self.stop_begun {
                self.begin_stop();
            }
            if listener_ready && self.accept_paused_until.is_none_or(|t| Instant::now() >= t) {
                self.accept_paused_until = None;
                listener_ready = self.accept_all();
            }
            for i in 0..self.ready.len() {
                let k = self.ready[i];
                self.on_ready(k);
            }
            while let Ok(back) = self.back_rx.try_recv() {
                self.on_back(back);
            }
            self.admit_pending();
            let now = Instant::now();
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + sweep_every;
            }
            if self.stop_begun && self.slots.is_empty() {
                self.publish();
                return;
            }
        }
    }

    /// Accepts until the listener would block; returns whether it must be retried later.
    fn accept_all(&mut self) -> bool {
        let Some(listener) = self.listener.as_ref() else {
            return false;
        };
        loop {
            match listener.accept() {
                Ok((mut sock, peer)) => {
                    let _ = sock.set_nodelay(true);
                    let entry = self.slots.vacant_entry();
                    let token = entry.key();
                    if let Err(e) = self.poll.registry().register(
                        &mut sock,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        tracing::warn!(target: "pool_http", "register failed: {e}");
                        continue;
                    }
                    self.shared.stats.accepted.fetch_add(1, Relaxed);
                    let conn = Box::new(Conn {
                        token,
                        // The registration stays with the descriptor (unix); the socket moves
                        // between owners as a plain std stream from here on.
                        sock: TcpStream::from(sock),
                        peer,
                        buf: Buf::default(),
                        head: None,
                        spans: Vec::new(),
                        out: Vec::new(),
                        extra: Vec::new(),
                        head_at: Instant::now(),
                        served: 0,
                    });
                    entry.insert(Slot::Reading {
                        conn,
                        since: Instant::now(),
                        fresh: true,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.shared.stats.accept_errors.fetch_add(1, Relaxed);
                    tracing::warn!(target: "pool_http", "accept failed: {e}; pausing");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return true;
                }
            }
        }
    }

    fn on_ready(&mut self, k: usize) {
        match self.slots.get(k) {
            Some(Slot::Reading { .. } | Slot::Idle { .. }) => self.read_head(k),
            Some(Slot::Closing { .. }) => self.progress_close(k),
            // Waiting / Busy: the owner reads; a keep-alive return reads what came meanwhile.
            Some(Slot::Waiting { .. } | Slot::Busy) => self.set_unread(k, true),
            None => {}
        }
    }

    fn on_back(&mut self, back: Back) {
        match back {
            Back::KeepAlive(conn) => {
                let k = conn.token;
                let now = Instant::now();
                if self.stop_begun {
                    self.shared.stats.closed_at_stop.fetch_add(1, Relaxed);
                    self.start_close(k, conn, Vec::new());
                    return;
                }
                let unread = self.unread.get(k).copied().unwrap_or(true);
                let buffered = conn.buf.end > 0;
                self.slots[k] = if buffered {
                    Slot::Reading {
                        conn,
                        since: now,
                        fresh: false,
                    }
                } else {
                    Slot::Idle { conn, since: now }
                };
                if buffered || unread {
                    self.read_head(k);
                } else if let Slot::Idle { conn, .. } = &mut self.slots[k] {
                    // Idle without a read: its buffer goes back to the spares, as read_head does.
                    if self.spare.len() < SPARE_BUFS && !conn.buf.data.is_empty() {
                        self.spare.push(std::mem::take(&mut conn.buf));
                    }
                }
            }
            Back::Close(conn) => {
                let k = conn.token;
                self.start_close(k, conn, Vec::new());
            }
        }
    }

    /// Parses what the connection holds and reads more until its head is complete or the
    /// socket would block.
    fn read_head(&mut self, k: usize) {
        let (mut conn, mut since, fresh) = match std::mem::replace(&mut self.slots[k], Slot::Busy) {
            Slot::Reading { conn, since, fresh } => (conn, since, fresh),
            Slot::Idle { conn, since } => (conn, since, false),
            other => {
                self.slots[k] = other;
                return;
            }
        };
        let limits = self.shared.config.limits;
        let cap = limits.max_header_bytes + limits.max_request_line + 4;
        // Whether the last read came back short of its room (the socket was read dry).
        let mut dry = false;
        loop {
            if conn.buf.end > 0 {
                let c = &mut *conn;
                match parse_head(&mut c.buf.data[..c.buf.end], &limits, &mut c.spans) {
                    Ok(Some(head)) => {
                        self.set_unread(k, !dry);
                        return self.dispatch(k, conn, head);
                    }
                    Ok(None) => {}
                    Err(r) => return self.refuse(k, conn, r.status, r.reason),
                }
            }
            if conn.buf.data.is_empty() {
                conn.buf = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Buf::with_capacity(INITIAL_BUF));
            }
            if !conn.buf.reserve(1024, cap) {
                return self.refuse(
                    k,
                    conn,
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "header block too large",
                );
            }
            let end = conn.buf.end;
            let had = end > 0;
            match (&conn.sock).read(&mut conn.buf.data[end..]) {
                Ok(0) => {
                    let c = if had {
                        &self.shared.stats.closed_mid_head
                    } else {
                        &self.shared.stats.closed_by_peer
                    };
                    c.fetch_add(1, Relaxed);
                    self.slots.remove(k);
                    return;
                }
                Ok(n) => {
                    if !had && !fresh {
                        since = Instant::now(); // the header timeout runs from the first byte
                    }
                    dry = n < conn.buf.data.len() - end;
                    conn.buf.end += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.shared.stats.closed_mid_head.fetch_add(1, Relaxed);
                    self.slots.remove(k);
                    return;
                }
            }
        }
        self.slots[k] = if conn.buf.end == 0 && !fresh {
            if self.spare.len() < SPARE_BUFS && !conn.buf.data.is_empty() {
                self.spare.push(std::mem::take(&mut conn.buf));
            }
            Slot::Idle { conn, since }
        } else {
            Slot::Reading { conn, since, fresh }
        };
    }

    fn set_unread(&mut self, k: usize, unread: bool) {
        if self.unread.len() <= k {
            self.unread.resize(k + 1, true);
        }
        self.unread[k] = unread;
    }

    fn dispatch(&mut self, k: usize, mut conn: Box<Conn>, head: Head) {
        self.shared.stats.received.fetch_add(1, Relaxed);
        conn.head_at = Instant::now();
        conn.head = Some(head);
        let job = request_job(Arc::clone(&self.shared), conn);
        if !self.pending.is_empty() {
            return self.wait_for_room(k, job);
        }
        match self.shared.pool.try_put(job) {
            Ok(_) => self.slots[k] = Slot::Busy,
            Err(PutError::Full(job)) => self.wait_for_room(k, job),
            Err(PutError::ShutDown(job)) => self.reject_503(k, job),
        }
    }

    fn wait_for_room(&mut self, k: usize, job: Job) {
        let deadline = Instant::now() + self.shared.config.queue_timeout;
        self.slots[k] = Slot::Waiting { job, deadline };
        self.pending.push_back(k);
    }

    /// Offers the waiting requests to the pool, oldest first; 503 for those out of time.
    fn admit_pending(&mut self) {
        while let Some(&k) = self.pending.front() {
            let Slot::Waiting { job, deadline } = std::mem::replace(&mut self.slots[k], Slot::Busy)
            else {
                self.pending.pop_front();
                continue;
            };
            match self.shared.pool.try_put(job) {
                Ok(_) => {
                    self.pending.pop_front();
                }
                Err(PutError::Full(job)) if Instant::now() < deadline => {
                    self.slots[k] = Slot::Waiting { job, deadline };
                    return;
                }
                Err(e) => {
                    self.pending.pop_front();
                    self.reject_503(k, e.into_inner());
                }
            }
        }
    }

    fn reject_503(&mut self, k: usize, job: Job) {
        let Some(conn) = reclaim(job) else {
            self.slots.remove(k);
            return;
        };
        self.shared.stats.rejected_503.fetch_add(1, Relaxed);
        tracing::info!(target: "pool_http::access", peer = %conn.peer, status = 503, "no room in the pool");
        let page = error_page(StatusCode::SERVICE_UNAVAILABLE, None);
        let mut out = Vec::with_capacity(256 + page.len());
        out.extend_from_slice(b"HTTP/1.1 503 Service Unavailable\r\nDate: ");
        crate::date::append_now(&mut out);
        out.extend_from_slice(
            format!(
                "\r\nRetry-After: {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                self.shared.config.retry_after,
                page.len()
            )
            .as_bytes(),
        );
        self.start_close(k, conn, out);
    }

    /// Answers a refused head with `status` and closes; no later byte is read as a request.
    fn refuse(&mut self, k: usize, conn: Box<Conn>, status: StatusCode, reason: &str) {
        self.shared.stats.refused(status.as_u16());
        tracing::info!(target: "pool_http::access", peer = %conn.peer, status = status.as_u16(), "refused: {reason}");
        let page = error_page(status, None);
        // A response to HEAD has no content (RFC 9110 §9.3.2), refusals included.
        let sent = &conn.buf.data[..conn.buf.end];
        let lines = sent
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let body = if sent[lines..].starts_with(b"HEAD ") {
            ""
        } else {
            page.as_str()
        };
        let mut out = Vec::with_capacity(256 + page.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\nDate: ",
                status.as_str(),
                status.canonical_reason().unwrap_or("Error")
            )
            .as_bytes(),
        );
        crate::date::append_now(&mut out);
        out.extend_from_slice(
            format!(
                "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                page.len()
            )
            .as_bytes(),
        );
        self.start_close(k, conn, out);
    }

    fn start_close(&mut self, k: usize, conn: Box<Conn>, out: Vec<u8>) {
        let deadline = Instant::now() + self.shared.config.linger;
        self.slots[k] = Slot::Closing {
            conn,
            out,
            at: 0,
            deadline,
            shut: false,
        };
        self.progress_close(k);
    }

    /// Writes what is left of a closing connection's last response, half-closes, and reads
    /// and drops what the client still sends until it closes (or the linger deadline).
    fn progress_close(&mut self, k: usize) {
        let Some(Slot::Closing {
            conn,
            out,
            at,
            shut,
            ..
        }) = self.slots.get_mut(k)
        else {
            return;
        };
        while *at < out.len() {
            match (&conn.sock).write(&out[*at..]) {
                Ok(0) => {
                    self.slots.remove(k);
                    return;
                }
                Ok(n) => *at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.slots.remove(k);
                    return;
                }
            }
        }
        if !*shut {
            *shut = true;
            let _ = conn.sock.flush();
            if conn.sock.shutdown(Shutdown::Write).is_err() {
                self.slots.remove(k);
                return;
            }
        }
        let mut scratch = [0u8; 4096];
        loop {
            match (&conn.sock).read(&mut scratch) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.slots.remove(k);
    }

    /// Timeouts (408, idle close, linger) and the gauges.
    fn sweep(&mut self, now: Instant) {
        let cfg = &self.shared.config;
        self.expired.clear();
        for (k, slot) in self.slots.iter() {
            let due = match slot {
                Slot::Reading { since, .. } => now.duration_since(*since) >= cfg.header_timeout,
                Slot::Idle { since, .. } => now.duration_since(*since) >= cfg.keep_alive_timeout,
                Slot::Closing { deadline, .. } => now >= *deadline,
                Slot::Waiting { .. } | Slot::Busy => false,
            };
            if due {
                self.expired.push(k);
            }
        }
        for i in 0..self.expired.len() {
            let k = self.expired[i];
            match self.slots.get(k) {
                Some(Slot::Reading { .. }) => {
                    let Slot::Reading { conn, .. } =
                        std::mem::replace(&mut self.slots[k], Slot::Busy)
                    else {
                        unreachable!("matched above")
                    };
                    self.refuse(
                        k,
                        conn,
                        StatusCode::REQUEST_TIMEOUT,
                        "head not received in time",
                    );
                }
                Some(Slot::Idle { .. }) => {
                    self.shared.stats.closed_idle.fetch_add(1, Relaxed);
                    self.slots.remove(k);
                }
                Some(Slot::Closing { .. }) => {
                    self.slots.remove(k);
                }
                _ => {}
            }
        }
        self.publish();
        if self.shared.config.stats_page {
            let snapshot = self.shared.stats.snapshot(self.shared.pool.stats());
            self.shared.history.tick(now, &snapshot);
        }
    }

    fn publish(&self) {
        let (mut idle, mut reading, mut waiting, mut busy) = (0, 0, 0, 0);
        for (_, s) in self.slots.iter() {
            match s {
                Slot::Idle { .. } => idle += 1,
                Slot::Reading { .. } => reading += 1,
                Slot::Waiting { .. } => waiting += 1,
                Slot::Busy => busy += 1,
                Slot::Closing { .. } => {}
            }
        }
        let st = &self.shared.stats;
        st.open.store(self.slots.len(), Relaxed);
        st.idle.store(idle, Relaxed);
        st.reading.store(reading, Relaxed);
        st.waiting.store(waiting, Relaxed);
        st.busy.store(busy, Relaxed);
    }

    fn begin_stop(&mut self) {
        self.stop_begun = true;
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let keys: Vec<usize> = self.slots.iter().map(|(k, _)| k).collect();
        for k in keys {
            match self.slots.get(k) {
                Some(Slot::Reading { .. } | Slot::Idle { .. }) => {
                    self.shared.stats.closed_at_stop.fetch_add(1, Relaxed);
                    self.slots.remove(k);
                }
                Some(Slot::Waiting { .. }) => {
                    let Slot::Waiting { job, .. } =
                        std::mem::replace(&mut self.slots[k], Slot::Busy)
                    else {
                        unreachable!("matched above")
                    };
                    self.reject_503(k, job);
                }
                _ => {}
            }
        }
        self.pending.clear();
    }
}

/// How often the loop looks for timeouts: an eighth of the shortest, within 5..=250 ms.
fn sweep_interval(cfg: &Config) -> Duration {
    let shortest = cfg
        .header_timeout
        .min(cfg.keep_alive_timeout)
        .min(cfg.linger);
    (shortest / 8).clamp(Duration::from_millis(5), Duration::from_millis(250))
}
