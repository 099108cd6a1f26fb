//! The HTTP section's table, chart and JSON records. A value is the median over the rounds,
//! except the counts of connections served and held, which are the worst round's (every
//! connection must be served in every run). Nothing here asserts anything about the numbers.

use std::fmt::Write as _;

use super::servers::ServerKind;
use super::{HttpResults, HttpRun};
use crate::stats::median;

/// The unit of a figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpUnit {
    /// Requests per second (of wall time or of the server's CPU time).
    PerSec,
    /// Nanoseconds.
    Nanos,
    /// Bytes.
    Bytes,
    /// A count of connections; the worst round is reported.
    Count,
}

/// One figure of the HTTP section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMetric {
    /// 64 connections: responses per second.
    Rate,
    /// 64 connections: median latency.
    P50,
    /// 64 connections: 99th percentile latency.
    P99,
    /// 64 connections: 99.9th percentile latency.
    P999,
    /// 64 connections: responses per second of the server's CPU time.
    PerCpu,
    /// 64 connections: connections that got responses (worst round).
    Served,
    /// Big idle: the fresh client's median latency.
    IdleP50,
    /// Big idle: the fresh client's 99th percentile latency.
    IdleP99,
    /// Big idle: server RSS with the idle connections open.
    IdleRss,
    /// Big idle: RSS added per idle connection.
    IdlePerConn,
    /// Big idle: idle connections still open at the end (worst round).
    IdleHeld,
}

impl HttpMetric {
    /// Every figure, in table order.
    pub const ALL: [HttpMetric; 11] = [
        HttpMetric::Rate,
        HttpMetric::P50,
        HttpMetric::P99,
        HttpMetric::P999,
        HttpMetric::PerCpu,
        HttpMetric::Served,
        HttpMetric::IdleP50,
        HttpMetric::IdleP99,
        HttpMetric::IdleRss,
        HttpMetric::IdlePerConn,
        HttpMetric::IdleHeld,
    ];

    /// The JSON `workload`.
    pub fn id(self) -> &'static str {
        match self {
            HttpMetric::Rate => "http-c64",
            HttpMetric::P50 => "http-c64-p50",
            HttpMetric::P99 => "http-c64-p99",
            HttpMetric::P999 => "http-c64-p999",
            HttpMetric::PerCpu => "http-c64-per-cpu-s",
            HttpMetric::Served => "http-c64-served",
            HttpMetric::IdleP50 => "http-idle10k-p50",
            HttpMetric::IdleP99 => "http-idle10k",
            HttpMetric::IdleRss => "http-idle10k-rss",
            HttpMetric::IdlePerConn => "http-idle10k-per-conn",
            HttpMetric::IdleHeld => "http-idle10k-held",
        }
    }

    /// A column heading.
    pub fn title(self) -> &'static str {
        match self {
            HttpMetric::Rate => "req/s",
            HttpMetric::P50 => "p50",
            HttpMetric::P99 => "p99",
            HttpMetric::P999 => "p99.9",
            HttpMetric::PerCpu => "req per server CPU-s",
            HttpMetric::Served => "connections served",
            HttpMetric::IdleP50 => "idle: fresh p50",
            HttpMetric::IdleP99 => "idle: fresh p99",
            HttpMetric::IdleRss => "idle: server RSS",
            HttpMetric::IdlePerConn => "idle: RSS per connection",
            HttpMetric::IdleHeld => "idle: connections held",
        }
    }

    /// Its unit.
    pub fn unit(self) -> HttpUnit {
        match self {
            HttpMetric::Rate | HttpMetric::PerCpu => HttpUnit::PerSec,
            HttpMetric::P50
            | HttpMetric::P99
            | HttpMetric::P999
            | HttpMetric::IdleP50
            | HttpMetric::IdleP99 => HttpUnit::Nanos,
            HttpMetric::IdleRss | HttpMetric::IdlePerConn => HttpUnit::Bytes,
            HttpMetric::Served | HttpMetric::IdleHeld => HttpUnit::Count,
        }
    }

    /// Whether more is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self.unit(), HttpUnit::PerSec | HttpUnit::Count)
    }

    fn of(self, run: &HttpRun) -> Result<f64, String> {
        let load = || run.load.as_ref().map_err(Clone::clone);
        let idle = || run.idle.as_ref().map_err(Clone::clone);
        Ok(match self {
            HttpMetric::Rate => load()?.rate,
            HttpMetric::P50 => load()?.p50,
            HttpMetric::P99 => load()?.p99,
            HttpMetric::P999 => load()?.p999,
            HttpMetric::PerCpu => load()?.per_cpu_s,
            HttpMetric::Served => load()?.served as f64,
            HttpMetric::IdleP50 => idle()?.p50,
            HttpMetric::IdleP99 => idle()?.p99,
            HttpMetric::IdleRss => idle()?.rss_with as f64,
            HttpMetric::IdlePerConn => idle()?.per_connection(),
            HttpMetric::IdleHeld => idle()?.held as f64,
        })
    }
}

