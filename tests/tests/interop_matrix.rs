//! The interop matrix: every client of the suite against every server, over
//! 127.0.0.1, each case reported on its own line (see
//! `grpc_sansio_tests::interop::report`) and every expected case required
//! to pass.
//!
//! Rows: our client x our server for the four adapter pairings; grpcio
//! (gRPC C-core) server x our client and grpcio client x our server, for
//! both adapters; the same with @grpc/grpc-js; and the grpclib client x our
//! server. The table of pass counts is written to `target/interop-matrix.md`
//! (README's interop section is pasted from it).
//!
//! A second test runs a subset of the cases over TLS: our client x our
//! server (four pairings) and grpcio x ours both ways, with a test CA and a
//! server certificate for `foo.test.google.fr` made at test time (gRPC's
//! bundled test credentials are not shipped; see
//! `grpc_sansio_tests::interop::tls`), its table in
//! `target/interop-matrix-tls.md`.
//!
//! Peers come from `.ci/install-peers`; a missing peer skips its rows (and
//! fails the test under `GRPC_SANSIO_REQUIRE_PEERS=1`). Every child process
//! is killed when its handle drops, and every wait is bounded.

#[path = "tokio_support/pki.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grpc_sansio_tests::interop::cases::ALL_CASES;
use grpc_sansio_tests::interop::report::{self, CaseLine};
use grpc_sansio_tests::peer::{self, PeerProcess};
use grpc_sansio_tests::workspace_root;

/// How long a server may take to print its port.
const START: Duration = Duration::from_secs(30);
/// How long one client run (every case) may take.
const CLIENT_RUN: Duration = Duration::from_secs(240);
/// Soak iterations: small, the matrix is about interop, not endurance.
const SOAK: &str = "5";

/// The cases a server cannot take part in, with the reason.
const PEER_SERVER_GAPS: &[(&str, &str)] = &[
    (
        "client_compressed_unary",
        "the server cannot tell whether a request arrived compressed",
    ),
    (
        "client_compressed_streaming",
        "the server cannot tell whether a request arrived compressed",
    ),
];

/// The cases a grpc-js server cannot take part in, with the reason: its
/// server has no response compression (grpc-js 1.14 writes the
/// compressed flag of every response as 0), and our client checks the
/// flag.
const GRPC_JS_SERVER_GAPS: &[(&str, &str)] = &[
    (
        "server_compressed_unary",
        "the grpc-js server cannot compress responses",
    ),
    (
        "server_compressed_streaming",
        "the grpc-js server cannot compress responses",
    ),
];

/// The cases grpclib cannot run (no message compression at all).
const GRPCLIB_GAPS: &[&str] = &[
    "client_compressed_unary",
    "client_compressed_streaming",
    "server_compressed_unary",
    "server_compressed_streaming",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours(&'static str),
    Grpcio,
    GrpcJs,
    Grpclib,
}

impl Side {
    fn label(self) -> String {
        match self {
            Side::Ours(t) => format!("grpc-sansio ({t})"),
            Side::Grpcio => "grpcio (C-core)".into(),
            Side::GrpcJs => "@grpc/grpc-js".into(),
            Side::Grpclib => "grpclib".into(),
        }
    }
}

struct Peers {
    python: Option<PathBuf>,
    node_modules: Option<PathBuf>,
}

/// The files of a TLS run: the test CA, and the server's certificate
/// (for `foo.test.google.fr`) and key.
struct Tls {
    dir: PathBuf,
    ca: String,
    cert: String,
    key: String,
}

/// The name the official test server certificate carries, and ours too.
const TLS_HOST: &str = "foo.test.google.fr";

/// The cases of the TLS rows.
const TLS_CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "custom_metadata",
];

