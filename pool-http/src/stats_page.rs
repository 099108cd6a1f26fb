//! The live stats page: `GET /_stats` (HTML) and `GET /_stats.json` (the same figures), answered
//! by the server itself before the handler when [`crate::Config::stats_page`] is on (the binary's
//! default; `--no-stats` turns it off).
//!
//! The page shows counters and gauges only — never a request's target, headers, body or peer.
//! Its figures are rendered into the HTML (it reads without script) and refreshed every second
//! by a few lines of inline script that fetch `/_stats.json`; the chart of the last minute is an
//! inline SVG polyline. Nothing is fetched from anywhere else.
//!
//! The history behind the chart and the requests/s figure is a ring of one sample a second,
//! pushed by the server's loop ([`History::tick`], from its sweep).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::request::Request;
use crate::response::Response;
use crate::stats::{LATENCY_BUCKETS, ServerStats};

/// The HTML page's path.
pub const STATS_PATH: &str = "/_stats";
/// The JSON figures' path.
pub const STATS_JSON_PATH: &str = "/_stats.json";
/// Samples kept: one a second for the last minute (61 points make 60 intervals).
const SAMPLES: usize = 61;
/// The interval between samples.
const EVERY: Duration = Duration::from_secs(1);

/// One second's sample.
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    /// Requests answered so far (cumulative).
    answered: u64,
    /// Requests per second over the interval ending here.
    rate: f64,
    /// Open connections at the sample.
    open: usize,
    /// The cumulative latency histogram at the sample (see `Counters::latency_us`).
    latency_us: [u64; LATENCY_BUCKETS],
}

/// The last minute of samples. Invariant: `samples` is in time order, at most [`SAMPLES`] long,
/// consecutive samples at least [`EVERY`] apart.
pub(crate) struct History {
    started: Instant,
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub(crate) fn new(now: Instant) -> History {
        History {
            started: now,
            samples: Mutex::new(VecDeque::with_capacity(SAMPLES)),
        }
    }

    /// Takes a sample of `s` if the last one is at least a second old (the loop calls this from
    /// every sweep, several times a second).
    pub(crate) fn tick(&self, now: Instant, s: &ServerStats) {
        let mut q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let rate = match q.back() {
            Some(last) if now.duration_since(last.at) < EVERY => return,
            Some(last) => {
                s.answered.saturating_sub(last.answered) as f64
                    / now.duration_since(last.at).as_secs_f64()
            }
            None => 0.0,
        };
        if q.len() == SAMPLES {
            q.pop_front();
        }
        let mut latency_us = [0; LATENCY_BUCKETS];
        for (d, v) in latency_us.iter_mut().zip(&s.latency_us) {
            *d = *v;
        }
        q.push_back(Sample {
            at: now,
            answered: s.answered,
            rate,
            open: s.open,
            latency_us,
        });
    }

    fn view(&self, now: Instant, s: &ServerStats) -> View {
        let q = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        // The latency of the last minute: now's histogram minus the oldest sample's.
        let mut window = s.latency_us.clone();
        if let Some(first) = q.front() {
            for (w, old) in window.iter_mut().zip(first.latency_us) {
                *w = w.saturating_sub(old);
            }
        }
        View {
            uptime_s: now.duration_since(self.started).as_secs_f64(),
            rate: q.back().map_or(0.0, |x| x.rate),
            rates: q.iter().map(|x| x.rate).collect(),
            opens: q.iter().map(|x| x.open).collect(),
            latency_window: window,
        }
    }
}

/// What the page and the JSON show, besides the snapshot itself.
struct View {
    uptime_s: f64,
    rate: f64,
    rates: Vec<f64>,
    opens: Vec<usize>,
    latency_window: Vec<u64>,
}

/// The upper bound (µs) of the bucket below which `q` of the histogram's counts fall.
fn quantile_us(hist: &[u64], q: f64) -> Option<u64> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let want = ((total as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (i, n) in hist.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some(1u64 << (i + 1));
        }
    }
    None
}

/// Every figure, as (JSON path, value) in page order; the HTML and the JSON are both built from
/// this list, so they cannot disagree.
fn figures(s: &ServerStats, v: &View) -> Vec<(&'static str, Figure)> {
    use Figure::{Float, Int, Missing};
    let p = &s.pool;
    let lat = |q| quantile_us(&v.latency_window, q).map_or(Missing, Int);
    vec![
        ("pool.workers", Int(p.workers as u64)),
        ("pool.idle", Int(p.idle as u64)),
        ("pool.busy", Int(p.busy as u64)),
        // pool_core::Stats does not count workers being started.
        ("pool.starting", Missing),
        ("pool.backlog", Int(p.queued as u64)),
        ("pool.completed", Int(p.completed)),
        ("pool.panicked", Int(p.panicked)),
        ("pool.rejected", Int(p.rejected)),
        ("http.rejected_503", Int(s.rejected_503)),
        ("http.open", Int(s.open as u64)),
        ("http.idle", Int(s.idle as u64)),
        ("http.reading", Int(s.reading as u64)),
        ("http.waiting", Int(s.waiting as u64)),
        ("http.busy", Int(s.busy as u64)),
        ("http.accepted", Int(s.accepted)),
        ("http.received", Int(s.received)),
        ("http.answered", Int(s.answered)),
        ("http.cut", Int(s.cut)),
        ("http.requests_per_s", Float(v.rate)),
        ("http.latency_p50_us", lat(0.5)),
        ("http.latency_p99_us", lat(0.99)),
        ("http.latency_p999_us", lat(0.999)),
        ("uptime_s", Float(v.uptime_s)),
    ]
}

