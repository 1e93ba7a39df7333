//! The UDP server: one handler call per datagram, in any concurrency mode.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::address::{ListenAddr, Peer};
use crate::builder::{LimitPolicy, ServerBuilder};
use crate::catch_unwind::CatchUnwind;
use crate::error::{ErrorReport, Failure, Phase, ServerError};
use crate::handler::DatagramHandler;
use crate::mode::Mode;
use crate::server::{ServerInfo, Shared};
use crate::shutdown::{ServerHandle, ShutdownSignal, ShutdownState, bounded_by_shutdown};
use crate::signals::SignalSubscription;
use crate::strategy::asynchronous::{LoopTasks, current_thread_runtime, multi_thread_runtime};
use crate::strategy::forking::{Children, spawn_process};

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
    socket: Arc<UdpSocket>,
    /// Where replies go.
    peer: SocketAddr,
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

/// A bound UDP server, ready to serve.
pub struct DatagramServer<D> {
    handler: D,
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    shared: Arc<Shared>,
    state: Arc<ShutdownState>,
}

impl<D> std::fmt::Debug for DatagramServer<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatagramServer")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

impl<D: DatagramHandler> DatagramServer<D> {
    pub(crate) fn new(
        builder: ServerBuilder,
        info: Arc<ServerInfo>,
        socket: UdpSocket,
        local: SocketAddr,
        handler: D,
        state: Arc<ShutdownState>,
    ) -> Self {
        DatagramServer {
            handler,
            socket: Arc::new(socket),
            local,
            shared: Shared::new(&builder, info),
            state,
        }
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Name, address and options of this server.
    pub fn info(&self) -> &ServerInfo {
        &self.shared.info
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.state.clone())
    }

    /// Serves datagrams until shut down, in the configured mode.
    pub fn serve_forever(self) -> Result<(), ServerError> {
        match self.shared.info.mode {
            Mode::Forking { block_on_close, .. } => self.serve_forking(block_on_close),
            Mode::Async { worker_threads } => {
                let runtime = multi_thread_runtime(&self.shared.info.name, worker_threads)?;
                let result = runtime.block_on(self.receive_loop());
                runtime.shutdown_timeout(Duration::from_millis(100));
                result
            }
            Mode::Sequential | Mode::Threading { .. } => {
                let runtime = current_thread_runtime()?;
                let result = runtime.block_on(self.receive_loop());
                runtime.shutdown_timeout(Duration::from_millis(100));
                result
            }
        }
    }

