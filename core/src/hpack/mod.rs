//! HPACK header compression (RFC 7541).
//!
//! This module owns the translation between header lists and the header
//! blocks carried by HEADERS, PUSH_PROMISE and CONTINUATION frames: the
//! static and dynamic tables, prefix integers, string literals and their
//! Huffman code. It knows nothing of frames or streams; the HTTP/2 layer
//! joins a block's fragments, hands the whole block to the connection's
//! [`Decoder`], and turns errors into `COMPRESSION_ERROR` (or, for
//! [`DecodeError::HeaderListTooLarge`], a refused stream).
//!
//! What sets it apart from other HPACK crates:
//!
//! * The decoded size limit is enforced inside the decoder, while
//!   decoding: a small block that refers to a large table entry thousands
//!   of times (an "HPACK bomb") costs no more memory than the limit, and
//!   the table stays in sync so the connection survives.
//! * Huffman strings are decoded through a table, several bits per step.
//! * Every allocation the decoder makes is bounded by the table size and
//!   the list limit, whatever the input; no input can make it panic.
//!
//! Header names and values are opaque bytes here: checking that names are
//! lowercase tokens and values legal field values (RFC 9113 §8.2) is the
//! HTTP/2 layer's job.

mod decoder;
mod encoder;
mod error;
pub mod huffman;
pub(crate) mod integer;
mod static_table;
mod table;
pub(crate) mod wellformed;

use bytes::Bytes;

pub use decoder::Decoder;
pub(crate) use decoder::{Known, Recall, Slot};
pub use encoder::{DEFAULT_TABLE_SIZE, Encoder};
pub use error::DecodeError;
pub use huffman::HuffmanError;

/// One header field as decoded or to be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HeaderField {
    /// The field name (lowercase in HTTP/2; not checked here).
    pub name: Bytes,
    /// The field value.
    pub value: Bytes,
    /// Whether the field is never to be indexed (RFC 7541 §6.2.3): set on
    /// decoded fields that arrived as never-indexed literals; on fields to
    /// encode, asks for that representation.
    pub sensitive: bool,
}

impl HeaderField {
    /// A field that is not sensitive.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field to be sent as never indexed.
    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        HeaderField {
            name: name.into(),
            value: value.into(),
            sensitive: true,
        }
    }

    /// The field's size as RFC 7541 §4.1 counts it: name length plus value
    /// length plus 32. SETTINGS_MAX_HEADER_LIST_SIZE counts the same way.
    pub fn size(&self) -> usize {
        table::entry_size(self.name.len(), self.value.len())
    }
}
