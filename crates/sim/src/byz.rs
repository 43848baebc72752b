//! Byzantine acceptors (the run's fake set) and their attacks.
//!
//! A fake acceptor runs a *shadow* safe acceptor on everything it receives,
//! so its messages are plausible, and then distorts what it sends:
//! equivocation (the real 2av/2b value to one side of the world, another
//! value to the other side), lying 1b messages (votes or proposals dropped
//! or invented), withholding and selective delivery, stale replays of its
//! own old messages, and random well-typed messages. Before GST it also
//! forges proposer messages, which carry no sender in the spec: a
//! competing 1c for the other side as soon as it sees a 1a, ballot
//! inflation (some of it to ballot `u64::MAX`, which the node layer's
//! ballot ceiling drops), and hijacks (a higher ballot with another value right after
//! a slot's first 2b). The fakes collude: they share the side assignment
//! and the per-slot alternative value (`evil:<slot>`).
//!
//! With each lying 1b it also sends a range 1b from that slot on that
//! reports nothing ([`World::range_lie`]): a hidden vote, and a claim that
//! every later slot is empty. The range 1b its shadow sends to a leader's
//! range 1a lie the same way ([`World::lie_range`]): reports hidden or
//! invented.
//!
//! It never sends a message in another acceptor's name: every message it
//! builds carries its own `acc`, and the network stamps the real sender.
//!
//! After GST, fakes stop forging 1a/1c (a real deployment authenticates
//! proposers) and send each 1b to everyone or no one (a 1b shown only to
//! the proposer can make it announce a value that acceptors never learn is
//! safe, which no timeout can repair); everything else continues. These
//! are the assumptions of the liveness oracle, not of safety.

use crate::net::Packet;
use crate::world::{AccNode, World};
use hpaxos_core::{
    Acceptor, Ballot, LearnerId, Message, Msg1a, Msg1b, Msg1bRange, Msg1c, Msg2av, Msg2b, Slot,
    SlotReport, Vote,
};
use std::collections::BTreeSet;

/// State of one Byzantine acceptor.
pub struct Fake {
    pub shadow: Acceptor,
    own: Vec<u32>,
    hijacked: BTreeSet<Slot>,
    max_bal: Ballot,
}

impl Fake {
    pub fn new(shadow: Acceptor) -> Fake {
        Fake {
            shadow,
            own: Vec::new(),
            hijacked: BTreeSet::new(),
            max_bal: Ballot::ZERO,
        }
    }
}

