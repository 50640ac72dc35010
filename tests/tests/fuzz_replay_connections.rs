//! Replays the committed corpora of the whole-connection fuzz targets
//! (`fuzz/corpus/server_connection`, `fuzz/corpus/client_connection`,
//! `fuzz/corpus/pair`), seeds and past findings alike, through the same
//! bodies the fuzzer runs, on stable Rust.

use std::path::PathBuf;

#[path = "../../fuzz/targets/script.rs"]
mod script;

#[path = "../../fuzz/targets/server_connection.rs"]
mod server_connection;

#[path = "../../fuzz/targets/client_connection.rs"]
mod client_connection;

#[path = "../../fuzz/targets/pair.rs"]
mod pair;

#[path = "../../fuzz/seeds/connections.rs"]
mod seeds;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = grpc_sansio_tests::workspace_root()
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            eprintln!("{target}: {name} failed");
            std::panic::resume_unwind(panic);
        }
    }
    println!("{target}: replayed {} files", files.len());
}

#[test]
fn replay_server_connection() {
    replay("server_connection", server_connection::run);
}

#[test]
fn replay_client_connection() {
    replay("client_connection", client_connection::run);
}

#[test]
fn replay_pair() {
    replay("pair", pair::run);
}

/// The seeds run clean through their targets (also before they are
/// written, so a broken seed generator is caught here).
#[test]
fn generated_seeds_run_clean() {
    for (name, data) in seeds::server_seeds() {
        eprintln!("server_connection seed {name}");
        server_connection::run(&data);
    }
    for (name, data) in seeds::client_seeds() {
        eprintln!("client_connection seed {name}");
        client_connection::run(&data);
    }
    for (name, data) in seeds::pair_seeds() {
        eprintln!("pair seed {name}");
        pair::run(&data);
    }
}

/// Rewrites the `seed_*` files of the three corpora (see
/// fuzz/seeds/connections.rs). Run by hand with `--ignored`.
#[test]
#[ignore = "writes into fuzz/corpus; run by hand to regenerate the seeds"]
fn write_connection_seeds() {
    let root = grpc_sansio_tests::workspace_root().join("fuzz/corpus");
    let sets = [
        ("server_connection", seeds::server_seeds()),
        ("client_connection", seeds::client_seeds()),
        ("pair", seeds::pair_seeds()),
    ];
    for (target, seeds) in sets {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (name, data) in seeds {
            std::fs::write(dir.join(format!("seed_{name}")), data).expect("seed written");
        }
    }
}
