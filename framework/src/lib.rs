//! Wharf: a pluggable socket server framework, Python's `socketserver` made Rust.
//!
//! A server binds TCP (IPv4/IPv6), Unix stream or UDP sockets and hands each connection to a
//! fresh clone of a handler. How connections run is chosen at run time ([`Mode`]): one at a
//! time, a thread each, a process each, or a tokio task each; the handler code is the same.
//!
//! Module map (each imports only those above it in the core):
//! - [`shared`]: the bottom: [`ServerInfo`], [`Capabilities`], hook types, limits.
//! - [`address`], [`mode`], [`duration`], [`error`], [`shutdown`]: leaf types.
//! - [`connection`]: the [`Connection`] a stream handler reads and writes, and its
//!   [`Transport`].
//! - [`packet`]: the [`Datagram`] and [`DatagramReply`] a datagram handler gets.
//! - [`handler`]: the [`RequestHandler`] and [`DatagramHandler`] traits you implement.
//! - `listener`: named listeners, binding, socket activation; `privilege`: [`RunAs`].
//! - `strategy`: the serving loops of the four modes, generic over streams and datagrams;
//!   `intake`: streams and datagrams as the strategies' units of work.
//! - [`server`], [`datagram_server`]: the bound [`Server`] and [`DatagramServer`].
//! - [`builder`]: [`ServerBuilder`] and [`DatagramBuilder`], every option with its default.
//! - [`frame`]: length-prefixed postcard frames, message boundaries for custom protocols.
//! - `logging` (feature `logging`): the daemons' text or JSON log set-up.
//! - `metrics` (feature `metrics`): counters shared across forked processes, and their HTTP
//!   exporter.
//! - [`proxy`]: PROXY protocol v1/v2 headers from trusted balancers ([`ProxyProtocol`]).
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
pub mod datagram_server;
pub mod duration;
pub mod error;
pub mod frame;
pub mod handler;
mod intake;
mod listener;
#[cfg(feature = "logging")]
pub mod logging;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod mode;
pub mod packet;
mod privilege;
pub mod proxy;
pub mod server;
pub mod shared;
pub mod shutdown;
mod signals;
mod strategy;

pub use address::{ListenAddr, Peer};
pub use builder::{DatagramBuilder, ServerBuilder};
pub use connection::{Connection, IoStream, SocketOptions, Transport};
pub use datagram_server::DatagramServer;
pub use error::{ErrorReport, Failure, Phase, ServerError, error_chain};
pub use handler::{DatagramHandler, HandlerError, RequestHandler};
pub use mode::Mode;
pub use packet::{Datagram, DatagramReply};
pub use privilege::{PrivilegeError, RunAs};
pub use proxy::{Cidr, ProxyProtocol};
pub use server::{RequestOutcome, Server};
pub use shared::{BufferSizes, Capabilities, LimitPolicy, ListenerInfo, ServerInfo, SocketType};
pub use shutdown::{ServerHandle, ShutdownSignal};

/// The guide in `docs/framework.md`, compiled here so its examples stay correct.
#[cfg(doctest)]
#[doc = include_str!("../../docs/framework.md")]
pub struct FrameworkGuide;
