//! HPACK header compression (RFC 7541). Work in progress.
