//! Replays the committed `frame_decode` fuzz corpus through the fuzz body on
//! stable Rust, so every seed and every past finding is a regression test.

#[path = "../../fuzz/targets/frame_decode.rs"]
mod body;

#[test]
fn replay_frame_decode_corpus() {
    let dir = grpc_sansio_tests::workspace_root().join("fuzz/corpus/frame_decode");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "no corpus files in {}", dir.display());
    for path in &entries {
        let data = std::fs::read(path).expect("corpus file is readable");
        body::run(&data);
    }
}
