//! A map keyed by stream identifier with a cheap hash (identifiers are
//! small sequential integers; SipHash's DoS resistance buys nothing here
//! because the peer cannot choose colliding identifiers freely: they must
//! increase).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Multiplicative (Fibonacci) hashing of small sequential integers.
pub(crate) use crate::call::CallIdHasher as IdHasher;

/// A `HashMap` keyed by small sequential integers (stream and call ids).
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Streams by identifier.
#[derive(Debug)]
pub(crate) struct IdMap<T> {
    map: HashMap<u32, T, BuildHasherDefault<IdHasher>>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        IdMap {
            map: HashMap::default(),
        }
    }
}

impl<T> IdMap<T> {
    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        self.map.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.map.get_mut(&id)
    }

    pub(crate) fn insert(&mut self, id: u32, value: T) {
        self.map.insert(id, value);
    }

    /// The entry of `id`: one lookup for a stream that is changed and
    /// perhaps removed.
    pub(crate) fn entry(&mut self, id: u32) -> std::collections::hash_map::Entry<'_, u32, T> {
        self.map.entry(id)
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        self.map.remove(&id)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.map.values()
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.map.values_mut()
    }
}
