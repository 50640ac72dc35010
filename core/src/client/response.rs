//! Building request heads and reading response heads and trailers.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{CallOptions, ClientConfig};
use crate::call::{field, find};
use crate::grpc::compression::{
    CompressionRegistry, Compressor, GRPC_ACCEPT_ENCODING, GRPC_ENCODING, IDENTITY,
};
use crate::grpc::head::{APPLICATION_GRPC, content_type, parse_content_type};
use crate::grpc::metadata::MetadataMap;
use crate::grpc::status::{GRPC_MESSAGE, GRPC_STATUS, GRPC_STATUS_DETAILS_BIN};
use crate::grpc::timeout::{GRPC_TIMEOUT, write_timeout};
use crate::grpc::{Code, Status};
use crate::hpack::HeaderField;

/// The parts of a request head that are the same for every call on a
/// connection, made once (the configuration does not change).
pub(crate) struct RequestConstants {
    scheme: Bytes,
    authority: Bytes,
    user_agent: Bytes,
    accept_encoding: Option<Bytes>,
}

impl RequestConstants {
    pub(crate) fn new(config: &ClientConfig) -> Self {
        RequestConstants {
            scheme: Bytes::copy_from_slice(config.scheme.as_bytes()),
            authority: Bytes::copy_from_slice(config.authority.as_bytes()),
            user_agent: Bytes::copy_from_slice(config.user_agent.as_bytes()),
            accept_encoding: config.compression.accept_encoding(),
        }
    }
}

/// `grpc-timeout` with what is left at `now` of a call's `deadline`.
pub(crate) fn timeout_field(deadline: Instant, now: Instant) -> HeaderField {
    let left = deadline.saturating_duration_since(now);
    let mut buf = [0u8; 9];
    let n = write_timeout(left, &mut buf);
    field(
        GRPC_TIMEOUT,
        Bytes::copy_from_slice(buf.get(..n).unwrap_or_default()),
    )
}

/// The request head of a call, built when its stream opens (so that
/// `grpc-timeout` is what is left of the deadline then).
pub(crate) fn request_fields(
    mut fields: Vec<HeaderField>,
    constants: &RequestConstants,
    path: &Bytes,
    options: &CallOptions,
    encoding: &str,
    now: Instant,
) -> Vec<HeaderField> {
    let authority = match options.authority.as_deref() {
        Some(a) => Bytes::copy_from_slice(a.as_bytes()),
        None => constants.authority.clone(),
    };
    let content_type = match options.content_subtype.as_deref() {
        Some(f) if !f.is_empty() => Bytes::from(content_type(Some(f))),
        _ => Bytes::from_static(APPLICATION_GRPC.as_bytes()),
    };
    // Seven fixed fields, up to three optional ones, then the metadata
    // (`fields` comes empty, with room for them).
    fields.extend([
        field(":method", "POST"),
        field(":scheme", constants.scheme.clone()),
        field(":path", path.clone()),
        field(":authority", authority),
        field("te", "trailers"),
        field("content-type", content_type),
        field("user-agent", constants.user_agent.clone()),
    ]);
    if encoding != IDENTITY {
        fields.push(field(
            GRPC_ENCODING,
            Bytes::copy_from_slice(encoding.as_bytes()),
        ));
    }
    if let Some(accept) = &constants.accept_encoding {
        fields.push(field(GRPC_ACCEPT_ENCODING, accept.clone()));
    }
    // Last of the call's own fields, as after a shared head (see
    // `ClientConnection::open_usual`).
    if let Some(deadline) = options.deadline {
        fields.push(timeout_field(deadline, now));
    }
    options.metadata.to_fields(&mut fields);
    fields
}

/// What reading a response head that opens the response, or trailers,
/// concluded; kept for a block that comes back (see
/// `ClientConnection::responses`).
#[derive(Clone)]
pub(crate) enum Kept {
    /// A head: messages follow, in this encoding.
    Head {
        compressor: Arc<dyn Compressor>,
        metadata: MetadataMap,
    },
    /// Trailers (HTTP status 200).
    Trailers {
        status: Status,
        metadata: MetadataMap,
    },
}

impl Kept {
    pub(crate) fn is_trailers(&self) -> bool {
        matches!(self, Kept::Trailers { .. })
    }
}

/// A response head that does not open the response.
pub(crate) enum Head {
    /// The head was the whole response.
    TrailersOnly {
        status: Status,
        trailers: MetadataMap,
    },
    /// The call cannot go on; reset the stream and end with this status.
    Fail(Status),
}

fn custom_metadata(fields: &[HeaderField]) -> MetadataMap {
    MetadataMap::from_wire(
        fields
            .iter()
            .filter(|f| !f.name.starts_with(b":"))
            .map(|f| (&f.name[..], &f.value[..])),
    )
}

fn http_status(fields: &[HeaderField]) -> u16 {
    find(fields, ":status")
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Reads a response head: `Ok` with what the response needs when it opens
/// one, `Err` with what to do instead (trailers-only, or a head the call
/// cannot go on with).
pub(crate) fn read_head(
    fields: &[HeaderField],
    end_stream: bool,
    registry: &CompressionRegistry,
) -> Result<Kept, Head> {
    let http = http_status(fields);
    if end_stream {
        let (status, trailers) = read_trailers(fields, http);
        return Err(Head::TrailersOnly { status, trailers });
    }
    if http != 200 {
        let s = Status::from_http_status(http);
        return Err(Head::Fail(Status::new(
            s.code(),
            format!("unexpected HTTP status {http} from the server"),
        )));
    }
    match find(fields, "content-type") {
        Some(ct) if parse_content_type(ct).is_ok() => {}
        other => {
            let got = other
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            // No grpc-status comes with a body that is not gRPC: the code
            // is the HTTP status's (http-grpc-status-mapping.md), UNKNOWN
            // for the 200 that got this far.
            return Err(Head::Fail(Status::new(
                Code::from_http_status(http),
                format!("response content-type \"{got}\" is not gRPC"),
            )));
        }
    }
    let compressor = match registry.for_receive(find(fields, GRPC_ENCODING).map(|v| &v[..])) {
        Ok(c) => c,
        Err(s) => {
            return Err(Head::Fail(Status::new(
                Code::Internal,
                format!("server used an unsupported encoding: {}", s.message()),
            )));
        }
    };
    Ok(Kept::Head {
        compressor,
        metadata: custom_metadata(fields),
    })
}

/// The status and trailing metadata in a trailer section (or a
/// trailers-only head with HTTP status `http`).
pub(crate) fn read_trailers(fields: &[HeaderField], http: u16) -> (Status, MetadataMap) {
    let status = match find(fields, GRPC_STATUS) {
        Some(code) => Status::from_wire(
            code,
            find(fields, GRPC_MESSAGE).map(|v| &v[..]),
            find(fields, GRPC_STATUS_DETAILS_BIN).map(|v| &v[..]),
        ),
        None if http != 200 => {
            let s = Status::from_http_status(http);
            Status::new(
                s.code(),
                format!("unexpected HTTP status {http} from the server"),
            )
        }
        None => Status::new(
            Code::Unknown,
            "missing grpc-status in the response trailers",
        ),
    };
    (status, custom_metadata(fields))
}
