//! Wharf's benchmarks: the echo benchmark (a closed-loop load generator, the servers it
//! measures side by side, and the report that compares them with the framework's targets) and
//! the FTP benchmark ([`ftp`]: wharf-ftpd against vsftpd, pure-ftpd and pyftpdlib).
//!
//! Module map:
//! - [`histogram`]: the bounded-memory latency [`Histogram`](histogram::Histogram).
//! - [`cpu`]: the server's CPU time (its cost per round trip), from a cgroup or `/proc`.
//! - [`cgroup`]: a control group per server, where the kernel sums its CPU time.
//! - [`machine`]: what machine the run happened on, for the record.
//! - [`load`]: the load generator: C connections, each sending and awaiting its echo in a loop.
//! - [`peers`]: the echo servers the benchmark can start (bare tokio, Wharf, Python).
//! - [`launch`]: starting a server as a child process and stopping it with its children.
//! - [`plan`]: which servers run at which connection counts, and the run itself.
//! - [`aggregate`]: the median of several rounds per cell.
//! - [`targets`]: the targets of the framework issue, judged on measured cells.
//! - [`report`]: the printed tables and the JSON record.
//! - [`affinity`]: pinning the generator and the server to separate CPUs.
//! - [`fd_limit`]: raising the open-file limit so 1000 connections (10,000 FTP sessions) fit.
//! - [`memory`]: RSS and PSS of a server's whole process tree.
//! - [`ftp`]: the FTP benchmark, which reuses the pieces above.

pub mod affinity;
pub mod aggregate;
pub mod cgroup;
pub mod cpu;
pub mod fd_limit;
pub mod ftp;
pub mod histogram;
pub mod launch;
pub mod load;
pub mod machine;
pub mod memory;
pub mod peers;
pub mod plan;
pub mod report;
pub mod targets;
