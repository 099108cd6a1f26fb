//! The report's results and their three renderings: Markdown tables, an SVG bar chart and JSON
//! records. Nothing here asserts anything about the numbers.
//!
//! A ratio is a speed-up, the same way round for every metric: `ratio_to[peer] > 1` means this
//! subject did better than `peer` (its jobs/s ÷ the peer's, or the peer's time ÷ its time).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::machine::Machine;
use crate::stats::median;
use crate::subject::{Factory, Kind};
use crate::waiter::Waiter;
use crate::workloads::{Metric, Unit};

/// What one (metric, subject) cell measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// The median of each run's repetitions, one per run that produced a value.
    pub run_medians: Vec<f64>,
    /// Why a run produced no value (the last such reason), if one did not.
    pub error: Option<String>,
}

/// Everything the report knows.
#[derive(Clone, Debug)]
pub struct Results {
    /// `"quick"` or `"full"`.
    pub mode: &'static str,
    /// Runs over every cell.
    pub runs: usize,
    /// Repetitions per cell per run.
    pub reps: usize,
    /// The host.
    pub machine: Machine,
    /// Every subject, in report order.
    pub subjects: Vec<Factory>,
    /// By metric, then subject name.
    pub cells: BTreeMap<(Metric, &'static str), Cell>,
    /// W5's floor: the CPU time the report's own process, with no pool, used in one window.
    pub idle_baseline_ns: Option<f64>,
}

/// One-line definition of the ratios, repeated in each rendering.
pub const RATIO_DEFINITION: &str = "ratio_to[peer] > 1 means this subject did better than the \
    peer: its jobs/s divided by the peer's, or the peer's time divided by its own";

impl Results {
    /// The reported value: the median of the run medians.
    pub fn value(&self, metric: Metric, subject: &str) -> Option<f64> {
        self.cells
            .get(&(metric, subject_key(&self.subjects, subject)?))
            .and_then(|c| median(&c.run_medians))
    }

    /// How many times better `this` did than `peer` on `metric` (see the module doc); infinite
    /// when `this` used no time and the peer some, `None` when either value is missing or both
    /// are zero-divided.
    pub fn ratio(&self, metric: Metric, this: &str, peer: &str) -> Option<f64> {
        let (a, b) = (self.value(metric, this)?, self.value(metric, peer)?);
        let (num, den) = if metric.unit().higher_is_better() {
            (a, b)
        } else {
            (b, a)
        };
        match (num == 0.0, den == 0.0) {
            (true, true) => Some(1.0),
            (false, true) => Some(f64::INFINITY),
            _ => Some(num / den),
        }
    }

    fn peers(&self) -> impl Iterator<Item = &Factory> {
        self.subjects.iter().filter(|f| f.kind == Kind::Peer)
    }

    /// The subjects `metric` measures, in report order: all but the waiter variants, which
    /// only the groups that [`crate::workloads::Group::waits`] measure.
    fn measured(&self, metric: Metric) -> impl Iterator<Item = &Factory> {
        self.subjects
            .iter()
            .filter(move |f| f.measures(metric.group()))
    }

    fn error(&self, metric: Metric, subject: &'static str) -> Option<&str> {
        self.cells.get(&(metric, subject))?.error.as_deref()
    }
}

fn subject_key(subjects: &[Factory], name: &str) -> Option<&'static str> {
    subjects.iter().find(|f| f.name == name).map(|f| f.name)
}

/// A value in its unit, human-sized (`1.23 M/s`, `12.3 µs`).
pub fn format_value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::JobsPerSec if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
        Unit::JobsPerSec if v >= 1e3 => format!("{:.0} k/s", v / 1e3),
        Unit::JobsPerSec => format!("{v:.0} /s"),
        Unit::Nanos if v < 1e3 => format!("{v:.0} ns"),
        Unit::Nanos if v < 1e6 => format!("{:.1} µs", v / 1e3),
        Unit::Nanos if v < 1e9 => format!("{:.2} ms", v / 1e6),
        Unit::Nanos => format!("{:.2} s", v / 1e9),
        Unit::Count => format!("{v:.0}"),
    }
}

fn format_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_infinite() => "∞".to_owned(),
        Some(r) => format!("{r:.2}×"),
        None => "—".to_owned(),
    }
}

