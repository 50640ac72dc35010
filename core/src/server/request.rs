//! Reading a request head: what makes a request a gRPC call, and how the
//! server answers one that is not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::call::field;
use crate::grpc::compression::{CompressionRegistry, Compressor, GRPC_ACCEPT_ENCODING, IDENTITY};
use crate::grpc::head::{HTTP_UNSUPPORTED_MEDIA_TYPE, parse_content_type, valid_path};
use crate::grpc::metadata::{MetadataMap, is_reserved};
use crate::grpc::timeout::parse_timeout;
use crate::grpc::{Code, Status};
use crate::hpack::HeaderField;
use crate::recent::Recent;

/// The head of a gRPC request, as the server application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestHead {
    /// `/package.Service/Method`.
    ///
    /// The text fields are shared: a connection hands the same allocation
    /// to every call that sent the same value (up to eight recent ones).
    pub path: Arc<str>,
    /// `:authority`, if sent.
    pub authority: Option<Arc<str>>,
    /// Custom metadata (reserved and invalid fields left out).
    pub metadata: MetadataMap,
    /// The client's `grpc-timeout`.
    pub timeout: Option<Duration>,
    /// When the call expires: arrival time plus the timeout. The server
    /// connection ends the call with DEADLINE_EXCEEDED then.
    pub deadline: Option<Instant>,
    /// The request messages' `grpc-encoding`, if not identity.
    pub encoding: Option<Arc<str>>,
    /// The client's `grpc-accept-encoding`.
    pub accept_encoding: Option<Bytes>,
    /// The request's `content-type` (echoed in the response).
    pub content_type: Bytes,
    /// The client's `user-agent`.
    pub user_agent: Option<Arc<str>>,
}

impl RequestHead {
    /// The service part of the path (`package.Service`).
    pub fn service(&self) -> &str {
        self.path
            .get(1..)
            .and_then(|p| p.split_once('/'))
            .map_or("", |(s, _)| s)
    }

    /// The method part of the path (`Method`).
    pub fn method(&self) -> &str {
        self.path
            .get(1..)
            .and_then(|p| p.split_once('/'))
            .map_or("", |(_, m)| m)
    }
}

/// What to do with a request.
pub(crate) enum Verdict {
    /// A gRPC call for the application, and the decompressor of its
    /// messages.
    Call(RequestHead, Arc<dyn Compressor>),
    /// Not gRPC: answer with this HTTP status (and this gRPC status).
    Http(u16, Status),
    /// gRPC, but refused: a trailers-only answer with this status and
    /// extra fields.
    Status(Status, Vec<HeaderField>),
}

fn text(v: &Bytes) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(v).into_owned(),
    }
}

/// How many texts a connection keeps for reuse.
const TEXTS: usize = 8;

/// The longest text kept for reuse.
const TEXT_MAX: usize = 256;

/// Recent request texts (paths, authorities, user agents, encodings) of one
/// connection: a client sends the same few call after call, so a call gets
/// a shared copy of a text seen before instead of an allocation of its own.
/// Holds at most eight texts of at most 256 bytes.
#[derive(Debug, Default)]
pub(crate) struct Texts {
    recent: Recent<(Bytes, Arc<str>), TEXTS>,
}

impl Texts {
    /// `v` as text (invalid UTF-8 replaced), shared with earlier calls
    /// where it was the same.
    pub(crate) fn get(&mut self, v: &Bytes) -> Arc<str> {
        if let Some((_, t)) = self.recent.iter().find(|(b, _)| b[..] == v[..]) {
            return t.clone();
        }
        let t: Arc<str> = match std::str::from_utf8(v) {
            Ok(s) => Arc::from(s),
            Err(_) => Arc::from(String::from_utf8_lossy(v)),
        };
        if v.len() <= TEXT_MAX {
            // The key is a copy: a slice would keep its receive buffer.
            self.recent.put((Bytes::copy_from_slice(v), t.clone()));
        }
        t
    }
}

/// Request heads read from blocks the HPACK decoder answered from its
/// memo, by the block's id (see `h2::Fields::block_id`): the same id
/// is the same fields, so the next head with it is not read again. Four
/// are kept (a client calls a few methods in turn); what is kept holds
/// nothing of a received buffer, since a remembered block's fields are the
/// decoder's own.
pub(crate) type Heads = Recent<(u64, Arc<RequestHead>, Arc<dyn Compressor>), 4>;

