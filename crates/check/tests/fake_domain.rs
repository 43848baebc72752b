//! The fake acceptors' bounded message domain (`src/fake.rs`), the spec's
//! `FakeSend(a)`: every 1b a fake may send carries its own `acc`, a vote
//! and a proposal only below the 1b's ballot, at most one of each; with
//! `--fake-1b top` (issue 12: the smaller instance that catches
//! `ksa2-votes-above-c` completely) only 1b messages of the highest ballot
//! carry them, and those are exactly the `one` domain's 1b at that ballot.

mod support;

use hpaxos_check::{fake, Fake1b, Options};
use hpaxos_core::{Ballot, Message, Msg1b};

fn one_bs(fake_1b: Fake1b, ballots: u64) -> Vec<Msg1b> {
    let t = support::one_safe(&["alice"]);
    let opts = Options {
        ballots,
        values: 1,
        fake: support::set(&[1]),
        fake_1b,
        ..Options::default()
    };
    let bs: Vec<Ballot> = (1..=ballots).map(Ballot).collect();
    let values = hpaxos_check::instance::value_names(1);
    fake::domain(&t, &opts, &bs, &values)
        .into_iter()
        .filter_map(|m| match m {
            Message::M1b(b) => Some(b),
            _ => None,
        })
        .collect()
}

#[test]
fn top_lies_only_at_the_highest_ballot() {
    let top = one_bs(Fake1b::Top, 3);
    let one = one_bs(Fake1b::One, 3);
    for b in 1..=3u64 {
        let at = |v: &[Msg1b]| -> Vec<Msg1b> {
            v.iter().filter(|m| m.bal == Ballot(b)).cloned().collect()
        };
        let (t, o) = (at(&top), at(&one));
        if b == 3 {
            // Votes and proposals in {none, (1, x), (2, x)}: 3 x 3.
            assert_eq!(t, o, "ballot 3: the `one` domain");
            assert_eq!(t.len(), 9);
        } else {
            assert_eq!(t.len(), 1, "ballot {b}: one empty 1b");
            assert!(t[0].votes.is_empty() && t[0].proposals.is_empty());
        }
        for m in &t {
            assert!(m.votes.iter().chain(&m.proposals).all(|p| p.bal < m.bal));
        }
    }
    // `one` at ballot 2 has (1, x) votes and proposals: 2 x 2.
    assert_eq!(one.iter().filter(|m| m.bal == Ballot(2)).count(), 4);
}
