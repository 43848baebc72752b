//! Model checking the unmodified core: complete explorations that find no
//! violation, the vacuity check, the lossy network, and an invalid learner
//! graph (run with `Trust::unchecked`, i.e. `--allow-invalid`) whose claimed
//! entangled learners disagree.

mod support;

use hpaxos_check::{model::CheckModel, run, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::Trust;

fn explore(trust: Trust, opts: Options) -> Report {
    let inst = Instance::new(trust, opts).expect("instance");
    run::check(CheckModel::new(inst, None), &Limits::default(), &mut |_| {})
}

fn one_safe_opts() -> Options {
    Options {
        fake: support::set(&[1]),
        fake_1b: Fake1b::Empty,
        ..Options::default()
    }
}

/// Spec `Safety` on every reachable state, with a fake acceptor sending its
/// whole domain, two ballots from two proposers; `decided` is reachable.
#[test]
fn one_safe_acceptor_with_a_fake_is_safe_and_decides() {
    let r = explore(support::one_safe(&["alice"]), one_safe_opts());
    assert!(r.complete, "{r:?}");
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert!(r.decided);
    assert!(r.states > 1000, "a non-trivial space: {}", r.states);
}

/// The same with the unguarded `Phase1c` of the spec: any 1c for any value.
#[test]
fn safety_holds_under_any_1c() {
    let r = explore(
        support::one_safe(&["alice"]),
        Options {
            any_1c: true,
            ..one_safe_opts()
        },
    );
    assert!(r.complete && r.violations.is_empty() && r.decided, "{r:?}");
}

/// A lossy network adds states (lost envelopes) but no behaviour that can
/// break safety: same verdict, more states.
#[test]
fn a_lossy_network_gives_the_same_verdict() {
    let plain = explore(support::one_safe(&["alice"]), one_safe_opts());
    let lossy = explore(
        support::one_safe(&["alice"]),
        Options {
            lossy: true,
            ..one_safe_opts()
        },
    );
    assert!(lossy.complete && lossy.violations.is_empty() && lossy.decided);
    assert!(lossy.states > plain.states);
}

/// `decided` catches a vacuous model: without the fake's 2av and 2b no
/// quorum {a1, a2} ever forms, and the report says so.
#[test]
fn a_model_where_nobody_can_decide_is_reported() {
    let r = explore(
        support::one_safe(&["alice"]),
        Options {
            fake_2av: false,
            fake_2b: false,
            ..one_safe_opts()
        },
    );
    assert!(r.complete && !r.decided);
    assert_eq!(r.violations.len(), 1);
    assert_eq!(r.violations[0].property, "decided");
}

/// An invalid graph run anyway (`--allow-invalid`): alice (quorum {a1}) and
/// bob (quorum {a2}) are claimed entangled while both are safe, and the
/// checker shows them deciding different values.
#[test]
fn an_invalid_graph_yields_a_disagreement_between_claimed_entangled_learners() {
    let trust = support::tiny_invalid();
    assert!(!trust.is_validated());
    let r = explore(
        trust,
        Options {
            any_1c: true,
            ..Options::default()
        },
    );
    let v = r
        .violations
        .iter()
        .find(|v| v.property == "safety")
        .expect("a disagreement");
    assert!(
        v.summary.contains("alice and bob disagree"),
        "{}",
        v.summary
    );
    assert!(v.trace.iter().filter(|l| l.contains("DECIDES")).count() >= 2);
    println!("{}\n{}", v.summary, v.trace.join("\n"));
}

/// Entangled pairs come from the actual fake set: with a2 fake in the
/// one-safe configuration, alice is entangled with herself; with a1 fake
/// she is not, and nothing is claimed.
#[test]
fn entangled_pairs_follow_the_fake_set() {
    let ok = Instance::new(support::one_safe(&["alice"]), one_safe_opts()).expect("instance");
    assert_eq!(ok.entangled.len(), 1);
    let none = Instance::new(
        support::one_safe(&["alice"]),
        Options {
            fake: support::set(&[0]),
            ..Options::default()
        },
    )
    .expect("instance");
    assert!(none.entangled.is_empty());
}

/// The refinement check on every explored step (issue 3, item 3 run from
/// the model checker): each step of the real core is a spec step, every
/// invariant holds. The monitor's state is part of the model state, so the
/// check is exact; on this instance it adds no state: the spec state is a
/// function of the implementation state (a refinement mapping).
#[test]
fn every_step_of_the_core_refines_the_spec_and_adds_no_state() {
    let inst = |o: Options| Instance::new(support::one_safe(&["alice"]), o).expect("instance");
    let plain = run::check(
        CheckModel::new(inst(one_safe_opts()), None),
        &Limits::default(),
        &mut |_| {},
    );
    let monitor: std::sync::Arc<dyn hpaxos_check::monitor::MonitorFactory> =
        std::sync::Arc::new(hpaxos_check::monitor::RefinementCheck);
    let r = run::check(
        CheckModel::new(inst(one_safe_opts()), Some(monitor)),
        &Limits::default(),
        &mut |_| {},
    );
    assert!(
        r.complete && r.violations.is_empty() && r.decided,
        "{:?}",
        r.violations
    );
    assert_eq!(r.states, plain.states);
    println!(
        "states: {} with the refinement monitor, {} without",
        r.states, plain.states
    );
}

/// Two safe acceptors, each quorum a1 plus a2 or the fake a3, one ballot:
/// complete, safe, decided, and every step refines the spec.
#[test]
fn two_safe_acceptors_with_a_fake_refine_the_spec() {
    let monitor: std::sync::Arc<dyn hpaxos_check::monitor::MonitorFactory> =
        std::sync::Arc::new(hpaxos_check::monitor::RefinementCheck);
    let inst = Instance::new(
        support::two_safe(),
        Options {
            ballots: 1,
            fake: support::set(&[2]),
            fake_1b: Fake1b::Empty,
            ..Options::default()
        },
    )
    .expect("instance");
    let r = run::check(
        CheckModel::new(inst, Some(monitor)),
        &Limits::default(),
        &mut |_| {},
    );
    assert!(
        r.complete && r.violations.is_empty() && r.decided,
        "{:?}",
        r.violations
    );
    assert!(r.states > 5000, "{}", r.states);
}
