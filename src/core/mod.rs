//! Pure logic with no I/O: key naming, the entry codec, the culling policy, time and chance,
//! and backoff. Everything above builds on it; it imports nothing of the crate but the error.

pub(crate) mod backoff;
pub(crate) mod clock;
pub(crate) mod cull;
pub mod entry;
pub(crate) mod key;
