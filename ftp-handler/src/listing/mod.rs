//! Directory listings for the data connection, built from [`Entry`](crate::storage::Entry)
//! values by pure functions (no I/O), so every format is unit-tested with fixed times.
//!
//! - [`ls`]: LIST lines in the `ls -l` format every client parses, and NLST names.
//! - [`mlsx`]: RFC 3659 MLSD lines and the MLST entry line, with the facts we support.
//! - [`time`]: UTC calendar conversion shared by both (and by MDTM).

pub mod ls;
pub mod mlsx;
pub mod time;

pub use ls::{ls_line, nlst_line};
pub use mlsx::{FactRole, MLST_FACTS_FEAT, facts, mlsd_line, mlst_line};
pub use time::{UtcDateTime, ftp_timestamp};
