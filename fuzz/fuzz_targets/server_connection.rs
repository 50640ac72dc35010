#![no_main]

#[path = "../targets/server_connection.rs"]
mod body;
#[path = "../targets/script.rs"]
mod script;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
