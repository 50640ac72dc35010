//! The dynamic table (RFC 7541 §2.3.2, §4): a FIFO of recently used fields,
//! newest first, whose total size (§4.1: name + value + 32 per entry) never
//! passes its capacity. The decoder and the encoder each keep one; they
//! must evolve identically for the two ends of a connection to agree.

use std::collections::VecDeque;

use bytes::Bytes;

/// The per-entry overhead counted by §4.1.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// One dynamic table entry. Both halves are owned allocations of exactly
/// their length (never slices of a received block, which would keep the
/// whole block alive), so handing one out is a reference-count bump.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Bytes,
    pub(crate) value: Bytes,
    /// The name and value passed HTTP/2's field checks
    /// ([`super::wellformed`]); the decoder's entries say, the encoder's
    /// are always true.
    pub(crate) checked: bool,
}

impl Entry {
    pub(crate) fn size(&self) -> usize {
        entry_size(self.name.len(), self.value.len())
    }
}

/// §4.1 size of an entry with these lengths.
pub(crate) fn entry_size(name_len: usize, value_len: usize) -> usize {
    name_len
        .saturating_add(value_len)
        .saturating_add(ENTRY_OVERHEAD)
}

/// A dynamic table. Memory held is bounded by `capacity` (plus a fixed
/// cost per entry, and there are at most `capacity / 32` entries).
#[derive(Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    capacity: usize,
    /// Counts every change (insert, resize): equal counts mean the same
    /// table.
    changes: u64,
}

impl DynamicTable {
    pub(crate) fn new(capacity: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            capacity,
            changes: 0,
        }
    }

    /// How many times the table has changed.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Sum of the entries' §4.1 sizes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// The current maximum size.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entry `i`, counting from the newest (0).
    pub(crate) fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// Entries from newest to oldest.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// Changes the maximum size, evicting the oldest entries until the
    /// table fits (§4.3).
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.changes += 1;
        self.capacity = capacity;
        self.evict_to(capacity);
        if self.entries.capacity() > 4 * (capacity / ENTRY_OVERHEAD + 1) {
            self.entries.shrink_to_fit();
        }
    }

    /// Whether an entry of `size` bytes would be stored by [`Self::insert`].
    pub(crate) fn fits(&self, size: usize) -> bool {
        size <= self.capacity
    }

    /// Adds an entry at the front, evicting from the back to make room
    /// (§4.4). An entry larger than the capacity empties the table and is
    /// not stored.
    pub(crate) fn insert(&mut self, name: Bytes, value: Bytes) {
        self.insert_checked(name, value, true);
    }

    /// [`Self::insert`], recording whether the field passed HTTP/2's
    /// checks.
    pub(crate) fn insert_checked(&mut self, name: Bytes, value: Bytes, checked: bool) {
        self.changes += 1;
        let entry = Entry {
            name,
            value,
            checked,
        };
        let size = entry.size();
        if !self.fits(size) {
            self.clear();
            return;
        }
        self.evict_to(self.capacity - size);
        self.size += size;
        self.entries.push_front(entry);
    }

    /// Removes every entry (what inserting an oversized entry does).
    pub(crate) fn clear(&mut self) {
        self.changes += 1;
        self.entries.clear();
        self.size = 0;
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_back() {
                Some(old) => self.size -= old.size(),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn eviction_and_oversize() {
        let mut t = DynamicTable::new(100);
        t.insert(b("aaaa"), b("1111")); // 40
        t.insert(b("bbbb"), b("2222")); // 40
        assert_eq!((t.len(), t.size()), (2, 80));
        t.insert(b("cccc"), b("3333")); // evicts aaaa
        assert_eq!(t.len(), 2);
        assert_eq!(&t.get(0).unwrap().name[..], b"cccc");
        assert_eq!(&t.get(1).unwrap().name[..], b"bbbb");
        t.set_capacity(40);
        assert_eq!((t.len(), t.size()), (1, 40));
        t.insert(b("dddd"), b("44444")); // 41 > 40: empties
        assert_eq!((t.len(), t.size()), (0, 0));
    }
}
