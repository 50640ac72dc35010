//! Decoding tables for the Huffman code, computed from [`super::code::CODES`]
//! at compile time.

use super::code::CODES;

/// How many bits the fast table is indexed by.
pub(crate) const FAST_BITS: u32 = 11;

/// The longest code (EOS) in bits.
pub(crate) const MAX_CODE_LEN: u32 = 30;

/// Indexed by the next [`FAST_BITS`] bits of input: `len << 8 | symbol` for
/// the code of `len <= FAST_BITS` bits those bits start with, or 0 if they
/// start a longer code.
pub(crate) static FAST: [u16; 1 << FAST_BITS] = build_fast();

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

const fn build_fast() -> [u16; 1 << FAST_BITS] {
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