impl HttpResults {
    fn runs_of(&self, s: ServerKind) -> impl Iterator<Item = &HttpRun> {
        self.runs.iter().filter(move |r| r.server == s)
    }

    /// Each round's value of `m` for `s`.
    pub fn values(&self, m: HttpMetric, s: ServerKind) -> Vec<f64> {
        self.runs_of(s)
            .filter_map(|r| m.of(r).ok())
            .filter(|v| !v.is_nan())
            .collect()
    }

    /// The reported value: the median over the rounds, the minimum for counts.
    pub fn value(&self, m: HttpMetric, s: ServerKind) -> Option<f64> {
        let v = self.values(m, s);
        if m.unit() == HttpUnit::Count {
            v.into_iter().reduce(f64::min)
        } else {
            median(&v)
        }
    }

    /// Why a round of `s` produced no value of `m` (the last such reason).
    pub fn error(&self, m: HttpMetric, s: ServerKind) -> Option<String> {
        self.runs_of(s).filter_map(|r| m.of(r).err()).last()
    }

    /// How many times better `a` did than `b` on `m` (> 1: better, either direction).
    pub fn ratio(&self, m: HttpMetric, a: ServerKind, b: ServerKind) -> Option<f64> {
        let (x, y) = (self.value(m, a)?, self.value(m, b)?);
        let (num, den) = if m.higher_is_better() { (x, y) } else { (y, x) };
        (den > 0.0).then(|| num / den)
    }

    /// Whether any round of `s` left a connection of the 64 without a response.
    pub fn starved(&self, s: ServerKind) -> Option<(usize, usize)> {
        self.runs_of(s)
            .filter_map(|r| r.load.as_ref().ok())
            .filter(|l| l.served < l.connections)
            .map(|l| (l.served, l.connections))
            .min()
    }

    fn peers(&self) -> impl Iterator<Item = ServerKind> + '_ {
        self.servers.iter().copied().filter(|s| !s.is_ours())
    }
}

/// A value in its unit, human-sized.
pub fn format_value(unit: HttpUnit, v: f64) -> String {
    match unit {
        HttpUnit::PerSec => crate::report::format_value(crate::workloads::Unit::JobsPerSec, v),
        HttpUnit::Nanos => crate::report::format_value(crate::workloads::Unit::Nanos, v),
        HttpUnit::Bytes if v >= 1024.0 * 1024.0 => format!("{:.1} MiB", v / (1024.0 * 1024.0)),
        HttpUnit::Bytes if v >= 1024.0 => format!("{:.2} KiB", v / 1024.0),
        HttpUnit::Bytes => format!("{v:.0} B"),
        HttpUnit::Count => format!("{v:.0}"),
    }
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"))
}

fn cell(r: &HttpResults, m: HttpMetric, s: ServerKind) -> String {
    match (r.value(m, s), r.error(m, s)) {
        (Some(v), _) if m == HttpMetric::Served => {
            let of = r.params.load.connections;
            match r.starved(s) {
                Some((n, c)) => format!("**STARVED: {n} of {c}**"),
                None => format!("{v:.0} of {of}"),
            }
        }
        (Some(v), _) if m == HttpMetric::IdleHeld => {
            let opened = r
                .runs_of(s)
                .filter_map(|x| x.idle.as_ref().ok())
                .map(|i| i.opened)
                .min()
                .unwrap_or(0);
            let lost: usize = r
                .runs_of(s)
                .filter_map(|x| x.idle.as_ref().ok())
                .map(|i| i.unanswered)
                .max()
                .unwrap_or(0);
            let wanted = r.params.idle_connections;
            let mut c = if (v as usize) < opened {
                format!("**{v:.0} of {opened}**")
            } else {
                format!("{v:.0} of {opened}")
            };
            if opened < wanted || lost > 0 {
                let _ = write!(
                    c,
                    " (**{lost} never answered**; {opened} of {wanted} opened)"
                );
            }
            c
        }
        (Some(v), _) => format_value(m.unit(), v),
        (None, Some(_)) => "failed (below)".to_owned(),
        (None, None) => "—".to_owned(),
    }
}

