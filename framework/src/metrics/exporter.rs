//! The metrics exporter: a small HTTP/1.1 server (hyper) in a process of its own, forked before
//! the server starts, answering `/metrics`, `/healthz` and `/readyz`.
//!
//! A process rather than a thread: in forking mode the parent must stay single-threaded and
//! never touch tokio (a thread holding a lock at `fork` leaves it locked in the child). Forked
//! before the serving loop, the exporter shares the [`super::SharedCounters`] mapping with the
//! server and with every session process the server forks later.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork};

use crate::privilege::RunAs;

/// A boxed future, as the exporter's callbacks return.
type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// Produces the `/metrics` body (Prometheus text format, version 0.0.4).
pub type Render = Arc<dyn Fn() -> Boxed<String> + Send + Sync>;
/// Checks readiness for `/readyz`: `Err` carries the reason given with the 503.
pub type Readiness = Arc<dyn Fn() -> Boxed<Result<(), String>> + Send + Sync>;

/// The content type of the Prometheus text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a readiness check may take before `/readyz` answers 503.
const READINESS_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one HTTP connection may stay open (scrapers make short ones).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// An exporter bound to its address, not yet started.
pub struct Exporter {
    /// The bound HTTP listener, separate from every server listener.
    listener: std::net::TcpListener,
    /// The `/metrics` body.
    render: Render,
    /// The `/readyz` check.
    readiness: Readiness,
    /// The account the exporter process switches to before serving.
    run_as: Option<RunAs>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// Binds `addr`; `/metrics` is empty and `/readyz` always ready until set otherwise.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        Ok(Exporter {
            listener,
            render: Arc::new(|| Box::pin(async { String::new() })),
            readiness: Arc::new(|| Box::pin(async { Ok(()) })),
            run_as: None,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Sets what `/metrics` answers.
    pub fn render(mut self, render: Render) -> Self {
        self.render = render;
        self
    }

    /// Sets the check behind `/readyz` (200 when it passes, 503 with its reason otherwise).
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// The account to switch to before serving (default: none, keep the starting user).
    pub fn run_as(mut self, run_as: Option<RunAs>) -> Self {
        self.run_as = run_as;
        self
    }

    /// Forks the exporter process; call it while this process is still single-threaded, before
    /// `serve_forever`. The process ends when the returned handle is dropped or this process
    /// dies.
    pub fn spawn(self) -> io::Result<ExporterProcess> {
        let parent = nix::unistd::getpid();
        // SAFETY: called while single-threaded (documented above); the child runs only this
        // module's code and leaves with `_exit`.
        match unsafe { fork() }.map_err(io::Error::from)? {
            ForkResult::Parent { child } => Ok(ExporterProcess { pid: child }),
            ForkResult::Child => {
                let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.run_child(parent)
                })) {
                    Ok(Ok(())) => 0,
                    Ok(Err(error)) => {
                        tracing::error!(%error, "metrics exporter failed");
                        1
                    }
                    Err(_) => 70,
                };
                // SAFETY: leaving the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
        }
    }

    /// The exporter process: dies with its parent, drops privileges, serves until killed.
    fn run_child(self, parent: Pid) -> io::Result<()> {
        // SAFETY: prctl with an integer argument only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
        if nix::unistd::getppid() != parent {
            return Ok(());
        }
        let mut stop = SigSet::empty();
        stop.add(Signal::SIGTERM);
        stop.add(Signal::SIGINT);
        stop.thread_unblock().map_err(io::Error::from)?;
        if let Some(run_as) = &self.run_as {
            run_as.switch_now().map_err(io::Error::other)?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(serve(self.listener, self.render, self.readiness))
    }
}

/// Accepts scrapes until the process is killed.
async fn serve(
    listener: std::net::TcpListener,
    render: Render,
    readiness: Readiness,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics exporter: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (render, readiness) = (render.clone(), readiness.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                respond(request, render.clone(), readiness.clone())
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // A connection past the timeout is dropped (closed) without a word.
            if let Ok(Err(error)) = tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                tracing::debug!(%error, "metrics exporter: connection");
            }
        });
    }
}

/// Answers one request.
async fn respond(
    request: Request<Incoming>,
    render: Render,
    readiness: Readiness,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: StatusCode, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    if request.method() != Method::GET {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET\n".to_string(),
        ));
    }
    Ok(match request.uri().path() {
        "/metrics" => {
            let mut response = text(StatusCode::OK, render().await);
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(METRICS_CONTENT_TYPE),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n".to_string()),
        "/readyz" => match tokio::time::timeout(READINESS_TIMEOUT, readiness()).await {
            Ok(Ok(())) => text(StatusCode::OK, "ready\n".to_string()),
            Ok(Err(reason)) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            ),
            Err(_) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: readiness check timed out\n".to_string(),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n".to_string()),
    })
}

/// The running exporter process; dropping it stops the process.
#[derive(Debug)]
pub struct ExporterProcess {
    /// The exporter's process id.
    pid: Pid,
}

impl ExporterProcess {
    /// The exporter's process id.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }
}

impl Drop for ExporterProcess {
    fn drop(&mut self) {
        if kill(self.pid, Signal::SIGTERM).is_ok() {
            let _ = waitpid(self.pid, None);
        }
    }
}
