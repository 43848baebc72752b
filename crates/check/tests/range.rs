//! `hpaxos check --range` (issue 9, item 1): Phase 1 by range messages is
//! explored by the model checker with the refinement monitor on, which
//! expands every range step into its per-slot `Phase1a` / `Phase1b` /
//! `Recv` / `FakeSend` steps. The model has one slot, so what is explored is
//! each range message's element of that slot (a range 1a from the slot on,
//! the acceptors' range `Phase1b` with its guard over every slot from it,
//! the fake acceptors' 1b domain as range 1b).

use hpaxos_check::monitor::{MonitorFactory, RefinementCheck};
use hpaxos_check::{model::CheckModel, run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::{AccSet, Trust};
use std::sync::Arc;

fn trust(file: &str) -> Trust {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let cfg = hpaxos_config::load_file(&path).expect("fixture loads");
    cfg.validate().expect("valid fixture")
}

/// `one-safe.toml --fake a2 --values 1 --fake-1b one --proposers 1
/// --refinement [--late]`, with or without `--range`.
fn check(range: bool, late: bool) -> Report {
    let t = trust("one-safe.toml");
    let a2 = t
        .acceptors()
        .find(|a| t.acceptor_name(*a) == "a2")
        .expect("a2");
    let opts = Options {
        values: 1,
        proposers: Some(1),
        fake: [a2].into_iter().collect::<AccSet>(),
        fake_1b: Fake1b::One,
        late,
        range,
        ..Options::default()
    };
    let inst = Instance::new(t, opts).expect("instance");
    let monitor: Option<Arc<dyn MonitorFactory>> = Some(Arc::new(RefinementCheck));
    let limits = Limits {
        engine: Engine::Dfs {
            sleep_sets: true,
            seed: None,
        },
        max_states: Some(400_000),
        deepening: false,
        ..Limits::default()
    };
    run::check(CheckModel::new(inst, monitor), &limits, &mut |_| {})
}

/// Every state reachable with range Phase 1 (seed and HPaxosLate acceptors)
/// satisfies `FullSafetyInvariant` and refines the spec, the search is
/// complete, a learner decides, and the space is not the per-slot one (the
/// range messages are really what the acceptors handle).
#[test]
fn range_phase1_is_explored_completely_and_refines() {
    for late in [false, true] {
        let per_slot = check(false, late);
        let range = check(true, late);
        assert!(
            range.violations.is_empty(),
            "late {late}: {:?}",
            range.violations
        );
        assert!(range.complete, "late {late}: incomplete");
        assert!(range.decided, "late {late}: no decision");
        assert_ne!(range.states, per_slot.states, "late {late}");
    }
}
