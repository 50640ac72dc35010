//! The HPACK decoder: header block in, header list out (RFC 7541 §3, §6).

use std::sync::Arc;

use bytes::Bytes;

use super::static_table::{STATIC_LEN, STATIC_TABLE};
use super::table::{DynamicTable, ENTRY_OVERHEAD, entry_size};
use super::wellformed::{name_ok, value_ok};
use super::{DecodeError, HeaderField, huffman, integer, wellformed};
use crate::recent::Recent;

/// Scratch capacity kept between blocks; a larger buffer (grown for one
/// long Huffman string) is released after the block.
const SCRATCH_KEEP: usize = 16 * 1024;

/// How many blocks the memo remembers.
const MEMO_SLOTS: usize = 4;

/// The longest block the memo remembers.
const MEMO_BLOCK_MAX: usize = 256;

/// A block that left the dynamic table alone, remembered so that the same
/// bytes on the same table are answered without decoding them again.
///
/// A block is first remembered by its bytes alone; its fields are kept the
/// second time it is seen, so blocks that never repeat (a `grpc-timeout`
/// literal that changes every call) cost a copy of their bytes, not of
/// their fields.
#[derive(Debug, Default)]
struct Remembered {
    /// What the slot holds, if it holds a block decoded with the current
    /// table.
    mode: Mode,
    /// The block's bytes.
    block: Vec<u8>,
    /// The fields it decoded to, none of them a slice of a received block
    /// (none until the block is seen a second time). Shared with the
    /// callers answered from the memo.
    fields: Option<Arc<[HeaderField]>>,
    /// The fields' size as counted against the list limit.
    size: usize,
    /// Whether every field passed HTTP/2's field checks.
    checked: bool,
    /// Names this block for [`Decoder::last_block_id`].
    id: u64,
    /// Where the block's last field starts, when that field is a literal
    /// without indexing: a block with the same bytes up to there and
    /// another such literal after them decodes to the same fields but the
    /// last (the table is left alone either way).
    tail_at: Option<usize>,
    /// In [`Mode::Plus`]: where the last field's value string starts.
    value_at: usize,
    /// In [`Mode::Plus`]: the fields up to `tail_at`, then the last field
    /// of the last block answered so, none of them a slice of a received
    /// block. Only `block`'s bytes up to `value_at` are read in this mode
    /// (they are the same for every block answered so; the last value
    /// in `block` may be an older one's). Shared with the callers
    /// answered with it; its last field is replaced in place when no
    /// caller holds it any more.
    plus: Option<Arc<[HeaderField]>>,
    /// The size of the fields up to `tail_at`, as counted against the
    /// list limit.
    prefix_size: usize,
    /// Whether every field up to `tail_at` passed HTTP/2's field checks.
    prefix_checked: bool,
    /// Whether the name of `plus`'s last field passed them.
    name_checked: bool,
    /// Names the fields up to `tail_at` for [`Decoder::last_prefix_id`].
    prefix_id: u64,
}

/// What a memo slot holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing decoded with the current table.
    #[default]
    Dead,
    /// A block, answered when the same bytes come again.
    Block,
    /// A block's fields up to its last, answered with another last field
    /// when a block has the same bytes up to there (see
    /// [`Decoder::recall_plus`]).
    Plus,
}

/// Where the last field of a block just decoded starts, when it is a
/// literal without indexing, and what came before it.
#[derive(Debug, Clone, Copy)]
struct Tail {
    /// Its first byte.
    at: usize,
    /// The list size of the fields before it.
    size_before: usize,
    /// Whether the fields before it passed HTTP/2's field checks.
    checked_before: bool,
}

/// Decodes header blocks received on one connection.
///
/// One `Decoder` per connection (per direction): its dynamic table mirrors
/// the peer's encoder, so every block the peer sends must go through it, in
/// order, even blocks whose stream is being refused.
///
/// # Memory
///
/// Whatever the input, the decoder holds at most its dynamic table (bounded
/// by the table size we advertise, [`Decoder::new`] and
/// [`Decoder::set_max_table_size`]) plus a scratch buffer for one Huffman
/// string (at most the larger of the list limit and the table size while a
/// block is decoded, at most 16 KiB between blocks), and appends to the caller's list at most `max_list_size` bytes of
/// fields (as counted by [`HeaderField::size`]). Table entries are copied
/// out of the block, so an entry never keeps a whole received block alive.
/// Fields that are not inserted in the table are handed out as slices of
/// the block when they are not Huffman-coded: no copy.
///
/// The decoder also remembers the last four blocks of at most 256 bytes
/// that left its table alone (a gRPC peer sends the same request head,
/// response head and trailers call after call): a block's bytes, and from
/// its second sighting its fields, which are shared with the table or
/// copied out of the block (a copy is at most the block's 256 bytes, or a
/// little more decoded; a shared field costs only its list entry, up to
/// one per byte of the block). A change of the table lets them all go;
/// blocks with never-indexed fields are not kept at all.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use grpc_sansio::hpack::Decoder;
///
/// let mut decoder = Decoder::new(4096);
/// let mut fields = Vec::new();
/// // :method GET, :scheme http, :path /, :authority www.example.com
/// let block = Bytes::from_static(b"\x82\x86\x84\x41\x0fwww.example.com");
/// decoder.decode(&block, 16 * 1024, &mut fields).unwrap();
/// assert_eq!(fields[3].name, ":authority");
/// assert_eq!(fields[3].value, "www.example.com");
/// ```
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: no size update may pass it.
    max_table_size: usize,
    /// Set when we lowered the maximum below the table's current size: the
    /// next block must start with a size update to this value or less.
    required_update: Option<usize>,
    /// Reused buffer for decoding Huffman strings.
    scratch: Vec<u8>,
    /// Every field of the last block passed HTTP/2's field checks (see
    /// [`Decoder::last_block_checked`]).
    checked: bool,
    /// Recent blocks that left the table alone (all with the table as it
    /// is at `memo_changes`; a change of the table empties the memo).
    memo: Recent<Remembered, MEMO_SLOTS>,
    /// The table's change count the memo's blocks were decoded with.
    memo_changes: u64,
    /// The last id given to a remembered block.
    memo_ids: u64,
    /// What the memo knows of the last block's fields.
    last: Option<Known>,
    /// The last block was answered from the memo.
    last_reused: bool,
    /// Where the last field of the block [`decode_fresh`](Self::decode_fresh)
    /// last decoded starts, if it is a literal without indexing.
    tail: Option<Tail>,
}

/// What the memo says of a block ([`Decoder::recall`]).
#[derive(Debug)]
pub(crate) enum Recall {
    /// The block's fields, from the memo, and what they are.
    Fields(Arc<[HeaderField]>, Known),
    /// The block must be decoded; where the memo stands on it.
    Decode(Slot),
}