/// The values of the request fields the server reads, each the first of
/// its name (as [`crate::call::find`] would give), found in one pass.
#[derive(Default)]
struct Known<'a> {
    method: Option<&'a Bytes>,
    path: Option<&'a Bytes>,
    authority: Option<&'a Bytes>,
    content_type: Option<&'a Bytes>,
    timeout: Option<&'a Bytes>,
    encoding: Option<&'a Bytes>,
    accept_encoding: Option<&'a Bytes>,
    user_agent: Option<&'a Bytes>,
    /// A field that is custom metadata (no reserved name) is there.
    custom: bool,
}

impl<'a> Known<'a> {
    fn scan(fields: &'a [HeaderField]) -> Self {
        let mut k = Known::default();
        for f in fields {
            let slot = match &f.name[..] {
                b":method" => &mut k.method,
                b":path" => &mut k.path,
                b":authority" => &mut k.authority,
                b"content-type" => &mut k.content_type,
                b"grpc-timeout" => &mut k.timeout,
                b"grpc-encoding" => &mut k.encoding,
                b"grpc-accept-encoding" => &mut k.accept_encoding,
                b"user-agent" => &mut k.user_agent,
                name => {
                    k.custom |= !is_reserved(name);
                    continue;
                }
            };
            slot.get_or_insert(&f.value);
        }
        k
    }
}

