//! The client's calls by the stream that carries them.
//!
//! A client opens its streams in increasing order of identifier (odd ones,
//! RFC 9113 §5.1.1), and nearly every call ends soon after the calls opened
//! before it. So the calls of recent streams are kept in a window of
//! slots indexed by identifier: finding one is a subtraction and an index,
//! where a hash map probed, compared keys and (on removal) rewrote its
//! control bytes. A call whose stream falls out of the window while it
//! goes on (a long call behind many short ones), or whose stream does not
//! fit it, is kept in a hash map instead.

use std::collections::VecDeque;

use crate::h2::idmap::FastMap;

/// The most slots the window holds: a call that outlives this many newer
/// streams moves to the map.
const WINDOW_MAX: usize = 256;

/// Call ids (never 0: a connection's first call is 1) by stream identifier.
#[derive(Debug, Default)]
pub(super) struct StreamCalls {
    /// The stream identifier of `window[0]`.
    base: u32,
    /// The call ids of streams `base`, `base + 2`, ...; 0 for none. Never
    /// starts with 0.
    window: VecDeque<u64>,
    /// Calls whose stream is not in the window.
    others: FastMap<u32, u64>,
}

impl StreamCalls {
    /// The window slot of `stream`, if the window covers it.
    #[inline]
    fn slot(&self, stream: u32) -> Option<usize> {
        let d = stream.checked_sub(self.base)?;
        let i = usize::try_from(d / 2).ok()?;
        (d % 2 == 0 && i < self.window.len()).then_some(i)
    }

    /// Records that `stream` carries call `id` (not 0).
    pub(super) fn insert(&mut self, stream: u32, id: u64) {
        if self.window.is_empty() {
            self.base = stream;
        }
        let next = stream
            .checked_sub(self.base)
            .filter(|d| d % 2 == 0)
            .and_then(|d| usize::try_from(d / 2).ok())
            .filter(|&i| i >= self.window.len() && i - self.window.len() < WINDOW_MAX);
        let (Some(i), true) = (next, id != 0) else {
            self.others.insert(stream, id);
            return;
        };
        while self.window.len() < i {
            self.window.push_back(0);
        }
        self.window.push_back(id);
        while self.window.len() > WINDOW_MAX {
            self.drop_front();
        }
    }

    /// The call `stream` carries.
    #[inline]
    pub(super) fn get(&self, stream: &u32) -> Option<&u64> {
        match self.slot(*stream).and_then(|i| self.window.get(i)) {
            Some(id) if *id != 0 => Some(id),
            _ if self.others.is_empty() => None,
            _ => self.others.get(stream),
        }
    }

    /// Forgets the call `stream` carries, returning it.
    #[inline]
    pub(super) fn remove(&mut self, stream: &u32) -> Option<u64> {
        if let Some(slot) = self.slot(*stream).and_then(|i| self.window.get_mut(i)) {
            if *slot != 0 {
                let id = std::mem::take(slot);
                while self.window.front() == Some(&0) {
                    self.window.pop_front();
                    self.base = self.base.wrapping_add(2);
                }
                return Some(id);
            }
        }
        if self.others.is_empty() {
            return None;
        }
        self.others.remove(stream)
    }

