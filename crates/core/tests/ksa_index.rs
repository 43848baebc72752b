//! Property test: the incremental `KnowsSafeAt` index (`OneBBucket`) agrees
//! with the literal transcription of `KnowsSafeAt1`/`KnowsSafeAt2`
//! (`safety::knows_safe_at`) on random buckets of 1b messages, random
//! `connected` sets, before and after a `Disconnect` rebuild.

use hpaxos_core::ksa_index::OneBBucket;
use hpaxos_core::safety::knows_safe_at;
use hpaxos_core::*;
use proptest::prelude::*;

fn trust() -> Trust {
    let all: AccSet = (0..5).map(AcceptorId).collect();
    let g = LearnerGraph {
        acceptors: (0..5).map(|i| format!("a{i}")).collect(),
        learners: vec![
            LearnerSpec {
                name: "l0".into(),
                quorums: Family::threshold(3, all, vec![]),
            },
            LearnerSpec {
                name: "l1".into(),
                quorums: Family::threshold(4, all, vec![]),
            },
        ],
        edges: vec![],
    };
    Trust::unchecked(g).expect("well-shaped")
}

fn vote() -> impl Strategy<Value = Vote> {
    (0u16..2, 0u64..4, 0u8..2).prop_map(|(l, b, v)| Vote {
        lr: LearnerId(l),
        bal: Ballot(b),
        val: Value::new(vec![b'x' + v]),
    })
}

fn msg1b(l: LearnerId, b: Ballot) -> impl Strategy<Value = Msg1b> {
    (
        0u16..5,
        prop::collection::vec(vote(), 0..3),
        prop::collection::vec(vote(), 0..3),
    )
        .prop_map(move |(acc, votes, proposals)| {
            let mut m = Msg1b {
                slot: Slot(0),
                lr: l,
                acc: AcceptorId(acc),
                bal: b,
                votes,
                proposals,
            };
            m.canonicalize();
            m
        })
}

fn connected(mask: u8) -> Connected {
    let mut c = Connected::all(2);
    for (i, (a, b)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
        if mask & (1 << i) != 0 {
            c.remove(LearnerId(a), LearnerId(b));
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn incremental_knows_safe_at_equals_the_spec(
        l in 0u16..2,
        b in 1u64..4,
        msgs in prop::collection::vec(msg1b(LearnerId(0), Ballot(0)), 0..8),
        mask in 0u8..16,
        mask2 in 0u8..16,
    ) {
        let (l, b) = (LearnerId(l), Ballot(b));
        let trust = trust();
        let msgs: Vec<Msg1b> = msgs.into_iter().map(|mut m| { m.lr = l; m.bal = b; m }).collect();
        let conn = connected(mask);
        let mut bucket = OneBBucket::new(l, b);
        let mut literal: Vec<Msg1b> = Vec::new();
        for m in &msgs {
            if bucket.insert(m.clone(), &conn) {
                literal.push(m.clone());
            }
        }
        for v in [Value::new(b"x".to_vec()), Value::new(b"y".to_vec())] {
            prop_assert_eq!(
                bucket.knows_safe_at(&trust, &v),
                knows_safe_at(&trust, &conn, &literal, l, b, &v)
            );
        }
        // Disconnect: fewer pairs, rebuilt index.
        let conn2 = connected(mask | mask2);
        bucket.rebuild(&conn2);
        for v in [Value::new(b"x".to_vec()), Value::new(b"y".to_vec())] {
            prop_assert_eq!(
                bucket.knows_safe_at(&trust, &v),
                knows_safe_at(&trust, &conn2, &literal, l, b, &v)
            );
        }
    }
}
