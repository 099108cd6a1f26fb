//! Hello world on pool-http, for load tests: `cargo run --release -p pool-http --example hello
//! -- [classic|fast] [ADDR]` (default `fast 127.0.0.1:8081`). Stops on Enter and prints the
//! report.

use std::sync::Arc;
use std::time::Duration;

use pool_core::{Builder, Pool};
use pool_http::{Config, HandlerError, Request, Response, Server};

fn hello(_req: &mut Request<'_>, res: &mut Response<'_>) -> Result<(), HandlerError> {
    res.header("Content-Type", "text/plain")?;
    res.send(b"Hello, world!")?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "fast".into());
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8081".into())
        .parse()?;
    let b = Builder::new().min(2).max(4).capacity(1024);
    let pool: Arc<dyn Pool> = match backend.as_str() {
        "classic" => Arc::new(b.classic()?),
        "fast" => Arc::new(b.fast()?),
        other => return Err(format!("unknown backend {other:?} (classic or fast)").into()),
    };
    let server = Server::bind(addr, pool, hello, Config::default())?;
    eprintln!(
        "hello on http://{} ({backend}); Enter stops",
        server.local_addr()
    );
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    println!("{}", server.stop(Duration::from_secs(5)));
    Ok(())
}
