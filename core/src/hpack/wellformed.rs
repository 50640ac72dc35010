//! HTTP/2's rules for the bytes of a field (RFC 9113 §8.2.1), here so
//! that the decoder can apply them as it decodes: fields it takes from the
//! static table or from dynamic entries it has checked need no second
//! look. The h2 layer's header validation uses the same functions.

/// Bytes a field name may not hold (after a leading `:` of a
/// pseudo-header): controls, space, uppercase letters, DEL and above, and
/// `:` itself.
static NAME_BAD: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b <= 0x20 || b.is_ascii_uppercase() || b >= 0x7f || b == b':';
        i += 1;
    }
    t
};

/// A field name: not empty, and (after a leading `:`) no byte of
/// [`NAME_BAD`].
pub(crate) fn name_ok(name: &[u8]) -> bool {
    let body = match name.split_first() {
        None => return false,
        Some((b':', rest)) => rest,
        Some(_) => name,
    };
    // One table lookup per byte and no early exit: names are short and
    // almost always valid.
    !body.is_empty()
        && !body
            .iter()
            .fold(false, |bad, &b| bad | NAME_BAD[b as usize])
}

/// RFC 9113 §8.2.1 forbids NUL, CR and LF in a value, and also leading or
/// trailing whitespace. We enforce the first rule, which guards against
/// request smuggling, and tolerate the second: gRPC peers send status
/// messages and metadata with edge spaces, and rejecting them would fail
/// calls that every other gRPC stack accepts.
pub(crate) fn value_ok(value: &[u8]) -> bool {
    // Eight bytes at a time: a word has a NUL, CR or LF byte exactly when
    // the word, or the word XOR a run of CRs or of LFs, has a zero byte.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    fn has_zero_byte(x: u64) -> bool {
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    }
    let mut words = value.chunks_exact(8);
    let mut bad = false;
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let x = u64::from_le_bytes(b);
        bad |= has_zero_byte(x)
            | has_zero_byte(x ^ (ONES * u64::from(b'\r')))
            | has_zero_byte(x ^ (ONES * u64::from(b'\n')));
    }
    let tail = words.remainder();
    !(bad || tail.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n'))
}
