//! The mutation suite (issue 3 item 5, issue 12 item 1): every mutation in
//! `hpaxos_core::mutations` (one per guard conjunct of every acceptor and
//! learner action, one per durable record) is caught by the model checker
//! with the refinement check on, as `hpaxos check --refinement` runs it, on
//! a named instance of `crates/check/data`; the guards whose weakening lets
//! entangled learners disagree are caught by the `safety` property alone
//! too. On the same instance and budget, the unmodified core is clean.
//!
//! Every instance completes in `.ci/run` (all with refinement but the
//! three-ballot one); here the clean core is checked on each within a state
//! budget (an incomplete run is said so).
//!
//! The mutation switch is process-wide, so every mutant runs in this one
//! test function, one after the other.

#![cfg(feature = "mutations")]

use hpaxos_check::monitor::{MonitorFactory, RefinementCheck};
use hpaxos_check::{model::CheckModel, run, Engine, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::mutations::{self, Mutation};
use hpaxos_core::{graph::GraphError, AccSet, Trust};
use std::sync::Arc;

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

/// One instance: a file of `crates/check/data` and the options of its
/// `hpaxos check` command line.
#[derive(Clone)]
struct Case {
    /// The command line, for the report.
    cli: &'static str,
    file: &'static str,
    fake: &'static [&'static str],
    restart: &'static [&'static str],
    ballots: u64,
    values: usize,
    proposers: Option<usize>,
    fake_1b: Fake1b,
    any_1c: bool,
    /// The fake sends 2av and 2b (`--no-fake-2av --no-fake-2b` when not).
    fake_2: bool,
    /// Swarm seeds (with this per-seed budget) instead of one DFS.
    swarm: Option<(u64, usize)>,
    /// State budget of the DFS.
    budget: usize,
    /// Phase 1 by range messages (`--range`).
    range: bool,
}

impl Case {
    fn instance(&self) -> Instance {
        let t = trust(self.file);
        let opts = Options {
            ballots: self.ballots,
            values: self.values,
            proposers: self.proposers,
            fake: ids(&t, self.fake),
            restart: ids(&t, self.restart),
            fake_1b: self.fake_1b,
            any_1c: self.any_1c,
            range: self.range,
            fake_2av: self.fake_2,
            fake_2b: self.fake_2,
            ..Options::default()
        };
        Instance::new(t, opts).expect("instance")
    }

    /// `expect_clean`: one unbounded DFS (no iterative deepening, which
    /// only speeds up finding a violation).
    fn run(&self, refinement: bool, expect_clean: bool) -> Report {
        let monitor: Option<Arc<dyn MonitorFactory>> = if refinement {
            Some(Arc::new(RefinementCheck))
        } else {
            None
        };
        let (engine, max_states) = match self.swarm {
            Some((seeds, per_seed)) => (
                Engine::Swarm {
                    sleep_sets: true,
                    first: 0,
                    seeds,
                },
                Some(per_seed),
            ),
            None => (
                Engine::Dfs {
                    sleep_sets: true,
                    seed: None,
                },
                Some(self.budget),
            ),
        };
        let limits = Limits {
            engine,
            max_states,
            deepening: !expect_clean,
            ..Limits::default()
        };
        run::check(
            CheckModel::new(self.instance(), monitor),
            &limits,
            &mut |_| {},
        )
    }
}

const BASE: Case = Case {
    cli: "",
    file: "one-safe.toml",
    fake: &["a2"],
    restart: &[],
    ballots: 2,
    values: 2,
    proposers: None,
    fake_1b: Fake1b::Empty,
    any_1c: false,
    fake_2: true,
    swarm: None,
    budget: 200_000,
    range: false,
};

