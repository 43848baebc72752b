//! The mutation suite (issue 3, item 5): with one guard of the core weakened
//! at a time (feature `mutations`), the model checker finds a disagreement
//! between entangled learners and prints its trace; on the same instance the
//! unmodified core is clean and the exploration complete.
//!
//! The mutation switch is process-wide, so every mutant runs in this one
//! test function, one after the other.

#![cfg(feature = "mutations")]

mod support;

use hpaxos_check::{model::CheckModel, run, Fake1b, Instance, Limits, Options, Report};
use hpaxos_core::mutations::{self, Mutation};
use hpaxos_core::Trust;

fn explore(trust: Trust, opts: Options) -> Report {
    let inst = Instance::new(trust, opts).expect("instance");
    run::check(CheckModel::new(inst, None), &Limits::default(), &mut |_| {})
}

/// `(mutant, configuration, options)`: the smallest instance on which the
/// weakened guard matters. `one_safe`: a1 safe, a2 fake, quorums {a1, a2}.
fn cases() -> Vec<(Mutation, &'static str, Trust, Options)> {
    let one = || support::one_safe(&["alice"]);
    let base = Options {
        fake: support::set(&[1]),
        fake_1b: Fake1b::Empty,
        ..Options::default()
    };
    vec![
        // Two ballots: x chosen at b1; at b2 the vote must be reported in
        // a1's 1b (MaxVote) and KnowsSafeAt must need a quorum.
        (
            Mutation::KnowsSafeAtAnySet,
            "one-safe, 2 ballots",
            one(),
            base.clone(),
        ),
        (
            Mutation::Ignore1bVotes,
            "one-safe, 2 ballots",
            one(),
            base.clone(),
        ),
        // Fake 2b for both values: one 2b is not a quorum.
        (
            Mutation::DecideOnOne2b,
            "one-safe, 2 ballots",
            one(),
            base.clone(),
        ),
        // Two entangled learners in one ballot, any 1c: a1's 2av for alice
        // must block a different value for bob (`connected`).
        (
            Mutation::DropConnectedFilter,
            "one-safe, alice and bob, 1 ballot, any 1c",
            support::one_safe(&["alice", "bob"]),
            Options {
                ballots: 1,
                any_1c: true,
                ..base
            },
        ),
    ]
}

#[test]
fn every_mutant_is_caught_and_the_real_core_is_clean_on_the_same_instance() {
    for (mutant, what, trust, opts) in cases() {
        mutations::set(Mutation::None);
        let clean = explore(trust.clone(), opts.clone());
        assert!(
            clean.complete && clean.violations.is_empty() && clean.decided,
            "{what}: the real core must be clean and the exploration complete: {clean:?}"
        );

        let (trust2, opts2) = (trust.clone(), opts.clone());
        mutations::set(mutant);
        let r = explore(trust, opts);
        mutations::set(Mutation::None);
        let found = r
            .violations
            .iter()
            .find(|v| v.property == "safety")
            .unwrap_or_else(|| panic!("{}: mutant not caught on {what}: {r:?}", mutant.name()));
        println!(
            "mutant {} on {what}: {} ({} states)\n{}",
            mutant.name(),
            found.summary,
            r.states,
            found.trace.join("\n")
        );
        assert!(found.summary.contains("decided"), "{}", found.summary);

        // With the refinement check on, the weakened guard is caught as well
        // (as a non-spec step, or as the disagreement).
        mutations::set(mutant);
        let monitor: std::sync::Arc<dyn hpaxos_check::monitor::MonitorFactory> =
            std::sync::Arc::new(hpaxos_check::monitor::RefinementCheck);
        let r2 = run::check(
            CheckModel::new(
                Instance::new(trust2, opts2).expect("instance"),
                Some(monitor),
            ),
            &Limits::default(),
            &mut |_| {},
        );
        mutations::set(Mutation::None);
        let first = r2
            .violations
            .first()
            .unwrap_or_else(|| panic!("{}: not caught with refinement on: {r2:?}", mutant.name()));
        println!("  with refinement: {}: {}", first.property, first.summary);
        assert!(
            found.trace.iter().filter(|l| l.contains("DECIDES")).count() >= 2,
            "the trace shows the conflicting decisions"
        );
    }
}
