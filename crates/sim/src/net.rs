//! The simulated network's data: packets, the arena of everything sent
//! (each with its authenticated sender, send time and cause), and the
//! event queue ordered by virtual time then insertion order (so ties are
//! broken deterministically).
//!
//! A broadcast is stored once in the arena; each recipient gets its own
//! `Deliver` event with its own delay, so messages reorder freely.

use crate::params::Micros;
use hpaxos_core::node::Control;
use hpaxos_core::Message;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// "No cause": sent on a timer or a client request.
pub const NO_CAUSE: u32 = u32::MAX;

/// What travels between simulated nodes.
#[derive(Clone, Debug)]
pub enum Packet {
    /// A protocol message (the spec's `msgs`).
    Proto(Message),
    /// A control message of the node layer (`hpaxos_core::node`):
    /// heartbeats, sync requests, certificates, forwarded commands.
    Ctl(Control<()>),
}

/// One sent packet. `from` is set by the network, never by the sender:
/// this is how senders are authenticated.
#[derive(Clone, Debug)]
pub struct Sent {
    pub pkt: Packet,
    pub from: u16,
    pub at: Micros,
    pub cause: u32,
}

/// A scheduled event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ev {
    Deliver {
        id: u32,
        to: u16,
    },
    /// Durable writes of `node` due now (stale if `gen` changed: crashed).
    Flush {
        node: u16,
        gen: u32,
    },
    /// A node's timers (heartbeat, pacemaker) are due.
    Timer {
        node: u16,
    },
    /// A client submits a command to a node.
    Submit {
        node: u16,
    },
    Crash {
        node: u16,
    },
    Restart {
        node: u16,
    },
    PartitionStart {
        idx: u16,
    },
    PartitionHeal {
        idx: u16,
    },
    Gst,
    /// A Byzantine acceptor's own initiative (random messages, replays).
    Byz {
        node: u16,
    },
    /// The network replays an old packet.
    Replay,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Item {
    t: Micros,
    seq: u64,
    ev: Ev,
}

impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, we pop the earliest.
        (o.t, o.seq).cmp(&(self.t, self.seq))
    }
}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Events by (time, insertion order).
#[derive(Default)]
pub struct Queue {
    heap: BinaryHeap<Item>,
    seq: u64,
}

impl Queue {
    pub fn push(&mut self, t: Micros, ev: Ev) {
        self.seq += 1;
        self.heap.push(Item {
            t,
            seq: self.seq,
            ev,
        });
    }

    pub fn pop(&mut self) -> Option<(Micros, Ev)> {
        self.heap.pop().map(|i| (i.t, i.ev))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