/// `one-safe.toml --fake a2 --any-1c` (the first CI instance).
const ONE_SAFE_1C: Case = Case {
    cli: "one-safe.toml --fake a2 --any-1c",
    any_1c: true,
    ..BASE
};
/// `one-safe.toml --fake a2 --any-1c --range`: the same guards reached
/// through range Phase 1 (`Acceptor::phase_1b_range`).
const ONE_SAFE_1C_RANGE: Case = Case {
    cli: "one-safe.toml --fake a2 --any-1c --range",
    any_1c: true,
    range: true,
    ..BASE
};
const ONE_SAFE: Case = Case {
    cli: "one-safe.toml --fake a2",
    ..BASE
};
const PAIR_1C: Case = Case {
    cli: "one-safe-pair.toml --fake a2 --ballots 1 --any-1c --fake-1b one",
    file: "one-safe-pair.toml",
    ballots: 1,
    fake_1b: Fake1b::One,
    any_1c: true,
    ..BASE
};
const PAIR_2: Case = Case {
    cli: "one-safe-pair.toml --fake a2 --values 1 --proposers 1",
    file: "one-safe-pair.toml",
    values: 1,
    proposers: Some(1),
    budget: 700_000,
    ..BASE
};
const RESTART: Case = Case {
    cli: "one-safe.toml --fake a2 --restart a1 --ballots 1",
    restart: &["a1"],
    ballots: 1,
    ..BASE
};
const FAKE_QUORUM: Case = Case {
    cli: "fake-quorum.toml --fake a2 --proposers 1 --any-1c",
    file: "fake-quorum.toml",
    proposers: Some(1),
    any_1c: true,
    ..BASE
};
const TWO_SAFE_2: Case = Case {
    cli: "two-safe.toml --fake a3 --values 1 --proposers 1 --fake-1b none",
    file: "two-safe.toml",
    fake: &["a3"],
    values: 1,
    proposers: Some(1),
    fake_1b: Fake1b::None,
    ..BASE
};
const FAKE_1B: Case = Case {
    cli: "one-safe.toml --fake a2 --values 1 --fake-1b one --proposers 1",
    values: 1,
    fake_1b: Fake1b::One,
    proposers: Some(1),
    ..BASE
};
/// A decision needs no message of the fake (a1 alone is alice's quorum), so
/// the fake sends 1b only; complete in `.ci/run` with refinement (311409
/// states); bounded here.
const SELF_SOLO_RESTART: Case = Case {
    cli: "self-solo.toml --fake a2 --values 1 --fake-1b one --no-fake-2av --no-fake-2b --any-1c --restart a1",
    file: "self-solo.toml",
    values: 1,
    fake_1b: Fake1b::One,
    any_1c: true,
    fake_2: false,
    restart: &["a1"],
    budget: 50_000,
    ..BASE
};
/// Complete in `.ci/run` (266816 states with refinement); bounded here.
const FAKE_1B_1C: Case = Case {
    cli: "one-safe.toml --fake a2 --fake-1b one --any-1c",
    fake_1b: Fake1b::One,
    any_1c: true,
    budget: 100_000,
    ..BASE
};
/// Three ballots, one value, the fake's lie in its 1b of ballot 3 only:
/// complete without refinement in `.ci/run` (350960 states); bounded here.
const THREE_BALLOTS_TOP: Case = Case {
    cli: "one-safe.toml --fake a2 --fake-1b top --ballots 3 --values 1 --any-1c",
    ballots: 3,
    values: 1,
    fake_1b: Fake1b::Top,
    any_1c: true,
    budget: 100_000,
    ..BASE
};
/// `(mutant, instance, caught by safety alone too)`.
fn cases() -> Vec<(Mutation, Case, bool)> {
    use Mutation::*;
    vec![
        // ChosenIn's quorum: the fake's 2b for y alone decides y.
        (DecideOnOne2b, ONE_SAFE_1C, true),
        // KnowsSafeAt's quorum and MaxVote: ballot 2 overrides x chosen at 1
        // (the proposer announces the value of the highest vote it hears
        // of, so the other value comes from a 1c of anyone's: --any-1c).
        (KnowsSafeAtAnySet, ONE_SAFE_1C, true),
        // The same for the 1b's votes: the proposer also prefers the
        // highest proposal its 1b report to a new value, so the other
        // value needs anyone's 1c (--any-1c) for safety alone to see it.
        (Ignore1bVotes, ONE_SAFE_1C, true),
        (Ignore1bVotes, ONE_SAFE_1C_RANGE, true),
        // Two entangled learners: a1's 2av for alice must block y for bob.
        (DropConnectedFilter, PAIR_1C, true),
        // Phase2av's one-value-per-ballot conjunct: x and y both proposed.
        (Phase2avTwoValues, ONE_SAFE_1C, true),
        // Phase2b's maxBal conjunct: a vote at 1 after the promise at 2.
        (Phase2bIgnoreMaxBal, ONE_SAFE_1C, true),
        (Phase1bIgnoreMaxBal, ONE_SAFE_1C, false),
        (Phase1bIgnoreMaxBal, ONE_SAFE_1C_RANGE, false),
        (Phase2avIgnoreMaxBal, ONE_SAFE_1C, false),
        // A 1b quorum of the fake alone, before anyone sent 1a(2).
        (Phase2avWithout1a, FAKE_QUORUM, false),
        // x announced at 1 only, proposed at 2 (no --any-1c).
        (Phase2avAnnouncedAnyBallot, ONE_SAFE, false),
        (KnowsSafeAt1IgnoreVotes, ONE_SAFE_1C, false),
        (KnowsSafeAt2NoProposalQuorum, ONE_SAFE_1C, false),
        // The fake's 1b reports a vote at 1 for another value.
        (KnowsSafeAt2AnyValueAtC, FAKE_1B_1C, false),
        // A vote at 2 reported in a 1b of ballot 3, a proposal at 1.
        (KnowsSafeAt2VotesAboveC, THREE_BALLOTS_TOP, false),
        // a1 promised bob ballot 2, then votes for alice at 1.
        (Phase2bOwnLearnerMaxBal, PAIR_2, false),
        (Phase2bAnySenders, ONE_SAFE_1C, false),
        // a1's 2b at 1 and a2's at 2 counted together (no fake 1b: smaller).
        (ChosenInAcrossBallots, TWO_SAFE_2, false),
        // The fake equivocates in 1b (a vote and a proposal in one, neither in
        // the other): a1 disconnects alice from herself.
        (DisconnectEntangled, FAKE_1B, false),
        // Restarts: the record not replayed is missing from the restored
        // state; for `Disconnected`, a1 must first disconnect (alice, alice),
        // which self-solo.toml allows once a2 equivocates.
        (ForgetMaxBal, RESTART, false),
        (ForgetVoted, RESTART, false),
        (ForgetProposed, RESTART, false),
        (ForgetDisconnected, SELF_SOLO_RESTART, false),
    ]
}

