//! The messages of gRPC's `helloworld.proto`, written by hand with
//! `prost` derives (no protoc needed).
#![allow(dead_code)]

/// `helloworld.HelloRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HelloRequest {
    /// The name to greet.
    #[prost(string, tag = "1")]
    pub(crate) name: String,
}

/// `helloworld.HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HelloReply {
    /// The greeting.
    #[prost(string, tag = "1")]
    pub(crate) message: String,
}

/// The method's path.
pub(crate) const SAY_HELLO: &str = "/helloworld.Greeter/SayHello";
/// A server-streaming method of the streaming example.
pub(crate) const SAY_HELLO_MANY: &str = "/helloworld.Greeter/SayHelloMany";

/// The value after `--name` in the command line, if any.
pub(crate) fn arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == name {
            return args.next();
        }
        if let Some(v) = a.strip_prefix(&format!("{name}=")) {
            return Some(v.to_string());
        }
    }
    None
}

/// Replies the greeter answered OK (counted for `--report-ms`).
pub(crate) static REPLIED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count one OK reply.
pub(crate) fn replied() {
    REPLIED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// With `--report-ms N`: print `replied <count>` every N ms whenever the
/// count of OK replies has changed. The load test reads it to check that
/// every request it sent was answered OK.
pub(crate) fn report_replies() {
    let Some(ms) = arg("--report-ms").and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        loop {
            let n = REPLIED.load(std::sync::atomic::Ordering::Relaxed);
            if n != last {
                println!("replied {n}");
                last = n;
            }
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    });
}
