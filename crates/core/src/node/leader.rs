//! Leadership, failover and command forwarding of [`super::NodeCore`].
//!
//! Views: view `v` is led by proposer node `proposers[v mod n]`. A node
//! that hears a majority of the acceptor nodes starts a new view (`v + 1`)
//! when it has not heard from the leader's node for `leader_timeout`, or when a command submitted here has waited
//! `progress_timeout` (doubled on each view change without a decision, up
//! to 8x: backoff against duelling) while no learner decided anything.
//! A node adopts any higher view it hears in a heartbeat, so views only go
//! up and the cluster converges on the highest; the proposer of the current
//! view is told it leads ([`crate::pacemaker::Pacemaker::set_leader`]),
//! every other proposer that it does not. Nothing here touches safety: two
//! proposers that both believe they lead run different (owned) ballots,
//! and the acceptors' `KnowsSafeAt` keeps them from deciding differently.
//!
//! Commands: any node accepts them; the leader queues them at its
//! pacemaker, others forward them to the leader, again after a view change
//! or `forward_timeout`, until the driver reports them done.

use super::types::{Control, NodeId, Note, Ready, Token};
use super::NodeCore;
use crate::pacemaker::Tick;
use std::collections::BTreeMap;

/// Views never go beyond this (a Byzantine heartbeat cannot saturate them).
const MAX_VIEW: u64 = u64::MAX / 4;

#[derive(Clone, Debug, Default)]
pub struct LeaderState {
    pub view: u64,
    view_started: Tick,
    last_heard: BTreeMap<NodeId, Tick>,
    /// Each peer's latest heartbeat: (when, its view, it hears its leader).
    reports: BTreeMap<NodeId, (Tick, u64, bool)>,
    last_progress: Tick,
    /// View changes since the last decision.
    backoff: u32,
    started: bool,
}

impl LeaderState {
    pub(crate) fn heard(&mut self, now: Tick, from: Option<NodeId>) {
        if let Some(n) = from {
            self.last_heard.insert(n, now);
        }
    }

    pub(crate) fn peer_reports(&mut self, now: Tick, from: NodeId, view: u64, hears: bool) {
        self.reports.insert(from, (now, view, hears));
    }

    pub(crate) fn progress(&mut self, now: Tick) {
        self.last_progress = now;
        self.backoff = 0;
    }
}

