#![no_main]

#[path = "../targets/metadata_and_timeout.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