/// Each distinct reason a server's case failed, once: `(server, case, reason)`.
fn failures(r: &HttpResults) -> Vec<(ServerKind, &'static str, String)> {
    let mut out: Vec<(ServerKind, &'static str, String)> = Vec::new();
    for run in &r.runs {
        for (case, e) in [
            ("64 connections", run.load.as_ref().err()),
            ("big idle", run.idle.as_ref().err()),
        ] {
            if let Some(e) = e {
                let item = (run.server, case, e.replace('|', "/"));
                if !out.contains(&item) {
                    out.push(item);
                }
            }
        }
    }
    out
}

/// The bar of issue 15 for one of our servers, as lines of the report.
fn bar(r: &HttpResults, s: ServerKind) -> Vec<String> {
    let mut lines = Vec::new();
    let check = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    let vs = |m: HttpMetric, peer: ServerKind| r.ratio(m, s, peer);
    let ratio_line = |m: HttpMetric, peer: ServerKind, want: f64, label: &str| {
        let got = vs(m, peer);
        format!(
            "{label}: {} (want ≥ {want}×) — {}",
            ratio(got),
            check(got.map(|g| g >= want))
        )
    };
    if r.servers.contains(&ServerKind::TinyHttp) {
        lines.push(ratio_line(
            HttpMetric::Rate,
            ServerKind::TinyHttp,
            1.5,
            "req/s vs tiny_http",
        ));
    }
    if r.servers.contains(&ServerKind::Astra) {
        let got = vs(HttpMetric::Rate, ServerKind::Astra);
        lines.push(format!(
            "req/s vs astra: {} (want > 1×) — {}",
            ratio(got),
            check(got.map(|g| g > 1.0))
        ));
    }
    if r.servers.contains(&ServerKind::Hyper) {
        lines.push(ratio_line(
            HttpMetric::Rate,
            ServerKind::Hyper,
            0.9,
            "req/s vs hyper",
        ));
        lines.push(ratio_line(
            HttpMetric::PerCpu,
            ServerKind::Hyper,
            1.0,
            "req per CPU-s vs hyper",
        ));
    }
    let every = r
        .runs_of(s)
        .all(|x| x.load.as_ref().is_ok_and(|l| l.served == l.connections));
    lines.push(format!(
        "every connection served in every run — {}",
        check(Some(every))
    ));
    let p99 = r.value(HttpMetric::IdleP99, s);
    lines.push(format!(
        "idle: fresh client's p99 {} (want < 10 ms) — {}",
        p99.map_or("—".into(), |v| format_value(HttpUnit::Nanos, v)),
        check(p99.map(|v| v < 10e6))
    ));
    let per = r.value(HttpMetric::IdlePerConn, s);
    lines.push(format!(
        "idle: {} per connection (want < 2 KiB) — {}",
        per.map_or("—".into(), |v| format_value(HttpUnit::Bytes, v)),
        check(per.map(|v| v < 2048.0))
    ));
    lines
}

/// The HTTP section of `docs/benchmarks.md`.
pub fn markdown(r: &HttpResults) -> String {
    let p = &r.params;
    let mut md = String::new();
    let _ = writeln!(md, "## HTTP servers (hello world)\n");
    let _ = writeln!(
        md,
        "Every server answers any request with a 13-byte `Hello, world!`, keep-alive, on \
         127.0.0.1, each in its own process (started and stopped by the report, one at a time, \
         on the machine above). The load client (in `benches`, sharing the cores with the \
         server) keeps {} connections on {} threads with one request outstanding each, for {:.1} \
         s after a {:.1} s warm-up; CPU time is the server process's (`/proc/<pid>/stat`). The \
         big-idle case opens {} keep-alive connections (each answered once, then idle), then a \
         fresh connection times {} requests; RSS is the server's with the idle connections open, \
         per connection over the RSS before them. {}. Values: the median over {} round(s); \
         \"connections served\" and \"held\" are the worst round's.\n",
        p.load.connections,
        p.load.threads,
        p.load.duration.as_secs_f64(),
        p.warm.duration.as_secs_f64(),
        p.idle_connections,
        p.fresh_requests,
        r.nofile,
        p.runs
    );
    let _ = writeln!(md, "![HTTP bar chart](benchmarks-http.svg)\n");
    let _ = writeln!(md, "| server | setup |\n|---|---|");
    for s in &r.servers {
        let _ = writeln!(md, "| {} | {} |", s.name(), s.about());
    }
    md.push('\n');
    let _ = write!(md, "| server |");
    for m in HttpMetric::ALL {
        let _ = write!(md, " {} |", m.title());
    }
    let _ = write!(md, "\n|---|");
    for _ in HttpMetric::ALL {
        md.push_str("---:|");
    }
    md.push('\n');
    for &s in &r.servers {
        let name = if s.is_ours() {
            format!("**{}**", s.name())
        } else {
            s.name().to_owned()
        };
        let _ = write!(md, "| {name} |");
        for m in HttpMetric::ALL {
            let _ = write!(md, " {} |", cell(r, m, s));
        }
        md.push('\n');
    }
    md.push('\n');
    let failed = failures(r);
    if !failed.is_empty() {
        let _ = writeln!(md, "Failures:\n");
        for (s, case, e) in failed {
            let _ = writeln!(md, "- {}, {case}: {e}", s.name());
        }
        md.push('\n');
    }
    let key = [
        HttpMetric::Rate,
        HttpMetric::PerCpu,
        HttpMetric::P99,
        HttpMetric::IdleP99,
        HttpMetric::IdlePerConn,
    ];
    let peers: Vec<ServerKind> = r.peers().collect();
    let _ = writeln!(
        md,
        "Ratios to every peer (> 1: this server did better — more per second, or less time or \
         memory):\n"
    );
    let _ = write!(md, "| server |");
    for m in key {
        for p in &peers {
            let _ = write!(md, " {} vs {} |", m.title(), p.name());
        }
    }
    let _ = write!(md, "\n|---|");
    for _ in 0..key.len() * peers.len() {
        md.push_str("---:|");
    }
    md.push('\n');
    for &s in &r.servers {
        let _ = write!(md, "| {} |", s.name());
        for m in key {
            for &p in &peers {
                let c = if p == s {
                    "·".to_owned()
                } else {
                    ratio(r.ratio(m, s, p))
                };
                let _ = write!(md, " {c} |");
            }
        }
        md.push('\n');
    }
    md.push('\n');
    let _ = writeln!(md, "### The bar (issue 15), from this run\n");
    for &s in r.servers.iter().filter(|s| s.is_ours()) {
        let _ = writeln!(md, "- **{}**:", s.name());
        for l in bar(r, s) {
            let _ = writeln!(md, "  - {l}");
        }
    }
    md.push('\n');
    md
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `docs/benchmarks-http.svg`: one panel per key figure, one bar per server.
pub fn svg(r: &HttpResults, machine: &str) -> String {
    const PANEL_W: usize = 470;
    const GAP: usize = 20;
    const LABEL_W: usize = 130;
    const BAR_W: usize = 230;
    const ROW_H: usize = 16;
    const HEAD_H: usize = 54;
    let panels = [
        HttpMetric::Rate,
        HttpMetric::PerCpu,
        HttpMetric::P99,
        HttpMetric::IdleP99,
        HttpMetric::IdlePerConn,
        HttpMetric::Served,
    ];
    let panel_h = 26 + r.servers.len() * ROW_H + 12;
    let width = 2 * PANEL_W + 3 * GAP;
    let height = HEAD_H + panels.len().div_ceil(2) * (panel_h + GAP);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{GAP}" y="22" font-size="15" font-weight="bold">HTTP hello world: pool-http and its peers</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="{GAP}" y="40" fill="#444">{}</text>"##,
        xml_escape(&format!(
            "{machine}. {} connections; idle case {} connections. Blue: pool-http; grey: peers; red: starved.",
            r.params.load.connections, r.params.idle_connections
        ))
    );
    for (i, m) in panels.into_iter().enumerate() {
        let x0 = GAP + (i % 2) * (PANEL_W + GAP);
        let y0 = HEAD_H + (i / 2) * (panel_h + GAP);
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{panel_h}" fill="#f7f7f7" stroke="#dddddd"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{} ({})</text>"#,
            x0 + 8,
            y0 + 17,
            xml_escape(m.title()),
            if m.higher_is_better() {
                "higher is better"
            } else {
                "lower is better"
            }
        );
        let max = r
            .servers
            .iter()
            .filter_map(|&sv| r.value(m, sv))
            .fold(0.0_f64, f64::max);
        for (j, &sv) in r.servers.iter().enumerate() {
            let y = y0 + 26 + j * ROW_H;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x0 + LABEL_W - 6,
                y + 11,
                xml_escape(sv.name())
            );
            let Some(v) = r.value(m, sv) else {
                let _ = writeln!(
                    s,
                    r##"<text x="{}" y="{}" fill="#999">no value</text>"##,
                    x0 + LABEL_W,
                    y + 11
                );
                continue;
            };
            let w = if max > 0.0 {
                (v / max * BAR_W as f64).max(1.0)
            } else {
                1.0
            };
            let fill = if r.starved(sv).is_some() && m == HttpMetric::Served {
                "#c53030"
            } else if sv.is_ours() {
                "#2b6cb0"
            } else {
                "#a0aec0"
            };
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{}" width="{w:.1}" height="{}" fill="{fill}"/>"#,
                x0 + LABEL_W,
                y + 2,
                ROW_H - 4
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}">{}</text>"#,
                (x0 + LABEL_W) as f64 + w + 4.0,
                y + 11,
                xml_escape(&format_value(m.unit(), v))
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn json_number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.1}"),
        _ => "null".to_owned(),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One JSON record per (figure, server), in the shape of the report's other records:
