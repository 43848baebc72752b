//! What a failure report shows: a bounded ring of the most recent events, the
//! complete list of injected faults (few), and the causal history of the
//! violating decisions, walked back through the `cause` link every sent
//! message carries (the message whose handling produced it).
//!
//! Rendering needs names: [`Names`] maps node indexes and ids to the
//! configuration's names (`a3!` marks a Byzantine acceptor, `alice.1` is
//! replica 1 of learner `alice`, `p0` a proposer).

use crate::net::{Packet, Sent, NO_CAUSE};
use crate::params::Micros;
use crate::scenario::Layout;
use hpaxos_core::node::Control;
use hpaxos_core::pacemaker::decode_batch;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId, Message, Slot, Trust, Value};
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;

/// One recorded event.
#[derive(Clone, Debug)]
pub enum TraceEv {
    Deliver {
        t: Micros,
        id: u32,
        to: u16,
    },
    Drop {
        t: Micros,
        id: u32,
        to: u16,
        why: &'static str,
    },
    Fault {
        t: Micros,
        what: String,
    },
    Decide {
        t: Micros,
        node: u16,
        slot: Slot,
        bal: Ballot,
        val: Value,
    },
}

/// Recent events (bounded) plus every fault.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    cap: usize,
    pub recent: VecDeque<TraceEv>,
    pub faults: Vec<(Micros, String)>,
}

impl Trace {
    pub fn new(cap: usize) -> Trace {
        Trace {
            cap,
            recent: VecDeque::with_capacity(cap),
            faults: Vec::new(),
        }
    }

    pub fn push(&mut self, e: TraceEv) {
        if self.cap == 0 {
            return;
        }
        if self.recent.len() == self.cap {
            self.recent.pop_front();
        }
        self.recent.push_back(e);
    }

    pub fn fault(&mut self, t: Micros, what: String) {
        self.push(TraceEv::Fault {
            t,
            what: what.clone(),
        });
        self.faults.push((t, what));
    }
}

/// Names for rendering.
pub struct Names<'a> {
    pub trust: &'a Trust,
    pub lay: Layout,
    pub fake: AccSet,
}

impl Names<'_> {
    pub fn node(&self, n: u16) -> String {
        let l = self.lay;
        if n < l.acceptors {
            self.acc(AcceptorId(n))
        } else if n < l.first_proposer() {
            let k = n - l.acceptors;
            format!(
                "{}.{}",
                self.trust.learner_name(LearnerId(k / l.replicas)),
                k % l.replicas
            )
        } else {
            format!("p{}", n - l.first_proposer())
        }
    }

    pub fn acc(&self, a: AcceptorId) -> String {
        let bang = if self.fake.contains(a) { "!" } else { "" };
        format!("{}{bang}", self.trust.acceptor_name(a))
    }

    pub fn lr(&self, l: LearnerId) -> &str {
        self.trust.learner_name(l)
    }

    pub fn packet(&self, p: &Packet) -> String {
        match p {
            Packet::Proto(m) => self.msg(m),
            Packet::Ctl(c) => match c {
                Control::Status(s) => format!("status view {}", s.view),
                Control::SyncRequest { lr, from, .. } => {
                    format!("sync {} from {from}", self.lr(*lr))
                }
                Control::Certs { lr, certs } => {
                    format!("certificates {} ({} slots)", self.lr(*lr), certs.len())
                }
                Control::Forward { cmds } => format!("forward {} commands", cmds.len()),
                Control::VotesRequest { from, to } => format!("vote query {from}..{to}"),
                Control::Votes { votes } => format!("votes ({} 2b)", votes.len()),
                Control::Attest { att, .. } => {
                    format!("attestation {} at {}", self.lr(att.lr), att.slot)
                }
                Control::Snapshot { lr, slot, atts, .. } => format!(
                    "snapshot {} at {slot} ({} attestations)",
                    self.lr(*lr),
                    atts.len()
                ),
                Control::SnapshotPart {
                    lr,
                    slot,
                    total,
                    offset,
                    bytes,
                } => format!(
                    "snapshot part {} at {slot}: {offset}+{} of {total}",
                    self.lr(*lr),
                    bytes.len()
                ),
                Control::Fetch { digests } => format!("fetch {digests:?}"),
                Control::Relay { msgs } => format!(
                    "relay {}",
                    msgs.iter()
                        .map(|(m, _)| self.msg(&Message::M2av(m.clone())))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Control::Batches { batches } => format!(
                    "value bytes for {:?}",
                    batches.iter().map(|(d, _)| *d).collect::<Vec<_>>()
                ),
            },
        }
    }

    pub fn msg(&self, m: &Message) -> String {
        match m {
            Message::M1a(m) => format!("1a  {} {} {}", m.slot, self.lr(m.lr), m.bal),
            Message::M1aRange(m) => format!("1a  {}.. {} {}", m.from, self.lr(m.lr), m.bal),
            Message::M1bRange(m) => {
                let reports: Vec<String> = m
                    .reports
                    .iter()
                    .map(|r| {
                        let vs: Vec<String> = r
                            .votes
                            .iter()
                            .chain(r.proposals.iter())
                            .map(|v| format!("{}@{}={}", self.lr(v.lr), v.bal, value(&v.val)))
                            .collect();
                        format!("{}: {}", r.slot, vs.join(" "))
                    })
                    .collect();
                format!(
                    "1b  {}.. {} {} by {} [{}]",
                    m.from,
                    self.lr(m.lr),
                    m.bal,
                    self.acc(m.acc),
                    reports.join("; ")
                )
            }
            Message::M1b(m) => {
                let mut s = format!(
                    "1b  {} {} {} by {}",
                    m.slot,
                    self.lr(m.lr),
                    m.bal,
                    self.acc(m.acc)
                );
                let votes: Vec<String> = m
                    .votes
                    .iter()
                    .map(|v| format!("{}@{}={}", self.lr(v.lr), v.bal, value(&v.val)))
                    .collect();
                let props: Vec<String> = m
                    .proposals
                    .iter()
                    .map(|v| format!("{}@{}={}", self.lr(v.lr), v.bal, value(&v.val)))
                    .collect();
                let _ = write!(
                    s,
                    " votes[{}] proposals[{}]",
                    votes.join(" "),
                    props.join(" ")
                );
                s
            }
            Message::M1c(m) => format!(
                "1c  {} {} {} val={}",
                m.slot,
                self.lr(m.lr),
                m.bal,
                value(&m.val)
            ),
            Message::M2av(m) => format!(
                "2av {} {} {} by {} val={}",
                m.slot,
                self.lr(m.lr),
                m.bal,
                self.acc(m.acc),
                value(&m.val)
            ),
            Message::M2b(m) => format!(
                "2b  {} {} {} by {} val={}",
                m.slot,
                self.lr(m.lr),
                m.bal,
                self.acc(m.acc),
                value(&m.val)
            ),
        }
    }
}

