//! Unit tests of the pacemaker: each names the rule of the module doc it
//! exercises.

use super::*;
use crate::testing::demo_trust;

const A: LearnerId = LearnerId(0);
const B: LearnerId = LearnerId(1);

fn cfg(me: u16, n: u16) -> PacemakerConfig {
    let mut c = PacemakerConfig::new(ProposerIndex(me), n, vec![A, B], 10);
    c.max_batch = 2;
    c.window = 2;
    c
}

fn leader(me: u16, n: u16) -> Pacemaker {
    let mut p = Pacemaker::new(cfg(me, n)).unwrap();
    p.set_trust(demo_trust());
    p.set_leader(Tick(0), true);
    p
}

/// The next `n` wakeups of `p` start only pinned retries at `c`.
fn stays_pinned_at(p: &mut Pacemaker, c: Ballot, n: usize) {
    for _ in 0..n {
        let mut out = Vec::new();
        let t = p.next_wakeup().expect("a retry is due");
        p.poll(t, &mut out);
        assert!(
            out.iter()
                .all(|a| matches!(a, Action::Start { pinned: true, ballot, .. } if *ballot == c)),
            "{out:?}"
        );
    }
}

/// `B` (bob, any 3 of 5) proposed at `c` in slot 0, seen from three acceptors.
fn bob_proposed(p: &mut Pacemaker, c: Ballot) {
    for a in 0..3 {
        p.observe_proposal(Slot(0), B, c, AcceptorId(a), &Value::new(b"x".to_vec()));
    }
}

fn starts(out: &[Action]) -> Vec<(Slot, Ballot)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Start { slot, ballot, .. } => Some((*slot, *ballot)),
            _ => None,
        })
        .collect()
}

fn value_of(out: &[Action], i: usize) -> Value {
    match &out[i] {
        Action::Start { value, .. } => value.clone(),
        other => panic!("not a start: {other:?}"),
    }
}

#[test]
fn ballots_are_owned_round_robin_and_never_zero() {
    for n in 1..5u16 {
        for me in 0..n {
            let mut b = Ballot::ZERO;
            for _ in 0..10 {
                let nb = next_owned(ProposerIndex(me), n, b);
                assert!(nb > b && nb.0 > 0);
                assert_eq!(owner(nb, n), ProposerIndex(me));
                assert!((b.0 + 1..nb.0).all(|x| owner(Ballot(x), n).0 != me || x == 0));
                b = nb;
            }
        }
    }
}

#[test]
fn batches_round_trip_and_reject_garbage() {
    let cmds = vec![b"put a 1".to_vec(), Vec::new(), b"x".to_vec()];
    let v = encode_batch(ProposerIndex(3), Slot(77), &cmds);
    let b = decode_batch(v.bytes().unwrap()).unwrap();
    assert_eq!(b.proposer, ProposerIndex(3));
    assert_eq!(b.slot, Slot(77));
    assert_eq!(b.commands, cmds);
    assert!(decode_batch(b"").is_err());
    assert!(decode_batch(&v.bytes().unwrap()[..v.len() - 1]).is_err());
    assert!(decode_batch(b"Zxxxxxxxxxxxxxxx").is_err());
}

#[test]
fn only_the_leader_starts_slots_and_they_are_contiguous() {
    let mut f = Pacemaker::new(cfg(1, 3)).unwrap();
    f.submit(Tick(0), vec![1]);
    f.submit(Tick(0), vec![2]);
    let mut out = Vec::new();
    f.poll(Tick(100), &mut out);
    assert!(out.is_empty(), "a follower starts nothing");
    assert_eq!(f.next_wakeup(), None);
    let mut p = leader(1, 3);
    for i in 0..7u8 {
        p.submit(Tick(0), vec![i]);
    }
    p.poll(Tick(0), &mut out);
    // Window 2, batch 2: slots 0 and 1 at proposer 1's first ballot.
    assert_eq!(
        starts(&out),
        vec![(Slot(0), Ballot(1)), (Slot(1), Ballot(1))]
    );
    assert_eq!(p.queued(), 3);
}

#[test]
fn one_learner_deciding_frees_the_window() {
    // Per-learner progress: B's missing decision does not hold A back.
    let mut p = leader(0, 1);
    for i in 0..6u8 {
        p.submit(Tick(0), vec![i]);
    }
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    assert_eq!(starts(&out).len(), 2);
    let v0 = value_of(&out, 0);
    p.on_decided(Tick(5), Slot(0), A, Ballot(1), &v0);
    out.clear();
    p.poll(Tick(5), &mut out);
    assert_eq!(starts(&out), vec![(Slot(2), Ballot(1))]);
    assert!(!p.is_complete(Slot(0)));
    assert!(p.is_decided_by_any(Slot(0)));
}

