//! A snapshot state too large for one frame travels in parts.
//!
//! Where it sits: between [`super`]'s `offer_snapshot` (the sender) and
//! `on_snapshot` (the receiver). A state longer than the node's part size
//! ([`super::super::NodeCore::set_snapshot_part_bytes`], the driver sets it
//! from `max_frame_bytes`) is sent as [`Control::SnapshotPart`]s, in order,
//! followed by the usual [`Control::Snapshot`] with `state: None` and the
//! attestations. The receiver appends each part to one assembly per
//! learner (from one peer, for one slot, in order, up to the announced
//! total, which is bounded by [`MAX_STATE_BYTES`]) and, when the
//! `Snapshot` arrives, takes the assembled bytes as its state. Nothing is
//! trusted before that: the attestations and the state digest are checked
//! by `on_snapshot` exactly as for a state sent whole, so a Byzantine peer
//! can waste at most one bounded buffer per learner, never install
//! anything. A part out of order, from another peer or another slot,
//! starts over or is dropped; catch-up asks again after its timeout.

use super::super::types::{Control, NodeId};
use crate::ids::{LearnerId, Slot};
use std::collections::BTreeMap;

/// Largest state accepted in parts (bytes): bounds the buffer a peer can
/// make this node hold per learner.
pub const MAX_STATE_BYTES: u64 = 1 << 30;

/// Default part size (bytes), well within the default 4 MiB frame.
pub const DEFAULT_PART_BYTES: usize = 1 << 20;

#[derive(Clone, Debug)]
struct Assembly {
    slot: Slot,
    peer: NodeId,
    total: u64,
    buf: Vec<u8>,
}

/// The assemblies in progress, one per learner.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    rx: BTreeMap<LearnerId, Assembly>,
}

/// The parts of `state`, `part` bytes each (the last one shorter).
pub(crate) fn split<P>(lr: LearnerId, slot: Slot, state: &[u8], part: usize) -> Vec<Control<P>> {
    let total = state.len() as u64;
    state
        .chunks(part.max(1))
        .scan(0u64, |offset, bytes| {
            let at = *offset;
            *offset += bytes.len() as u64;
            Some(Control::SnapshotPart {
                lr,
                slot,
                total,
                offset: at,
                bytes: bytes.to_vec(),
            })
        })
        .collect()
}

impl Parts {
    /// Takes one part from `peer`; false if it was dropped.
    pub(crate) fn add(
        &mut self,
        peer: NodeId,
        lr: LearnerId,
        slot: Slot,
        total: u64,
        offset: u64,
        bytes: Vec<u8>,
    ) -> bool {
        if total > MAX_STATE_BYTES {
            return false;
        }
        if offset == 0 {
            self.rx.insert(
                lr,
                Assembly {
                    slot,
                    peer,
                    total,
                    buf: Vec::new(),
                },
            );
        }
        let Some(a) = self.rx.get_mut(&lr) else {
            return false;
        };
        let fits = (a.buf.len() as u64).saturating_add(bytes.len() as u64) <= a.total;
        if a.slot != slot
            || a.peer != peer
            || a.total != total
            || a.buf.len() as u64 != offset
            || !fits
        {
            // Out of order, or another transfer: this one cannot complete.
            if a.peer == peer {
                self.rx.remove(&lr);
            }
            return false;
        }
        a.buf.extend_from_slice(&bytes);
        true
    }

    /// The whole state of `lr` at `slot` received from `peer`, if every
    /// part arrived (the assembly is gone either way once asked for by
    /// the peer it came from).
    pub(crate) fn take(&mut self, peer: NodeId, lr: LearnerId, slot: Slot) -> Option<Vec<u8>> {
        let a = self.rx.get(&lr)?;
        if a.peer != peer {
            return None;
        }
        let a = self.rx.remove(&lr)?;
        (a.slot == slot && a.buf.len() as u64 == a.total).then_some(a.buf)
    }

    /// Drops the assemblies of slots at or below `next` for `lr` (already
    /// passed).
    pub(crate) fn passed(&mut self, lr: LearnerId, next: Slot) {
        if self.rx.get(&lr).is_some_and(|a| a.slot <= next) {
            self.rx.remove(&lr);
        }
    }

    /// Bytes held in assemblies.
    pub(crate) fn held(&self) -> usize {
        self.rx.values().map(|a| a.buf.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: LearnerId = LearnerId(0);
    const A: NodeId = NodeId(1);
    const B: NodeId = NodeId(2);

    fn feed(p: &mut Parts, from: NodeId, parts: Vec<Control<()>>) {
        for c in parts {
            if let Control::SnapshotPart {
                lr,
                slot,
                total,
                offset,
                bytes,
            } = c
            {
                p.add(from, lr, slot, total, offset, bytes);
            }
        }
    }

    #[test]
    fn parts_in_order_reassemble_the_state() {
        let state: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let parts = split::<()>(L, Slot(8), &state, 64);
        assert_eq!(parts.len(), 16);
        let mut p = Parts::default();
        feed(&mut p, A, parts);
        assert_eq!(p.held(), 1000);
        assert_eq!(p.take(A, L, Slot(8)), Some(state));
        assert_eq!(p.held(), 0);
    }

    #[test]
    fn a_missing_or_foreign_part_yields_nothing() {
        let state = vec![7u8; 300];
        let mut parts = split::<()>(L, Slot(8), &state, 100);
        parts.remove(1);
        let mut p = Parts::default();
        feed(&mut p, A, parts);
        assert_eq!(p.take(A, L, Slot(8)), None);
        // Another peer's parts do not complete A's transfer, nor can
        // another peer take it.
        let mut p = Parts::default();
        let parts = split::<()>(L, Slot(8), &state, 100);
        let (first, rest) = parts.split_at(1);
        feed(&mut p, A, first.to_vec());
        feed(&mut p, B, rest.to_vec());
        assert_eq!(p.take(B, L, Slot(8)), None);
        assert_eq!(p.take(A, L, Slot(8)), None);
    }

    #[test]
    fn a_total_over_the_bound_or_overflowing_parts_are_refused() {
        let mut p = Parts::default();
        assert!(!p.add(A, L, Slot(8), MAX_STATE_BYTES + 1, 0, vec![0; 10]));
        assert!(p.add(A, L, Slot(8), 10, 0, vec![0; 6]));
        assert!(!p.add(A, L, Slot(8), 10, 6, vec![0; 6]));
        assert_eq!(p.take(A, L, Slot(8)), None);
    }
}
