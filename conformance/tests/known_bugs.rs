//! Regression replays of the pool-core and spec-model bugs the kit found (docs/conformance.md
//! §9), on the classic backend, each the minimal lock-step scenario proptest shrank it to. Each
//! failed before its fix.

use conformance::lockstep::{Adm, Kind, Op, PolicyKind, Scenario, Setup, run_case};
use conformance::{Backend, Plan};

fn setup(min: usize, max: usize) -> Setup {
    Setup {
        min,
        max: Some(max),
        capacity: None,
        policy: PolicyKind::Reject,
        keep_alive: 1,
        put_timeout: 1,
        start: true,
    }
}

fn replay(setup: Setup, ops: Vec<Op>) {
    let classic = Backend::new("classic", pool_core::Builder::classic);
    if let Err(f) = run_case(&classic, &Scenario { setup, ops }) {
        panic!("{f}");
    }
}

#[test]
fn a_put_never_spawns_past_max_while_a_shrink_is_pending() {
    let put = Op::Put(Kind::Plain, Adm::Try, false);
    replay(
        setup(0, 1),
        vec![Op::Resize(1, Some(2)), put, put, Op::Shrink(1), put],
    );
}

#[test]
fn cancel_of_a_dropped_handed_back_job_returns_false() {
    let s = Setup {
        capacity: Some(1),
        policy: PolicyKind::DiscardOldest,
        start: false,
        ..setup(0, 1)
    };
    replay(
        s,
        vec![
            Op::Put(Kind::Handle, Adm::Try, false),
            Op::Put(Kind::Plain, Adm::Try, false),
            Op::Cancel(0),
        ],
    );
}

#[test]
fn lowering_min_lets_an_expired_idle_worker_exit_at_once() {
    replay(setup(1, 1), vec![Op::Advance(1), Op::Resize(0, Some(4))]);
}

/// A held worker is finishing, not idle: the same replay machinery on a case that passes, so
/// the file's helper is itself checked in the default run.
#[test]
fn a_held_worker_is_busy_in_the_replay() {
    replay(
        setup(0, 1),
        vec![
            Op::Put(Kind::Plain, Adm::Try, false),
            Op::Release(
                0,
                Plan {
                    hold_after: true,
                    ..Plan::default()
                },
            ),
        ],
    );
}
