------------------------------- MODULE MCStall -------------------------------
(***************************************************************************)
(* The liveness stall of HPaxos, from its stuck state (see HPaxosLate.tla  *)
(* for the pattern). Three safe acceptors a1, a2, a3; learner A needs all  *)
(* three, learner B any two (the demo's alice "4 of 5" and bob "3 of 5",  *)
(* scaled down); A and B are entangled. Values v1, v2; ballots 0..2.       *)
(*                                                                         *)
(* Stuck: ballot 0 was started for both learners with v1; a3 took          *)
(* Phase1b(A, 1) (an uninformed proposer's 1a) before any 1a at 0 reached  *)
(* it; a1, a2 took Phase1b at 0 for both learners, Phase2av(B, 0, v1) and  *)
(* Phase2b(B, 0, v1): B's quorum {a1, a2} voted v1 at 0 (B has decided v1 *)
(* once it receives the two 2b). The state is reachable from Init by       *)
(* exactly those steps (their messages are listed in StuckMsgs).           *)
(*                                                                         *)
(* From there, every proposer message at every ballot and value may be     *)
(* sent and every acceptor and learner step taken, within MaxNew new       *)
(* messages (receiving over-approximated, see StallNext):                  *)
(*  - MCStall.cfg (the seed's actions): the invariant AUndecided holds on  *)
(*    every reachable state: A never decides (MaxNew = 5: 221,100 states;  *)
(*    the argument for every bound is in HPaxosLate.tla's comment);        *)
(*  - MCStallWitness.tla/.cfg (HPaxosLate): a 45-step behaviour in which A  *)
(*    decides v1, every step an action of NextLate (must fail on           *)
(*    AUndecided; part of `scripts/tlc.sh --teeth`);                       *)
(*  - MCStallSafety.cfg: HPaxosLate from Init on this trust (ballots 0..1, *)
(*    both learners' 1a at both, v1 announced at 0 and v2 at 1), Safety    *)
(*    and every conjunct of FullSafetyInvariant (MsgInv1bLate).            *)
(***************************************************************************)
EXTENDS HPaxosLate, FiniteSets

CONSTANTS a1, a2, a3, A, B, v1, v2, NoValue, MaxBallot, MaxNew, MaxMsgs

MCBallot == 0..MaxBallot
MCAcceptor == {a1, a2, a3}
MCLearner == {A, B}
MCValue == {v1, v2}
MCByzQuorum == (SUBSET MCAcceptor) \ {{}}
MCTrustLive ==
    {[lr |-> A, q |-> MCAcceptor]} \cup
    {[lr |-> B, q |-> Q] : Q \in {{a1, a2}, {a1, a3}, {a2, a3}}}
\* Every pair agrees when all three are safe (valid: any A quorum and any B
\* quorum meet, and so do two B quorums).
MCTrustSafe ==
    {[from |-> L, to |-> M, q |-> MCAcceptor] : L, M \in MCLearner}
MCEnt == MCLearner \X MCLearner

ProposerMsgs ==
    {[type |-> "1a", lr |-> L, bal |-> b] : L \in MCLearner, b \in MCBallot} \cup
    {[type |-> "1c", lr |-> L, bal |-> b, val |-> v] :
        L \in MCLearner, b \in MCBallot, v \in MCValue}

\* No fake acceptor: FakeSend is never enabled.
NoFakeSend(a) == FALSE

E1b(l, a, b) ==
    [type |-> "1b", lr |-> l, acc |-> a, bal |-> b, votes |-> {}, proposals |-> {}]
E2av(a) == [type |-> "2av", lr |-> B, acc |-> a, bal |-> 0, val |-> v1]
E2b(a) == [type |-> "2b", lr |-> B, acc |-> a, bal |-> 0, val |-> v1]
BVote == [lr |-> B, bal |-> 0, val |-> v1]

StuckMsgs ==
    {[type |-> "1a", lr |-> A, bal |-> 0], [type |-> "1a", lr |-> B, bal |-> 0],
     [type |-> "1c", lr |-> A, bal |-> 0, val |-> v1],
     [type |-> "1c", lr |-> B, bal |-> 0, val |-> v1],
     [type |-> "1a", lr |-> A, bal |-> 1],
     E1b(A, a1, 0), E1b(A, a2, 0), E1b(B, a1, 0), E1b(B, a2, 0), E1b(A, a3, 1),
     E2av(a1), E2av(a2), E2b(a1), E2b(a2)}

StuckInit ==
    /\ msgs = StuckMsgs
    /\ maxBal = [LA \in Learner \X Acceptor |-> IF LA = <<A, a3>> THEN 1 ELSE 0]
    /\ 2avSent = [a \in Acceptor |-> IF a \in {a1, a2} THEN {BVote} ELSE {}]
    /\ votesSent = [a \in Acceptor |-> IF a \in {a1, a2} THEN {BVote} ELSE {}]
    /\ connected = [a \in Acceptor |-> Learner \X Learner]
    /\ received = [a \in Acceptor |->
                    IF a \in {a1, a2}
                    THEN {E1b(B, a1, 0), E1b(B, a2, 0), E2av(a1), E2av(a2)}
                    ELSE {}]
    /\ receivedByLearner = [L \in Learner |-> {}]
    /\ decision = [LB \in Learner \X Ballot |-> {}]

MCInit ==
    /\ msgs = {}
    /\ maxBal = [LA \in Learner \X Acceptor |-> 0]
    /\ 2avSent = [a \in Acceptor |-> {}]
    /\ votesSent = [a \in Acceptor |-> {}]
    /\ connected = [a \in Acceptor |-> Learner \X Learner]
    /\ received = [a \in Acceptor |-> {}]
    /\ receivedByLearner = [L \in Learner |-> {}]
    /\ decision = [LB \in Learner \X Ballot |-> {}]

\* Bounds: at most MaxNew messages beyond the stuck state's (MaxMsgs in
\* all, from Init); acceptors receive only 1b and 2av (the only types their
\* guards read from `received`).
StallConstraint ==
    /\ Cardinality(msgs \ StuckMsgs) =< MaxNew
    /\ \A a \in Acceptor : \A m \in received[a] : m.type \in {"1b", "2av"}
\* For the safety check from Init: both learners' 1a at every ballot, and
\* one value per ballot (v1 at even ballots, v2 at odd ones), for both.
SafetyProposerMsgs ==
    {[type |-> "1a", lr |-> L, bal |-> b] : L \in MCLearner, b \in MCBallot} \cup
    {[type |-> "1c", lr |-> L, bal |-> b, val |-> IF b % 2 = 0 THEN v1 ELSE v2] :
        L \in MCLearner, b \in MCBallot}
SafetyConstraint ==
    /\ Cardinality(msgs) =< MaxMsgs
    /\ \A m \in msgs : m.type \in {"1a", "1c"} => m \in SafetyProposerMsgs
    /\ \A a \in Acceptor : \A m \in received[a] : m.type \in {"1b", "2av"}

\* For the seed's impossibility check: every acceptor receives every 1b and
\* 2av sent so far in one step, and every learner every 2b. Each guard that
\* reads `received` or `receivedByLearner` (KnowsSafeAt1, KnowsSafeAt2,
\* Phase2b, ChosenIn) is monotone in it (an "exists a message in the set"
\* for each member of some quorum), and no action's effect depends on it; so
\* replacing each Recv / LearnerRecv of a behaviour of Next by these steps
\* leaves every later step enabled: what Next can reach (outside `received`
\* and `receivedByLearner`), StallNext can reach too. If A never decides
\* under StallNext, it never decides under Next; and the space is far
\* smaller (received sets are snapshots of msgs, not arbitrary subsets).
RecvEverything ==
    /\ received' = [a \in Acceptor |-> {m \in msgs : m.type \in {"1b", "2av"}}]
    /\ UNCHANGED <<msgs, maxBal, 2avSent, votesSent, connected, receivedByLearner, decision>>
LearnerRecvEverything ==
    /\ receivedByLearner' = [l \in Learner |-> {m \in msgs : m.type = "2b" /\ m.lr = l}]
    /\ UNCHANGED <<msgs, maxBal, votesSent, 2avSent, received, connected, decision>>
OverNext(SendActions) ==
    /\ \/ SendActions
       \/ RecvEverything
       \/ LearnerRecvEverything
       \/ \E l \in Learner : \E b \in Ballot : LearnerDecide(l, b)
    /\ StallConstraint'
SeedSends == ProposerAction \/ AcceptorSendAction \/ AcceptorDisconnectAction
StallNext == OverNext(SeedSends)
SafetyNextLate == NextLate /\ SafetyConstraint'

\* The property the seed cannot leave and HPaxosLate can: A has decided
\* nothing.
AUndecided == \A b \in Ballot : decision[A, b] = {}

\* ReceivedByLearnerSpec and HeterogeneousSpec in TLC-evaluable forms (the
\* same as MCHPaxos's MCReceivedByLearnerSpec and MCHeterogeneousSpec).
StallReceivedByLearnerSpec ==
    /\ receivedByLearner \in [Learner -> SUBSET {mm \in msgs : mm.type = "2b"}]
    /\ \A L \in Learner : \A mm \in receivedByLearner[L] : mm.lr = L
StallHeterogeneousSpec ==
    \A M \in msgs :
        M.type = "2av" /\ M.acc \in SafeAcceptor =>
        \A LL1 \in Learner : \A BB1 \in Ballot : \A VV1 \in Value : \A Q \in ByzQuorum :
            /\ <<LL1, M.lr>> \in Ent
            /\ [lr |-> LL1, q |-> Q] \in TrustLive
            /\ BB1 < M.bal
            /\ VV1 # M.val
            => CannotDecide(Q, LL1, BB1, VV1)
=============================================================================
