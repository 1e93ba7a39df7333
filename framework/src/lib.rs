//! Wharf: a pluggable socket server framework, Python's `socketserver` made Rust.
//!
//! A server binds TCP (IPv4/IPv6), Unix stream or UDP sockets and hands each connection to a
//! fresh clone of a handler. How connections run is chosen at run time ([`Mode`]): one at a
//! time, a thread each, a process each, or a tokio task each; the handler code is the same.
//!
//! Module map:
//! - [`handler`]: the [`RequestHandler`] and [`DatagramHandler`] traits you implement.
//! - [`connection`]: the [`Connection`] a stream handler reads and writes.
//! - [`builder`]: [`ServerBuilder`], every option with its default.
//! - [`server`]: the bound [`Server`]: `serve_forever`, `handle_request`, addresses.
//! - [`datagram`]: the UDP [`DatagramServer`].
//! - [`duration`]: the `30s` / `500ms` duration syntax of config files and flags.
//! - [`mode`]: the concurrency [`Mode`] and its parsing from strings and config files.
//! - [`shutdown`]: [`ServerHandle`] and the [`ShutdownSignal`] connections await.
//! - [`address`]: [`ListenAddr`] and [`Peer`].
//! - [`error`]: [`ServerError`] and what `handle_error` is told.
//! - [`frame`]: length-prefixed postcard frames, message boundaries for custom protocols.
//!
//! ```no_run
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
//! use wharf::{Connection, HandlerError, RequestHandler, Server};
//!
//! #[derive(Clone)]
//! struct Echo;
//!
//! impl RequestHandler for Echo {
//!     async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
//!         let mut line = String::new();
//!         while conn.read_line(&mut line).await? > 0 {
//!             conn.write_all(line.as_bytes()).await?;
//!             conn.flush().await?;
//!             line.clear();
//!         }
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> Result<(), wharf::ServerError> {
//!     let server = Server::builder()
//!         .listen("127.0.0.1:7000".parse::<std::net::SocketAddr>().unwrap())
//!         .mode("threading".parse().unwrap())
//!         .build(Echo)?;
//!     server.serve_forever()
//! }
//! ```
#![warn(missing_docs)]

pub mod address;
mod blocking_io;
pub mod builder;
mod catch_unwind;
pub mod connection;
pub mod datagram;
pub mod duration;
pub mod error;
pub mod frame;
pub mod handler;
mod listener;
pub mod mode;
pub mod server;
pub mod shutdown;
mod signals;
mod strategy;

#[cfg(feature = "auth")]
pub mod auth;

pub use address::{ListenAddr, Peer};
pub use builder::{LimitPolicy, ServerBuilder};
pub use connection::{BufferSizes, Connection, IoStream, Stream};
pub use datagram::{Datagram, DatagramReply, DatagramServer};
pub use error::{ErrorReport, Failure, Phase, ServerError, error_chain};
pub use handler::{DatagramHandler, HandlerError, RequestHandler};
pub use mode::Mode;
pub use server::{RequestOutcome, Server, ServerInfo, SocketType};
pub use shutdown::{ServerHandle, ShutdownSignal};

/// The guide in `docs/framework.md`, compiled here so its examples stay correct.
#[cfg(doctest)]
#[doc = include_str!("../../docs/framework.md")]
pub struct FrameworkGuide;