impl World<'_> {
    fn fake_mut(&mut self, node: u16) -> Option<&mut Fake> {
        match self.acc.get_mut(node as usize) {
            Some(AccNode::Fake(f)) => Some(f),
            _ => None,
        }
    }

    /// A fake acceptor receives `msg`: its shadow reacts, the reactions
    /// are distorted on the way out, and the observation may trigger a
    /// forged-proposer attack.
    pub(crate) fn fake_deliver(&mut self, node: u16, msg: &Message, cause: u32) {
        let mut fx = hpaxos_core::Effects::default();
        let mut fresh_2b_slot = false;
        if let Some(f) = self.fake_mut(node) {
            f.max_bal = f.max_bal.max(msg.bal());
            if let Message::M2b(m) = msg {
                fresh_2b_slot = !f.hijacked.contains(&m.slot);
            }
            // The shadow must not take 2b as its business: it only keeps
            // evidence there, which a fake has no use for.
            if !matches!(msg, Message::M2b(_)) {
                f.shadow.handle(msg, &mut fx);
            }
        }
        let out: Vec<Message> = fx.send.drain(..).collect();
        for m in out {
            self.byz_send(node, m, cause);
        }
        if msg.slot() > self.max_slot {
            self.max_slot = msg.slot();
        }
        if self.stable {
            return;
        }
        let at = self.sc.attack;
        match msg {
            Message::M1a(m) => {
                if self.brng.chance(at.compete_1c) {
                    self.stats.byz_attacks += 1;
                    let val = self.evil(m.slot);
                    let c = Message::M1c(Msg1c {
                        slot: m.slot,
                        lr: m.lr,
                        bal: m.bal,
                        val,
                    });
                    self.fake_sent(&c);
                    let id = self.store(node, Packet::Proto(c), cause);
                    for k in 0..self.to_acceptors.len() {
                        let to = self.to_acceptors[k];
                        if self.sc.side[to as usize] {
                            self.send_one(id, to);
                        }
                    }
                }
                if self.brng.chance(at.inflate) {
                    self.stats.byz_attacks += 1;
                    let to_max = self.brng.chance(at.max_ballot);
                    let bal = if to_max {
                        Ballot(u64::MAX)
                    } else {
                        Ballot(m.bal.0.saturating_add(self.brng.range(2, 60)))
                    };
                    let a = Message::M1a(Msg1a {
                        slot: m.slot,
                        lr: m.lr,
                        bal,
                    });
                    self.fake_sent(&a);
                    self.broadcast(node, Packet::Proto(a), cause);
                    if to_max {
                        // And values there: with no ballot above, a slot
                        // whose acceptors took the 1a could only ever
                        // decide at this ballot.
                        // Two values, one per side, so that it cannot.
                        let vals = [
                            self.evil(m.slot),
                            hpaxos_core::Value::new(format!("evil2:{}", m.slot.0).into_bytes()),
                        ];
                        for (k, val) in vals.into_iter().enumerate() {
                            let c = Message::M1c(Msg1c {
                                slot: m.slot,
                                lr: m.lr,
                                bal,
                                val,
                            });
                            self.fake_sent(&c);
                            let id = self.store(node, Packet::Proto(c), cause);
                            for j in 0..self.to_acceptors.len() {
                                let to = self.to_acceptors[j];
                                if self.sc.side[to as usize] == (k == 0) {
                                    self.send_one(id, to);
                                }
                            }
                        }
                    }
                }
            }
            Message::M2b(m) if fresh_2b_slot => {
                if let Some(f) = self.fake_mut(node) {
                    f.hijacked.insert(m.slot);
                }
                if self.brng.chance(at.hijack) {
                    self.hijack(node, m.slot, m.bal, cause);
                }
            }
            _ => {}
        }
    }

    /// A higher ballot of `slot` for a random set of learners, announcing
    /// the alternative value at once.
    fn hijack(&mut self, node: u16, slot: Slot, seen: Ballot, cause: u32) {
        self.stats.byz_attacks += 1;
        let top = self.fake_mut(node).map_or(seen, |f| f.max_bal.max(seen));
        let bal = Ballot(top.0.saturating_add(self.brng.range(1, 4)));
        let n = self.trust.n_learners() as u64;
        let mut learners: Vec<LearnerId> = self
            .trust
            .learners()
            .filter(|_| self.brng.chance(0.5))
            .collect();
        if learners.is_empty() {
            learners.push(LearnerId(self.brng.below(n) as u16));
        }
        let val = self.evil(slot);
        for lr in learners {
            for m in [
                Message::M1a(Msg1a { slot, lr, bal }),
                Message::M1c(Msg1c {
                    slot,
                    lr,
                    bal,
                    val: val.clone(),
                }),
            ] {
                self.fake_sent(&m);
                self.broadcast(node, Packet::Proto(m), cause);
            }
        }
    }

    fn lie(&mut self, m: &Msg1b) -> Msg1b {
        let mut l = m.clone();
        let below = Ballot(m.bal.0.saturating_sub(1));
        match self.brng.below(4) {
            0 => l.votes.clear(),
            1 => l.proposals.clear(),
            2 => {
                let lr = LearnerId(self.brng.below(self.trust.n_learners() as u64) as u16);
                l.votes.push(Vote {
                    lr,
                    bal: below,
                    val: self.evil(m.slot),
                });
            }
            _ => l.proposals.push(Vote {
                lr: m.lr,
                bal: below,
                val: self.evil(m.slot),
            }),
        }
        l.canonicalize();
        l
    }

    /// A lying version of the shadow's range 1b (the leader's range Phase
    /// 1, `hpaxos_core::node::range`): every report dropped (each slot's
    /// votes and proposals hidden, every slot claimed free), one report
    /// dropped, or a vote invented in a slot of the range. Still well
    /// formed and in the fake's own name: `FakeSend` of each element.
    fn lie_range(&mut self, r: &Msg1bRange) -> Msg1bRange {
        let mut l = r.clone();
        match self.brng.below(3) {
            0 => l.reports.clear(),
            1 if !l.reports.is_empty() => {
                let k = self.brng.below(l.reports.len() as u64) as usize;
                l.reports.remove(k);
            }
            _ => {
                let slot = Slot(r.from.0.saturating_add(self.brng.below(4)));
                let lr = LearnerId(self.brng.below(self.trust.n_learners() as u64) as u16);
                let vote = Vote {
                    lr,
                    bal: Ballot(r.bal.0.saturating_sub(1)),
                    val: self.evil(slot),
                };
                match l.reports.iter_mut().find(|x| x.slot == slot) {
                    Some(x) => {
                        x.votes.push(vote);
                        x.votes.sort();
                        x.votes.dedup();
                    }
                    None => {
                        l.reports.push(SlotReport {
                            slot,
                            votes: vec![vote],
                            proposals: Vec::new(),
                        });
                        l.reports.sort_by_key(|x| x.slot);
                    }
                }
            }
        }
        l
    }

    /// Sends one of the shadow's messages, distorted.
    fn byz_send(&mut self, node: u16, m: Message, cause: u32) {
        let at = self.sc.attack;
        let stable = self.stable;
        let variant: Option<Message> = match &m {
            Message::M1b(b) if self.brng.chance(at.lie_1b) => Some(Message::M1b(self.lie(b))),
            Message::M1bRange(r) if self.brng.chance(at.lie_1b) => {
                self.stats.range_lies += 1;
                Some(Message::M1bRange(self.lie_range(r)))
            }
            Message::M2av(x) if self.brng.chance(at.equivocate) => Some(Message::M2av(Msg2av {
                val: self.evil(x.slot),
                ..x.clone()
            })),
            Message::M2b(x) if self.brng.chance(at.equivocate) => Some(Message::M2b(Msg2b {
                val: self.evil(x.slot),
                ..x.clone()
            })),
            _ => None,
        };
        let is_1b = matches!(m, Message::M1b(_) | Message::M1bRange(_));
        if let (Message::M1b(b), Some(_)) = (&m, &variant) {
            self.range_lie(node, b, cause);
        }
        if variant.is_some() || at.withhold > 0.0 {
            self.stats.byz_attacks += 1;
        }
        let recipients: Vec<u16> = match &m {
            Message::M1b(_) | Message::M1bRange(_) => self.to_1b.clone(),
            Message::M2b(x) => self
                .learner_nodes
                .get(x.lr.index())
                .cloned()
                .unwrap_or_default(),
            _ => self.to_acceptors.clone(),
        };
        // After GST a 1b goes to everyone or no one, lie or not.
        if stable && is_1b {
            if self.brng.chance(at.withhold) {
                return;
            }
            let msg = variant.unwrap_or(m);
            self.fake_sent(&msg);
            let id = self.store(node, Packet::Proto(msg), cause);
            self.remember(node, id);
            for to in recipients {
                self.send_one(id, to);
            }
            return;
        }
        self.fake_sent(&m);
        let real = self.store(node, Packet::Proto(m), cause);
        self.remember(node, real);
        let alt = variant.map(|v| {
            self.fake_sent(&v);
            let id = self.store(node, Packet::Proto(v), cause);
            self.remember(node, id);
            id
        });
        for to in recipients {
            if self.brng.chance(at.withhold) {
                continue;
            }
            let id = match alt {
                Some(a) if self.sc.side[to as usize] => a,
                _ => real,
            };
            self.send_one(id, to);
        }
    }

    /// With every lying 1b, a range 1b from the same slot on that reports
    /// nothing (issue 9, item 1): it hides the slot's votes and proposals
    /// and claims every later slot empty, in the fake's own name, to every
    /// 1b recipient. Each safe acceptor keeps it and counts its element in
    /// the `KnowsSafeAt` of every slot it covers, including slots created
    /// later; for the refinement checker it is `FakeSend` of each element.
    fn range_lie(&mut self, node: u16, b: &Msg1b, cause: u32) {
        self.stats.byz_attacks += 1;
        self.stats.range_lies += 1;
        let r = Message::M1bRange(Msg1bRange {
            from: b.slot,
            lr: b.lr,
            acc: b.acc,
            bal: b.bal,
            reports: Vec::new(),
        });
        self.fake_sent(&r);
        let id = self.store(node, Packet::Proto(r), cause);
        self.remember(node, id);
        for k in 0..self.to_1b.len() {
            let to = self.to_1b[k];
            self.send_one(id, to);
        }
    }

    fn remember(&mut self, node: u16, id: u32) {
        if let Some(f) = self.fake_mut(node) {
            if f.own.len() < 256 {
                f.own.push(id);
            } else {
                let k = id as usize % 256;
                f.own[k] = id;
            }
        }
    }

    /// A Byzantine acceptor's own initiative: random well-typed messages
    /// in its own name and replays of its own stale messages.
    pub(crate) fn byz_tick(&mut self, node: u16) {
        let at = self.sc.attack;
        if self.brng.chance(at.random) {
            self.stats.byz_attacks += 1;
            let m = self.random_message(node);
            let recipients: Vec<u16> = match &m {
                Message::M1b(_) => self.to_1b.clone(),
                Message::M2b(x) => self
                    .learner_nodes
                    .get(x.lr.index())
                    .cloned()
                    .unwrap_or_default(),
                _ => self.to_acceptors.clone(),
            };
            let all = self.stable && matches!(m, Message::M1b(_));
            self.fake_sent(&m);
            let id = self.store(node, Packet::Proto(m), crate::net::NO_CAUSE);
            self.remember(node, id);
            for to in recipients {
                if all || self.brng.chance(0.6) {
                    self.send_one(id, to);
                }
            }
        }
        if self.brng.chance(at.replay) {
            let old = self
                .fake_mut(node)
                .map(|f| f.own.clone())
                .unwrap_or_default();
            if let Some(&id) = self.brng.pick(&old) {
                self.stats.byz_attacks += 1;
                let (is_1b, recipients) = match &self.arena[id as usize].pkt {
                    Packet::Proto(Message::M1b(_)) => (true, self.to_1b.clone()),
                    Packet::Proto(Message::M2b(x)) => (
                        false,
                        self.learner_nodes
                            .get(x.lr.index())
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    _ => (false, self.to_acceptors.clone()),
                };
                let all = self.stable && is_1b;
                for to in recipients {
                    if all || self.brng.chance(0.5) {
                        self.send_one(id, to);
                    }
                }
            }
        }
        let t = self.now + self.brng.range(1_000, 4_000);
        self.q.push(t, crate::net::Ev::Byz { node });
    }

    fn random_message(&mut self, node: u16) -> Message {
        let acc = hpaxos_core::AcceptorId(node);
        let slot = Slot(self.brng.below(self.max_slot.0 + 2));
        let lr = LearnerId(self.brng.below(self.trust.n_learners() as u64) as u16);
        let top = self.fake_mut(node).map_or(Ballot::ZERO, |f| f.max_bal);
        let bal = Ballot(self.brng.below(top.0.saturating_add(3)));
        let val = if self.brng.chance(0.5) {
            self.evil(slot)
        } else {
            hpaxos_core::Value::new(format!("rnd:{}", self.brng.below(4)).into_bytes())
        };
        match self.brng.below(3) {
            0 => {
                let mut b = Msg1b {
                    slot,
                    lr,
                    acc,
                    bal,
                    votes: Vec::new(),
                    proposals: Vec::new(),
                };
                if bal.0 > 0 && self.brng.chance(0.5) {
                    b.votes.push(Vote {
                        lr,
                        bal: Ballot(self.brng.below(bal.0)),
                        val: val.clone(),
                    });
                }
                if bal.0 > 0 && self.brng.chance(0.5) {
                    b.proposals.push(Vote {
                        lr,
                        bal: Ballot(self.brng.below(bal.0)),
                        val,
                    });
                }
                b.canonicalize();
                Message::M1b(b)
            }
            1 => Message::M2av(Msg2av {
                slot,
                lr,
                acc,
                bal,
                val,
            }),
            _ => Message::M2b(Msg2b {
                slot,
                lr,
                acc,
                bal,
                val,
            }),
        }
    }

    /// Tells the refinement checker about a message a fake acceptor sent:
    /// `FakeSend` for its own 1b/2av/2b, `Phase1a`/`Phase1c` (unguarded
    /// spec actions anyone may take) for forged proposer messages.
    fn fake_sent(&mut self, m: &Message) {
        let Some(r) = self.refiner.as_mut() else {
            return;
        };
        self.stats.spec_actions += 1;
        if let Err(what) = r.fake_send(m) {
            self.oracle
                .violations
                .push(crate::oracle::Violation::Refinement { t: self.now, what });
        }
    }
}
