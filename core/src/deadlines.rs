//! The deadlines of a connection's calls, soonest first.
//!
//! A sorted double-ended queue rather than a tree: calls with the same
//! timeout start in order, so their deadlines arrive in order and go on
//! the back, and calls mostly end in the order they started, so their
//! deadlines leave from the front. Both are O(1) then; an entry out of
//! order costs a binary search and a shift of the shorter side, which the
//! number of live calls bounds (each call has at most one entry).

use std::collections::VecDeque;
use std::time::Instant;

/// `(deadline, call)` pairs in increasing order.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    queue: VecDeque<(Instant, u64)>,
}

impl Deadlines {
    /// Adds `call`'s deadline `at`. A pair already present is not added
    /// again.
    pub(crate) fn insert(&mut self, at: Instant, call: u64) {
        let entry = (at, call);
        match self.queue.back() {
            None => self.queue.push_back(entry),
            Some(last) if *last < entry => self.queue.push_back(entry),
            _ => {
                let i = self.queue.partition_point(|e| *e < entry);
                if self.queue.get(i) != Some(&entry) {
                    self.queue.insert(i, entry);
                }
            }
        }
    }

    /// Removes `call`'s deadline `at`, if present.
    pub(crate) fn remove(&mut self, at: Instant, call: u64) {
        let entry = (at, call);
        if self.queue.front() == Some(&entry) {
            self.queue.pop_front();
            return;
        }
        let i = self.queue.partition_point(|e| *e < entry);
        if self.queue.get(i) == Some(&entry) {
            self.queue.remove(i);
        }
    }

    /// The soonest deadline and its call.
    pub(crate) fn first(&self) -> Option<&(Instant, u64)> {
        self.queue.front()
    }

    /// Removes the soonest deadline.
    pub(crate) fn pop_first(&mut self) -> Option<(Instant, u64)> {
        self.queue.pop_front()
    }

    /// Forgets every deadline.
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn kept_in_order_whatever_the_order_they_come_in() {
        let t0 = crate::test_clock::origin();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut d = Deadlines::default();
        for (ms, call) in [(30, 1), (10, 2), (20, 3), (40, 4), (10, 5), (20, 3)] {
            d.insert(at(ms), call);
        }
        let all: Vec<_> = d.queue.iter().map(|(t, c)| (*t, *c)).collect();
        assert_eq!(
            all,
            [
                (at(10), 2),
                (at(10), 5),
                (at(20), 3),
                (at(30), 1),
                (at(40), 4)
            ],
            "sorted, the repeated pair once"
        );
        d.remove(at(30), 1);
        d.remove(at(10), 2);
        d.remove(at(99), 9);
        d.remove(at(20), 4);
        assert_eq!(d.first(), Some(&(at(10), 5)));
        assert_eq!(d.pop_first(), Some((at(10), 5)));
        assert_eq!(d.pop_first(), Some((at(20), 3)));
        assert_eq!(d.pop_first(), Some((at(40), 4)));
        assert_eq!(d.pop_first(), None);
        d.insert(at(5), 7);
        d.clear();
        assert_eq!(d.first(), None);
    }

    #[test]
    fn agrees_with_a_sorted_set_on_a_long_mixed_run() {
        let t0 = crate::test_clock::origin();
        let mut d = Deadlines::default();
        let mut model = std::collections::BTreeSet::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = t0 + Duration::from_millis(x % 64);
            let call = (x >> 8) % 32;
            match x % 4 {
                0 | 1 => {
                    d.insert(at, call);
                    model.insert((at, call));
                }
                2 => {
                    d.remove(at, call);
                    model.remove(&(at, call));
                }
                _ => {
                    assert_eq!(d.pop_first(), model.pop_first(), "step {step}");
                }
            }
            assert_eq!(d.first(), model.first(), "step {step}");
        }
        assert!(d.queue.iter().eq(model.iter()));
    }
}
