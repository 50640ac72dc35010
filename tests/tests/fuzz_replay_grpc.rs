//! Replays the committed seed corpora of the gRPC-layer fuzz targets
//! (`fuzz/corpus/grpc_message_decode`, `fuzz/corpus/metadata_and_timeout`)
//! through the same bodies the fuzzer runs, on stable Rust.

use std::path::PathBuf;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/targets/grpc_message_decode.rs"]
mod grpc_message_decode;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/targets/metadata_and_timeout.rs"]
mod metadata_and_timeout;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
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
        run(&data);
    }
    println!("{target}: replayed {} files", files.len());
}

#[test]
fn replay_grpc_message_decode() {
    replay("grpc_message_decode", grpc_message_decode::run);
}

#[test]
fn replay_metadata_and_timeout() {
    replay("metadata_and_timeout", metadata_and_timeout::run);
}
