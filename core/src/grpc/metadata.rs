//! Custom metadata: the application's key/value pairs carried in request
//! headers, response headers and trailers.
//!
//! This module owns the rules for metadata keys and values and their
//! conversion to and from HTTP/2 header fields:
//!
//! - **Keys** are 1 or more of `0-9 a-z _ - .` (lower case only; HTTP/2
//!   forbids upper-case field names). Keys ending in `-bin` hold binary
//!   values; all others hold ASCII values.
//! - **Reserved keys** are neither accepted from the application nor
//!   delivered to it as metadata, because the protocol layers own them:
//!   pseudo-headers (`:` prefix), every key starting with `grpc-`, and the
//!   keys in [`RESERVED_KEYS`] (`content-type`, `te`, `user-agent`,
//!   `content-length`, `host` and the connection-specific headers HTTP/2
//!   forbids). The same set is refused on insert and skipped on receive,
//!   so a map received from a peer can always be sent back unchanged.
//! - **ASCII values** are 0 or more bytes in `%x20-%x7E` (space and
//!   visible ASCII). A received value with other bytes is reported as an
//!   error for that one field, which the caller drops; it never fails the
//!   call.
//! - **Binary values** are any bytes. On the wire they are base64
//!   (standard alphabet), sent unpadded; received values may be padded or
//!   not, and may hold several values joined with `,` (an intermediary may
//!   merge duplicate fields that way), each of which becomes its own
//!   entry.
//!
//! A [`MetadataMap`] keeps entries in insertion order and allows
//! duplicate keys. It holds whatever the caller puts in it: the size of a
//! received map is bounded by the header list size limit of the HPACK
//! layer that produced the fields.

use std::fmt;

use bytes::Bytes;

use super::base64;

/// Keys that are not custom metadata besides pseudo-headers and `grpc-*`:
/// gRPC and HTTP/2 set them, or forbid them (RFC 9113 §8.2.2).
pub const RESERVED_KEYS: &[&str] = &[
    "content-type",
    "te",
    "user-agent",
    "content-length",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// The suffix that marks a key as binary.
pub const BINARY_SUFFIX: &str = "-bin";

/// Why a metadata key or value was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is empty.
    EmptyKey,
    /// The key has a byte outside `0-9 a-z _ - .`.
    InvalidKey {
        /// The first offending byte.
        byte: u8,
    },
    /// The key is reserved for the protocol (see the module docs).
    ReservedKey,
    /// An ASCII value has a byte outside `%x20-%x7E`.
    InvalidValue {
        /// The first offending byte.
        byte: u8,
    },
    /// An ASCII value was given for a key ending in `-bin`.
    BinaryKey,
    /// A binary value was given for a key that does not end in `-bin`.
    NotBinaryKey,
    /// A received binary value is not valid base64.
    InvalidBase64,
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::EmptyKey => f.write_str("empty metadata key"),
            MetadataError::InvalidKey { byte } => {
                write!(f, "metadata key has invalid byte 0x{byte:02x}")
            }
            MetadataError::ReservedKey => f.write_str("metadata key is reserved"),
            MetadataError::InvalidValue { byte } => {
                write!(f, "ASCII metadata value has invalid byte 0x{byte:02x}")
            }
            MetadataError::BinaryKey => f.write_str("ASCII value for a -bin metadata key"),
            MetadataError::NotBinaryKey => {
                f.write_str("binary value for a metadata key without -bin")
            }
            MetadataError::InvalidBase64 => f.write_str("binary metadata value is not base64"),
        }
    }
}

impl std::error::Error for MetadataError {}

fn is_key_byte(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.')
}

pub(crate) fn is_reserved(name: &[u8]) -> bool {
    // The same set as RESERVED_KEYS (a test checks), as a match the
    // compiler turns into a switch on the length.
    name.first() == Some(&b':')
        || name.starts_with(b"grpc-")
        || matches!(
            name,
            b"content-type"
                | b"te"
                | b"user-agent"
                | b"content-length"
                | b"host"
                | b"connection"
                | b"keep-alive"
                | b"proxy-connection"
                | b"transfer-encoding"
                | b"upgrade"
        )
}

fn check_key(name: &[u8]) -> Result<(), MetadataError> {
    if name.is_empty() {
        return Err(MetadataError::EmptyKey);
    }
    if name.first() == Some(&b':') {
        return Err(MetadataError::ReservedKey);
    }
    if let Some(&byte) = name.iter().find(|&&b| !is_key_byte(b)) {
        return Err(MetadataError::InvalidKey { byte });
    }
    if is_reserved(name) {
        return Err(MetadataError::ReservedKey);
    }
    Ok(())
}

