//! Helpers shared by the integration tests and binaries of grpc-sansio.
#![forbid(unsafe_code)]

use std::path::PathBuf;

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
