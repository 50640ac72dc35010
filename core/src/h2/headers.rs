//! Validation of received header lists (RFC 9113 §8.2, §8.3): what makes a
//! request head, a response head or a trailer section malformed.
//!
//! A malformed message is a stream error of type PROTOCOL_ERROR (§8.1.1);
//! the connection carries on.

use crate::hpack::{HeaderField, Known};

/// Why a header list is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// A field name is empty, has an uppercase letter, or a byte RFC 9113
    /// §8.2.1 forbids.
    BadName,
    /// A field value has NUL, CR or LF.
    BadValue,
    /// A connection-specific field (connection, keep-alive, ...) (§8.2.2).
    ConnectionSpecific,
    /// `te` with a value other than `trailers` (§8.2.2).
    BadTe,
    /// A pseudo-header field after a regular field (§8.3).
    PseudoAfterRegular,
    /// A pseudo-header field not defined for this kind of message, or one
    /// in trailers (§8.3).
    UnknownPseudo,
    /// A pseudo-header field given twice (§8.3.1).
    DuplicatePseudo,
    /// A required pseudo-header field is missing or empty (§8.3.1, §8.3.2).
    MissingPseudo,
    /// `:status` is not three digits.
    BadStatus,
    /// `content-length` is not a number, or its values disagree.
    BadContentLength,
}

/// What a valid head tells the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeadInfo {
    /// `content-length`, if given.
    pub(crate) content_length: Option<u64>,
    /// The response status (responses only).
    pub(crate) status: Option<u16>,
}

/// The kind of header section being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Request,
    Response,
    Trailers,
}

use crate::hpack::wellformed::{name_ok, value_ok};
use crate::recent::Recent;

fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Results of [`validate_checked`] for header blocks the HPACK decoder
/// remembers (see `hpack::Decoder::last_block_id`): the same block checked
/// as the same kind of section passes the same way, so it is not checked
/// again.
#[derive(Debug, Default)]
pub(crate) struct Validated {
    kept: Recent<(u64, Section, HeadInfo), 4>,
}

impl Validated {
    /// [`validate_checked`], or the result it gave for the fields the
    /// HPACK decoder's memo `known`s, as this `section`. For
    /// [`Known::Plus`] (the fields but the last are those of an earlier
    /// list), the result for the fields before the last is reused and
    /// only the last field is checked.
    #[inline]
    pub(crate) fn check(
        &mut self,
        section: Section,
        fields: &[HeaderField],
        bytes_checked: bool,
        known: Option<Known>,
    ) -> Result<HeadInfo, Malformed> {
        match known {
            Some(Known::Block(id)) => {
                if let Some((_, _, info)) = self.kept.find(|(i, s, _)| *i == id && *s == section) {
                    return Ok(*info);
                }
            }
            Some(Known::Plus(id)) => {
                if let Some(result) = self.check_plus(section, fields, bytes_checked, id) {
                    return result;
                }
            }
            None => {}
        }
        self.check_afresh(section, fields, bytes_checked, known)
    }

    /// [`check`](Self::check) for fields whose prefix (all but the last)
    /// is named `prefix_id`, when its result is kept and the last field
    /// settles the rest: a regular field that no rule ties to another
    /// (`None` for anything else).
    fn check_plus(
        &mut self,
        section: Section,
        fields: &[HeaderField],
        bytes_checked: bool,
        prefix_id: u64,
    ) -> Option<Result<HeadInfo, Malformed>> {
        let (_, _, info) = self
            .kept
            .find(|(i, s, _)| *i == prefix_id && *s == section)?;
        let last = fields.last()?;
        // The prefix passed alone; the checks `validate_checked` makes of
        // a regular field follow, in its order.
        let (name, value) = (&last.name[..], &last.value[..]);
        if !bytes_checked {
            if !name_ok(name) {
                return Some(Err(Malformed::BadName));
            }
            if !value_ok(value) {
                return Some(Err(Malformed::BadValue));
            }
        }
        match name {
            // A pseudo-header or `content-length` depends on the fields
            // before it: checked with them.
            [b':', ..] | b"content-length" => None,
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => Some(Err(Malformed::ConnectionSpecific)),
            b"te" if value != b"trailers" => Some(Err(Malformed::BadTe)),
            _ => Some(Ok(*info)),
        }
    }

