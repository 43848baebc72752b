//! Proposers that cannot announce anything new do not hear 1b messages
//! (issue 12, item 2: a reduction shown exact). With `--any-1c` every
//! `Phase1c(l, b, v)` of the domain (the spec's unguarded action) is sent
//! from the start, so a proposer's 1b deliveries change only what it has
//! collected; the model then routes 1b messages to acceptors only
//! (`CheckModel::proposers_hear_1b`, see `src/model.rs`).
//!
//! Exact means: the reachable states of the reduced model are exactly the
//! reachable states of the full model with each proposer's collected 1b
//! forgotten (its plan and next ballot kept), monitor state included, so
//! `safety`, `decided` and `refinement` (`FullSafetyInvariant` and the
//! spec's guards) have the same verdicts; and the explorers' verdicts and
//! violated properties agree, on clean instances, an invalid graph that
//! must fail, and (with feature `mutations`) mutants of the `KnowsSafeAt`
//! the proposer itself evaluates.

use hpaxos_check::model::{combine, CheckModel, Role, SysState};
use hpaxos_check::monitor::{MonitorFactory, RefinementCheck};
use hpaxos_check::{run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::{graph::GraphError, AccSet, Trust};
use stateright::Model;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

/// The mutation switch is process-wide: the tests of this file run one at
/// a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn trust(file: &str) -> Trust {
    let path = format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let cfg = hpaxos_config::load_file(&path).expect("fixture loads");
    match cfg.validate() {
        Ok(t) => t,
        Err(GraphError::Invalid(_)) => Trust::unchecked(cfg.graph.clone()).expect("shape"),
        Err(e) => panic!("{file}: {e}"),
    }
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

struct Case {
    what: &'static str,
    file: &'static str,
    fake: &'static [&'static str],
    opts: Options,
    refinement: bool,
}

impl Case {
    fn model(&self, hear: bool) -> CheckModel {
        let t = trust(self.file);
        let opts = Options {
            fake: ids(&t, self.fake),
            any_1c: true,
            ..self.opts.clone()
        };
        let monitor: Option<Arc<dyn MonitorFactory>> = if self.refinement {
            Some(Arc::new(RefinementCheck))
        } else {
            None
        };
        let mut m = CheckModel::new(Instance::new(t, opts).expect("instance"), monitor);
        assert!(
            !m.proposers_hear_1b,
            "{}: --any-1c turns the routing off",
            self.what
        );
        m.proposers_hear_1b = hear;
        m
    }

    fn check(&self, hear: bool) -> Report {
        let limits = Limits {
            engine: Engine::Dfs {
                sleep_sets: true,
                seed: None,
            },
            max_states: Some(2_000_000),
            ..Limits::default()
        };
        run::check(self.model(hear), &limits, &mut |_| {})
    }
}

/// A state with every proposer's collected 1b forgotten: the proposers'
/// plan and next ballot, every other actor's node, `sent`, the monitor.
fn projection(s: &SysState) -> u64 {
    let nodes = s.nodes.iter().map(|n| match &n.role {
        Role::Proposer { plan, next, .. } => {
            let mut h = std::hash::DefaultHasher::new();
            (plan, next).hash(&mut h);
            h.finish()
        }
        _ => n.hash(),
    });
    combine(nodes, &s.sent, s.monitor.as_ref().map(|x| x.fingerprint()))
}

/// Every reachable state's projection (plain exhaustive search, no
/// reduction of the explorer's own), and the number of distinct states.
fn projections(m: &CheckModel) -> (HashSet<u64>, usize) {
    let mut seen: HashSet<u64> = HashSet::new();
    let mut proj: HashSet<u64> = HashSet::new();
    let mut stack: Vec<SysState> = Vec::new();
    for s in m.init_states() {
        if seen.insert(hpaxos_check::model::fingerprint(&s)) {
            proj.insert(projection(&s));
            stack.push(s);
        }
    }
    let mut acts = Vec::new();
    while let Some(s) = stack.pop() {
        acts.clear();
        m.actions(&s, &mut acts);
        for a in acts.drain(..) {
            let Some(n) = m.next_state(&s, a) else {
                continue;
            };
            if seen.insert(hpaxos_check::model::fingerprint(&n)) {
                proj.insert(projection(&n));
                stack.push(n);
            }
            assert!(seen.len() < 3_000_000, "instance too large for this test");
        }
    }
    (proj, seen.len())
}

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

