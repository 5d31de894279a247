//! Test support, compiled for unit tests only: an in-memory S3 and the property-test targets.

mod fuzzing;
pub(crate) mod memory_s3;
