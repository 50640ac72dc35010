//! The HPACK encoder: header list in, header block out (RFC 7541 §6), with
//! an indexing policy tuned for gRPC.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::static_table::{self, STATIC_LEN, StaticMatch};
use super::table::{DynamicTable, entry_size};
use super::{HeaderField, huffman, integer};
use crate::recent::Recent;

/// The table size every HTTP/2 peer starts with (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Encodes header lists sent on one connection.
///
/// One `Encoder` per connection (per direction). Its dynamic table mirrors
/// the peer's decoder, so every block it produces must be sent, in order.
///
/// # Policy
///
/// For each field, in order of preference:
///
/// 1. **Never indexed** (§6.2.3), with the name taken from a table when
///    possible: fields marked sensitive, `authorization`,
///    `proxy-authorization`, `cookie`, `set-cookie` (credentials, and RFC
///    7541 §7.1.3 warns that short cookies can be guessed through
///    compression), and every binary `-bin` metadata field (gRPC uses them
///    for trace contexts and status details, which change on every call
///    and can carry secrets). The decoder on the other side reports these
///    as sensitive, and intermediaries must not index them either.
/// 2. **Indexed** (§6.1) when the static or dynamic table holds the exact
///    field: `:method POST`, `:scheme http`, `:status 200`, and whatever
///    earlier blocks inserted.
/// 3. **Literal with incremental indexing** (§6.2.1) for fields that tend
///    to repeat on a connection: `:path`, `:authority`, `content-type`,
///    `te`, `user-agent`, `grpc-encoding`, `grpc-accept-encoding`,
///    `grpc-status` and any other name not listed below, as long as the
///    entry takes at most half the table (a bigger entry would flush most
///    of what is worth keeping).
/// 4. **Literal without indexing** (§6.2.2) for fields whose values change
///    from call to call, where an entry would only evict useful ones (the
///    first such field of a name the static table lacks, with a short
///    value, is inserted once so that later ones name it by index):
///    `grpc-timeout`, `grpc-message`, `content-length`, `:status` values
///    outside the static table, dates and validators (`date`, `etag`,
///    `last-modified`, `expires`, `age`, `if-*`), `location`, and request
///    ids and trace headers (`x-request-id`, `traceparent`, `tracestate`,
///    `b3`, `x-b3-*`, `x-amzn-trace-id`, `x-cloud-trace-context`,
///    `grpc-previous-rpc-attempts`, `grpc-retry-pushback-ms`).
///
/// Names are taken from the static table first (smaller indices), then the
/// dynamic table. Strings are Huffman-coded only when that is strictly
/// shorter, except the short values of such changing fields, which go as
/// they are (the peer then reads them without decoding).
///
/// The encoder uses at most [`DEFAULT_TABLE_SIZE`] bytes of table (or the
/// limit given to [`Encoder::with_table_limit`]) even if the peer allows
/// more; a larger table would buy little for gRPC's short header lists.
///
/// # Example
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use grpc_sansio::hpack::{Decoder, Encoder};
///
/// let mut encoder = Encoder::new();
/// let mut block = BytesMut::new();
/// encoder.encode(
///     [
///         (&b":method"[..], &b"POST"[..], false),
///         (b":path", b"/helloworld.Greeter/SayHello", false),
///         (b"authorization", b"Bearer xyz", false),
///     ],
///     &mut block,
/// );
/// let mut decoder = Decoder::new(4096);
/// let mut fields = Vec::new();
/// decoder.decode(&block.freeze(), 8192, &mut fields).unwrap();
/// assert_eq!(fields[1].value, "/helloworld.Greeter/SayHello");
/// assert!(fields[2].sensitive);
/// ```
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
    /// The most table we are willing to use.
    limit: usize,
    /// The peer's SETTINGS_HEADER_TABLE_SIZE.
    peer_max: usize,
    /// The smallest size we may use that was set since the last block, when
    /// a size update is due.
    pending: Option<usize>,
    /// The last blocks [`Encoder::encode_block`] made that left the table
    /// alone, to be repeated as is for the same fields (see there).
    memos: Recent<Memo, MEMOS>,
}

/// A header block and the fields it encodes, flattened: for each field
/// its name length and value length (4 bytes each), its sensitivity, its
/// name and its value. Good while the table's change count is `stamp`.
///
/// A volatile field (see [`volatile`]) is kept by name only (its value
/// length is written as `u32::MAX`, and no value follows), and its value's
/// string is left out of `block`: `holes` says where each goes (an offset
/// in `block`, and the field's position in the list), so a block whose
/// fields differ from the memo's only in such values (a request's
/// `grpc-timeout`) is still the memo's bytes with the new values written in.
#[derive(Debug, Default)]
struct Memo {
    stamp: Option<u64>,
    key: Vec<u8>,
    block: Vec<u8>,
    holes: Vec<(usize, usize)>,
    /// The shared list this block was made of, if it came from
    /// [`Encoder::encode_shared`] or [`Encoder::encode_shared_plus`]: the
    /// same list matches by address.
    shared: Option<Arc<[HeaderField]>>,
    /// For a block made by [`Encoder::encode_shared_plus`]: the name of
    /// the volatile field that follows the shared list, and whether that
    /// name went as a literal (see [`Memo::matches`]).
    plus: Option<(Bytes, bool)>,
}

