//! cargo-fuzz entry point for the frame decoder; the body lives in
//! `fuzz/targets/frame_decode.rs` so the corpus can be replayed on stable.
#![no_main]

#[path = "../targets/frame_decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