    /// [`check`](Self::check) for a block whose result is not kept.
    #[inline(never)]
    fn check_afresh(
        &mut self,
        section: Section,
        fields: &[HeaderField],
        bytes_checked: bool,
        known: Option<Known>,
    ) -> Result<HeadInfo, Malformed> {
        if let (Some(Known::Plus(id)), Some((_, prefix))) = (known, fields.split_last()) {
            // The result for the fields before the last, kept for the next
            // list that shares them.
            if !self.kept.iter().any(|(i, s, _)| *i == id && *s == section) {
                if let Ok(info) = validate_checked(section, prefix, bytes_checked) {
                    self.kept.put((id, section, info));
                }
            }
        }
        let info = validate_checked(section, fields, bytes_checked)?;
        if let Some(Known::Block(id)) = known {
            self.kept.put((id, section, info));
        }
        Ok(info)
    }
}

/// [`validate_checked`] with no field known to be well-formed.
#[cfg(test)]
pub(crate) fn validate(section: Section, fields: &[HeaderField]) -> Result<HeadInfo, Malformed> {
    validate_checked(section, fields, false)
}

/// Check a header section; on success return what the connection tracks.
/// `bytes_checked` says that every name and value has already passed
/// [`name_ok`] and [`value_ok`] (the HPACK decoder checks as it decodes
/// and remembers it for its table's entries), so only the rules about
/// pseudo-fields and connection-specific fields are left.
pub(crate) fn validate_checked(
    section: Section,
    fields: &[HeaderField],
    bytes_checked: bool,
) -> Result<HeadInfo, Malformed> {
    let mut info = HeadInfo::default();
    let mut regular_seen = false;
    // Request pseudo-fields: method, scheme, path, authority, protocol.
    let mut seen = [false; 5];
    let mut method_connect = false;
    let mut path_empty = false;
    for f in fields {
        let name: &[u8] = &f.name;
        let value: &[u8] = &f.value;
        if !bytes_checked {
            if !name_ok(name) {
                return Err(Malformed::BadName);
            }
            if !value_ok(value) {
                return Err(Malformed::BadValue);
            }
        }
        if name.first() == Some(&b':') {
            if regular_seen {
                return Err(Malformed::PseudoAfterRegular);
            }
            let slot = match (section, name) {
                (Section::Request, b":method") => 0,
                (Section::Request, b":scheme") => 1,
                (Section::Request, b":path") => 2,
                (Section::Request, b":authority") => 3,
                (Section::Response, b":status") => 0,
                _ => return Err(Malformed::UnknownPseudo),
            };
            if seen[slot] {
                return Err(Malformed::DuplicatePseudo);
            }
            seen[slot] = true;
            match (section, slot) {
                (Section::Request, 0) => method_connect = value == b"CONNECT",
                (Section::Request, 2) => path_empty = value.is_empty(),
                (Section::Response, _) => {
                    if value.len() != 3 || !value.iter().all(u8::is_ascii_digit) {
                        return Err(Malformed::BadStatus);
                    }
                    info.status = value
                        .iter()
                        .try_fold(0u16, |a, &d| Some(a * 10 + u16::from(d - b'0')));
                }
                _ => {}
            }
            continue;
        }
        regular_seen = true;
        match name {
            b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding"
            | b"upgrade" => return Err(Malformed::ConnectionSpecific),
            b"te" if value != b"trailers" => return Err(Malformed::BadTe),
            b"content-length" if section != Section::Trailers => {
                let n = parse_content_length(value).ok_or(Malformed::BadContentLength)?;
                if info.content_length.is_some_and(|old| old != n) {
                    return Err(Malformed::BadContentLength);
                }
                info.content_length = Some(n);
            }
            _ => {}
        }
    }
    match section {
        Section::Request => {
            if method_connect {
                // §8.5: CONNECT carries only :method and :authority.
                if seen[1] || seen[2] {
                    return Err(Malformed::UnknownPseudo);
                }
                if !seen[3] {
                    return Err(Malformed::MissingPseudo);
                }
            } else if !(seen[0] && seen[1] && seen[2]) || path_empty {
                return Err(Malformed::MissingPseudo);
            }
        }
        Section::Response => {
            if !seen[0] {
                return Err(Malformed::MissingPseudo);
            }
        }
        Section::Trailers => {}
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn f(name: &str, value: &str) -> HeaderField {
        HeaderField {
            name: Bytes::copy_from_slice(name.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            sensitive: false,
        }
    }

    #[test]
    fn remembered_results_are_per_block_and_section() {
        let mut v = Validated::default();
        let req = request(&[]);
        assert!(
            v.check(Section::Request, &req, false, Some(Known::Block(7)))
                .is_ok()
        );
        // The same block as trailers: pseudo-fields are not allowed there,
        // whatever the request check said.
        assert_eq!(
            v.check(Section::Trailers, &req, false, Some(Known::Block(7))),
            Err(Malformed::UnknownPseudo)
        );
        // A failed check is not remembered; nor is a block without an id.
        let bad = vec![f("Upper", "x")];
        assert!(
            v.check(Section::Trailers, &bad, false, Some(Known::Block(8)))
                .is_err()
        );
        assert!(
            v.check(Section::Trailers, &bad, false, Some(Known::Block(8)))
                .is_err()
        );
        assert!(v.check(Section::Trailers, &bad, false, None).is_err());
        // Remembered: the fields are not looked at again for block 7.
        assert!(
            v.check(Section::Request, &bad, false, Some(Known::Block(7)))
                .is_ok()
        );
        // Four blocks are remembered; the oldest goes first.
        for id in 10..14 {
            assert!(
                v.check(Section::Request, &req, false, Some(Known::Block(id)))
                    .is_ok()
            );
        }
        assert!(
            v.check(Section::Request, &bad, false, Some(Known::Block(7)))
                .is_err()
        );
    }

    /// A list whose fields but the last are those of an earlier list
    /// (`Known::Plus`) gives what checking it in full gives: the result
    /// for the fields before the last is reused, the last field is
    /// checked alone when no rule ties it to another, and the list is
    /// checked in full when one does (pseudo-headers, `content-length`)
    /// or when the fields before the last did not pass alone.
    #[test]
    fn a_new_last_field_is_checked_as_the_whole_list_would_be() {
        let mut v = Validated::default();
        let prefix = Some(Known::Plus(5));
        let lasts = [
            ("grpc-timeout", "1S"),
            ("te", "gzip"),
            ("te", "trailers"),
            ("connection", "close"),
            ("upgrade", "h2c"),
            ("Upper", "x"),
            ("x", "a\rb"),
            ("x", "a\0b"),
            (":path", "/b"),
            (":status", "200"),
            ("content-length", "5"),
            ("content-length", "x"),
            ("grpc-timeout", "2S"),
        ];
        for section in [Section::Request, Section::Trailers] {
            for (n, val) in lasts {
                let list = request(&[("content-length", "4"), (n, val)]);
                let list = match section {
                    Section::Trailers => list.into_iter().skip(4).collect(),
                    _ => list,
                };
                let want = validate(section, &list);
                let got = v.check(section, &list, false, prefix);
                assert_eq!(got, want, "{section:?} {n}: {val:?}");
            }
        }
        // Fields before the last that fail alone are not kept: a last
        // pseudo-header completes them, a regular field does not.
        let head = vec![f(":method", "POST"), f(":scheme", "http")];
        let mut with_path = head.clone();
        with_path.push(f(":path", "/a"));
        let mut with_x = head.clone();
        with_x.push(f("x", "y"));
        for list in [&with_path, &with_x, &with_path] {
            let got = v.check(Section::Request, list, false, Some(Known::Plus(9)));
            assert_eq!(got, validate(Section::Request, list));
        }
    }

    fn request(extra: &[(&str, &str)]) -> Vec<HeaderField> {
        let mut v = vec![
            f(":method", "POST"),
            f(":scheme", "http"),
            f(":path", "/a.B/C"),
            f(":authority", "x"),
        ];
        v.extend(extra.iter().map(|(n, v)| f(n, v)));
        v
    }

    #[test]
    fn name_and_value_bytes_follow_the_rfc_rules() {
        for b in 0..=255u8 {
            let bad = b <= 0x20 || b.is_ascii_uppercase() || b >= 0x7f || b == b':';
            assert_eq!(name_ok(&[b]), !bad, "{b:#x}");
            assert_eq!(name_ok(&[b':', b, b'a']), !bad, "{b:#x}");
            let value_bad = b == 0 || b == b'\r' || b == b'\n';
            assert_eq!(value_ok(&[b'x', b, b'y']), !value_bad, "{b:#x}");
            for at in 0..20 {
                let mut v = [b'a'; 20];
                v[at] = b;
                assert_eq!(value_ok(&v), !value_bad, "{b:#x} at {at}");
                assert_eq!(value_ok(&v[..=at]), !value_bad, "{b:#x} at {at}");
            }
        }
        assert!(!name_ok(b""));
        assert!(!name_ok(b":"));
        assert!(value_ok(b""));
    }

    #[test]
    fn a_grpc_request_is_valid() {
        let h = request(&[("content-type", "application/grpc"), ("te", "trailers")]);
        assert_eq!(validate(Section::Request, &h), Ok(HeadInfo::default()));
    }

    #[test]
    fn rfc9113_8_2_1_uppercase_name_is_malformed() {
        let h = request(&[("Content-Type", "application/grpc")]);
        assert_eq!(validate(Section::Request, &h), Err(Malformed::BadName));
    }

    #[test]
    fn rfc9113_8_2_1_value_with_cr_lf_or_nul_is_malformed() {
        for bad in ["a\rb", "a\nb", "a\0b"] {
            let h = request(&[("x", bad)]);
            assert_eq!(
                validate(Section::Request, &h),
                Err(Malformed::BadValue),
                "{bad:?}"
            );
        }
        // Edge whitespace is tolerated (see `value_ok`).
        for ok in [" a", "a\t", "status message "] {
            let h = request(&[("x", ok)]);
            assert!(validate(Section::Request, &h).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn rfc9113_8_2_2_connection_specific_fields_are_malformed() {
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ] {
            let h = request(&[(name, "x")]);
            assert_eq!(
                validate(Section::Request, &h),
                Err(Malformed::ConnectionSpecific)
            );
        }
        let h = request(&[("te", "gzip")]);
        assert_eq!(validate(Section::Request, &h), Err(Malformed::BadTe));
    }

    #[test]
    fn rfc9113_8_3_pseudo_rules() {
        let mut h = request(&[("x", "y")]);
        h.push(f(":method", "GET"));
        assert_eq!(
            validate(Section::Request, &h),
            Err(Malformed::PseudoAfterRegular)
        );

        let h = request(&[])
            .into_iter()
            .chain([f(":path", "/b")])
            .collect::<Vec<_>>();
        assert_eq!(
            validate(Section::Request, &h),
            Err(Malformed::DuplicatePseudo)
        );

        let h = vec![f(":method", "POST"), f(":path", "/x")];
        assert_eq!(
            validate(Section::Request, &h),
            Err(Malformed::MissingPseudo)
        );

        let h = vec![f(":method", "POST"), f(":scheme", "http"), f(":path", "")];
        assert_eq!(
            validate(Section::Request, &h),
            Err(Malformed::MissingPseudo)
        );

        let mut h = request(&[]);
        h.insert(0, f(":status", "200"));
        assert_eq!(
            validate(Section::Request, &h),
            Err(Malformed::UnknownPseudo)
        );

        let h = vec![f(":status", "200"), f(":path", "/")];
        assert_eq!(
            validate(Section::Response, &h),
            Err(Malformed::UnknownPseudo)
        );

        let h = vec![f(":status", "2000")];
        assert_eq!(validate(Section::Response, &h), Err(Malformed::BadStatus));

        let h = vec![f(":status", "200"), f("grpc-status", "0")];
        assert_eq!(
            validate(Section::Trailers, &h),
            Err(Malformed::UnknownPseudo)
        );
    }

    #[test]
    fn response_status_and_content_length_are_reported() {
        let h = vec![f(":status", "204"), f("content-length", "12")];
        assert_eq!(
            validate(Section::Response, &h),
            Ok(HeadInfo {
                content_length: Some(12),
                status: Some(204)
            })
        );
        let h = vec![
            f(":status", "200"),
            f("content-length", "1"),
            f("content-length", "2"),
        ];
        assert_eq!(
            validate(Section::Response, &h),
            Err(Malformed::BadContentLength)
        );
        let h = vec![f(":status", "200"), f("content-length", "-1")];
        assert_eq!(
            validate(Section::Response, &h),
            Err(Malformed::BadContentLength)
        );
    }

    /// Review: a decoder with its memo against one decoding every block
    /// afresh, over many hostile blocks per connection (remembered
    /// prefixes with new tails of every kind, Huffman strings, names by
    /// index into both tables, table changes, limits that change from
    /// block to block, answers held by the caller), and the validation of
    /// what it answered against validating the list in full.
    #[test]
    fn memo_answers_match_fresh_decoding_and_full_validation() {
        use crate::hpack::huffman;
        use crate::hpack::{Decoder, Slot};
        use std::sync::Arc;

        use crate::test_rng::Rng;
        const NAMES: &[&[u8]] = &[
            b":method",
            b":scheme",
            b":path",
            b":authority",
            b":status",
            b"te",
            b"connection",
            b"content-length",
            b"grpc-timeout",
            b"x-a",
            b"Upper",
            b"",
            b"content-type",
            b"user-agent",
            b"grpc-encoding",
            b"x-b-bin",
        ];
        const VALUES: &[&[u8]] = &[
            b"POST",
            b"GET",
            b"http",
            b"/a.B/C",
            b"",
            b"200",
            b"trailers",
            b"gzip",
            b"5",
            b"7",
            b"x",
            b"1S",
            b"250m",
            b"a\rb",
            b"a\0b",
            b"a\nb",
            b"application/grpc",
            b"CONNECT",
        ];
        use crate::hpack::integer::encode as int;
        fn string(r: &mut Rng, s: &[u8], safe: bool, b: &mut Vec<u8>) {
            if r.one_in(3) {
                let mut h = Vec::new();
                huffman::encode(s, &mut h);
                if !safe && r.one_in(40) && !h.is_empty() {
                    // A bad padding or a cut code.
                    let n = h.len() - 1;
                    h[n] ^= 1;
                }
                int(h.len(), 7, 0x80, b);
                b.extend_from_slice(&h);
            } else {
                int(s.len(), 7, 0x00, b);
                b.extend_from_slice(s);
            }
        }
        fn value(r: &mut Rng) -> Vec<u8> {
            match r.below(6) {
                0 => (0..r.below(140)).map(|_| r.next() as u8).collect(),
                1 => {
                    let d = r.below(1_000_000_000);
                    format!("{d}{}", ["S", "m", "u", "n", "H", "M", "x", ""][r.below(8)])
                        .into_bytes()
                }
                _ => VALUES[r.below(VALUES.len())].to_vec(),
            }
        }
        // One field, as `kind` 0 indexed, 1 without indexing, 2 never
        // indexed, 3 incremental.
        fn field(r: &mut Rng, kind: usize, safe: bool, b: &mut Vec<u8>) {
            let dyn_index = |r: &mut Rng| {
                if safe {
                    1 + r.below(61)
                } else {
                    62 + r.below(4)
                }
            };
            if kind == 0 {
                let i = if r.one_in(12) {
                    dyn_index(r)
                } else {
                    1 + r.below(61)
                };
                int(i, 7, 0x80, b);
                return;
            }
            let (bits, flags) = match kind {
                1 => (4, 0x00),
                2 => (4, 0x10),
                _ => (6, 0x40),
            };
            match r.below(12) {
                0 | 1 => int(1 + r.below(61), bits, flags, b),
                2 => int(dyn_index(r), bits, flags, b),
                _ => {
                    int(0, bits, flags, b);
                    let name = NAMES[r.below(NAMES.len())];
                    string(r, name, safe, b);
                }
            }
            let v = value(r);
            string(r, &v, safe, b);
        }
        fn prefix(r: &mut Rng) -> Vec<u8> {
            let mut b = Vec::new();
            let safe = !r.one_in(20);
            if r.one_in(30) {
                int(r.below(5000), 5, 0x20, &mut b);
            }
            // Mostly a request head as a client sends it.
            if r.one_in(2) {
                b.extend_from_slice(b"\x83\x86");
                b.push(0x04);
                string(r, b"/a.B/C", true, &mut b);
                b.push(0x01);
                string(r, b"example.com", true, &mut b);
                b.push(0x0f);
                b.push(0x10);
                string(r, b"application/grpc", true, &mut b);
            }
            for _ in 0..r.below(5) {
                let kind = [0, 1, 1, 1, 0, 1, 1, 1, 2, 3][r.below(10)];
                field(r, kind, safe, &mut b);
            }
            b
        }
        fn tail(r: &mut Rng) -> Vec<u8> {
            let mut b = Vec::new();
            let mut k = r.below(120);
            if k < 8 && !r.one_in(6) {
                k = 40 + r.below(80);
            }
            match k {
                0 => field(r, 0, false, &mut b),
                1 => field(r, 2, false, &mut b),
                2 => field(r, 3, false, &mut b),
                40..=49 => field(r, 0, true, &mut b),
                50..=59 => field(r, 2, true, &mut b),
                60..=62 => field(r, 3, true, &mut b),
                63..=79 => field(r, 1, true, &mut b),
                3 => {
                    field(r, 1, false, &mut b);
                    field(r, 1, false, &mut b);
                }
                4 => int(r.below(5000), 5, 0x20, &mut b),
                5 => b.extend((0..r.below(8)).map(|_| r.next() as u8)),
                6 => {
                    field(r, 1, false, &mut b);
                    let n = r.below(b.len() + 1);
                    b.truncate(n);
                }
                7 => {
                    // A long tail: past the memo's block limit.
                    b.push(0x00);
                    string(r, b"grpc-timeout", true, &mut b);
                    let v = vec![b'1'; 200 + r.below(100)];
                    string(r, &v, false, &mut b);
                }
                8..=39 | 80..=119 => {
                    // The usual one: the same name, a raw timeout.
                    b.push(0x00);
                    b.push(12);
                    b.extend_from_slice(b"grpc-timeout");
                    let v = value(r);
                    int(v.len(), 7, 0, &mut b);
                    b.extend_from_slice(&v);
                }
                _ => field(r, 1, false, &mut b),
            }
            b
        }

        let mut plus_answers = 0usize;
        let (mut steps, mut broken) = (0usize, 0usize);
        let mut held: Vec<(Arc<[HeaderField]>, Vec<HeaderField>)> = Vec::new();
        for seed in 1..=600u64 {
            let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut memo = Decoder::new(4096);
            let mut fresh = Decoder::new(4096);
            let mut v = Validated::default();
            let mut prefixes: Vec<Vec<u8>> = (0..1 + r.below(5)).map(|_| prefix(&mut r)).collect();
            for step in 0..300 {
                if r.one_in(25) {
                    let i = r.below(prefixes.len());
                    prefixes[i] = prefix(&mut r);
                }
                if r.one_in(400) {
                    let size = [0, 100, 4096, r.below(4097)][r.below(4)];
                    memo.set_max_table_size(size);
                    fresh.set_max_table_size(size);
                }
                let mut block = prefixes[r.below(prefixes.len())].clone();
                if !r.one_in(10) {
                    block.extend(tail(&mut r));
                }
                let block = Bytes::from(block);
                let limit = match r.below(4) {
                    0 => r.below(700),
                    1 => 16 * 1024,
                    _ => usize::MAX,
                };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let ra = memo.decode_shared(&block, limit, &mut a);
                let known = memo.last_known();
                let rb = fresh.decode_into(&block, Slot::Unfit, limit, &mut b);
                let what = format!(
                    "seed {seed} step {step} block {:02x?} limit {limit}",
                    &block[..]
                );
                assert_eq!(ra.as_ref().err(), rb.as_ref().err(), "{what}");
                steps += 1;
                if ra.as_ref().is_err_and(|e| e.is_connection_error()) {
                    broken += 1;
                    break;
                }
                let got: Vec<HeaderField> = match ra {
                    Ok(Some(shared)) => {
                        if matches!(known, Some(Known::Plus(_))) {
                            plus_answers += 1;
                        }
                        if r.one_in(3) {
                            held.push((shared.clone(), shared.to_vec()));
                        }
                        shared.to_vec()
                    }
                    _ => a,
                };
                assert_eq!(got, b, "{what}");
                assert_eq!(
                    memo.last_block_checked(),
                    fresh.last_block_checked(),
                    "{what}"
                );
                assert_eq!(memo.table_size(), fresh.table_size(), "{what}");
                if rb.is_err() {
                    continue;
                }
                let section = [Section::Request, Section::Response, Section::Trailers][r.below(3)];
                let checked = memo.last_block_checked();
                assert_eq!(
                    v.check(section, &got, checked, known),
                    validate_checked(section, &got, false),
                    "{what} {section:?} {known:?}"
                );
            }
            held.retain(|(list, seen)| {
                assert_eq!(&list[..], &seen[..], "a held answer changed");
                r.one_in(2)
            });
        }
        eprintln!("steps {steps}, connections broken {broken}, tail answers {plus_answers}");
        assert!(
            plus_answers > 10_000,
            "the tail path was taken {plus_answers} times"
        );
    }
}