/// A field whose value a memo leaves out: a literal without indexing
/// (`grpc-timeout`, request ids, trace headers) whose name the static table
/// does not hold. Such a field is always sent as a literal: the first one
/// of its name is inserted into the dynamic table, so that later ones
/// name it by index, but its value is never matched whole. So its bytes
/// are the same for any value but the value's own string (sent as it is
/// when short, see [`RAW_VOLATILE_MAX`]).
fn volatile(f: &HeaderField) -> bool {
    !f.sensitive && volatile_name(&f.name)
}

/// A field of this name, not sensitive, is [`volatile`].
fn volatile_name(name: &[u8]) -> bool {
    policy(name, false) == Literal::Without && static_table::find(name, b"") == StaticMatch::None
}

/// How many blocks the memo keeps: a server alternates response heads and
/// trailers, a client may call a few methods in turn.
const MEMOS: usize = 4;

/// The largest field list (flattened) a memo keeps.
const MEMO_MAX_KEY: usize = 2048;

impl Memo {
    fn matches(&self, changes: u64, capacity: usize, fields: &[HeaderField]) -> bool {
        if self.stamp != Some(changes) {
            return false;
        }
        let mut rest = &self.key[..];
        for f in fields {
            let (name, value) = (&f.name[..], &f.value[..]);
            // A fixed nine bytes: the indexing below cannot fail.
            let Some((head, tail)) = rest.split_first_chunk::<9>() else {
                return false;
            };
            let kept = head[4..8] != u32::MAX.to_le_bytes();
            // A volatile field whose name went as a literal: a value the
            // full encoding would insert with its name does not match.
            let named_here = head[8] & LITERAL_NAME != 0;
            if head[..4] != (name.len() as u32).to_le_bytes()
                || head[8] & SENSITIVE != u8::from(f.sensitive)
                || (kept && head[4..8] != (value.len() as u32).to_le_bytes())
                || (!kept && !volatile(f))
                || (named_here && inserts_volatile(name.len(), value.len(), capacity))
            {
                return false;
            }
            let Some((n, tail)) = tail.split_at_checked(name.len()) else {
                return false;
            };
            if n != name {
                return false;
            }
            rest = tail;
            if kept {
                let Some((v, tail)) = rest.split_at_checked(value.len()) else {
                    return false;
                };
                if v != value {
                    return false;
                }
                rest = tail;
            }
        }
        rest.is_empty()
    }

    /// Keep `block`, which encodes `fields`; `values` are the spans in
    /// `block` of the volatile fields' value strings, with each field's
    /// position in the list, in order.
    fn remember(
        &mut self,
        changes: u64,
        fields: &[HeaderField],
        block: &[u8],
        values: &[(usize, usize, usize, bool)],
    ) {
        self.key.clear();
        self.shared = None;
        self.plus = None;
        for (i, f) in fields.iter().enumerate() {
            let vol = volatile(f);
            let value_len = if vol { u32::MAX } else { f.value.len() as u32 };
            self.key
                .extend_from_slice(&(f.name.len() as u32).to_le_bytes());
            self.key.extend_from_slice(&value_len.to_le_bytes());
            let literal_name = values.iter().any(|&(_, _, at, lit)| at == i && lit);
            let flags = u8::from(f.sensitive) | if literal_name { LITERAL_NAME } else { 0 };
            self.key.push(flags);
            self.key.extend_from_slice(&f.name);
            if !vol {
                self.key.extend_from_slice(&f.value);
            }
        }
        self.block.clear();
        self.holes.clear();
        let mut from = 0;
        for &(start, end, at, _) in values {
            self.block
                .extend_from_slice(block.get(from..start).unwrap_or_default());
            self.holes.push((self.block.len(), at));
            from = end;
        }
        self.block
            .extend_from_slice(block.get(from..).unwrap_or_default());
        self.stamp = Some(changes);
    }

    /// Write the remembered block for `fields` (which [`matches`](Self::matches)).
    fn write(&self, fields: &[HeaderField], dst: &mut impl Sink) {
        self.write_with(|i| fields.get(i).map(|f| &f.value[..]), dst);
    }

    /// Write the remembered block, the value of its volatile field `i`
    /// taken from `value(i)`.
    fn write_with<'a>(&self, value: impl Fn(usize) -> Option<&'a [u8]>, dst: &mut impl Sink) {
        let mut from = 0;
        for &(at, i) in &self.holes {
            dst.put_slice(self.block.get(from..at).unwrap_or_default());
            if let Some(v) = value(i) {
                write_volatile(v, dst);
            }
            from = at;
        }
        dst.put_slice(self.block.get(from..).unwrap_or_default());
    }
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

/// Which literal representation a field gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    Incremental,
    Without,
    Never,
}

impl Encoder {
    /// An encoder for a peer that has not (yet) changed its
    /// SETTINGS_HEADER_TABLE_SIZE from the default 4,096.
    pub fn new() -> Self {
        Encoder::with_table_limit(DEFAULT_TABLE_SIZE)
    }

