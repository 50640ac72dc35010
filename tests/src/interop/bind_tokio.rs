//! The interop suite on the tokio adapter: a [`Transport`] over a
//! `grpc_sansio_tokio::Channel` (each blocking method runs its future on a
//! runtime the transport owns) and the TestService routes for a
//! `grpc_sansio_tokio::Server`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio_tokio::tls::{ClientTlsConfig, ServerTlsConfig, TlsListener};
use grpc_sansio_tokio::{
    BytesCodec, CallOptions, Channel, ProstCodec, RequestSink, Response, ResponseSink, Routes,
    RpcError, Streaming,
};
use tokio::runtime::Runtime;

use super::pb::{
    Empty, SimpleRequest, SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use super::service::{self, MAX_MESSAGE, SERVICE};
use super::tls::{ClientTls, ServerTls};
use super::transport::{CallOpts, Finished, StreamingCall, Transport};

/// No single step of a call may take longer than this (each call also has
/// its own gRPC deadline; this only keeps a harness bug from hanging).
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// A multi-threaded runtime for the interop binaries.
pub fn runtime() -> std::io::Result<Arc<Runtime>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map(Arc::new)
}

/// The client side on the tokio adapter.
pub struct TokioTransport {
    rt: Arc<Runtime>,
    channel: Channel,
    target: String,
    authority: Option<String>,
    tls: Option<ClientTls>,
}

impl TokioTransport {
    /// A channel to `target` (`http://host:port`, or `https://host:port`
    /// with `tls`); lazy, as the adapter's channels are.
    pub fn connect(
        rt: Arc<Runtime>,
        target: &str,
        authority: Option<&str>,
        tls: Option<&ClientTls>,
    ) -> Result<Self, String> {
        let channel = {
            let _guard = rt.enter();
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
            b.build().map_err(|e| format!("{target}: {e:?}"))?
        };
        Ok(TokioTransport {
            rt,
            channel,
            target: target.to_string(),
            authority: authority.map(str::to_string),
            tls: tls.cloned(),
        })
    }

    fn block<T>(&self, f: impl Future<Output = Result<T, RpcError>>) -> Result<T, RpcError> {
        block(&self.rt, f)
    }
}

fn block<T>(rt: &Runtime, f: impl Future<Output = Result<T, RpcError>>) -> Result<T, RpcError> {
    rt.block_on(async {
        match tokio::time::timeout(STEP_LIMIT, f).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::new(Status::new(
                Code::DeadlineExceeded,
                "interop harness: a step took over 60 s",
            ))),
        }
    })
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

fn failed(e: RpcError) -> Finished {
    Finished {
        status: e.status,
        headers: e.metadata,
        trailers: e.trailers,
        messages: Vec::new(),
        compressed: Vec::new(),
    }
}

fn answered(r: Response<Bytes>) -> Finished {
    Finished {
        status: Status::ok(),
        compressed: vec![r.message_compressed() == Some(true)],
        headers: r.metadata,
        trailers: r.trailers,
        messages: vec![r.message],
    }
}

impl Transport for TokioTransport {
    fn unary(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished {
        match self.block(self.channel.unary(path, BytesCodec, request, options(opts))) {
            Ok(r) => answered(r),
            Err(e) => failed(e),
        }
    }

    fn server_streaming(&self, path: &str, request: Bytes, opts: CallOpts) -> Finished {
        let started =
            self.block(
                self.channel
                    .server_streaming(path, BytesCodec, request, options(opts)),
            );
        match started {
            Ok(stream) => Box::new(TokioStreaming {
                rt: self.rt.clone(),
                sink: None,
                stream: Some(stream),
                error: None,
            })
            .finish(),
            Err(e) => failed(e),
        }
    }

    fn client_streaming(&self, path: &str, requests: Vec<Bytes>, opts: CallOpts) -> Finished {
        let plain = opts.uncompressed.clone();
        let r = self.block(async {
            let mut call = self
                .channel
                .client_streaming(path, BytesCodec, options(opts))
                .await?;
            for (i, m) in requests.into_iter().enumerate() {
                if plain.contains(&i) {
                    call.send_uncompressed(m).await?;
                } else {
                    call.send(m).await?;
                }
            }
            call.finish().await
        });
        match r {
            Ok(r) => answered(r),
            Err(e) => failed(e),
        }
    }

    fn streaming(&self, path: &str, opts: CallOpts) -> Box<dyn StreamingCall + '_> {
        match self.block(self.channel.streaming(path, BytesCodec, options(opts))) {
            Ok((sink, stream)) => Box::new(TokioStreaming {
                rt: self.rt.clone(),
                sink: Some(sink),
                stream: Some(stream),
                error: None,
            }),
            Err(e) => Box::new(TokioStreaming {
                rt: self.rt.clone(),
                sink: None,
                stream: None,
                error: Some(e),
            }),
        }
    }