fn clean_cases() -> Vec<Case> {
    vec![
        Case {
            what: "one-safe, a2 fake, 2 ballots, 1 value, refinement",
            file: "one-safe.toml",
            fake: &["a2"],
            opts: Options {
                values: 1,
                fake_1b: Fake1b::Empty,
                ..Options::default()
            },
            refinement: true,
        },
        Case {
            what: "one-safe, a2 fake, 2 ballots, 2 values (the first CI instance)",
            file: "one-safe.toml",
            fake: &["a2"],
            opts: Options {
                fake_1b: Fake1b::Empty,
                ..Options::default()
            },
            refinement: false,
        },
        Case {
            what: "one-safe-pair, a2 fake, 1 ballot, fake 1b one (two learners)",
            file: "one-safe-pair.toml",
            fake: &["a2"],
            opts: Options {
                ballots: 1,
                fake_1b: Fake1b::One,
                ..Options::default()
            },
            refinement: true,
        },
        Case {
            what: "fake-quorum, a2 fake, 1 proposer, 1 value",
            file: "fake-quorum.toml",
            fake: &["a2"],
            opts: Options {
                proposers: Some(1),
                values: 1,
                fake_1b: Fake1b::Empty,
                ..Options::default()
            },
            refinement: true,
        },
    ]
}

/// The reduced model's states are the full model's projections, one for
/// one; on each clean instance both explorers complete with no violation.
#[test]
fn reduced_states_are_the_projections_of_the_full_states() {
    let _one = serial();
    for c in clean_cases() {
        let (full, full_states) = projections(&c.model(true));
        let (reduced, reduced_states) = projections(&c.model(false));
        assert_eq!(
            reduced_states,
            reduced.len(),
            "{}: a reduced proposer's state is its plan and next ballot",
            c.what
        );
        assert!(
            full == reduced,
            "{}: the projected state sets differ: {} full, {} reduced, {} only in full, {} only in reduced",
            c.what,
            full.len(),
            reduced.len(),
            full.difference(&reduced).count(),
            reduced.difference(&full).count()
        );
        assert!(
            reduced_states < full_states,
            "{}: the reduction removes states ({reduced_states} of {full_states})",
            c.what
        );
        let (rf, rr) = (c.check(true), c.check(false));
        assert!(rf.complete && rr.complete, "{}", c.what);
        assert!(
            rf.decided && rr.decided,
            "{}: a decision is reachable",
            c.what
        );
        assert!(
            properties(&rf).is_empty(),
            "{}: {:?}",
            c.what,
            rf.violations
        );
        assert!(
            properties(&rr).is_empty(),
            "{}: {:?}",
            c.what,
            rr.violations
        );
        assert_eq!(rr.states, reduced_states, "{}", c.what);
        println!(
            "{}: {full_states} states, {reduced_states} reduced (= projections)",
            c.what
        );
    }
}

/// An invalid graph (`invalid-pair.toml`, alice and bob claimed entangled
/// with a1 and a2 both safe, quorums that do not intersect): the
/// disagreement is found with and without the routing.
#[test]
fn the_invalid_pair_disagrees_both_ways() {
    let _one = serial();
    let c = Case {
        what: "invalid-pair",
        file: "invalid-pair.toml",
        fake: &[],
        opts: Options::default(),
        refinement: false,
    };
    let (rf, rr) = (c.check(true), c.check(false));
    assert!(properties(&rf).contains(&"safety"), "{:?}", rf.violations);
    assert_eq!(properties(&rf), properties(&rr));
}

/// Mutants of `KnowsSafeAt`, which the proposer evaluates too (its
/// announcements are already sent, so it makes no difference): the same
/// properties are violated with and without the routing.
#[cfg(feature = "mutations")]
#[test]
fn mutants_are_caught_the_same_way() {
    let _one = serial();
    use hpaxos_core::mutations::{self, Mutation};
    let cases = [
        (
            Mutation::KnowsSafeAtAnySet,
            Case {
                what: "one-safe, a2 fake, 2 ballots (KnowsSafeAt's quorum)",
                file: "one-safe.toml",
                fake: &["a2"],
                opts: Options {
                    fake_1b: Fake1b::Empty,
                    ..Options::default()
                },
                refinement: true,
            },
        ),
        (
            Mutation::KnowsSafeAt2AnyValueAtC,
            Case {
                what: "one-safe, a2 fake, fake 1b one, 1 proposer (KnowsSafeAt2's value at c)",
                file: "one-safe.toml",
                fake: &["a2"],
                opts: Options {
                    fake_1b: Fake1b::One,
                    proposers: Some(1),
                    ..Options::default()
                },
                refinement: true,
            },
        ),
    ];
    for (m, c) in cases {
        mutations::set(m);
        let (rf, rr) = (c.check(true), c.check(false));
        mutations::set(Mutation::None);
        assert!(!properties(&rf).is_empty(), "{}: caught without", c.what);
        assert_eq!(properties(&rf), properties(&rr), "{}", c.what);
    }
}
