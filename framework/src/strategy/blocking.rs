//! The accept loop of the threading and forking modes: std sockets and `poll`, no tokio, so a
//! forking parent stays a plain single-threaded process.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::address::{ListenAddr, Peer};
use crate::blocking_io;
use crate::builder::LimitPolicy;
use crate::connection::Stream;
use crate::error::ServerError;
use crate::handler::RequestHandler;
use crate::listener::StdListener;
use crate::server::{Server, accept_error_is_transient};
use crate::shutdown::ShutdownState;
use crate::signals::SignalSubscription;

/// How often a loop with live workers looks for finished ones.
const REAP_INTERVAL: Duration = Duration::from_millis(100);
/// How often a loop at its connection limit looks for a free slot.
const CAPACITY_INTERVAL: Duration = Duration::from_millis(10);

/// An accepted std stream, before it is handed to a runtime.
#[derive(Debug)]
pub(crate) enum StdStream {
    /// TCP.
    Tcp(std::net::TcpStream),
    /// Unix stream.
    Unix(std::os::unix::net::UnixStream),
}

impl StdStream {
    /// Registers the stream with the current tokio runtime, or (`blocking`) makes it a
    /// blocking stream that reads and writes on the calling thread.
    pub(crate) fn into_stream(self, blocking: bool) -> io::Result<Stream> {
        Ok(match self {
            StdStream::Tcp(s) if blocking => {
                blocking_io::prepare(&s)?;
                Stream::BlockingTcp(s)
            }
            StdStream::Unix(s) if blocking => {
                blocking_io::prepare(&s)?;
                Stream::BlockingUnix(s)
            }
            StdStream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Stream::Tcp(tokio::net::TcpStream::from_std(s)?)
            }
            StdStream::Unix(s) => {
                s.set_nonblocking(true)?;
                Stream::Unix(tokio::net::UnixStream::from_std(s)?)
            }
        })
    }
}

/// How a blocking-loop mode runs each accepted connection.
pub(crate) trait Dispatcher {
    /// Connections being served now (finished ones are collected first).
    fn active(&mut self) -> usize;
    /// Serves one accepted connection.
    fn dispatch(&mut self, stream: StdStream, peer: Peer, local: ListenAddr, id: u64);
    /// After accepting stopped: lets connections finish or ends them, per the mode's options.
    fn drain(&mut self, state: &ShutdownState, signals: Option<&SignalSubscription>);
}

/// Accepts until shutdown, handing connections to `dispatcher`, then drains it.
pub(crate) fn serve<H: RequestHandler>(
    server: &mut Server<H>,
    dispatcher: &mut impl Dispatcher,
) -> Result<(), ServerError> {
    let shared = server.shared.clone();
    let state = server.state.clone();
    let signals = if shared.handle_signals {
        Some(SignalSubscription::new()?)
    } else {
        None
    };
    let (limit, policy) = shared.connection_limit();
    let mut next_service = shared
        .service_actions
        .as_ref()
        .map(|(interval, _)| Instant::now() + *interval);
    tracing::info!(server = %shared.info.name, mode = %shared.info.mode,
        addrs = ?shared.info.addrs, "serving");

    while !state.is_shutting_down() {
        let active = dispatcher.active();
        let at_capacity = limit.is_some_and(|limit| active >= limit);
        let accepting = !(at_capacity && policy == LimitPolicy::Wait);
        let mut timeout = match (at_capacity, active) {
            (true, _) => Some(CAPACITY_INTERVAL),
            (false, 0) => None,
            (false, _) => Some(REAP_INTERVAL),
        };
        if let Some(due) = next_service {
            let until = due.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }

        let ready = wait_readable(server, &state, signals.as_ref(), accepting, timeout)?;
        if let Some(signals) = &signals {
            for _ in 0..signals.take() {
                tracing::info!("stop signal received");
                state.escalate();
            }
        }
        state.drain_wake();
        if let (Some(due), Some((interval, action))) = (next_service, &shared.service_actions)
            && Instant::now() >= due
        {
            action();
            next_service = Some(Instant::now() + *interval);
        }
        if state.is_shutting_down() {
            break;
        }
        for index in ready {
            let accepted = match accept(&server.listeners[index].0) {
                Ok(accepted) => accepted,
                Err(e) if accept_error_is_transient(&e) => continue,
                Err(e) => {
                    tracing::error!(server = %shared.info.name, "accept failed: {e}");
                    std::thread::sleep(REAP_INTERVAL);
                    continue;
                }
            };
            let (stream, peer) = accepted;
            if !shared.verify(&peer) {
                continue;
            }
            if limit.is_some_and(|limit| dispatcher.active() >= limit) {
                tracing::debug!(server = %shared.info.name, %peer, "refused: max_connections reached");
                continue;
            }
            let local = server.listeners[index].1.clone();
            dispatcher.dispatch(stream, peer, local, shared.next_id());
        }
    }

    // Stop accepting: close the listening sockets and remove Unix socket files.
    server.listeners.clear();
    dispatcher.drain(&state, signals.as_ref());
    tracing::info!(server = %shared.info.name, "stopped");
    Ok(())
}

/// Polls the wake pipe, the signal pipe and (if `accepting`) the listeners; returns the
/// indices of listeners with a connection waiting.
fn wait_readable<H>(
    server: &Server<H>,
    state: &ShutdownState,
    signals: Option<&SignalSubscription>,
    accepting: bool,
    timeout: Option<Duration>,
) -> Result<Vec<usize>, ServerError> {
    let mut fds = vec![PollFd::new(state.wake_fd(), PollFlags::POLLIN)];
    if let Some(signals) = signals {
        fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
    }
    let first_listener = fds.len();
    if accepting {
        for (listener, _) in &server.listeners {
            let fd = match listener {
                StdListener::Tcp(l) => l.as_fd(),
                StdListener::Unix(l, _) => l.as_fd(),
            };
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
    }
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
    };
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
        Err(e) => return Err(ServerError::Io(e.into())),
    }
    Ok(fds[first_listener..]
        .iter()
        .enumerate()
        .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
        .map(|(index, _)| index)
        .collect())
}

/// Accepts one waiting connection without blocking.
fn accept(listener: &StdListener) -> io::Result<(StdStream, Peer)> {
    match listener {
        StdListener::Tcp(l) => l
            .accept()
            .map(|(s, peer)| (StdStream::Tcp(s), Peer::Ip(peer))),
        StdListener::Unix(l, _) => l.accept().map(|(s, peer)| {
            let path = peer.as_pathname().map(|p| p.to_path_buf());
            (StdStream::Unix(s), Peer::Unix(path))
        }),
    }
}

/// Waits until `done` says so, the deadline passes, or a forced shutdown starts; keeps
/// escalating on signals meanwhile. Returns whether `done` was reached.
pub(crate) fn wait_until(
    state: &ShutdownState,
    signals: Option<&SignalSubscription>,
    deadline: Instant,
    mut done: impl FnMut() -> bool,
) -> bool {
    loop {
        if done() {
            return true;
        }
        if state.is_forced() || Instant::now() >= deadline {
            return false;
        }
        let mut fds = vec![PollFd::new(state.wake_fd(), PollFlags::POLLIN)];
        if let Some(signals) = signals {
            fds.push(PollFd::new(signals.fd(), PollFlags::POLLIN));
        }
        let step = PollTimeout::try_from(Duration::from_millis(20)).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut fds, step);
        if let Some(signals) = signals {
            for _ in 0..signals.take() {
                tracing::info!("second stop signal: forcing shutdown");
                state.escalate();
            }
        }
        state.drain_wake();
    }
}
