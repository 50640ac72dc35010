//! The demo stack on the tokio adapter: a `grpc_sansio_tokio` server and
//! `Channel`, on a tokio runtime of their own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::CallKind;
use grpc_sansio::codec::BytesCodec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio_tokio::{CallOptions, Channel, Response, Routes, RpcError, Server};
use tokio::runtime::Runtime;

use super::{DemoClient, Outcome, SERVICE, fail_status};

/// A running tokio server and the runtime it runs on.
pub struct Stack {
    rt: Runtime,
    addr: SocketAddr,
}

impl Stack {
    /// Start the server on 127.0.0.1.
    pub fn start() -> std::io::Result<Stack> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let server = Server::builder().build(routes());
        rt.spawn(async move {
            let _ = server.serve(listener).await;
        });
        Ok(Stack { rt, addr })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client through `target` (the tap).
    pub fn client(&self, target: SocketAddr) -> Result<Client<'_>, String> {
        let channel = {
            let _guard = self.rt.enter();
            Channel::connect(&format!("http://{target}")).map_err(|e| e.to_string())?
        };
        Ok(Client {
            rt: &self.rt,
            channel,
        })
    }
}

fn routes() -> Routes {
    let mut r = Routes::new();
    r.unary(SERVICE, "Unary", BytesCodec, |req| async move {
        let mut initial = MetadataMap::new();
        let _ = initial.insert("x-served-by", "tokio");
        let mut trailers = MetadataMap::new();
        let _ = trailers.insert("x-seen-user", req.metadata().get("x-user").unwrap_or("?"));
        let mut reply = b"echo: ".to_vec();
        reply.extend_from_slice(req.get_ref());
        Ok(Response::new(Bytes::from(reply))
            .with_metadata(initial)
            .with_trailers(trailers))
    });
    r.server_streaming(
        SERVICE,
        "ServerStream",
        BytesCodec,
        |req, mut sink| async move {
            let word = String::from_utf8_lossy(req.get_ref()).into_owned();
            for i in 1..=3 {
                sink.send(Bytes::from(format!("{word} {i}"))).await?;
            }
            Ok(())
        },
    );
    r.client_streaming(SERVICE, "ClientStream", BytesCodec, |req| async move {
        let mut stream = req.into_inner();
        let (mut n, mut m) = (0, 0);
        while let Some(msg) = stream.message().await? {
            n += msg.len();
            m += 1;
        }
        Ok(Response::new(Bytes::from(format!(
            "{n} bytes in {m} messages"
        ))))
    });
    r.streaming(SERVICE, "Bidi", BytesCodec, |req, mut sink| async move {
        let mut stream = req.into_inner();
        while let Some(msg) = stream.message().await? {
            let mut reply = msg.to_vec();
            reply.push(b'!');
            sink.send(Bytes::from(reply)).await?;
        }
        Ok(())
    });
    r.unary(SERVICE, "Slow", BytesCodec, |req| async move {
        // Never answers: the deadline ends the call.
        req.context().cancelled().await;
        Err(RpcError::new(Status::new(
            Code::DeadlineExceeded,
            "deadline exceeded",
        )))
    });
    r.unary(SERVICE, "Fail", BytesCodec, |_req| async move {
        Err::<Response<Bytes>, _>(RpcError::new(fail_status()))
    });
    r
}

/// A tokio-adapter client, driven from synchronous demo code.
pub struct Client<'a> {
    rt: &'a Runtime,
    channel: Channel,
}

impl DemoClient for Client<'_> {
    fn call(
        &mut self,
        method: &str,
        kind: CallKind,
        metadata: MetadataMap,
        timeout: Option<Duration>,
        requests: &[&'static [u8]],
    ) -> Outcome {
        let start = Instant::now();
        let path = format!("/{SERVICE}/{method}");
        let mut opts = CallOptions::new().metadata(metadata);
        if let Some(t) = timeout {
            opts = opts.timeout(t);
        }
        let channel = self.channel.clone();
        let requests: Vec<Bytes> = requests.iter().map(|r| Bytes::from_static(r)).collect();
        let mut out = self.rt.block_on(async move {
            let mut out = Outcome::default();
            let single = |r: Result<Response<Bytes>, RpcError>, out: &mut Outcome| match r {
                Ok(resp) => {
                    out.headers = Some(resp.metadata);
                    out.messages.push(resp.message);
                    out.trailers = resp.trailers;
                    out.status = Some(Status::ok());
                }
                Err(e) => {
                    out.headers = Some(e.metadata);
                    out.trailers = e.trailers;
                    out.status = Some(e.status);
                }
            };
            let stream = match kind {
                CallKind::Unary => {
                    let first = requests.first().cloned().unwrap_or_default();
                    single(
                        channel.unary(&path, BytesCodec, first, opts).await,
                        &mut out,
                    );
                    return out;
                }
                CallKind::ClientStreaming => {
                    match channel.client_streaming(&path, BytesCodec, opts).await {
                        Ok(mut call) => {
                            for r in requests {
                                let _ = call.send(r).await;
                            }
                            single(call.finish().await, &mut out);
                        }
                        Err(e) => out.status = Some(e.status),
                    }
                    return out;
                }
                CallKind::ServerStreaming => {
                    let first = requests.first().cloned().unwrap_or_default();
                    channel
                        .server_streaming(&path, BytesCodec, first, opts)
                        .await
                }
                CallKind::BidiStreaming => match channel.streaming(&path, BytesCodec, opts).await {
                    Ok((mut sink, stream)) => {
                        for r in requests {
                            let _ = sink.send(r).await;
                        }
                        sink.close();
                        Ok(stream)
                    }
                    Err(e) => Err(e),
                },
            };
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    out.status = Some(e.status);
                    return out;
                }
            };
            if let Ok(h) = stream.headers().await {
                out.headers = Some(h.clone());
            }
            loop {
                match stream.message().await {
                    Ok(Some(m)) => out.messages.push(m),
                    Ok(None) => {
                        out.status = Some(Status::ok());
                        break;
                    }
                    Err(e) => {
                        out.status = Some(e.status);
                        out.trailers = e.trailers;
                        break;
                    }
                }
            }
            if let Some(t) = stream.trailers() {
                out.trailers = t.clone();
            }
            if let Some(s) = stream.status() {
                out.status = Some(s.clone());
            }
            out
        });
        out.elapsed = start.elapsed();
        out
    }
}
