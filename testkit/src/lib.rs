//! Test fixtures shared by the Wharf crates: real services started by the tests themselves on
//! loopback, in temporary directories, and stopped when the fixture is dropped.
//!
//! - [`postgres`]: [`PgCluster`](postgres::PgCluster), a private PostgreSQL cluster.
//! - [`garage`]: [`Garage`](garage::Garage), a single-node S3 object store with one bucket.
//! - [`haproxy`]: [`Haproxy`](haproxy::Haproxy), a TCP balancer in front of test daemons.
//! - [`port`]: free loopback ports.
#![warn(missing_docs)]

pub mod garage;
pub mod haproxy;
pub mod port;
pub mod postgres;
