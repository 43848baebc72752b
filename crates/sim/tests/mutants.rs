//! Teeth against weakened guards (core feature `mutations`): with one guard
//! of the core weakened at a time, the simulator finds a disagreement
//! between entangled learners (the spec's `Safety`) within a stated number
//! of seeds. The mutation switch is process-global, so every mutant runs in
//! this one test, sequentially, in its own test binary.

use hpaxos_core::mutations::{set, Mutation};
use hpaxos_core::{AccSet, AcceptorId};
use hpaxos_sim::{FakeChoice, Sim, SimParams, Violation};

fn trust(name: &str) -> hpaxos_core::Trust {
    let path = format!("{}/tests/configs/{name}", env!("CARGO_MANIFEST_DIR"));
    hpaxos_config::load_file(path)
        .expect("fixture loads")
        .validate()
        .expect("fixture is valid")
}

/// Seeds within which each mutant must be caught.
const BUDGET: u64 = 30;

/// (mutation, configuration, the one Byzantine acceptor).
const CASES: [(Mutation, &str, u16); 4] = [
    // A learner decides on one 2b: an equivocating fake's lone 2b decides.
    (Mutation::DecideOnOne2b, "classic.toml", 3),
    // Any 1b makes every value safe: a hijacking ballot re-decides a slot.
    (Mutation::KnowsSafeAtAnySet, "classic.toml", 3),
    // 1b messages report no votes: a hijacking ballot sees a fresh slot.
    (Mutation::Ignore1bVotes, "classic.toml", 3),
    // Votes for other learners are ignored: a hijack of bob's ballots
    // overrides alice's votes although alice and bob are entangled.
    (Mutation::DropConnectedFilter, "overlap.toml", 0),
];

#[test]
fn every_mutant_is_caught_within_the_seed_budget() {
    let mut caught = Vec::new();
    for (m, cfg, fake) in CASES {
        let params = SimParams {
            fake: FakeChoice::Fixed(AccSet::singleton(AcceptorId(fake))),
            ..SimParams::default()
        };
        let sim = Sim::new(trust(cfg), params);
        set(m);
        let mut found = None;
        for seed in 0..BUDGET {
            let r = sim.run_seed(seed).expect("runs");
            if r.violations
                .iter()
                .any(|v| matches!(v, Violation::Safety { .. }))
            {
                found = Some(seed);
                break;
            }
        }
        set(Mutation::None);
        println!(
            "mutant {:<24} on {cfg:<13}: caught at seed {found:?}",
            m.name()
        );
        caught.push((m, found));
    }
    for (m, found) in caught {
        assert!(
            found.is_some(),
            "mutant {} survived {BUDGET} seeds",
            m.name()
        );
    }
}
