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
//! Peers come from `.ci/install-peers`; a missing peer skips its rows (and
//! fails the test under `GRPC_SANSIO_REQUIRE_PEERS=1`). Every child process
//! is killed when its handle drops, and every wait is bounded.

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
fn start_server(side: Side, peers: &Peers) -> Result<(PeerProcess, u16), String> {
    let mut p = match side {
        Side::Ours(t) => PeerProcess::spawn_program(
            Path::new(server_bin()),
            &["--port", "0", "--transport", t],
            &workspace_root(),
            &[],
        ),
        Side::Grpcio => PeerProcess::spawn(
            peers.python.as_deref().ok_or("no python")?,
            "interop_server.py",
            &["--port", "0", "--max_seconds", "600"],
        ),
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

fn run_client(side: Side, port: u16, peers: &Peers, cases: &[&str]) -> Result<Vec<String>, String> {
    let port = port.to_string();
    let list = cases.join(",");
    let common = [
        "--server_host",
        "127.0.0.1",
        "--server_port",
        port.as_str(),
        "--test_case",
        list.as_str(),
        "--soak_iterations",
        SOAK,
    ];
    let p = match side {
        Side::Ours(t) => {
            let mut args = common.to_vec();
            args.extend(["--transport", t]);
            PeerProcess::spawn_program(Path::new(client_bin()), &args, &workspace_root(), &[])
        }
        Side::Grpcio | Side::Grpclib => {
            let script = if side == Side::Grpcio {
                "interop_client.py"
            } else {
                "interop_grpclib_client.py"
            };
            PeerProcess::spawn(peers.python.as_deref().ok_or("no python")?, script, &common)
        }
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

fn run_row(client: Side, server: Side, peers: &Peers) -> Row {
    let client_cases: Vec<&'static str> = match client {
        Side::Grpclib => ALL_CASES
            .iter()
            .copied()
            .filter(|c| !GRPCLIB_GAPS.contains(c))
            .collect(),
        _ => ALL_CASES.to_vec(),
    };
    let (expected, mut not_applicable): (Vec<_>, Vec<_>) = client_cases.iter().partition(|c| {
        matches!(server, Side::Ours(_)) || !PEER_SERVER_GAPS.iter().any(|(g, _)| g == *c)
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
    let result = start_server(server, peers).and_then(|(srv, port)| {
        let out = run_client(client, port, peers, &row.expected);
        drop(srv);
        out
    });
    match result {
        Ok(stdout) => row.lines = report::parse(&stdout),
        Err(e) => row.failure = Some(e),
    }
    eprintln!(
        "{} -> {}: {}/{} in {:?}",
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
        .map(|(c, s)| run_row(c, s, &peers))
        .collect();

    let md = format!(
        "{}\nNot applicable: {}; grpclib has no message compression.\n",
        table(&rows),
        PEER_SERVER_GAPS
            .iter()
            .map(|(c, why)| format!("{c} against a peer server ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = workspace_root().join("target/interop-matrix.md");
    std::fs::write(&out, &md).expect("write target/interop-matrix.md");
    eprintln!("{md}");

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
