//! Pieces of request and response heads that are plain values: the
//! `content-type` check and our `user-agent`.
//!
//! A gRPC `content-type` is `application/grpc`, optionally followed by
//! `+` and a message format (`proto`, `json`, or anything else), and
//! optionally by `;` parameters. The type is compared ignoring ASCII case,
//! as media types are. A server that receives anything else is not talking
//! to a gRPC client and answers with HTTP status 415
//! ([`HTTP_UNSUPPORTED_MEDIA_TYPE`]) rather than a gRPC status, so that a
//! plain HTTP client does not read the usual 200 as success.

use std::fmt;

/// Header name of the content type.
pub const CONTENT_TYPE: &str = "content-type";

/// The base gRPC content type; what we send.
pub const APPLICATION_GRPC: &str = "application/grpc";

/// HTTP status a server answers a non-gRPC content type with.
pub const HTTP_UNSUPPORTED_MEDIA_TYPE: u16 = 415;

/// Our `user-agent`: `grpc-sansio/<crate version>`.
pub const USER_AGENT: &str = concat!("grpc-sansio/", env!("CARGO_PKG_VERSION"));

/// The `content-type` is missing or not gRPC's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotGrpc;

impl NotGrpc {
    /// The HTTP status to answer with: 415.
    pub fn http_status(&self) -> u16 {
        HTTP_UNSUPPORTED_MEDIA_TYPE
    }
}

impl fmt::Display for NotGrpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("content-type is not application/grpc")
    }
}

impl std::error::Error for NotGrpc {}

/// Whether `path` has the form gRPC requires, `/Service/Method` with
/// neither part empty and no further `/` (PROTOCOL-HTTP2.md, Path). Both
/// roles check it: a client before sending, a server on receipt.
pub(crate) fn valid_path(path: &[u8]) -> bool {
    let Some(rest) = path.strip_prefix(b"/") else {
        return false;
    };
    let Some(slash) = rest.iter().position(|&b| b == b'/') else {
        return false;
    };
    let method = rest.get(slash + 1..).unwrap_or_default();
    slash > 0 && !method.is_empty() && !method.contains(&b'/')
}

/// Checks a `content-type` value and returns its message format: `None`
/// for plain `application/grpc`, `Some(b"proto")` for
/// `application/grpc+proto; charset=x`, and so on. Spaces and tabs before
/// the parameters are ignored; an empty format (`application/grpc+`) is
/// read as none.
///
/// ```
/// use grpc_sansio::grpc::head::{parse_content_type, NotGrpc};
/// assert_eq!(parse_content_type(b"application/grpc"), Ok(None));
/// assert_eq!(parse_content_type(b"application/grpc+json"), Ok(Some(&b"json"[..])));
/// assert_eq!(parse_content_type(b"application/grpc-web"), Err(NotGrpc));
/// ```
pub fn parse_content_type(value: &[u8]) -> Result<Option<&[u8]>, NotGrpc> {
    let base = APPLICATION_GRPC.as_bytes();
    let Some((head, rest)) = value.split_at_checked(base.len()) else {
        return Err(NotGrpc);
    };
    if !head.eq_ignore_ascii_case(base) {
        return Err(NotGrpc);
    }
    // Drop parameters; what is left must be empty or "+format".
    let rest = match rest.iter().position(|&b| b == b';') {
        Some(i) => rest.get(..i).unwrap_or_default(),
        None => rest,
    };
    let rest = rest.trim_ascii_end();
    match rest.split_first() {
        None => Ok(None),
        Some((b'+', [])) => Ok(None),
        Some((b'+', format)) => Ok(Some(format)),
        Some(_) => Err(NotGrpc),
    }
}

/// The `content-type` to send for message format `format`:
/// `application/grpc` or `application/grpc+<format>`.
pub fn content_type(format: Option<&str>) -> String {
    match format {
        Some(f) if !f.is_empty() => format!("{APPLICATION_GRPC}+{f}"),
        _ => APPLICATION_GRPC.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let ok: [(&[u8], Option<&[u8]>); 7] = [
            (b"application/grpc", None),
            (b"application/grpc+proto", Some(b"proto")),
            (b"application/grpc+json", Some(b"json")),
            (b"application/grpc+thrift;x=1", Some(b"thrift")),
            (b"application/grpc; charset=utf-8", None),
            (b"Application/GRPC+proto", Some(b"proto")),
            (b"application/grpc+", None),
        ];
        for (v, f) in ok {
            assert_eq!(
                parse_content_type(v),
                Ok(f),
                "{:?}",
                v.escape_ascii().to_string()
            );
        }
        for v in [
            &b""[..],
            b"application/json",
            b"application/grp",
            b"application/grpc-web",
            b"application/grpcx",
            b"text/plain",
        ] {
            assert_eq!(parse_content_type(v), Err(NotGrpc));
        }
        assert_eq!(NotGrpc.http_status(), 415);
    }

    #[test]
    fn sending_side() {
        assert_eq!(content_type(None), "application/grpc");
        assert_eq!(content_type(Some("proto")), "application/grpc+proto");
        assert!(USER_AGENT.starts_with("grpc-sansio/0."));
    }
}