/// `workload`, `backend`, `kind`, `value` with its `unit`, the rounds' values and `ratio_to`
/// each peer.
pub fn json_records(r: &HttpResults) -> Vec<String> {
    let mut out = Vec::new();
    for m in HttpMetric::ALL {
        for &s in &r.servers {
            let ratios: Vec<String> = r
                .peers()
                .filter(|&p| p != s)
                .map(|p| {
                    format!(
                        "{}: {}",
                        json_string(p.name()),
                        json_number(r.ratio(m, s, p))
                    )
                })
                .collect();
            let unit = match m.unit() {
                HttpUnit::PerSec => "per_s",
                HttpUnit::Nanos => "ns",
                HttpUnit::Bytes => "bytes",
                HttpUnit::Count => "connections",
            };
            let runs: Vec<String> = r
                .values(m, s)
                .into_iter()
                .map(|v| json_number(Some(v)))
                .collect();
            out.push(format!(
                "    {{\"workload\": {}, \"title\": {}, \"backend\": {}, \"kind\": \"{}\", \"value\": {}, \"unit\": \"{unit}\", \"higher_is_better\": {}, \"run_values\": [{}], \"ratio_to\": {{{}}}, \"starved\": {}, \"error\": {}}}",
                json_string(m.id()),
                json_string(m.title()),
                json_string(s.name()),
                if s.is_ours() { "backend" } else { "peer" },
                json_number(r.value(m, s)),
                m.higher_is_better(),
                runs.join(", "),
                ratios.join(", "),
                r.starved(s).is_some(),
                r.error(m, s).map_or_else(|| "null".to_owned(), |e| json_string(&e)),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::harness::{IdleFigures, LoadFigures};
    use super::super::{HttpParams, HttpRun};
    use super::*;

    fn results() -> HttpResults {
        let mut runs = Vec::new();
        for s in ServerKind::ALL {
            // Each server's scale, fixed here so the figures below do not depend on ALL's order.
            let scale = match s {
                ServerKind::PoolHttpClassic => 1.0,
                ServerKind::PoolHttpFast => 2.0,
                ServerKind::TinyHttp => 3.0,
                ServerKind::Astra => 4.0,
                ServerKind::Hyper => 5.0,
                ServerKind::PoolHttpIocp => 6.0,
            };
            for round in 0..3 {
                let f = scale * (round + 1) as f64;
                runs.push(HttpRun {
                    server: s,
                    round,
                    load: Ok(LoadFigures {
                        rate: 1000.0 * f,
                        p50: 10_000.0,
                        p99: 100_000.0 / f,
                        p999: 1e6,
                        per_cpu_s: 500.0 * f,
                        cpu_s: 1.0,
                        // tiny_http starves 60 connections in its second round.
                        served: if s == ServerKind::TinyHttp && round == 1 {
                            4
                        } else {
                            64
                        },
                        connections: 64,
                        errors: 0,
                    }),
                    idle: if s == ServerKind::Astra {
                        Err("only 10 idle | connections".into())
                    } else {
                        Ok(IdleFigures {
                            wanted: 100,
                            opened: 100,
                            held: 100,
                            unanswered: 0,
                            p50: 1e5,
                            p99: 1e6,
                            fresh_ok: 10,
                            rss_before: 1 << 20,
                            rss_with: (1 << 20) + 100 * 1000,
                        })
                    },
                });
            }
        }
        HttpResults {
            params: HttpParams::quick(),
            runs,
            servers: ServerKind::ALL.to_vec(),
            nofile: "RLIMIT_NOFILE raised to the hard limit, 20000".into(),
        }
    }

    #[test]
    fn medians_ratios_and_the_worst_rounds_count() {
        let r = results();
        let fast = ServerKind::PoolHttpFast; // scale 2: rates 2000, 4000, 6000
        assert_eq!(r.value(HttpMetric::Rate, fast), Some(4000.0));
        assert_eq!(r.value(HttpMetric::Rate, ServerKind::Hyper), Some(10_000.0));
        assert_eq!(
            r.ratio(HttpMetric::Rate, fast, ServerKind::Hyper),
            Some(0.4)
        );
        // Latency: lower is better, so the ratio is the peer's time over ours.
        assert_eq!(r.ratio(HttpMetric::P99, fast, ServerKind::Hyper), Some(0.4));
        assert_eq!(r.value(HttpMetric::Served, ServerKind::TinyHttp), Some(4.0));
        assert_eq!(r.starved(ServerKind::TinyHttp), Some((4, 64)));
        assert_eq!(r.starved(fast), None);
        assert_eq!(r.value(HttpMetric::IdlePerConn, fast), Some(1000.0));
        assert_eq!(r.value(HttpMetric::IdleP99, ServerKind::Astra), None);
    }

    #[test]
    fn renderings_mark_starvation_failures_and_the_bar() {
        let r = results();
        let md = markdown(&r);
        assert!(md.contains("**STARVED: 4 of 64**"), "{md}");
        assert!(md.contains("| failed (below) |"), "{md}");
        assert_eq!(
            md.matches("- astra, big idle: only 10 idle / connections")
                .count(),
            1,
            "each reason once: {md}"
        );
        assert!(md.contains("RLIMIT_NOFILE raised"));
        // fast: 4000 req/s against tiny_http's 6000 (scale 3): 0.67×, not the 1.5× wanted.
        assert!(
            md.contains("req/s vs tiny_http: 0.67× (want ≥ 1.5×) — **not met**"),
            "{md}"
        );
        assert!(
            md.contains("idle: 1000 B per connection (want < 2 KiB) — met"),
            "{md}"
        );
        for s in ServerKind::ALL {
            assert!(md.contains(s.name()));
        }
        let svg = svg(&r, "Test CPU");
        assert!(svg.ends_with("</svg>\n") && svg.contains("#c53030"));
        let recs = json_records(&r);
        assert_eq!(recs.len(), HttpMetric::ALL.len() * ServerKind::ALL.len());
        assert!(recs.iter().any(|j| j.contains("\"workload\": \"http-c64\"")
            && j.contains("\"backend\": \"tiny_http\"")
            && j.contains("\"starved\": true")));
        assert!(
            recs.iter()
                .any(|j| j.contains("\"workload\": \"http-idle10k\""))
        );
    }
}
