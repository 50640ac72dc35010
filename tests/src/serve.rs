//! Servers of either adapter on 127.0.0.1 for tests that bring their own
//! routes: the blocking server as is, the tokio one on a runtime of its
//! own with one worker.

use std::net::SocketAddr;

/// A blocking server for `router`, listening on 127.0.0.1.
pub fn blocking_on_loopback(
    router: grpc_sansio_blocking::Router<grpc_sansio_blocking::Handler>,
) -> (grpc_sansio_blocking::Server, SocketAddr) {
    let server = grpc_sansio_blocking::Server::builder().build(router);
    let addr = server.bind("127.0.0.1:0").expect("bind");
    (server, addr)
}

/// A tokio server for `routes`, listening on 127.0.0.1, on its own
/// runtime (keep the runtime: dropping it stops the server).
pub fn tokio_on_loopback(
    routes: grpc_sansio_tokio::Routes,
) -> (tokio::runtime::Runtime, SocketAddr) {
    tokio_server_on_loopback(grpc_sansio_tokio::Server::builder().build(routes))
}

/// `server` (built as the test needs) listening on 127.0.0.1, on a
/// runtime of its own with one worker (keep the runtime: dropping it
/// stops the server).
pub fn tokio_server_on_loopback(
    server: grpc_sansio_tokio::Server,
) -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { server.serve(listener).await });
        addr
    });
    (rt, addr)
}