    /// An encoder that uses at most `limit` bytes of dynamic table,
    /// whatever the peer allows (0 disables the dynamic table). A limit
    /// below 4,096 is announced by a size update in the first block.
    pub fn with_table_limit(limit: usize) -> Self {
        let mut encoder = Encoder {
            table: DynamicTable::new(DEFAULT_TABLE_SIZE),
            limit,
            peer_max: DEFAULT_TABLE_SIZE,
            pending: None,
            memos: Recent::default(),
        };
        if limit < DEFAULT_TABLE_SIZE {
            encoder.pending = Some(limit);
        }
        encoder
    }

    /// Applies the peer's new SETTINGS_HEADER_TABLE_SIZE. The next block
    /// starts with the dynamic table size updates this calls for (§4.2):
    /// the smallest size set since the previous block if that is below the
    /// table's current size or below the final size (the peer's maximum
    /// went down and back up), then the final size if it differs from the
    /// table's size by then.
    pub fn set_max_table_size(&mut self, peer_max: usize) {
        self.peer_max = peer_max;
        let usable = peer_max.min(self.limit);
        self.pending = Some(self.pending.map_or(usable, |p| p.min(usable)));
    }

    /// The size of the dynamic table, in §4.1 bytes.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Appends one header block encoding `fields` (name, value, sensitive)
    /// to `dst`. A sensitive field is always sent as never indexed.
    ///
    /// Names should already be lowercase, as HTTP/2 requires; the encoder
    /// does not check.
    pub fn encode<'a, I>(&mut self, fields: I, dst: &mut BytesMut)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
    {
        self.encode_into(fields, dst);
    }

    /// [`Encoder::encode`] into a `Vec` (the connection's scratch buffer:
    /// single-byte writes to a `Vec` are a store, not a call).
    pub(crate) fn encode_into<'a, I, B>(&mut self, fields: I, dst: &mut B)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
        B: Sink,
    {
        self.start_block(dst);
        for (name, value, sensitive) in fields {
            let _ = self.encode_field(name, value, sensitive, dst);
        }
    }

    /// [`Encoder::encode`] of a list of [`HeaderField`]s into `dst`, with
    /// a memo: when one of the last few blocks this way encoded exactly
    /// these fields and changed nothing in the dynamic table (every field
    /// was indexed or a literal without indexing), and the table has not
    /// changed since, the same bytes are right again and are copied. The
    /// heads of repeated calls on a warm connection take this path, with
    /// volatile values such as `grpc-timeout` written in fresh (see
    /// [`Memo`]). Lists with a sensitive field, or longer than a couple of
    /// KiB, are never remembered.
    pub(crate) fn encode_block(&mut self, fields: &[HeaderField], dst: &mut impl Sink) {
        let _ = self.encode_remembering(fields, dst);
    }

