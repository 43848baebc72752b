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

/// `spec/MCHPaxosRecvAll.cfg`: acceptors receive every message type
/// (MaxMsgs = 4): TLC reports 45073 distinct states.
#[test]
fn receiving_every_kind_reaches_tlc_count() {
    let mut p = McParams::ci();
    p.max_msgs = 4;
    p.recv_kinds = vec!["1a", "1b", "1c", "2av", "2b"];
    let (model, constraint) = p.build();
    let s = Explorer::new(model, constraint).run(false);
    assert!(s.violation.is_none(), "{:?}", s.violation);
    assert_eq!(s.distinct, 45073);
}

/// `spec/MCHPaxosDisconnect.cfg`: no pair entangled, so `Disconnect` removes
/// any subset of pairs (MaxMsgs = 2): TLC reports 27904 distinct states.
#[test]
fn disconnect_instance_reaches_tlc_count() {
    let mut p = McParams::ci();
    p.max_msgs = 2;
    p.edge_core = [0u16, 2].into_iter().map(hpaxos_core::AcceptorId).collect();
    let (model, constraint) = p.build();
    assert!(!model
        .inst
        .ent(hpaxos_core::LearnerId(0), hpaxos_core::LearnerId(1)));
    let s = Explorer::new(model, constraint).run(false);
    assert!(s.violation.is_none(), "{:?}", s.violation);
    assert_eq!(s.distinct, 27904);
}
