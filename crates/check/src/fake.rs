//! The fake (Byzantine) acceptors' message domain.
//!
//! The spec's `FakeSend(a)` lets a fake acceptor send any well-typed 1b, 2av
//! or 2b carrying its own `acc`, at any time. In the model these messages are
//! all in the network from the initial state: the network duplicates, so a
//! message present from the start can be delivered at any later point, to any
//! recipient, any number of times, which covers every time a fake acceptor
//! could have chosen to send it. The domain is bounded by the instance's
//! ballots and values, and a 1b carries at most one vote and one proposal
//! ([`Fake1b`]), as in the TLA+ models (or, with [`Fake1b::Top`], only a 1b
//! of the highest ballot does).

use crate::instance::{Fake1b, Options, SLOT};
use hpaxos_core::{Ballot, Message, Msg1b, Msg2av, Msg2b, Trust, Value, Vote};

/// Every message the fake acceptors may send, in a fixed order.
pub fn domain(trust: &Trust, opts: &Options, ballots: &[Ballot], values: &[Value]) -> Vec<Message> {
    let mut out = Vec::new();
    let learners: Vec<_> = trust.learners().collect();
    for f in opts.fake.iter() {
        for &l in &learners {
            for &b in ballots {
                if opts.fake_1b != Fake1b::None {
                    let below: Vec<Ballot> = ballots.iter().copied().filter(|c| *c < b).collect();
                    let mut votes: Vec<Vec<Vote>> = vec![Vec::new()];
                    let mut props: Vec<Vec<Vote>> = vec![Vec::new()];
                    let rich = match opts.fake_1b {
                        Fake1b::One => true,
                        Fake1b::Top => ballots.last() == Some(&b),
                        Fake1b::None | Fake1b::Empty => false,
                    };
                    if rich {
                        for &c in &below {
                            for v in values {
                                for &lv in &learners {
                                    votes.push(vec![Vote {
                                        lr: lv,
                                        bal: c,
                                        val: v.clone(),
                                    }]);
                                }
                                props.push(vec![Vote {
                                    lr: l,
                                    bal: c,
                                    val: v.clone(),
                                }]);
                            }
                        }
                    }
                    for vs in &votes {
                        for ps in &props {
                            let mut m = Msg1b {
                                slot: SLOT,
                                lr: l,
                                acc: f,
                                bal: b,
                                votes: vs.clone(),
                                proposals: ps.clone(),
                            };
                            m.canonicalize();
                            out.push(Message::M1b(m));
                        }
                    }
                }
                for v in values {
                    if opts.fake_2av {
                        out.push(Message::M2av(Msg2av {
                            slot: SLOT,
                            lr: l,
                            acc: f,
                            bal: b,
                            val: v.clone(),
                        }));
                    }
                    if opts.fake_2b {
                        out.push(Message::M2b(Msg2b {
                            slot: SLOT,
                            lr: l,
                            acc: f,
                            bal: b,
                            val: v.clone(),
                        }));
                    }
                }
            }
        }
    }
    out
}
