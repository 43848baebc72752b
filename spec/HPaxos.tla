------------------------------- MODULE HPaxos -------------------------------
(***************************************************************************)
(* Heterogeneous Paxos: an ASCII transcription of the seed module          *)
(* (../shared/spec/HPaxos.seed.txt, a rendering of a typeset PDF), with    *)
(* its constants, assumptions, definitions, actions and invariants.  The   *)
(* TLAPS proofs and lemmas are left out (no TLAPS dependency).             *)
(*                                                                         *)
(* Rendering errors of the seed corrected here (see NOTES.md):             *)
(*  - Phase1b's guard is maxBal[l, a] =< b (the seed shows <).             *)
(*  - VotedFor checks m.lr = lr (that line was displaced in rendering).    *)
(* Deviation for TLC: BallotAssumption is stated as a definition, not      *)
(* ASSUMEd (see its comment).  Everything else is as in the seed; the      *)
(* model modules (MC*.tla) override, by equivalent TLC-evaluable forms,    *)
(* what TLC cannot evaluate, and say why.                                  *)
(***************************************************************************)
EXTENDS Integers, TLC

Ballot == Nat

CONSTANT Value

ASSUME ValueNotEmpty == Value # {}

None == CHOOSE v : v \notin Value

CONSTANTS Acceptor,
          SafeAcceptor,
          FakeAcceptor,
          ByzQuorum,
          Learner

ASSUME SafeAcceptorAssumption ==
        /\ SafeAcceptor \cap FakeAcceptor = {}
        /\ SafeAcceptor \cup FakeAcceptor = Acceptor

ASSUME BQAssumption == \A Q \in ByzQuorum : Q \subseteq Acceptor

(***************************************************************************)
(* The seed ASSUMEs BallotAssumption.  It serves the proof only (ballots   *)
(* are distinct from acceptors, quorums and learners).  TLC cannot compare *)
(* integers with sets of acceptors, so it is a definition here; in every   *)
(* model it holds by construction (ballots are integers, acceptors and     *)
(* learners are model values, quorums are sets).                           *)
(***************************************************************************)
BallotAssumption ==
        /\ (Ballot \cup {-1}) \cap Acceptor = {}
        /\ (Ballot \cup {-1}) \cap ByzQuorum = {}
        /\ (Ballot \cup {-1}) \cap Learner = {}

\* Learner graph

CONSTANT TrustLive

ASSUME TrustLiveAssumption ==
        TrustLive \in SUBSET [lr : Learner, q : ByzQuorum]

CONSTANT TrustSafe

ASSUME TrustSafeAssumption ==
        TrustSafe \in SUBSET [from : Learner, to : Learner, q : ByzQuorum]

ASSUME LearnerGraphAssumption ==
        \* symmetry
        /\ \A E \in TrustSafe :
            [from |-> E.to, to |-> E.from, q |-> E.q] \in TrustSafe
        \* transitivity
        /\ \A E1, E2 \in TrustSafe :
            E1.q = E2.q /\ E1.to = E2.from =>
            [from |-> E1.from, to |-> E2.to, q |-> E1.q] \in TrustSafe
        /\ \A E \in TrustSafe : \A Q \in ByzQuorum :
            E.q \subseteq Q =>
            [from |-> E.from, to |-> E.to, q |-> Q] \in TrustSafe
        /\ \A E \in TrustSafe : \A Q1, Q2 \in ByzQuorum :
            [lr |-> E.from, q |-> Q1] \in TrustLive /\
            [lr |-> E.to, q |-> Q2] \in TrustLive =>
            \E N \in E.q : N \in Q1 /\ N \in Q2

CONSTANT Ent

ASSUME EntanglementAssumption ==
        /\ Ent \in SUBSET (Learner \X Learner)
        /\ \A L1, L2 \in Learner :
            <<L1, L2>> \in Ent <=>
            [from |-> L1, to |-> L2, q |-> SafeAcceptor] \in TrustSafe

\* Messages

Message ==
    [type : {"1a"}, lr : Learner, bal : Ballot] \cup
    [
        type : {"1b"},
        lr : Learner,
        acc : Acceptor,
        bal : Ballot,
        votes : SUBSET [lr : Learner, bal : Ballot, val : Value],
        proposals : SUBSET [lr : Learner, bal : Ballot, val : Value]
    ] \cup
    [type : {"1c"}, lr : Learner, bal : Ballot, val : Value] \cup
    [type : {"2av"}, lr : Learner, acc : Acceptor, bal : Ballot, val : Value] \cup
    [type : {"2b"}, lr : Learner, acc : Acceptor, bal : Ballot, val : Value]

\* Algorithm specification

VARIABLES maxBal,
          votesSent,
          2avSent,
          received,
          connected,
          receivedByLearner,
          decision,
          msgs

InitializedBallot(lr, bal) ==
    \E m \in msgs : m.type = "1a" /\ m.lr = lr /\ m.bal = bal

AnnouncedValue(lr, bal, val) ==
    \E m \in msgs : m.type = "1c" /\ m.bal = bal /\ m.val = val

ChosenIn(lr, bal, v) ==
    \E Q \in ByzQuorum :
        /\ [lr |-> lr, q |-> Q] \in TrustLive
        /\ \A aa \in Q :
            \E m \in {mm \in receivedByLearner[lr] : mm.bal = bal} :
                /\ m.val = v
                /\ m.acc = aa

KnowsSafeAt1(l, ac, b, v) ==
    LET S == {mm \in received[ac] : mm.type = "1b" /\ mm.lr = l /\ mm.bal = b}
    IN  \E BQ \in ByzQuorum :
            /\ [lr |-> l, q |-> BQ] \in TrustLive
            /\ \A a \in BQ :
                \E m \in S :
                    /\ m.acc = a
                    /\ \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} :
                        b =< p.bal

