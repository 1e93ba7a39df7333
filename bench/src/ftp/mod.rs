//! The FTP benchmark: `wharf-ftpd` in every concurrency mode side by side with vsftpd,
//! pure-ftpd and pyftpdlib, on one machine in one run.
//!
//! Module map:
//! - [`client`]: a raw FTP client on tokio, the load generator's only protocol code.
//! - [`servers`]: the servers measured and the programs they need.
//! - [`setup`]: each server's root, account and configuration (files under `bench/peers/`).
//! - [`transfers`]: single-session STOR/RETR and N concurrent downloads or uploads.
//! - [`sessions`]: login bursts, idle sessions with the server's memory, the login storm.
//! - [`run`]: every scenario against one server, as [`results::Cell`]s.
//! - [`variant`]: the wharf-ftpd set-ups (S3 or local files, users file or PostgreSQL,
//!   durable uploads or not).
//! - [`compare`]: set-ups side by side in interleaved rounds (`--compare s3|postgres|durability`).
//! - `cells`: what the scenarios measured, as cells with details and failures.
//! - [`results`]: metrics, cells and comparisons between servers.
//! - [`loopback`]: the machine's single-stream TCP limit (own sink and iperf3).
//! - [`argon2_cost`]: what the argon2 parameters allow: the login-rate ceiling.
//! - [`targets`]: the targets judged on the cells.
//! - [`report`]: the Markdown tables and the JSON record.
//! - [`chart`]: the SVG chart of throughput and memory per server.

pub mod argon2_cost;
mod cells;
pub mod chart;
pub mod client;
pub mod compare;
pub mod loopback;
pub mod report;
pub mod results;
pub mod run;
pub mod servers;
pub mod sessions;
pub mod setup;
pub mod targets;
pub mod transfers;
pub mod variant;

/// The first argument that makes the bench binary serve as `wharf-ftpd serve`.
pub const SERVE_FTPD: &str = "serve-ftpd";
/// The first argument that makes the bench binary serve as the loopback sink.
pub const SERVE_SINK: &str = "serve-sink";
