//! gRPC status: the 17 status codes, the [`Status`] a call ends with, and
//! how a status travels on the wire.
//!
//! This module owns:
//!
//! - [`Code`] and its numbering, names and the two mapping tables a client
//!   needs when a peer or an intermediary did not send a `grpc-status`:
//!   HTTP status to gRPC code ([`Code::from_http_status`]) and HTTP/2
//!   `RST_STREAM` error code to gRPC code ([`Code::from_h2_reason`]);
//! - parsing `grpc-status` values ([`Code::parse_wire`]);
//! - the percent-encoding of `grpc-message` ([`encode_grpc_message`],
//!   [`decode_grpc_message`]), strict when encoding and lenient when
//!   decoding, as the protocol requires;
//! - turning a [`Status`] into trailer fields and back
//!   ([`Status::to_wire`], [`Status::from_wire`]).

use std::fmt;

use bytes::Bytes;

use super::base64;

/// Name of the trailer that carries the status code.
pub const GRPC_STATUS: &str = "grpc-status";
/// Name of the trailer that carries the percent-encoded status message.
pub const GRPC_MESSAGE: &str = "grpc-message";
/// Name of the trailer that carries the binary status details (base64 on
/// the wire, by convention a serialized `google.rpc.Status`).
pub const GRPC_STATUS_DETAILS_BIN: &str = "grpc-status-details-bin";

