//! The closed-loop load generator: C connections, each sending a message and awaiting its full
//! echo before sending the next, over a fixed measurement window.
//!
//! A cell goes: connect every connection; run the loops until every connection the server can
//! serve at once has completed a round trip (bounded by a time limit), so accepts, thread or
//! process start-up and first-call costs fall before the window; settle briefly; then count
//! the round trips that start and end inside the window, with the server's CPU time read at
//! both edges.
//!
//! A connection the server should serve (within its cap) but left waiting for its echo through
//! the whole window is starved: its wait at the window's close joins the latencies, as a lower
//! bound of that round trip, so a server cannot improve its percentiles by not serving some
//! connections. Connections beyond a mode's cap wait in the backlog by design and are left out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cpu::{self, CpuError, CpuMeter};
use crate::histogram::Histogram;

/// The shape of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct CellConfig {
    /// Connections open at once, each running its own loop.
    pub connections: usize,
    /// Connections the server can serve at once (its mode's cap), at most `connections`:
    /// the warm-up waits for this many to complete a round trip.
    pub servable: usize,
    /// Bytes per message (and per echo).
    pub message_size: usize,
    /// Longest wait for the servable connections to complete their first round trip.
    pub ramp_limit: Duration,
    /// Loops run this long after the ramp, before the window opens.
    pub warmup: Duration,
    /// Length of the measurement window.
    pub window: Duration,
    /// How long one connect may take.
    pub connect_timeout: Duration,
}

/// What one cell measured.
#[derive(Debug, Clone)]
pub struct CellMeasurement {
    /// Connections asked for.
    pub connections: usize,
    /// Connections that were established.
    pub connected: usize,
    /// Connections that completed a round trip before the window opened.
    pub ready: usize,
    /// Time from the last connect to the window's opening (ramp plus warm-up).
    pub ramp: Duration,
    /// Connections that completed at least one round trip in the window.
    pub served: usize,
    /// Round trips completed inside the window.
    pub round_trips: u64,
    /// The window's length.
    pub window: Duration,
    /// Connections starved through the whole window (counted in `latencies`).
    pub starved: usize,
    /// Latency of every counted round trip, and the wait of every starved connection.
    pub latencies: Histogram,
    /// CPU time the server (with its threads and children) used during the window.
    pub server_cpu: Duration,
    /// CPU time this load generator used during the window.
    pub generator_cpu: Duration,
    /// Connections that failed to connect or broke (error text, first few kept).
    pub errors: Vec<String>,
    /// Number of connections that failed or broke.
    pub error_count: usize,
}

impl CellMeasurement {
    /// Round trips per second over the window.
    pub fn rate(&self) -> f64 {
        self.round_trips as f64 / self.window.as_secs_f64()
    }

    /// Server CPU time per round trip, in microseconds (`None` without round trips).
    pub fn server_cpu_per_round_trip_us(&self) -> Option<f64> {
        per_round_trip_us(self.server_cpu, self.round_trips)
    }

    /// Load-generator CPU time per round trip, in microseconds (`None` without round trips).
    pub fn generator_cpu_per_round_trip_us(&self) -> Option<f64> {
        per_round_trip_us(self.generator_cpu, self.round_trips)
    }
}

fn per_round_trip_us(time: Duration, round_trips: u64) -> Option<f64> {
    (round_trips > 0).then(|| time.as_secs_f64() * 1e6 / round_trips as f64)
}

/// A failure that stops a cell (failures of single connections are only counted).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The server's or this process's CPU time could not be read.
    #[error("cannot read CPU time: {0}")]
    Cpu(#[from] CpuError),
    /// A connection task died.
    #[error("a connection task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// No connection could be established at all.
    #[error("no connection to {addr} succeeded: {first_error}")]
    NoConnection {
        /// The server.
        addr: SocketAddr,
        /// The first connect error.
        first_error: String,
    },
}

/// What one connection's loop reports.
struct LoopOutcome {
    round_trips: u64,
    latencies: Histogram,
    /// Waited for its echo through the whole window.
    starved: bool,
    error: Option<String>,
}

/// Most error messages kept per cell; the rest are only counted.
const KEPT_ERRORS: usize = 5;

