#![no_main]

#[path = "../targets/grpc_message_decode.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
