//! Decoding errors.

use core::fmt;

use super::huffman::HuffmanError;

/// Why a header block could not be decoded.
///
/// Every variant but [`DecodeError::HeaderListTooLarge`] means the
/// decoder's dynamic table can no longer be trusted to match the peer's
/// encoder: the connection must end with a `COMPRESSION_ERROR` (RFC 9113
/// §4.3), and [`DecodeError::is_connection_error`] says so.
///
/// `HeaderListTooLarge` is different: the decoder walked the whole block
/// and kept its table in step, it just stopped collecting fields once the
/// list passed the caller's limit. The connection can carry on; only the
/// stream the block belongs to is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// An integer is larger than `u32::MAX` (RFC 7541 §5.1).
    IntegerOverflow,
    /// An integer uses more continuation bytes than any `u32` needs.
    IntegerOverlong,
    /// The block ends inside an integer.
    TruncatedInteger,
    /// The block ends inside a string literal.
    TruncatedString,
    /// An index of 0, or past the end of the static and dynamic tables
    /// (RFC 7541 §2.3.3, §6.1).
    InvalidIndex(usize),
    /// A Huffman-coded string literal is malformed (RFC 7541 §5.2).
    InvalidHuffman(HuffmanError),
    /// A dynamic table size update is larger than the maximum we allowed
    /// through SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §6.3).
    SizeUpdateTooLarge {
        /// The size the peer asked for.
        requested: usize,
        /// The largest size we allow.
        max: usize,
    },
    /// A dynamic table size update after the first field of a block
    /// (RFC 7541 §4.2 allows them only at the start).
    SizeUpdateNotAtStart,
    /// We lowered the table size and the next block did not start with a
    /// size update at or below the new maximum (RFC 7541 §4.2).
    MissingSizeUpdate,
    /// The decoded header list is larger than the caller's limit
    /// (SETTINGS_MAX_HEADER_LIST_SIZE, counted as in RFC 7541 §4.1). Not a
    /// connection error: see the type's documentation.
    HeaderListTooLarge,
}

impl DecodeError {
    /// Whether the connection must be closed with `COMPRESSION_ERROR`.
    /// Only [`DecodeError::HeaderListTooLarge`] leaves the connection
    /// usable.
    pub fn is_connection_error(&self) -> bool {
        !matches!(self, DecodeError::HeaderListTooLarge)
    }
}

impl From<HuffmanError> for DecodeError {
    fn from(e: HuffmanError) -> Self {
        DecodeError::InvalidHuffman(e)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::IntegerOverflow => f.write_str("HPACK integer larger than 2^32 - 1"),
            DecodeError::IntegerOverlong => {
                f.write_str("HPACK integer with too many continuation bytes")
            }
            DecodeError::TruncatedInteger => f.write_str("header block ends inside an integer"),
            DecodeError::TruncatedString => f.write_str("header block ends inside a string"),
            DecodeError::InvalidIndex(i) => write!(f, "HPACK index {i} is not in the tables"),
            DecodeError::InvalidHuffman(e) => write!(f, "invalid Huffman string: {e}"),
            DecodeError::SizeUpdateTooLarge { requested, max } => write!(
                f,
                "dynamic table size update to {requested} exceeds the maximum {max}"
            ),
            DecodeError::SizeUpdateNotAtStart => {
                f.write_str("dynamic table size update after the start of a header block")
            }
            DecodeError::MissingSizeUpdate => {
                f.write_str("header block does not acknowledge a smaller table size")
            }
            DecodeError::HeaderListTooLarge => {
                f.write_str("decoded header list exceeds the size limit")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::InvalidHuffman(e) => Some(e),
            _ => None,
        }
    }
}