#[test]
fn missing_learner_is_retried_at_the_decided_ballot_first() {
    let mut p = leader(0, 2);
    p.submit(Tick(0), b"a".to_vec());
    p.submit(Tick(0), b"b".to_vec());
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    let v = value_of(&out, 0);
    // A decided at ballot 2 (the first owned of proposer 0 among 2).
    p.on_decided(Tick(1), Slot(0), A, Ballot(2), &v);
    p.observe(Tick(1), Slot(0), Ballot(2));
    out.clear();
    let t = p.next_wakeup().unwrap();
    p.poll(t, &mut out);
    match &out[..] {
        [Action::Start {
            slot,
            ballot,
            value,
            learners,
            pinned,
        }] => {
            assert_eq!((*slot, *ballot), (Slot(0), Ballot(2)));
            assert_eq!(value, &v);
            assert_eq!(learners, &vec![B]);
            assert!(*pinned);
        }
        other => panic!("expected one pinned start, got {other:?}"),
    }
    // While no ballot above 2 is seen, it stays pinned (B's quorum may
    // just be away: it must find its ballot when it returns).
    stays_pinned_at(&mut p, Ballot(2), 3);
    // Rule (a): a higher ballot seen (bob's maxBal may be above 2 only for
    // another learner) does not move B above 2 while its proposals at 2
    // are not seen from one of its quorums.
    p.observe(Tick(1), Slot(0), Ballot(5));
    stays_pinned_at(&mut p, Ballot(2), 3);
    bob_proposed(&mut p, Ballot(2));
    let mut pinned = 0;
    for _ in 0..20 {
        out.clear();
        let t = p.next_wakeup().unwrap();
        p.poll(t, &mut out);
        for a in &out {
            if let Action::Start {
                pinned: pin,
                ballot,
                ..
            } = a
            {
                if *pin {
                    pinned += 1;
                    assert_eq!(*ballot, Ballot(2));
                } else {
                    assert!(*ballot > Ballot(5));
                    return;
                }
            }
        }
    }
    panic!("never moved above the pinned ballot ({pinned} pinned tries)");
}

#[test]
fn timeout_retransmits_then_moves_above_observed_ballot_with_backoff() {
    let mut p = leader(1, 2);
    p.submit(Tick(0), b"a".to_vec());
    p.submit(Tick(0), b"b".to_vec());
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    assert_eq!(starts(&out), vec![(Slot(0), Ballot(1))]);
    let t1 = p.next_wakeup().unwrap();
    assert!(t1 >= Tick(120) && t1 <= Tick(180));
    out.clear();
    p.poll(t1, &mut out);
    assert_eq!(
        out,
        vec![Action::Retransmit {
            slot: Slot(0),
            ballot: Ballot(1)
        }]
    );
    p.observe(t1, Slot(0), Ballot(8));
    let t = p.next_wakeup().unwrap();
    out.clear();
    p.poll(t, &mut out);
    // Before a fresh ballot, the votes are asked for (rule (a)).
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(p.take_probe(), Some((Slot(0), Slot(1))));
    let t2 = p.next_wakeup().unwrap();
    assert_eq!(t2.0 - t.0, p.config().takeover_grace);
    p.poll(t2, &mut out);
    assert_eq!(starts(&out), vec![(Slot(0), Ballot(9))]);
    let t3 = p.next_wakeup().unwrap();
    assert!(t3.0 - t2.0 >= 240 && t3.0 - t2.0 <= 360);
}

#[test]
fn hurry_retries_a_backed_off_slot_within_one_base_timeout() {
    // A slot whose ballots kept timing out (its acceptors away) waits up to
    // max_timeout; when they are heard again it is retried within one base
    // timeout, and its backoff starts over.
    let mut p = leader(0, 1);
    p.submit(Tick(0), b"a".to_vec());
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    let base = p.config().base_timeout;
    let mut now = Tick(0);
    let mut wait = 0;
    for _ in 0..100 {
        now = p.next_wakeup().unwrap();
        out.clear();
        p.poll(now, &mut out);
        let _ = p.take_probe();
        wait = p.next_wakeup().unwrap().0 - now.0;
        if wait > 2 * base {
            break;
        }
    }
    assert!(wait > 2 * base, "backed off: {wait} > 2 x {base}");
    p.hurry(now);
    let t = p.next_wakeup().unwrap();
    assert!(t.0 - now.0 <= base, "retried within one base timeout");
    out.clear();
    p.poll(t, &mut out);
    assert!(!out.is_empty(), "the slot is retried");
    let next = p.next_wakeup().unwrap().0 - t.0;
    assert!(next <= base + base / 2 + 1, "backoff starts over: {next}");
}

