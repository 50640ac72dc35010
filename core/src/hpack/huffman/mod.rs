//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B).
//!
//! This module owns the static Huffman code used for string literals and
//! the two operations on it:
//!
//! * [`encode`] / [`encoded_len`]: each byte becomes its code, written
//!   most-significant bit first; the last byte is padded with the leading
//!   bits of EOS (all ones).
//! * [`decode`]: table-driven, several bits per step. The decoder keeps up
//!   to 64 input bits in an accumulator and looks the next 12 bits up in a
//!   4,096-entry table. An entry names the one or two whole codes those
//!   bits start with (codes of 12 bits or fewer: all printable ASCII bar a
//!   few punctuation marks) and their total length, so typical text
//!   decodes two symbols per lookup. Longer codes go through a short walk
//!   over the code lengths, which works because the code is canonical.
//!   Both tables are computed from the Appendix B table (in `code.rs`) by
//!   constant evaluation: nothing is generated at build time and nothing
//!   is typed in twice.
//!
//! Decoding enforces §5.2: a decoded EOS symbol is an error, and so is
//! padding that is longer than 7 bits or that is not a prefix of EOS (that
//! is, not all ones).

pub(crate) mod code;
mod decode_table;

use bytes::BufMut;
use core::fmt;

use code::CODES;
use decode_table::{CANONICAL, FAST, FAST_BITS, MAX_CODE_LEN};

/// Why a Huffman-coded string was rejected (RFC 7541 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HuffmanError {
    /// The string contains the EOS symbol.
    EosSymbol,
    /// The string ends with more than 7 bits of padding.
    PaddingTooLong,
    /// The last bits are not a prefix of EOS (padding that is not all ones,
    /// or a code cut off by the end of the string).
    InvalidPadding,
}

impl fmt::Display for HuffmanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HuffmanError::EosSymbol => "Huffman string contains the EOS symbol",
            HuffmanError::PaddingTooLong => "Huffman string has more than 7 bits of padding",
            HuffmanError::InvalidPadding => "Huffman string padding is not a prefix of EOS",
        })
    }
}

impl std::error::Error for HuffmanError {}

/// The number of bytes [`encode`] produces for `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: u64 = src
        .iter()
        .map(|&b| u64::from(CODES[usize::from(b)].1))
        .sum();
    usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX)
}

/// Appends the Huffman coding of `src` to `dst`, padded to a whole byte with
/// the leading bits of EOS. Writes exactly [`encoded_len`]`(src)` bytes.
pub fn encode(src: &[u8], dst: &mut impl BufMut) {
    // `acc` holds `pending` not-yet-written bits in its low end; codes are at
    // most 30 bits and `pending` stays below 32, so nothing valid is lost.
    let mut acc: u64 = 0;
    let mut pending: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        pending += u32::from(len);
        if pending >= 32 {
            pending -= 32;
            dst.put_u32((acc >> pending) as u32);
        }
    }
    if pending > 0 {
        let pad = (8 - pending % 8) % 8;
        acc = (acc << pad) | ((1u64 << pad) - 1);
        pending += pad;
        while pending > 0 {
            pending -= 8;
            dst.put_u8((acc >> pending) as u8);
        }
    }
}

/// Appends the decoding of the Huffman-coded `src` to `dst`.
///
/// On error `dst` may hold part of the decoded string. The output is never
/// longer than `src.len() * 8 / 5` bytes (the shortest code is 5 bits).
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), HuffmanError> {
    decode_limited(src, dst, usize::MAX).map(|_| ())
}

