//! Aggregation of many runs into the summary `hpaxos sim` prints: a short
//! aligned table for people, and the fields of the fixed JSON
//! (`runs`, `violations`, `decisions`) plus the rest of the counters.

use crate::{RunReport, RunStats};
use hpaxos_core::Trust;
use std::fmt::Write as _;

/// Totals over a sweep of seeds.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub runs: u64,
    /// Runs with at least one violation.
    pub violations: u64,
    pub safety: u64,
    pub liveness: u64,
    pub refinement: u64,
    pub forgery: u64,
    pub refined_runs: u64,
    pub totals: RunStats,
    /// Seeds of the failing runs (first 20).
    pub failing_seeds: Vec<u64>,
    /// Slots decided per learner, summed over runs.
    pub decided_per_learner: Vec<u64>,
    /// Simulated virtual time, summed.
    pub virtual_micros: u64,
}

impl Summary {
    pub fn add(&mut self, r: &RunReport) {
        self.runs += 1;
        if r.refine {
            self.refined_runs += 1;
        }
        if !r.violations.is_empty() {
            self.violations += 1;
            self.failing_seeds.push(r.seed);
            if self.failing_seeds.len() > 64 {
                self.failing_seeds.sort_unstable();
                self.failing_seeds.truncate(20);
            }
        }
        for v in &r.violations {
            match v.kind() {
                "safety" => self.safety += 1,
                "liveness" => self.liveness += 1,
                "refinement" => self.refinement += 1,
                _ => self.forgery += 1,
            }
        }
        let s = &r.stats;
        let t = &mut self.totals;
        t.sent += s.sent;
        t.delivered += s.delivered;
        for (a, b) in t.by_kind.iter_mut().zip(s.by_kind.iter()) {
            *a += b;
        }
        t.dropped += s.dropped;
        t.duplicated += s.duplicated;
        t.replayed += s.replayed;
        t.to_down += s.to_down;
        t.crashes += s.crashes;
        t.restarts += s.restarts;
        t.partitions += s.partitions;
        t.byz_attacks += s.byz_attacks;
        t.range_lies += s.range_lies;
        t.range_leaderships += s.range_leaderships;
        t.range_slots += s.range_slots;
        t.range_fallbacks += s.range_fallbacks;
        t.forged += s.forged;
        t.evidence += s.evidence;
        t.fsyncs_delayed += s.fsyncs_delayed;
        t.decisions += s.decisions;
        t.commands += s.commands;
        t.slots_started += s.slots_started;
        t.unchecked_slots += s.unchecked_slots;
        t.stalled_unchecked += s.stalled_unchecked;
        t.judged_slots += s.judged_slots;
        t.undecided += s.undecided;
        t.view_changes += s.view_changes;
        t.ballots += s.ballots;
        t.retransmits += s.retransmits;
        t.adopted += s.adopted;
        t.noops += s.noops;
        t.requeued += s.requeued;
        t.certificates += s.certificates;
        t.spec_actions += s.spec_actions;
        self.virtual_micros += s.virtual_end;
        if self.decided_per_learner.len() < s.decided_per_learner.len() {
            self.decided_per_learner
                .resize(s.decided_per_learner.len(), 0);
        }
        for (a, b) in self
            .decided_per_learner
            .iter_mut()
            .zip(&s.decided_per_learner)
        {
            *a += b;
        }
    }

    /// Faults injected: crashes, partitions, lost, duplicated and replayed
    /// packets, and Byzantine attack actions.
    pub fn faults(&self) -> u64 {
        let t = &self.totals;
        t.crashes + t.partitions + t.dropped + t.duplicated + t.replayed + t.byz_attacks
    }

    /// The human table.
    pub fn table(&self, trust: &Trust, wall_secs: f64) -> String {
        let t = &self.totals;
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<22} {v}");
        };
        row("runs", self.runs.to_string());
        row(
            "violations",
            format!(
                "{} (safety {}, liveness {}, refinement {}, forgery {})",
                self.violations, self.safety, self.liveness, self.refinement, self.forgery
            ),
        );
        row(
            "refinement-checked",
            format!(
                "{} runs ({} spec actions replayed)",
                self.refined_runs, t.spec_actions
            ),
        );
        for (i, n) in self.decided_per_learner.iter().enumerate() {
            let name = trust.learner_name(hpaxos_core::LearnerId(i as u16));
            row(&format!("slots decided: {name}"), n.to_string());
        }
        row("decisions (replicas)", t.decisions.to_string());
        row(
            "slots started",
            format!(
                "{} ({} ballots, {} retransmits, {} taken over, {} no-ops, {} view changes)",
                t.slots_started, t.ballots, t.retransmits, t.adopted, t.noops, t.view_changes
            ),
        );
        row(
            "liveness-checked",
            format!(
                "{} slots ({} undecided; {} not judged: before GST with a fake or several learners, or too late; {} of those stalled)",
                t.judged_slots,
                t.undecided,
                t.unchecked_slots,
                t.stalled_unchecked
            ),
        );
        row(
            "commands",
            format!(
                "{} ({} requeued after a forced value)",
                t.commands, t.requeued
            ),
        );
        row(
            "messages",
            format!("{} sent, {} delivered", t.sent, t.delivered),
        );
        let k = &t.by_kind;
        row(
            "delivered by kind",
            format!(
                "1a {} 1b {} 1c {} 2av {} 2b {} | forward {} sync {} status {} certs {} vote queries {} votes {} value fetches {} value answers {} relayed 2av {}",
                k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10], k[11], k[12], k[13]
            ),
        );
        row(
            "range Phase 1",
            format!(
                "{} leaderships, {} slots straight to 1c, {} per-slot fallbacks, {} lying range 1b by fakes",
                t.range_leaderships, t.range_slots, t.range_fallbacks, t.range_lies
            ),
        );
        row(
            "faults injected",
            format!(
                "{} ({} crashes, {} partitions, {} lost, {} duplicated, {} replayed, {} Byzantine)",
                self.faults(),
                t.crashes,
                t.partitions,
                t.dropped,
                t.duplicated,
                t.replayed,
                t.byz_attacks
            ),
        );
        row(
            "equivocation evidence",
            format!("{} proofs kept by safe acceptors", t.evidence),
        );
        if wall_secs > 0.0 {
            row(
                "speed",
                format!(
                    "{:.0} msgs/s delivered, {:.1} virtual s simulated in {:.2} s",
                    t.delivered as f64 / wall_secs,
                    self.virtual_micros as f64 / 1e6,
                    wall_secs
                ),
            );
        }
        if !self.failing_seeds.is_empty() {
            let mut seeds: Vec<u64> = self.failing_seeds.clone();
            seeds.sort_unstable();
            let seeds: Vec<String> = seeds.iter().take(20).map(|s| s.to_string()).collect();
            row("failing seeds", seeds.join(" "));
        }
        out
    }
}