/// Runs one cell against the server at `addr` whose CPU time `server_cpu` measures.
pub async fn run_cell(
    addr: SocketAddr,
    server_cpu: &CpuMeter,
    config: CellConfig,
) -> Result<CellMeasurement, LoadError> {
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut note = |error: String| {
        error_count += 1;
        if errors.len() < KEPT_ERRORS {
            errors.push(error);
        }
    };

    let streams = connect_all(addr, config).await;
    let mut connected = Vec::with_capacity(streams.len());
    for stream in streams {
        match stream {
            Ok(stream) => connected.push(stream),
            Err(e) => note(e),
        }
    }
    if connected.is_empty() {
        return Err(LoadError::NoConnection {
            addr,
            first_error: errors.first().cloned().unwrap_or_default(),
        });
    }

    let window = Arc::new(Window::new());
    let ready = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let message: Arc<[u8]> = (0..config.message_size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let connected_count = connected.len();
    // With a cap below the connection count, which connections wait is up to the server.
    let count_starved = config.servable >= connected_count;
    let ramp_started = Instant::now();
    let loops: Vec<_> = connected
        .into_iter()
        .map(|stream| {
            let shared = LoopShared {
                message: message.clone(),
                window: window.clone(),
                ready: ready.clone(),
                stop: stop.clone(),
                count_starved,
            };
            tokio::spawn(echo_loop(stream, shared))
        })
        .collect();

    let ramp_deadline = ramp_started + config.ramp_limit;
    let servable = config.servable.min(connected_count);
    while ready.load(Ordering::Relaxed) < servable && Instant::now() < ramp_deadline {
        tokio::time::sleep(RAMP_POLL).await;
    }
    let ready_count = ready.load(Ordering::Relaxed);
    let window_start = Instant::now() + config.warmup;
    let window_end = window_start + config.window;
    window.open(window_start, window_end);

    tokio::time::sleep_until(window_start).await;
    let server_before = server_cpu.read()?;
    let generator_before = cpu::own_time()?;
    tokio::time::sleep_until(window_end).await;
    let server_after = server_cpu.read()?;
    let generator_after = cpu::own_time()?;
    // Round trips still in flight (a connection the server never serves) end here.
    stop.cancel();

    let mut latencies = Histogram::new();
    let mut round_trips = 0;
    let mut served = 0;
    let mut starved = 0;
    for handle in loops {
        let outcome = handle.await?;
        latencies.merge(&outcome.latencies);
        round_trips += outcome.round_trips;
        served += usize::from(outcome.round_trips > 0);
        starved += usize::from(outcome.starved);
        if let Some(error) = outcome.error {
            note(error);
        }
    }
    Ok(CellMeasurement {
        connections: config.connections,
        connected: connected_count,
        ready: ready_count,
        ramp: window_start - ramp_started,
        served,
        round_trips,
        window: config.window,
        starved,
        latencies,
        server_cpu: server_after.saturating_sub(server_before),
        generator_cpu: generator_after.saturating_sub(generator_before),
        errors,
        error_count,
    })
}

/// Opens every connection at once, each with `TCP_NODELAY` (small messages, no Nagle delay).
async fn connect_all(addr: SocketAddr, config: CellConfig) -> Vec<Result<TcpStream, String>> {
    let attempts: Vec<_> = (0..config.connections)
        .map(|_| {
            tokio::spawn(async move {
                let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| format!("connect timed out after {:?}", config.connect_timeout))?
                    .map_err(|e| format!("connect failed: {e}"))?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| format!("TCP_NODELAY failed: {e}"))?;
                Ok(stream)
            })
        })
        .collect();
    let mut streams = Vec::with_capacity(attempts.len());
    for attempt in attempts {
        streams.push(
            attempt
                .await
                .unwrap_or_else(|e| Err(format!("connect task failed: {e}"))),
        );
    }
    streams
}

/// How often the ramp looks at how many connections are ready.
const RAMP_POLL: Duration = Duration::from_millis(10);

/// The measurement window, opened by the coordinator once the connections are ready.
struct Window {
    /// The instant offsets are measured from.
    base: Instant,
    /// Nanoseconds from `base` to the window's start; `u64::MAX` until it opens.
    start: AtomicU64,
    /// Nanoseconds from `base` to the window's end; `u64::MAX` until it opens.
    end: AtomicU64,
}

