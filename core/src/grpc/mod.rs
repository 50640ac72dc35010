//! The gRPC wire format pieces that need no connection. Work in progress.