    fn new_channel(&self) -> Box<dyn Transport> {
        match TokioTransport::connect(
            self.rt.clone(),
            &self.target,
            self.authority.as_deref(),
            self.tls.as_ref(),
        ) {
            Ok(t) => Box::new(t),
            // The target worked once; building it again cannot fail.
            Err(e) => panic!("rebuilding the channel failed: {e}"),
        }
    }
}

struct TokioStreaming {
    rt: Arc<Runtime>,
    sink: Option<RequestSink<BytesCodec>>,
    stream: Option<Streaming<BytesCodec>>,
    error: Option<RpcError>,
}

impl StreamingCall for TokioStreaming {
    fn send(&mut self, message: Bytes) -> Result<(), Status> {
        let Some(sink) = self.sink.as_mut() else {
            return Err(Status::new(Code::Internal, "the request side is closed"));
        };
        block(&self.rt, sink.send(message)).map_err(|e| e.status)
    }

    fn recv(&mut self) -> Option<Bytes> {
        let stream = self.stream.as_mut()?;
        if self.error.is_some() {
            return None;
        }
        match block(&self.rt, stream.message()) {
            Ok(m) => m,
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn close_send(&mut self) {
        if let Some(mut sink) = self.sink.take() {
            sink.close();
        }
    }

    fn cancel(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            stream.cancel();
        }
    }

    fn finish(mut self: Box<Self>) -> Finished {
        let mut messages = Vec::new();
        let mut compressed = Vec::new();
        while let Some(m) = self.recv() {
            messages.push(m);
            let flag = self
                .stream
                .as_ref()
                .and_then(|s| s.last_message_compressed());
            compressed.push(flag == Some(true));
        }
        self.close_send();
        let Some(mut stream) = self.stream.take() else {
            return failed(
                self.error
                    .take()
                    .unwrap_or_else(|| RpcError::new(Status::new(Code::Internal, "no call"))),
            );
        };
        let headers =
            block(&self.rt, async { stream.headers().await.cloned() }).unwrap_or_default();
        let trailers = stream.trailers().cloned().unwrap_or_default();
        match self.error.take() {
            Some(e) => Finished {
                status: e.status,
                headers: if headers.is_empty() {
                    e.metadata
                } else {
                    headers
                },
                trailers: if trailers.is_empty() {
                    e.trailers
                } else {
                    trailers
                },
                messages,
                compressed,
            },
            None => Finished {
                status: stream.status().cloned().unwrap_or_else(Status::ok),
                headers,
                trailers,
                messages,
                compressed,
            },
        }
    }
}

fn with_echo<T>(r: T, md: &MetadataMap) -> Response<T> {
    Response::new(r)
        .with_metadata(service::echo_headers(md))
        .with_trailers(service::echo_trailers(md))
}

fn fail_with_echo(s: Status, md: &MetadataMap) -> RpcError {
    RpcError::new(s).with_trailers(service::echo_trailers(md))
}

/// Send `replies` in order, each after its delay and compressed or not as
/// it asks (compressed ones go compressed only where the call compresses).
async fn send_replies(
    sink: &mut ResponseSink<ProstCodec<StreamingOutputCallResponse, StreamingOutputCallRequest>>,
    replies: Vec<service::Reply>,
) -> Result<(), RpcError> {
    for r in replies {
        tokio::time::sleep(r.delay).await;
        if r.compressed {
            sink.send(r.message).await?;
        } else {
            sink.send_uncompressed(r.message).await?;
        }
    }
    Ok(())
}

/// The TestService routes (UnimplementedCall deliberately absent).
pub fn routes() -> Routes {
    let mut routes = Routes::new();
    routes.unary(
        SERVICE,
        "EmptyCall",
        ProstCodec::<Empty, Empty>::new(),
        |req| async move {
            let md = req.metadata().clone();
            Ok(with_echo(service::empty_call(req.into_inner()), &md))
        },
    );
    routes.unary(
        SERVICE,
        "UnaryCall",
        ProstCodec::<SimpleResponse, SimpleRequest>::new(),
        |req| async move {
            let md = req.metadata().clone();
            if req.get_ref().response_compressed.is_some_and(|b| b.value) {
                req.context().set_response_compression("gzip");
            }
            let compressed = req.message_compressed() == Some(true);
            match service::unary_call(req.get_ref(), compressed) {
                Ok(r) => Ok(with_echo(r, &md)),
                Err(s) => Err(fail_with_echo(s, &md)),
            }
        },
    );
    routes.unary(
        SERVICE,
        "CacheableUnaryCall",
        ProstCodec::<SimpleResponse, SimpleRequest>::new(),
        |_req| async move {
            let mut md = MetadataMap::new();
            let (k, v) = service::CACHE_CONTROL;
            let _ = md.insert(k, v);
            Ok(Response::new(service::cacheable_unary_call()).with_metadata(md))
        },
    );
    routes.server_streaming(
        SERVICE,
        "StreamingOutputCall",
        ProstCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
        |req, mut sink| async move {
            let md = req.metadata().clone();
            let replies = service::replies(req.get_ref()).map_err(|s| fail_with_echo(s, &md))?;
            if replies.iter().any(|r| r.compressed) {
                req.context().set_response_compression("gzip");
            }
            sink.send_headers(service::echo_headers(&md)).await?;
            sink.set_trailers(service::echo_trailers(&md));
            send_replies(&mut sink, replies).await
        },
    );
    routes.client_streaming(
        SERVICE,
        "StreamingInputCall",
        ProstCodec::<StreamingInputCallResponse, StreamingInputCallRequest>::new(),
        |req| async move {
            let md = req.metadata().clone();
            let (_ctx, mut stream) = req.into_parts();
            let mut total = 0i64;
            while let Some(m) = stream.message().await.map_err(|s| fail_with_echo(s, &md))? {
                let compressed = stream.last_message_compressed() == Some(true);
                service::add_input(&mut total, &m, compressed)
                    .map_err(|s| fail_with_echo(s, &md))?;
            }
            Ok(with_echo(service::input_response(total), &md))
        },
    );
    for (method, half) in [("FullDuplexCall", false), ("HalfDuplexCall", true)] {
        routes.streaming(
            SERVICE,
            method,
            ProstCodec::<StreamingOutputCallResponse, StreamingOutputCallRequest>::new(),
            move |req, mut sink| async move {
                let md = req.metadata().clone();
                let (_ctx, mut stream) = req.into_parts();
                sink.send_headers(service::echo_headers(&md)).await?;
                sink.set_trailers(service::echo_trailers(&md));
                let mut held = Vec::new();
                while let Some(m) = stream.message().await.map_err(|s| fail_with_echo(s, &md))? {
                    if half {
                        held.push(m);
                        continue;
                    }
                    let replies = service::replies(&m).map_err(|s| fail_with_echo(s, &md))?;
                    send_replies(&mut sink, replies).await?;
                }
                for m in held {
                    let replies = service::replies(&m).map_err(|s| fail_with_echo(s, &md))?;
                    send_replies(&mut sink, replies).await?;
                }
                Ok(())
            },
        );
    }
    routes
}

/// Serve the TestService on `host:port` (0: any free port), over TLS with
/// `tls`: calls `on_bound` with the port, then serves until the process
/// ends.
pub fn serve(
    rt: &Runtime,
    host: &str,
    port: u16,
    tls: Option<&ServerTls>,
    on_bound: impl FnOnce(u16),
) -> std::io::Result<()> {
    let tls = tls
        .map(|t| ServerTlsConfig::from_pem(&t.cert_pem, &t.key_pem))
        .transpose()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind((host, port)).await?;
        on_bound(listener.local_addr()?.port());
        let server = grpc_sansio_tokio::Server::builder()
            .max_receive_message_size(MAX_MESSAGE)
            .max_send_message_size(MAX_MESSAGE)
            .build(routes());
        match tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, &tls)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                server.serve(listener).await
            }
            None => server.serve(listener).await,
        }
    })
}