KnowsSafeAt2(l, ac, b, v) ==
    LET S == {mm \in received[ac] : mm.type = "1b" /\ mm.lr = l /\ mm.bal = b}
    IN  \E c \in Ballot :
            /\ c < b
            /\ \E BQ \in ByzQuorum :
                /\ [lr |-> l, q |-> BQ] \in TrustLive
                /\ \A a \in BQ :
                    \E m \in S :
                        /\ m.acc = a
                        /\ \A p \in {pp \in m.votes : <<pp.lr, l>> \in connected[ac]} :
                            /\ p.bal =< c
                            /\ (p.bal = c) => (p.val = v)
            /\ \E WQ \in ByzQuorum :
                /\ [lr |-> l, q |-> WQ] \in TrustLive
                /\ \A a \in WQ :
                    \E m \in S :
                        /\ m.acc = a
                        /\ \E p \in m.proposals :
                            /\ p.lr = l
                            /\ p.bal = c
                            /\ p.val = v

KnowsSafeAt(l, ac, b, v) ==
    \/ KnowsSafeAt1(l, ac, b, v)
    \/ KnowsSafeAt2(l, ac, b, v)

vars == <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision, msgs>>

TypeOK ==
    /\ msgs \in SUBSET Message
    /\ maxBal \in [Learner \X Acceptor -> Ballot]
    /\ votesSent \in [Acceptor -> SUBSET [lr : Learner, bal : Ballot, val : Value]]
    /\ 2avSent \in [Acceptor -> SUBSET [lr : Learner, bal : Ballot, val : Value]]
    /\ connected \in [Acceptor -> SUBSET (Learner \X Learner)]
    /\ received \in [Acceptor -> SUBSET Message]
    /\ receivedByLearner \in [Learner -> SUBSET Message]
    /\ decision \in [Learner \X Ballot -> SUBSET Value]

Init ==
    /\ msgs = {}
    /\ \A L \in Learner : \A A \in SafeAcceptor : maxBal[L, A] = 0
    /\ \A A \in SafeAcceptor : 2avSent[A] = {}
    /\ \A A \in SafeAcceptor : votesSent[A] = {}
    /\ \A A \in SafeAcceptor : connected[A] = Learner \X Learner
    /\ \A A \in Acceptor : received[A] = {}
    /\ \A L \in Learner : receivedByLearner[L] = {}
    /\ \A L \in Learner : \A B \in Ballot : decision[L, B] = {}
    /\ TypeOK