#[test]
fn forced_value_requeues_the_commands() {
    let mut p = leader(0, 1);
    p.submit(Tick(0), b"a".to_vec());
    p.submit(Tick(0), b"b".to_vec());
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    assert_eq!(p.queued(), 0);
    let other = Value::new(b"someone else's".to_vec());
    p.on_decided(Tick(1), Slot(0), A, Ballot(1), &other);
    p.on_decided(Tick(1), Slot(0), B, Ballot(1), &other);
    assert!(p.is_complete(Slot(0)));
    assert_eq!(p.queued(), 2);
    out.clear();
    p.poll(Tick(1), &mut out);
    assert_eq!(starts(&out), vec![(Slot(1), Ballot(1))]);
    let b = decode_batch(value_of(&out, 0).bytes().unwrap()).unwrap();
    assert_eq!(b.commands, vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn a_new_leader_takes_over_started_slots_and_fills_holes() {
    // Proposer 1 of 2 saw slot 3 started by the old leader (ballot 2),
    // and slot 1 decided; slots 0 and 2 were never seen (holes).
    let mut p = Pacemaker::new(cfg(1, 2)).unwrap();
    p.observe(Tick(0), Slot(3), Ballot(2));
    let v = Value::new(b"x".to_vec());
    p.on_decided(Tick(0), Slot(1), A, Ballot(2), &v);
    p.on_decided(Tick(0), Slot(1), B, Ballot(2), &v);
    p.set_leader(Tick(10), true);
    // The taken-over slots wait for the answers to the vote query.
    assert_eq!(p.take_probe(), Some((Slot(0), Slot(4))));
    assert_eq!(p.take_probe(), None);
    let mut out = Vec::new();
    p.poll(Tick(10), &mut out);
    assert!(starts(&out).is_empty(), "{out:?}");
    let grace = p.config().takeover_grace;
    p.poll(Tick(10 + grace), &mut out);
    let mut s = starts(&out);
    s.sort();
    assert_eq!(
        s,
        vec![
            (Slot(0), Ballot(1)),
            (Slot(2), Ballot(1)),
            (Slot(3), Ballot(3))
        ]
    );
    assert_eq!(p.stats().takeovers, 1);
    // New commands go above every slot seen.
    p.submit(Tick(10), b"c".to_vec());
    p.submit(Tick(10), b"d".to_vec());
    out.clear();
    let t = Tick(11 + grace);
    p.on_decided(t, Slot(0), A, Ballot(1), &v);
    p.on_decided(t, Slot(2), A, Ballot(1), &v);
    p.poll(t, &mut out);
    assert!(starts(&out).contains(&(Slot(4), Ballot(1))));
}

/// The fault harness's stall: a new leader (its ballot floor far above
/// the old leader's ballots, as after a restart) takes over a slot that
/// A decided at ballot 2. B stays pinned at 2 for as long as no ballot
/// above 2 is seen: its own floor is not an observed ballot, and moving
/// B above 2 would leave B's 1b reporting A's votes at 2 with no B
/// proposals there (`KnowsSafeAt2` unsatisfiable for ever).
#[test]
fn a_new_leaders_ballot_floor_does_not_cut_pinned_retries_short() {
    let mut c = cfg(1, 2);
    c.ballot_floor = Ballot(1 << 20);
    let mut p = Pacemaker::new(c).unwrap();
    p.set_trust(demo_trust());
    let v = Value::new(b"x".to_vec());
    p.observe(Tick(0), Slot(0), Ballot(2));
    p.observe_vote(Slot(0), Ballot(2), &v, AcceptorId(0));
    p.on_decided(Tick(0), Slot(0), A, Ballot(2), &v);
    p.set_leader(Tick(0), true);
    let mut pinned = 0;
    for _ in 0..7 {
        let mut out = Vec::new();
        let t = p.next_wakeup().unwrap_or(Tick(1));
        p.poll(t, &mut out);
        for a in &out {
            match a {
                Action::Start {
                    slot: Slot(0),
                    ballot,
                    value,
                    learners,
                    pinned: pin,
                } => {
                    assert!(*pin, "moved B above its pinned ballot: {a:?}");
                    assert_eq!((*ballot, value, learners), (Ballot(2), &v, &vec![B]));
                    pinned += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(pinned, 7);
    // Once B's proposals at 2 are seen from a quorum of B, it moves above
    // every ballot seen (after the vote query).
    p.observe(Tick(0), Slot(0), Ballot(7));
    bob_proposed(&mut p, Ballot(2));
    let mut moved = None;
    for _ in 0..5 {
        let mut out = Vec::new();
        let t = p.next_wakeup().unwrap_or(Tick(1));
        p.poll(t, &mut out);
        let fresh = out.iter().find_map(|a| match a {
            Action::Start {
                ballot,
                pinned: false,
                ..
            } => Some(*ballot),
            _ => None,
        });
        if fresh.is_some() {
            moved = fresh;
            break;
        }
    }
    let b = moved.expect("never moved above the observed ballot");
    assert!(
        b > Ballot(1 << 20) && owner(b, 2) == ProposerIndex(1),
        "{b:?}"
    );
}

/// A vote seen from one acceptor only (it may be a Byzantine acceptor's
/// 2b at a made-up ballot) pins the slot for `pin_tries` attempts, then
/// the proposer moves above it: no single acceptor holds a slot for ever.
#[test]
fn a_lone_vote_pins_only_for_the_pinned_tries() {
    let mut p = leader(0, 2);
    let w = Value::new(b"w".to_vec());
    p.observe(Tick(0), Slot(0), Ballot(1 << 30));
    p.observe_vote(Slot(0), Ballot(1 << 30), &w, AcceptorId(3));
    let mut kinds = Vec::new();
    let mut t = Tick(0);
    for _ in 0..6 {
        let mut out = Vec::new();
        p.poll(t, &mut out);
        for a in &out {
            if let Action::Start { ballot, pinned, .. } = a {
                kinds.push((*pinned, *ballot > Ballot(1 << 30)));
            }
        }
        t = p.next_wakeup().unwrap_or(t);
    }
    assert_eq!(kinds.iter().filter(|k| k.0).count(), 2, "{kinds:?}");
    assert!(kinds.iter().any(|k| !k.0 && k.1), "{kinds:?}");
}

#[test]
fn stepping_down_hands_back_undecided_commands() {
    let mut p = leader(0, 2);
    for i in 0..3u8 {
        p.submit(Tick(0), vec![i]);
    }
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    p.set_leader(Tick(1), false);
    let cmds = p.take_commands();
    assert_eq!(cmds, vec![vec![0], vec![1], vec![2]]);
    assert_eq!(p.in_flight(), 0);
    out.clear();
    p.poll(Tick(1000), &mut out);
    assert!(out.is_empty());
}

#[test]
fn bad_configurations_are_rejected() {
    let mut c = cfg(0, 1);
    c.proposers = 0;
    assert_eq!(Pacemaker::new(c).err(), Some(PacemakerError::NoProposers));
    assert!(Pacemaker::new(cfg(2, 2)).is_err());
    let mut c = cfg(0, 1);
    c.window = 0;
    assert!(Pacemaker::new(c).is_err());
}

/// Issue 9 item 3: a batch is cut by bytes as well as by count, and the
/// commands that arrive while the window is full wait only for the next
/// free slot: when one frees, they all go in its batch at once (no new
/// batch delay, none left behind up to the bounds).
#[test]
fn batches_cut_by_bytes_and_late_commands_ride_the_next_slot() {
    let mut c = cfg(0, 1);
    c.window = 1;
    c.max_batch = 1000;
    c.max_batch_bytes = 300;
    c.batch_delay = 10;
    let mut p = Pacemaker::new(c).unwrap();
    p.set_trust(demo_trust());
    p.set_leader(Tick(0), true);
    for i in 0..5u8 {
        p.submit(Tick(0), vec![i; 100]);
    }
    // 300 bytes queued or more: cut at once, before the delay, 3 commands.
    let mut out = Vec::new();
    p.poll(Tick(0), &mut out);
    assert_eq!(starts(&out), vec![(Slot(0), Ballot(1))]);
    let v0 = value_of(&out, 0);
    let b0 = decode_batch(v0.bytes().unwrap()).unwrap();
    assert_eq!(b0.commands.len(), 3);
    // Two more arrive while slot 0 is in flight (the window is full).
    p.submit(Tick(2), vec![7; 10]);
    p.submit(Tick(3), vec![8; 10]);
    out.clear();
    p.poll(Tick(4), &mut out);
    assert!(starts(&out).is_empty(), "the window is full: {out:?}");
    // Slot 0 decided at tick 5: the next batch leaves in the same poll
    // with everything queued (the two left over and the two late ones).
    p.on_decided(Tick(5), Slot(0), A, Ballot(1), &v0);
    p.on_decided(Tick(5), Slot(0), B, Ballot(1), &v0);
    out.clear();
    p.poll(Tick(5), &mut out);
    assert_eq!(starts(&out), vec![(Slot(1), Ballot(1))]);
    let b1 = decode_batch(value_of(&out, 0).bytes().unwrap()).unwrap();
    assert_eq!(
        b1.commands,
        vec![vec![3; 100], vec![4; 100], vec![7; 10], vec![8; 10]]
    );
}
