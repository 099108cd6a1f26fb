//! The hello-world servers of the HTTP section, each as its own users write it. Every one answers
//! any request with `200`, `Content-Type: text/plain` and the 13-byte body `Hello, world!`, keeps
//! connections alive, and listens on `127.0.0.1:0`.
//!
//! [`serve`] runs one in the calling process until its stdin closes; the harness runs each in a
//! child process (`report --serve NAME`) so that the server's CPU time and memory are its own.

use std::io::{self, BufRead as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The body every server sends.
pub const BODY: &[u8] = b"Hello, world!";

/// Worker threads of the blocking servers (tiny_http's `recv` threads, pool-http's pool
/// maximum) and of tokio's runtime for hyper.
pub const HYPER_WORKERS: usize = 2;
/// tiny_http: threads taking requests from its queue (its own connection threads are extra).
pub const TINY_HTTP_WORKERS: usize = 4;
/// pool-http: workers kept / most workers.
pub const POOL_HTTP_WORKERS: (usize, usize) = (2, 4);
/// Every server keeps idle connections at least this long (pool-http closes them at its
/// keep-alive timeout; the idle case needs them open for its whole measurement).
pub const KEEP_ALIVE: Duration = Duration::from_secs(300);

/// One server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServerKind {
    /// pool-http on pool-core's classic backend.
    PoolHttpClassic,
    /// pool-http on pool-core's fast backend.
    PoolHttpFast,
    /// pool-http on pool-iocp (the emulated completion port off Windows).
    PoolHttpIocp,
    /// tiny_http 0.12 with a pool of `recv` threads.
    TinyHttp,
    /// astra 0.4 (blocking, on hyper).
    Astra,
    /// hyper 1.x on a tokio runtime with two worker threads.
    Hyper,
}

impl ServerKind {
    /// Every server, workspace backends first.
    pub const ALL: [ServerKind; 6] = [
        ServerKind::PoolHttpClassic,
        ServerKind::PoolHttpFast,
        ServerKind::PoolHttpIocp,
        ServerKind::TinyHttp,
        ServerKind::Astra,
        ServerKind::Hyper,
    ];

    /// Its name in the report and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::PoolHttpClassic => "pool-http/classic",
            ServerKind::PoolHttpFast => "pool-http/fast",
            ServerKind::PoolHttpIocp => "pool-http/iocp",
            ServerKind::TinyHttp => "tiny_http",
            ServerKind::Astra => "astra",
            ServerKind::Hyper => "hyper",
        }
    }

    /// The server named `name`.
    pub fn from_name(name: &str) -> Option<ServerKind> {
        ServerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether it is one of this workspace's (the others are peers).
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            ServerKind::PoolHttpClassic | ServerKind::PoolHttpFast | ServerKind::PoolHttpIocp
        )
    }

    /// One line on how it is set up.
    pub fn about(self) -> String {
        let (min, max) = POOL_HTTP_WORKERS;
        match self {
            ServerKind::PoolHttpClassic | ServerKind::PoolHttpFast | ServerKind::PoolHttpIocp => {
                format!(
                    "pool-http: one mio loop thread owns idle and half-read connections; {min}..{max} pool workers answer"
                )
            }
            ServerKind::TinyHttp => format!(
                "tiny_http 0.12: its connection threads parse; {TINY_HTTP_WORKERS} threads take requests with `recv` and respond"
            ),
            ServerKind::Astra => {
                "astra 0.4: hyper's HTTP/1 on blocking worker threads (its defaults)".to_owned()
            }
            ServerKind::Hyper => format!(
                "hyper 1.x `http1::Builder` + tokio multi-thread runtime, {HYPER_WORKERS} worker threads"
            ),
        }
    }
}

/// Runs `kind` on `127.0.0.1:0`, prints `listening ADDR` on stdout, and serves until stdin
/// closes (or gives a line), then exits the process.
pub fn serve(kind: ServerKind) -> io::Result<()> {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let announce = |addr: SocketAddr| -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "listening {addr}")?;
        out.flush()
    };
    // The harness ends a server by closing its stdin; every server's own threads may still be
    // busy, so the process exits from here.
    let exit_on_stdin_close = || {
        std::thread::spawn(|| {
            let mut line = String::new();
            let _ = io::stdin().lock().read_line(&mut line);
            std::process::exit(0);
        });
    };
    match kind {
        ServerKind::PoolHttpClassic | ServerKind::PoolHttpFast | ServerKind::PoolHttpIocp => {
            let (min, max) = POOL_HTTP_WORKERS;
            let b = pool_core::Builder::new().min(min).max(max).capacity(1024);
            let pool: Arc<dyn pool_core::Pool> = match kind {
                ServerKind::PoolHttpClassic => Arc::new(b.classic().map_err(io::Error::other)?),
                ServerKind::PoolHttpFast => Arc::new(b.fast().map_err(io::Error::other)?),
                _ => Arc::new(
                    pool_iocp::IocpBuilder::from_builder(b)
                        .build()
                        .map_err(io::Error::other)?,
                ),
            };
            let config = pool_http::Config {
                keep_alive_timeout: KEEP_ALIVE,
                ..pool_http::Config::default()
            };
            let server = pool_http::Server::bind(any, pool, pool_http_hello, config)
                .map_err(io::Error::other)?;
            announce(server.local_addr())?;
            exit_on_stdin_close();
            loop {
                std::thread::park();
            }
        }
        ServerKind::TinyHttp => {
            let server = tiny_http::Server::http(any).map_err(io::Error::other)?;
            let addr = server
                .server_addr()
                .to_ip()
                .ok_or_else(|| io::Error::other("tiny_http bound no IP address"))?;
            let server = Arc::new(server);
            let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain"[..])
                .map_err(|()| io::Error::other("bad header"))?;
            for _ in 0..TINY_HTTP_WORKERS {
                let server = Arc::clone(&server);
                let header = header.clone();
                std::thread::spawn(move || {
                    for req in server.incoming_requests() {
                        let res = tiny_http::Response::from_data(BODY).with_header(header.clone());
                        let _ = req.respond(res);
                    }
                });
            }
            announce(addr)?;
            exit_on_stdin_close();
            loop {
                std::thread::park();
            }
        }
        ServerKind::Astra => {
            let server = astra::Server::bind(any);
            announce(server.local_addr()?)?;
            exit_on_stdin_close();
            server.serve(|_req: astra::Request, _info| {
                let mut res = astra::Response::new(astra::Body::new(BODY));
                res.headers_mut().insert(
                    "content-type",
                    hyper::header::HeaderValue::from_static("text/plain"),
                );
                res
            })
        }
        ServerKind::Hyper => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(HYPER_WORKERS)
                .enable_io()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(any).await?;
                announce(listener.local_addr()?)?;
                exit_on_stdin_close();
                loop {
                    let (sock, _) = listener.accept().await?;
                    let _ = sock.set_nodelay(true);
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(sock);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, hyper::service::service_fn(hyper_hello))
                            .await;
                    });
                }
            })
        }
    }
}

fn pool_http_hello(
    _req: &mut pool_http::Request<'_>,
    res: &mut pool_http::Response<'_>,
) -> Result<(), pool_http::HandlerError> {
    res.header("Content-Type", "text/plain")?;
    res.send(BODY)?;
    Ok(())
}

async fn hyper_hello(
    _req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<http_body_util::Full<&'static [u8]>>, std::convert::Infallible> {
    let mut res = hyper::Response::new(http_body_util::Full::new(BODY));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    Ok(res)
}