    /// [`encode_block`](Self::encode_block) of a list shared between
    /// blocks: when a memo was made of this very list (the same
    /// allocation) on the table as it is, its bytes are written without
    /// comparing the fields. The list's fields must not be volatile ones
    /// whose values change (they cannot: the list is shared, not mutable).
    pub(crate) fn encode_shared(&mut self, fields: &Arc<[HeaderField]>, dst: &mut impl Sink) {
        let before = self.table.changes();
        if self.pending.is_none() {
            let same = |m: &&Memo| {
                m.stamp == Some(before)
                    && m.plus.is_none()
                    && m.shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, fields))
            };
            if let Some(m) = self.memos.iter().find(same) {
                m.write(fields, dst);
                return;
            }
        }
        if let Some(m) = self
            .encode_remembering(fields, dst)
            .and_then(|i| self.memos.get_mut(i))
        {
            m.shared = Some(fields.clone());
            m.plus = None;
        }
    }

    /// The block [`encode_shared`](Self::encode_shared) would copy for
    /// `fields` from its memo, when it would copy one as it is (a memo made
    /// of this very list on the table as it is, with no volatile value to
    /// write in): the caller may write it itself, where it likes.
    #[inline]
    pub(crate) fn shared_block(&self, fields: &Arc<[HeaderField]>) -> Option<&[u8]> {
        if self.pending.is_some() {
            return None;
        }
        let before = self.table.changes();
        self.memos
            .iter()
            .find(|m| {
                m.stamp == Some(before)
                    && m.plus.is_none()
                    && m.shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, fields))
            })
            .filter(|m| m.holes.is_empty())
            .map(|m| &m.block[..])
    }

    /// [`encode_shared`](Self::encode_shared) of a shared list followed by
    /// one more field, `name: value`, a volatile one (`grpc-timeout`, whose
    /// value changes from block to block): the block is the list's
    /// remembered block with the value written in, when a memo was made of
    /// this list and a field of this name on the table as it is. The same
    /// bytes as [`encode_block`](Self::encode_block) of the two together.
    pub(crate) fn encode_shared_plus(
        &mut self,
        fields: &Arc<[HeaderField]>,
        name: &'static [u8],
        value: &[u8],
        dst: &mut impl Sink,
    ) {
        let before = self.table.changes();
        let vol = volatile_name(name);
        if self.pending.is_none() && vol {
            let capacity = self.table.capacity();
            let same = |m: &&Memo| {
                m.stamp == Some(before)
                    && m.shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, fields))
                    && m.plus.as_ref().is_some_and(|(n, literal)| {
                        n[..] == *name
                            && !(*literal && inserts_volatile(name.len(), value.len(), capacity))
                    })
            };
            if let Some(m) = self.memos.iter().find(same) {
                let last = fields.len();
                m.write_with(
                    |i| match i.cmp(&last) {
                        std::cmp::Ordering::Less => fields.get(i).map(|f| &f.value[..]),
                        std::cmp::Ordering::Equal => Some(value),
                        std::cmp::Ordering::Greater => None,
                    },
                    dst,
                );
                return;
            }
        }
        let mut all = Vec::with_capacity(fields.len() + 1);
        all.extend(fields.iter().cloned());
        all.push(HeaderField {
            name: Bytes::from_static(name),
            value: Bytes::copy_from_slice(value),
            sensitive: false,
        });
        let Some(i) = self.encode_remembering(&all, dst) else {
            return;
        };
        // The memo holds the block on the table as it was made, which is
        // the table now: whether the name went as a literal is whether the
        // table lacks it.
        let literal = self.find_dynamic(name, b"").1.is_none();
        if let Some(m) = self.memos.get_mut(i).filter(|_| vol) {
            m.shared = Some(fields.clone());
            m.plus = Some((Bytes::from_static(name), literal));
        }
    }

    /// [`encode_block`](Self::encode_block); returns the memo that holds
    /// the block, if one does.
    fn encode_remembering(&mut self, fields: &[HeaderField], dst: &mut impl Sink) -> Option<usize> {
        let before = self.table.changes();
        if self.pending.is_none() {
            let capacity = self.table.capacity();
            if let Some(i) = self
                .memos
                .iter()
                .position(|m| m.matches(before, capacity, fields))
            {
                if let Some(m) = self.memos.get(i) {
                    m.write(fields, dst);
                }
                return Some(i);
            }
        }
        let start = dst.written();
        self.start_block(dst);
        // The spans of volatile values (from `start`), with their fields'
        // positions; a volatile field sent some other way (which the policy
        // rules out) leaves the block unremembered.
        let mut values = Vec::new();
        let mut literal_values = true;
        for (i, f) in fields.iter().enumerate() {
            let value_at = self.encode_field(&f.name, &f.value, f.sensitive, dst);
            if volatile(f) {
                match value_at {
                    Some(at) => {
                        // Its name went as a literal if no table holds it
                        // (an insertion would have left the block
                        // unremembered anyway).
                        let literal_name = self.find_dynamic(&f.name, b"").1.is_none();
                        values.push((at - start, dst.written() - start, i, literal_name));
                    }
                    None => literal_values = false,
                }
            }
        }
        // Sensitive values are not kept beyond their block, and a memo
        // holds at most a few KiB.
        let keep = fields.iter().all(|f| !f.sensitive)
            && fields
                .iter()
                .map(|f| f.name.len() + f.value.len() + 9)
                .sum::<usize>()
                <= MEMO_MAX_KEY;
        if keep && literal_values && self.table.changes() == before {
            let block = dst.since(start);
            if let Some((i, m)) = self.memos.slot() {
                m.remember(before, fields, block, &values);
                return Some(i);
            }
        }
        None
    }

    /// [`Encoder::encode`] for a list of [`HeaderField`]s.
    pub fn encode_fields<'a, I>(&mut self, fields: I, dst: &mut BytesMut)
    where
        I: IntoIterator<Item = &'a HeaderField>,
    {
        self.encode(
            fields
                .into_iter()
                .map(|f| (&f.name[..], &f.value[..], f.sensitive)),
            dst,
        );
    }

    /// Emits the pending size updates, if any.
    fn start_block(&mut self, dst: &mut impl Sink) {
        let Some(smallest) = self.pending.take() else {
            return;
        };
        let target = self.peer_max.min(self.limit);
        if smallest < self.table.capacity() || smallest < target {
            integer::encode(smallest, 5, 0x20, dst);
            self.table.set_capacity(smallest);
        }
        if target != self.table.capacity() {
            integer::encode(target, 5, 0x20, dst);
            self.table.set_capacity(target);
        }
    }

    /// Encode one field. When it goes as a literal, returns where in
    /// `dst` its value's string starts (the string ends what was written).
    fn encode_field(
        &mut self,
        name: &[u8],
        value: &[u8],
        sensitive: bool,
        dst: &mut impl Sink,
    ) -> Option<usize> {
        let literal = policy(name, sensitive);
        let in_static = static_table::find(name, value);
        // A value that changes from block to block under a name no static
        // entry has (`grpc-timeout`, request ids; see `volatile`).
        let volatile = literal == Literal::Without && in_static == StaticMatch::None;
        // The dynamic table is searched only when the static table does not
        // settle the representation.
        let mut dyn_name = None;
        if literal != Literal::Never {
            if let StaticMatch::Field(index) = in_static {
                integer::encode(index, 7, 0x80, dst);
                return None;
            }
            let (dyn_field, name_at) = self.find_dynamic(name, value);
            // A volatile field is always a literal, even when the table
            // holds its value (the one inserted with its name): the memo
            // relies on it.
            if let Some(i) = dyn_field.filter(|_| !volatile) {
                integer::encode(STATIC_LEN + 1 + i, 7, 0x80, dst);
                return None;
            }
            dyn_name = name_at;
        } else if in_static == StaticMatch::None {
            dyn_name = self.find_dynamic(name, value).1;
        }
        let name_index = match in_static {
            StaticMatch::Field(index) | StaticMatch::Name(index) => index,
            StaticMatch::None => dyn_name.map_or(0, |i| STATIC_LEN + 1 + i),
        };
        let size = entry_size(name.len(), value.len());
        let small = size <= self.table.capacity() / 2;
        let literal = if literal == Literal::Incremental && !small {
            Literal::Without
        } else if volatile
            && name_index == 0
            && inserts_volatile(name.len(), value.len(), self.table.capacity())
        {
            // The first time (with a short value, so that the entry costs
            // the table little): inserted, so that later blocks name it by
            // index and send only the value.
            Literal::Incremental
        } else {
            literal
        };
        match literal {
            Literal::Incremental => integer::encode(name_index, 6, 0x40, dst),
            Literal::Without => integer::encode(name_index, 4, 0x00, dst),
            Literal::Never => integer::encode(name_index, 4, 0x10, dst),
        }
        if name_index == 0 {
            write_string(name, dst);
        }
        let value_at = dst.written();
        if volatile {
            write_volatile(value, dst);
        } else {
            write_string(value, dst);
        }
        if literal == Literal::Incremental {
            self.table
                .insert(Bytes::copy_from_slice(name), Bytes::copy_from_slice(value));
        }
        Some(value_at)
    }

    /// Positions (from newest) of the first entry equal to the field and of
    /// the first entry with its name.
    fn find_dynamic(&self, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let mut name_at = None;
        for (i, entry) in self.table.iter().enumerate() {
            if entry.name[..] == *name {
                if entry.value[..] == *value {
                    return (Some(i), Some(i));
                }
                name_at.get_or_insert(i);
            }
        }
        (None, name_at)
    }
}

