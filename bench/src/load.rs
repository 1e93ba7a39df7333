//! The closed-loop load generator: C connections, each sending a message and awaiting its full
//! echo before sending the next, over a fixed measurement window.
//!
//! A cell goes: connect every connection; run the loops for a warm-up (so accepts, thread or
//! process start-up and first-call costs fall outside the window); then count round trips that
//! start and end inside the window, with the server's CPU time read at both edges.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::cpu::{self, CpuError};
use crate::histogram::Histogram;

/// The shape of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct CellConfig {
    /// Connections open at once, each running its own loop.
    pub connections: usize,
    /// Bytes per message (and per echo).
    pub message_size: usize,
    /// Loops run this long before the window opens.
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
    /// Connections that completed at least one round trip in the window.
    pub served: usize,
    /// Round trips completed inside the window.
    pub round_trips: u64,
    /// The window's length.
    pub window: Duration,
    /// Latency of every counted round trip.
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
    error: Option<String>,
}

/// Most error messages kept per cell; the rest are only counted.
const KEPT_ERRORS: usize = 5;

/// Runs one cell against the server at `addr` whose process tree is rooted at `server_pid`.
pub async fn run_cell(
    addr: SocketAddr,
    server_pid: u32,
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

    let window_start = Instant::now() + config.warmup;
    let window_end = window_start + config.window;
    let message: Arc<[u8]> = (0..config.message_size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let connected_count = connected.len();
    let loops: Vec<_> = connected
        .into_iter()
        .map(|stream| {
            let message = message.clone();
            tokio::spawn(echo_loop(stream, message, window_start, window_end))
        })
        .collect();

    tokio::time::sleep_until(window_start).await;
    let server_before = cpu::process_tree_time(server_pid)?;
    let generator_before = cpu::own_time()?;
    tokio::time::sleep_until(window_end).await;
    let server_after = cpu::process_tree_time(server_pid)?;
    let generator_after = cpu::own_time()?;

    let mut latencies = Histogram::new();
    let mut round_trips = 0;
    let mut served = 0;
    for handle in loops {
        let outcome = handle.await?;
        latencies.merge(&outcome.latencies);
        round_trips += outcome.round_trips;
        served += usize::from(outcome.round_trips > 0);
        if let Some(error) = outcome.error {
            note(error);
        }
    }
    Ok(CellMeasurement {
        connections: config.connections,
        connected: connected_count,
        served,
        round_trips,
        window: config.window,
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

/// Sends `message` and reads its echo in a loop until `window_end`, counting the round trips
/// that lie wholly inside the window.
async fn echo_loop(
    mut stream: TcpStream,
    message: Arc<[u8]>,
    window_start: Instant,
    window_end: Instant,
) -> LoopOutcome {
    let mut outcome = LoopOutcome {
        round_trips: 0,
        latencies: Histogram::new(),
        error: None,
    };
    let mut echo = vec![0u8; message.len()];
    // One timer for the whole loop: the window's end cuts short a round trip in flight
    // (a server that never serves this connection leaves it waiting here).
    let deadline = tokio::time::sleep_until(window_end);
    tokio::pin!(deadline);
    loop {
        let started = Instant::now();
        if started >= window_end {
            break;
        }
        let round_trip = async {
            stream.write_all(&message).await?;
            stream.read_exact(&mut echo).await?;
            Ok::<(), std::io::Error>(())
        };
        tokio::select! {
            biased;
            result = round_trip => {
                if let Err(e) = result {
                    outcome.error = Some(format!("round trip failed: {e}"));
                    break;
                }
            }
            _ = &mut deadline => break,
        }
        if echo[..] != message[..] {
            outcome.error = Some("the echo differs from the message sent".into());
            break;
        }
        let finished = Instant::now();
        if started >= window_start && finished <= window_end {
            outcome.round_trips += 1;
            outcome.latencies.record(finished - started);
        }
    }
    outcome
}