    /// Moves the window's first slot, if it holds a call, to the map.
    fn drop_front(&mut self) {
        if let Some(id) = self.window.pop_front() {
            if id != 0 {
                self.others.insert(self.base, id);
            }
            self.base = self.base.wrapping_add(2);
        }
        while self.window.front() == Some(&0) {
            self.window.pop_front();
            self.base = self.base.wrapping_add(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_streams_stay_in_the_window() {
        let mut m = StreamCalls::default();
        for (k, s) in (1u32..200).step_by(2).enumerate() {
            m.insert(s, k as u64 + 1);
        }
        assert!(m.others.is_empty());
        assert_eq!(m.get(&1), Some(&1));
        assert_eq!(m.get(&7), Some(&4));
        assert_eq!(m.get(&2), None);
        assert_eq!(m.get(&201), None);
        assert_eq!(m.remove(&7), Some(4));
        assert_eq!(m.remove(&7), None);
        assert_eq!(m.get(&7), None);
        assert_eq!(m.remove(&1), Some(1));
        assert_eq!(m.base, 3);
        for s in (3u32..200).step_by(2) {
            if s != 7 {
                assert!(m.remove(&s).is_some(), "{s}");
            }
        }
        assert!(m.window.is_empty());
        // The window starts again where the next stream is.
        m.insert(1001, 500);
        assert_eq!(m.get(&1001), Some(&500));
        assert_eq!(m.base, 1001);
    }

    #[test]
    fn a_long_call_leaves_the_window_and_is_still_found() {
        let mut m = StreamCalls::default();
        m.insert(1, 1);
        for k in 1..1000u32 {
            m.insert(1 + 2 * k, u64::from(k) + 1);
            assert_eq!(m.remove(&(1 + 2 * k)), Some(u64::from(k) + 1));
            assert!(m.window.len() <= WINDOW_MAX);
        }
        assert_eq!(m.get(&1), Some(&1));
        assert_eq!(m.others.len(), 1);
        assert_eq!(m.remove(&1), Some(1));
        assert_eq!(m.get(&1), None);
        assert!(m.others.is_empty());
    }

    #[test]
    fn streams_out_of_order_or_far_ahead_go_to_the_map() {
        let mut m = StreamCalls::default();
        m.insert(11, 1);
        m.insert(5, 2);
        m.insert(12, 3);
        m.insert(11 + 2 * 10_000, 4);
        m.insert(13, 0);
        assert_eq!(m.get(&11), Some(&1));
        assert_eq!(m.get(&5), Some(&2));
        assert_eq!(m.get(&12), Some(&3));
        assert_eq!(m.get(&(11 + 2 * 10_000)), Some(&4));
        assert_eq!(m.window.len(), 1);
        // A gap within reach is padded.
        m.insert(21, 5);
        assert_eq!(m.window.len(), 6);
        assert_eq!(m.get(&21), Some(&5));
        assert_eq!(m.remove(&11), Some(1));
        assert_eq!(m.base, 21);
        assert_eq!(m.window.len(), 1);
        for (s, id) in [(5, 2), (12, 3), (11 + 2 * 10_000, 4), (21, 5)] {
            assert_eq!(m.remove(&s), Some(id));
        }
        assert_eq!(m.remove(&13), Some(0));
        assert!(m.window.is_empty() && m.others.is_empty());
    }

    /// Review 13: against a hash map, with streams mostly in order, some
    /// long-lived, some out of order or far ahead, up to 2^31 - 1.
    #[test]
    fn agrees_with_a_map_whatever_the_order() {
        use std::collections::HashMap;
        for start in [1u32, 0x7fff_ffff - 2 * 700, 0x7fff_ffff - 2 * 3] {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(start);
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut m = StreamCalls::default();
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut stream = start;
            let mut id = 1u64;
            let mut most_others = 0;
            for _ in 0..6_000 {
                let r = next();
                match r % 8 {
                    0..=4 if stream <= 0x7fff_ffff => {
                        let s = match (r >> 8) % 40 {
                            0 => stream.saturating_sub(2 * ((r >> 16) % 600) as u32),
                            1 => stream.saturating_add(2 * ((r >> 16) % 600) as u32),
                            2 => stream + 1,
                            _ => stream,
                        }
                        .min(0x7fff_ffff);
                        if model.contains_key(&s) {
                            continue;
                        }
                        if s == stream {
                            stream = stream.saturating_add(2);
                        }
                        m.insert(s, id);
                        model.insert(s, id);
                        id += 1;
                    }
                    _ => {
                        // Remove one: mostly an old one.
                        let keys: Vec<u32> = model.keys().copied().collect();
                        if keys.is_empty() {
                            continue;
                        }
                        let mut keys = keys;
                        keys.sort_unstable();
                        let k = if r % 3 == 0 {
                            keys[((r >> 20) as usize) % keys.len()]
                        } else {
                            keys[0]
                        };
                        assert_eq!(m.remove(&k), model.remove(&k), "remove {k}");
                        assert_eq!(m.remove(&k), None);
                    }
                }
                assert!(m.window.len() <= WINDOW_MAX);
                most_others = most_others.max(m.others.len());
                let probe = (next() % 0x8000_0000) as u32;
                assert_eq!(m.get(&probe), model.get(&probe), "probe {probe}");
                for (k, v) in &model {
                    assert_eq!(m.get(k), Some(v), "get {k}");
                }
            }
            assert!(start > 1 || most_others > 100, "{most_others}");
            for (k, v) in model.clone() {
                assert_eq!(m.remove(&k), Some(v));
            }
            assert!(m.others.is_empty());
        }
    }
}
