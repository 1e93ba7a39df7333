//! What a datagram handler is given: the received datagram and a way to reply to its sender.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// One received datagram (Python's `request[0]` with `client_address`).
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The payload, at most `max_packet_size` bytes.
    pub data: Vec<u8>,
    /// Who sent it.
    pub peer: SocketAddr,
    /// The address it arrived on.
    pub local: SocketAddr,
    /// Whether the datagram was longer than `max_packet_size` and got cut.
    pub truncated: bool,
}

/// Sends replies to the peer of one datagram, from the server's socket.
#[derive(Debug, Clone)]
pub struct DatagramReply {
    /// A non-blocking handle on the server's socket.
    pub(crate) socket: Arc<UdpSocket>,
    /// Where replies go.
    pub(crate) peer: SocketAddr,
}

impl DatagramReply {
    /// Sends one datagram to the peer; waits while the socket's send buffer is full.
    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        loop {
            match self.socket.send_to(data, self.peer) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                result => return result,
            }
        }
    }

    /// The peer replies go to.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}