Send(m) == msgs' = msgs \cup {m}

Phase1a(l, b) ==
    /\ Send([type |-> "1a", lr |-> l, bal |-> b])
    /\ UNCHANGED <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision>>

Phase1c(l, b, v) ==
    /\ Send([type |-> "1c", lr |-> l, bal |-> b, val |-> v])
    /\ UNCHANGED <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision>>

MaxVote(a, b, vote) ==
    /\ vote.bal < b
    /\ \A other \in votesSent[a] :
        other.lr = vote.lr /\ other.bal < b =>
        other.bal =< vote.bal

Phase1b(l, b, a) ==
    /\ maxBal[l, a] =< b
    /\ InitializedBallot(l, b)
    /\ maxBal' = [maxBal EXCEPT ![l, a] = b]
    /\ Send([
           type |-> "1b",
           lr |-> l,
           acc |-> a,
           bal |-> b,
           votes |-> {p \in votesSent[a] : MaxVote(a, b, p)},
           proposals |-> {p \in 2avSent[a] : p.bal < b /\ p.lr = l}
       ])
    /\ UNCHANGED <<votesSent, 2avSent, received, connected, receivedByLearner, decision>>

Phase2av(l, b, a, v) ==
    /\ maxBal[l, a] =< b
    /\ InitializedBallot(l, b)
    /\ AnnouncedValue(l, b, v)
    /\ \A P \in {p \in 2avSent[a] : p.bal = b /\ <<p.lr, l>> \in connected[a]} : P.val = v
    /\ KnowsSafeAt(l, a, b, v)
    /\ Send([type |-> "2av", lr |-> l, acc |-> a, bal |-> b, val |-> v])
    /\ 2avSent' = [2avSent EXCEPT ![a] = 2avSent[a] \cup {[lr |-> l, bal |-> b, val |-> v]}]
    /\ UNCHANGED <<maxBal, votesSent, received, connected, receivedByLearner, decision>>

Phase2b(l, b, a, v) ==
    /\ \A L \in Learner : maxBal[L, a] =< b
    /\ \E Q \in ByzQuorum :
        /\ [lr |-> l, q |-> Q] \in TrustLive
        /\ \A aa \in Q :
            \E m \in {mm \in received[a] :
                        /\ mm.type = "2av"
                        /\ mm.lr = l
                        /\ mm.bal = b} :
                /\ m.val = v
                /\ m.acc = aa
    /\ Send([type |-> "2b", lr |-> l, acc |-> a, bal |-> b, val |-> v])
    /\ votesSent' = [votesSent EXCEPT ![a] =
                        votesSent[a] \cup {[lr |-> l, bal |-> b, val |-> v]}]
    /\ UNCHANGED <<maxBal, 2avSent, received, connected, receivedByLearner, decision>>

Recv(l, a) ==
    /\ \E m \in msgs : received' = [received EXCEPT ![a] = received[a] \cup {m}]
    /\ UNCHANGED <<msgs, maxBal, 2avSent, votesSent, connected, receivedByLearner, decision>>

Disconnect(a) ==
    /\ \E P \in SUBSET {LL \in Learner \X Learner : LL \notin Ent} :
        connected' = [connected EXCEPT ![a] = connected[a] \ P]
    /\ UNCHANGED <<msgs, maxBal, votesSent, 2avSent, received, receivedByLearner, decision>>

FakeSend(a) ==
    /\ \E m \in {mm \in Message :
                    /\ mm.acc = a
                    /\ \/ mm.type = "1b"
                       \/ mm.type = "2av"
                       \/ mm.type = "2b"} :
        Send(m)
    /\ UNCHANGED <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision>>

LearnerDecide(l, b) ==
    /\ \E v \in {vv \in Value : ChosenIn(l, b, vv)} :
        decision' = [decision EXCEPT ![l, b] = decision[l, b] \cup {v}]
    /\ UNCHANGED <<msgs, maxBal, votesSent, 2avSent, received, connected, receivedByLearner>>