impl Tls {
    fn new() -> Tls {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "grpc-sansio-interop-tls-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca = pki::Pki::new("grpc-sansio interop test ca");
        let leaf = ca.leaf(&[TLS_HOST, "*.test.google.fr"]);
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write pem");
            p.to_string_lossy().into_owned()
        };
        Tls {
            ca: write("ca.pem", &ca.ca_pem),
            cert: write("server.pem", &leaf.cert_pem),
            key: write("server.key", &leaf.key_pem),
            dir,
        }
    }

    fn server_args(&self) -> Vec<String> {
        [
            "--use_tls",
            "true",
            "--tls_cert_file",
            &self.cert,
            "--tls_key_file",
            &self.key,
        ]
        .map(String::from)
        .to_vec()
    }

    fn client_args(&self) -> Vec<String> {
        [
            "--use_tls",
            "true",
            "--use_test_ca",
            "true",
            "--test_ca_file",
            &self.ca,
            "--server_host_override",
            TLS_HOST,
        ]
        .map(String::from)
        .to_vec()
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Row {
    client: Side,
    server: Side,
    expected: Vec<&'static str>,
    not_applicable: Vec<&'static str>,
    lines: Vec<CaseLine>,
    failure: Option<String>,
}

impl Row {
    fn passed(&self) -> usize {
        self.expected
            .iter()
            .filter(|c| self.lines.iter().any(|l| l.name == **c && l.passed))
            .count()
    }

    fn problems(&self) -> Vec<String> {
        let mut out: Vec<String> = self.failure.iter().cloned().collect();
        for c in &self.expected {
            match self.lines.iter().find(|l| l.name == *c) {
                Some(l) if l.passed => {}
                Some(l) => out.push(format!("{c}: {}", l.detail)),
                None => out.push(format!("{c}: no result line")),
            }
        }
        out
    }
}

fn server_bin() -> &'static str {
    env!("CARGO_BIN_EXE_interop-server")
}

fn client_bin() -> &'static str {
    env!("CARGO_BIN_EXE_interop-client")
}

fn node_dir() -> PathBuf {
    workspace_root().join("tests/peers/node")
}

/// Start a server; returns it and its port.
fn start_server(
    side: Side,
    peers: &Peers,
    tls: Option<&Tls>,
) -> Result<(PeerProcess, u16), String> {
    let tls_args = tls.map(Tls::server_args).unwrap_or_default();
    let tls_args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
    let mut p = match side {
        Side::Ours(t) => PeerProcess::spawn_program(
            Path::new(server_bin()),
            &[&["--port", "0", "--transport", t][..], &tls_args].concat(),
            &workspace_root(),
            &[],
        ),
        Side::Grpcio => PeerProcess::spawn(
            peers.python.as_deref().ok_or("no python")?,
            "interop_server.py",
            &[&["--port", "0", "--max_seconds", "600"][..], &tls_args].concat(),
        ),
        Side::GrpcJs if tls.is_some() => return Err("no TLS rows for grpc-js".into()),
        Side::GrpcJs => {
            let modules = peers.node_modules.as_deref().ok_or("no node")?;
            PeerProcess::spawn_program(
                Path::new("node"),
                &["interop_server.js", "--port", "0", "--max_seconds", "600"],
                &node_dir(),
                &[(peer::NODE_MODULES_ENV, modules.as_os_str())],
            )
        }
        Side::Grpclib => return Err("grpclib runs as a client only".into()),
    }
    .map_err(|e| format!("spawn {side:?} server: {e}"))?;
    let port = p
        .wait_line("PORT ", START)
        .ok_or_else(|| format!("{side:?} server printed no port"))?;
    let port = port
        .trim()
        .parse()
        .map_err(|e| format!("port {port:?}: {e}"))?;
    Ok((p, port))
}

fn run_client(
    side: Side,
    port: u16,
    peers: &Peers,
    cases: &[&str],
    tls: Option<&Tls>,
) -> Result<Vec<String>, String> {
    let port = port.to_string();
    let list = cases.join(",");
    let tls_args = tls.map(Tls::client_args).unwrap_or_default();
    let mut common = vec![
        "--server_host",
        "127.0.0.1",
        "--server_port",
        port.as_str(),
        "--test_case",
        list.as_str(),
        "--soak_iterations",
        SOAK,
    ];
    common.extend(tls_args.iter().map(String::as_str));
    let p = match side {
        Side::Ours(t) => {
            let mut args = common.clone();
            args.extend(["--transport", t]);
            PeerProcess::spawn_program(Path::new(client_bin()), &args, &workspace_root(), &[])
        }
        Side::Grpclib if tls.is_some() => return Err("no TLS rows for grpclib".into()),
        Side::Grpcio | Side::Grpclib => {
            let script = if side == Side::Grpcio {
                "interop_client.py"
            } else {
                "interop_grpclib_client.py"
            };
            PeerProcess::spawn(peers.python.as_deref().ok_or("no python")?, script, &common)
        }
        Side::GrpcJs if tls.is_some() => return Err("no TLS rows for grpc-js".into()),
        Side::GrpcJs => {
            let modules = peers.node_modules.as_deref().ok_or("no node")?;
            let mut args = vec!["interop_client.js"];
            args.extend(common);
            PeerProcess::spawn_program(
                Path::new("node"),
                &args,
                &node_dir(),
                &[(peer::NODE_MODULES_ENV, modules.as_os_str())],
            )
        }
    }
    .map_err(|e| format!("spawn {side:?} client: {e}"))?;
    let out = p.finish(CLIENT_RUN);
    if out.status.is_none() {
        return Err(format!(
            "client killed after {CLIENT_RUN:?}\n{}",
            out.transcript()
        ));
    }
    if !out.success() {
        eprintln!("{:?} client transcript:\n{}", side, out.transcript());
    }
    Ok(out.stdout)
}