fn better(unit: Unit) -> &'static str {
    if unit.higher_is_better() {
        "higher is better"
    } else {
        "lower is better"
    }
}

/// What the report says about W2's waiters, before listing them.
pub const W2_WAITERS: &str = "W2 times a round trip: submit one empty job and wait until it \
    has run. How the caller waits is part of that time, so each subject waits the way its users \
    wait for a result (the \"waits on\" column): a fire-and-forget pool (crossbeam-channel, \
    condvar, threadpool, rayon-core's `spawn`) through a `crossbeam_channel::bounded(1)` made per \
    round trip, which the job sends on and the caller `recv`s; tokio and smol through the handle \
    their spawn call returns; our backends through their `JobHandle`, and again (the \
    \"(channel)\" rows) through `execute` and the same channel as the peers, so that rows with \
    the same waiter compare pools, not waiters. The other workloads wait once per burst, on one \
    countdown shared by every subject that stamps when the last job finished; there the \
    \"(channel)\" rows would be `classic` and `fast` again and are left out. The waiters:";

/// `docs/benchmarks.md`.
pub fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let m = &r.machine;
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "<!-- Written by `cargo run --release -p benches --bin report`; do not edit by hand. -->\n"
    );
    let how = if r.runs > 1 {
        format!(
            "the median of {} runs' medians, each over {} repetitions",
            r.runs, r.reps
        )
    } else {
        format!("the median of {} repetitions", r.reps)
    };
    let _ = writeln!(
        md,
        "Mode: **{}**. Each value is {how}, each (workload, subject) measured in a fresh process \
         after one untimed warm-up run. A burst of jobs (W1, W3, W6) is timed from the first \
         submitter's first submission to the moment the burst's last job finished, as that job noted \
         it. These are measurements on one machine, not claims: \
         small differences are noise, and on a VM whose idle cores halt a cross-core wakeup costs \
         10–25 µs.\n",
        r.mode
    );
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| CPU | {} |", m.cpu_model);
    let _ = writeln!(
        md,
        "| cores | {} available ({} listed in /proc/cpuinfo) |",
        m.cores, m.cpus_listed
    );
    let _ = writeln!(md, "| OS | {} |", m.os);
    let _ = writeln!(md, "| kernel | {} |", m.kernel);
    let _ = writeln!(md, "| rustc | {} |", m.rustc);
    let _ = writeln!(md, "| date | {} |\n", m.date);
    let _ = writeln!(md, "## Subjects\n");
    let _ = writeln!(
        md,
        "| subject | kind | W2 waits on | what |\n|---|---|---|---|"
    );
    for f in &r.subjects {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            f.name,
            f.kind.as_str(),
            f.waiter,
            f.about
        );
    }
    let _ = writeln!(
        md,
        "\nJobs are handed to each subject as a closure of a concrete type through its ordinary \
         submission call, so each allocates as it does for its users. W4's \"grow to 64\" starts \
         64 threads up front in the subjects that cannot grow.\n"
    );
    let _ = writeln!(md, "{W2_WAITERS}\n");
    let mut waiters: Vec<Waiter> = Vec::new();
    for f in &r.subjects {
        if !waiters.contains(&f.waiter) {
            waiters.push(f.waiter);
        }
    }
    for w in waiters {
        let _ = writeln!(md, "- **{w}**: {}.", w.about());
    }
    md.push('\n');
    let _ = writeln!(md, "## Reading the tables\n");
    let _ = writeln!(
        md,
        "\"vs P\" is a speed-up: {RATIO_DEFINITION}. ∞: this subject used no time where P used \
         some; —: a value is missing.\n"
    );
    let _ = writeln!(md, "![bar chart of the tables below](benchmarks.svg)\n");
    let peers: Vec<&Factory> = r.peers().collect();
    for metric in Metric::ALL {
        let unit = metric.unit();
        let _ = writeln!(md, "## {} ({})\n", metric.title(), better(unit));
        if let (Metric::W5IdleCpu, Some(floor)) = (metric, r.idle_baseline_ns) {
            let _ = writeln!(
                md,
                "Floor: a process with no pool measured {} in the same window.\n",
                format_value(Unit::Nanos, floor)
            );
        }
        let waits = metric.group().waits();
        let _ = write!(
            md,
            "| subject |{} median |",
            if waits { " waits on |" } else { "" }
        );
        for p in &peers {
            let _ = write!(md, " vs {} |", p.name);
        }
        let _ = write!(md, "\n|---|{}---:|", if waits { "---|" } else { "" });
        for _ in &peers {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for f in r.measured(metric) {
            let name = match f.kind {
                Kind::Backend => format!("**{}**", f.name),
                Kind::Peer => f.name.to_owned(),
            };
            let value = match (r.value(metric, f.name), r.error(metric, f.name)) {
                (Some(v), _) => format_value(unit, v),
                (None, Some(e)) => format!("failed: {}", e.replace('|', "/")),
                (None, None) => "—".to_owned(),
            };
            let _ = write!(md, "| {name} |");
            if waits {
                let _ = write!(md, " {} |", f.waiter);
            }
            let _ = write!(md, " {value} |");
            for p in &peers {
                let cell = if p.name == f.name {
                    "·".to_owned()
                } else {
                    format_ratio(r.ratio(metric, f.name, p.name))
                };
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
        md.push('\n');
    }
    md
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `docs/benchmarks.svg`: one panel per metric, one bar per subject, bars scaled to the panel's
/// largest value; backends in blue, peers in grey.
pub fn svg(r: &Results) -> String {
    const COLS: usize = 2;
    const PANEL_W: usize = 470;
    const GAP: usize = 20;
    const LABEL_W: usize = 130;
    const BAR_W: usize = 230;
    const ROW_H: usize = 16;
    const HEAD_H: usize = 54;
    let rows_per_panel = Metric::ALL
        .into_iter()
        .map(|m| r.measured(m).count())
        .max()
        .unwrap_or(0);
    let panel_h = 26 + rows_per_panel * ROW_H + 12;
    let panels = Metric::ALL.len();
    let width = COLS * PANEL_W + (COLS + 1) * GAP;
    let height = HEAD_H + panels.div_ceil(COLS) * (panel_h + GAP);
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
        r#"<text x="{GAP}" y="22" font-size="15" font-weight="bold">Thread-pool benchmarks ({} mode)</text>"#,
        r.mode
    );
    let m = &r.machine;
    let _ = writeln!(
        s,
        r##"<text x="{GAP}" y="40" fill="#444">{}</text>"##,
        xml_escape(&format!(
            "{}, {} cores, kernel {}, {}, {}. Blue: this workspace's backends; grey: peers.",
            m.cpu_model, m.cores, m.kernel, m.rustc, m.date
        ))
    );
    for (i, metric) in Metric::ALL.into_iter().enumerate() {
        let x0 = GAP + (i % COLS) * (PANEL_W + GAP);
        let y0 = HEAD_H + (i / COLS) * (panel_h + GAP);
        let unit = metric.unit();
        let _ = writeln!(
            s,
            r##"<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{panel_h}" fill="#f7f7f7" stroke="#dddddd"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{} ({})</text>"#,
            x0 + 8,
            y0 + 17,
            xml_escape(metric.short()),
            better(unit)
        );
        let max = r
            .measured(metric)
            .filter_map(|f| r.value(metric, f.name))
            .fold(0.0_f64, f64::max);
        for (j, f) in r.measured(metric).enumerate() {
            let y = y0 + 26 + j * ROW_H;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                x0 + LABEL_W - 6,
                y + 11,
                xml_escape(f.name)
            );
            let Some(v) = r.value(metric, f.name) else {
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
            let fill = match f.kind {
                Kind::Backend => "#2b6cb0",
                Kind::Peer => "#a0aec0",
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
                xml_escape(&format_value(unit, v))
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "null".to_owned(),
    }
}

/// `target/bench-report.json`: the run's context and one record per (metric, subject measured in
/// it), with `median_ns` or `jobs_per_s`, `waiter` in W2's records, and `ratio_to` mapping each
/// peer to a ratio (`null` where undefined or infinite).
pub fn json(r: &Results) -> String {
    json_with(r, &[])
}

/// [`json`] with `extra` records (already rendered, e.g. the HTTP section's) after the pools'.
pub fn json_with(r: &Results, extra: &[String]) -> String {
    let m = &r.machine;
    let mut j = String::new();
    j.push_str("{\n");
    let _ = writeln!(j, "  \"generator\": \"benches --bin report\",");
    let _ = writeln!(j, "  \"mode\": {},", json_string(r.mode));
    let _ = writeln!(j, "  \"runs\": {},", r.runs);
    let _ = writeln!(j, "  \"repetitions\": {},", r.reps);
    let _ = writeln!(
        j,
        "  \"machine\": {{\"cores\": {}, \"cpus_listed\": {}, \"cpu_model\": {}, \"os\": {}, \"kernel\": {}, \"rustc\": {}, \"date\": {}}},",
        m.cores,
        m.cpus_listed,
        json_string(&m.cpu_model),
        json_string(&m.os),
        json_string(&m.kernel),
        json_string(&m.rustc),
        json_string(&m.date)
    );
    let _ = writeln!(
        j,
        "  \"w5_idle_baseline_ns\": {},",
        json_number(r.idle_baseline_ns, 1)
    );
    let _ = writeln!(
        j,
        "  \"ratio_definition\": {},",
        json_string(RATIO_DEFINITION)
    );
    j.push_str("  \"records\": [\n");
    let mut records = Vec::new();
    for metric in Metric::ALL {
        let unit = metric.unit();
        for f in r.measured(metric) {
            let cell = r.cells.get(&(metric, f.name));
            let value_key = match unit {
                Unit::JobsPerSec => "jobs_per_s",
                Unit::Nanos => "median_ns",
                Unit::Count => "median_count",
            };
            let runs: Vec<String> = cell
                .map(|c| {
                    c.run_medians
                        .iter()
                        .map(|v| json_number(Some(*v), 1))
                        .collect()
                })
                .unwrap_or_default();
            let ratios: Vec<String> = r
                .peers()
                .filter(|p| p.name != f.name)
                .map(|p| {
                    format!(
                        "{}: {}",
                        json_string(p.name),
                        json_number(r.ratio(metric, f.name, p.name), 4)
                    )
                })
                .collect();
            let error = cell
                .and_then(|c| c.error.as_deref())
                .map_or_else(|| "null".to_owned(), json_string);
            // Only where the waiter is part of the measurement.
            let waiter = if metric.group().waits() {
                format!(", \"waiter\": {}", json_string(f.waiter.as_str()))
            } else {
                String::new()
            };
            records.push(format!(
                "    {{\"workload\": {}, \"title\": {}, \"backend\": {}, \"kind\": \"{}\"{waiter}, \"{value_key}\": {}, \"higher_is_better\": {}, \"run_medians\": [{}], \"ratio_to\": {{{}}}, \"error\": {error}}}",
                json_string(metric.id()),
                json_string(metric.title()),
                json_string(f.name),
                f.kind.as_str(),
                json_number(r.value(metric, f.name), 1),
                unit.higher_is_better(),
                runs.join(", "),
                ratios.join(", "),
            ));
        }
    }
    records.extend_from_slice(extra);
    j.push_str(&records.join(",\n"));
    j.push_str("\n  ]\n}\n");
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects;

    fn results() -> Results {
        let subjects = subjects();
        let mut cells = BTreeMap::new();
        for (i, f) in subjects.iter().enumerate() {
            let v = 1000.0 * (i + 1) as f64;
            for metric in Metric::ALL {
                cells.insert(
                    (metric, f.name),
                    Cell {
                        run_medians: vec![v, v * 2.0, v / 2.0],
                        error: None,
                    },
                );
            }
        }
        let first_peer = subjects
            .iter()
            .find(|f| f.kind == Kind::Peer)
            .expect("a peer")
            .name;
        cells.insert(
            (Metric::W5IdleCpu, first_peer),
            Cell {
                run_medians: vec![],
                error: Some("timed out | twice".to_owned()),
            },
        );
        Results {
            mode: "quick",
            runs: 3,
            reps: 3,
            machine: Machine {
                cores: 2,
                cpus_listed: 2,
                cpu_model: "Test <CPU> \"x\"".to_owned(),
                os: "linux x86_64".to_owned(),
                kernel: "6.1".to_owned(),
                rustc: "rustc 1.95.0".to_owned(),
                date: "2026-01-01 00:00 UTC".to_owned(),
            },
            subjects,
            cells,
            idle_baseline_ns: Some(25_000.0),
        }
    }

    #[test]
    fn ratios_are_speedups_both_ways_round() {
        let r = results();
        let (a, b) = (r.subjects[0].name, r.subjects[1].name);
        // a's values are half of b's: half the throughput, half the time.
        assert_eq!(r.ratio(Metric::W1Throughput, a, b), Some(0.5));
        assert_eq!(r.ratio(Metric::W6Mix, a, b), Some(2.0));
        assert_eq!(r.value(Metric::W6Mix, a), Some(1000.0));
    }

    #[test]
    fn renderings_mention_every_subject_and_metric() {
        let r = results();
        let md = markdown(&r);
        let svg = svg(&r);
        let json = json(&r);
        for f in &r.subjects {
            assert!(md.contains(f.name) && svg.contains(f.name) && json.contains(f.name));
        }
        for m in Metric::ALL {
            assert!(md.contains(m.title()) && json.contains(m.id()));
        }
        assert!(md.contains("failed: timed out / twice"));
        assert!(
            md.contains("no pool measured 25.0 µs")
                && json.contains("\"w5_idle_baseline_ns\": 25000.0")
        );
        assert!(svg.contains("Test &lt;CPU&gt; &quot;x&quot;") && svg.ends_with("</svg>\n"));
        assert!(json.contains(r#""cpu_model": "Test <CPU> \"x\"""#));
        let measured: usize = Metric::ALL.iter().map(|m| r.measured(*m).count()).sum();
        assert_eq!(json.matches("\"workload\"").count(), measured);
    }

    #[test]
    fn waiter_variants_are_shown_in_w2_only_with_their_waiter() {
        let r = results();
        let variant = r
            .subjects
            .iter()
            .find(|f| f.variant_of.is_some())
            .expect("a waiter variant");
        let md = markdown(&r);
        let table = |m: Metric| {
            let from = md.find(&format!("## {}", m.title())).expect("a table");
            let to = md[from + 3..]
                .find("\n## ")
                .map_or(md.len(), |i| from + 3 + i);
            md[from..to].to_owned()
        };
        assert!(md.contains(W2_WAITERS));
        for f in &r.subjects {
            assert!(md.contains(f.waiter.about()), "{}", f.waiter);
        }
        let w2 = table(Metric::W2P50);
        assert!(w2.contains("| waits on |"), "{w2}");
        assert!(
            w2.contains(&format!("| **{}** | {} |", variant.name, variant.waiter)),
            "{w2}"
        );
        for f in &r.subjects {
            let row = match f.kind {
                Kind::Backend => format!("| **{}** | {} |", f.name, f.waiter),
                Kind::Peer => format!("| {} | {} |", f.name, f.waiter),
            };
            assert!(w2.contains(&row), "{row}: {w2}");
        }
        let w1 = table(Metric::W1Throughput);
        assert!(
            !w1.contains(variant.name) && !w1.contains("waits on"),
            "{w1}"
        );
        let json = json(&r);
        let records: Vec<&str> = json
            .lines()
            .filter(|l| l.contains("\"workload\""))
            .collect();
        for l in &records {
            let is_w2 = l.contains("\"w2_latency_");
            assert_eq!(l.contains("\"waiter\""), is_w2, "{l}");
            if l.contains(&format!("\"backend\": \"{}\"", variant.name)) {
                assert!(is_w2, "{l}");
            }
        }
        assert!(records.iter().any(|l| l.contains(&format!(
            "\"backend\": \"{}\", \"kind\": \"backend\", \"waiter\": \"{}\"",
            variant.name, variant.waiter
        ))));
        let waiting_panels = Metric::ALL.iter().filter(|m| m.group().waits()).count();
        let label = format!(">{}</text>", xml_escape(variant.name));
        assert_eq!(svg(&r).matches(&label).count(), waiting_panels);
    }

    #[test]
    fn values_are_human_sized() {
        assert_eq!(format_value(Unit::JobsPerSec, 1_234_567.0), "1.23 M/s");
        assert_eq!(format_value(Unit::JobsPerSec, 45_600.0), "46 k/s");
        assert_eq!(format_value(Unit::Nanos, 950.0), "950 ns");
        assert_eq!(format_value(Unit::Nanos, 12_345.0), "12.3 µs");
        assert_eq!(format_value(Unit::Nanos, 3_210_000.0), "3.21 ms");
        assert_eq!(format_value(Unit::Nanos, 1.5e9), "1.50 s");
    }
}
