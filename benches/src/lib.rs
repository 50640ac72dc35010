//! Shared inputs for the grpc-sansio benchmarks (see `benches/README.md`).
#![forbid(unsafe_code)]
