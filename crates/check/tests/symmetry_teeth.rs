//! Sleep sets on top of symmetry are exact on mutants too (issue 12): for
//! every mutation of `hpaxos_core::mutations`, on two symmetric instances
//! (the classic cluster with a4 fake, group of 6; `sym-pair` with both
//! acceptors restarting, group of 2), refinement on, the plain search (sleep
//! sets, no symmetry), symmetry alone and symmetry with sleep sets give the
//! same verdict: each finds a violation, of the same properties, or none
//! does and each is complete, the two reduced searches visiting the same
//! states, one per orbit.
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

/// One run with refinement: `sym` builds the model with symmetry,
/// `count_orbits` explores every state anyway counting their orbits.
fn explore(
    file: &str,
    fake: &[&str],
    restart: &[&str],
    sym: bool,
    count_orbits: bool,
    sleep_sets: bool,
) -> Report {
    let t = trust(file);
    let opts = Options {
        fake: ids(&t, fake),
        restart: ids(&t, restart),
        ballots: 1,
        values: 1,
        fake_1b: Fake1b::None,
        ..Options::default()
    };
    let inst = Instance::new(t, opts).expect("instance");
    let monitor: Option<Arc<dyn MonitorFactory>> = Some(Arc::new(RefinementCheck));
    let mut model = CheckModel::new(inst, monitor);
    if sym {
        assert!(model.with_symmetry() > 1, "{file}: a symmetric instance");
    }
    let limits = Limits {
        engine: Engine::Dfs {
            sleep_sets,
            seed: None,
        },
        max_states: Some(200_000),
        count_orbits,
        ..Limits::default()
    };
    run::check(model, &limits, &mut |_| {})
}

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

#[test]
fn sleep_sets_with_symmetry_keep_every_mutants_verdict() {
    let instances: [(&str, &[&str], &[&str]); 2] = [
        ("classic.toml", &["a4"], &[]),
        ("sym-pair.toml", &[], &["a1", "a2"]),
    ];
    let mut caught = Vec::new();
    for m in std::iter::once(Mutation::None).chain(Mutation::ALL) {
        for (file, fake, restart) in instances {
            mutations::set(m);
            let plain = explore(file, fake, restart, false, false, true);
            let full = explore(file, fake, restart, true, true, true);
            let sym_only = explore(file, fake, restart, true, false, false);
            let both = explore(file, fake, restart, true, false, true);
            mutations::set(Mutation::None);
            println!(
                "{} on {file}: violations {:?}; states plain {}, orbits {:?}, symmetry {}, \
                 symmetry and sleep sets {}",
                m.name(),
                properties(&plain),
                plain.states,
                full.orbits,
                sym_only.states,
                both.states
            );
            for r in [&full, &sym_only, &both] {
                assert_eq!(properties(&plain), properties(r), "{} on {file}", m.name());
            }
            if plain.violations.is_empty() {
                for r in [&plain, &full, &sym_only, &both] {
                    assert!(r.complete, "{} on {file}: complete", m.name());
                }
                assert_eq!(full.orbits, Some(both.states), "{} on {file}", m.name());
                assert_eq!(sym_only.states, both.states, "{} on {file}", m.name());
            } else if m != Mutation::None {
                caught.push((m, file));
            }
        }
    }
    // The real core is clean on both; some mutants are caught here (the
    // rest are caught on the instances of `tests/teeth.rs`).
    assert!(!caught.iter().any(|(m, _)| *m == Mutation::None));
    assert!(caught.len() >= 3, "mutants caught: {caught:?}");
}
