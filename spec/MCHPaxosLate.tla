---------------------------- MODULE MCHPaxosLate ----------------------------
(***************************************************************************)
(* The CI instance of MCHPaxos (a1, a2 safe, a3 fake, learners L1, L2)     *)
(* for HPaxosLate: the same bounds and fake domain, with proposers that    *)
(* start both ballots for both learners (so that a learner's maxBal can    *)
(* pass a ballot it has not taken yet, which is when the late actions are *)
(* enabled) and announce v1 at 0 and v2 at 1 for both.                     *)
(***************************************************************************)
EXTENDS MCHPaxos, HPaxosLate

LateProposerDomain ==
    {[type |-> "1a", lr |-> L, bal |-> B] : L \in {L1, L2}, B \in {0, 1}} \cup
    {[type |-> "1c", lr |-> L, bal |-> 0, val |-> v1] : L \in {L1, L2}} \cup
    {[type |-> "1c", lr |-> L, bal |-> 1, val |-> v2] : L \in {L1, L2}}

\* MCNext of MCHPaxos, with the late actions.
MCNextLate == NextLate /\ MCConstraint'

\* Some late step was taken (for the must-fail check that the late actions
\* are reachable on this instance at all: a 1b or 2av of a safe acceptor at
\* a ballot below its maxBal for that learner).
NoLateStep ==
    \A m \in msgs :
        m.type \in {"1b", "2av"} /\ m.acc \in SafeAcceptor =>
        ~(m.type = "2av" /\ m.bal < maxBal[m.lr, m.acc])
=============================================================================
