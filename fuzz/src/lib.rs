//! Fuzz targets for every parser that reads bytes from strangers.
//!
//! Each target is a plain function from bytes to nothing that panics when an invariant breaks,
//! so the same code runs under libFuzzer (the binaries in `fuzz_targets/`, built by
//! `scripts/fuzz` with coverage instrumentation) and in `cargo test` (`tests/corpus.rs` replays
//! the committed corpus, crashes found earlier included).
//!
//! - [`ftp_command`]: FTP control lines through the line reader and the command parser.
//! - [`ftp_address`]: PORT, EPRT and EPSV arguments.
//! - [`jail_path`]: virtual path resolution and the local jail on a real directory tree.
//! - [`object_key`]: object keys built from a home prefix and a virtual path.
//! - [`frame`]: `wharf::frame` decoding, with the memory it takes.
//! - [`remote_command`]: the remote-command service's messages in their frames.
//! - [`proxy_header`]: PROXY protocol v1 and v2 headers.
//! - [`alloc_probe`]: the allocator that lets targets see the largest allocation they caused.
#![warn(missing_docs)]

pub mod alloc_probe;
pub mod frame;
pub mod ftp_address;
pub mod ftp_command;
pub mod jail_path;
pub mod object_key;
pub mod proxy_header;
pub mod remote_command;

/// One fuzz target: its name and the function that checks one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every target by name, as `scripts/fuzz` and the corpus directories name them.
pub const TARGETS: &[Target] = &[
    ("ftp_command", ftp_command::run),
    ("ftp_address", ftp_address::run),
    ("jail_path", jail_path::run),
    ("object_key", object_key::run),
    ("frame", frame::run),
    ("remote_command", remote_command::run),
    ("proxy_header", proxy_header::run),
];

/// Splits fuzz input at `0xFF` bytes (never part of UTF-8) into at most `N` text fields, each
/// decoded lossily so that NUL, CR, LF and any other character still reach the parser.
pub fn fields<const N: usize>(data: &[u8]) -> [String; N] {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    let mut rest = data;
    for (index, slot) in out.iter_mut().enumerate() {
        let (field, after) = match rest.iter().position(|&b| b == 0xFF) {
            Some(at) if index + 1 < N => (&rest[..at], &rest[at + 1..]),
            _ => (rest, &[][..]),
        };
        *slot = String::from_utf8_lossy(field).into_owned();
        rest = after;
    }
    out
}

/// A current-thread runtime for the async readers, built once per thread.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime without I/O or timers always builds");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}
