//! The standard gRPC health checking service, `grpc.health.v1.Health`
//! (gRPC's `doc/health-checking.md`), without I/O: its two messages and
//! their codecs, and the table of serving statuses that both adapters'
//! health services read.
//!
//! The messages are tiny protobuf messages, encoded and decoded here by
//! hand (no generated code, no protobuf dependency):
//!
//! ```text
//! message HealthCheckRequest  { string service = 1; }
//! message HealthCheckResponse { ServingStatus status = 1; }
//! ```
//!
//! The service semantics the adapters build on [`HealthTable`]:
//!
//! * `Check(service)` answers the service's status, or NOT_FOUND for a
//!   service the table does not know. The empty name is the server as a
//!   whole.
//! * `Watch(service)` streams the status at once, then every change;
//!   a service the table does not know is `SERVICE_UNKNOWN` until it is
//!   set.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use crate::codec::Codec;
use crate::grpc::{Code, Status};
use crate::protowire::{Value, put_bytes, put_uint, walk};

/// The service's full name.
pub const SERVICE: &str = "grpc.health.v1.Health";
/// The path of `Check`.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
/// The path of `Watch`.
pub const WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";

/// `HealthCheckResponse.ServingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServingStatus {
    /// 0: not known.
    Unknown,
    /// 1: serving.
    Serving,
    /// 2: not serving.
    NotServing,
    /// 3: only in `Watch`: the service is not known to the server.
    ServiceUnknown,
}

impl ServingStatus {
    /// The wire number.
    pub fn number(self) -> u64 {
        match self {
            ServingStatus::Unknown => 0,
            ServingStatus::Serving => 1,
            ServingStatus::NotServing => 2,
            ServingStatus::ServiceUnknown => 3,
        }
    }

    /// From the wire number; numbers this version does not know read as
    /// `Unknown` (proto3 enums are open).
    pub fn from_number(n: u64) -> ServingStatus {
        match n {
            1 => ServingStatus::Serving,
            2 => ServingStatus::NotServing,
            3 => ServingStatus::ServiceUnknown,
            _ => ServingStatus::Unknown,
        }
    }
}

/// Encodes a `HealthCheckRequest`.
pub fn encode_request(service: &str) -> Bytes {
    let mut b = BytesMut::with_capacity(service.len() + 6);
    if !service.is_empty() {
        put_bytes(&mut b, 1, service.as_bytes());
    }
    b.freeze()
}

/// Decodes a `HealthCheckRequest`: the service name. Unknown fields are
/// skipped; a malformed message is INVALID_ARGUMENT.
pub fn decode_request(payload: &[u8]) -> Result<String, Status> {
    let mut service = None;
    walk(payload, bad, |field, value| {
        // A name's length is bounded by the message size limit; one the
        // table does not know is answered as unknown, whatever its length.
        if let (1, Value::Bytes(v)) = (field, value) {
            let s = std::str::from_utf8(v).map_err(|_| bad("service name is not UTF-8"))?;
            service = Some(s.to_owned());
        }
        Ok(())
    })?;
    Ok(service.unwrap_or_default())
}

/// Encodes a `HealthCheckResponse`.
pub fn encode_response(status: ServingStatus) -> Bytes {
    let n = status.number();
    if n == 0 {
        return Bytes::new();
    }
    let mut b = BytesMut::with_capacity(3);
    put_uint(&mut b, 1, n);
    b.freeze()
}

/// Decodes a `HealthCheckResponse`.
pub fn decode_response(payload: &[u8]) -> Result<ServingStatus, Status> {
    let mut status = ServingStatus::Unknown;
    walk(payload, bad, |field, value| {
        if let (1, Value::Varint(n)) = (field, value) {
            status = ServingStatus::from_number(n);
        }
        Ok(())
    })?;
    Ok(status)
}

/// The server's side of the service: requests in, statuses out.
#[derive(Debug, Clone, Copy, Default)]
pub struct HealthServerCodec;

impl Codec for HealthServerCodec {
    type Encode = ServingStatus;
    type Decode = String;

    fn encode(&self, item: &ServingStatus) -> Result<Bytes, Status> {
        Ok(encode_response(*item))
    }

    fn decode(&self, payload: Bytes) -> Result<String, Status> {
        decode_request(&payload)
    }
}

/// A client's side: service names out, statuses in.
#[derive(Debug, Clone, Copy, Default)]
pub struct HealthClientCodec;

impl Codec for HealthClientCodec {
    type Encode = String;
    type Decode = ServingStatus;

    fn encode(&self, item: &String) -> Result<Bytes, Status> {
        Ok(encode_request(item))
    }

    fn decode(&self, payload: Bytes) -> Result<ServingStatus, Status> {
        decode_response(&payload)
    }
}

/// The serving status of each service the server reports on, and a
/// version that changes with every change (watchers compare it).
///
/// A new table knows one name, the empty one (the server as a whole),
/// as `Serving`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTable {
    statuses: HashMap<String, ServingStatus>,
    version: u64,
    shut_down: bool,
}

impl Default for HealthTable {
    fn default() -> Self {
        HealthTable::new()
    }
}

impl HealthTable {
    /// A table with the server as a whole serving.
    pub fn new() -> HealthTable {
        let mut statuses = HashMap::new();
        statuses.insert(String::new(), ServingStatus::Serving);
        HealthTable {
            statuses,
            version: 0,
            shut_down: false,
        }
    }