/// Decodes `src`, appending at most `limit` bytes to `dst`, and returns the
/// full decoded length. When that length is above `limit` the rest of the
/// string is still checked, so the result says whether the string is valid,
/// but it is not stored. Memory use is bounded by `limit`.
pub(crate) fn decode_limited(
    src: &[u8],
    dst: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, HuffmanError> {
    let most = max_decoded_len(src.len());
    dst.reserve(most.min(limit));
    if most <= limit {
        decode_with::<false>(src, dst, limit)
    } else {
        decode_with::<true>(src, dst, limit)
    }
}

/// The decoding loop; `LIMITED` says whether `limit` can be reached, so the
/// common case does not check it for every symbol.
#[inline(always)]
fn decode_with<const LIMITED: bool>(
    src: &[u8],
    dst: &mut Vec<u8>,
    limit: usize,
) -> Result<usize, HuffmanError> {
    let mut bits = BitReader::new(src);
    let mut written = 0usize;
    loop {
        if bits.count < MAX_CODE_LEN {
            bits.refill();
            if bits.count == 0 {
                return Ok(written);
            }
        }
        // Up to two short codes per lookup.
        let entry = FAST[(bits.acc >> (64 - FAST_BITS)) as usize];
        let len = (entry >> 16) & 0x1f;
        if len != 0 && len <= bits.count {
            let pair = entry >> 24 == 2;
            if !LIMITED || written + 2 <= limit {
                dst.push(entry as u8);
                if pair {
                    dst.push((entry >> 8) as u8);
                }
            } else {
                if written < limit {
                    dst.push(entry as u8);
                }
                if pair && written + 1 < limit {
                    dst.push((entry >> 8) as u8);
                }
            }
            written += 1 + usize::from(pair);
            bits.consume(len);
            continue;
        }
        // A long code, or a short one near the end of the input.
        match slow_symbol(bits.acc, bits.count) {
            Some((sym, len)) => {
                let byte = u8::try_from(sym).map_err(|_| HuffmanError::EosSymbol)?;
                if !LIMITED || written < limit {
                    dst.push(byte);
                }
                written += 1;
                bits.consume(len);
            }
            // Only reachable once the input is used up: whatever is left is
            // padding (or a code cut short).
            None => return bits.check_padding().map(|()| written),
        }
    }
}

/// The most bytes `n` bytes of Huffman code can decode to.
pub(crate) fn max_decoded_len(n: usize) -> usize {
    n.saturating_mul(8) / 5
}

/// Finds the symbol whose code starts the `count` valid bits at the top of
/// `acc`, trying lengths from shortest to longest. With a canonical code,
/// a code of length `l` exists at the top iff its `l`-bit value is below
/// the first code of length `l` plus the number of codes of that length
/// (given that no shorter length matched). Returns `None` when no code fits
/// in `count` bits.
fn slow_symbol(acc: u64, count: u32) -> Option<(u16, u32)> {
    let max = count.min(MAX_CODE_LEN);
    let mut len = 1;
    while len <= max {
        let l = len as usize;
        let value = (acc >> (64 - len)) as u32;
        let first = *CANONICAL.first.get(l)?;
        let n = u32::from(*CANONICAL.count.get(l)?);
        if value < first + n {
            let rank = usize::try_from(value.checked_sub(first)?).ok()?;
            let at = usize::from(*CANONICAL.offset.get(l)?) + rank;
            return CANONICAL.sorted.get(at).map(|&sym| (sym, len));
        }
        len += 1;
    }
    None
}

/// Most-significant-bit-first reader over a byte string: the valid bits are
/// the top `count` bits of `acc`, the bits below them are zero.
struct BitReader<'a> {
    src: &'a [u8],
    acc: u64,
    count: u32,
}

impl<'a> BitReader<'a> {
    fn new(src: &'a [u8]) -> Self {
        BitReader {
            src,
            acc: 0,
            count: 0,
        }
    }

    /// Tops the accumulator up. Afterwards either the input is used up or
    /// at least 57 bits are buffered.
    #[inline]
    fn refill(&mut self) {
        let take = ((64 - self.count) / 8) as usize;
        if let Some((word, _)) = self.src.split_first_chunk::<8>() {
            // Load eight bytes at once and keep the `take` leading ones.
            let word = u64::from_be_bytes(*word);
            if take > 0 {
                let take_bits = 8 * take as u32;
                let keep = if take_bits == 64 {
                    word
                } else {
                    word >> (64 - take_bits)
                };
                self.acc |= keep << (64 - self.count - take_bits);
                self.count += take_bits;
                self.src = self.src.get(take..).unwrap_or_default();
            }
        } else {
            while self.count <= 56 {
                let Some((&byte, rest)) = self.src.split_first() else {
                    break;
                };
                self.acc |= u64::from(byte) << (56 - self.count);
                self.count += 8;
                self.src = rest;
            }
        }
    }