fn run_row(client: Side, server: Side, peers: &Peers, tls: Option<&Tls>) -> Row {
    let client_cases: Vec<&'static str> = match client {
        _ if tls.is_some() => TLS_CASES.to_vec(),
        Side::Grpclib => ALL_CASES
            .iter()
            .copied()
            .filter(|c| !GRPCLIB_GAPS.contains(c))
            .collect(),
        _ => ALL_CASES.to_vec(),
    };
    let (expected, mut not_applicable): (Vec<_>, Vec<_>) = client_cases.iter().partition(|c| {
        let gap = |gaps: &[(&str, &str)]| gaps.iter().any(|(g, _)| g == *c);
        match server {
            Side::Ours(_) => true,
            Side::GrpcJs => !gap(PEER_SERVER_GAPS) && !gap(GRPC_JS_SERVER_GAPS),
            _ => !gap(PEER_SERVER_GAPS),
        }
    });
    if client == Side::Grpclib {
        not_applicable.extend(GRPCLIB_GAPS);
    }
    let mut row = Row {
        client,
        server,
        expected,
        not_applicable,
        lines: Vec::new(),
        failure: None,
    };
    let started = Instant::now();
    let result = start_server(server, peers, tls).and_then(|(srv, port)| {
        let out = run_client(client, port, peers, &row.expected, tls);
        drop(srv);
        out
    });
    match result {
        Ok(stdout) => row.lines = report::parse(&stdout),
        Err(e) => row.failure = Some(e),
    }
    eprintln!(
        "{}{} -> {}: {}/{} in {:?}",
        if tls.is_some() { "TLS " } else { "" },
        client.label(),
        server.label(),
        row.passed(),
        row.expected.len(),
        started.elapsed()
    );
    row
}

fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| client | server | passed | not applicable |\n");
    s.push_str("|---|---|---|---|\n");
    for r in rows {
        let na = if r.not_applicable.is_empty() {
            "-".to_string()
        } else {
            r.not_applicable.join(", ")
        };
        s.push_str(&format!(
            "| {} | {} | {}/{} | {} |\n",
            r.client.label(),
            r.server.label(),
            r.passed(),
            r.expected.len(),
            na
        ));
    }
    s
}