pub(crate) fn parse(
    fields: &[HeaderField],
    registry: &CompressionRegistry,
    texts: &mut Texts,
    now: Instant,
) -> Verdict {
    let known = Known::scan(fields);
    // The h2 layer has checked that :method, :scheme and :path are there.
    if known.method.is_none_or(|m| &m[..] != b"POST") {
        return Verdict::Http(
            405,
            Status::new(Code::Internal, "gRPC requires method POST"),
        );
    }
    let content_type = match known.content_type {
        Some(ct) if parse_content_type(ct).is_ok() => ct.clone(),
        other => {
            let got = other.map(text).unwrap_or_default();
            return Verdict::Http(
                HTTP_UNSUPPORTED_MEDIA_TYPE,
                Status::new(
                    Code::Internal,
                    format!("invalid gRPC request content-type \"{got}\""),
                ),
            );
        }
    };
    let path = known.path.cloned().unwrap_or_default();
    if !valid_path(&path) {
        return Verdict::Status(
            Status::new(
                Code::Unimplemented,
                format!("malformed method name \"{}\"", text(&path)),
            ),
            Vec::new(),
        );
    }
    let timeout = match known.timeout.map(|v| parse_timeout(v)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            return Verdict::Status(
                Status::new(Code::Internal, format!("malformed grpc-timeout: {e}")),
                Vec::new(),
            );
        }
    };
    let encoding = known.encoding;
    let compressor = match registry.for_receive(encoding.map(|b| &b[..])) {
        Ok(c) => c,
        Err(status) => {
            // What we accept, always named here (compression.md): identity
            // when that is all, though other answers leave it unsaid.
            let accepted = registry
                .accept_encoding()
                .unwrap_or(Bytes::from_static(IDENTITY.as_bytes()));
            return Verdict::Status(status, vec![field(GRPC_ACCEPT_ENCODING, accepted)]);
        }
    };
    // Most requests carry no custom metadata: no second pass for them.
    let metadata = if known.custom {
        MetadataMap::from_wire(
            fields
                .iter()
                .filter(|f| !f.name.starts_with(b":"))
                .map(|f| (&f.name[..], &f.value[..])),
        )
    } else {
        MetadataMap::new()
    };
    let head = RequestHead {
        path: texts.get(&path),
        authority: known.authority.map(|a| texts.get(a)),
        metadata,
        timeout,
        deadline: timeout.and_then(|t| now.checked_add(t)),
        encoding: encoding
            .filter(|e| !e.eq_ignore_ascii_case(b"identity"))
            .map(|e| texts.get(e)),
        accept_encoding: known.accept_encoding.cloned(),
        content_type,
        user_agent: known.user_agent.map(|u| texts.get(u)),
    };
    Verdict::Call(head, compressor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_finds_what_find_finds() {
        use crate::call::find;
        use crate::grpc::compression::GRPC_ENCODING;
        use crate::grpc::timeout::GRPC_TIMEOUT;
        let f = |n: &'static str, v: &'static str| field(n, v);
        let fields = vec![
            f(":method", "POST"),
            f(":path", "/a.B/C"),
            f(":authority", "x"),
            f("content-type", "application/grpc"),
            f("user-agent", "u1"),
            f("grpc-timeout", "1S"),
            f("grpc-encoding", "gzip"),
            f("grpc-accept-encoding", "gzip"),
            f("x-other", "o"),
            f("user-agent", "u2"),
            f("grpc-timeout", "2S"),
            f(":method", "GET"),
        ];
        let k = Known::scan(&fields);
        let names: [(&str, Option<&Bytes>); 8] = [
            (":method", k.method),
            (":path", k.path),
            (":authority", k.authority),
            ("content-type", k.content_type),
            (GRPC_TIMEOUT, k.timeout),
            (GRPC_ENCODING, k.encoding),
            (GRPC_ACCEPT_ENCODING, k.accept_encoding),
            ("user-agent", k.user_agent),
        ];
        for (name, got) in names {
            assert_eq!(got, find(&fields, name), "{name}");
        }
        let none = Known::scan(&fields[8..9]);
        assert!(none.method.is_none() && none.user_agent.is_none());
    }

    /// Skipping the metadata pass when no custom field is there gives the
    /// same map as the pass itself, for every mix of reserved and custom
    /// names.
    #[test]
    fn metadata_only_when_a_custom_field_is_there() {
        let f = |n: &'static str, v: &'static str| field(n, v);
        let pool = [
            f("te", "trailers"),
            f("grpc-timeout", "1S"),
            f("grpc-previous-rpc-attempts", "1"),
            f("content-length", "0"),
            f("x-id", "7"),
            f("trace-bin", "AAE"),
            f("user-agent", "u"),
            f("Bad Name", "v"),
        ];
        for mask in 0u32..(1 << pool.len()) {
            let mut fields = vec![
                f(":method", "POST"),
                f(":scheme", "http"),
                f(":path", "/a.B/C"),
                f("content-type", "application/grpc"),
            ];
            fields.extend(
                pool.iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, x)| x.clone()),
            );
            let registry = CompressionRegistry::default();
            let Verdict::Call(head, _) = parse(
                &fields,
                &registry,
                &mut Texts::default(),
                crate::test_clock::origin(),
            ) else {
                panic!("mask {mask:b}: not a call");
            };
            let all = MetadataMap::from_wire(
                fields
                    .iter()
                    .filter(|x| !x.name.starts_with(b":"))
                    .map(|x| (&x.name[..], &x.value[..])),
            );
            assert_eq!(head.metadata, all, "mask {mask:b}");
            assert_eq!(
                head.metadata.is_empty(),
                mask & 0b0011_0000 == 0,
                "mask {mask:b}"
            );
        }
    }

    #[test]
    fn texts_are_shared_between_calls() {
        let mut texts = Texts::default();
        let a = texts.get(&Bytes::copy_from_slice(b"/a.B/C"));
        let again = texts.get(&Bytes::copy_from_slice(b"/a.B/C"));
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(&*a, "/a.B/C");
        // Invalid UTF-8 is replaced, and the replacement shared too.
        let bad = texts.get(&Bytes::from_static(b"a\xffc"));
        assert_eq!(&*bad, "a\u{fffd}c");
        assert!(Arc::ptr_eq(
            &bad,
            &texts.get(&Bytes::from_static(b"a\xffc"))
        ));
        // The keys are copies, not slices of the received block.
        let block = Bytes::copy_from_slice(b"xx/d.E/F");
        let _ = texts.get(&block.slice(2..));
        assert!(
            texts
                .recent
                .iter()
                .all(|(k, _)| !block.as_ptr_range().contains(&k.as_ptr()))
        );
        // Long texts are not kept; at most eight are.
        let long = Bytes::from(vec![b'x'; TEXT_MAX + 1]);
        let l1 = texts.get(&long);
        assert!(!Arc::ptr_eq(&l1, &texts.get(&long)));
        for i in 0..20 {
            let _ = texts.get(&Bytes::from(format!("/s.S/M{i}")));
        }
        assert_eq!(texts.recent.len(), TEXTS);
        let _ = texts.get(&Bytes::from_static(b"/s.S/M19"));
        assert_eq!(texts.recent.len(), TEXTS);
    }

    #[test]
    fn text_is_lossy_utf8() {
        assert_eq!(text(&Bytes::from_static(b"abc")), "abc");
        assert_eq!(text(&Bytes::from_static(b"a\xffc")), "a\u{fffd}c");
    }

    #[test]
    fn paths() {
        for ok in ["/a.B/C", "/helloworld.Greeter/SayHello"] {
            assert!(valid_path(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "/", "a/b", "/a", "/a/", "//b", "/a/b/c", "/a//", "/a/b/", "//",
        ] {
            assert!(!valid_path(bad.as_bytes()), "{bad}");
        }
    }
}
