//! Datagrams as units of work: received from one UDP socket, one handler call each, wherever
//! the mode runs it.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::pin::pin;
use std::sync::Arc;

use crate::address::{ListenAddr, Peer};
use crate::catch_unwind::CatchUnwind;
use crate::error::{ErrorReport, Failure, Phase};
use crate::handler::DatagramHandler;
use crate::packet::{Datagram, DatagramReply};
use crate::shared::Shared;
use crate::shutdown::{ShutdownSignal, bounded_by_shutdown};
use crate::strategy::{Intake, Work};

/// The socket of a datagram server and the handler prototype.
pub(crate) struct DatagramIntake<D> {
    /// Cloned for each datagram.
    pub(crate) handler: D,
    /// The bound, non-blocking socket; replies go out through it too.
    pub(crate) socket: Option<Arc<UdpSocket>>,
    /// Its address.
    pub(crate) local: SocketAddr,
    /// Receive buffer, one byte longer than `max_packet_size` to detect truncation.
    pub(crate) buffer: Vec<u8>,
    /// Largest datagram passed on in full.
    pub(crate) max_packet_size: usize,
}

impl<D: DatagramHandler> Intake for DatagramIntake<D> {
    type Work = DatagramWork<D>;

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.socket.iter().map(|socket| socket.as_fd()).collect()
    }

    fn take(&mut self, _index: usize) -> io::Result<DatagramWork<D>> {
        let socket = self
            .socket
            .clone()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "socket closed"))?;
        let (length, peer) = socket.recv_from(&mut self.buffer)?;
        let received = &self.buffer[..length.min(self.buffer.len())];
        let max = self.max_packet_size;
        Ok(DatagramWork {
            handler: self.handler.clone(),
            peer_as_peer: Peer::Ip(peer),
            datagram: Datagram {
                data: received[..received.len().min(max)].to_vec(),
                peer,
                local: self.local,
                truncated: received.len() > max,
            },
            reply: DatagramReply { socket, peer },
        })
    }

    fn child_closes(&self) -> Vec<RawFd> {
        Vec::new()
    }

    fn close(&mut self) {
        self.socket = None;
    }
}

/// One received datagram with its handler and reply handle.
pub(crate) struct DatagramWork<D> {
    handler: D,
    /// The sender as `verify_request` sees it.
    peer_as_peer: Peer,
    datagram: Datagram,
    reply: DatagramReply,
}

impl<D: DatagramHandler> Work for DatagramWork<D> {
    fn peer(&self) -> &Peer {
        &self.peer_as_peer
    }

    fn refuse(self, _shared: &Shared) {
        // A datagram past the limit is dropped, as a full socket buffer would.
    }

    async fn run(mut self, shared: Arc<Shared>, signal: ShutdownSignal, _blocking: bool) -> bool {
        let local = ListenAddr::Tcp(self.datagram.local);
        let grace = shared.info.shutdown_timeout;
        let handled = pin!(self.handler.handle(self.datagram, self.reply));
        let outcome = bounded_by_shutdown(pin!(CatchUnwind::new(handled)), &signal, grace).await;
        let (error, panic);
        let failure = match &outcome {
            None | Some(Ok(Ok(()))) => return true,
            Some(Ok(Err(e))) => {
                error = e;
                Failure::Error(error.as_ref())
            }
            Some(Err(message)) => {
                panic = message;
                Failure::Panic(panic)
            }
        };
        (shared.handle_error)(&ErrorReport {
            server: &shared.info.name,
            connection_id: 0,
            peer: &self.peer_as_peer,
            local: &local,
            phase: Phase::Handle,
            failure,
        });
        true
    }
}