#[test]
fn interop_matrix() {
    let python = peer::python_with(&["grpc", "grpc_tools", "grpclib", "google.protobuf"]);
    let node_modules = peer::node_with(&["@grpc/grpc-js", "@grpc/proto-loader"]);
    let peers = Peers {
        python,
        node_modules,
    };
    let mut plan = Vec::new();
    for c in ["tokio", "blocking"] {
        for s in ["tokio", "blocking"] {
            plan.push((Side::Ours(c), Side::Ours(s)));
        }
    }
    for t in ["tokio", "blocking"] {
        if peers.python.is_some() {
            plan.push((Side::Ours(t), Side::Grpcio));
            plan.push((Side::Grpcio, Side::Ours(t)));
            plan.push((Side::Grpclib, Side::Ours(t)));
        }
        if peers.node_modules.is_some() {
            plan.push((Side::Ours(t), Side::GrpcJs));
            plan.push((Side::GrpcJs, Side::Ours(t)));
        }
    }
    let rows: Vec<Row> = plan
        .into_iter()
        .map(|(c, s)| run_row(c, s, &peers, None))
        .collect();

    let md = format!(
        "{}\nNot applicable: {}; grpclib has no message compression.\n",
        table(&rows),
        PEER_SERVER_GAPS
            .iter()
            .map(|(c, why)| format!("{c} against a peer server ({why})"))
            .chain(
                GRPC_JS_SERVER_GAPS
                    .iter()
                    .map(|(c, why)| format!("{c} against grpc-js ({why})"))
            )
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = workspace_root().join("target/interop-matrix.md");
    std::fs::write(&out, &md).expect("write target/interop-matrix.md");
    eprintln!("{md}");

    assert_all_passed(&rows);
}

fn assert_all_passed(rows: &[Row]) {
    let failures: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            let who = format!("{} -> {}", r.client.label(), r.server.label());
            r.problems().into_iter().map(move |p| format!("{who}: {p}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn interop_matrix_tls() {
    let python = peer::python_with(&["grpc", "grpc_tools", "google.protobuf"]);
    let peers = Peers {
        python,
        node_modules: None,
    };
    let tls = Tls::new();
    let mut plan = Vec::new();
    for c in ["tokio", "blocking"] {
        for s in ["tokio", "blocking"] {
            plan.push((Side::Ours(c), Side::Ours(s)));
        }
    }
    if peers.python.is_some() {
        for t in ["tokio", "blocking"] {
            plan.push((Side::Ours(t), Side::Grpcio));
            plan.push((Side::Grpcio, Side::Ours(t)));
        }
    }
    let rows: Vec<Row> = plan
        .into_iter()
        .map(|(c, s)| run_row(c, s, &peers, Some(&tls)))
        .collect();
    for r in &rows {
        assert_eq!(r.expected, TLS_CASES, "every TLS row runs the TLS cases");
    }
    let md = format!(
        "Over TLS ({}; test CA made at test time, server name {TLS_HOST}):\n\n{}",
        TLS_CASES.join(", "),
        table(&rows)
    );
    let out = workspace_root().join("target/interop-matrix-tls.md");
    std::fs::write(&out, &md).expect("write target/interop-matrix-tls.md");
    eprintln!("{md}");
    assert_all_passed(&rows);
}

#[test]
fn report_lines_of_every_driver_parse() {
    // The drivers print the same format; a line the parser would drop
    // would silently shrink the matrix, so the format is pinned here.
    let lines: Vec<String> = [
        "CASE empty_unary PASS ok (9 ms)",
        "CASE ping_pong FAIL reply 2: got 8, want 9",
        "SUMMARY {\"passed\": 1, \"failed\": 1}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let parsed = report::parse(&lines);
    assert_eq!(parsed.len(), 2);
    assert!(parsed[0].passed && !parsed[1].passed);
}

#[test]
fn tls_flags_take_effect() {
    // A name the certificate does not carry, and TLS against a plaintext
    // server: every case must fail, so the TLS rows cannot pass in clear.
    let peers = Peers {
        python: None,
        node_modules: None,
    };
    let tls = Tls::new();
    let (srv, port) = start_server(Side::Ours("blocking"), &peers, Some(&tls)).unwrap();
    let mut wrong = tls.client_args();
    *wrong.last_mut().unwrap() = "not.test.example".into();
    let port_s = port.to_string();
    let mut args = vec![
        "--server_host",
        "127.0.0.1",
        "--server_port",
        &port_s,
        "--test_case",
        "empty_unary",
        "--transport",
        "blocking",
    ];
    args.extend(wrong.iter().map(String::as_str));
    let out = PeerProcess::spawn_program(Path::new(client_bin()), &args, &workspace_root(), &[])
        .unwrap()
        .finish(Duration::from_secs(60));
    let lines = report::parse(&out.stdout);
    assert_eq!(lines.len(), 1, "{}", out.transcript());
    assert!(!lines[0].passed && !out.success(), "{}", out.transcript());
    drop(srv);
    let (srv, port) = start_server(Side::Ours("tokio"), &peers, None).unwrap();
    let lines = report::parse(
        &run_client(
            Side::Ours("tokio"),
            port,
            &peers,
            &["empty_unary", "large_unary"],
            Some(&tls),
        )
        .unwrap(),
    );
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| !l.passed), "{lines:?}");
    drop(srv);
}
