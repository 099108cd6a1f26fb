//! The kit catches real bugs: each deliberately broken variant of the classic backend
//! (`pool-core` feature `mutants`, `Builder::mutation`) must fail the suite, and the lock-step
//! run, which generates every operation the bugs need, must be among the checks that fail.

use conformance::{Backend, Options, Report, Status};

/// The mutants, with what each breaks.
const MUTANTS: &[(&str, &str)] = &[
    ("late-sentinel", "a job lands behind the last stop sentinel"),
    ("over-shrink", "repeated shrinks go below min"),
    ("double-callback", "a callback (panic handler) runs twice"),
    (
        "finishing-idle",
        "a finishing worker counts as idle capacity",
    ),
];

fn mutant(name: &'static str) -> Backend {
    Backend::new(format!("mutant-{name}"), move |b: pool_core::Builder| {
        b.mutation(name).classic()
    })
}

#[test]
fn every_mutant_fails_the_suite() {
    let opts = Options::from_env();
    let mut reports = Vec::new();
    for &(name, breaks) in MUTANTS {
        let report = conformance::check(&mutant(name), &opts);
        let caught: Vec<&str> = report.failures().map(|r| r.check).collect();
        assert!(
            !report.passed(),
            "the suite passed a backend where {breaks} ({name}):\n{report}"
        );
        assert!(
            matches!(
                report.row("model.lockstep").map(|r| &r.status),
                Some(Status::Fail(_))
            ),
            "the lock-step run missed {name} ({breaks}); caught by {caught:?}"
        );
        reports.push((name, breaks, caught, report));
    }
    let mut summary =
        String::from("\n== mutants: every deliberately broken backend fails the suite\n");
    for (name, breaks, caught, report) in &reports {
        summary.push_str(&format!("   {name:<16} ({breaks}): caught by {caught:?}\n"));
        let lockstep = report.row("model.lockstep").expect("a lock-step row");
        if let Status::Fail(m) = &lockstep.status {
            for line in m.lines() {
                summary.push_str(&format!("        {line}\n"));
            }
        }
    }
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(summary.as_bytes());
    let all: Vec<Report> = reports.into_iter().map(|r| r.3).collect();
    let _ = Report::markdown_table(&all);
}
