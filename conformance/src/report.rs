//! The outcome of a suite run: one row per check, never a panic, so broken backends and peers
//! can be judged row by row.

use std::fmt;

/// How one check went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// The backend met the semantics.
    Pass,
    /// The backend broke them; the message says how (for the lock-step run and the histories,
    /// with the minimal failing case or history).
    Fail(String),
    /// Not run: the backend cannot express what the check needs (see [`crate::Caps`]).
    Unsupported(String),
}

/// One check of a [`Report`].
#[derive(Clone, Debug)]
pub struct Row {
    /// The check's name, `area.property` (stable: the docs table is keyed by it).
    pub check: &'static str,
    /// The section of `docs/semantics.md` it checks.
    pub section: &'static str,
    /// How it went.
    pub status: Status,
    /// What it ran (cases, histories, operations), for the summary.
    pub work: Work,
}

/// How much a check ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Lock-step cases (random operation sequences compared with the model).
    pub cases: u64,
    /// Operations applied in those cases.
    pub ops: u64,
    /// Concurrent histories checked for linearizability.
    pub histories: u64,
    /// Of those, the histories whose linearizability search ran out of its budget (each fails
    /// its row: a pass never rests on a search that gave up).
    pub undecided: u64,
    /// The most nodes one history's linearizability search visited (the margin to its budget,
    /// [`crate::history::BUDGET`]).
    pub largest_search: u64,
    /// Scenario runs.
    pub scenarios: u64,
}

impl Work {
    fn add(&mut self, other: Work) {
        self.cases += other.cases;
        self.ops += other.ops;
        self.histories += other.histories;
        self.undecided += other.undecided;
        self.largest_search = self.largest_search.max(other.largest_search);
        self.scenarios += other.scenarios;
    }
}

/// The result of running the suite on one backend.
#[derive(Clone, Debug)]
pub struct Report {
    /// The backend's name.
    pub backend: String,
    /// One row per check, in suite order.
    pub rows: Vec<Row>,
}

impl Report {
    /// An empty report for `backend`.
    pub fn new(backend: impl Into<String>) -> Report {
        Report {
            backend: backend.into(),
            rows: Vec::new(),
        }
    }

    /// Whether no check failed (unsupported checks do not count as failures).
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The failed rows.
    pub fn failures(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.status, Status::Fail(_)))
    }

    /// The row of `check`, if the report has it.
    pub fn row(&self, check: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.check == check)
    }

    /// Everything the checks ran, summed.
    pub fn work(&self) -> Work {
        let mut w = Work::default();
        for r in &self.rows {
            w.add(r.work);
        }
        w
    }

    /// Panics with the failed rows unless every check passed (for a `#[test]` wrapper).
    ///
    /// # Panics
    /// If any check failed.
    pub fn assert_passed(&self) {
        assert!(self.passed(), "{self}");
    }

    /// Writes the summary to stderr directly, so `cargo test` shows it even when the test
    /// passes (the test harness captures only the `print!` family).
    pub fn print(&self) {
        use std::io::Write as _;
        let text = format!("\n{self}\n");
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// [`Report::print`] for a peer (a pool that does not claim our semantics): its failed rows
    /// are where it differs from them, which is expected, so they are labelled `differs`, not
    /// `FAIL`, and the summary says so. A passing test run then prints no `FAIL` line.
    pub fn print_as_peer(&self) {
        use std::io::Write as _;
        let text = format!(
            "\n{}\n",
            Shown {
                report: self,
                peer: true
            }
        );
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// A Markdown table with one row per check and one column per report (backends side by
    /// side), as in `docs/conformance.md`.
    pub fn markdown_table(reports: &[Report]) -> String {
        let mut out = String::from("| check | semantics |");
        for r in reports {
            out.push_str(&format!(" {} |", r.backend));
        }
        out.push_str("\n|---|---|");
        for _ in reports {
            out.push_str("---|");
        }
        out.push('\n');
        let Some(first) = reports.first() else {
            return out;
        };
        for row in &first.rows {
            out.push_str(&format!("| `{}` | {} |", row.check, row.section));
            for r in reports {
                let cell = match r.row(row.check).map(|x| &x.status) {
                    Some(Status::Pass) => "pass".to_owned(),
                    Some(Status::Fail(m)) => format!("**fail**: {}", one_line(m, 90)),
                    Some(Status::Unsupported(m)) => format!("n/a ({})", one_line(m, 60)),
                    None => "-".to_owned(),
                };
                out.push_str(&format!(" {} |", cell.replace('|', "\\|")));
            }
            out.push('\n');
        }
        out
    }
}

/// The first line of `m`, cut to about `max` characters.
fn one_line(m: &str, max: usize) -> String {
    let line = m.lines().next().unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}...")
    } else {
        line.to_owned()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Shown {
            report: self,
            peer: false,
        }
        .fmt(f)
    }
}

/// A report as text; for a peer, failed rows are expected differences ([`Report::print_as_peer`]).
struct Shown<'a> {
    report: &'a Report,
    peer: bool,
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.report;
        let total = this.rows.len();
        let failed = this.failures().count();
        let unsupported = this
            .rows
            .iter()
            .filter(|r| matches!(r.status, Status::Unsupported(_)))
            .count();
        let w = this.work();
        let (failed_word, fail_mark) = if self.peer {
            (
                "differ (expected: a peer, not held to our semantics)",
                "differs",
            )
        } else {
            ("failed", "FAIL")
        };
        writeln!(
            f,
            "== conformance: {} — {} of {total} checks passed, {failed} {failed_word}, {unsupported} unsupported",
            this.backend,
            total - failed - unsupported,
        )?;
        writeln!(
            f,
            "   lock-step cases: {} ({} ops) | histories checked: {} ({} undecided) | scenario runs: {} | loom models: {} (run by conformance/loom.sh)",
            w.cases,
            w.ops,
            w.histories,
            w.undecided,
            w.scenarios,
            crate::LOOM_MODELS.len(),
        )?;
        for r in &this.rows {
            let (mark, msg) = match &r.status {
                Status::Pass => ("ok", String::new()),
                Status::Fail(m) => (fail_mark, m.clone()),
                Status::Unsupported(m) => ("n/a", m.clone()),
            };
            let work = match r.work {
                Work { cases: c, ops, .. } if c > 0 => format!("{c} cases, {ops} ops"),
                Work {
                    histories: h,
                    undecided: u,
                    largest_search: l,
                    ..
                } if h > 0 => format!(
                    "{h} histories, {u} undecided (largest search {l} of {} nodes)",
                    crate::history::BUDGET
                ),
                Work { scenarios: s, .. } if s > 0 => format!("{s} runs"),
                _ => String::new(),
            };
            writeln!(f, "   {mark:<7} {:<44} {work}", r.check)?;
            for line in msg.lines() {
                writeln!(f, "             {line}")?;
            }
        }
        Ok(())
    }
}