fn check_ascii_value(value: &[u8]) -> Result<(), MetadataError> {
    match value.iter().find(|&&b| !(0x20..=0x7e).contains(&b)) {
        Some(&byte) => Err(MetadataError::InvalidValue { byte }),
        None => Ok(()),
    }
}

/// A validated metadata key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetadataKey {
    name: Bytes,
}

impl MetadataKey {
    /// Validates `name` as a key the application may use.
    pub fn from_bytes(name: &[u8]) -> Result<MetadataKey, MetadataError> {
        check_key(name)?;
        Ok(MetadataKey {
            name: Bytes::copy_from_slice(name),
        })
    }

    /// A key from a string constant, without copying it.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid, unreserved key: meant for literals in the
    /// program, never for peer input.
    pub fn from_static(name: &'static str) -> MetadataKey {
        if let Err(e) = check_key(name.as_bytes()) {
            panic!("invalid metadata key {name:?}: {e}");
        }
        MetadataKey {
            name: Bytes::from_static(name.as_bytes()),
        }
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        // Validated as ASCII on construction.
        std::str::from_utf8(&self.name).unwrap_or_default()
    }

    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.name
    }

    /// Whether the key ends in `-bin` and so holds binary values.
    pub fn is_binary(&self) -> bool {
        self.name.ends_with(BINARY_SUFFIX.as_bytes())
    }
}

impl fmt::Debug for MetadataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MetadataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MetadataKey {
    type Err = MetadataError;
    fn from_str(s: &str) -> Result<MetadataKey, MetadataError> {
        MetadataKey::from_bytes(s.as_bytes())
    }
}

/// One metadata value: ASCII text for ordinary keys, raw bytes for `-bin`
/// keys (already base64-decoded).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MetadataValue {
    bytes: Bytes,
    binary: bool,
}

impl MetadataValue {
    /// Whether this is a binary value.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The value's bytes: the text of an ASCII value, or the decoded bytes
    /// of a binary one.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The text of an ASCII value; `None` for a binary value.
    pub fn to_str(&self) -> Option<&str> {
        if self.binary {
            None
        } else {
            // Validated as ASCII on construction.
            std::str::from_utf8(&self.bytes).ok()
        }
    }

    /// The value as it goes on the wire: ASCII as is, binary as unpadded
    /// base64.
    pub fn to_wire(&self) -> Bytes {
        if self.binary {
            let mut out = Vec::new();
            base64::encode(&self.bytes, &mut out);
            Bytes::from(out)
        } else {
            self.bytes.clone()
        }
    }

    fn wire_len(&self) -> usize {
        if self.binary {
            base64::encoded_len(self.bytes.len())
        } else {
            self.bytes.len()
        }
    }
}

impl fmt::Debug for MetadataValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_str() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => write!(f, "bin({:?})", self.bytes),
        }
    }
}

/// What [`MetadataMap::append_from_wire`] did with a header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// The field was custom metadata and became this many entries (more
    /// than one for a comma-joined binary field).
    Added(usize),
    /// The field is reserved for the protocol (pseudo-header, `grpc-*`,
    /// or one of [`RESERVED_KEYS`]); the caller handles it, if at all.
    Reserved,
}

/// An ordered multimap of metadata: insertion order is kept and a key may
/// have several values.
#[derive(Default, PartialEq, Eq)]
pub struct MetadataMap {
    entries: Vec<(MetadataKey, MetadataValue)>,
}

impl Clone for MetadataMap {
    fn clone(&self) -> Self {
        // Most calls carry no metadata: an empty map is cloned without
        // going through the element-wise copy.
        if self.entries.is_empty() {
            return MetadataMap::new();
        }
        MetadataMap {
            entries: self.entries.clone(),
        }
    }
}