/// The representation a field gets when the tables do not hold it whole.
fn policy(name: &[u8], sensitive: bool) -> Literal {
    if sensitive || name.ends_with(b"-bin") {
        return Literal::Never;
    }
    match name {
        b"authorization" | b"proxy-authorization" | b"cookie" | b"set-cookie" => Literal::Never,
        b"grpc-timeout"
        | b"grpc-message"
        | b"grpc-previous-rpc-attempts"
        | b"grpc-retry-pushback-ms"
        | b"content-length"
        | b":status"
        | b"date"
        | b"etag"
        | b"last-modified"
        | b"expires"
        | b"age"
        | b"if-match"
        | b"if-none-match"
        | b"if-modified-since"
        | b"if-unmodified-since"
        | b"if-range"
        | b"location"
        | b"x-request-id"
        | b"traceparent"
        | b"tracestate"
        | b"b3"
        | b"x-b3-traceid"
        | b"x-b3-spanid"
        | b"x-b3-parentspanid"
        | b"x-b3-sampled"
        | b"x-amzn-trace-id"
        | b"x-cloud-trace-context" => Literal::Without,
        _ => Literal::Incremental,
    }
}

/// Flags of a field in a memo's key.
const SENSITIVE: u8 = 1;
/// A volatile field whose name went as a literal (no table held it).
const LITERAL_NAME: u8 = 2;

/// Whether a volatile field whose name no table holds is inserted (its
/// name, with this first value): when the value is short and the entry
/// small for the table.
fn inserts_volatile(name_len: usize, value_len: usize, capacity: usize) -> bool {
    value_len <= RAW_VOLATILE_MAX && entry_size(name_len, value_len) <= capacity / 2
}

/// Volatile values this long or shorter are sent as they are, not
/// Huffman-coded: a peer then reads them as slices of the block, without
/// decoding or allocating (a `grpc-timeout` costs a byte or two more).
const RAW_VOLATILE_MAX: usize = 16;

/// A volatile field's value string (see [`RAW_VOLATILE_MAX`]).
fn write_volatile(s: &[u8], dst: &mut impl Sink) {
    if s.len() <= RAW_VOLATILE_MAX {
        integer::encode(s.len(), 7, 0x00, dst);
        dst.put_slice(s);
    } else {
        write_string(s, dst);
    }
}

/// §5.2 string literal, Huffman-coded when strictly shorter.
fn write_string(s: &[u8], dst: &mut impl Sink) {
    let coded = huffman::encoded_len(s);
    if coded < s.len() {
        integer::encode(coded, 7, 0x80, dst);
        dst.reserve_more(coded);
        huffman::encode(s, dst);
    } else {
        integer::encode(s.len(), 7, 0x00, dst);
        dst.put_slice(s);
    }
}

/// Where the encoder writes: a `BufMut` that can reserve room and says
/// how much it holds.
pub(crate) trait Sink: BufMut {
    fn reserve_more(&mut self, n: usize);
    fn written(&self) -> usize;
    /// What was written from offset `start` on.
    fn since(&self, start: usize) -> &[u8];
}

