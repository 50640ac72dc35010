//! Prefix-coded integers (RFC 7541 §5.1).
//!
//! An integer fills the low `N` bits of a first byte whose high bits belong
//! to the representation; values that do not fit continue in 7-bit groups,
//! least significant first, with the top bit of each byte set while more
//! follow. We decode at most [`MAX_CONTINUATION`] continuation bytes and
//! values up to `u32::MAX`: nothing in HPACK needs more (string lengths,
//! indices and table sizes are all bounded far below), and the caps keep a
//! hostile run of `0x80` bytes from costing more than a few steps.

use bytes::BufMut;

use super::DecodeError;

/// The most continuation bytes accepted after the prefix: enough for any
/// `u32` whatever the prefix width.
pub(crate) const MAX_CONTINUATION: usize = 5;

/// Appends `value` with an `prefix_bits`-bit prefix; `flags` supplies the
/// high bits of the first byte (they must not overlap the prefix).
pub(crate) fn encode(value: usize, prefix_bits: u8, flags: u8, dst: &mut impl BufMut) {
    let max_prefix = (1usize << prefix_bits) - 1;
    if value < max_prefix {
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | max_prefix as u8);
    let mut rest = value - max_prefix;
    while rest >= 0x80 {
        dst.put_u8(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Reads an integer with a `prefix_bits`-bit prefix starting at `*pos`, and
/// moves `*pos` past it.
pub(crate) fn decode(buf: &[u8], pos: &mut usize, prefix_bits: u8) -> Result<usize, DecodeError> {
    let first = *buf.get(*pos).ok_or(DecodeError::TruncatedInteger)?;
    *pos += 1;
    let max_prefix = (1u64 << prefix_bits) - 1;
    let mut value = u64::from(first) & max_prefix;
    if value < max_prefix {
        return Ok(value as usize);
    }
    for i in 0..MAX_CONTINUATION {
        let byte = *buf.get(*pos).ok_or(DecodeError::TruncatedInteger)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| DecodeError::IntegerOverflow)?;
            return usize::try_from(value).map_err(|_| DecodeError::IntegerOverflow);
        }
    }
    Err(DecodeError::IntegerOverlong)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: usize, prefix: u8) -> Vec<u8> {
        let mut v = Vec::new();
        encode(value, prefix, 0, &mut v);
        v
    }

    #[test]
    fn rfc_c1_examples() {
        assert_eq!(enc(10, 5), [0x0a]);
        assert_eq!(enc(1337, 5), [0x1f, 0x9a, 0x0a]);
        assert_eq!(enc(42, 8), [0x2a]);
        let mut pos = 0;
        assert_eq!(decode(&[0x1f, 0x9a, 0x0a], &mut pos, 5), Ok(1337));
        assert_eq!(pos, 3);
    }

    #[test]
    fn round_trip_edges() {
        for prefix in 1..=8u8 {
            for value in [
                0,
                1,
                126,
                127,
                128,
                254,
                255,
                256,
                16383,
                16384,
                1 << 28,
                u32::MAX as usize,
            ] {
                let bytes = enc(value, prefix);
                let mut pos = 0;
                assert_eq!(
                    decode(&bytes, &mut pos, prefix),
                    Ok(value),
                    "{value} /{prefix}"
                );
                assert_eq!(pos, bytes.len());
            }
        }
    }

    #[test]
    fn rejects_bad_integers() {
        let mut pos = 0;
        assert_eq!(decode(&[], &mut pos, 5), Err(DecodeError::TruncatedInteger));
        pos = 0;
        assert_eq!(
            decode(&[0x1f, 0x80], &mut pos, 5),
            Err(DecodeError::TruncatedInteger)
        );
        pos = 0;
        // u32::MAX + 1 with an 8-bit prefix.
        let mut big = Vec::new();
        encode(u32::MAX as usize, 8, 0, &mut big);
        let last = big.len() - 1;
        big[last] += 1;
        assert_eq!(decode(&big, &mut pos, 8), Err(DecodeError::IntegerOverflow));
        pos = 0;
        let overlong = [0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert_eq!(
            decode(&overlong, &mut pos, 5),
            Err(DecodeError::IntegerOverlong)
        );
    }
}
