//! How recently closed streams ended, so that a late frame on one is told
//! apart from a frame on a stream that was never opened (RFC 9113 §5.1).
//!
//! Stream identifiers of one initiator only grow, so instead of a hash
//! map the record is a window of slots, one per identifier of each
//! initiator, covering the most recent `cap` identifiers. Recording and
//! looking up are O(1) with no hashing; an identifier that falls out of
//! the window is forgotten, as the oldest entry of a bounded map would
//! be. The window holds one byte per identifier: at most `2 * cap` bytes.

use std::collections::VecDeque;

use super::connection::CloseKind;

/// The closed-stream record of one connection.
#[derive(Debug, Default)]
pub(crate) struct ClosedStreams {
    /// Index 0: even (server-initiated) identifiers; 1: odd.
    sides: [Window; 2],
}

/// Slot `i` describes identifier `base + 2 * i`; `None` is an identifier
/// not closed (still open, or skipped by its initiator).
#[derive(Debug, Default)]
struct Window {
    base: u32,
    slots: VecDeque<Option<CloseKind>>,
}

impl ClosedStreams {
    /// Records that stream `id` closed `how`, remembering at most the
    /// `cap` most recent identifiers of its initiator. A later record for
    /// the same identifier replaces the earlier one.
    pub(crate) fn insert(&mut self, id: u32, how: CloseKind, cap: usize) {
        if cap == 0 {
            return;
        }
        let w = &mut self.sides[(id & 1) as usize];
        if w.slots.is_empty() {
            w.base = id;
            w.slots.push_back(Some(how));
            return;
        }
        if id < w.base {
            // Older than the window: extend it backwards if it fits.
            let gap = ((w.base - id) / 2) as usize;
            if gap + w.slots.len() > cap {
                return;
            }
            for _ in 1..gap {
                w.slots.push_front(None);
            }
            w.slots.push_front(Some(how));
            w.base = id;
            return;
        }
        let index = ((id - w.base) / 2) as usize;
        if let Some(slot) = w.slots.get_mut(index) {
            *slot = Some(how);
            return;
        }
        // Past the end: drop what would fall out of the window first, so
        // that a jump in identifiers costs at most `cap` steps.
        let end = index + 1;
        if end > cap {
            let drop = end - cap;
            if drop >= w.slots.len() {
                w.slots.clear();
                w.base = id;
                w.slots.push_back(Some(how));
                return;
            }
            w.slots.drain(..drop);
            // `drop` is below the window's length, itself at most `cap`.
            w.base += 2 * drop as u32;
        }
        let index = ((id - w.base) / 2) as usize;
        while w.slots.len() < index {
            w.slots.push_back(None);
        }
        w.slots.push_back(Some(how));
    }

    /// How stream `id` closed, if it is within the remembered window.
    pub(crate) fn get(&self, id: u32) -> Option<CloseKind> {
        let w = &self.sides[(id & 1) as usize];
        if id < w.base {
            return None;
        }
        w.slots.get(((id - w.base) / 2) as usize).copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseKind::*;

    #[test]
    fn remembers_each_initiator_apart() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 4);
        c.insert(2, ResetByPeer, 4);
        c.insert(5, ResetByUs, 4);
        assert_eq!(c.get(1), Some(Ended));
        assert_eq!(c.get(2), Some(ResetByPeer));
        assert_eq!(c.get(3), None, "still open");
        assert_eq!(c.get(5), Some(ResetByUs));
        assert_eq!(c.get(4), None);
        assert_eq!(c.get(7), None);
        c.insert(1, ResetByUs, 4);
        assert_eq!(c.get(1), Some(ResetByUs), "a later record replaces");
    }

    #[test]
    fn keeps_the_most_recent_identifiers_only() {
        let mut c = ClosedStreams::default();
        for id in (1..=21).step_by(2) {
            c.insert(id, Ended, 4);
        }
        for id in (1..=13).step_by(2) {
            assert_eq!(c.get(id), None, "{id} fell out");
        }
        for id in (15..=21).step_by(2) {
            assert_eq!(c.get(id), Some(Ended), "{id}");
        }
        assert_eq!(c.sides[1].slots.len(), 4);
    }

    #[test]
    fn a_stream_that_closes_late_is_kept_when_it_fits() {
        let mut c = ClosedStreams::default();
        c.insert(5, Ended, 4);
        c.insert(7, Ended, 4);
        c.insert(3, ResetByUs, 4);
        assert_eq!(c.get(3), Some(ResetByUs));
        assert_eq!(c.get(5), Some(Ended));
        // Too old for the window: forgotten, the rest untouched.
        c.insert(9, Ended, 4);
        c.insert(1, ResetByUs, 4);
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(3), Some(ResetByUs));
        assert_eq!(c.get(9), Some(Ended));
    }

    #[test]
    fn a_jump_in_identifiers_costs_at_most_the_window() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 8);
        c.insert(3, Ended, 8);
        c.insert(0x7fff_ffff, ResetByPeer, 8);
        assert_eq!(c.get(0x7fff_ffff), Some(ResetByPeer));
        assert_eq!(c.get(1), None);
        assert_eq!(c.sides[1].slots.len(), 1);
        c.insert(0x7fff_fff1, Ended, 8);
        assert_eq!(c.get(0x7fff_fff1), Some(Ended));
        assert_eq!(c.sides[1].slots.len(), 8);
        // Jumps of less than a window keep what is still within it.
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 8);
        c.insert(11, Ended, 8);
        assert_eq!(c.get(1), Some(Ended));
        c.insert(17, Ended, 8);
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(3), None);
        assert_eq!(c.get(11), Some(Ended));
        assert_eq!(c.sides[1].slots.len(), 8);
    }

    #[test]
    fn a_zero_cap_remembers_nothing() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 0);
        assert_eq!(c.get(1), None);
    }
}
