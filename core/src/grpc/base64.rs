//! Base64 with the standard alphabet (RFC 4648 §4), as binary metadata
//! values use it on the wire.
//!
//! Encoding never pads. Decoding accepts padded and unpadded input and
//! rejects everything else: characters outside the alphabet (including the
//! URL-safe `-` and `_`, and whitespace), padding anywhere but the end, the
//! wrong amount of padding, and lengths no encoder can produce. Non-zero
//! bits left over in the last character are ignored, as most decoders do.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Marks bytes that are not in the alphabet.
const INVALID: u8 = 0xff;

/// Maps each byte to its 6-bit value, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The input was not valid base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

/// Length of the unpadded encoding of `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n / 3 * 4
        + match n % 3 {
            0 => 0,
            1 => 2,
            _ => 3,
        }
}

fn sextet(v: u32, shift: u32) -> u8 {
    ALPHABET[((v >> shift) & 0x3f) as usize]
}

/// Appends the unpadded encoding of `input` to `out`.
pub(crate) fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input.len()));
    let mut chunks = input.chunks_exact(3);
    for c in &mut chunks {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        out.extend_from_slice(&[sextet(v, 18), sextet(v, 12), sextet(v, 6), sextet(v, 0)]);
    }
    match *chunks.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(v, 18), sextet(v, 12)]);
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(v, 18), sextet(v, 12), sextet(v, 6)]);
        }
        _ => {}
    }
}

/// Decodes padded or unpadded base64.
pub(crate) fn decode(input: &[u8]) -> Result<Vec<u8>, InvalidBase64> {
    // Strip padding: only allowed to complete the last 4-character group.
    let body = match input {
        [rest @ .., b'=', b'='] => {
            if input.len() % 4 != 0 {
                return Err(InvalidBase64);
            }
            rest
        }
        [rest @ .., b'='] => {
            if input.len() % 4 != 0 {
                return Err(InvalidBase64);
            }
            rest
        }
        _ => input,
    };
    let padded = body.len() != input.len();
    let tail = body.len() % 4;
    // One character left over carries only 6 bits: no encoder makes that.
    // A padded input must have left exactly the characters the padding
    // completes (2 with "==", 3 with "=").
    if tail == 1 || (padded && tail + (input.len() - body.len()) != 4) {
        return Err(InvalidBase64);
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut chunks = body.chunks_exact(4);
    for c in &mut chunks {
        let v = value(c)?;
        out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
    }
    let rest = chunks.remainder();
    match rest.len() {
        2 => {
            let v = value(rest)? << 12;
            out.push((v >> 16) as u8);
        }
        3 => {
            let v = value(rest)? << 6;
            out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8]);
        }
        _ => {}
    }
    Ok(out)
}

/// The value of up to 4 characters, 6 bits each, most significant first.
fn value(chars: &[u8]) -> Result<u32, InvalidBase64> {
    let mut v = 0u32;
    for &c in chars {
        let d = DECODE[usize::from(c)];
        if d == INVALID {
            return Err(InvalidBase64);
        }
        v = v << 6 | u32::from(d);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(input: &[u8]) -> String {
        let mut out = Vec::new();
        encode(input, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc4648_vectors() {
        let cases: [(&str, &str, &str); 7] = [
            ("", "", ""),
            ("f", "Zg", "Zg=="),
            ("fo", "Zm8", "Zm8="),
            ("foo", "Zm9v", "Zm9v"),
            ("foob", "Zm9vYg", "Zm9vYg=="),
            ("fooba", "Zm9vYmE", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ];
        for (plain, unpadded, padded) in cases {
            assert_eq!(enc(plain.as_bytes()), unpadded);
            assert_eq!(encoded_len(plain.len()), unpadded.len());
            assert_eq!(decode(unpadded.as_bytes()).unwrap(), plain.as_bytes());
            assert_eq!(decode(padded.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "Z", "Zg=", "Zg===", "Z===", "=", "==", "Zm9v=", "Zm8==", "Zm 9v", "Zm9v\n", "Zm-_",
            "Zg==Zg==", "Zm=v", "Zm9v====",
        ] {
            assert_eq!(decode(bad.as_bytes()), Err(InvalidBase64), "{bad:?}");
        }
    }

    #[test]
    fn full_alphabet() {
        let all: Vec<u8> = (0..=255u8).collect();
        let e = enc(&all);
        assert!(e.contains('+') && e.contains('/'));
        assert_eq!(decode(e.as_bytes()).unwrap(), all);
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let e = enc(&data);
            prop_assert_eq!(e.len(), encoded_len(data.len()));
            prop_assert_eq!(decode(e.as_bytes()).unwrap(), data.clone());
            let mut padded = e.clone();
            while padded.len() % 4 != 0 {
                padded.push('=');
            }
            prop_assert_eq!(decode(padded.as_bytes()).unwrap(), data);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data);
        }
    }
}
