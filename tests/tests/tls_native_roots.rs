//! The operating system's root certificates (feature `tls-native-roots`):
//! a channel that trusts them reaches a server whose authority the system
//! store holds, and is refused by one whose authority it does not.
//!
//! The store is the file `SSL_CERT_FILE` names (honoured on Unix), set
//! for a child process that runs the client part of this test: the
//! environment is the process's, and setting it in a running test is not
//! sound. The parent runs the servers.
#![cfg(unix)]

#[path = "tokio_support/pki.rs"]
mod pki;

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use grpc_sansio_blocking::tls::ClientTlsConfig;
use grpc_sansio_blocking::{BytesCodec, CallOptions, Channel, Code, Handler, Router, RouterExt};
use grpc_sansio_blocking::{Server, Status};

const CHILD: &str = "GRPC_SANSIO_NATIVE_ROOTS_CHILD";
const TEST: &str = "system_roots_are_the_stores_roots";

fn echo(port: u16, tls: ClientTlsConfig) -> Result<Bytes, Status> {
    let ch = Channel::builder(&format!("https://127.0.0.1:{port}"))
        .tls(tls.server_name("localhost"))
        .connect_timeout(Duration::from_secs(5))
        .build_lazy()
        .expect("channel");
    ch.unary(
        "/test.Roots/Echo",
        BytesCodec,
        &Bytes::from_static(b"trusted"),
        CallOptions::new().timeout(Duration::from_secs(10)),
    )
    .map(|r| r.message)
    .map_err(Status::from)
}

/// The client part, in the child: `TRUSTED` and `OTHER` are the ports of
/// a server whose authority the store holds and of one whose authority
/// it does not; `EXPECT` is `empty` when the store holds nothing usable.
fn child() {
    let var = |name: &str| std::env::var(name).expect(name);
    if var("EXPECT") == "empty" {
        let e = ClientTlsConfig::new()
            .with_native_roots()
            .expect_err("an empty store");
        assert!(e.to_string().contains("no usable root"), "{e}");
        println!("child: refused an empty store");
        return;
    }
    let trusted: u16 = var("TRUSTED").parse().expect("port");
    let other: u16 = var("OTHER").parse().expect("port");
    let roots = ClientTlsConfig::new().with_native_roots().expect("roots");
    assert_eq!(roots.root_count(), 1);
    assert_eq!(echo(trusted, roots.clone()).expect("trusted"), "trusted");
    let e = echo(other, roots).expect_err("not trusted");
    assert_eq!(e.code(), Code::Unavailable, "{e:?}");
    // The tokio adapter's feature gives the same configuration type.
    let tokio_roots = grpc_sansio_tokio::tls::ClientTlsConfig::new()
        .with_native_roots()
        .expect("roots");
    assert_eq!(tokio_roots.root_count(), 1);
    println!("child: trusted the store's authority only");
}

#[test]
fn system_roots_are_the_stores_roots() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let mut router: Router<Handler> = Router::new();
    router.unary("test.Roots", "Echo", BytesCodec, |_call, req: Bytes| {
        Ok(req)
    });
    let system = pki::Pki::new("system ca");
    let private = pki::Pki::new("private ca");
    let trusted = Server::builder().build(router.clone());
    let trusted_addr = trusted
        .bind_tls("127.0.0.1:0", &system.leaf(&["localhost"]).server_config())
        .expect("bind_tls");
    let other = Server::builder().build(router);
    let other_addr = other
        .bind_tls("127.0.0.1:0", &private.leaf(&["localhost"]).server_config())
        .expect("bind_tls");

    let dir = std::env::temp_dir().join(format!("grpc-sansio-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bundle = dir.join("store.pem");
    std::fs::write(&bundle, &system.ca_pem).expect("bundle");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").expect("empty bundle");

    for (store, expect) in [(&bundle, "trusted"), (&empty, "empty")] {
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env("SSL_CERT_FILE", store)
            .env_remove("SSL_CERT_DIR")
            .env("EXPECT", expect)
            .env("TRUSTED", trusted_addr.port().to_string())
            .env("OTHER", other_addr.port().to_string())
            .output()
            .expect("child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{expect}: {stdout}\n{stderr}");
        let said = if expect == "empty" {
            "child: refused an empty store"
        } else {
            "child: trusted the store's authority only"
        };
        assert!(stdout.contains(said), "{expect}: {stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    trusted.shutdown(Duration::from_millis(200));
    other.shutdown(Duration::from_millis(200));
}
