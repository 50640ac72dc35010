//! Replays the committed corpus of the `hpack_decode` fuzz target (every
//! file in fuzz/corpus/hpack_decode/) through the same body, on stable.

use std::path::Path;

#[allow(unreachable_pub, dead_code)]
#[path = "../../fuzz/targets/hpack_decode.rs"]
mod body;

#[test]
fn replay_hpack_decode_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/hpack_decode");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| body::run(&data));
        assert!(outcome.is_ok(), "{} failed", file.display());
    }
    println!("replayed {} hpack_decode inputs", files.len());
}