#[derive(Clone, Copy)]
enum Figure {
    Int(u64),
    Float(f64),
    /// Not measured (JSON `null`, shown as `n/a`).
    Missing,
}

impl Figure {
    fn json(self) -> String {
        match self {
            Figure::Int(n) => n.to_string(),
            Figure::Float(x) if x.is_finite() => format!("{x:.1}"),
            Figure::Float(_) | Figure::Missing => "null".into(),
        }
    }

    /// As the page shows it (the script writes the JSON value the same way: `String(v)`, with
    /// `null` as `n/a`).
    fn text(self) -> String {
        match self {
            Figure::Missing => "n/a".into(),
            f => f.json(),
        }
    }
}

/// `/_stats.json`: `{"pool": {...}, "http": {...}, "uptime_s": .., "history": {...}}`.
fn json(s: &ServerStats, v: &View) -> String {
    let figs = figures(s, v);
    let mut out = String::from("{");
    for group in ["pool", "http"] {
        let _ = write!(out, "\"{group}\": {{");
        let items: Vec<String> = figs
            .iter()
            .filter_map(|(k, f)| {
                let name = k.strip_prefix(group)?.strip_prefix('.')?;
                Some(format!("\"{name}\": {}", f.json()))
            })
            .collect();
        out.push_str(&items.join(", "));
        out.push_str("}, ");
    }
    for (k, f) in figs.iter().filter(|(k, _)| !k.contains('.')) {
        let _ = write!(out, "\"{k}\": {}, ", f.json());
    }
    let rates: Vec<String> = v.rates.iter().map(|r| format!("{r:.1}")).collect();
    let opens: Vec<String> = v.opens.iter().map(ToString::to_string).collect();
    let _ = write!(
        out,
        "\"history\": {{\"interval_s\": {}, \"requests_per_s\": [{}], \"open\": [{}]}}}}",
        EVERY.as_secs(),
        rates.join(", "),
        opens.join(", ")
    );
    out
}

/// The polyline points of `values` in a `W`×`H` box, newest on the right.
fn points(values: &[f64]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let max = values.iter().copied().fold(1.0_f64, f64::max);
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = W - (values.len() - 1 - i) as f64 * (W / (SAMPLES - 1) as f64);
            format!("{x:.1},{:.1}", H - v / max * (H - 4.0))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The script: every second, fetch the JSON, write each figure into the element whose
/// `data-k` names its path, and redraw the chart.
const SCRIPT: &str = r#"
const W = 600, H = 120, N = 61;
function pts(vs) {
  const max = Math.max(1, ...vs);
  return vs.map((v, i) => ((W - (vs.length - 1 - i) * (W / (N - 1))).toFixed(1)) + ',' +
    ((H - v / max * (H - 4)).toFixed(1))).join(' ');
}
async function refresh() {
  try {
    const j = await (await fetch('/_stats.json', {cache: 'no-store'})).json();
    for (const el of document.querySelectorAll('[data-k]')) {
      const v = el.dataset.k.split('.').reduce((o, k) => (o == null ? o : o[k]), j);
      el.textContent = v == null ? 'n/a' : (Number.isInteger(v) ? String(v) : v.toFixed(1));
    }
    document.getElementById('rate-line').setAttribute('points', pts(j.history.requests_per_s));
    document.getElementById('open-line').setAttribute('points', pts(j.history.open));
    const r = document.getElementById('refreshes');
    r.textContent = String(Number(r.textContent) + 1);
  } catch (e) {
    document.getElementById('status').textContent = 'refresh failed: ' + e;
  }
}
refresh();
setInterval(refresh, 1000);
"#;

/// `/_stats`: the figures in two tables, the chart, and the script.
fn html(s: &ServerStats, v: &View) -> String {
    let figs = figures(s, v);
    let mut h = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pool-http stats</title>\
         <style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;\
         margin-bottom:1em}td,th{padding:2px 10px;text-align:left}td.v{text-align:right;\
         font-variant-numeric:tabular-nums}svg{background:#f7f7f7;border:1px solid #ddd}</style>\
         </head><body><h1>pool-http</h1>\n",
    );
    for (group, title) in [("pool", "Pool"), ("http", "HTTP")] {
        let _ = write!(h, "<h2>{title}</h2><table>");
        for (k, f) in figs.iter().filter(|(k, _)| k.starts_with(group)) {
            let label = k[group.len() + 1..].replace('_', " ");
            let _ = write!(
                h,
                "<tr><th>{label}</th><td class=\"v\" data-k=\"{k}\">{}</td></tr>",
                f.text()
            );
        }
        h.push_str("</table>\n");
    }
    let rates = points(&v.rates);
    let opens: Vec<f64> = v.opens.iter().map(|&o| o as f64).collect();
    let _ = writeln!(
        h,
        "<h2>Last minute</h2><svg id=\"chart\" width=\"600\" height=\"120\" viewBox=\"0 0 600 120\">\
         <polyline id=\"rate-line\" fill=\"none\" stroke=\"#2b6cb0\" stroke-width=\"2\" points=\"{rates}\"/>\
         <polyline id=\"open-line\" fill=\"none\" stroke=\"#dd6b20\" stroke-width=\"1\" points=\"{}\"/></svg>\
         <p><span style=\"color:#2b6cb0\">requests/s</span> and <span style=\"color:#dd6b20\">open \
         connections</span>, each scaled to its own maximum. Latency percentiles are bucket upper \
         bounds over the last minute. Up <span data-k=\"uptime_s\">{}</span> s; refreshed \
         <span id=\"refreshes\">0</span> times. <span id=\"status\"></span></p>",
        points(&opens),
        Figure::Float(v.uptime_s).text()
    );
    let _ = writeln!(h, "<script>{SCRIPT}</script></body></html>");
    h
}

