--------------------------- MODULE MCStallWitness ---------------------------
(***************************************************************************)
(* A behaviour of HPaxosLate from MCStall's stuck state in which A decides: *)
(* each step is one named action of NextLate (RecvMsg and LearnerRecvMsg   *)
(* are Recv and LearnerRecv with the message fixed), taken in the order of *)
(* Plan. MCStallWitness.cfg must FAIL on AUndecided: TLC then has taken    *)
(* every step (a step that is not enabled stops the behaviour, and TLC     *)
(* ends without a violation). The first step, a3's late 1b at 0, is the    *)
(* one the seed does not have.                                             *)
(***************************************************************************)
EXTENDS MCStall, Sequences

VARIABLE pc

RecvMsg(a, m) ==
    /\ m \in msgs
    /\ received' = [received EXCEPT ![a] = received[a] \cup {m}]
    /\ UNCHANGED <<msgs, maxBal, 2avSent, votesSent, connected, receivedByLearner, decision>>

LearnerRecvMsg(l, m) ==
    /\ m \in msgs /\ m.type = "2b" /\ m.lr = l
    /\ receivedByLearner' = [receivedByLearner EXCEPT ![l] = receivedByLearner[l] \cup {m}]
    /\ UNCHANGED <<msgs, maxBal, votesSent, 2avSent, received, connected, decision>>

\* The 1b messages A's acceptors send at 0 and (after the 2av at 0) at 1.
A1b0(a) == E1b(A, a, 0)
A1b1(a) ==
    [type |-> "1b", lr |-> A, acc |-> a, bal |-> 1,
     votes |-> IF a = a3 THEN {} ELSE {BVote},
     proposals |-> {[lr |-> A, bal |-> 0, val |-> v1]}]
A2av(a, b) == [type |-> "2av", lr |-> A, acc |-> a, bal |-> b, val |-> v1]
A2b(a) == [type |-> "2b", lr |-> A, acc |-> a, bal |-> 1, val |-> v1]

Accs == <<a1, a2, a3>>
\* Every acceptor receives every message of f(a1), f(a2), f(a3).
RecvAll(f(_)) ==
    [i \in 1..9 |-> [act |-> "recv", a |-> Accs[((i - 1) \div 3) + 1],
                     m |-> f(Accs[((i - 1) % 3) + 1])]]
Each(act, b) == [i \in 1..3 |-> [act |-> act, l |-> A, b |-> b, a |-> Accs[i], v |-> v1]]

Plan ==
    << [act |-> "1bLate", l |-> A, b |-> 0, a |-> a3] >>
    \o RecvAll(A1b0)
    \o << [act |-> "2av", l |-> A, b |-> 0, a |-> a1, v |-> v1],
          [act |-> "2av", l |-> A, b |-> 0, a |-> a2, v |-> v1],
          [act |-> "2avLate", l |-> A, b |-> 0, a |-> a3, v |-> v1] >>
    \o Each("1b", 1)
    \o << [act |-> "1c", l |-> A, b |-> 1, v |-> v1] >>
    \o RecvAll(A1b1)
    \o Each("2av", 1)
    \o RecvAll(LAMBDA a : A2av(a, 1))
    \o Each("2b", 1)
    \o [i \in 1..3 |-> [act |-> "lrecv", l |-> A, m |-> A2b(Accs[i])]]
    \o << [act |-> "decide", l |-> A, b |-> 1] >>

Step(s) ==
    CASE s.act = "1bLate" -> Phase1bLate(s.l, s.b, s.a)
      [] s.act = "1b" -> Phase1b(s.l, s.b, s.a)
      [] s.act = "2av" -> Phase2av(s.l, s.b, s.a, s.v)
      [] s.act = "2avLate" -> Phase2avLate(s.l, s.b, s.a, s.v)
      [] s.act = "2b" -> Phase2b(s.l, s.b, s.a, s.v)
      [] s.act = "1c" -> Phase1c(s.l, s.b, s.v)
      [] s.act = "recv" -> RecvMsg(s.a, s.m)
      [] s.act = "lrecv" -> LearnerRecvMsg(s.l, s.m)
      [] s.act = "decide" -> LearnerDecide(s.l, s.b)

WitnessInit == StuckInit /\ pc = 0
WitnessNext == pc < Len(Plan) /\ Step(Plan[pc + 1]) /\ pc' = pc + 1
=============================================================================
