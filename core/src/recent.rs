//! [`Recent`]: the last few things a connection made, kept so that the
//! next call can use them again (request texts, request and response
//! heads, header blocks and what validating them gave). One bounded ring
//! serves every such memo.

/// At most `N` items; once full, a new one takes the place of the oldest.
#[derive(Debug)]
pub(crate) struct Recent<T, const N: usize> {
    items: Vec<T>,
    /// The slot the next item takes once all `N` are used.
    next: usize,
}

impl<T, const N: usize> Default for Recent<T, N> {
    fn default() -> Self {
        const { assert!(N > 0) };
        Recent {
            items: Vec::new(),
            next: 0,
        }
    }
}

impl<T, const N: usize> Recent<T, N> {
    /// The items, in no particular order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The items, to change in place.
    pub(crate) fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    /// The first item `f` accepts.
    pub(crate) fn find(&self, mut f: impl FnMut(&T) -> bool) -> Option<&T> {
        self.items.iter().find(|t| f(t))
    }

    /// Where the first item `f` accepts is (stable until it is replaced).
    pub(crate) fn position(&self, f: impl FnMut(&T) -> bool) -> Option<usize> {
        self.items.iter().position(f)
    }

    /// The item at `i`.
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        self.items.get(i)
    }

    /// The item at `i`, to change in place.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.items.get_mut(i)
    }

    /// How many items are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Where a new item goes: a new slot while fewer than `N` are kept,
    /// else the oldest one's.
    fn take_slot(&mut self) -> usize {
        if self.items.len() < N {
            self.items.len()
        } else {
            let i = self.next;
            self.next = (i + 1) % N;
            i
        }
    }

    /// Keeps `item`, in place of the oldest once `N` are kept; returns
    /// where it is.
    pub(crate) fn put(&mut self, item: T) -> usize {
        let i = self.take_slot();
        match self.items.get_mut(i) {
            Some(slot) => *slot = item,
            None => self.items.push(item),
        }
        i
    }

    /// The slot for a new item, to be filled in place (a reused slot keeps
    /// its allocations), and where it is.
    pub(crate) fn slot(&mut self) -> Option<(usize, &mut T)>
    where
        T: Default,
    {
        let i = self.take_slot();
        if i == self.items.len() {
            self.items.push(T::default());
        }
        self.items.get_mut(i).map(|t| (i, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_goes_first() {
        let mut r: Recent<u32, 3> = Recent::default();
        for n in 0..3 {
            r.put(n);
        }
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), [0, 1, 2]);
        r.put(3);
        r.put(4);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), [3, 4, 2]);
        assert_eq!(r.position(|&n| n == 4), Some(1));
        let (i, slot) = r.slot().unwrap();
        assert_eq!((i, *slot), (2, 2), "the oldest slot, as it was");
        *slot = 5;
        assert_eq!(r.find(|&n| n == 5), Some(&5));
        assert_eq!(r.len(), 3);
        let mut s: Recent<Vec<u8>, 2> = Recent::default();
        assert_eq!(s.slot().map(|(i, v)| (i, v.len())), Some((0, 0)));
        assert_eq!(s.len(), 1);
    }
}
