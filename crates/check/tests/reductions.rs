//! Each reduction of the explorer is exact (issue 12, item 2): on every
//! small instance, with and without it, the verdict, the properties violated
//! and (sleep sets prune transitions, never states) the number of distinct
//! states are the same; and the reduction does cut the transitions computed.
//! Instances: the CI shapes of `hpaxos check` (one safe acceptor and a fake,
//! two learners entangled or not, a restart, an invalid graph that must fail).

mod support;

use hpaxos_check::{model::CheckModel, run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::Trust;

/// `hear`: proposers hear 1b messages even with `any_1c` (the model leaves
/// them out then: `tests/proposer_1b.rs`); with them, the `any_1c`
/// instances have several actors for sleep sets to interleave.
fn explore(trust: Trust, opts: Options, engine: Engine, hear: bool) -> Report {
    let inst = Instance::new(trust, opts).expect("instance");
    let limits = Limits {
        engine,
        ..Limits::default()
    };
    let mut m = CheckModel::new(inst, None);
    m.proposers_hear_1b |= hear;
    run::check(m, &limits, &mut |_| {})
}

fn properties(r: &Report) -> Vec<&'static str> {
    let mut v: Vec<_> = r.violations.iter().map(|f| f.property).collect();
    v.sort();
    v
}

fn cases() -> Vec<(&'static str, Trust, Options)> {
    let one = Options {
        fake: support::set(&[1]),
        fake_1b: Fake1b::Empty,
        ..Options::default()
    };
    vec![
        (
            "one-safe, 2 ballots",
            support::one_safe(&["alice"]),
            one.clone(),
        ),
        (
            "one-safe, alice and bob entangled, 1 ballot, fake 1b with votes, any 1c",
            support::one_safe(&["alice", "bob"]),
            Options {
                ballots: 1,
                fake_1b: Fake1b::One,
                any_1c: true,
                ..one.clone()
            },
        ),
        (
            "one-safe, a1 restarts once, 1 ballot",
            support::one_safe(&["alice"]),
            Options {
                ballots: 1,
                restart: support::set(&[0]),
                ..one.clone()
            },
        ),
        (
            "invalid graph (must fail), any 1c",
            support::tiny_invalid(),
            Options {
                any_1c: true,
                ..Options::default()
            },
        ),
        (
            "vacuous (no fake 2av/2b: nobody decides)",
            support::one_safe(&["alice"]),
            Options {
                fake_2av: false,
                fake_2b: false,
                ..one
            },
        ),
    ]
}

/// Sleep sets (partial-order reduction over the DFS): same verdict, same
/// violated properties, same distinct states, fewer transitions; and the
/// stateright BFS (no reduction, another engine) agrees on all of it.
#[test]
fn sleep_sets_change_no_verdict_and_no_state_count() {
    let both = cases().into_iter().flat_map(|(what, trust, opts)| {
        [true, false].map(|hear| (what, trust.clone(), opts.clone(), hear))
    });
    for (what, trust, opts, hear) in both {
        if !hear && !opts.any_1c {
            continue;
        }
        let on = explore(
            trust.clone(),
            opts.clone(),
            Engine::Dfs {
                sleep_sets: true,
                seed: None,
            },
            hear,
        );
        let off = explore(
            trust.clone(),
            opts.clone(),
            Engine::Dfs {
                sleep_sets: false,
                seed: None,
            },
            hear,
        );
        let bfs = explore(trust, opts, Engine::Bfs, hear);
        let what = format!(
            "{what}{}",
            if hear { "" } else { " (proposers without 1b)" }
        );
        println!(
            "{what}: {} states; transitions {} with sleep sets, {} without; bfs {} states; violations {:?}",
            on.states,
            on.generated,
            off.generated,
            bfs.states,
            properties(&on)
        );
        assert_eq!(properties(&on), properties(&off), "{what}");
        assert_eq!(properties(&on), properties(&bfs), "{what}");
        assert_eq!(on.unchanged_sends, 0, "{what}: the reduction's premise");
        if on.violations.iter().all(|v| v.property == "decided") {
            // Complete explorations: every state is visited either way.
            assert!(on.complete && off.complete && bfs.complete, "{what}");
            assert_eq!(on.states, off.states, "{what}");
            assert_eq!(on.states, bfs.states, "{what}");
            assert!(on.generated <= off.generated, "{what}: sleep sets prune");
            if hear {
                // Several actors: some transitions commute.
                assert!(on.generated < off.generated, "{what}: sleep sets prune");
            }
        }
    }
}

/// Random action orders (swarm seeds) visit the same states as the model's
/// order on a complete instance, and every seed finds the invalid graph's
/// disagreement.
#[test]
fn random_orders_reach_the_same_states_and_the_same_verdicts() {
    for (what, trust, opts) in cases() {
        let fixed = explore(
            trust.clone(),
            opts.clone(),
            Engine::Dfs {
                sleep_sets: true,
                seed: None,
            },
            false,
        );
        for seed in [1, 7] {
            let r = explore(
                trust.clone(),
                opts.clone(),
                Engine::Dfs {
                    sleep_sets: true,
                    seed: Some(seed),
                },
                false,
            );
            assert_eq!(properties(&r), properties(&fixed), "{what}, seed {seed}");
            if fixed.complete {
                assert_eq!(r.states, fixed.states, "{what}, seed {seed}");
            }
        }
    }
}
