//! cargo-fuzz target: the HPACK decoder on arbitrary bytes (see the body in
//! `fuzz/targets/hpack_decode.rs` for the input layout and the checks).
#![no_main]

#[path = "../targets/hpack_decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
