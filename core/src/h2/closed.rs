//! How recently closed streams ended, so that a late frame on one is told
//! apart from a frame on a stream that was never opened (RFC 9113 §5.1).
//!
//! A stream's ending is remembered until `cap` more streams have closed
//! after it (`Config::max_closed_streams`), as a bounded map in closing
//! order would. Most of them live in a window of slots, one per stream
//! identifier of each initiator, covering the most recent `cap`
//! identifiers: identifiers of one initiator only grow, so recording and
//! looking up are O(1) with no hashing. A stream that ends when the window
//! has already moved past it (a long-lived call closing after many short
//! ones), or whose slot the window leaves while its ending is still
//! recent, goes to a small map of stragglers in closing order instead.
//! Each ending enters that map at most once, so its cost stays in
//! proportion to the streams that close.

use std::collections::VecDeque;

use super::connection::CloseKind;
use super::idmap::FastMap;

/// The most endings remembered, whatever the configuration asks: it
/// bounds the window (eight bytes per identifier and initiator) and the
/// straggler map.
pub(crate) const MAX_REMEMBERED: usize = 1 << 16;

/// The closed-stream record of one connection.
#[derive(Debug, Default)]
pub(crate) struct ClosedStreams {
    /// Index 0: even (server-initiated) identifiers; 1: odd.
    sides: [Window; 2],
    /// Endings recorded so far (wrapping): the age of an ending is this
    /// minus its slot's `seq`.
    closes: u32,
    /// Endings outside the window, and their order, oldest first.
    stragglers: FastMap<u32, CloseKind>,
    straggler_order: VecDeque<u32>,
}

/// Slot `i` describes identifier `base + 2 * i`.
#[derive(Debug, Default)]
struct Window {
    base: u32,
    slots: VecDeque<Slot>,
}

/// One identifier: how it ended (`None`: still open, or skipped by its
/// initiator) and when, in endings recorded.
#[derive(Debug, Default, Clone, Copy)]
struct Slot {
    kind: Option<CloseKind>,
    seq: u32,
}