#[test]
fn every_mutant_is_caught_and_the_real_core_is_clean_on_the_same_instance() {
    let cases = cases();
    let covered: Vec<Mutation> = cases.iter().map(|(m, _, _)| *m).collect();
    for m in Mutation::ALL {
        assert!(covered.contains(&m), "mutation {} has no case", m.name());
    }
    for (mutant, case, by_safety) in cases {
        mutations::set(Mutation::None);
        let clean = case.run(true, true);
        assert!(
            clean.violations.is_empty(),
            "{}: the real core must be clean: {:?}",
            case.cli,
            clean.violations
        );

        mutations::set(mutant);
        let r = case.run(true, false);
        let r_safety = by_safety.then(|| case.run(false, false));
        mutations::set(Mutation::None);
        let first = r.violations.first().unwrap_or_else(|| {
            panic!(
                "mutant {} not caught on {} ({} states)",
                mutant.name(),
                case.cli,
                r.states
            )
        });
        assert!(
            ["safety", "refinement"].contains(&first.property),
            "{}",
            first.property
        );
        println!(
            "mutant {:<30} on {}: {} after {} states{}; clean: {} states, {}",
            mutant.name(),
            case.cli,
            first.property,
            r.states,
            r.seed.map(|s| format!(" (seed {s})")).unwrap_or_default(),
            clean.states,
            if clean.complete {
                "complete"
            } else {
                "incomplete (nothing proven)"
            }
        );
        if let Some(rs) = r_safety {
            let found = rs
                .violations
                .iter()
                .find(|v| v.property == "safety")
                .unwrap_or_else(|| panic!("{}: not caught by safety alone: {rs:?}", mutant.name()));
            assert!(found.summary.contains("decided"), "{}", found.summary);
            assert!(
                found.trace.iter().filter(|l| l.contains("DECIDES")).count() >= 2,
                "the trace shows the conflicting decisions"
            );
        }
    }
}