/// What the memo knows of a block's fields, by names that stay the same
/// while the memo keeps them (all from one count: a name never stands
/// for two things on one connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// The fields of block `.0`: the same name later means the same
    /// fields, so what a caller concluded from them still holds.
    Block(u64),
    /// The fields named `.0` (a remembered block's fields up to its
    /// last), then one more field, last: what a caller concluded from the
    /// fields before it still holds; the last one is new.
    Plus(u64),
}

/// Where the memo stands on a block it could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not to be remembered (too long, or a size update is due).
    Unfit,
    /// Not seen lately.
    New,
    /// Seen once: in slot `i`, by its bytes alone.
    Seen(usize),
    /// The bytes of slot `i` up to its last field, then something else:
    /// the block's fields up to there are to be kept if the rest is one
    /// literal without indexing.
    Prefix(usize),
}

/// How a literal field is to be remembered (RFC 7541 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Incremental,
    Without,
    Never,
}

/// A string literal as read from the block.
enum Str {
    /// A slice of the block.
    Shared(Bytes),
    /// An allocation of its own (Huffman-decoded, or from a table).
    Owned(Bytes),
    /// Longer than anything it could be used for: checked, not stored.
    Skipped(usize),
}

impl Str {
    fn len(&self) -> usize {
        match self {
            Str::Shared(b) | Str::Owned(b) => b.len(),
            Str::Skipped(n) => *n,
        }
    }

    /// The bytes as a block slice or an allocation (for the output list).
    fn bytes(&self) -> Option<Bytes> {
        match self {
            Str::Shared(b) | Str::Owned(b) => Some(b.clone()),
            Str::Skipped(_) => None,
        }
    }

    /// The bytes in an allocation of their own (for the dynamic table).
    fn owned(&self) -> Option<Bytes> {
        match self {
            Str::Shared(b) => Some(Bytes::copy_from_slice(b)),
            Str::Owned(b) => Some(b.clone()),
            Str::Skipped(_) => None,
        }
    }
}

/// `b`, copied into an allocation of its own if it is a slice of the
/// block spanning `within` (a remembered field must not keep a received
/// buffer alive).
fn unpinned(b: &Bytes, within: &std::ops::Range<*const u8>) -> Bytes {
    if !b.is_empty() && within.contains(&b.as_ptr()) {
        Bytes::copy_from_slice(b)
    } else {
        b.clone()
    }
}

/// `fields` to be remembered: each name and value that is a slice of
/// `block` copied into an allocation of its own (see [`unpinned`]).
fn unpinned_list(fields: &[HeaderField], block: &[u8]) -> Arc<[HeaderField]> {
    let within = block.as_ptr_range();
    fields
        .iter()
        .map(|f| HeaderField {
            name: unpinned(&f.name, &within),
            value: unpinned(&f.value, &within),
            sensitive: false,
        })
        .collect()
}

/// Makes `name` (when given) and `value` those of the last field of
/// `list`: in place when no one else holds `list`, else in a new list.
fn set_last(list: &mut Arc<[HeaderField]>, name: Option<Bytes>, value: &[u8]) {
    if let Some(last) = Arc::get_mut(list).and_then(|l| l.last_mut()) {
        if let Some(name) = name {
            last.name = name;
        }
        if last.value[..] != *value {
            // The last value's allocation is reused when it is ours
            // alone (it is at most a block long).
            last.value = match std::mem::take(&mut last.value).try_into_mut() {
                Ok(mut own) => {
                    own.clear();
                    own.extend_from_slice(value);
                    own.freeze()
                }
                Err(_) => Bytes::copy_from_slice(value),
            };
        }
        return;
    }
    let n = list.len().saturating_sub(1);
    let last = HeaderField {
        name: name.unwrap_or_else(|| list.last().map_or_else(Bytes::new, |f| f.name.clone())),
        value: Bytes::copy_from_slice(value),
        sensitive: false,
    };
    *list = list
        .iter()
        .take(n)
        .cloned()
        .chain(std::iter::once(last))
        .collect();
}

/// Where the value string of the literal field at `at` in `block` starts.
fn value_start(block: &[u8], at: usize) -> Option<usize> {
    let mut pos = at;
    if integer::decode(block, &mut pos, 4).ok()? == 0 {
        let len = integer::decode(block, &mut pos, 7).ok()?;
        pos = pos.checked_add(len)?;
    }
    (pos < block.len()).then_some(pos)
}

/// How much of the caller's header list limit is used.
struct Budget {
    used: usize,
    limit: usize,
    over: bool,
}

impl Budget {
    /// Room left for fields, in §4.1 bytes; 0 once the limit was passed.
    fn room(&self) -> usize {
        if self.over {
            0
        } else {
            self.limit.saturating_sub(self.used)
        }
    }

    /// Charges a field of `size`; false (and over from now on) if it does
    /// not fit.
    fn take(&mut self, size: usize) -> bool {
        if size <= self.room() && !self.over {
            self.used += size;
            true
        } else {
            self.over = true;
            false
        }
    }
}