impl ClosedStreams {
    /// Records that stream `id` closed `how`, remembered until `cap` more
    /// streams have closed (`cap` is held to [`MAX_REMEMBERED`]). A later
    /// record for the same identifier replaces the earlier one.
    ///
    /// In-order traffic takes an inline path: `id` is the identifier right
    /// after the window's last, and the window is full (one slot in, the
    /// oldest out) or not yet. Everything else goes to
    /// [`insert_general`](Self::insert_general), out of line.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32, how: CloseKind, cap: usize) {
        let cap = cap.min(MAX_REMEMBERED);
        let w = &mut self.sides[(id & 1) as usize];
        let len = w.slots.len();
        let next = w.base.wrapping_add(2 * len as u32);
        if id == next && id > w.base && len == cap {
            if let Some(out) = w.slots.pop_front() {
                self.closes = self.closes.wrapping_add(1);
                w.slots.push_back(Slot {
                    kind: Some(how),
                    seq: self.closes,
                });
                let old = w.base;
                w.base += 2;
                if let Some(kind) = out.kind {
                    if (self.closes.wrapping_sub(out.seq) as usize) < cap {
                        self.straggle(old, kind, cap);
                    }
                }
                return;
            }
        }
        self.insert_general(id, how, cap);
    }

    /// [`insert`](Self::insert) but for its inline path (`cap` is held
    /// to [`MAX_REMEMBERED`] already).
    #[inline(never)]
    fn insert_general(&mut self, id: u32, how: CloseKind, cap: usize) {
        if cap == 0 {
            return;
        }
        self.closes = self.closes.wrapping_add(1);
        let slot = Slot {
            kind: Some(how),
            seq: self.closes,
        };
        let side = (id & 1) as usize;
        let w = &mut self.sides[side];
        // In-order traffic into a window not yet full: `id` is the
        // identifier right after the window's last (into a full window,
        // `insert` took it; the general case below does the same, in
        // more steps).
        let next = w.base.wrapping_add(2 * w.slots.len() as u32);
        if id == next && id > w.base && w.slots.len() < cap {
            w.slots.push_back(slot);
            return;
        }
        if w.slots.is_empty() {
            w.base = id;
            w.slots.push_back(slot);
            return;
        }
        if id < w.base {
            // Older than the window: extend it backwards if it fits, else
            // keep the ending aside.
            let gap = ((w.base - id) / 2) as usize;
            if gap + w.slots.len() > cap {
                self.straggle(id, how, cap);
                return;
            }
            for _ in 1..gap {
                w.slots.push_front(Slot::default());
            }
            w.slots.push_front(slot);
            w.base = id;
            return;
        }
        let index = ((id - w.base) / 2) as usize;
        if let Some(s) = w.slots.get_mut(index) {
            *s = slot;
            return;
        }
        // Past the end: the slots that fall out of the window go first
        // (recent endings among them to the stragglers), so that a jump
        // in identifiers costs at most `cap` steps.
        let end = index + 1;
        if end > cap {
            for _ in 0..end - cap {
                let w = &mut self.sides[side];
                let Some(out) = w.slots.pop_front() else {
                    break;
                };
                let old = w.base;
                // Below `id`: the window never reaches past it here.
                w.base += 2;
                if let Some(kind) = out.kind {
                    if (self.closes.wrapping_sub(out.seq) as usize) < cap {
                        self.straggle(old, kind, cap);
                    }
                }
            }
        }
        let w = &mut self.sides[side];
        if w.slots.is_empty() {
            w.base = id;
        }
        let index = ((id - w.base) / 2) as usize;
        while w.slots.len() < index {
            w.slots.push_back(Slot::default());
        }
        w.slots.push_back(slot);
    }

    /// Keeps an ending the window cannot hold, dropping the oldest such
    /// endings beyond `cap`.
    #[inline(never)]
    fn straggle(&mut self, id: u32, how: CloseKind, cap: usize) {
        if self.stragglers.insert(id, how).is_none() {
            self.straggler_order.push_back(id);
            while self.straggler_order.len() > cap {
                if let Some(old) = self.straggler_order.pop_front() {
                    self.stragglers.remove(&old);
                }
            }
        }
    }

    /// How stream `id` closed, if that is still remembered.
    pub(crate) fn get(&self, id: u32) -> Option<CloseKind> {
        let w = &self.sides[(id & 1) as usize];
        let in_window = id
            .checked_sub(w.base)
            .and_then(|d| w.slots.get((d / 2) as usize))
            .and_then(|s| s.kind);
        in_window.or_else(|| self.stragglers.get(&id).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseKind::*;

    fn window_len(c: &ClosedStreams, side: usize) -> usize {
        c.sides[side].slots.len()
    }

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
        assert_eq!(c.get(0), None);
        c.insert(1, ResetByUs, 4);
        assert_eq!(c.get(1), Some(ResetByUs), "a later record replaces");
    }

    #[test]
    fn keeps_the_most_recent_endings_only() {
        let mut c = ClosedStreams::default();
        for id in (1..=21).step_by(2) {
            c.insert(id, Ended, 4);
        }
        for id in (1..=13).step_by(2) {
            assert_eq!(c.get(id), None, "{id} is forgotten");
        }
        for id in (15..=21).step_by(2) {
            assert_eq!(c.get(id), Some(Ended), "{id}");
        }
        assert_eq!(window_len(&c, 1), 4);
        assert!(c.stragglers.is_empty(), "in-order endings never straggle");
    }

    /// A long-lived stream that ends after many newer ones is remembered
    /// as long as any other ending.
    #[test]
    fn a_stream_that_ends_late_is_remembered() {
        let mut c = ClosedStreams::default();
        // Stream 1 stays open while 3..=2001 open and close.
        for id in (3..=2001).step_by(2) {
            c.insert(id, Ended, 16);
        }
        c.insert(1, ResetByUs, 16);
        assert_eq!(c.get(1), Some(ResetByUs));
        for id in (2003..=2031).step_by(2) {
            c.insert(id, Ended, 16);
        }
        assert_eq!(c.get(1), Some(ResetByUs), "15 endings later");
        // Kept aside, it goes once 16 later endings have been kept aside
        // (old streams ending below the window, here).
        for id in (5..=33).step_by(2) {
            c.insert(id, ResetByPeer, 16);
        }
        assert_eq!(c.get(1), Some(ResetByUs), "15 stragglers later");
        c.insert(35, ResetByPeer, 16);
        assert_eq!(c.get(1), None, "16 stragglers later");
        assert_eq!(c.get(35), Some(ResetByPeer));
        assert_eq!(c.get(2031), Some(Ended), "the window is untouched");
    }

    /// An ending near the front of the window stays remembered when the
    /// window moves past its identifier soon after.
    #[test]
    fn a_recent_ending_outlives_its_slot() {
        let mut c = ClosedStreams::default();
        // Stream 3 stays open while 5..=11 end; then it ends, just before
        // newer streams push its slot out of a window of four.
        c.insert(1, Ended, 4);
        for id in [5, 7] {
            c.insert(id, Ended, 4);
        }
        c.insert(3, ResetByUs, 4);
        for id in [9, 11, 13] {
            c.insert(id, Ended, 4);
        }
        assert!(c.sides[1].base > 3, "the window has moved past 3");
        assert_eq!(c.get(3), Some(ResetByUs), "three endings later");
        assert_eq!(c.get(1), None, "its slot left when it was old");
    }

    #[test]
    fn a_jump_in_identifiers_costs_at_most_the_window() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 8);
        c.insert(3, Ended, 8);
        c.insert(0x7fff_ffff, ResetByPeer, 8);
        assert_eq!(c.get(0x7fff_ffff), Some(ResetByPeer));
        assert_eq!(window_len(&c, 1), 1);
        assert_eq!(c.get(1), Some(Ended), "recent, so kept aside");
        c.insert(0x7fff_fff1, Ended, 8);
        assert_eq!(c.get(0x7fff_fff1), Some(Ended));
        assert_eq!(window_len(&c, 1), 8);
        // Jumps of less than a window keep what is still within it.
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 8);
        c.insert(11, Ended, 8);
        assert_eq!(c.get(1), Some(Ended));
        c.insert(17, Ended, 8);
        assert_eq!(c.get(11), Some(Ended));
        assert_eq!(window_len(&c, 1), 8);
    }

    /// Whatever the identifiers, the window and the stragglers stay
    /// within `cap` each.
    #[test]
    fn bounded_by_cap_whatever_the_identifiers() {
        let mut c = ClosedStreams::default();
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            c.insert(x & 0x7fff_ffff, Ended, 32);
            assert!(window_len(&c, 0) <= 32 && window_len(&c, 1) <= 32);
            assert!(c.stragglers.len() <= 32);
            assert_eq!(c.stragglers.len(), c.straggler_order.len());
        }
    }

    /// Streams of both initiators ending mostly in order (the shortcut
    /// for the identifier right after the window), some of them late:
    /// each of the last `cap` endings is remembered, as it ended.
    #[test]
    fn the_last_endings_are_remembered_in_and_out_of_order() {
        const CAP: usize = 16;
        let mut c = ClosedStreams::default();
        let mut recent: VecDeque<(u32, CloseKind)> = VecDeque::new();
        let mut next = [2u32, 1u32];
        let mut open: Vec<u32> = Vec::new();
        let mut x: u32 = 0x2545_f491;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let side = (x & 1) as usize;
            let kind = [Ended, ResetByUs, ResetByPeer][(x >> 1) as usize % 3];
            let id = if x % 7 == 0 {
                // Left open for a while, ended later.
                open.push(next[side]);
                next[side] += 2;
                continue;
            } else if x % 11 == 0 && !open.is_empty() {
                open.swap_remove((x as usize / 11) % open.len())
            } else {
                // Sometimes an identifier is skipped (never used).
                next[side] += if step % 13 == 0 { 4 } else { 2 };
                next[side] - 2
            };
            c.insert(id, kind, CAP);
            recent.retain(|&(r, _)| r != id);
            recent.push_back((id, kind));
            if recent.len() > CAP {
                recent.pop_front();
            }
            for &(r, k) in &recent {
                assert_eq!(c.get(r), Some(k), "step {step}: {r}");
            }
        }
    }

    #[test]
    fn cap_is_held_to_the_maximum() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, usize::MAX);
        c.insert(0x7fff_ffff, Ended, usize::MAX);
        assert!(window_len(&c, 1) <= MAX_REMEMBERED);
    }

    #[test]
    fn a_zero_cap_remembers_nothing() {
        let mut c = ClosedStreams::default();
        c.insert(1, Ended, 0);
        assert_eq!(c.get(1), None);
    }
}
