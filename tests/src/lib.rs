//! Helpers shared by the integration tests and binaries of grpc-sansio.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use grpc_sansio::grpc::compression::{Compressor, Identity};

pub mod attack;
pub mod by_hand;
pub mod demo;
pub mod interop;
pub mod peer;
pub mod serve;
pub mod tap;

/// The root of the workspace (where `spec/`, `fuzz/` and `core/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Poll `done` every 5 ms until it holds or `limit` has passed; whether it
/// held. For tests that wait on another thread's work (the caller asserts
/// on what it waited for).
pub fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A compressor named `picky` that copies messages through, except that
/// it fails to compress one that holds the bytes `bad`: for tests of a
/// send the compressor refuses.
#[derive(Debug, Default)]
pub struct PickyCompressor;

impl Compressor for PickyCompressor {
    fn name(&self) -> &'static str {
        "picky"
    }

    fn compress(
        &self,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), grpc_sansio::grpc::compression::CompressionError> {
        if input.windows(3).any(|w| w == b"bad") {
            return Err(grpc_sansio::grpc::compression::CompressionError::Failed);
        }
        Identity.compress(input, out)
    }

    fn decompress(
        &self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), grpc_sansio::grpc::compression::CompressionError> {
        Identity.decompress(input, limit, out)
    }
}