/// Answers `req` if it asks for the stats page and the page is on; `None` hands it to the
/// handler.
pub(crate) fn serve(
    shared: &crate::server::Shared,
    req: &Request<'_>,
    res: &mut Response<'_>,
) -> Option<Result<(), crate::HandlerError>> {
    if !shared.config.stats_page {
        return None;
    }
    let json_wanted = match req.path() {
        STATS_PATH => false,
        STATS_JSON_PATH => true,
        _ => return None,
    };
    Some((|| {
        if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
            res.set_status(http::StatusCode::METHOD_NOT_ALLOWED);
            res.header("Allow", "GET, HEAD")?;
            res.send(b"")?;
            return Ok(());
        }
        let now = Instant::now();
        let s = shared.stats.snapshot(shared.pool.stats());
        let v = shared.history.view(now, &s);
        res.header("Cache-Control", "no-store")?;
        if json_wanted {
            res.header("Content-Type", "application/json")?;
            res.send(json(&s, &v).as_bytes())?;
        } else {
            res.header("Content-Type", "text/html; charset=utf-8")?;
            res.send(html(&s, &v).as_bytes())?;
        }
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(answered: u64, open: usize) -> ServerStats {
        let mut latency_us = vec![0; LATENCY_BUCKETS];
        latency_us[3] = answered; // every response in [8, 16) µs
        ServerStats {
            accepted: 1,
            accept_errors: 0,
            open,
            idle: 0,
            reading: 0,
            waiting: 0,
            busy: 0,
            received: answered,
            answered,
            answered_error: 0,
            cut: 0,
            cut_at_stop: 0,
            rejected_503: 0,
            refused: vec![],
            closed_idle: 0,
            closed_by_peer: 0,
            closed_mid_head: 0,
            closed_at_stop: 0,
            latency_us,
            pool: pool_core::Stats::default(),
        }
    }

    #[test]
    fn history_samples_once_a_second_and_keeps_a_minute() {
        let t0 = Instant::now();
        let h = History::new(t0);
        h.tick(t0, &stats(0, 1));
        h.tick(t0 + Duration::from_millis(500), &stats(50, 1)); // too soon: dropped
        h.tick(t0 + Duration::from_secs(1), &stats(100, 2));
        let v = h.view(t0 + Duration::from_secs(1), &stats(100, 2));
        assert_eq!(v.rates, vec![0.0, 100.0]);
        assert_eq!(v.opens, vec![1, 2]);
        for i in 2..100 {
            h.tick(t0 + Duration::from_secs(i), &stats(100 * i, 2));
        }
        let v = h.view(t0 + Duration::from_secs(99), &stats(9900, 2));
        assert_eq!(v.rates.len(), SAMPLES);
        assert_eq!(v.rate, 100.0);
        // The window's histogram: responses since the oldest kept sample (t = 39 s).
        assert_eq!(v.latency_window[3], 9900 - 3900);
        assert_eq!(quantile_us(&v.latency_window, 0.99), Some(16));
    }

    #[test]
    fn the_json_and_the_page_carry_the_same_figures() {
        let t0 = Instant::now();
        let h = History::new(t0);
        h.tick(t0, &stats(7, 3));
        let s = stats(7, 3);
        let v = h.view(t0, &s);
        let j = json(&s, &v);
        let page = html(&s, &v);
        assert!(
            j.starts_with("{\"pool\": {\"workers\": 0,") && j.ends_with("]}}"),
            "{j}"
        );
        assert!(
            j.contains("\"starting\": null") && j.contains("\"answered\": 7"),
            "{j}"
        );
        for (k, f) in figures(&s, &v) {
            let cell = format!("data-k=\"{k}\">{}<", f.text());
            assert!(page.contains(&cell), "{cell} not in the page");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing external"
        );
    }
}