    /// Receives in a tokio runtime; runs each datagram per the mode (task, inline or thread).
    async fn receive_loop(&self) -> Result<(), ServerError> {
        let socket = tokio::net::UdpSocket::from_std(self.socket.try_clone()?)?;
        let _loop_tasks = LoopTasks::start(&self.shared, &self.state)?;
        let signal = self.state.signal();
        let (limit, policy) = self.shared.connection_limit();
        let semaphore = limit.map(|n| Arc::new(tokio::sync::Semaphore::new(n)));
        let tracker = tokio_util::task::TaskTracker::new();
        let mut threads = Vec::new();
        let mut buf = vec![0u8; self.shared.max_packet_size + 1];
        tracing::info!(server = %self.shared.info.name, mode = %self.shared.info.mode,
            addr = %self.local, "serving datagrams");
        loop {
            let mut permit = None;
            if let (Some(semaphore), LimitPolicy::Wait) = (&semaphore, policy) {
                tokio::select! {
                    biased;
                    _ = signal.triggered() => break,
                    acquired = semaphore.clone().acquire_owned() => permit = acquired.ok(),
                }
            }
            let (len, peer) = tokio::select! {
                biased;
                _ = signal.triggered() => break,
                received = socket.recv_from(&mut buf) => match received {
                    Ok(received) => received,
                    Err(e) => {
                        tracing::debug!(server = %self.shared.info.name, "receive failed: {e}");
                        continue;
                    }
                },
            };
            if !self.shared.verify(&Peer::Ip(peer)) {
                continue;
            }
            if let (None, Some(semaphore), LimitPolicy::Reject) = (&permit, &semaphore, policy) {
                match semaphore.clone().try_acquire_owned() {
                    Ok(acquired) => permit = Some(acquired),
                    Err(_) => continue,
                }
            }
            let unit = self.unit(&buf[..len.min(buf.len())], peer);
            match self.shared.info.mode {
                Mode::Async { .. } => {
                    tracker.spawn(async move {
                        unit.run().await;
                        drop(permit);
                    });
                }
                Mode::Threading { .. } => {
                    threads.retain(|t: &std::thread::JoinHandle<()>| !t.is_finished());
                    let spawned = std::thread::Builder::new().spawn(move || {
                        if let Ok(runtime) = current_thread_runtime() {
                            runtime.block_on(unit.run());
                        }
                        drop(permit);
                    });
                    match spawned {
                        Ok(thread) => threads.push(thread),
                        Err(e) => tracing::error!("cannot start a datagram thread: {e}"),
                    }
                }
                _ => {
                    unit.run().await;
                    drop(permit);
                }
            }
        }
        tracker.close();
        tracker.wait().await;
        if let Mode::Threading {
            daemon_threads: false,
            block_on_close: true,
            ..
        } = self.shared.info.mode
        {
            for thread in threads {
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
        Ok(())
    }

    /// Receives with std sockets and `poll` and forks a child per datagram.
    fn serve_forking(self, block_on_close: bool) -> Result<(), ServerError> {
        let signals = if self.shared.handle_signals {
            Some(SignalSubscription::new()?)
        } else {
            None
        };
        let (limit, _) = self.shared.connection_limit();
        let mut children = Children::default();
        let mut buf = vec![0u8; self.shared.max_packet_size + 1];
        while !self.state.is_shutting_down() {
            children.reap();
            let at_capacity = limit.is_some_and(|limit| children.len() >= limit);
            let mut fds = vec![PollFd::new(self.state.wake_fd(), PollFlags::POLLIN)];
            if let Some(signals) = &signals {
                fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
            }
            if !at_capacity {
                fds.push(PollFd::new(self.socket.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if children.len() > 0 { 100u16 } else { 500 };
            let _ = poll(&mut fds, PollTimeout::from(timeout));
            if let Some(signals) = &signals {
                for _ in 0..signals.take() {
                    self.state.escalate();
                }
            }
            self.state.drain_wake();
            if at_capacity || self.state.is_shutting_down() {
                continue;
            }
            let (len, peer) = match self.socket.recv_from(&mut buf) {
                Ok(received) => received,
                Err(_) => continue,
            };
            if !self.shared.verify(&Peer::Ip(peer)) {
                continue;
            }
            let unit = self.unit(&buf[..len.min(buf.len())], peer);
            // The child keeps the socket: it replies through it.
            match spawn_process(&[], move |signal| async move {
                unit.with_signal(signal).run().await;
                0
            }) {
                Ok(pid) => children.insert(pid),
                Err(e) => tracing::error!("fork failed: {e}"),
            }
        }
        children.drain(
            &self.state,
            signals.as_ref(),
            self.shared.info.shutdown_timeout,
            block_on_close,
        );
        Ok(())
    }

    fn unit(&self, data: &[u8], peer: SocketAddr) -> DatagramUnit<D> {
        let max = self.shared.max_packet_size;
        DatagramUnit {
            handler: self.handler.clone(),
            datagram: Datagram {
                data: data[..data.len().min(max)].to_vec(),
                peer,
                local: self.local,
                truncated: data.len() > max,
            },
            reply: DatagramReply {
                socket: self.socket.clone(),
                peer,
            },
            shared: self.shared.clone(),
            signal: self.state.signal(),
        }
    }
}

/// Everything needed to handle one datagram, wherever it runs.
struct DatagramUnit<D> {
    handler: D,
    datagram: Datagram,
    reply: DatagramReply,
    shared: Arc<Shared>,
    signal: ShutdownSignal,
}

impl<D: DatagramHandler> DatagramUnit<D> {
    fn with_signal(mut self, signal: ShutdownSignal) -> Self {
        self.signal = signal;
        self
    }

    async fn run(mut self) {
        let peer = Peer::Ip(self.datagram.peer);
        let local = ListenAddr::Tcp(self.datagram.local);
        let grace = self.shared.info.shutdown_timeout;
        let work = pin!(self.handler.handle(self.datagram, self.reply));
        let work = CatchUnwind::new(work);
        let outcome = bounded_by_shutdown(work, &self.signal, grace).await;
        let (error, panic);
        let failure = match &outcome {
            None | Some(Ok(Ok(()))) => return,
            Some(Ok(Err(e))) => {
                error = e;
                Failure::Error(error.as_ref())
            }
            Some(Err(message)) => {
                panic = message;
                Failure::Panic(panic)
            }
        };
        (self.shared.handle_error)(&ErrorReport {
            server: &self.shared.info.name,
            connection_id: 0,
            peer: &peer,
            local: &local,
            phase: Phase::Handle,
            failure,
        });
    }
}
