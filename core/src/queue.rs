//! A first-in first-out queue of events, drained after every input.
//!
//! `VecDeque::push_back` was not inlined at its many call sites (a call of
//! about 30 instructions per event, each event built on the stack and
//! copied into the call); this ring's push and pop are a few instructions
//! each, inline. Its slots are `Option`s so that a value is moved in and
//! out without `unsafe`; an event enum has a spare tag value, so the slot
//! is no larger than the event.

/// A ring of slots whose count is 0 or a power of two.
pub(crate) struct Queue<T> {
    /// `slots[head]` is the oldest value; the `len` slots after it (round
    /// the end) hold values, the others `None`.
    slots: Vec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::new()
    }
}

impl<T> Queue<T> {
    /// An empty queue (no allocation until the first push).
    pub(crate) const fn new() -> Self {
        Queue {
            slots: Vec::new(),
            head: 0,
            len: 0,
        }
    }

    /// Whether nothing is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `value` last.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, value: T) {
        if self.len == self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len().wrapping_sub(1);
        let i = self.head.wrapping_add(self.len) & mask;
        if let Some(slot) = self.slots.get_mut(i) {
            // The slot is free (`None`): nothing to drop.
            let free = slot.replace(value);
            debug_assert!(free.is_none(), "a slot past the queue's end held a value");
            std::mem::forget(free);
            self.len += 1;
        }
    }

    /// Takes the oldest value.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len().wrapping_sub(1);
        let value = self.slots.get_mut(self.head)?.take();
        self.head = self.head.wrapping_add(1) & mask;
        self.len -= 1;
        value
    }

    /// Doubles the slots (4 at first), the values moved to the front in
    /// order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(4);
        let mut slots: Vec<Option<T>> = Vec::with_capacity(cap);
        let at = self.head.min(self.slots.len());
        let (tail, front) = self.slots.split_at_mut(at);
        slots.extend(front.iter_mut().chain(tail.iter_mut()).map(Option::take));
        slots.resize_with(cap, || None);
        self.slots = slots;
        self.head = 0;
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mask = self.slots.len().wrapping_sub(1);
        f.debug_list()
            .entries((0..self.len).filter_map(|k| {
                self.slots
                    .get(self.head.wrapping_add(k) & mask)
                    .and_then(Option::as_ref)
            }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::Queue;

    #[test]
    fn matches_vecdeque() {
        let mut q = Queue::new();
        let mut model = VecDeque::new();
        let mut seed = 0x2545_f491_u32;
        for n in 0..20_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            if seed % 5 < 3 {
                q.push_back(n.to_string());
                model.push_back(n.to_string());
            } else {
                assert_eq!(q.pop_front(), model.pop_front());
            }
            assert_eq!(q.len, model.len());
            assert_eq!(q.is_empty(), model.is_empty());
        }
        while let Some(v) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(v));
        }
        assert_eq!(q.pop_front(), None);
        assert_eq!(format!("{:?}", Queue::<u8>::new()), "[]");
    }
}
