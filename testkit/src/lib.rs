//! Test fixtures shared by the Wharf crates: real services started by the tests themselves on
//! loopback, in temporary directories, and stopped when the fixture is dropped.
//!
//! - [`daemon`]: [`Daemon`](daemon::Daemon), a daemon under test (started, waited for until it
//!   listens, signalled, restarted, stopped on drop), optionally socket-activated.
//! - [`postgres`]: [`PgCluster`](postgres::PgCluster), a private PostgreSQL cluster.
//! - [`garage`]: [`Garage`](garage::Garage), a single-node S3 object store with one bucket.
//! - [`objects`]: [`Objects`](objects::Objects), a Garage bucket read and written with boto3.
//! - [`haproxy`]: [`Haproxy`](haproxy::Haproxy), a TCP balancer in front of test daemons.
//! - [`port`]: free loopback ports.
//! - [`process`]: child processes killed when the test process ends; bounded command runs;
//!   children and liveness from `/proc`.
//! - [`payload`]: deterministic payloads and their SHA-256 (of bytes or of a file).
//! - [`scrape`]: a metrics exporter read with Prometheus's own Python parser.
//! - [`python`]: Python scripts as test drivers, assertions guaranteed on.
#![warn(missing_docs)]

pub mod daemon;
pub mod garage;
pub mod haproxy;
pub mod objects;
pub mod payload;
pub mod port;
pub mod postgres;
pub mod process;
pub mod python;
pub mod scrape;