impl<P: Clone> NodeCore<P> {
    /// The acceptors whose node this node heard from within the leader
    /// timeout (its own acceptor always counts): what `/ready` judges a
    /// learner's live quorum on, fresh ballots pick their learners by, and
    /// the majority a node needs before it suspects the leader.
    pub fn reachable_acceptors(&self, now: Tick) -> crate::accset::AccSet {
        self.acceptor_nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                **n == self.me
                    || self
                        .leader
                        .last_heard
                        .get(n)
                        .is_some_and(|t| now.0.saturating_sub(t.0) < self.timing.leader_timeout)
            })
            .map(|(i, _)| crate::ids::AcceptorId(i as u16))
            .collect()
    }

    /// The current view.
    pub fn view(&self) -> u64 {
        self.leader.view
    }

    /// The proposer node leading the current view, if there are proposers.
    pub fn leader_node(&self) -> Option<NodeId> {
        let n = self.proposers.len() as u64;
        (n > 0).then(|| self.proposers[(self.leader.view % n) as usize])
    }

    pub fn is_leader(&self) -> bool {
        self.leader_node() == Some(self.me)
    }

    pub(crate) fn submit(&mut self, now: Tick, token: Token, cmd: Vec<u8>, out: &mut Ready<P>) {
        self.pending.insert(token, (cmd, None));
        self.dispatch(now, out);
    }

    /// Sends every pending command that is due to the leader (or queues it
    /// at this node's pacemaker when this node leads).
    pub(crate) fn dispatch(&mut self, now: Tick, out: &mut Ready<P>) {
        let Some(leader) = self.leader_node() else {
            return;
        };
        let me_leads = leader == self.me;
        let again = self.timing.forward_timeout;
        let mut fwd = Vec::new();
        for (cmd, sent) in self.pending.values_mut() {
            let due = match *sent {
                None => true,
                Some(t) => !me_leads && now >= t.after(again),
            };
            if !due {
                continue;
            }
            *sent = Some(now);
            if me_leads {
                if let Some((_, pm)) = &mut self.proposer {
                    pm.submit(now, cmd.clone());
                }
            } else {
                fwd.push(cmd.clone());
            }
        }
        if !fwd.is_empty() {
            self.stats.forwarded += fwd.len() as u64;
            out.send.push((leader, Control::Forward { cmds: fwd }));
        }
    }

    /// Commands forwarded by a peer.
    pub(crate) fn on_forward(
        &mut self,
        now: Tick,
        from: NodeId,
        cmds: Vec<Vec<u8>>,
        out: &mut Ready<P>,
    ) {
        match self.leader_node() {
            Some(l) if l == self.me => {
                if let Some((_, pm)) = &mut self.proposer {
                    for c in cmds {
                        pm.submit(now, c);
                    }
                }
            }
            // Pass it on once, never back to where it came from.
            Some(l) if l != from => out.send.push((l, Control::Forward { cmds })),
            _ => {}
        }
    }

    /// Does this node hear the leader of its view (or lead it)?
    pub(crate) fn hears_leader(&self, now: Tick) -> bool {
        match self.leader_node() {
            Some(l) if l == self.me => true,
            Some(l) => self
                .leader
                .last_heard
                .get(&l)
                .is_some_and(|t| now.0.saturating_sub(t.0) < self.timing.leader_timeout),
            None => false,
        }
    }

    /// Pre-vote, from the heartbeats: is it only a minority of the
    /// acceptor nodes that lose the leader? A node suspects the leader for
    /// a view change only when most acceptor nodes (itself included, the
    /// leader's excluded) do not hear it: those whose latest heartbeat in
    /// this view, received within the leader timeout, says so, or that
    /// sent none. Otherwise the silence is this node's own slow link (a
    /// returning node drains a backlog of stale frames, the leader's the
    /// longest) and a view change would only make every node take over
    /// again (the fault harness's churn after a partition healed).
    fn most_hear_the_leader(&self, now: Tick, leader: NodeId) -> bool {
        let view = self.leader.view;
        let losing = self
            .acceptor_nodes
            .iter()
            .filter(|n| **n != leader)
            .filter(|n| {
                **n == self.me
                    || !self.leader.reports.get(n).is_some_and(|(t, v, h)| {
                        *h && *v == view && now.0.saturating_sub(t.0) < self.timing.leader_timeout
                    })
            })
            .count();
        2 * losing <= self.acceptor_nodes.len()
    }

    /// A heartbeat's view.
    pub(crate) fn on_view(&mut self, now: Tick, view: u64, out: &mut Ready<P>) {
        if view > self.leader.view {
            self.enter_view(now, view.min(MAX_VIEW), "a peer is in a higher view", out);
        }
    }

    /// Failure detection; called on every step.
    pub(crate) fn leader_timers(&mut self, now: Tick, out: &mut Ready<P>) {
        if !self.leader.started {
            self.leader.started = true;
            self.leader.view_started = now;
            self.leader.last_progress = now;
            self.apply_view(now, out);
        }
        let Some(leader) = self.leader_node() else {
            return;
        };
        let since_view = now.0.saturating_sub(self.leader.view_started.0);
        // A node cut off from most acceptors must not push views up (when it
        // comes back, everyone would adopt its view and run takeovers for
        // nothing): it suspects the leader only while it hears a majority
        // of the acceptor nodes (itself included).
        let recent = self.reachable_acceptors(now).len();
        if 2 * recent <= self.acceptor_nodes.len() {
            return;
        }
        if leader != self.me {
            let heard = self.leader.last_heard.get(&leader).copied();
            let silent = heard.map_or(since_view, |t| now.0.saturating_sub(t.0));
            if silent >= self.timing.leader_timeout
                && since_view >= self.timing.leader_timeout
                && !self.most_hear_the_leader(now, leader)
            {
                let v = self.next_live_view(now);
                self.enter_view(now, v, "the leader is silent", out);
                return;
            }
        }
        let patience = self
            .timing
            .progress_timeout
            .saturating_mul(1 << self.leader.backoff.min(3));
        let oldest = self.pending.values().filter_map(|(_, t)| *t).min();
        let stalled = oldest.is_some_and(|t| now.0.saturating_sub(t.0) >= patience)
            && now.0.saturating_sub(self.leader.last_progress.0) >= patience
            && since_view >= patience;
        if stalled {
            let v = self.next_live_view(now);
            self.enter_view(now, v, "commands make no progress", out);
        }
    }

    /// The next view whose leader this node heard within the leader
    /// timeout (or leads itself): a view change passes over proposers that
    /// are down instead of waiting out a leader timeout for each (the fault
    /// harness, schedule ci seed 1: after `kill -9` of the leader the next
    /// view was led by the node just killed, and alice acknowledged
    /// nothing for 3 s). Nodes that hear different sets may pick different
    /// views; every node adopts the highest it hears, so they converge.
    /// When it hears no proposer at all, simply the next view.
    fn next_live_view(&self, now: Tick) -> u64 {
        let n = self.proposers.len() as u64;
        let v = self.leader.view;
        let heard = |node: NodeId| {
            node == self.me
                || self
                    .leader
                    .last_heard
                    .get(&node)
                    .is_some_and(|t| now.0.saturating_sub(t.0) < self.timing.leader_timeout)
        };
        let live = (1..=n).map(|k| v.saturating_add(k)).find(|w| {
            let leader = self.proposers[(w % n) as usize];
            leader != self.proposers[(v % n) as usize] && heard(leader)
        });
        live.unwrap_or(v.saturating_add(1)).min(MAX_VIEW)
    }

    fn enter_view(&mut self, now: Tick, view: u64, why: &'static str, out: &mut Ready<P>) {
        if view <= self.leader.view {
            return;
        }
        self.leader.view = view;
        self.leader.view_started = now;
        self.leader.backoff = self.leader.backoff.saturating_add(1);
        self.stats.view_changes += 1;
        if let Some(l) = self.leader_node() {
            out.notes.push(Note::View {
                view,
                leader: l,
                why,
            });
        }
        self.apply_view(now, out);
        // Tell everyone at once (and re-send every pending command).
        for (_, sent) in self.pending.values_mut() {
            *sent = None;
        }
        out.send_all.push(Control::Status(self.status(now)));
        self.last_status = Some(now);
    }

    /// Tells this node's pacemaker whether it leads; a proposer that
    /// stepped down forwards what it had queued to the new leader.
    fn apply_view(&mut self, now: Tick, out: &mut Ready<P>) {
        let leads = self.is_leader();
        let leader = self.leader_node();
        let Some((_, pm)) = &mut self.proposer else {
            return;
        };
        let was = pm.is_leader();
        pm.set_leader(now, leads);
        if was && !leads {
            // Its slots are the new leader's to drive from here.
            let cmds = pm.take_commands();
            if let (Some(l), false) = (leader, cmds.is_empty()) {
                out.send.push((l, Control::Forward { cmds }));
            }
        }
    }
}
