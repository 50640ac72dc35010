//! Decoding tables for the Huffman code, computed from [`super::code::CODES`]
//! at compile time.

use super::code::CODES;

/// How many bits the fast table is indexed by.
pub(crate) const FAST_BITS: u32 = 12;

/// The longest code (EOS) in bits.
pub(crate) const MAX_CODE_LEN: u32 = 30;

/// Indexed by the next [`FAST_BITS`] bits of input. An entry is
/// `count << 24 | len << 16 | second << 8 | first`: the `count` (1 or 2)
/// whole codes of at most [`FAST_BITS`] bits in total that those bits start
/// with, their symbols, and their total length in bits. 0 when the bits
/// start a code longer than [`FAST_BITS`].
pub(crate) static FAST: [u32; 1 << FAST_BITS] = build_fast();

/// The code in canonical form, for codes longer than [`FAST_BITS`].
pub(crate) static CANONICAL: Canonical = build_canonical();

/// A canonical code described by its lengths: `first[l]` is the first code
/// of length `l`, `count[l]` how many codes have that length, and
/// `sorted[offset[l]..][..count[l]]` their symbols in code order.
pub(crate) struct Canonical {
    pub(crate) first: [u32; 31],
    pub(crate) count: [u16; 31],
    pub(crate) offset: [u16; 31],
    pub(crate) sorted: [u16; 257],
}

/// For every `FAST_BITS`-bit pattern, the one code it starts with (as
/// `len << 8 | symbol`), or 0.
const fn build_single() -> [u16; 1 << FAST_BITS] {
    let mut table = [0u16; 1 << FAST_BITS];
    let mut sym = 0;
    while sym < 256 {
        let (code, len) = CODES[sym];
        if len as u32 <= FAST_BITS {
            let spare = FAST_BITS - len as u32;
            let start = (code << spare) as usize;
            let mut i = 0;
            while i < 1 << spare {
                table[start + i] = ((len as u16) << 8) | sym as u16;
                i += 1;
            }
        }
        sym += 1;
    }
    table
}

const fn build_fast() -> [u32; 1 << FAST_BITS] {
    let single = build_single();
    let mask = (1usize << FAST_BITS) - 1;
    let mut table = [0u32; 1 << FAST_BITS];
    let mut bits = 0;
    while bits < 1 << FAST_BITS {
        let first = single[bits];
        let first_len = (first >> 8) as usize;
        if first_len != 0 {
            // What the remaining bits start with, zero-filled at the end.
            let next = single[(bits << first_len) & mask];
            let next_len = (next >> 8) as usize;
            table[bits] = if next_len != 0 && first_len + next_len <= FAST_BITS as usize {
                (2 << 24)
                    | (((first_len + next_len) as u32) << 16)
                    | ((next as u32 & 0xff) << 8)
                    | (first as u32 & 0xff)
            } else {
                (1 << 24) | ((first_len as u32) << 16) | (first as u32 & 0xff)
            };
        }
        bits += 1;
    }
    table
}

const fn build_canonical() -> Canonical {
    let mut count = [0u16; 31];
    let mut sym = 0;
    while sym < CODES.len() {
        count[CODES[sym].1 as usize] += 1;
        sym += 1;
    }
    let mut first = [0u32; 31];
    let mut offset = [0u16; 31];
    let mut sorted = [0u16; 257];
    let mut code = 0u32;
    let mut at = 0u16;
    let mut len = 1;
    while len <= 30 {
        first[len] = code;
        offset[len] = at;
        code = (code + count[len] as u32) << 1;
        let mut sym = 0;
        while sym < CODES.len() {
            if CODES[sym].1 as usize == len {
                sorted[at as usize] = sym as u16;
                at += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    Canonical {
        first,
        count,
        offset,
        sorted,
    }
}
