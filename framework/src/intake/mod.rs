//! What the two kinds of server take in, as the strategies' [`Intake`](crate::strategy::Intake):
//! accepted stream connections and received datagrams.
//!
//! - `stream`: connections from named listeners, run through setup, handle and finish.
//! - `datagram`: datagrams from one UDP socket, one handler call each.

pub(crate) mod datagram;
pub(crate) mod stream;
