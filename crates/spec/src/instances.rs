//! Finite instances shared with the TLC models in `spec/`: [`McParams`]
//! mirrors the constants and definitions of `spec/MCHPaxos.tla` (the
//! constants are set by each `.cfg`), and [`McParams::build`] gives the
//! reference model of the same instance.
//!
//! Ids: acceptors `a1, a2, a3` are 0, 1, 2 (`a3` fake); learners `L1, L2`
//! are 0, 1; values `v1, v2` are 0, 1.

use crate::explore::Constraint;
use crate::instance::{Finite, Instance, Quorums};
use crate::model::Model;
use crate::msg::Msg;
use crate::sets::SortedSet;
use hpaxos_core::{AccSet, AcceptorId, Ballot, LearnerId};

/// A model value of `Value`.
pub type V = u8;

const L1: LearnerId = LearnerId(0);
const L2: LearnerId = LearnerId(1);
const A3: AcceptorId = AcceptorId(2);
const V1: V = 0;
const V2: V = 1;

/// The constants of `MCHPaxos.tla`.
#[derive(Clone, Debug)]
pub struct McParams {
    /// `Ballot == 0..MaxBallot`.
    pub max_ballot: u64,
    /// `QuorumsL1`, `QuorumsL2`.
    pub quorums: [Vec<AccSet>; 2],
    /// `EdgeCore`: learners agree whenever it is within the safe set.
    pub edge_core: AccSet,
    /// `ProposerDomain` (`None`: proposers unrestricted).
    pub proposer_domain: Option<Vec<Msg<V>>>,
    /// `FakeDomain`.
    pub fake_domain: Vec<Msg<V>>,
    /// `MaxMsgs`.
    pub max_msgs: usize,
    /// `RecvKinds`: message types acceptors may receive.
    pub recv_kinds: Vec<&'static str>,
}

fn set(ids: &[u16]) -> AccSet {
    ids.iter().map(|&i| AcceptorId(i)).collect()
}

/// `ProposerDomain` of `MCHPaxos.tla`: one ballot per learner (L1 at 0,
/// L2 at 1), one value per ballot (v1 at 0, v2 at 1).
pub fn proposer_domain() -> Vec<Msg<V>> {
    vec![
        Msg::M1a {
            lr: L1,
            bal: Ballot(0),
        },
        Msg::M1a {
            lr: L2,
            bal: Ballot(1),
        },
        Msg::M1c {
            lr: L1,
            bal: Ballot(0),
            val: V1,
        },
        Msg::M1c {
            lr: L2,
            bal: Ballot(1),
            val: V2,
        },
    ]
}

/// `FakeDomain` of `MCHPaxos.tla`: a3 tries to get v2 decided for L2 at
/// ballot 1 (a 1b hiding every vote, a 2av and a 2b for v2).
pub fn fake_domain() -> Vec<Msg<V>> {
    vec![
        Msg::M1b {
            lr: L2,
            acc: A3,
            bal: Ballot(1),
            votes: SortedSet::new(),
            proposals: SortedSet::new(),
        },
        Msg::M2av {
            lr: L2,
            acc: A3,
            bal: Ballot(1),
            val: V2,
        },
        Msg::M2b {
            lr: L2,
            acc: A3,
            bal: Ballot(1),
            val: V2,
        },
    ]
}

impl McParams {
    /// `spec/MCHPaxos.cfg`, the CI instance.
    pub fn ci() -> McParams {
        McParams {
            max_ballot: 1,
            quorums: [vec![set(&[0])], vec![set(&[0, 1]), set(&[0, 2])]],
            edge_core: set(&[0]),
            proposer_domain: Some(proposer_domain()),
            fake_domain: fake_domain(),
            max_msgs: 8,
            recv_kinds: vec!["1b", "2av"],
        }
    }

    /// The reference model and the constraint of this instance.
    pub fn build(&self) -> (Model<V>, Constraint<V>) {
        let safe = set(&[0, 1]);
        let fake = set(&[2]);
        let ballots: Vec<Ballot> = (0..=self.max_ballot).map(Ballot).collect();
        // MCTrustSafe = {[from |-> L, to |-> M, q |-> Q] : EdgeCore \subseteq Q}, so
        // <<L, M>> \in Ent iff EdgeCore \subseteq SafeAcceptor (for every L, M).
        let ent_all = self.edge_core.is_subset(&safe);
        let inst = Instance {
            n_acceptors: 3,
            n_learners: 2,
            safe,
            fake,
            quorums: Quorums::Explicit(self.quorums.to_vec()),
            ent: vec![ent_all; 4],
            finite: Some(Finite {
                ballots,
                values: vec![V1, V2],
                fake_domain: self.fake_domain.clone(),
            }),
            late: false,
        };
        (
            Model::new(inst),
            Constraint {
                max_msgs: Some(self.max_msgs),
                no_fake_receive: true,
                recv_kinds: Some(self.recv_kinds.clone()),
                proposer_domain: self.proposer_domain.clone(),
            },
        )
    }
}
