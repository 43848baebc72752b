//! The model's network duplicates messages by keeping each sent message
//! deliverable, but delivers it to each actor once: that is exact only if a
//! second delivery of a message is a no-op for every core state machine (no
//! state change, nothing sent that was not already sent). This test checks
//! that claim on every reachable state of the one-safe instance with two
//! learners and any 1c (so 1c messages that differ only in their learner,
//! which the core treats as repeats, occur), for every actor and every
//! message it already received.

mod support;

use hpaxos_check::model::{CheckModel, Role, SysState};
use hpaxos_check::{Fake1b, Instance, Options};
use hpaxos_core::{Effects, Message};
use stateright::Model;
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

fn fp(s: &SysState) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Re-handles `msg` on a copy of `role`; true if nothing changes.
fn redelivery_is_a_no_op(m: &CheckModel, s: &SysState, role: &Role, msg: &Message) -> bool {
    let mut r = role.clone();
    let mut fx = Effects::default();
    match &mut r {
        Role::Acceptor(a) => a.handle(msg, &mut fx),
        Role::Learner(l) => l.handle(msg, &mut fx),
        Role::Proposer { p, .. } => p.handle(msg, &mut fx),
    }
    let already_sent = fx.send.iter().all(|x| {
        s.sent
            .iter()
            .any(|id| m.interner.get(id).is_some_and(|y| *y == *x))
    });
    r == *role && already_sent && fx.decisions.is_empty()
}

#[test]
fn a_second_delivery_changes_nothing_in_any_reachable_state() {
    let inst = Instance::new(
        support::one_safe(&["alice", "bob"]),
        Options {
            ballots: 1,
            fake: support::set(&[1]),
            fake_1b: Fake1b::Empty,
            any_1c: true,
            ..Options::default()
        },
    )
    .expect("instance");
    let mut m = CheckModel::new(inst, None);
    // Proposers hear 1b here too (the model leaves them out with
    // `any_1c`), so their second deliveries are checked as well.
    m.proposers_hear_1b = true;
    let mut seen = HashSet::new();
    let mut queue: VecDeque<SysState> = m.init_states().into();
    let mut checked = 0usize;
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if !seen.insert(fp(&s)) {
            continue;
        }
        for node in &s.nodes {
            let ids: Vec<_> = match &node.role {
                // Learners get every 2b of theirs when it is sent.
                Role::Learner(_) => s.sent.iter().collect(),
                _ => node.delivered.iter().collect(),
            };
            for id in ids {
                let Some(msg) = m.interner.get(id) else {
                    continue;
                };
                if matches!(node.role, Role::Learner(_)) && !matches!(*msg, Message::M2b(_)) {
                    continue;
                }
                assert!(
                    redelivery_is_a_no_op(&m, &s, &node.role, &msg),
                    "second delivery of {msg:?} changed {:?}",
                    node.role
                );
                checked += 1;
            }
        }
        m.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(n) = m.next_state(&s, a) {
                queue.push_back(n);
            }
        }
    }
    assert_eq!(seen.len(), 25856, "the same space as `hpaxos check`");
    assert!(checked > 50_000, "{checked}");
}