LearnerRecv(l) ==
    /\ \E m \in {mm \in msgs : mm.type = "2b" /\ mm.lr = l} :
        receivedByLearner' =
            [receivedByLearner EXCEPT ![l] = receivedByLearner[l] \cup {m}]
    /\ UNCHANGED <<msgs, maxBal, votesSent, 2avSent, received, connected, decision>>

ProposerAction ==
    \E lrn \in Learner : \E proposer \in Ballot :
        \/ Phase1a(lrn, proposer)
        \/ \E v \in Value : Phase1c(lrn, proposer, v)

AcceptorSendAction ==
    \E lrn \in Learner : \E bal \in Ballot : \E acc \in SafeAcceptor : \E val \in Value :
        \/ Phase1b(lrn, bal, acc)
        \/ Phase2av(lrn, bal, acc, val)
        \/ Phase2b(lrn, bal, acc, val)

AcceptorReceiveAction ==
    \E lrn \in Learner : \E acc \in Acceptor : Recv(lrn, acc)

AcceptorDisconnectAction ==
    \E acc \in SafeAcceptor : Disconnect(acc)

LearnerAction ==
    \E lrn \in Learner :
        \/ \E bal \in Ballot : LearnerDecide(lrn, bal)
        \/ LearnerRecv(lrn)

FakeAcceptorAction == \E a \in FakeAcceptor : FakeSend(a)

Next ==
    \/ ProposerAction
    \/ AcceptorSendAction
    \/ AcceptorReceiveAction
    \/ AcceptorDisconnectAction
    \/ LearnerAction
    \/ FakeAcceptorAction

Spec == Init /\ [][Next]_vars

VotedFor(lr, acc, bal, val) ==
    \E m \in msgs :
        /\ m.type = "2b"
        /\ m.lr = lr
        /\ m.acc = acc
        /\ m.bal = bal
        /\ m.val = val

Proposed(lr, acc, bal, val) ==
    \E m \in msgs :
        /\ m.type = "2av"
        /\ m.lr = lr
        /\ m.acc = acc
        /\ m.bal = bal
        /\ m.val = val

LeftBallot(lr, acc, bal) ==
    \E m \in msgs :
        /\ m.type = "1b"
        /\ m.lr = lr
        /\ m.acc = acc
        /\ bal < m.bal

ReceivedSpec == \A A \in SafeAcceptor : received[A] \subseteq msgs

ReceivedByLearnerSpec ==
    /\ receivedByLearner \in [Learner -> SUBSET {mm \in msgs : mm.type = "2b"}]
    /\ \A L \in Learner : \A mm \in Message :
        mm \in receivedByLearner[L] => mm.lr = L

VotesSentSpec1 ==
    \A A \in SafeAcceptor : \A vote \in votesSent[A] :
        VotedFor(vote.lr, A, vote.bal, vote.val)

VotesSentSpec2 ==
    \A L \in Learner : \A A \in SafeAcceptor : \A B \in Ballot : \A V \in Value :
        VotedFor(L, A, B, V) => [lr |-> L, bal |-> B, val |-> V] \in votesSent[A]

VotesSentSpec3 ==
    \A A \in SafeAcceptor : \A B \in Ballot : \A vote \in votesSent[A] :
        vote.bal < B =>
        \E P \in votesSent[A] :
            MaxVote(A, B, P) /\ P.lr = vote.lr /\ vote.bal =< P.bal

VotesSentSpec4 ==
    \A A \in SafeAcceptor : \A vote1, vote2 \in votesSent[A] :
        <<vote1.lr, vote2.lr>> \in Ent /\
        vote1.bal = vote2.bal => vote1.val = vote2.val

2avSentSpec1 ==
    \A A \in SafeAcceptor : \A p \in 2avSent[A] : Proposed(p.lr, A, p.bal, p.val)

2avSentSpec2 ==
    \A L \in Learner : \A A \in SafeAcceptor : \A B \in Ballot : \A V \in Value :
        Proposed(L, A, B, V) => [lr |-> L, bal |-> B, val |-> V] \in 2avSent[A]

2avSentSpec3 ==
    \A L1, L2 \in Learner : \A A \in SafeAcceptor : \A B \in Ballot : \A V1, V2 \in Value :
        <<L1, L2>> \in Ent /\
        [lr |-> L1, bal |-> B, val |-> V1] \in 2avSent[A] /\
        [lr |-> L2, bal |-> B, val |-> V2] \in 2avSent[A] => V1 = V2