impl MetadataMap {
    /// An empty map.
    pub fn new() -> MetadataMap {
        MetadataMap::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> MetadataMap {
        MetadataMap {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of entries (values), counting each value of a repeated key.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Let go of the map; an empty one that holds no allocation (nearly
    /// every call's) without the call to drop its entries one by one.
    #[inline]
    pub(crate) fn discard(self) {
        if self.entries.capacity() == 0 {
            // Nothing to drop or free.
            std::mem::forget(self);
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn ascii_entry(key: &str, value: &str) -> Result<(MetadataKey, MetadataValue), MetadataError> {
        let key = MetadataKey::from_bytes(key.as_bytes())?;
        if key.is_binary() {
            return Err(MetadataError::BinaryKey);
        }
        check_ascii_value(value.as_bytes())?;
        let value = MetadataValue {
            bytes: Bytes::copy_from_slice(value.as_bytes()),
            binary: false,
        };
        Ok((key, value))
    }

    fn binary_entry(
        key: &str,
        value: Bytes,
    ) -> Result<(MetadataKey, MetadataValue), MetadataError> {
        let key = MetadataKey::from_bytes(key.as_bytes())?;
        if !key.is_binary() {
            return Err(MetadataError::NotBinaryKey);
        }
        Ok((
            key,
            MetadataValue {
                bytes: value,
                binary: true,
            },
        ))
    }

    /// Sets `key` to the single value `value`: replaces the first existing
    /// value in place and removes the others, or appends if there were
    /// none.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let (key, value) = Self::ascii_entry(key, value)?;
        self.replace(key, value);
        Ok(())
    }

    /// Adds `value` for `key` after any existing values.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), MetadataError> {
        let entry = Self::ascii_entry(key, value)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Like [`insert`](Self::insert), for a binary value; `key` must end
    /// in `-bin`.
    pub fn insert_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        let (key, value) = Self::binary_entry(key, value.into())?;
        self.replace(key, value);
        Ok(())
    }

    /// Like [`append`](Self::append), for a binary value; `key` must end
    /// in `-bin`.
    pub fn append_bin(&mut self, key: &str, value: impl Into<Bytes>) -> Result<(), MetadataError> {
        let entry = Self::binary_entry(key, value.into())?;
        self.entries.push(entry);
        Ok(())
    }

    fn replace(&mut self, key: MetadataKey, value: MetadataValue) {
        match self.entries.iter().position(|(k, _)| *k == key) {
            Some(first) => {
                let mut i = 0;
                self.entries.retain(|(k, _)| {
                    let keep = i <= first || *k != key;
                    i += 1;
                    keep
                });
                if let Some(slot) = self.entries.get_mut(first) {
                    slot.1 = value;
                }
            }
            None => self.entries.push((key, value)),
        }
    }

    fn values<'a, 'k>(
        &'a self,
        key: &'k str,
    ) -> impl Iterator<Item = &'a MetadataValue> + use<'a, 'k> {
        self.entries
            .iter()
            .filter(move |(k, _)| k.as_bytes() == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// The first ASCII value of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.get_all(key).next()
    }

    /// Every ASCII value of `key`, in order.
    pub fn get_all<'a, 'k>(&'a self, key: &'k str) -> impl Iterator<Item = &'a str> + use<'a, 'k> {
        self.values(key).filter_map(|v| v.to_str())
    }

    /// The first binary value of `key`, if any.
    pub fn get_bin(&self, key: &str) -> Option<&Bytes> {
        self.get_all_bin(key).next()
    }

    /// Every binary value of `key`, in order.
    pub fn get_all_bin<'a, 'k>(
        &'a self,
        key: &'k str,
    ) -> impl Iterator<Item = &'a Bytes> + use<'a, 'k> {
        self.values(key)
            .filter(|v| v.is_binary())
            .map(|v| v.as_bytes())
    }

    /// Whether `key` has at least one value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.values(key).next().is_some()
    }

    /// Removes every value of `key`; returns how many there were.
    pub fn remove(&mut self, key: &str) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k.as_bytes() != key.as_bytes());
        before - self.entries.len()
    }

    /// Every entry in order.
    pub fn iter(&self) -> impl Iterator<Item = (&MetadataKey, &MetadataValue)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Appends every entry of `other`, in order.
    pub fn extend(&mut self, other: MetadataMap) {
        self.entries.extend(other.entries);
    }

    /// The size these entries add to an HTTP/2 header list
    /// (`SETTINGS_MAX_HEADER_LIST_SIZE` accounting): for each entry the
    /// key length, the wire (base64 for binary) value length, plus 32.
    pub fn header_list_size(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.name.len() + v.wire_len() + 32)
            .sum()
    }

    /// Appends the entries as header fields, in order. ASCII values are
    /// shared, not copied; binary values are base64-encoded, unpadded.
    pub fn to_wire(&self, out: &mut Vec<(Bytes, Bytes)>) {
        out.reserve(self.entries.len());
        for (k, v) in &self.entries {
            out.push((k.name.clone(), v.to_wire()));
        }
    }

    /// [`to_wire`](Self::to_wire) straight into a header list.
    pub(crate) fn to_fields(&self, out: &mut Vec<crate::hpack::HeaderField>) {
        out.reserve(self.entries.len());
        for (k, v) in &self.entries {
            out.push(crate::hpack::HeaderField {
                name: k.name.clone(),
                value: v.to_wire(),
                sensitive: false,
            });
        }
    }

    /// Applies one received header field.
    ///
    /// Reserved names are reported as [`Received::Reserved`] and not
    /// stored. An invalid name or value is an error for this field only
    /// and leaves the map unchanged: the caller should drop the field and
    /// go on. A binary field is split on `,`; each part, with spaces and
    /// tabs around it trimmed, is decoded as padded or unpadded base64; if
    /// any part is invalid, none is stored.
    pub fn append_from_wire(
        &mut self,
        name: &[u8],
        value: &[u8],
    ) -> Result<Received, MetadataError> {
        if name.is_empty() {
            return Err(MetadataError::EmptyKey);
        }
        if is_reserved(name) {
            return Ok(Received::Reserved);
        }
        check_key(name)?;
        let key = MetadataKey {
            name: Bytes::copy_from_slice(name),
        };
        if !key.is_binary() {
            check_ascii_value(value)?;
            self.entries.push((
                key,
                MetadataValue {
                    bytes: Bytes::copy_from_slice(value),
                    binary: false,
                },
            ));
            return Ok(Received::Added(1));
        }
        let start = self.entries.len();
        for part in value.split(|&b| b == b',') {
            let part = part.trim_ascii();
            match base64::decode(part) {
                Ok(bytes) => self.entries.push((
                    key.clone(),
                    MetadataValue {
                        bytes: Bytes::from(bytes),
                        binary: true,
                    },
                )),
                Err(_) => {
                    self.entries.truncate(start);
                    return Err(MetadataError::InvalidBase64);
                }
            }
        }
        Ok(Received::Added(self.entries.len() - start))
    }

    /// A map of the custom metadata among `fields`: reserved fields are
    /// skipped and invalid ones dropped (see
    /// [`append_from_wire`](Self::append_from_wire)).
    pub fn from_wire<'a, I>(fields: I) -> MetadataMap
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
    {
        let mut map = MetadataMap::new();
        for (name, value) in fields {
            // Dropping invalid fields is the receive rule; see the docs.
            let _ = map.append_from_wire(name, value);
        }
        map
    }
}

