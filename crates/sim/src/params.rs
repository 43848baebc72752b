//! What a user (or a test) can tune about a simulation, and the units.
//!
//! Time is virtual, in microseconds ([`Micros`]). A run has two phases: a
//! chaotic one up to the global stabilisation time (GST), where the network
//! loses, duplicates, reorders and partitions, nodes crash and restart and
//! Byzantine acceptors may forge proposer messages; and a stable one after
//! it, where every safe node is up, links deliver within
//! `stable_max_delay` and nothing is lost. The liveness oracle checks the
//! stable phase. Per-seed choices (fake set, rates, link delays, fault
//! times) are drawn from the seed by [`crate::scenario`].

use hpaxos_core::AccSet;

/// Virtual time in microseconds.
pub type Micros = u64;

/// Which acceptors are Byzantine in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FakeChoice {
    /// Drawn per seed among sets that leave some learner live.
    Random,
    /// Exactly these (by flag).
    Fixed(AccSet),
}

/// Whether the refinement check and spec invariants run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefineChoice {
    Off,
    On,
    /// On for seeds whose value modulo 100 is below this percentage.
    Share(u8),
}

/// Knobs of a simulation (the same for every seed of a sweep).
#[derive(Clone, Debug)]
pub struct SimParams {
    /// End of the chaotic phase.
    pub gst: Micros,
    /// How long clients keep submitting after GST.
    pub work_after_gst: Micros,
    /// Proposers (each with its own pacemaker and client load).
    pub proposers: u16,
    /// Replicas per learner (they catch up from each other's certificates).
    pub learner_replicas: u16,
    /// Client commands per proposer per virtual second (mean).
    pub commands_per_sec: u64,
    pub fake: FakeChoice,
    /// Byzantine acceptors attack (otherwise they behave as safe ones).
    pub attacks: bool,
    /// Network faults before GST (loss, duplication, partitions, slow links).
    pub net_faults: bool,
    /// Crashes and restarts of safe acceptors and learners before GST.
    pub crashes: bool,
    /// After GST, no link takes longer than this.
    pub stable_max_delay: Micros,
    /// The pacemaker's unit: about one message delay.
    pub delay_unit: Micros,
    /// Learner replicas exchange status this often.
    pub catchup_interval: Micros,
    pub refine: RefineChoice,
    /// Check liveness after GST.
    pub liveness: bool,
    /// Recent events kept for the failure trace.
    pub trace_ring: usize,
    /// Stop a run at its first violation.
    pub stop_at_first: bool,
    /// A deliberately broken driver, for the teeth tests only: acceptors
    /// send a step's messages *before* its records are durable, so a crash
    /// inside the fsync window forgets votes that others already saw.
    pub unsafe_send_before_persist: bool,
    /// Judge slots started before GST even in runs with a Byzantine
    /// acceptor (where the spec's protocol can poison a slot for good).
    pub judge_all: bool,
    /// Safe acceptors take late `Phase1b`/`Phase2av` (HPaxosLate,
    /// `AcceptorOptions::late`; the refinement checker then checks
    /// against HPaxosLate). On by default, as in the node; off: the seed's
    /// acceptors.
    pub late: bool,
    /// The nodes drop 1a/1c above [`crate::world::SIM_BALLOT_CEILING`]
    /// (the node layer's ballot ceiling). Off only to show what a 1a at
    /// `u64::MAX` does without it.
    pub ballot_ceiling: bool,
    /// Attacks switched off in every seed (drawn, then set to 0, so the
    /// rest of each seed is unchanged): to tell which attack a failure
    /// needs.
    pub without: Vec<crate::scenario::AttackName>,
    /// Safe acceptors count signed 2av as proposals and relay the 2av
    /// behind their votes (`AcceptorOptions::signed_proposals`; with late
    /// steps only). On by default, as in the node.
    pub signed_proposals: bool,
    /// The leader runs range Phase 1 (`NodeSetup::range_phase1`): one
    /// range 1a per learner per leadership, steady-state slots 1c -> 2av ->
    /// 2b. On by default, as in the node; off: per-slot Phase 1 only.
    pub range_phase1: bool,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            gst: 150_000,
            work_after_gst: 50_000,
            proposers: 2,
            learner_replicas: 2,
            commands_per_sec: 2_000,
            fake: FakeChoice::Random,
            attacks: true,
            net_faults: true,
            crashes: true,
            stable_max_delay: 5_000,
            delay_unit: 1_000,
            catchup_interval: 20_000,
            refine: RefineChoice::Off,
            liveness: true,
            trace_ring: 48,
            stop_at_first: true,
            unsafe_send_before_persist: false,
            judge_all: false,
            late: true,
            ballot_ceiling: true,
            without: Vec::new(),
            signed_proposals: true,
            range_phase1: true,
        }
    }
}

impl SimParams {
    /// Short runs for sweeping thousands of seeds in CI: 60 ms of chaos,
    /// 20 ms of work after GST, a lighter client load, a faster network
    /// after GST (2 ms) and a pacemaker unit of 0.5 ms to match.
    pub fn quick() -> SimParams {
        SimParams {
            gst: 60_000,
            work_after_gst: 20_000,
            commands_per_sec: 1_500,
            stable_max_delay: 2_000,
            delay_unit: 500,
            catchup_interval: 10_000,
            ..SimParams::default()
        }
    }

    /// The pacemaker's timeouts for these parameters (see
    /// [`hpaxos_core::pacemaker::PacemakerConfig::new`]): base, max.
    pub fn timeouts(&self) -> (Micros, Micros) {
        // The first timeout (and its retransmission) must outlast a whole
        // ballot after GST (six hops of at most `stable_max_delay`, plus
        // fsyncs): a ballot interrupted half-way can leave votes for one
        // learner and too few proposals for another (see the crate notes).
        (24 * self.delay_unit, 192 * self.delay_unit)
    }

    /// The stated liveness bound: after `max(GST, start)`, every live
    /// learner decides a started slot within this much virtual time.
    ///
    /// Derivation: a slot may sit at the largest backoff when GST comes
    /// (up to 1.5 × `max_timeout` with jitter) and may need one more full
    /// timeout if that ballot was already stale; a ballot then takes about
    /// six message delays (1a, 1b, 1c, 2av, 2b, notify), and a lagging
    /// replica two catch-up rounds.
    pub fn liveness_bound(&self) -> Micros {
        let (_, max) = self.timeouts();
        2 * (max * 3 / 2) + 12 * self.stable_max_delay + 2 * self.catchup_interval
    }

    /// When clients stop submitting.
    pub fn work_end(&self) -> Micros {
        self.gst + self.work_after_gst
    }

    /// When a run ends: late enough for every slot started before
    /// `work_end` (plus batching) to be checked against the bound.
    pub fn end(&self) -> Micros {
        self.work_end() + self.liveness_bound() + 4 * self.delay_unit
    }
}
