//! One request on a worker: the handler, its failure path (500, or a close once the head was
//! sent), the body left unread, and the hand-back of the connection to the loop.

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering::Relaxed;

use http::StatusCode;

use crate::chunked::ChunkError;
use crate::conn::{Conn, Io};
use crate::parse::Head;
use crate::request::{Body, BodyFailure, Request};
use crate::response::Response;
use crate::server::{Back, Shared};

/// Unread body bytes a worker reads and drops to keep a connection alive; more and it closes.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Serves the request at the front of `conn` and hands the connection back to the loop.
pub(crate) fn serve(shared: &Shared, mut conn: Box<Conn>) {
    let Some(head) = conn.head.take() else {
        debug_assert!(false, "a dispatched connection carries its head");
        return;
    };
    let keep = exchange(shared, &mut conn, &head);
    let back = if keep {
        Back::KeepAlive(conn)
    } else {
        Back::Close(conn)
    };
    shared.hand_back(back);
}

/// Whether the connection stays open.
fn exchange(shared: &Shared, conn: &mut Conn, head: &Head) -> bool {
    let cfg = &shared.config;
    let stats = &shared.stats;
    let io = Io::new(&conn.sock, &shared.cut, cfg.io_timeout);
    let head_sent = Cell::new(false);
    let (bytes, rest) = conn.buf.data.split_at_mut(head.len);
    let rest_end = conn.buf.end - head.len;
    let body = Body::new(
        &io,
        rest,
        rest_end,
        head.framing,
        head.expect_continue,
        &head_sent,
        cfg.limits.max_body_bytes,
    );
    let is_head = &bytes[head.method.clone()] == b"HEAD";
    let mut req = Request::new(bytes, head, &conn.spans, conn.peer, body);
    let keep_alive = head.keep_alive && !shared.stopping.load(Relaxed);
    let mut res = Response::new(
        &io,
        &mut conn.out,
        &mut conn.extra,
        &head_sent,
        &shared.stopping,
        is_head,
        head.minor,
        keep_alive,
    );
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        crate::stats_page::serve(shared, &req, &mut res)
            .unwrap_or_else(|| shared.handler.handle(&mut req, &mut res))
    }));
    let failure: Option<String> = match outcome {
        Ok(Ok(())) => res.finish().err().map(|e| e.to_string()),
        Ok(Err(e)) => Some(e.to_string()),
        Err(panic) => Some(
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_owned()),
        ),
    };
    let method = req.method().clone();
    let target = if tracing::enabled!(target: "pool_http::access", tracing::Level::INFO) {
        req.target().to_owned()
    } else {
        String::new()
    };
    let mut body = req.into_body();
    let mut status = res.status();
    let mut keep = res.keeps_alive();
    let answered = match failure {
        None if res.is_done() => true,
        None => false,
        Some(why) if !head_sent.get() && !res.broken && !shared.cut.load(Relaxed) => {
            // Nothing reached the client: answer for the handler, and close.
            let (code, page_why) = match body.failure {
                Some(BodyFailure::Framing(ChunkError::TooLarge)) => {
                    (StatusCode::PAYLOAD_TOO_LARGE, why)
                }
                Some(BodyFailure::Framing(_) | BodyFailure::Short) => {
                    (StatusCode::BAD_REQUEST, why)
                }
                _ => (StatusCode::INTERNAL_SERVER_ERROR, why),
            };
            tracing::warn!(target: "pool_http", peer = %conn.peer, %method, status = code.as_u16(), "handler failed: {page_why}");
            status = code;
            let mut res = Response::new(
                &io,
                &mut conn.out,
                &mut conn.extra,
                &head_sent,
                &shared.stopping,
                is_head,
                head.minor,
                false,
            );
            res.set_status(code);
            let _ = res.header("Content-Type", "text/html; charset=utf-8");
            let page = error_page(code, cfg.debug_errors.then_some(page_why.as_str()));
            keep = false;
            if res.send(page.as_bytes()).is_ok() {
                stats.answered_error.fetch_add(1, Relaxed);
                true
            } else {
                false
            }
        }
        Some(why) => {
            tracing::warn!(target: "pool_http", peer = %conn.peer, %method, "response cut: {why}");
            keep = false;
            false
        }
    };
    if answered {
        stats.answered.fetch_add(1, Relaxed);
        stats.latency(conn.head_at.elapsed());
    } else {
        stats.cut.fetch_add(1, Relaxed);
        if shared.cut.load(Relaxed) {
            stats.cut_at_stop.fetch_add(1, Relaxed);
        }
        keep = false;
    }
    tracing::info!(
        target: "pool_http::access",
        peer = %conn.peer,
        %method,
        target = %target,
        status = status.as_u16(),
        micros = conn.head_at.elapsed().as_micros() as u64,
        answered,
        "request"
    );
    if keep && !body.is_complete() {
        keep = body.drain(DRAIN_LIMIT);
    }
    let (from, to) = body.leftover();
    if keep && io.restore().is_err() {
        keep = false;
    }
    // Keep the pipelined bytes after the body at the front of the buffer.
    let at = head.len;
    conn.buf.data.copy_within(at + from..at + to, 0);
    conn.buf.end = to - from;
    conn.served += 1;
    keep && !shared.stopping.load(Relaxed)
}

/// The generic page for a status the server answers itself; `detail` only with
/// `--debug-errors`.
pub(crate) fn error_page(code: StatusCode, detail: Option<&str>) -> String {
    let reason = code.canonical_reason().unwrap_or("Error");
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><title>{} {reason}</title></head><body><h1>{} {reason}</h1>",
        code.as_u16(),
        code.as_u16()
    );
    if let Some(d) = detail {
        page.push_str("<pre>");
        for c in d.chars() {
            match c {
                '<' => page.push_str("&lt;"),
                '>' => page.push_str("&gt;"),
                '&' => page.push_str("&amp;"),
                '"' => page.push_str("&quot;"),
                c => {
                    let _ = page.write_char(c);
                }
            }
        }
        page.push_str("</pre>");
    }
    page.push_str("</body></html>\n");
    page
}
