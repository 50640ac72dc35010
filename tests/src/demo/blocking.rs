//! The demo stack on the blocking adapter: a `grpc_sansio_blocking`
//! server with raw handlers and a `Channel` client, no async runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grpc_sansio::call::CallKind;
use grpc_sansio::codec::BytesCodec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::router::Router;
use grpc_sansio_blocking::{CallOptions, Channel, Handler, Server, ServerCall};

use super::{DemoClient, Outcome, SERVICE, fail_status, kind_of};

/// Start the blocking server on 127.0.0.1; keep the returned server alive.
pub fn start_server() -> std::io::Result<(Server, SocketAddr)> {
    let mut router: Router<Handler> = Router::new();
    for method in [
        "Unary",
        "ServerStream",
        "ClientStream",
        "Bidi",
        "Slow",
        "Fail",
    ] {
        let kind = kind_of(method).unwrap_or_default();
        let m = method.to_string();
        router.add(
            SERVICE,
            method,
            kind,
            Handler::raw(move |call| handle(&m, call)),
        );
    }
    let server = Server::builder().build(router);
    let addr = server.bind("127.0.0.1:0")?;
    Ok((server, addr))
}

fn handle(method: &str, call: ServerCall) {
    let mut got: Vec<Bytes> = Vec::new();
    let mut read_all = |call: &ServerCall| -> Result<(), Status> {
        while let Some(m) = call.recv_raw() {
            let m = m?;
            if method == "Bidi" {
                let mut reply = m.to_vec();
                reply.push(b'!');
                call.send_raw(Bytes::from(reply))?;
            } else {
                got.push(m);
            }
        }
        Ok(())
    };
    if let Err(s) = read_all(&call) {
        call.finish(s);
        return;
    }
    let first = got.first().cloned().unwrap_or_default();
    let result = (|| -> Result<(), Status> {
        match method {
            "Unary" => {
                let mut initial = MetadataMap::new();
                let _ = initial.insert("x-served-by", "blocking");
                call.send_initial_metadata(initial)?;
                let mut reply = b"echo: ".to_vec();
                reply.extend_from_slice(&first);
                call.send_raw(Bytes::from(reply))?;
                let mut trailers = MetadataMap::new();
                let _ =
                    trailers.insert("x-seen-user", call.metadata().get("x-user").unwrap_or("?"));
                call.set_trailers(trailers);
                Ok(())
            }
            "ServerStream" => {
                let word = String::from_utf8_lossy(&first).into_owned();
                for i in 1..=3 {
                    call.send_raw(Bytes::from(format!("{word} {i}")))?;
                }
                Ok(())
            }
            "ClientStream" => {
                let total: usize = got.iter().map(Bytes::len).sum();
                call.send_raw(Bytes::from(format!(
                    "{total} bytes in {} messages",
                    got.len()
                )))
            }
            "Bidi" => Ok(()),
            "Fail" => Err(fail_status()),
            _ => {
                // "Slow": wait for the deadline to cancel the call.
                call.wait_cancelled(Duration::from_secs(10));
                Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"))
            }
        }
    })();
    call.finish(match result {
        Ok(()) => Status::ok(),
        Err(s) => s,
    });
}

/// A blocking-adapter client.
pub struct Client {
    channel: Channel,
}

impl Client {
    /// Connect to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Client> {
        Ok(Client {
            channel: Channel::connect(&format!("http://{addr}"))?,
        })
    }
}

impl DemoClient for Client {
    fn call(
        &mut self,
        method: &str,
        kind: CallKind,
        metadata: MetadataMap,
        timeout: Option<Duration>,
        requests: &[&'static [u8]],
    ) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome::default();
        let mut opts = CallOptions::new().metadata(metadata);
        if let Some(t) = timeout {
            opts = opts.timeout(t);
        }
        let path = format!("/{SERVICE}/{method}");
        let call = match self.channel.call(&path, kind, BytesCodec, opts) {
            Ok(c) => c,
            Err(s) => {
                out.status = Some(s);
                return out;
            }
        };
        for r in requests {
            let _ = call.send(&Bytes::from_static(r));
        }
        let _ = call.close_send();
        out.headers = call.headers().ok();
        while let Some(Ok(m)) = call.recv() {
            out.messages.push(m);
        }
        let (status, trailers) = call.finish();
        out.status = Some(status);
        out.trailers = trailers;
        out.elapsed = start.elapsed();
        out
    }
}