    #[inline]
    fn consume(&mut self, len: u32) {
        self.acc <<= len;
        self.count -= len;
    }

    /// Accepts the remaining bits as the end of the string if they are at
    /// most 7 bits of ones.
    fn check_padding(&self) -> Result<(), HuffmanError> {
        let n = self.count;
        if n == 0 {
            return Ok(());
        }
        let ones = (1u64 << n) - 1;
        let all_ones = (self.acc >> (64 - n)) == ones;
        match (n <= 7, all_ones) {
            (true, true) => Ok(()),
            (false, true) => Err(HuffmanError::PaddingTooLong),
            (_, false) => Err(HuffmanError::InvalidPadding),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_is_canonical_and_complete() {
        // Kraft sum of a complete prefix code is exactly 1.
        let kraft: u64 = CODES.iter().map(|&(_, len)| 1u64 << (30 - len)).sum();
        assert_eq!(kraft, 1 << 30);
        // Re-deriving each code from the lengths alone gives the table.
        for (sym, &(code, len)) in CODES.iter().enumerate() {
            let l = usize::from(len);
            let rank = CODES[..sym].iter().filter(|c| c.1 == len).count() as u32;
            assert_eq!(CANONICAL.first[l] + rank, code, "symbol {sym}");
        }
    }

    #[test]
    fn rfc_examples() {
        let mut out = Vec::new();
        encode(b"www.example.com", &mut out);
        assert_eq!(
            out,
            [
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff
            ]
        );
        assert_eq!(encoded_len(b"www.example.com"), 12);
        let mut back = Vec::new();
        decode(&out, &mut back).unwrap();
        assert_eq!(back, b"www.example.com");
        out.clear();
        encode(b"no-cache", &mut out);
        assert_eq!(out, [0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]);
    }

    #[test]
    fn every_byte_round_trips_alone_and_together() {
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            let src = &all[n..];
            let mut enc = Vec::new();
            encode(src, &mut enc);
            assert_eq!(enc.len(), encoded_len(src));
            let mut dec = Vec::new();
            decode(&enc, &mut dec).unwrap();
            assert_eq!(dec, src);
            let one = [all[n]];
            enc.clear();
            encode(&one, &mut enc);
            dec.clear();
            decode(&enc, &mut dec).unwrap();
            assert_eq!(dec, one);
        }
    }

    #[test]
    fn padding_rules() {
        let mut out = Vec::new();
        assert_eq!(decode(&[], &mut out), Ok(()));
        // 0xff: 8 bits of ones is too much padding.
        assert_eq!(decode(&[0xff], &mut out), Err(HuffmanError::PaddingTooLong));
        // 'a' (00011) then padding 110: not all ones.
        assert_eq!(decode(&[0x1e], &mut out), Err(HuffmanError::InvalidPadding));
        // 'a' then 111 is fine.
        out.clear();
        assert_eq!(decode(&[0x1f], &mut out), Ok(()));
        assert_eq!(out, b"a");
        // EOS (30 ones) followed by two bits of padding.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out),
            Err(HuffmanError::EosSymbol)
        );
        // 29 ones: a cut-off code, too long for padding.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xf8], &mut out),
            Err(HuffmanError::InvalidPadding)
        );
    }

    #[test]
    fn limited_decode_counts_past_the_limit() {
        let mut enc = Vec::new();
        encode(b"hello world, this is long", &mut enc);
        let mut out = Vec::new();
        assert_eq!(decode_limited(&enc, &mut out, 5), Ok(25));
        assert_eq!(out, b"hello");
        // Every limit, so that two-symbol steps straddle it.
        let text: &[u8] = b"00aa11ee\\~~zz0a1e\xff\x80 tail";
        enc.clear();
        encode(text, &mut enc);
        for limit in 0..=text.len() + 1 {
            out.clear();
            assert_eq!(decode_limited(&enc, &mut out, limit), Ok(text.len()));
            assert_eq!(out, &text[..limit.min(text.len())]);
        }
    }
}