impl Decoder {
    /// A decoder for a connection on which we advertise
    /// SETTINGS_HEADER_TABLE_SIZE = `max_table_size` (4,096 unless we send
    /// another value). The peer's encoder starts with a table of that size.
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            required_update: None,
            scratch: Vec::new(),
            checked: false,
            memo: Recent::default(),
            memo_changes: 0,
            memo_ids: 0,
            last: None,
            last_reused: false,
            tail: None,
        }
    }

    /// Applies a new SETTINGS_HEADER_TABLE_SIZE of ours once the peer has
    /// acknowledged it. Later size updates must not exceed it. If it is
    /// below the size of the table the peer's encoder is using, the next
    /// block must begin with a size update at or below the smallest value
    /// set since the previous block, or decoding fails with
    /// [`DecodeError::MissingSizeUpdate`] (RFC 7541 §4.2).
    pub fn set_max_table_size(&mut self, max_table_size: usize) {
        self.max_table_size = max_table_size;
        if max_table_size < self.table.capacity() {
            let smallest = self
                .required_update
                .map_or(max_table_size, |r| r.min(max_table_size));
            self.required_update = Some(smallest);
        }
    }

    /// The largest table size the peer may use (our setting).
    pub fn max_table_size(&self) -> usize {
        self.max_table_size
    }

    /// The table size the peer's encoder last chose (at most
    /// [`Decoder::max_table_size`]).
    pub fn table_capacity(&self) -> usize {
        self.table.capacity()
    }

    /// The current size of the dynamic table, in §4.1 bytes.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Decodes one complete header block (the HEADERS or PUSH_PROMISE
    /// fragment and its CONTINUATIONs, joined), appending its fields to
    /// `out` in order.
    ///
    /// `max_list_size` bounds the fields appended, counted like
    /// SETTINGS_MAX_HEADER_LIST_SIZE (the sum of [`HeaderField::size`]).
    /// When the list would pass it, decoding goes on to the end of the
    /// block without appending or allocating for fields (only for entries
    /// the table needs), so that the table stays in step with the peer,
    /// and then returns [`DecodeError::HeaderListTooLarge`]; `out` then
    /// holds the fields that fitted. That error is not a connection error;
    /// every other error is (see [`DecodeError::is_connection_error`]),
    /// and leaves the decoder unusable.
    ///
    /// A block seen before on the same dynamic table (the same bytes, and
    /// no field of it inserted into the table) is answered from a memo of
    /// recent blocks: the same fields, without decoding it again.
    pub fn decode(
        &mut self,
        block: &Bytes,
        max_list_size: usize,
        out: &mut Vec<HeaderField>,
    ) -> Result<(), DecodeError> {
        if let Some(fields) = self.decode_shared(block, max_list_size, out)? {
            out.extend(fields.iter().cloned());
        }
        Ok(())
    }

    /// [`decode`](Self::decode), except that a block answered from the
    /// memo is not copied into `out`: its fields come back shared with the
    /// memo (`out` is then left alone). `Ok(None)` when the block was
    /// decoded into `out`.
    pub(crate) fn decode_shared(
        &mut self,
        block: &Bytes,
        max_list_size: usize,
        out: &mut Vec<HeaderField>,
    ) -> Result<Option<Arc<[HeaderField]>>, DecodeError> {
        match self.recall(block, max_list_size) {
            Recall::Fields(fields, _) => Ok(Some(fields)),
            Recall::Decode(slot) => self.decode_into(block, slot, max_list_size, out),
        }
    }

    /// The memo's answer for `block` (which need not be cut out of the
    /// receive buffer): its fields, shared, when the memo holds them (the
    /// block is then done with, as by [`decode_shared`](Self::decode_shared));
    /// otherwise the block must be decoded with
    /// [`decode_into`](Self::decode_into), given what this returned, before
    /// any other block.
    #[inline]
    pub(crate) fn recall(&mut self, block: &[u8], max_list_size: usize) -> Recall {
        self.last = None;
        self.last_reused = false;
        let changes = self.table.changes();
        if changes != self.memo_changes {
            // Every remembered block was decoded with another table (the
            // slots keep their buffers for the next ones).
            for r in self.memo.iter_mut() {
                r.mode = Mode::Dead;
                r.block.clear();
                r.fields = None;
                r.tail_at = None;
                r.plus = None;
            }
            self.memo_changes = changes;
        }
        let memo_ok = self.required_update.is_none() && block.len() <= MEMO_BLOCK_MAX;
        if !memo_ok {
            return Recall::Decode(Slot::Unfit);
        }
        let Some(i) = self
            .memo
            .position(|r| r.mode == Mode::Block && r.block[..] == block[..])
        else {
            return self.recall_plus(block, max_list_size);
        };
        if let Some(r) = self.memo.get(i) {
            if let Some(fields) = r.fields.as_ref().filter(|_| r.size <= max_list_size) {
                self.checked = r.checked;
                let known = Known::Block(r.id);
                self.last = Some(known);
                self.last_reused = true;
                return Recall::Fields(fields.clone(), known);
            }
        }
        Recall::Decode(Slot::Seen(i))
    }

    /// Decodes `block` into `out` after [`recall`](Self::recall) answered
    /// `Recall::Decode(slot)` for it, and remembers it as the memo keeps
    /// blocks. Always `Ok(None)`; the `Option` is
    /// [`decode_shared`](Self::decode_shared)'s.
    pub(crate) fn decode_into(
        &mut self,
        block: &Bytes,
        slot: Slot,
        max_list_size: usize,
        out: &mut Vec<HeaderField>,
    ) -> Result<Option<Arc<[HeaderField]>>, DecodeError> {
        let changes = self.table.changes();
        let memo_ok = slot != Slot::Unfit;
        let start = out.len();
        let size = self.decode_fresh(block, max_list_size, out)?;
        if !memo_ok || self.table.changes() != changes {
            return Ok(None);
        }
        let fields = out.get(start..).unwrap_or_default();
        if fields.iter().any(|f| f.sensitive) {
            // Never-indexed values are not kept, not even as the block's
            // bytes.
            return Ok(None);
        }
        let tail = self.tail;
        match slot {
            Slot::Prefix(i)
                if self
                    .memo
                    .get(i)
                    .is_some_and(|r| r.tail_at.is_some() && r.tail_at == tail.map(|t| t.at)) =>
            {
                // The same fields up to the last, which is new: those
                // fields are kept for the next such block.
                let (Some(r), Some(tail)) = (self.memo.get_mut(i), tail) else {
                    return Ok(None);
                };
                let (Some(value_at), Some(last)) = (value_start(block, tail.at), fields.last())
                else {
                    return Ok(None);
                };
                r.plus = Some(unpinned_list(fields, block));
                r.block.clear();
                r.block.extend_from_slice(block);
                r.fields = None;
                r.mode = Mode::Plus;
                r.value_at = value_at;
                r.prefix_size = tail.size_before;
                r.prefix_checked = tail.checked_before;
                r.name_checked = name_ok(&last.name);
                self.memo_ids += 1;
                r.prefix_id = self.memo_ids;
            }
            Slot::Seen(i) => {
                let Some(r) = self.memo.get_mut(i) else {
                    return Ok(None);
                };
                r.fields = Some(unpinned_list(fields, block));
                r.size = size;
                r.checked = self.checked;
                self.last = Some(Known::Block(r.id));
            }
            _ => {
                self.memo_ids += 1;
                let id = self.memo_ids;
                let Some((_, r)) = self.memo.slot() else {
                    return Ok(None);
                };
                r.block.clear();
                r.block.extend_from_slice(block);
                r.fields = None;
                r.mode = Mode::Block;
                r.id = id;
                r.tail_at = tail.map(|t| t.at);
                r.plus = None;
            }
        }
        Ok(None)
    }

    /// [`recall`](Self::recall) for a block the memo does not hold: it
    /// may be a remembered block up to its last field, then one literal
    /// without indexing in place of that field. Decoding it would leave
    /// the table alone and give the remembered fields up to there, then
    /// that literal's field: only the literal is read.
    #[inline(never)]
    fn recall_plus(&mut self, block: &[u8], max_list_size: usize) -> Recall {
        // The usual case: the same bytes up to the last field's value (so
        // the same name), then a short value as it is.
        let same_name = self.memo.position(|r| {
            r.mode == Mode::Plus
                && r.value_at < block.len()
                && r.block.get(..r.value_at) == block.get(..r.value_at)
        });
        if let Some(i) = same_name {
            if let Some(answer) = self.plus_value(i, block, max_list_size) {
                return answer;
            }
        }
        let Some(i) = self.memo.position(|r| {
            r.mode != Mode::Dead
                && r.tail_at.is_some_and(|t| {
                    t < block.len() && r.block.get(..t).is_some_and(|p| block.get(..t) == Some(p))
                })
        }) else {
            return Recall::Decode(Slot::New);
        };
        match self.memo.get(i).map(|r| r.mode) {
            Some(Mode::Plus) => self.plus_field(i, block, max_list_size),
            _ => Recall::Decode(Slot::Prefix(i)),
        }
    }

    /// [`recall_plus`](Self::recall_plus) when `block` has the bytes of
    /// slot `i`'s block up to its last field's value: the value, if it is
    /// a string as it is that ends the block, is the new last field's.
    #[inline]
    fn plus_value(&mut self, i: usize, block: &[u8], max_list_size: usize) -> Option<Recall> {
        let r = self.memo.get_mut(i)?;
        let len = *block.get(r.value_at)?;
        let value = block.get(r.value_at + 1..)?;
        // Not Huffman-coded, and a length that fits the first byte.
        if len >= 0x7f || usize::from(len) != value.len() {
            return None;
        }
        let plus = r.plus.as_mut()?;
        let name_len = plus.last()?.name.len();
        if r.prefix_size
            .checked_add(entry_size(name_len, value.len()))?
            > max_list_size
        {
            return None;
        }
        set_last(plus, None, value);
        let answer = plus.clone();
        self.checked = r.prefix_checked && r.name_checked && value_ok(value);
        let known = Known::Plus(r.prefix_id);
        self.last = Some(known);
        self.last_reused = true;
        Some(Recall::Fields(answer, known))
    }

    /// [`recall_plus`](Self::recall_plus) when `block` has the bytes of
    /// slot `i`'s block (in [`Mode::Plus`]) up to its last field: if the
    /// rest is one literal without indexing, it is the new last field,
    /// and the slot takes the block's bytes.
    fn plus_field(&mut self, i: usize, block: &[u8], max_list_size: usize) -> Recall {
        let Some(mut plus) = self.memo.get_mut(i).and_then(|r| r.plus.take()) else {
            return Recall::Decode(Slot::New);
        };
        let (at, prefix_size) = self
            .memo
            .get(i)
            .map_or((0, 0), |r| (r.tail_at.unwrap_or_default(), r.prefix_size));
        let read = self.tail_field(block, at, prefix_size, max_list_size, &mut plus);
        let answer = plus.clone();
        let Some(r) = self.memo.get_mut(i) else {
            return Recall::Decode(Slot::New);
        };
        r.plus = Some(plus);
        match read {
            Some((value_at, name_checked, value_checked)) => {
                r.block.clear();
                r.block.extend_from_slice(block);
                r.value_at = value_at;
                r.name_checked = name_checked;
                self.checked = r.prefix_checked && name_checked && value_checked;
                let known = Known::Plus(r.prefix_id);
                self.last = Some(known);
                self.last_reused = true;
                Recall::Fields(answer, known)
            }
            // Anything else is decoded as any block is (and gives the
            // same error if it is one).
            None => Recall::Decode(Slot::New),
        }
    }

    /// Reads `block[at..]` as one literal without indexing and puts its
    /// field last in `plus`; returns where its value string starts and
    /// whether its name and its value passed HTTP/2's field checks.
    /// `None`, with `plus` unchanged, when the rest of the block is
    /// anything else, or the list would pass `max_list_size`.
    fn tail_field(
        &mut self,
        block: &[u8],
        at: usize,
        prefix_size: usize,
        max_list_size: usize,
        plus: &mut Arc<[HeaderField]>,
    ) -> Option<(usize, bool, bool)> {
        let mut pos = at;
        if block.get(pos)? & 0xf0 != 0 {
            return None;
        }
        let index = integer::decode(block, &mut pos, 4).ok()?;
        let room = max_list_size.checked_sub(prefix_size)?;
        let old = plus.last()?;
        // The name: `Some` when it differs from the last one's.
        let name = if index == 0 {
            let name = self.tail_string(block, &mut pos, room)?;
            (*name != old.name[..]).then(|| Bytes::copy_from_slice(name))
        } else if index <= STATIC_LEN {
            let &(name, _) = STATIC_TABLE.get(index.checked_sub(1)?)?;
            (*name != old.name[..]).then(|| Bytes::from_static(name))
        } else {
            let name = &self.table.get(index - STATIC_LEN - 1)?.name;
            (*name != old.name).then(|| name.clone())
        };
        let name_checked = name_ok(name.as_ref().unwrap_or(&old.name));
        let name_len = name.as_ref().map_or(old.name.len(), Bytes::len);
        let value_at = pos;
        let value_room = room.saturating_sub(name_len);
        let value = self.tail_string(block, &mut pos, value_room)?;
        if pos != block.len() || entry_size(name_len, value.len()) > room {
            return None;
        }
        let value_checked = value_ok(value);
        set_last(plus, name, value);
        Some((value_at, name_checked, value_checked))
    }

    /// A §5.2 string literal of a block's last field, at `pos` in `block`:
    /// a slice of the block, or Huffman-decoded into the scratch buffer.
    /// `None` if it is malformed or decodes to more than `room` bytes.
    fn tail_string<'a>(
        &'a mut self,
        block: &'a [u8],
        pos: &mut usize,
        room: usize,
    ) -> Option<&'a [u8]> {
        let huffman = block.get(*pos)? & 0x80 != 0;
        let len = integer::decode(block, pos, 7).ok()?;
        let start = *pos;
        let end = start.checked_add(len)?;
        let raw = block.get(start..end)?;
        *pos = end;
        if !huffman {
            return (len <= room).then_some(raw);
        }
        self.scratch.clear();
        let decoded = huffman::decode_limited(raw, &mut self.scratch, room).ok()?;
        (decoded <= room).then_some(&self.scratch[..])
    }

    /// What the memo knows of the fields of the last block
    /// [`decode`](Self::decode) decoded: `None` when it does not keep
    /// them.
    pub(crate) fn last_known(&self) -> Option<Known> {
        self.last
    }

    /// A name for the last block [`decode`](Self::decode) decoded, while
    /// the memo holds its fields: the same id later means the same fields
    /// (so what the caller concluded from them still holds). `None` when
    /// the block is not remembered with its fields.
    #[cfg(test)]
    pub(crate) fn last_block_id(&self) -> Option<u64> {
        match self.last {
            Some(Known::Block(id)) => Some(id),
            _ => None,
        }
    }

    /// [`last_known`](Self::last_known) when the block was answered from
    /// the memo: its fields are then the memo's own (shared with the
    /// table or copied out of a block, never a slice of a received
    /// buffer), so what is made of them may be kept without keeping a
    /// buffer alive.
    pub(crate) fn last_reused(&self) -> Option<Known> {
        self.last.filter(|_| self.last_reused)
    }

    /// Decodes `block` field by field; returns the list size it took.
    fn decode_fresh(
        &mut self,
        block: &Bytes,
        max_list_size: usize,
        out: &mut Vec<HeaderField>,
    ) -> Result<usize, DecodeError> {
        let buf: &[u8] = block;
        let mut pos = 0;

        // Dynamic table size updates come first (§4.2), any number of them.
        let mut smallest_update: Option<usize> = None;
        while let Some(&byte) = buf.get(pos) {
            if byte & 0xe0 != 0x20 {
                break;
            }
            let requested = integer::decode(buf, &mut pos, 5)?;
            if requested > self.max_table_size {
                return Err(DecodeError::SizeUpdateTooLarge {
                    requested,
                    max: self.max_table_size,
                });
            }
            self.table.set_capacity(requested);
            smallest_update = Some(smallest_update.map_or(requested, |s| s.min(requested)));
        }
        if let Some(required) = self.required_update.take() {
            if smallest_update.is_none_or(|s| s > required) {
                return Err(DecodeError::MissingSizeUpdate);
            }
        }

        let mut budget = Budget {
            used: 0,
            limit: max_list_size,
            over: false,
        };
        self.checked = true;
        self.tail = None;
        while let Some(&byte) = buf.get(pos) {
            self.tail = None;
            if byte & 0x80 != 0 {
                // §6.1 indexed field.
                let index = integer::decode(buf, &mut pos, 7)?;
                let (name, value, checked) = self.entry(index)?;
                self.checked &= checked;
                if budget.take(entry_size(name.len(), value.len())) {
                    out.push(HeaderField {
                        name,
                        value,
                        sensitive: false,
                    });
                }
            } else if byte & 0x40 != 0 {
                self.literal(block, &mut pos, 6, Kind::Incremental, &mut budget, out)?;
            } else if byte & 0x20 != 0 {
                return Err(DecodeError::SizeUpdateNotAtStart);
            } else if byte & 0x10 != 0 {
                self.literal(block, &mut pos, 4, Kind::Never, &mut budget, out)?;
            } else {
                let tail = Tail {
                    at: pos,
                    size_before: budget.used,
                    checked_before: self.checked,
                };
                self.literal(block, &mut pos, 4, Kind::Without, &mut budget, out)?;
                self.tail = Some(tail);
            }
        }
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
        if budget.over {
            Err(DecodeError::HeaderListTooLarge)
        } else {
            Ok(budget.used)
        }
    }

    /// Whether every field of the last [`decode`](Self::decode) is known
    /// to pass HTTP/2's field checks (RFC 9113 §8.2.1: name bytes, no NUL,
    /// CR or LF in values). Static-table fields pass; a dynamic entry
    /// remembers whether it passed when it was added; literals are checked
    /// as they are read. `false` means "not known", not "bad".
    pub(crate) fn last_block_checked(&self) -> bool {
        self.checked
    }

    /// The name and value at HPACK `index` (static, then dynamic), and
    /// whether they passed HTTP/2's field checks.
    fn entry(&self, index: usize) -> Result<(Bytes, Bytes, bool), DecodeError> {
        if index == 0 {
            return Err(DecodeError::InvalidIndex(index));
        }
        if index <= STATIC_LEN {
            if let Some((name, value)) = STATIC_TABLE.get(index - 1) {
                return Ok((Bytes::from_static(name), Bytes::from_static(value), true));
            }
        } else if let Some(entry) = self.table.get(index - STATIC_LEN - 1) {
            return Ok((entry.name.clone(), entry.value.clone(), entry.checked));
        }
        Err(DecodeError::InvalidIndex(index))
    }

    /// §6.2 literal field; `pos` is at its first byte.
    fn literal(
        &mut self,
        block: &Bytes,
        pos: &mut usize,
        prefix_bits: u8,
        kind: Kind,
        budget: &mut Budget,
        out: &mut Vec<HeaderField>,
    ) -> Result<(), DecodeError> {
        let index = integer::decode(block, pos, prefix_bits)?;
        let indexing = kind == Kind::Incremental;
        // The most string bytes (name + value) worth keeping: for the list,
        // or for the table when the field goes there.
        let list_room = budget.room();
        let table_room = if indexing { self.table.capacity() } else { 0 };
        let room = list_room.max(table_room).saturating_sub(ENTRY_OVERHEAD);

        let name = if index == 0 {
            self.read_string(block, pos, room)?
        } else {
            Str::Owned(self.entry(index)?.0)
        };
        let value_room = match name {
            Str::Skipped(_) => 0,
            _ => room.saturating_sub(name.len()),
        };
        let value = self.read_string(block, pos, value_room)?;
        let size = entry_size(name.len(), value.len());

        // A field that fits the list or the table was kept whole by the
        // rooms above; anything else may have been skipped.
        let into_table = indexing && self.table.fits(size);
        if into_table {
            let (Some(n), Some(v)) = (name.owned(), value.owned()) else {
                debug_assert!(false, "field that fits the table was skipped");
                return Err(DecodeError::HeaderListTooLarge);
            };
            let ok = wellformed::name_ok(&n) && wellformed::value_ok(&v);
            self.checked &= ok;
            self.table.insert_checked(n.clone(), v.clone(), ok);
            if budget.take(size) {
                out.push(HeaderField {
                    name: n,
                    value: v,
                    sensitive: false,
                });
            }
        } else {
            if indexing {
                // §4.4: an entry larger than the table empties it.
                self.table.clear();
            }
            if budget.take(size) {
                let (Some(name), Some(value)) = (name.bytes(), value.bytes()) else {
                    debug_assert!(false, "field that fits the list was skipped");
                    return Err(DecodeError::HeaderListTooLarge);
                };
                self.checked &= wellformed::name_ok(&name) && wellformed::value_ok(&value);
                out.push(HeaderField {
                    name,
                    value,
                    sensitive: kind == Kind::Never,
                });
            }
        }
        Ok(())
    }

    /// §5.2 string literal at `pos`. Strings longer than `room` decoded
    /// bytes are checked but not kept.
    fn read_string(
        &mut self,
        block: &Bytes,
        pos: &mut usize,
        room: usize,
    ) -> Result<Str, DecodeError> {
        let buf: &[u8] = block;
        let first = *buf.get(*pos).ok_or(DecodeError::TruncatedString)?;
        let len = integer::decode(buf, pos, 7)?;
        let start = *pos;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= buf.len())
            .ok_or(DecodeError::TruncatedString)?;
        *pos = end;
        let raw = buf.get(start..end).ok_or(DecodeError::TruncatedString)?;
        if first & 0x80 == 0 {
            return Ok(if len <= room {
                Str::Shared(block.slice(start..end))
            } else {
                Str::Skipped(len)
            });
        }
        self.scratch.clear();
        let decoded = huffman::decode_limited(raw, &mut self.scratch, room)?;
        Ok(if decoded <= room {
            Str::Owned(Bytes::copy_from_slice(&self.scratch))
        } else {
            Str::Skipped(decoded)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack::Encoder;
    use bytes::BytesMut;
    use proptest::prelude::*;

    /// A literal without indexing, new name, raw (not Huffman) strings.
    fn raw_literal(flags: u8, name: &[u8], value: &[u8]) -> Bytes {
        let mut b = vec![flags, name.len() as u8];
        b.extend_from_slice(name);
        b.push(value.len() as u8);
        b.extend_from_slice(value);
        Bytes::from(b)
    }

    fn decode(d: &mut Decoder, block: &Bytes) -> Vec<HeaderField> {
        let mut out = Vec::new();
        d.decode(block, usize::MAX, &mut out).expect("decodes");
        out
    }

    /// :method POST, :scheme http (static entries only).
    const STATIC_ONLY: &[u8] = b"\x83\x86";

    #[test]
    fn a_block_is_remembered_the_second_time_and_answered_the_third() {
        let mut d = Decoder::new(4096);
        let block = Bytes::from_static(STATIC_ONLY);
        let first = decode(&mut d, &block);
        assert_eq!(d.last_block_id(), None);
        let second = decode(&mut d, &block);
        let id = d.last_block_id().expect("remembered with its fields");
        let third = decode(&mut d, &block);
        assert_eq!(d.last_block_id(), Some(id));
        assert_eq!(first, second);
        assert_eq!(first, third);
        assert_eq!(third[0].name, ":method");
        assert_eq!(third[0].value, "POST");
        assert!(d.last_block_checked());
    }

    #[test]
    fn answers_from_the_memo_share_one_list() {
        let mut d = Decoder::new(4096);
        let block = Bytes::from_static(STATIC_ONLY);
        let mut out = Vec::new();
        for _ in 0..2 {
            out.clear();
            assert!(d.decode_shared(&block, 1024, &mut out).unwrap().is_none());
            assert_eq!(out.len(), 2);
        }
        out.clear();
        let a = d
            .decode_shared(&block, 1024, &mut out)
            .unwrap()
            .expect("answered");
        let b = d
            .decode_shared(&block, 1024, &mut out)
            .unwrap()
            .expect("answered");
        assert!(out.is_empty(), "a shared answer leaves the list alone");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a[1].name, ":scheme");
        assert_eq!(a[1].value, "http");
        // Over the caller's list limit, the block is decoded afresh.
        assert!(matches!(
            d.decode_shared(&block, 10, &mut out),
            Err(DecodeError::HeaderListTooLarge)
        ));
    }

    #[test]
    fn remembered_fields_do_not_keep_a_received_block() {
        let mut d = Decoder::new(4096);
        for round in 0..3 {
            // A new buffer each time, as from the socket.
            let block = raw_literal(0x00, b"x-request", b"abc");
            let out = decode(&mut d, &block);
            assert_eq!(out[0].value, "abc");
            let inside = block.as_ptr_range().contains(&out[0].value.as_ptr());
            // Decoded fresh, a raw literal is a slice of its block (no
            // copy); answered from the memo, it is the memo's own copy.
            assert_eq!(inside, round < 2, "round {round}");
            let kept = d.memo.get(0).expect("remembered");
            assert!(kept.fields.iter().flat_map(|f| f.iter()).all(|f| {
                !block.as_ptr_range().contains(&f.value.as_ptr())
                    && !block.as_ptr_range().contains(&f.name.as_ptr())
            }));
        }
    }

    #[test]
    fn never_indexed_fields_are_not_remembered() {
        let mut d = Decoder::new(4096);
        for _ in 0..3 {
            let block = raw_literal(0x10, b"authorization", b"secret");
            let out = decode(&mut d, &block);
            assert!(out[0].sensitive);
            assert_eq!(d.last_block_id(), None);
        }
        // Not even the block's bytes are kept.
        assert_eq!(d.memo.len(), 0);
    }

    #[test]
    fn a_table_change_forgets_every_block() {
        let mut d = Decoder::new(4096);
        let block = Bytes::from_static(STATIC_ONLY);
        decode(&mut d, &block);
        decode(&mut d, &block);
        let old = d.last_block_id().expect("remembered");
        // A literal with incremental indexing changes the table.
        decode(&mut d, &raw_literal(0x40, b"x-new", b"v"));
        decode(&mut d, &block);
        assert_eq!(d.last_block_id(), None, "seen anew on the new table");
        // The old table's blocks are gone, bytes and all.
        assert_eq!(d.memo.iter().filter(|r| !r.block.is_empty()).count(), 1);
        decode(&mut d, &block);
        let new = d.last_block_id().expect("remembered again");
        assert_ne!(old, new);
    }

    #[test]
    fn the_list_limit_applies_to_remembered_blocks() {
        let mut d = Decoder::new(4096);
        let block = Bytes::from_static(STATIC_ONLY);
        decode(&mut d, &block);
        decode(&mut d, &block);
        let mut out = Vec::new();
        let small = HeaderField::new(":method", "POST").size();
        assert_eq!(
            d.decode(&block, small, &mut out),
            Err(DecodeError::HeaderListTooLarge)
        );
        assert_eq!(out.len(), 1, "the field that fitted");
    }

    #[test]
    fn a_required_size_update_is_not_skipped() {
        let mut d = Decoder::new(4096);
        let block = Bytes::from_static(STATIC_ONLY);
        decode(&mut d, &block);
        decode(&mut d, &block);
        d.set_max_table_size(0);
        let mut out = Vec::new();
        assert_eq!(
            d.decode(&block, usize::MAX, &mut out),
            Err(DecodeError::MissingSizeUpdate)
        );
    }

    fn field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, bool)> {
        let name = prop::sample::select(vec![
            ":path",
            "content-type",
            "grpc-timeout",
            "authorization",
            "x-a",
            "x-b",
        ])
        .prop_map(|s| s.as_bytes().to_vec());
        let value = prop_oneof![
            prop::sample::select(vec!["", "application/grpc", "1S", "v"])
                .prop_map(|s| s.as_bytes().to_vec()),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..600),
        ];
        (name, value, any::<bool>())
    }

    /// `block` through a decoder with its memo and one decoding afresh:
    /// the same result, fields, check flag and table size. `Ok(false)`
    /// when both failed for good (a connection error).
    fn same_answer(
        memo: &mut Decoder,
        fresh: &mut Decoder,
        block: &Bytes,
        limit: usize,
    ) -> Result<bool, TestCaseError> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let ra = memo.decode(block, limit, &mut a);
        let rb = fresh.decode_fresh(block, limit, &mut b).map(|_| ());
        prop_assert_eq!(&ra, &rb);
        if ra.as_ref().is_err_and(|e| e.is_connection_error()) {
            return Ok(false);
        }
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(memo.last_block_checked(), fresh.last_block_checked());
        prop_assert_eq!(memo.table_size(), fresh.table_size());
        Ok(true)
    }

    proptest! {
        /// Blocks repeat (our encoder gives a repeated list the same bytes
        /// while the table is unchanged); answers from the memo are the
        /// fields, sensitivity, check flag and errors that decoding the
        /// block afresh gives.
        #[test]
        fn remembered_blocks_decode_as_fresh_ones(
            lists in prop::collection::vec(prop::collection::vec(field(), 0..6), 1..4),
            steps in prop::collection::vec((0usize..4, prop::option::weighted(0.1, 0usize..5000)), 1..24),
            limit in prop_oneof![Just(usize::MAX), 0usize..700],
        ) {
            let mut enc = Encoder::new();
            let mut memo = Decoder::new(4096);
            let mut fresh = Decoder::new(4096);
            for (pick, size) in steps {
                if let Some(size) = size {
                    enc.set_max_table_size(size.min(4096));
                    memo.set_max_table_size(size.min(4096));
                    fresh.set_max_table_size(size.min(4096));
                }
                let list = &lists[pick % lists.len()];
                let mut block = BytesMut::new();
                enc.encode(list.iter().map(|(n, v, s)| (&n[..], &v[..], *s)), &mut block);
                let block = block.freeze();
                if !same_answer(&mut memo, &mut fresh, &block, limit)? {
                    break;
                }
            }
        }

        /// Blocks that are a remembered block's bytes up to its last field,
        /// then something else (one literal without indexing, which the
        /// memo reads alone, or anything that is not: a truncated literal,
        /// two fields, an indexed field, incremental indexing, never
        /// indexed, a size update, random bytes) decode to what a fresh
        /// decoder gives: the same fields, check flag, table and errors.
        #[test]
        fn blocks_with_a_new_tail_decode_as_fresh_ones(
            steps in prop::collection::vec(
                (
                    prop_oneof![3 => Just(0usize), 3 => Just(1), 1 => Just(2), 2 => Just(3)],
                    tail(),
                    prop::option::weighted(0.03, 0usize..5000),
                ),
                1..60,
            ),
            limit in prop_oneof![4 => Just(usize::MAX), 1 => 0usize..400],
        ) {
            let mut memo = Decoder::new(4096);
            let mut fresh = Decoder::new(4096);
            for (pick, tail, size) in steps {
                if let Some(size) = size {
                    memo.set_max_table_size(size.min(4096));
                    fresh.set_max_table_size(size.min(4096));
                }
                let mut block = prefix(pick);
                block.extend_from_slice(&tail);
                let block = Bytes::from(block);
                if !same_answer(&mut memo, &mut fresh, &block, limit)? {
                    break;
                }
            }
        }
    }

    /// §6.2 literal field with representation `flags` (0x00 without
    /// indexing, 0x10 never indexed: 4-bit index; 0x40 incremental: 6-bit),
    /// its name by index (`Ok`) or as a string, strings Huffman-coded when
    /// `huffman`.
    fn lit(flags: u8, name: Result<usize, &[u8]>, value: &[u8], huffman: bool) -> Vec<u8> {
        let bits = if flags == 0x40 { 6 } else { 4 };
        let mut b = Vec::new();
        let string = |s: &[u8], b: &mut Vec<u8>| {
            if huffman {
                integer::encode(huffman::encoded_len(s), 7, 0x80, b);
                huffman::encode(s, b);
            } else {
                integer::encode(s.len(), 7, 0x00, b);
                b.extend_from_slice(s);
            }
        };
        match name {
            Ok(index) => integer::encode(index, bits, flags, &mut b),
            Err(name) => {
                integer::encode(0, bits, flags, &mut b);
                string(name, &mut b);
            }
        }
        string(value, &mut b);
        b
    }

    /// The blocks the tails follow: static fields only; a request head
    /// with literals without indexing; one that inserts into the table
    /// (so the memo starts again each time); none.
    fn prefix(pick: usize) -> Vec<u8> {
        let mut b = Vec::new();
        match pick {
            0 => b.extend_from_slice(STATIC_ONLY),
            1 => {
                b.extend_from_slice(b"\x83\x86");
                b.extend(lit(0x00, Ok(4), b"/a.B/C", false));
                b.extend(lit(0x00, Ok(1), b"example.com", true));
                b.extend(lit(0x00, Ok(31), b"application/grpc", false));
                b.extend(lit(0x00, Err(b"te"), b"trailers", false));
            }
            2 => {
                b.extend_from_slice(b"\x83");
                b.extend(lit(0x40, Err(b"x-new"), b"v", false));
            }
            _ => {}
        }
        b
    }

    /// What may follow a prefix: mostly one literal without indexing (the
    /// memo's case), else anything.
    fn tail() -> impl Strategy<Value = Vec<u8>> {
        let name = prop_oneof![
            3 => prop::sample::select(vec![b"grpc-timeout".to_vec(), b"x-a".to_vec(), b"Bad".to_vec()])
                .prop_map(Err),
            3 => (1usize..62).prop_map(Ok),
            // Past the table, or the entry a prefix inserted.
            1 => (62usize..64).prop_map(Ok),
        ];
        // A client's timeouts: the same name every time, raw values.
        let usual = (
            prop::sample::select(vec![Err(b"grpc-timeout".to_vec()), Ok(31)]),
            "[0-9]{1,8}[HMSmun]",
        )
            .prop_map(|(n, v)| {
                lit(
                    0x00,
                    n.as_ref().map(|i| *i).map_err(|n| &n[..]),
                    v.as_bytes(),
                    false,
                )
            });
        let value = prop_oneof![
            4 => "[0-9]{1,8}[HMSmun]".prop_map(String::into_bytes),
            1 => prop::collection::vec(any::<u8>(), 0..200),
            1 => Just(b"a\rb".to_vec()),
        ];
        let literal = (name, value, any::<bool>());
        prop_oneof![
            20 => usual,
            4 => literal.clone().prop_map(|(n, v, h)| {
                lit(0x00, n.as_ref().map(|i| *i).map_err(|n| &n[..]), &v, h)
            }),
            1 => literal.clone().prop_map(|(n, v, h)| {
                lit(0x10, n.as_ref().map(|i| *i).map_err(|n| &n[..]), &v, h)
            }),
            1 => literal.clone().prop_map(|(n, v, h)| {
                lit(0x40, n.as_ref().map(|i| *i).map_err(|n| &n[..]), &v, h)
            }),
            1 => (literal.clone(), any::<prop::sample::Index>()).prop_map(|((n, v, h), cut)| {
                let mut b = lit(0x00, n.as_ref().map(|i| *i).map_err(|n| &n[..]), &v, h);
                b.truncate(cut.index(b.len()));
                b
            }),
            1 => (literal.clone(), literal).prop_map(|((n, v, h), (m, w, g))| {
                let mut b = lit(0x00, n.as_ref().map(|i| *i).map_err(|n| &n[..]), &v, h);
                b.extend(lit(0x00, m.as_ref().map(|i| *i).map_err(|n| &n[..]), &w, g));
                b
            }),
            1 => (1usize..70).prop_map(|i| {
                let mut b = Vec::new();
                integer::encode(i, 7, 0x80, &mut b);
                b
            }),
            1 => (0usize..5000).prop_map(|n| {
                let mut b = Vec::new();
                integer::encode(n, 5, 0x20, &mut b);
                b
            }),
            1 => prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    /// Decodes `blocks` with a decoder of its own, the last one with
    /// `decode_shared`; its answer or error, and what the memo knew.
    fn last_of(blocks: &[Bytes]) -> (Result<Vec<HeaderField>, DecodeError>, Option<Known>) {
        let mut d = Decoder::new(4096);
        let mut out = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            out.clear();
            let r = d.decode_shared(block, 1024, &mut out);
            if i + 1 == blocks.len() {
                let r = r.map(|shared| shared.map_or(out.clone(), |s| s.to_vec()));
                return (r, d.last_known());
            }
            r.expect("decodes");
        }
        unreachable!("no blocks")
    }

    fn with_tail(tail: &[u8]) -> Bytes {
        let mut b = prefix(1);
        b.extend_from_slice(tail);
        Bytes::from(b)
    }

    #[test]
    fn a_block_with_a_new_last_literal_is_read_from_its_tail() {
        let mut d = Decoder::new(4096);
        let mut fresh = Decoder::new(4096);
        let mut seen = Vec::new();
        let mut held = Vec::new();
        for (i, timeout) in ["1S", "2S", "3S", "40m", "40m", "5u"].iter().enumerate() {
            let block = with_tail(&lit(0x00, Err(b"grpc-timeout"), timeout.as_bytes(), false));
            let mut out = Vec::new();
            let shared = d.decode_shared(&block, 1024, &mut out).unwrap();
            let mut want = Vec::new();
            fresh.decode_fresh(&block, 1024, &mut want).unwrap();
            let got = shared.clone().map_or(out, |s| s.to_vec());
            assert_eq!(got, want, "block {i}");
            assert_eq!(got.last().unwrap().value, timeout.as_bytes());
            seen.push(d.last_known());
            // The answers a caller still holds keep their own last field.
            held.extend(shared);
        }
        // The first is remembered by its bytes, the second keeps the
        // fields before its last; from the third on, only the tail is read.
        assert_eq!(seen[0], None);
        assert_eq!(seen[1], None);
        let Some(Known::Plus(id)) = seen[2] else {
            panic!("answered from the memo: {:?}", seen[2]);
        };
        assert!(seen[2..].iter().all(|k| *k == Some(Known::Plus(id))));
        let lasts: Vec<_> = held
            .iter()
            .map(|l| l.last().unwrap().value.clone())
            .collect();
        assert_eq!(lasts, ["3S", "40m", "40m", "5u"]);
        assert!(held.iter().all(|l| l.iter().all(|f| !f.sensitive)));
        assert!(d.last_block_checked());
        // A value with a CR is answered too, but not as checked.
        let block = with_tail(&lit(0x00, Err(b"grpc-timeout"), b"1\rS", false));
        let mut out = Vec::new();
        assert!(d.decode_shared(&block, 1024, &mut out).unwrap().is_some());
        assert!(!d.last_block_checked());
        // Over the list limit, it is decoded as any block is.
        let mut out = Vec::new();
        let block = with_tail(&lit(0x00, Err(b"grpc-timeout"), b"6S", false));
        let whole = d.decode_shared(&block, 1024, &mut out).unwrap().unwrap();
        let size: usize = whole.iter().map(HeaderField::size).sum();
        assert_eq!(
            d.decode_shared(&block, size - 1, &mut out),
            Err(DecodeError::HeaderListTooLarge)
        );
        assert_eq!(d.last_known(), None);
    }

    #[test]
    fn a_tail_that_is_not_one_literal_without_indexing_is_decoded_afresh() {
        let warm: Vec<Bytes> = ["1S", "2S", "3S"]
            .iter()
            .map(|t| with_tail(&lit(0x00, Err(b"grpc-timeout"), t.as_bytes(), false)))
            .collect();
        let timeout = lit(0x00, Err(b"grpc-timeout"), b"4S", false);
        let mut two = timeout.clone();
        two.extend(lit(0x00, Err(b"x-a"), b"b", false));
        let tails: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", timeout[..timeout.len() - 1].to_vec()),
            ("two fields", two),
            ("indexed", b"\xbe".to_vec()),
            ("past the table", b"\xff\x10".to_vec()),
            ("incremental", lit(0x40, Err(b"grpc-timeout"), b"4S", false)),
            (
                "never indexed",
                lit(0x10, Err(b"grpc-timeout"), b"4S", false),
            ),
            ("size update", b"\x3f\xe1\x1f".to_vec()),
            ("huffman", lit(0x00, Err(b"grpc-timeout"), b"4S", true)),
            (
                "another name",
                lit(0x00, Ok(31), b"application/grpc", false),
            ),
            ("empty", Vec::new()),
        ];
        for (what, tail) in tails {
            let mut blocks = warm.clone();
            blocks.push(with_tail(&tail));
            let (got, known) = last_of(&blocks);
            let mut fresh = Decoder::new(4096);
            let mut want = Vec::new();
            let mut r = Ok(0);
            for block in &blocks {
                want.clear();
                r = fresh.decode_fresh(block, 1024, &mut want);
            }
            assert_eq!(got, r.map(|_| want), "{what}");
            // Another literal without indexing (raw or Huffman-coded, any
            // name) is still read from the tail; nothing else is.
            let read_alone = matches!(what, "huffman" | "another name");
            assert_eq!(matches!(known, Some(Known::Plus(_))), read_alone, "{what}");
        }
    }
}
