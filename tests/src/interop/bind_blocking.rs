//! The interop suite on the blocking adapter: a [`Transport`] over a
//! `grpc_sansio_blocking::Channel` and the TestService router for a
//! `grpc_sansio_blocking::Server`.

use std::net::SocketAddr;

use bytes::Bytes;
use grpc_sansio::call::CallKind;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::router::Router;
use grpc_sansio_blocking::tls::{ClientTlsConfig, ServerTlsConfig};
use grpc_sansio_blocking::{
    BytesCodec, Call, CallOptions, Channel, Handler, ProstCodec, RouterExt, Server, ServerCall,
};

use super::pb::{
    Empty, SimpleRequest, SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use super::service::{self, MAX_MESSAGE, SERVICE};
use super::tls::{ClientTls, ServerTls};
use super::transport::{CallOpts, Finished, StreamingCall, Transport};

/// The client side on the blocking adapter.
pub struct BlockingTransport {
    channel: Channel,
    target: String,
    authority: Option<String>,
    tls: Option<ClientTls>,
}

impl BlockingTransport {
    /// A channel to `target` (`host:port`), over TLS with `tls`, made
    /// lazily.
    pub fn connect(
        target: &str,
        authority: Option<&str>,
        tls: Option<&ClientTls>,
    ) -> Result<Self, String> {
        let mut b = Channel::builder(target)
            .max_receive_message_size(MAX_MESSAGE)
            .max_send_message_size(MAX_MESSAGE);
        if let Some(a) = authority {
            b = b.authority(a);
        }
        if let Some(t) = tls {
            let mut c = ClientTlsConfig::new()
                .ca_certificate_pem(&t.ca_pem)
                .map_err(|e| e.to_string())?;
            if let Some(name) = &t.server_name {
                c = c.server_name(name);
            }
            b = b.tls(c);
        }
        let channel = b.build_lazy().map_err(|e| format!("{target}: {e}"))?;
        Ok(BlockingTransport {
            channel,
            target: target.to_string(),
            authority: authority.map(str::to_string),
            tls: tls.cloned(),
        })
    }
}

fn options(o: CallOpts) -> CallOptions {
    let mut c = CallOptions::new().metadata(o.metadata);
    if let Some(t) = o.timeout {
        c = c.timeout(t);
    }
    if o.compress {
        c = c.compression("gzip");
    }
    c
}

fn failed(status: Status) -> Finished {
    Finished {
        status,
        headers: MetadataMap::new(),
        trailers: MetadataMap::new(),
        messages: Vec::new(),
        compressed: Vec::new(),
    }
}

impl BlockingTransport {
    fn start(
        &self,
        path: &str,
        kind: CallKind,
        opts: CallOpts,
    ) -> Result<Call<BytesCodec>, Status> {
        self.channel.call(path, kind, BytesCodec, options(opts))
    }

    /// Send `requests`, half-close and read the call to its end.
    fn run(&self, path: &str, kind: CallKind, requests: Vec<Bytes>, opts: CallOpts) -> Finished {
        let plain = opts.uncompressed.clone();
        match self.start(path, kind, opts) {
            Ok(call) => {
                let mut c = BlockingStreaming { call };
                for (i, m) in requests.into_iter().enumerate() {
                    let sent = if plain.contains(&i) {
                        c.call.send_uncompressed(&m)
                    } else {
                        c.send(m)
                    };
                    if sent.is_err() {
                        break;
                    }
                }
                c.close_send();
                Box::new(c).finish()
            }
            Err(s) => failed(s),
        }
    }
}

impl Transport for BlockingTransport {
    fn unary(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished {
        self.run(path, CallKind::Unary, vec![request], opts)
    }

    fn server_streaming(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished {
        self.run(path, CallKind::ServerStreaming, vec![request], opts)
    }

    fn client_streaming(&self, path: &str, requests: Vec<Bytes>, opts: CallOpts) -> Finished {
        self.run(path, CallKind::ClientStreaming, requests, opts)
    }

    fn streaming(&self, path: &str, opts: CallOpts) -> Box<dyn StreamingCall + '_> {
        match self.start(path, CallKind::BidiStreaming, opts) {
            Ok(call) => Box::new(BlockingStreaming { call }),
            Err(s) => Box::new(NeverStarted(Some(s))),
        }
    }

    fn new_channel(&self) -> Box<dyn Transport> {
        match BlockingTransport::connect(&self.target, self.authority.as_deref(), self.tls.as_ref())
        {
            Ok(t) => Box::new(t),
            // The target worked once; building it again cannot fail.
            Err(e) => panic!("rebuilding the channel failed: {e}"),
        }
    }
}

struct BlockingStreaming {
    call: Call<BytesCodec>,
}

impl StreamingCall for BlockingStreaming {
    fn send(&mut self, message: Bytes) -> Result<(), Status> {
        self.call.send(&message)
    }

    fn recv(&mut self) -> Option<Bytes> {
        // An error ends the messages; finish() reports the status.
        self.call.recv()?.ok()
    }

    fn close_send(&mut self) {
        // An error here means the call is already over; finish() says how.
        let _ = self.call.close_send();
    }

    fn cancel(&mut self) {
        self.call.cancel();
    }

    fn finish(self: Box<Self>) -> Finished {
        let mut messages = Vec::new();
        let mut compressed = Vec::new();
        while let Some(Ok(m)) = self.call.recv() {
            messages.push(m);
            compressed.push(self.call.last_message_compressed() == Some(true));
        }
        let headers = self.call.headers().unwrap_or_default();
        let (status, trailers) = self.call.finish();
        Finished {
            status,
            headers,
            trailers,
            messages,
            compressed,
        }
    }
}

struct NeverStarted(Option<Status>);

impl StreamingCall for NeverStarted {
    fn send(&mut self, _: Bytes) -> Result<(), Status> {
        Err(self.status())
    }
    fn recv(&mut self) -> Option<Bytes> {
        None
    }
    fn close_send(&mut self) {}
    fn cancel(&mut self) {}
    fn finish(mut self: Box<Self>) -> Finished {
        failed(self.status())
    }
}

impl NeverStarted {
    fn status(&mut self) -> Status {
        self.0
            .clone()
            .unwrap_or_else(|| Status::new(Code::Internal, "no call"))
    }
}

/// Echo the metadata the descriptions ask for: initial metadata now, the
/// trailers with the status.
fn echo(call: &ServerCall) -> Result<(), Status> {
    let md = call.metadata();
    call.set_trailers(service::echo_trailers(md));
    let headers = service::echo_headers(md);
    if headers.is_empty() {
        Ok(())
    } else {
        call.send_initial_metadata(headers)
    }
}

/// Whether the request last received arrived compressed.
fn compressed(call: &ServerCall) -> bool {
    call.last_message_compressed() == Some(true)
}

type OutCodec = ProstCodec<StreamingOutputCallResponse, StreamingOutputCallRequest>;

/// Send the replies `req` asks for, each after its delay and compressed or
/// not as it asks (compressed ones go compressed only where the call
/// compresses).
fn send_replies(
    req: &StreamingOutputCallRequest,
    sink: &grpc_sansio_blocking::ResponseSink<'_, OutCodec>,
) -> Result<(), Status> {
    for r in service::replies(req)? {
        std::thread::sleep(r.delay);
        if r.compressed {
            sink.send(&r.message)?;
        } else {
            sink.send_uncompressed(&r.message)?;
        }
    }
    Ok(())
}

/// The TestService router (UnimplementedCall deliberately absent).
pub fn router() -> Router<Handler> {
    let mut r: Router<Handler> = Router::new();
    r.unary(
        SERVICE,
        "EmptyCall",
        ProstCodec::<Empty, Empty>::new(),
        |call, req| {
            echo(call)?;
            Ok(service::empty_call(req))
        },
    );
    r.unary(
        SERVICE,
        "UnaryCall",
        ProstCodec::<SimpleResponse, SimpleRequest>::new(),
        |call, req: SimpleRequest| {
            if req.response_compressed.is_some_and(|b| b.value) {
                call.set_compression("gzip")?;
            }
            echo(call)?;
            service::unary_call(&req, compressed(call))
        },
    );
    r.unary(
        SERVICE,
        "CacheableUnaryCall",
        ProstCodec::<SimpleResponse, SimpleRequest>::new(),
        |call, _req| {
            let mut md = MetadataMap::new();
            let (k, v) = service::CACHE_CONTROL;
            let _ = md.insert(k, v);
            call.send_initial_metadata(md)?;
            Ok(service::cacheable_unary_call())
        },
    );
    r.server_streaming(
        SERVICE,
        "StreamingOutputCall",
        OutCodec::new(),
        |call, req, sink| {
            if req
                .response_parameters
                .iter()
                .any(|p| p.compressed.is_some_and(|b| b.value))
            {
                call.set_compression("gzip")?;
            }
            echo(call)?;
            send_replies(&req, sink)
        },
    );
    r.client_streaming(
        SERVICE,
        "StreamingInputCall",
        ProstCodec::<StreamingInputCallResponse, StreamingInputCallRequest>::new(),
        |call, reqs| {
            echo(call)?;
            let mut total = 0i64;
            for m in reqs {
                service::add_input(&mut total, &m?, compressed(call))?;
            }
            Ok(service::input_response(total))
        },
    );
    r.bidi_streaming(
        SERVICE,
        "FullDuplexCall",
        OutCodec::new(),
        |call, reqs, sink| {
            echo(call)?;
            for m in reqs {
                send_replies(&m?, sink)?;
            }
            Ok(())
        },
    );
    r.bidi_streaming(
        SERVICE,
        "HalfDuplexCall",
        OutCodec::new(),
        |call, reqs, sink| {
            echo(call)?;
            let held: Vec<StreamingOutputCallRequest> = reqs.collect::<Result<_, _>>()?;
            for m in &held {
                send_replies(m, sink)?;
            }
            Ok(())
        },
    );
    r
}

/// Serve the TestService on `host:port` (0: any free port), over TLS with
/// `tls`, on background threads; returns the server (keep it alive) and
/// the bound address.
pub fn serve(
    host: &str,
    port: u16,
    tls: Option<&ServerTls>,
) -> std::io::Result<(Server, SocketAddr)> {
    let server = Server::builder()
        .max_receive_message_size(MAX_MESSAGE)
        .max_send_message_size(MAX_MESSAGE)
        .build(router());
    let addr = match tls {
        Some(t) => server.bind_tls(
            (host, port),
            &ServerTlsConfig::from_pem(&t.cert_pem, &t.key_pem)?,
        )?,
        None => server.bind((host, port))?,
    };
    Ok((server, addr))
}