/// A gRPC status code.
///
/// The numbering is fixed by the protocol. Numbers outside `0..=16` that
/// arrive from a peer are read as [`Code::Unknown`] (see
/// [`Code::from_i32`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 0: success.
    Ok = 0,
    /// 1: the operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// 2: an error with no better code, or a status from an unknown space.
    Unknown = 2,
    /// 3: the client gave an invalid argument.
    InvalidArgument = 3,
    /// 4: the deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// 5: a requested entity was not found.
    NotFound = 5,
    /// 6: the entity a client tried to create already exists.
    AlreadyExists = 6,
    /// 7: the caller may not perform the operation.
    PermissionDenied = 7,
    /// 8: a resource (quota, memory, message size) has been exhausted.
    ResourceExhausted = 8,
    /// 9: the system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// 10: the operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// 11: the operation went past the valid range.
    OutOfRange = 11,
    /// 12: the operation is not implemented or supported.
    Unimplemented = 12,
    /// 13: an invariant expected by the system is broken.
    Internal = 13,
    /// 14: the service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// 15: unrecoverable data loss or corruption.
    DataLoss = 15,
    /// 16: the request has no valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code with number `value`; numbers outside `0..=16` give
    /// [`Code::Unknown`].
    pub const fn from_i32(value: i32) -> Code {
        match value {
            0 => Code::Ok,
            1 => Code::Cancelled,
            3 => Code::InvalidArgument,
            4 => Code::DeadlineExceeded,
            5 => Code::NotFound,
            6 => Code::AlreadyExists,
            7 => Code::PermissionDenied,
            8 => Code::ResourceExhausted,
            9 => Code::FailedPrecondition,
            10 => Code::Aborted,
            11 => Code::OutOfRange,
            12 => Code::Unimplemented,
            13 => Code::Internal,
            14 => Code::Unavailable,
            15 => Code::DataLoss,
            16 => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The code's number.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The code's canonical upper-case name, e.g. `"DEADLINE_EXCEEDED"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The code whose [`as_str`](Code::as_str) name is `name`, if any.
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Parses a `grpc-status` value: one or more ASCII digits, nothing
    /// else (no sign, no spaces).
    ///
    /// Returns `None` when the value is not a decimal number that fits in
    /// an `i32`; a well-formed number outside `0..=16` gives
    /// [`Code::Unknown`]. Leading zeros are accepted although senders must
    /// not produce them.
    pub fn parse_wire(value: &[u8]) -> Option<Code> {
        if value.is_empty() {
            return None;
        }
        let mut n: i32 = 0;
        for &b in value {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
        }
        Some(Code::from_i32(n))
    }

    /// The code a client reports for a response that carried HTTP status
    /// `status` and no `grpc-status` (gRPC's http-grpc-status-mapping):
    ///
    /// | HTTP status | code |
    /// |---|---|
    /// | 400, 431 | `INTERNAL` |
    /// | 401 | `UNAUTHENTICATED` |
    /// | 403 | `PERMISSION_DENIED` |
    /// | 404 | `UNIMPLEMENTED` |
    /// | 429, 502, 503, 504 | `UNAVAILABLE` |
    /// | anything else, 200 included | `UNKNOWN` |
    ///
    /// Only for that case: when `grpc-status` is present it wins. Servers
    /// must not use this table backwards. 1xx responses are not final and
    /// should be skipped before this is asked.
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 | 431 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code a call ends with when its stream is reset with the HTTP/2
    /// error code `reason` (RFC 9113 §7) before a status arrived:
    ///
    /// | RST_STREAM code | code |
    /// |---|---|
    /// | `REFUSED_STREAM` (0x7) | `UNAVAILABLE` (nothing was processed; safe to retry) |
    /// | `CANCEL` (0x8) | `CANCELLED` |
    /// | `ENHANCE_YOUR_CALM` (0xb) | `RESOURCE_EXHAUSTED` |
    /// | `INADEQUATE_SECURITY` (0xc) | `PERMISSION_DENIED` |
    /// | every other code, unknown codes included | `INTERNAL` |
    ///
    /// "Every other" covers `NO_ERROR` (a status should have been sent),
    /// `PROTOCOL_ERROR`, `INTERNAL_ERROR`, `FLOW_CONTROL_ERROR`,
    /// `SETTINGS_TIMEOUT`, `FRAME_SIZE_ERROR`, `COMPRESSION_ERROR`,
    /// `CONNECT_ERROR`, and `STREAM_CLOSED`, for which gRPC defines no
    /// mapping (there is no open stream to report on) and which we report
    /// as `INTERNAL` should it ever reach a call. RFC 9113 lets unknown
    /// codes be treated as `INTERNAL_ERROR`, hence `INTERNAL` too.
    ///
    /// A server that receives `CANCEL` from a client treats it as the
    /// call's cancellation; `CANCELLED` is the code it records for it.
    pub const fn from_h2_reason(reason: u32) -> Code {
        match reason {
            0x7 => Code::Unavailable,
            0x8 => Code::Cancelled,
            0xb => Code::ResourceExhausted,
            0xc => Code::PermissionDenied,
            _ => Code::Internal,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Code> for i32 {
    fn from(code: Code) -> i32 {
        code.as_i32()
    }
}

/// The outcome of a call: a [`Code`], a human-readable message and opaque
/// binary details.
///
/// The message is Unicode; on the wire it is UTF-8, percent-encoded (see
/// [`encode_grpc_message`]). The details are carried, base64-encoded, in
/// the `grpc-status-details-bin` trailer; by convention they hold a
/// serialized `google.rpc.Status`, which this crate does not interpret.
#[derive(Debug, PartialEq, Eq)]
pub struct Status {
    code: Code,
    message: String,
    details: Bytes,
}

impl Clone for Status {
    fn clone(&self) -> Self {
        // Most statuses carry neither message nor details (OK above all):
        // those are made afresh instead of cloned field by field.
        if self.message.is_empty() && self.details.is_empty() {
            return Status {
                code: self.code,
                message: String::new(),
                details: Bytes::new(),
            };
        }
        Status {
            code: self.code,
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with `code` and `message`, and no details.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
        }
    }

    /// The `OK` status, with an empty message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, String::new())
    }

    constructors! {
        /// A `CANCELLED` status.
        cancelled => Cancelled,
        /// An `UNKNOWN` status.
        unknown => Unknown,
        /// An `INVALID_ARGUMENT` status.
        invalid_argument => InvalidArgument,
        /// A `DEADLINE_EXCEEDED` status.
        deadline_exceeded => DeadlineExceeded,
        /// A `NOT_FOUND` status.
        not_found => NotFound,
        /// An `ALREADY_EXISTS` status.
        already_exists => AlreadyExists,
        /// A `PERMISSION_DENIED` status.
        permission_denied => PermissionDenied,
        /// A `RESOURCE_EXHAUSTED` status.
        resource_exhausted => ResourceExhausted,
        /// A `FAILED_PRECONDITION` status.
        failed_precondition => FailedPrecondition,
        /// An `ABORTED` status.
        aborted => Aborted,
        /// An `OUT_OF_RANGE` status.
        out_of_range => OutOfRange,
        /// An `UNIMPLEMENTED` status.
        unimplemented => Unimplemented,
        /// An `INTERNAL` status.
        internal => Internal,
        /// An `UNAVAILABLE` status.
        unavailable => Unavailable,
        /// A `DATA_LOSS` status.
        data_loss => DataLoss,
        /// An `UNAUTHENTICATED` status.
        unauthenticated => Unauthenticated,
    }

    /// This status with its binary details replaced by `details`.
    pub fn with_details(mut self, details: impl Into<Bytes>) -> Status {
        self.details = details.into();
        self
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message (may be empty).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The binary details (empty when there are none).
    pub fn details(&self) -> &Bytes {
        &self.details
    }

    /// Whether the code is [`Code::Ok`].
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// The status a client reports for a non-gRPC response: HTTP status
    /// `http_status` and no `grpc-status` (see [`Code::from_http_status`]).
    pub fn from_http_status(http_status: u16) -> Status {
        Status::new(
            Code::from_http_status(http_status),
            format!("HTTP status {http_status} without grpc-status"),
        )
    }

    /// The status a call ends with when its stream was reset with HTTP/2
    /// error code `reason` (see [`Code::from_h2_reason`]).
    pub fn from_h2_reason(reason: u32) -> Status {
        Status::new(
            Code::from_h2_reason(reason),
            format!("stream reset with HTTP/2 error code {reason:#x}"),
        )
    }

    /// Builds a status from received trailer values.
    ///
    /// `grpc_status` is the `grpc-status` value; a value that is not a
    /// decimal number gives `UNKNOWN` with a message that quotes it
    /// (escaped). `grpc_message` is the raw `grpc-message` value and is
    /// decoded leniently (never an error). `details_bin` is the raw
    /// `grpc-status-details-bin` value; if it is not valid base64 the
    /// details are left empty rather than failing the call.
    pub fn from_wire(
        grpc_status: &[u8],
        grpc_message: Option<&[u8]>,
        details_bin: Option<&[u8]>,
    ) -> Status {
        let message = grpc_message.map(decode_grpc_message).unwrap_or_default();
        let details = details_bin
            .and_then(|v| base64::decode(v).ok())
            .map(Bytes::from)
            .unwrap_or_default();
        match Code::parse_wire(grpc_status) {
            Some(code) => Status {
                code,
                message,
                details,
            },
            None => Status {
                code: Code::Unknown,
                message: format!(
                    "malformed grpc-status \"{}\"{}{}",
                    grpc_status.escape_ascii(),
                    if message.is_empty() { "" } else { ": " },
                    message
                ),
                details,
            },
        }
    }

    /// Appends this status as trailer fields: `grpc-status` always,
    /// `grpc-message` when the message is not empty (percent-encoded) and
    /// `grpc-status-details-bin` when there are details (unpadded base64).
    pub fn to_wire(&self, out: &mut Vec<(Bytes, Bytes)>) {
        self.each_wire_field(|name, value| out.push((name, value)));
    }

    /// [`to_wire`](Self::to_wire) straight into a header list.
    pub(crate) fn to_fields(&self, out: &mut Vec<crate::hpack::HeaderField>) {
        self.each_wire_field(|name, value| {
            out.push(crate::hpack::HeaderField {
                name,
                value,
                sensitive: false,
            })
        });
    }

    fn each_wire_field(&self, mut push: impl FnMut(Bytes, Bytes)) {
        // Codes are 0 to 16: their decimal forms are constants.
        const DECIMAL: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        let code = match DECIMAL.get(self.code.as_i32() as usize) {
            Some(d) => Bytes::from_static(d.as_bytes()),
            None => Bytes::from(self.code.as_i32().to_string()),
        };
        push(Bytes::from_static(GRPC_STATUS.as_bytes()), code);
        if !self.message.is_empty() {
            push(
                Bytes::from_static(GRPC_MESSAGE.as_bytes()),
                Bytes::from(encode_grpc_message(&self.message)),
            );
        }
        if !self.details.is_empty() {
            let mut v = Vec::with_capacity(base64::encoded_len(self.details.len()));
            base64::encode(&self.details, &mut v);
            push(
                Bytes::from_static(GRPC_STATUS_DETAILS_BIN.as_bytes()),
                Bytes::from(v),
            );
        }
    }
}

impl Default for Status {
    fn default() -> Status {
        Status::ok()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

/// Whether `b` may appear unescaped in a `grpc-message` value: printable
/// ASCII and space, except `%`.
fn is_unreserved(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'%'
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes a status message for the `grpc-message` trailer.
///
/// The message is taken as UTF-8 bytes; every byte outside `%x20-%x7E`,
/// and `%` itself, becomes `%XX` with upper-case hex digits. The result is
/// always a valid header value.
pub fn encode_grpc_message(message: &str) -> String {
    let bytes = message.as_bytes();
    let extra = bytes.iter().filter(|&&b| !is_unreserved(b)).count() * 2;
    let mut out = String::with_capacity(bytes.len() + extra);
    for &b in bytes {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes a received `grpc-message` value. Never fails:
///
/// - `%XX` with two hex digits (either case) becomes the byte `XX`;
/// - a `%` not followed by two hex digits is kept literally, as are the
///   characters after it;
/// - every other byte is kept as it is, even ones a sender should have
///   escaped;
/// - the resulting bytes are read as UTF-8, with each invalid sequence
///   replaced by U+FFFD.
pub fn decode_grpc_message(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while let Some(&b) = value.get(i) {
        if b == b'%' {
            let hi = value.get(i + 1).copied().and_then(hex_value);
            let lo = value.get(i + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_goes_out_as_its_decimal_number() {
        for code in Code::ALL {
            let mut pairs = Vec::new();
            Status::new(code, "").to_wire(&mut pairs);
            assert_eq!(pairs.len(), 1);
            assert_eq!(pairs[0].1, code.as_i32().to_string().as_bytes());
        }
    }
    use proptest::prelude::*;

    #[test]
    fn code_numbers_and_names_round_trip() {
        for (i, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(code.as_i32(), i as i32);
            assert_eq!(Code::from_i32(i as i32), code);
            assert_eq!(Code::from_name(code.as_str()), Some(code));
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
        assert_eq!(Code::from_name("deadline_exceeded"), None);
    }

    #[test]
    fn parse_wire_values() {
        assert_eq!(Code::parse_wire(b"0"), Some(Code::Ok));
        assert_eq!(Code::parse_wire(b"14"), Some(Code::Unavailable));
        assert_eq!(Code::parse_wire(b"014"), Some(Code::Unavailable));
        assert_eq!(Code::parse_wire(b"99"), Some(Code::Unknown));
        assert_eq!(Code::parse_wire(b"2147483647"), Some(Code::Unknown));
        assert_eq!(Code::parse_wire(b"2147483648"), None);
        assert_eq!(Code::parse_wire(b""), None);
        assert_eq!(Code::parse_wire(b"+1"), None);
        assert_eq!(Code::parse_wire(b" 1"), None);
        assert_eq!(Code::parse_wire(b"OK"), None);
    }

    #[test]
    fn status_to_wire_and_back() {
        let s = Status::not_found("no such user: ünïcode 100%")
            .with_details(Bytes::from_static(b"\x08\x05\x12\x01x"));
        let mut fields = Vec::new();
        s.to_wire(&mut fields);
        assert_eq!(fields.len(), 3);
        assert_eq!(&fields[0].0[..], b"grpc-status");
        assert_eq!(&fields[0].1[..], b"5");
        assert_eq!(&fields[1].1[..], b"no such user: %C3%BCn%C3%AFcode 100%25");
        assert_eq!(&fields[2].0[..], b"grpc-status-details-bin");
        assert_eq!(&fields[2].1[..], b"CAUSAXg");
        let back = Status::from_wire(&fields[0].1, Some(&fields[1].1), Some(&fields[2].1));
        assert_eq!(back, s);
    }

    #[test]
    fn ok_status_sends_only_the_code() {
        let mut fields = Vec::new();
        Status::ok().to_wire(&mut fields);
        assert_eq!(fields, vec![(Bytes::from("grpc-status"), Bytes::from("0"))]);
    }

    #[test]
    fn malformed_status_is_unknown_with_the_value_quoted() {
        let s = Status::from_wire(b"ab\xff", Some(b"boom"), None);
        assert_eq!(s.code(), Code::Unknown);
        assert_eq!(s.message(), r#"malformed grpc-status "ab\xff": boom"#);
        let s = Status::from_wire(b"13", None, Some(b"!!"));
        assert_eq!(s.code(), Code::Internal);
        assert!(s.details().is_empty());
    }

    #[test]
    fn lenient_message_decoding() {
        assert_eq!(decode_grpc_message(b"a%2"), "a%2");
        assert_eq!(decode_grpc_message(b"%zz%41"), "%zzA");
        assert_eq!(decode_grpc_message(b"%e2%82%ac"), "\u{20ac}");
        assert_eq!(decode_grpc_message(b"%FF ok"), "\u{fffd} ok");
        assert_eq!(decode_grpc_message(b"%"), "%");
    }

    #[test]
    fn display() {
        assert_eq!(Status::ok().to_string(), "OK");
        assert_eq!(
            Status::deadline_exceeded("late").to_string(),
            "DEADLINE_EXCEEDED: late"
        );
    }

    proptest! {
        #[test]
        fn message_round_trip(s in any::<String>()) {
            let enc = encode_grpc_message(&s);
            prop_assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            prop_assert_eq!(decode_grpc_message(enc.as_bytes()), s);
        }

        #[test]
        fn decode_never_panics(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_grpc_message(&v);
            let _ = Code::parse_wire(&v);
        }
    }
}