    /// Set `service`'s status. After [`shut_down`](Self::shut_down)
    /// nothing changes (a server going away stays NOT_SERVING). True if
    /// it changed.
    pub fn set(&mut self, service: &str, status: ServingStatus) -> bool {
        if self.shut_down {
            return false;
        }
        let old = self.statuses.insert(service.to_owned(), status);
        let changed = old != Some(status);
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Forget `service`: `Check` says NOT_FOUND again, `Watch`
    /// SERVICE_UNKNOWN. True if it was known.
    pub fn clear(&mut self, service: &str) -> bool {
        if self.shut_down {
            return false;
        }
        let known = self.statuses.remove(service).is_some();
        if known {
            self.version += 1;
        }
        known
    }

    /// Every service NOT_SERVING, for good: the server is shutting down
    /// (grpc-go's `Shutdown`).
    pub fn shut_down(&mut self) {
        for s in self.statuses.values_mut() {
            *s = ServingStatus::NotServing;
        }
        self.shut_down = true;
        self.version += 1;
    }

    /// The answer to `Check(service)`.
    pub fn check(&self, service: &str) -> Result<ServingStatus, Status> {
        self.statuses
            .get(service)
            .copied()
            .ok_or_else(|| Status::new(Code::NotFound, "unknown service"))
    }

    /// What `Watch(service)` reports now.
    pub fn watch(&self, service: &str) -> ServingStatus {
        self.statuses
            .get(service)
            .copied()
            .unwrap_or(ServingStatus::ServiceUnknown)
    }

    /// Changes with every change of the table.
    pub fn version(&self) -> u64 {
        self.version
    }
}

fn bad(what: &str) -> Status {
    Status::new(
        Code::InvalidArgument,
        format!("malformed health check message: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_and_match_protobuf_bytes() {
        // protoc --encode: service: "echo.Echo" is 0a 09 "echo.Echo".
        assert_eq!(&encode_request("echo.Echo")[..], b"\x0a\x09echo.Echo");
        assert_eq!(&encode_request("")[..], b"");
        assert_eq!(decode_request(b"\x0a\x09echo.Echo").unwrap(), "echo.Echo");
        assert_eq!(decode_request(b"").unwrap(), "");
        let long = "s".repeat(300);
        assert_eq!(decode_request(&encode_request(&long)).unwrap(), long);
    }

    #[test]
    fn responses_round_trip() {
        for s in [
            ServingStatus::Unknown,
            ServingStatus::Serving,
            ServingStatus::NotServing,
            ServingStatus::ServiceUnknown,
        ] {
            assert_eq!(decode_response(&encode_response(s)).unwrap(), s);
        }
        assert_eq!(&encode_response(ServingStatus::Serving)[..], b"\x08\x01");
        assert_eq!(&encode_response(ServingStatus::Unknown)[..], b"");
        // An enum number from a newer version reads as Unknown.
        assert_eq!(
            decode_response(b"\x08\x07").unwrap(),
            ServingStatus::Unknown
        );
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // field 2 varint, field 3 fixed64, field 4 bytes, field 5 fixed32,
        // then the service.
        let mut m = vec![0x10, 0x96, 0x01, 0x19];
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(&[0x22, 0x02, b'h', b'i', 0x2d, 0, 0, 0, 0]);
        m.extend_from_slice(b"\x0a\x01x");
        assert_eq!(decode_request(&m).unwrap(), "x");
    }

    #[test]
    fn malformed_messages_are_invalid_argument() {
        for m in [
            &b"\x0a"[..],                                        // key, no length
            b"\x0a\x05ab",                                       // length past the end
            b"\x0a\x02\xff\xfe",                                 // not UTF-8
            b"\x08",                                             // varint missing
            b"\x19\x00",                                         // fixed64 truncated
            b"\x0b",                                             // wire type 3 (groups)
            b"\x00\x01",                                         // field 0
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // 11-byte varint
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",     // past 64 bits
            b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f",         // huge length
        ] {
            let e = decode_request(m).unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{m:?}");
        }
    }

    #[test]
    fn the_table_answers_check_and_watch() {
        let mut t = HealthTable::new();
        assert_eq!(t.check(""), Ok(ServingStatus::Serving));
        assert_eq!(t.check("a.A").unwrap_err().code(), Code::NotFound);
        assert_eq!(t.watch("a.A"), ServingStatus::ServiceUnknown);
        let v0 = t.version();
        assert!(t.set("a.A", ServingStatus::NotServing));
        assert!(!t.set("a.A", ServingStatus::NotServing));
        assert_eq!(t.version(), v0 + 1);
        assert_eq!(t.check("a.A"), Ok(ServingStatus::NotServing));
        assert!(t.clear("a.A"));
        assert_eq!(t.watch("a.A"), ServingStatus::ServiceUnknown);
        t.set("b.B", ServingStatus::Serving);
        t.shut_down();
        assert_eq!(t.check(""), Ok(ServingStatus::NotServing));
        assert_eq!(t.check("b.B"), Ok(ServingStatus::NotServing));
        assert!(!t.set("b.B", ServingStatus::Serving));
        assert_eq!(t.check("b.B"), Ok(ServingStatus::NotServing));
    }
}