impl Window {
    fn new() -> Self {
        Window {
            base: Instant::now(),
            start: AtomicU64::new(u64::MAX),
            end: AtomicU64::new(u64::MAX),
        }
    }

    fn offset(&self, at: Instant) -> u64 {
        u64::try_from((at - self.base).as_nanos()).unwrap_or(u64::MAX - 1)
    }

    fn open(&self, start: Instant, end: Instant) {
        self.end.store(self.offset(end), Ordering::Release);
        self.start.store(self.offset(start), Ordering::Release);
    }

    /// For a round trip started at `started` and unfinished at the close: its wait until the
    /// close, if it began before the window opened (so it waited through all of it).
    fn starved_wait(&self, started: Instant) -> Option<Duration> {
        let start = self.start.load(Ordering::Acquire);
        let end = self.end.load(Ordering::Acquire);
        let started = self.offset(started);
        (start != u64::MAX && started < start).then(|| Duration::from_nanos(end - started))
    }

    /// Whether a round trip from `started` to `finished` lies wholly inside the window.
    fn contains(&self, started: Instant, finished: Instant) -> bool {
        let start = self.start.load(Ordering::Acquire);
        start != u64::MAX
            && self.offset(started) >= start
            && self.offset(finished) <= self.end.load(Ordering::Acquire)
    }
}

/// What every connection loop of a cell shares.
struct LoopShared {
    /// The bytes each round trip sends.
    message: Arc<[u8]>,
    /// Which round trips count.
    window: Arc<Window>,
    /// Connections that completed their first round trip.
    ready: Arc<AtomicUsize>,
    /// Cancelled when the window closes.
    stop: CancellationToken,
    /// Record the wait of a round trip unfinished through the whole window.
    count_starved: bool,
}

/// Sends the message and reads its echo in a loop until stopped, counting the round trips
/// that lie wholly inside the window.
async fn echo_loop(mut stream: TcpStream, shared: LoopShared) -> LoopOutcome {
    let mut outcome = LoopOutcome {
        round_trips: 0,
        latencies: Histogram::new(),
        starved: false,
        error: None,
    };
    let message = &shared.message[..];
    let mut echo = vec![0u8; message.len()];
    let mut first = true;
    let stopped = shared.stop.cancelled();
    tokio::pin!(stopped);
    loop {
        let started = Instant::now();
        let round_trip = async {
            stream.write_all(message).await?;
            stream.read_exact(&mut echo).await?;
            Ok::<(), std::io::Error>(())
        };
        tokio::select! {
            biased;
            _ = &mut stopped => {
                if let (true, Some(wait)) = (shared.count_starved, shared.window.starved_wait(started)) {
                    outcome.latencies.record(wait);
                    outcome.starved = true;
                }
                break;
            }
            result = round_trip => {
                if let Err(e) = result {
                    outcome.error = Some(format!("round trip failed: {e}"));
                    break;
                }
            }
        }
        if echo[..] != message[..] {
            outcome.error = Some("the echo differs from the message sent".into());
            break;
        }
        let finished = Instant::now();
        if first {
            first = false;
            shared.ready.fetch_add(1, Ordering::Relaxed);
        }
        if shared.window.contains(started, finished) {
            outcome.round_trips += 1;
            outcome.latencies.record(finished - started);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_round_trip_waiting_through_the_whole_window_is_starved() {
        let window = Window::new();
        let base = window.base;
        assert_eq!(
            window.starved_wait(base),
            None,
            "the window is not open yet"
        );
        let start = base + Duration::from_secs(1);
        let end = base + Duration::from_secs(2);
        window.open(start, end);
        assert_eq!(
            window.starved_wait(base + Duration::from_millis(300)),
            Some(Duration::from_millis(1700)),
            "sent before the window opened: its wait until the close"
        );
        assert_eq!(
            window.starved_wait(start + Duration::from_millis(1)),
            None,
            "sent inside the window: merely in flight at the close"
        );
        assert!(window.contains(start, end));
        assert!(!window.contains(base, end));
    }
}