impl Sink for BytesMut {
    fn reserve_more(&mut self, n: usize) {
        self.reserve(n);
    }
    fn written(&self) -> usize {
        self.len()
    }
    fn since(&self, start: usize) -> &[u8] {
        self.get(start..).unwrap_or_default()
    }
}

impl Sink for Vec<u8> {
    fn reserve_more(&mut self, n: usize) {
        self.reserve(n);
    }
    fn written(&self) -> usize {
        self.len()
    }
    fn since(&self, start: usize) -> &[u8] {
        self.get(start..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::Decoder;
    use proptest::prelude::*;

    fn field(name: &str, value: &str, sensitive: bool) -> HeaderField {
        HeaderField {
            name: Bytes::copy_from_slice(name.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            sensitive,
        }
    }

    /// A shared list is found by its address once remembered; a list
    /// with the same fields elsewhere is found by comparing them.
    #[test]
    fn shared_lists_are_found_by_address() {
        let list: Arc<[HeaderField]> = vec![
            field(":status", "200", false),
            field("grpc-status", "0", false),
        ]
        .into();
        let mut enc = Encoder::new();
        let mut blocks = Vec::new();
        for _ in 0..3 {
            let mut b = Vec::new();
            enc.encode_shared(&list, &mut b);
            blocks.push(b);
        }
        // grpc-status is not in the static table: the first block inserts
        // it (so it is not remembered); the second, all indexed, is
        // remembered with the list, and the third found by address.
        assert_ne!(blocks[0], blocks[1]);
        assert_eq!(blocks[1], vec![0x88, 0xbe]);
        let held: Vec<_> = enc.memos.iter().filter_map(|m| m.shared.as_ref()).collect();
        assert_eq!(held.len(), 1);
        assert!(Arc::ptr_eq(held[0], &list));
        assert_eq!(blocks[1], blocks[2]);
        // Found by address, not by comparing: with the memo's key spoiled,
        // the list still gets the remembered bytes (and an equal list
        // elsewhere, which only a comparison could find, is encoded in
        // full, to the same bytes on this table).
        for m in enc.memos.iter_mut().filter(|m| m.shared.is_some()) {
            m.key.clear();
            m.block.push(0xff);
        }
        let mut b = Vec::new();
        enc.encode_shared(&list, &mut b);
        assert_eq!(b, [&blocks[2][..], &[0xff]].concat(), "from the memo");
        let twin: Arc<[HeaderField]> = list.to_vec().into();
        let mut b = Vec::new();
        enc.encode_shared(&twin, &mut b);
        assert_eq!(b, blocks[2]);
    }

    /// A shared list with a `grpc-timeout` after it is found by the
    /// list's address once remembered, each block with its own value.
    #[test]
    fn shared_lists_with_a_timeout_are_found_by_address() {
        let list: Arc<[HeaderField]> = vec![
            field(":method", "POST", false),
            field(":path", "/a.B/C", false),
        ]
        .into();
        let timeout = |v: &str| field("grpc-timeout", v, false);
        let mut enc = Encoder::new();
        let mut blocks = Vec::new();
        for v in ["1S", "2S", "3S"] {
            let mut b = Vec::new();
            enc.encode_shared_plus(&list, b"grpc-timeout", v.as_bytes(), &mut b);
            blocks.push(b);
        }
        // The first block inserts the path and the timeout's name; from
        // the second on, the memo holds the block, with the value's place.
        let held: Vec<_> = enc.memos.iter().filter(|m| m.plus.is_some()).collect();
        assert_eq!(held.len(), 1);
        assert!(Arc::ptr_eq(held[0].shared.as_ref().unwrap(), &list));
        assert_eq!(blocks[1].len(), blocks[2].len());
        assert_eq!(blocks[2].last(), Some(&b'S'));
        assert_eq!(blocks[2][blocks[2].len() - 2], b'3');
        // Found by address: with the memo's key spoiled and a mark added
        // to its block, the next one still comes from it, value written in.
        for m in enc.memos.iter_mut().filter(|m| m.plus.is_some()) {
            m.key.clear();
            m.block.push(0xff);
        }
        let mut b = Vec::new();
        enc.encode_shared_plus(&list, b"grpc-timeout", b"4S", &mut b);
        let mut want = blocks[2].clone();
        let at = want.len() - 2;
        want[at] = b'4';
        want.push(0xff);
        assert_eq!(b, want, "from the memo");
        // The list alone is not that memo's: it is encoded on its own.
        let mut alone = Vec::new();
        enc.encode_shared(&list, &mut alone);
        assert!(!alone.ends_with(&[0xff]));
        let mut out = Vec::new();
        Decoder::new(4096)
            .decode(&Bytes::from(blocks[0].clone()), 1024, &mut out)
            .unwrap();
        assert_eq!(out[2], timeout("1S"));
    }

    /// A warm request head is copied from the memo, and is the same bytes
    /// the full encoding gives.
    #[test]
    fn repeated_blocks_come_from_the_memo() {
        let head = [
            field(":method", "POST", false),
            field(":path", "/helloworld.Greeter/SayHello", false),
            field("content-type", "application/grpc", false),
            field("x-id", "7", false),
        ];
        let mut enc = Encoder::new();
        let mut first = Vec::new();
        enc.encode_block(&head, &mut first);
        assert!(
            enc.memos.iter().all(|m| m.stamp.is_none()),
            "the first block inserts"
        );
        let mut second = Vec::new();
        enc.encode_block(&head, &mut second);
        assert!(enc.memos.iter().any(|m| m.stamp.is_some()));
        assert!(second.len() < first.len());
        let mut third = Vec::new();
        enc.encode_block(&head, &mut third);
        assert_eq!(third, second);
        // A different value is a miss; sensitivity is part of the key, and
        // a list with a sensitive field is never remembered.
        let mut other = head.clone();
        other[3] = field("x-id", "7", true);
        let mut fourth = Vec::new();
        enc.encode_block(&other, &mut fourth);
        assert_ne!(fourth, third);
        assert!(
            enc.memos.iter().all(|m| m.block != fourth),
            "the sensitive block was remembered"
        );
        // A size update from the peer bypasses the memo.
        enc.set_max_table_size(256);
        let mut fifth = Vec::new();
        enc.encode_block(&head, &mut fifth);
        assert_eq!(fifth[0] & 0xe0, 0x20, "starts with a size update");
    }

    /// A request head whose `grpc-timeout` changes on every call still
    /// comes from the memo after the first calls, with the new value.
    #[test]
    fn a_changing_timeout_keeps_the_memo() {
        let head = |timeout: &str| {
            vec![
                field(":method", "POST", false),
                field(":path", "/helloworld.Greeter/SayHello", false),
                field("te", "trailers", false),
                field("grpc-timeout", timeout, false),
                field("x-request-id", &format!("req-{timeout}"), false),
                field("user-agent", "grpc-sansio", false),
            ]
        };
        let mut enc = Encoder::new();
        let mut dec = Decoder::new(4096);
        let timeouts = ["1000m", "999m", "20S", "7u", "123456789n", "5H", "1M"];
        for (n, t) in timeouts.iter().enumerate() {
            let fields = head(t);
            let mut block = Vec::new();
            enc.encode_block(&fields, &mut block);
            if n >= 2 {
                assert!(
                    enc.memos.iter().any(|m| m.holes.len() == 2
                        && m.matches(enc.table.changes(), enc.table.capacity(), &fields)),
                    "call {n} missed the memo"
                );
            }
            let mut out = Vec::new();
            dec.decode(&Bytes::from(block), 1 << 20, &mut out).unwrap();
            assert_eq!(out, fields);
        }
        // The bytes, against an encoder with no memo at all.
        let mut plain = Encoder::new();
        let mut memo = Encoder::new();
        for t in timeouts {
            let fields = head(t);
            let mut a = Vec::new();
            plain.encode_into(
                fields
                    .iter()
                    .map(|f| (&f.name[..], &f.value[..], f.sensitive)),
                &mut a,
            );
            let mut b = Vec::new();
            memo.encode_block(&fields, &mut b);
            assert_eq!(a, b, "timeout {t}");
        }
    }

    proptest! {
        /// Blocks with volatile fields of any value, repeated in any order,
        /// are byte for byte what an encoder without memo writes.
        #[test]
        fn volatile_values_match_the_full_encoding(
            steps in proptest::collection::vec((0usize..3, "[0-9]{1,8}[HMSmun]", proptest::collection::vec(any::<u8>(), 0..40)), 1..30),
            table in prop_oneof![Just(4096usize), 0usize..300],
        ) {
            let mut plain = Encoder::new();
            let mut memo = Encoder::new();
            // Small tables too: there a volatile name may not fit, and a
            // block with it as a literal must not stand for one that
            // inserts it.
            plain.set_max_table_size(table);
            memo.set_max_table_size(table);
            for (pick, timeout, id) in steps {
                let id = Bytes::from(id);
                let mut fields = match pick {
                    0 => vec![field(":path", "/a.B/C", false), field("grpc-timeout", &timeout, false)],
                    1 => vec![field("grpc-timeout", &timeout, false), field("te", "trailers", false)],
                    _ => vec![field(":status", "200", false), field("grpc-message", &timeout, false)],
                };
                fields.push(HeaderField { name: Bytes::from_static(b"traceparent"), value: id, sensitive: false });
                let mut a = Vec::new();
                plain.encode_into(fields.iter().map(|f| (&f.name[..], &f.value[..], f.sensitive)), &mut a);
                let mut b = Vec::new();
                memo.encode_block(&fields, &mut b);
                prop_assert_eq!(a, b);
            }
        }

        /// Shared lists (matched by address) give byte for byte what an
        /// encoder without the memo writes for the same fields, among
        /// owned lists that change the table and peer size changes.
        #[test]
        fn shared_lists_match_the_full_encoding(
            steps in proptest::collection::vec((0usize..6, proptest::option::weighted(0.1, 0usize..5000)), 1..40)
        ) {
            let pool: Vec<Arc<[HeaderField]>> = vec![
                vec![field(":status", "200", false), field("content-type", "application/grpc", false)].into(),
                vec![field("grpc-status", "0", false)].into(),
                vec![field(":path", "/a.B/C", false), field("x-big", &"v".repeat(300), false)].into(),
                vec![field("grpc-timeout", "1S", false), field("x-n", "1", false)].into(),
            ];
            let owned = [
                vec![field("x-new", "1", false)],
                vec![field(":status", "200", false), field("content-type", "application/grpc", false)],
            ];
            let mut plain = Encoder::new();
            let mut shared = Encoder::new();
            let mut dec = Decoder::new(4096);
            for (pick, resize) in steps {
                if let Some(size) = resize {
                    plain.set_max_table_size(size);
                    shared.set_max_table_size(size);
                }
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let fields: &[HeaderField] = match pool.get(pick) {
                    Some(list) => {
                        shared.encode_shared(list, &mut b);
                        list
                    }
                    None => {
                        let list = &owned[pick - pool.len()];
                        shared.encode_block(list, &mut b);
                        list
                    }
                };
                plain.encode_into(fields.iter().map(|f| (&f.name[..], &f.value[..], f.sensitive)), &mut a);
                prop_assert_eq!(&a, &b);
                let mut out = Vec::new();
                dec.decode(&Bytes::from(b), 1 << 20, &mut out).unwrap();
                prop_assert_eq!(&out[..], fields);
            }
        }

        /// A shared list followed by a field of its block's own
        /// (`encode_shared_plus`: a request head and its `grpc-timeout`)
        /// gives byte for byte what an encoder without the memo writes for
        /// the two together, among plain shared lists, owned lists, other
        /// extra fields, peer size changes and small tables.
        #[test]
        fn shared_lists_plus_a_field_match_the_full_encoding(
            steps in proptest::collection::vec(
                (0usize..8, "[0-9]{1,8}[HMSmun]", proptest::option::weighted(0.1, 0usize..5000)),
                1..40,
            ),
            table in prop_oneof![Just(4096usize), 0usize..300],
        ) {
            let pool: Vec<Arc<[HeaderField]>> = vec![
                vec![field(":method", "POST", false), field(":path", "/a.B/C", false), field("te", "trailers", false)].into(),
                vec![field(":method", "POST", false), field(":path", "/a.B/D", false)].into(),
                vec![field(":status", "200", false)].into(),
            ];
            let mut plain = Encoder::new();
            let mut shared = Encoder::new();
            plain.set_max_table_size(table);
            shared.set_max_table_size(table);
            let mut dec = Decoder::new(4096);
            for (pick, timeout, resize) in steps {
                if let Some(size) = resize {
                    plain.set_max_table_size(size);
                    shared.set_max_table_size(size);
                }
                let list = &pool[pick % pool.len()];
                // Mostly grpc-timeout; sometimes another volatile name, or
                // a field that is not volatile at all.
                let (name, value): (&'static [u8], &str) = match pick {
                    0..=4 => (b"grpc-timeout", &timeout),
                    5 => (b"x-request-id", &timeout),
                    _ => (b"content-type", "application/grpc"),
                };
                let extra = HeaderField {
                    name: Bytes::from_static(name),
                    value: Bytes::copy_from_slice(value.as_bytes()),
                    sensitive: false,
                };
                let mut all = list.to_vec();
                all.push(extra.clone());
                let (mut a, mut b) = (Vec::new(), Vec::new());
                if pick == 7 {
                    // The list alone, between its uses with a field.
                    shared.encode_shared(list, &mut b);
                    all.pop();
                } else {
                    shared.encode_shared_plus(list, name, value.as_bytes(), &mut b);
                }
                plain.encode_into(all.iter().map(|f| (&f.name[..], &f.value[..], f.sensitive)), &mut a);
                prop_assert_eq!(&a, &b);
                let mut out = Vec::new();
                dec.decode(&Bytes::from(b), 1 << 20, &mut out).unwrap();
                prop_assert_eq!(&out[..], &all[..]);
            }
        }

        /// Any sequence of blocks (from a small pool, so that repeats are
        /// common) with peer size changes between them decodes to what was
        /// encoded.
        #[test]
        fn memo_never_changes_what_decodes(
            steps in proptest::collection::vec((0usize..6, proptest::option::of(0usize..5000)), 1..40)
        ) {
            let pool: Vec<Vec<HeaderField>> = vec![
                vec![field(":status", "200", false), field("content-type", "application/grpc", false)],
                vec![field("grpc-status", "0", false)],
                vec![field("grpc-status", "13", false), field("grpc-message", "boom", false)],
                vec![field(":path", "/a.B/C", false), field("x-big", &"v".repeat(300), false)],
                vec![field("authorization", "secret", true), field(":path", "/a.B/C", false)],
                vec![field("x-n", "1", false), field("x-n", "1", false)],
            ];
            let mut enc = Encoder::new();
            let mut dec = Decoder::new(4096);
            for (pick, resize) in steps {
                if let Some(size) = resize {
                    enc.set_max_table_size(size);
                    // The decoder follows what the encoder announces.
                }
                let fields = &pool[pick];
                let mut block = Vec::new();
                enc.encode_block(fields, &mut block);
                let mut out = Vec::new();
                dec.decode(&Bytes::from(block), 1 << 20, &mut out).unwrap();
                prop_assert_eq!(&out, fields);
            }
        }
    }
}
