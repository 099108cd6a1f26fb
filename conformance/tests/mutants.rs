//! The kit catches real bugs: each deliberately broken variant of a backend (`pool-core` feature
//! `mutants`, `Builder::mutation`) must fail the suite, with the check named for it among the
//! failing ones. (The fast backend's lost wakeup needs a racing interleaving no sequential run
//! makes: the loom model that catches it is asserted in `tests/loom_mutants.rs`.)

use conformance::{Backend, Options, Report, Status};

/// A deliberately broken backend.
struct Mutant {
    /// `"classic"` or `"fast"`.
    backend: &'static str,
    /// The mutation's name (`Builder::mutation`).
    name: &'static str,
    /// What it breaks.
    breaks: &'static str,
    /// The check that must be among those that fail.
    caught_by: &'static str,
}

const MUTANTS: &[Mutant] = &[
    Mutant {
        backend: "classic",
        name: "late-sentinel",
        breaks: "a job lands behind the last stop sentinel",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "classic",
        name: "over-shrink",
        breaks: "repeated shrinks go below min",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "classic",
        name: "double-callback",
        breaks: "a callback (panic handler) runs twice",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "classic",
        name: "finishing-idle",
        breaks: "a finishing worker counts as idle capacity",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "fast",
        name: "claim-kept",
        breaks: "a worker's claim is not taken back by the job it took",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "fast",
        name: "early-stop",
        breaks: "a shrink's stop boundary is one position early",
        caught_by: "model.lockstep",
    },
    Mutant {
        backend: "fast",
        name: "cancel-keeps-room",
        breaks: "a cancelled job keeps its unit of the capacity",
        caught_by: "model.lockstep",
    },
];

fn backend(m: &Mutant) -> Backend {
    let name = m.name;
    // The label names the proptest regressions file (the classic ones predate the fast ones).
    match m.backend {
        "classic" => Backend::new(format!("mutant-{name}"), move |b: pool_core::Builder| {
            b.mutation(name).classic()
        }),
        _ => Backend::new(
            format!("mutant-fast-{name}"),
            move |b: pool_core::Builder| b.mutation(name).fast(),
        ),
    }
}

#[test]
fn every_mutant_fails_the_suite() {
    let opts = Options::from_env();
    let mut reports = Vec::new();
    for m in MUTANTS {
        let report = conformance::check(&backend(m), &opts);
        let caught: Vec<&str> = report.failures().map(|r| r.check).collect();
        assert!(
            !report.passed(),
            "the suite passed a {} backend where {} ({}):\n{report}",
            m.backend,
            m.breaks,
            m.name
        );
        assert!(
            matches!(
                report.row(m.caught_by).map(|r| &r.status),
                Some(Status::Fail(_))
            ),
            "{} missed {} on {} ({}); caught by {caught:?}",
            m.caught_by,
            m.name,
            m.backend,
            m.breaks
        );
        reports.push((m, caught, report));
    }
    let mut summary =
        String::from("\n== mutants: every deliberately broken backend fails the suite\n");
    for (m, caught, report) in &reports {
        summary.push_str(&format!(
            "   {:<8} {:<18} ({}): caught by {caught:?}\n",
            m.backend, m.name, m.breaks
        ));
        let row = report.row(m.caught_by).expect("the row of the check");
        if let Status::Fail(msg) = &row.status {
            for line in msg.lines() {
                summary.push_str(&format!("        {line}\n"));
            }
        }
    }
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(summary.as_bytes());
    let all: Vec<Report> = reports.into_iter().map(|r| r.2).collect();
    let _ = Report::markdown_table(&all);
}