impl fmt::Debug for MetadataMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a MetadataMap {
    type Item = (&'a MetadataKey, &'a MetadataValue);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (MetadataKey, MetadataValue)>,
        fn(&'a (MetadataKey, MetadataValue)) -> (&'a MetadataKey, &'a MetadataValue),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reserved_match_is_reserved_keys() {
        for k in RESERVED_KEYS {
            assert!(is_reserved(k.as_bytes()), "{k}");
        }
        let n = [
            "content-type",
            "te",
            "user-agent",
            "content-length",
            "host",
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ];
        assert_eq!(
            RESERVED_KEYS,
            &n[..],
            "the match in is_reserved must list RESERVED_KEYS"
        );
        for k in [
            "x-te",
            "t",
            "content-typ",
            "hosts",
            "x-user",
            "grpc",
            "grpc_x",
        ] {
            assert!(!is_reserved(k.as_bytes()), "{k}");
        }
        assert!(is_reserved(b"grpc-x") && is_reserved(b":path"));
    }

    #[test]
    fn keys() {
        assert!(MetadataKey::from_bytes(b"x-user_id.v2").is_ok());
        assert_eq!(MetadataKey::from_bytes(b""), Err(MetadataError::EmptyKey));
        assert_eq!(
            MetadataKey::from_bytes(b"X-User"),
            Err(MetadataError::InvalidKey { byte: b'X' })
        );
        assert_eq!(
            MetadataKey::from_bytes(b"a b"),
            Err(MetadataError::InvalidKey { byte: b' ' })
        );
        for reserved in [
            ":path",
            "grpc-status",
            "grpc-foo",
            "te",
            "content-type",
            "user-agent",
        ] {
            assert_eq!(
                MetadataKey::from_bytes(reserved.as_bytes()),
                Err(MetadataError::ReservedKey),
                "{reserved}"
            );
        }
        // Only the exact prefix is reserved.
        assert!(MetadataKey::from_bytes(b"grpcx-foo").is_ok());
        assert!(MetadataKey::from_static("trace-bin").is_binary());
    }

