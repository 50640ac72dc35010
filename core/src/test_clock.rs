//! A time origin for the crate's unit tests. The only clock reading in this
//! crate, compiled for tests only; the purity check skips this file.

use std::time::Instant;

/// An arbitrary instant to start virtual time from.
pub(crate) fn origin() -> Instant {
    Instant::now()
}
