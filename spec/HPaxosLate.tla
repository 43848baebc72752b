------------------------------ MODULE HPaxosLate ------------------------------
(***************************************************************************)
(* HPaxos with late Phase 1b and late Phase 2av: the smallest change to    *)
(* the seed (HPaxos.tla, unchanged) that is live from the stall the        *)
(* simulator and the fault harness found (MCStall.tla shows it).           *)
(*                                                                         *)
(* The stall. Learner A's quorums are larger than learner B's. B votes v   *)
(* at ballot c on one of its quorums while some acceptor a of every A      *)
(* quorum has already taken Phase1b(A, b, a) at some b > c (an uninformed  *)
(* proposer's 1a reached it first). From then on `maxBal[A, a] > c`, so a  *)
(* can take neither Phase1b(A, c, a) nor Phase2av(A, c, a, v); no A quorum *)
(* of 1b at c and no A quorum of proposals at c can ever exist; and every  *)
(* `KnowsSafeAt2(A, _, b', v')` with b' > c needs exactly those proposals  *)
(* (every A quorum holds one of B's voters, whose 1b reports the vote at  *)
(* c, so KnowsSafeAt1 fails and the c of KnowsSafeAt2 is at least c; at a  *)
(* c' > c the proposals at c' need KnowsSafeAt at c' again). A never       *)
(* decides, whatever happens next (MCStall.cfg: TLC explores every         *)
(* behaviour of the seed from that state within its bounds and finds no   *)
(* decision of A).                                                          *)
(*                                                                         *)
(* The change. An acceptor may take Phase1b and Phase2av at a ballot below *)
(* its maxBal for the learner (`Phase1bLate`, `Phase2avLate`): every other *)
(* guard is the seed's, maxBal is not lowered, and a late 1b reports what  *)
(* a 1b at that ballot reports (votes and proposals below it). So `Phase1b *)
(* \/ Phase1bLate` is "Phase1b at any initialized ballot, maxBal' =        *)
(* max(maxBal, b)" and `Phase2av \/ Phase2avLate` is Phase2av without its  *)
(* maxBal conjunct. Why it stays safe (the seed's argument, step by step): *)
(*  - Votes are untouched: Phase2b still needs `maxBal[L, a] =< b` for     *)
(*    every L, so a safe acceptor that sent any 1b at b (late or not) has  *)
(*    maxBal >= b and never votes below b afterwards; a 1b's `votes` stay *)
(*    exactly the acceptor's max votes below its ballot (MsgInv1b's second *)
(*    conjunct holds as in the seed).                                      *)
(*  - A late 2av at c still needs `KnowsSafeAt(l, a, c, v)` from 1b at c   *)
(*    and at most one value per ballot for connected learners (2avSentSpec3 *)
(*    holds as in the seed), so it is as much a proof that v is safe at c  *)
(*    as an early one; HeterogeneousSpec and Safety are argued over all    *)
(*    2av messages at each ballot, whenever they were sent.                *)
(*  - What changes: an acceptor's 2avSent can grow below a ballot at which *)
(*    it already sent a 1b, so a 1b's `proposals` are a subset of its      *)
(*    sender's 2avSent below that ballot, no longer equal (MsgInv1bLate).  *)
(*    The seed's KnowsSafeAt2 only uses proposals it sees (existence), so  *)
(*    a 1b that misses a later 2av only makes its reader know less.        *)
(* TLC checks Safety and every conjunct of FullSafetyInvariant, with       *)
(* MsgInv1b weakened to MsgInv1bLate, on MCHPaxosLate.cfg (the CI          *)
(* instance with a fake acceptor and proposers that start both ballots for *)
(* both learners) and on MCStallSafety.cfg (the stall's trust, every      *)
(* proposer message, from the initial state); and MCStallWitness.cfg      *)
(* shows a behaviour in which A now decides from the stuck state.          *)
(***************************************************************************)
EXTENDS HPaxos

\* Phase1b at a ballot below maxBal[l, a]: the same 1b as Phase1b would
\* send there; maxBal stays (it is already above b).
Phase1bLate(l, b, a) ==
    /\ b < maxBal[l, a]
    /\ InitializedBallot(l, b)
    /\ Send([
           type |-> "1b",
           lr |-> l,
           acc |-> a,
           bal |-> b,
           votes |-> {p \in votesSent[a] : MaxVote(a, b, p)},
           proposals |-> {p \in 2avSent[a] : p.bal < b /\ p.lr = l}
       ])
    /\ UNCHANGED <<maxBal, votesSent, 2avSent, received, connected, receivedByLearner, decision>>

\* Phase2av at a ballot below maxBal[l, a]: every other conjunct of Phase2av.
Phase2avLate(l, b, a, v) ==
    /\ b < maxBal[l, a]
    /\ InitializedBallot(l, b)
    /\ AnnouncedValue(l, b, v)
    /\ \A P \in {p \in 2avSent[a] : p.bal = b /\ <<p.lr, l>> \in connected[a]} : P.val = v
    /\ KnowsSafeAt(l, a, b, v)
    /\ Send([type |-> "2av", lr |-> l, acc |-> a, bal |-> b, val |-> v])
    /\ 2avSent' = [2avSent EXCEPT ![a] = 2avSent[a] \cup {[lr |-> l, bal |-> b, val |-> v]}]
    /\ UNCHANGED <<maxBal, votesSent, received, connected, receivedByLearner, decision>>

AcceptorLateAction ==
    \E lrn \in Learner : \E bal \in Ballot : \E acc \in SafeAcceptor :
        \/ Phase1bLate(lrn, bal, acc)
        \/ \E val \in Value : Phase2avLate(lrn, bal, acc, val)

NextLate == Next \/ AcceptorLateAction

SpecLate == Init /\ [][NextLate]_vars

\* MsgInv1b with `proposals` a subset (see the module comment).
MsgInv1bLate(m) ==
    /\ m.bal =< maxBal[m.lr, m.acc]
    /\ m.votes = {p \in votesSent[m.acc] : MaxVote(m.acc, m.bal, p)}
    /\ m.proposals \subseteq {p \in 2avSent[m.acc] : p.bal < m.bal /\ p.lr = m.lr}

\* MsgInv with MsgInv1bLate, and the 1a/1c case explicit (as MCMsgInv).
MsgInvLate ==
    \A m \in msgs :
        m.type \in {"1b", "2av", "2b"} =>
        (m.acc \in SafeAcceptor =>
            /\ (m.type = "1b") => MsgInv1bLate(m)
            /\ (m.type = "2av") => MsgInv2av(m)
            /\ (m.type = "2b") => MsgInv2b(m))

THEOREM SafetyLate == SpecLate => []Safety
=============================================================================
