//! Heartbeats and catch-up of [`super::NodeCore`].
//!
//! Every node sends its [`Status`] to every peer each `heartbeat`: its view
//! and, per learner it runs or follows, the first slot it has not decided.
//! A node that sees a peer ahead on a learner it runs or follows asks that
//! peer (round robin among those ahead) for decision certificates from its
//! own first undecided slot, one request per learner at a time, again
//! after `sync_timeout` or as soon as the previous answer moved it on. A
//! certificate is a quorum of the learner's signed 2b, verified by the
//! driver and fed through the learner like any 2b: no vote is fabricated
//! and a Byzantine peer cannot forge a decision.

use super::types::{Control, NodeId, Note, Ready, Status};
use super::NodeCore;
use crate::ids::{LearnerId, Slot};
use crate::msg::Message;
use crate::pacemaker::Tick;

/// Certificates asked for in one request.
const SYNC_LIMIT: u32 = 256;
/// 2b proofs sent in one answer at most.
const SERVE_BUDGET: usize = 4096;
/// Slots one vote query covers at most.
pub const VOTES_SLOTS: u64 = 1024;

impl<P: Clone> NodeCore<P> {
    /// This node's heartbeat.
    pub fn status(&self, now: Tick) -> Status {
        Status {
            view: self.leader.view,
            next: self
                .learners
                .iter()
                .map(|f| (f.core.id(), f.next))
                .collect(),
            hears_leader: self.hears_leader(now),
        }
    }

    pub(crate) fn control(&mut self, now: Tick, from: NodeId, msg: Control<P>, out: &mut Ready<P>) {
        match msg {
            Control::Status(s) => {
                for (lr, next) in s.next {
                    if let Some(f) = self.learners.iter_mut().find(|f| f.core.id() == lr) {
                        f.peers_next.insert(from, next);
                    }
                }
                self.leader.peer_reports(now, from, s.view, s.hears_leader);
                self.on_view(now, s.view, out);
            }
            Control::SyncRequest {
                lr,
                from: slot,
                limit,
            } => {
                let trust = &self.trust;
                let is_quorum = |ms: &[crate::msg::Msg2b]| {
                    let senders: crate::accset::AccSet = ms.iter().map(|m| m.acc).collect();
                    trust.is_quorum(lr, &senders)
                };
                let certs =
                    self.certs
                        .serve(lr, slot, limit.min(1024) as usize, SERVE_BUDGET, is_quorum);
                let first = certs.first().and_then(|c| c.first()).map(|(m, _)| m.slot);
                if !certs.is_empty() {
                    self.stats.certs_served += certs.len() as u64;
                    out.send.push((from, Control::Certs { lr, certs }));
                }
                // Certificates here do not start at `slot` (compacted or
                // never held): a snapshot from a checkpoint above it.
                if first != Some(slot) {
                    self.offer_snapshot(from, lr, slot, out);
                }
            }
            Control::Certs { lr, certs } => {
                self.stats.certs_received += certs.len() as u64;
                for cert in certs {
                    for (m, proof) in cert {
                        if m.lr == lr {
                            self.protocol(now, Message::M2b(m), proof, out);
                        }
                    }
                }
            }
            Control::Forward { cmds } => self.on_forward(now, from, cmds, out),
            Control::VotesRequest { from: lo, to } => {
                let hi = Slot(to.0.min(lo.0.saturating_add(VOTES_SLOTS)));
                let votes = self.certs.votes_in(lo, hi, SERVE_BUDGET);
                if !votes.is_empty() {
                    out.send.push((from, Control::Votes { votes }));
                }
            }
            Control::Votes { votes } => {
                for (m, proof) in votes {
                    self.protocol(now, Message::M2b(m), proof, out);
                }
            }
            Control::Relay { msgs } => {
                for (m, proof) in msgs {
                    self.protocol(now, Message::M2av(m), proof, out);
                }
            }
            Control::Attest { att, proof } => self.on_attest(from, att, proof),
            Control::Snapshot {
                lr,
                slot,
                state,
                atts,
            } => self.on_snapshot(from, lr, slot, state, atts, out),
            Control::SnapshotPart {
                lr,
                slot,
                total,
                offset,
                bytes,
            } => self.on_snapshot_part(from, lr, slot, (total, offset, bytes)),
            Control::Fetch { digests } => self.serve_values(from, digests, out),
            Control::Batches { batches } => self.on_values(now, batches, out),
        }
    }

    /// Heartbeats, failure detection, re-forwarding and sync requests.
    pub(crate) fn timers(&mut self, now: Tick, out: &mut Ready<P>) {
        if self
            .last_status
            .is_none_or(|t| now >= t.after(self.timing.heartbeat))
        {
            self.last_status = Some(now);
            out.send_all.push(Control::Status(self.status(now)));
        }
        self.leader_timers(now, out);
        self.dispatch(now, out);
        self.request_sync(now, out);
        self.request_values(now, out);
    }

    fn request_sync(&mut self, now: Tick, out: &mut Ready<P>) {
        let timeout = self.timing.sync_timeout;
        let mut reqs: Vec<(NodeId, LearnerId, Slot)> = Vec::new();
        for f in &mut self.learners {
            let ahead: Vec<NodeId> = f
                .peers_next
                .iter()
                .filter(|(_, n)| **n > f.next)
                .map(|(p, _)| *p)
                .collect();
            if ahead.is_empty() {
                f.sync = None;
                continue;
            }
            let due = match f.sync {
                None => true,
                Some((t, _, from)) => f.next > from || now >= t.after(timeout),
            };
            if !due {
                continue;
            }
            f.sync_rr = f.sync_rr.wrapping_add(1);
            let peer = ahead[f.sync_rr % ahead.len()];
            f.sync = Some((now, peer, f.next));
            reqs.push((peer, f.core.id(), f.next));
        }
        for (peer, lr, from) in reqs {
            self.stats.sync_requests += 1;
            out.notes.push(Note::Sync { lr, peer, from });
            out.send.push((
                peer,
                Control::SyncRequest {
                    lr,
                    from,
                    limit: SYNC_LIMIT,
                },
            ));
        }
    }
}