ConnectedSpec ==
    \A A \in SafeAcceptor : \A L1, L2 \in Learner :
        <<L1, L2>> \in Ent => <<L1, L2>> \in connected[A]

DecisionSpec ==
    \A L \in Learner : \A B \in Ballot : \A V \in Value :
        V \in decision[L, B] => ChosenIn(L, B, V)

MsgInv1b(m) ==
    /\ m.bal =< maxBal[m.lr, m.acc]
    /\ m.votes = {p \in votesSent[m.acc] : MaxVote(m.acc, m.bal, p)}
    /\ m.proposals = {p \in 2avSent[m.acc] : p.bal < m.bal /\ p.lr = m.lr}

MsgInv2av(m) ==
    /\ InitializedBallot(m.lr, m.bal)
    /\ AnnouncedValue(m.lr, m.bal, m.val)
    /\ KnowsSafeAt(m.lr, m.acc, m.bal, m.val)
    /\ [lr |-> m.lr, bal |-> m.bal, val |-> m.val] \in 2avSent[m.acc] \* TODO check if used
    /\ \E Q \in ByzQuorum :
        /\ [lr |-> m.lr, q |-> Q] \in TrustLive
        /\ \A ba \in Q :
            \E m1b \in received[m.acc] :
                /\ m1b.type = "1b"
                /\ m1b.lr = m.lr
                /\ m1b.acc = ba
                /\ m1b.bal = m.bal

MsgInv2b(m) ==
    /\ [lr |-> m.lr, bal |-> m.bal, val |-> m.val] \in votesSent[m.acc]
    /\ \E Q \in ByzQuorum :
        /\ [lr |-> m.lr, q |-> Q] \in TrustLive
        /\ \A ba \in Q :
            \E m2av \in received[m.acc] :
                /\ m2av.type = "2av"
                /\ m2av.lr = m.lr
                /\ m2av.acc = ba
                /\ m2av.bal = m.bal
                /\ m2av.val = m.val

MsgInv ==
    \A m \in msgs :
        m.acc \in SafeAcceptor =>
            /\ (m.type = "1b") => MsgInv1b(m)
            /\ (m.type = "2av") => MsgInv2av(m)
            /\ (m.type = "2b") => MsgInv2b(m)

CannotDecide(Q, L, B, V) ==
    \E A \in SafeAcceptor :
        /\ A \in Q
        /\ \E L0 \in Learner : LeftBallot(L0, A, B) \* TODO: check if used
        /\ ~VotedFor(L, A, B, V)

HeterogeneousSpec ==
    \A L1, L2 \in Learner :
    \A B1, B2 \in Ballot :
    \A V1, V2 \in Value :
    \A A2 \in SafeAcceptor :
    \A Q \in ByzQuorum :
    \A M \in msgs :
        /\ <<L1, L2>> \in Ent
        /\ [lr |-> L1, q |-> Q] \in TrustLive
        /\ M.type = "2av" /\ M.lr = L2 /\ M.acc = A2 /\ M.bal = B2 /\ M.val = V2
        /\ B1 < B2
        /\ V1 # V2
        =>
        CannotDecide(Q, L1, B1, V1)

Safety ==
    \A L1, L2 \in Learner : \A B1, B2 \in Ballot : \A V1, V2 \in Value :
        <<L1, L2>> \in Ent /\
        V1 \in decision[L1, B1] /\ V2 \in decision[L2, B2] => V1 = V2

FullSafetyInvariant ==
    /\ TypeOK
    /\ MsgInv
    /\ 2avSentSpec1 /\ 2avSentSpec2 /\ 2avSentSpec3
    /\ VotesSentSpec1 /\ VotesSentSpec2 /\ VotesSentSpec3 /\ VotesSentSpec4
    /\ ReceivedSpec
    /\ ReceivedByLearnerSpec
    /\ ConnectedSpec
    /\ DecisionSpec
    /\ HeterogeneousSpec
    /\ Safety

THEOREM SafetyResult == Spec => []Safety
=============================================================================
