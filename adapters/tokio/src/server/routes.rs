//! Registering typed handlers by path. Each registration wraps the
//! handler into one erased shape that the connection driver spawns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use grpc_sansio::call::CallKind;
use grpc_sansio::codec::Codec;
use grpc_sansio::grpc::metadata::MetadataMap;
use grpc_sansio::grpc::{Code, Status};
use grpc_sansio::router::Router;

use super::call::{RawRequests, RawResponder, RequestStream, ResponseSink};
use super::context::{Request, RequestContext};
use crate::error::{Response, RpcError};

/// One incoming call as the driver hands it to a handler.
pub(crate) struct ServerCall {
    pub(crate) ctx: RequestContext,
    pub(crate) rx: RawRequests,
    pub(crate) tx: RawResponder,
}

pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub(crate) type RawHandler = Arc<dyn Fn(ServerCall) -> BoxFuture + Send + Sync>;

/// The methods a server serves, by path. Paths that are not registered
/// are answered with UNIMPLEMENTED.
#[derive(Clone, Default)]
pub struct Routes {
    pub(crate) router: Router<RawHandler>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field("methods", &self.router.len())
            .finish()
    }
}

async fn respond<C: Codec>(
    tx: &mut RawResponder,
    codec: &C,
    r: Result<Response<C::Encode>, RpcError>,
) {
    match r {
        Ok(resp) => {
            let payload = match codec.encode(&resp.message) {
                Ok(p) => p,
                Err(s) => return tx.finish(s, MetadataMap::new()).await,
            };
            let headers = (!resp.metadata.is_empty()).then_some(resp.metadata);
            tx.reply(headers, payload, resp.trailers).await;
        }
        Err(e) => tx.finish(e.status, e.trailers).await,
    }
}

async fn end_stream(tx: &mut RawResponder, r: Result<(), RpcError>) {
    match r {
        Ok(()) => tx.finish(Status::ok(), MetadataMap::new()).await,
        Err(e) => tx.finish(e.status, e.trailers).await,
    }
}

/// The one request of a unary or server-streaming call.
async fn single<C: Codec>(
    rx: &mut RawRequests,
    tx: &mut RawResponder,
    codec: &C,
) -> Option<C::Decode> {
    let r = match rx.message().await {
        Ok(Some(b)) => codec.decode(b),
        // The core ends a call without its one message before the
        // handler sees it; this is only a fallback.
        Ok(None) => Err(Status::new(Code::Unimplemented, "no request message")),
        Err(s) => Err(s),
    };
    match r {
        Ok(m) => Some(m),
        Err(s) => {
            tx.finish(s, MetadataMap::new()).await;
            None
        }
    }
}

impl Routes {
    /// No methods.
    pub fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, service: &str, method: &str, kind: CallKind, h: RawHandler) -> &mut Self {
        self.router.add(service, method, kind, h);
        self
    }

    /// Serve a unary method.
    pub fn unary<C, F, Fut>(
        &mut self,
        service: &str,
        method: &str,
        codec: C,
        handler: F,
    ) -> &mut Self
    where
        C: Codec,
        F: Fn(Request<C::Decode>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, RpcError>> + Send + 'static,
    {
        let codec = Arc::new(codec);
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |call: ServerCall| {
            let codec = codec.clone();
            let handler = handler.clone();
            Box::pin(async move {
                let ServerCall {
                    ctx,
                    mut rx,
                    mut tx,
                } = call;
                let Some(m) = single(&mut rx, &mut tx, codec.as_ref()).await else {
                    return;
                };
                let r = handler(Request::new(ctx, m).with_compressed(rx.last_compressed)).await;
                respond(&mut tx, codec.as_ref(), r).await;
            })
        });
        self.add(service, method, CallKind::Unary, raw)
    }

    /// Serve a server-streaming method: the handler sends responses on
    /// the sink and returns the outcome.
    pub fn server_streaming<C, F, Fut>(
        &mut self,
        service: &str,
        method: &str,
        codec: C,
        handler: F,
    ) -> &mut Self
    where
        C: Codec,
        F: Fn(Request<C::Decode>, ResponseSink<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RpcError>> + Send + 'static,
    {
        let codec = Arc::new(codec);
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |call: ServerCall| {
            let codec = codec.clone();
            let handler = handler.clone();
            Box::pin(async move {
                let ServerCall {
                    ctx,
                    mut rx,
                    mut tx,
                } = call;
                let Some(m) = single(&mut rx, &mut tx, codec.as_ref()).await else {
                    return;
                };
                let sink = ResponseSink::new(tx.handle(), codec);
                let request = Request::new(ctx, m).with_compressed(rx.last_compressed);
                let r = handler(request, sink).await;
                end_stream(&mut tx, r).await;
            })
        });
        self.add(service, method, CallKind::ServerStreaming, raw)
    }

    /// Serve a client-streaming method: the handler reads the requests
    /// from the stream and returns the response.
    pub fn client_streaming<C, F, Fut>(
        &mut self,
        service: &str,
        method: &str,
        codec: C,
        handler: F,
    ) -> &mut Self
    where
        C: Codec,
        F: Fn(Request<RequestStream<C>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<C::Encode>, RpcError>> + Send + 'static,
    {
        let codec = Arc::new(codec);
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |call: ServerCall| {
            let codec = codec.clone();
            let handler = handler.clone();
            Box::pin(async move {
                let ServerCall { ctx, rx, mut tx } = call;
                let stream = RequestStream::new(rx, codec.clone());
                let r = handler(Request::new(ctx, stream)).await;
                respond(&mut tx, codec.as_ref(), r).await;
            })
        });
        self.add(service, method, CallKind::ClientStreaming, raw)
    }

    /// Serve a bidirectional streaming method.
    pub fn streaming<C, F, Fut>(
        &mut self,
        service: &str,
        method: &str,
        codec: C,
        handler: F,
    ) -> &mut Self
    where
        C: Codec,
        F: Fn(Request<RequestStream<C>>, ResponseSink<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), RpcError>> + Send + 'static,
    {
        let codec = Arc::new(codec);
        let handler = Arc::new(handler);
        let raw: RawHandler = Arc::new(move |call: ServerCall| {
            let codec = codec.clone();
            let handler = handler.clone();
            Box::pin(async move {
                let ServerCall { ctx, rx, mut tx } = call;
                let stream = RequestStream::new(rx, codec.clone());
                let sink = ResponseSink::new(tx.handle(), codec);
                let r = handler(Request::new(ctx, stream), sink).await;
                end_stream(&mut tx, r).await;
            })
        });
        self.add(service, method, CallKind::BidiStreaming, raw)
    }
}