    #[test]
    fn insert_append_get_remove() {
        let mut m = MetadataMap::new();
        m.append("a", "1").unwrap();
        m.append("b", "2").unwrap();
        m.append("a", "3").unwrap();
        m.append_bin("c-bin", &b"\x00\xff"[..]).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m.get("a"), Some("1"));
        assert_eq!(m.get_all("a").collect::<Vec<_>>(), ["1", "3"]);
        assert_eq!(m.get("c-bin"), None);
        assert_eq!(m.get_bin("c-bin").map(|b| &b[..]), Some(&b"\x00\xff"[..]));
        assert_eq!(m.get_bin("a"), None);
        m.insert("a", "4").unwrap();
        let order: Vec<_> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(order, ["a", "b", "c-bin"]);
        assert_eq!(m.get_all("a").collect::<Vec<_>>(), ["4"]);
        assert_eq!(m.remove("b"), 1);
        assert_eq!(m.remove("b"), 0);
        assert!(!m.contains_key("b"));
        assert_eq!(m.insert("x-bin", "v"), Err(MetadataError::BinaryKey));
        assert_eq!(m.insert_bin("x", "v"), Err(MetadataError::NotBinaryKey));
        assert_eq!(
            m.insert("x", "tab\there"),
            Err(MetadataError::InvalidValue { byte: b'\t' })
        );
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn wire_round_trip_and_sizes() {
        let mut m = MetadataMap::new();
        m.append("k", "v").unwrap();
        m.append_bin("t-bin", &b"\x01\x02\x03\x04"[..]).unwrap();
        let mut out = Vec::new();
        m.to_wire(&mut out);
        assert_eq!(out[1], (Bytes::from("t-bin"), Bytes::from("AQIDBA")));
        assert_eq!(m.header_list_size(), 1 + 1 + 32 + 5 + 6 + 32);
        let back = MetadataMap::from_wire(out.iter().map(|(k, v)| (&k[..], &v[..])));
        assert_eq!(back, m);
    }

    #[test]
    fn receive_rules() {
        let mut m = MetadataMap::new();
        assert_eq!(
            m.append_from_wire(b"grpc-status", b"0"),
            Ok(Received::Reserved)
        );
        assert_eq!(
            m.append_from_wire(b":status", b"200"),
            Ok(Received::Reserved)
        );
        assert_eq!(
            m.append_from_wire(b"t-bin", b"AQ==, AgM"),
            Ok(Received::Added(2))
        );
        assert_eq!(
            m.append_from_wire(b"t-bin", b"AQ,!!"),
            Err(MetadataError::InvalidBase64)
        );
        assert_eq!(
            m.append_from_wire(b"k", b"caf\xc3\xa9"),
            Err(MetadataError::InvalidValue { byte: 0xc3 })
        );
        let bins: Vec<_> = m.get_all_bin("t-bin").map(|b| b.to_vec()).collect();
        assert_eq!(bins, [vec![1], vec![2, 3]]);
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        "[a-z0-9._-]{1,12}".prop_filter("reserved", |k| !is_reserved(k.as_bytes()))
    }

    proptest! {
        #[test]
        fn wire_round_trip(
            entries in proptest::collection::vec(
                (key_strategy(), proptest::option::of("[ -~]{0,20}"),
                 proptest::collection::vec(any::<u8>(), 0..20)),
                0..10),
        ) {
            let mut m = MetadataMap::new();
            for (key, ascii, bin) in entries {
                match ascii {
                    Some(v) if !key.ends_with("-bin") => m.append(&key, &v).unwrap(),
                    _ => {
                        let key = if key.ends_with("-bin") { key } else { format!("{key}-bin") };
                        m.append_bin(&key, bin).unwrap();
                    }
                }
            }
            let mut out = Vec::new();
            m.to_wire(&mut out);
            let back = MetadataMap::from_wire(out.iter().map(|(k, v)| (&k[..], &v[..])));
            prop_assert_eq!(back, m);
        }

        #[test]
        fn receive_never_panics_and_echoes(
            name in proptest::collection::vec(any::<u8>(), 0..12),
            value in proptest::collection::vec(any::<u8>(), 0..24),
        ) {
            let mut m = MetadataMap::new();
            let _ = m.append_from_wire(&name, &value);
            // Whatever was accepted can be sent back by the application.
            let mut echo = MetadataMap::new();
            for (k, v) in &m {
                match v.to_str() {
                    Some(s) => echo.append(k.as_str(), s).unwrap(),
                    None => echo.append_bin(k.as_str(), v.as_bytes().clone()).unwrap(),
                }
            }
            prop_assert_eq!(echo, m);
        }
    }
}
