//! The dead-message reduction is exact on mutants too (issue 12): for every
//! mutation of `hpaxos_core::mutations` (and none), on instances where
//! index entries die below `maxBal` (two ballots) or an acceptor restarts,
//! refinement on (and on one instance off), the full search (which also counts the key classes of its
//! states) and the reduced search find violations of the same properties
//! (`safety`, `refinement`: each step a spec step; `decided`), or both are
//! complete and clean with the reduced search visiting one state per class.
//! The rules of `Acceptor::hash_live` follow the mutated guards, so a
//! mutant's dead entries are dead in the mutant.
//!
//! The mutation switch is process-wide, so every mutant runs in this one
//! test function, one after the other.

#![cfg(feature = "mutations")]

use hpaxos_check::monitor::{MonitorFactory, RefinementCheck};
use hpaxos_check::{model::CheckModel, run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::mutations::{self, Mutation};
use hpaxos_core::{AccSet, Trust};
use std::sync::Arc;

fn trust(file: &str) -> Trust {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let cfg = hpaxos_config::load_file(&path).expect("fixture loads");
    cfg.validate().expect("a valid fixture")
}

fn ids(t: &Trust, names: &[&str]) -> AccSet {
    names
        .iter()
        .map(|n| {
            t.acceptors()
                .find(|a| t.acceptor_name(*a) == *n)
                .expect("known acceptor")
        })
        .collect()
}

/// One run with the reduction's keys (`refinement`: the monitor on);
/// `count`: explore every state anyway, counting the key classes.
fn explore((file, fake, restart, opts, refinement): Inst, count: bool) -> Report {
    let t = trust(file);
    let opts = Options {
        fake: ids(&t, fake),
        restart: ids(&t, restart),
        ..opts.clone()
    };
    let inst = Instance::new(t, opts).expect("instance");
    let monitor: Option<Arc<dyn MonitorFactory>> = if refinement {
        Some(Arc::new(RefinementCheck))
    } else {
        None
    };
    let mut model = CheckModel::new(inst, monitor);
    model.dead = true;
    let limits = Limits {
        engine: Engine::Dfs {
            sleep_sets: true,
            seed: None,
        },
        max_states: Some(500_000),
        count_orbits: count,
        ..Limits::default()
    };
    run::check(model, &limits, &mut |_| {})
}

/// The options of `hpaxos check` with no flags (fake 1b empty).
fn cli() -> Options {
    Options {
        fake_1b: Fake1b::Empty,
        ..Options::default()
    }
}

/// File, fake acceptors, restarting acceptors, options, refinement.
type Inst<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a Options, bool);

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

#[test]
fn dead_reduction_keeps_every_mutants_verdict() {
    let any_1c = Options {
        any_1c: true,
        ..cli()
    };
    let restart_1 = Options {
        ballots: 1,
        ..cli()
    };
    let fake_1b_one = Options {
        values: 1,
        proposers: Some(1),
        fake_1b: Fake1b::One,
        ..cli()
    };
    // The last one without the monitor, whose spec state (it records
    // every receipt) keeps most states apart: there the reduction merges
    // 6464 states into 2528 classes.
    let instances: [Inst; 4] = [
        ("one-safe.toml", &["a2"], &[], &any_1c, true),
        ("one-safe.toml", &["a2"], &["a1"], &restart_1, true),
        ("one-safe.toml", &["a2"], &[], &fake_1b_one, true),
        ("one-safe.toml", &["a2"], &[], &any_1c, false),
    ];
    let mut caught = Vec::new();
    for m in std::iter::once(Mutation::None).chain(Mutation::ALL) {
        for (k, inst) in instances.iter().enumerate() {
            let file = inst.0;
            mutations::set(m);
            let full = explore(*inst, true);
            let reduced = explore(*inst, false);
            mutations::set(Mutation::None);
            println!(
                "{} on instance {k} ({file}): violations {:?} / {:?}; states {}, classes {:?}, \
                 reduced {}",
                m.name(),
                properties(&full),
                properties(&reduced),
                full.states,
                full.orbits,
                reduced.states
            );
            assert_eq!(
                properties(&full),
                properties(&reduced),
                "{} on {k}",
                m.name()
            );
            if full.violations.is_empty() {
                assert!(full.complete && reduced.complete, "{} on {k}", m.name());
                assert_eq!(full.orbits, Some(reduced.states), "{} on {k}", m.name());
            } else {
                caught.push((m, k));
            }
        }
    }
    assert!(!caught.iter().any(|(m, _)| *m == Mutation::None));
    assert!(caught.len() >= 10, "mutants caught: {caught:?}");
}
