------------------------------ MODULE MCHPaxos ------------------------------
(***************************************************************************)
(* Finite models of HPaxos for TLC: 3 acceptors (a1, a2 safe, a3 fake),    *)
(* 2 learners (L1, L2), 2 values, ballots 0..MaxBallot; the learners'      *)
(* quorums, the learner graph and the bounds are set by each .cfg          *)
(* (MCHPaxos.cfg is the CI instance).                                      *)
(*                                                                         *)
(* What this module changes with respect to HPaxos, and why:               *)
(*  - Ballot <- MCBallot (finite), None <- a model value (cfg).            *)
(*  - MCInit assigns every variable explicitly (TLC cannot generate        *)
(*    states from Init's \A form); it equals Init on safe acceptors and    *)
(*    gives fake acceptors the same initial values (no action or           *)
(*    invariant reads maxBal, votesSent, 2avSent, connected of a fake      *)
(*    acceptor).                                                           *)
(*  - FakeSend <- MCFakeSend: FakeSend restricted to the stated finite     *)
(*    domain FakeDomain (the full domain has ~10^6 1b records).            *)
(*  - MCNext == Next /\ MCConstraint': the explored behaviours are those   *)
(*    of Spec whose every state satisfies MCConstraint (see there).        *)
(*  - MsgInv <- MCMsgInv, ReceivedByLearnerSpec <- MCReceivedByLearnerSpec,*)
(*    HeterogeneousSpec <- MCHeterogeneousSpec: equivalent forms that TLC  *)
(*    can evaluate, or evaluates much faster (see each below).             *)
(* The Rust reference model (crates/spec, instances.rs) explores the same  *)
(* instance and must reach the same number of distinct states.             *)
(***************************************************************************)
EXTENDS HPaxos, FiniteSets

CONSTANTS a1, a2, a3, L1, L2, v1, v2, NoValue

\* Model parameters (set in the .cfg):
CONSTANTS
    MaxBallot,   \* Ballot is 0..MaxBallot
    QuorumsL1,   \* the q of TrustLive for L1
    QuorumsL2,   \* the q of TrustLive for L2
    EdgeCore,    \* TrustSafe: L, M agree whenever EdgeCore \subseteq the safe set
    MaxMsgs,     \* bound on Cardinality(msgs)
    RecvKinds    \* message types acceptors may receive

MCBallot == 0..MaxBallot

MCAcceptor == {a1, a2, a3}
MCSafeAcceptor == {a1, a2}
MCFakeAcceptor == {a3}
MCLearner == {L1, L2}
MCValue == {v1, v2}

\* The universe of acceptor sets of the learner graph (quorums and safe sets).
MCByzQuorum == (SUBSET MCAcceptor) \ {{}}

MCTrustLive ==
    {[lr |-> L1, q |-> Q] : Q \in QuorumsL1} \cup {[lr |-> L2, q |-> Q] : Q \in QuorumsL2}

MCTrustSafe ==
    {[from |-> L, to |-> M, q |-> Q] :
        L, M \in MCLearner, Q \in {Q \in MCByzQuorum : EdgeCore \subseteq Q}}

MCEnt == {LL \in MCLearner \X MCLearner :
            [from |-> LL[1], to |-> LL[2], q |-> MCSafeAcceptor] \in MCTrustSafe}

\* The proposers' messages: one ballot per learner (L1 at 0, L2 at 1) and
\* one value per ballot (v1 at 0, v2 at 1).
ProposerDomain ==
    {[type |-> "1a", lr |-> L1, bal |-> 0],
     [type |-> "1a", lr |-> L2, bal |-> 1],
     [type |-> "1c", lr |-> L1, bal |-> 0, val |-> v1],
     [type |-> "1c", lr |-> L2, bal |-> 1, val |-> v2]}

\* The fake acceptor's stated message domain: a3 tries to get v2 decided
\* for L2 at ballot 1 (a 1b hiding every vote, a 2av and a 2b for v2).
FakeDomain ==
    {[type |-> "1b", lr |-> L2, acc |-> a3, bal |-> 1, votes |-> {}, proposals |-> {}],
     [type |-> "2av", lr |-> L2, acc |-> a3, bal |-> 1, val |-> v2],
     [type |-> "2b", lr |-> L2, acc |-> a3, bal |-> 1, val |-> v2]}

ASSUME FakeDomainTyped ==
    \A m \in FakeDomain : m \in Message /\ m.acc \in FakeAcceptor

MCFakeSend(a) ==
    /\ \E m \in {mm \in FakeDomain : mm.acc = a} : Send(m)
    /\ UNCHANGED <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision>>

MCInit ==
    /\ msgs = {}
    /\ maxBal = [LA \in Learner \X Acceptor |-> 0]
    /\ 2avSent = [A \in Acceptor |-> {}]
    /\ votesSent = [A \in Acceptor |-> {}]
    /\ connected = [A \in Acceptor |-> Learner \X Learner]
    /\ received = [A \in Acceptor |-> {}]
    /\ receivedByLearner = [L \in Learner |-> {}]
    /\ decision = [LB \in Learner \X Ballot |-> {}]

\* The explored part of Spec: a bound on msgs; proposers send only
\* ProposerDomain; fake acceptors receive nothing (their received is a ghost
\* no action or invariant reads); acceptors receive only RecvKinds (guards
\* read 1b and 2av from received, 1a and 1c from msgs, 2b never).
MCConstraint ==
    /\ Cardinality(msgs) =< MaxMsgs
    /\ \A m \in msgs : m.type \in {"1a", "1c"} => m \in ProposerDomain
    /\ \A a \in FakeAcceptor : received[a] = {}
    /\ \A a \in Acceptor : \A m \in received[a] : m.type \in RecvKinds

MCNext == Next /\ MCConstraint'

\* MsgInv with the 1a/1c case made explicit: those records have no acc
\* field, which TLC rejects; in the seed's reading the implication holds
\* for them anyway (every conjunct's antecedent m.type = ... is false).
MCMsgInv ==
    \A m \in msgs :
        m.type \in {"1b", "2av", "2b"} =>
        (m.acc \in SafeAcceptor =>
            /\ (m.type = "1b") => MsgInv1b(m)
            /\ (m.type = "2av") => MsgInv2av(m)
            /\ (m.type = "2b") => MsgInv2b(m))

\* ReceivedByLearnerSpec's second conjunct quantifies over Message (too large
\* to enumerate); over receivedByLearner[L] instead, which the first conjunct
\* (with TypeOK) keeps inside Message: the same condition.
MCReceivedByLearnerSpec ==
    /\ receivedByLearner \in [Learner -> SUBSET {mm \in msgs : mm.type = "2b"}]
    /\ \A L \in Learner : \A mm \in receivedByLearner[L] : mm.lr = L

\* HeterogeneousSpec with its quantifiers reordered (M first) and the
\* one-point rule applied to L2, A2, B2, V2 (bound to M's fields): the same
\* condition on every state where TypeOK holds (TypeOK is checked too), and
\* much cheaper for TLC than enumerating all nine bound variables.
MCHeterogeneousSpec ==
    \A M \in msgs :
        M.type = "2av" /\ M.acc \in SafeAcceptor =>
        \A LL1 \in Learner : \A BB1 \in Ballot : \A VV1 \in Value : \A Q \in ByzQuorum :
            /\ <<LL1, M.lr>> \in Ent
            /\ [lr |-> LL1, q |-> Q] \in TrustLive
            /\ BB1 < M.bal
            /\ VV1 # M.val
            => CannotDecide(Q, LL1, BB1, VV1)

\* A deliberately wrong invariant (teeth): no learner ever decides.
NoDecision == \A L \in Learner : \A B \in Ballot : decision[L, B] = {}
=============================================================================