/// A short name for a value: `p1/s7[3]` (a batch of 3 commands proposed by
/// p1 for slot 7), `noop:p1/s7`, the text of short values, or the digest.
pub fn value(v: &Value) -> String {
    match v
        .bytes()
        .map_or(Err(()), |b| decode_batch(b).map_err(|_| ()))
    {
        Ok(b) if b.commands.is_empty() => format!("noop:p{}/s{}", b.proposer.0, b.slot.0),
        Ok(b) => format!("p{}/s{}[{}]", b.proposer.0, b.slot.0, b.commands.len()),
        Err(_) => format!("{v:?}"),
    }
}

/// Time as milliseconds with three decimals.
pub fn ms(t: Micros) -> String {
    format!("{}.{:03}ms", t / 1000, t % 1000)
}

/// The causal history of the messages `roots`: every ancestor through
/// `cause` links, at most `limit` of them, in time order.
pub fn causal_history(arena: &[Sent], roots: &[u32], limit: usize) -> Vec<u32> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<u32> = roots.to_vec();
    while let Some(id) = stack.pop() {
        if id == NO_CAUSE || !seen.insert(id) {
            continue;
        }
        if let Some(s) = arena.get(id as usize) {
            stack.push(s.cause);
        }
    }
    // Keep the most recent ancestors when there are too many.
    let ids: Vec<u32> = seen.into_iter().collect();
    let skip = ids.len().saturating_sub(limit);
    ids[skip..].to_vec()
}

/// Renders arena entries as trace lines.
pub fn render_sent(names: &Names, arena: &[Sent], ids: &[u32], out: &mut String) {
    for &id in ids {
        if let Some(s) = arena.get(id as usize) {
            let cause = if s.cause == NO_CAUSE {
                "timer/client".to_string()
            } else {
                format!("#{}", s.cause)
            };
            let _ = writeln!(
                out,
                "  {:>11}  #{:<6} {:<9} {}   (cause {})",
                ms(s.at),
                id,
                names.node(s.from),
                names.packet(&s.pkt),
                cause
            );
        }
    }
}

/// Renders the recent-event ring.
pub fn render_recent(names: &Names, arena: &[Sent], t: &Trace, out: &mut String) {
    for e in &t.recent {
        let line = match e {
            TraceEv::Deliver { t, id, to } => format!(
                "  {:>11}  deliver #{id} to {}: {}",
                ms(*t),
                names.node(*to),
                arena
                    .get(*id as usize)
                    .map(|s| names.packet(&s.pkt))
                    .unwrap_or_default()
            ),
            TraceEv::Drop { t, id, to, why } => format!(
                "  {:>11}  drop #{id} to {} ({why})",
                ms(*t),
                names.node(*to)
            ),
            TraceEv::Fault { t, what } => format!("  {:>11}  FAULT {what}", ms(*t)),
            TraceEv::Decide {
                t,
                node,
                slot,
                bal,
                val,
            } => format!(
                "  {:>11}  {} DECIDES {slot} in {bal}: {}",
                ms(*t),
                names.node(*node),
                value(val)
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
}
