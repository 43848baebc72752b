//! The reference model equals the TLA+ model: breadth-first exploration of
//! the instance of `spec/MCHPaxos.cfg` (3 acceptors with a3 fake, 2
//! learners, ballots 0..1, 2 values, the stated fake and proposer domains,
//! at most `MaxMsgs` messages) reaches exactly the number of distinct states
//! TLC reports, and every state satisfies every conjunct of
//! `FullSafetyInvariant`. The TLC side of each count is pinned in
//! `scripts/tlc.sh` (CI instance) and was measured with
//! `scripts/tlc.sh <cfg> <count>`.

use hpaxos_spec::explore::Explorer;
use hpaxos_spec::instances::McParams;

fn explore(max_msgs: usize) -> hpaxos_spec::explore::Summary {
    let mut p = McParams::ci();
    p.max_msgs = max_msgs;
    let (model, constraint) = p.build();
    let mut ex = Explorer::new(model, constraint);
    let s = ex.run(false);
    assert!(s.violation.is_none(), "{:?}", s.violation);
    assert!(!s.truncated);
    s
}

/// `spec/MCHPaxos.cfg` (MaxMsgs = 6): TLC reports 27112 distinct states.
#[test]
fn ci_instance_reaches_tlc_count() {
    assert_eq!(explore(6).distinct, 27112);
}

/// The same model with MaxMsgs = 5 (`spec/MCHPaxosTeeth.cfg`'s constants):
/// TLC reports 8804 distinct states; MaxMsgs = 4: 2470.
#[test]
fn smaller_bounds_reach_tlc_counts() {
    assert_eq!(explore(5).distinct, 8804);
    assert_eq!(explore(4).distinct, 2470);
}
