//! Helpers every support module shares: users files and `wharf-ftpd serve` processes, the
//! storage backend of a site (local or S3 in Garage), the test PKI, and (from wharf-testkit)
//! deterministic payloads and guarded Python scripts.
//! Each support module includes this folder with `#[path = "../common/mod.rs"]`, since every
//! integration test compiles its own copy.
// Each test crate uses a subset of these helpers.
#![allow(dead_code)]

pub mod backend;
pub mod ftpd;
pub mod pki;
pub mod users;

pub use wharf_testkit::{payload, python};
