//! The native-protocol client behind `wharf-ssh`: connect (optionally over TLS), hello, login,
//! run one command with standard input, output and the outcome relayed.
//!
//! - [`target`]: parsing `user@host[:port]`;
//! - [`tls`]: the client's TLS set-up and trust roots.

pub mod target;
pub mod tls;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wharf::IoStream;
use wharf::frame::{FrameError, Framed};

use crate::exec::CHUNK_SIZE;
use crate::protocol::{
    ClientHello, MAX_FRAME_SIZE, Outcome, PROTOCOL_NAME, PROTOCOL_VERSION, Request, Response,
    ServerHello,
};

pub use target::{DEFAULT_PORT, Target};

/// The connection's stream: TCP, or TLS over TCP.
type Stream = Box<dyn IoStream>;

/// Why a client session failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be made.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// Where to.
        target: String,
        /// The system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, not a TLS server).
    #[error("TLS handshake with {target} failed: {source}")]
    Tls {
        /// Where to.
        target: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// Sending or receiving frames failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The server refused the hello (another protocol version).
    #[error("the server refused the connection: {0}")]
    HelloRefused(String),
    /// The login failed.
    #[error("login refused: {0}")]
    LoginRefused(String),
    /// The server refused the command.
    #[error("command refused: {0}")]
    CommandRefused(String),
    /// The server reported an error and closed the connection.
    #[error("server error: {0}")]
    Server(String),
    /// The server closed the connection before answering.
    #[error("the server closed the connection unexpectedly")]
    Closed,
    /// The server sent a message that does not fit the exchange.
    #[error("unexpected message from the server: {0}")]
    Unexpected(String),
}

/// A connected, greeted session, ready to log in and run a command.
pub struct ClientSession {
    /// Frames from the server.
    reader: Framed<ReadHalf<Stream>>,
    /// Frames to the server.
    writer: Framed<WriteHalf<Stream>>,
}

impl ClientSession {
    /// Connects to `target`, over TLS when `tls` is given, and exchanges hellos.
    pub async fn connect(target: &Target, tls: Option<&TlsConnector>) -> Result<Self, ClientError> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| ClientError::Connect {
                target: target.to_string(),
                source,
            })?;
        // Frames are small and interactive; do not let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        let stream: Stream = match tls {
            None => Box::new(tcp),
            Some(connector) => {
                let name = tls::server_name(&target.host).map_err(|source| ClientError::Tls {
                    target: target.to_string(),
                    source,
                })?;
                let stream =
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|source| ClientError::Tls {
                            target: target.to_string(),
                            source,
                        })?;
                Box::new(stream)
            }
        };
        let (read, write) = tokio::io::split(stream);
        let mut session = ClientSession {
            reader: Framed::new(read).with_max_frame_size(MAX_FRAME_SIZE),
            writer: Framed::new(write).with_max_frame_size(MAX_FRAME_SIZE),
        };
        session.hello().await?;
        Ok(session)
    }

    /// Sends the hello and checks the answer.
    async fn hello(&mut self) -> Result<(), ClientError> {
        let hello = ClientHello {
            protocol: PROTOCOL_NAME.to_owned(),
            version: PROTOCOL_VERSION,
            client: concat!("wharf-ssh ", env!("CARGO_PKG_VERSION")).to_owned(),
        };
        self.writer.write_frame(&hello).await?;
        match self.reader.read_frame::<ServerHello>().await? {
            Some(ServerHello::Accepted { version, .. }) if version == PROTOCOL_VERSION => Ok(()),
            Some(ServerHello::Accepted { version, .. }) => Err(ClientError::Unexpected(format!(
                "the server accepted with version {version}, not {PROTOCOL_VERSION}"
            ))),
            Some(ServerHello::Refused { message, .. }) => Err(ClientError::HelloRefused(message)),
            None => Err(ClientError::Closed),
        }
    }

    /// Logs in as `user`.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let login = Request::Login {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        self.writer.write_frame(&login).await?;
        match self.next_response().await? {
            Response::LoggedIn => Ok(()),
            Response::LoginRefused { message } => Err(ClientError::LoginRefused(message)),
            other => Err(unexpected(&other)),
        }
    }

    /// Runs `command`, relaying `stdin` to it and its output to `stdout` and `stderr`, and
    /// returns how it ended. Output is written as it arrives.
    pub async fn run<I, O, E>(
        mut self,
        command: &str,
        stdin: I,
        stdout: &mut O,
        stderr: &mut E,
    ) -> Result<Outcome, ClientError>
    where
        I: AsyncRead + Unpin + Send + 'static,
        O: AsyncWrite + Unpin,
        E: AsyncWrite + Unpin,
    {
        let exec = Request::Exec {
            command: command.to_owned(),
        };
        self.writer.write_frame(&exec).await?;
        match self.next_response().await? {
            Response::Started => {}
            Response::CommandRefused { message } => {
                return Err(ClientError::CommandRefused(message));
            }
            other => return Err(unexpected(&other)),
        }
        let ClientSession { mut reader, writer } = self;
        let pump = tokio::spawn(send_input(stdin, writer));
        let outcome = loop {
            let response = match next_response(&mut reader).await {
                Ok(response) => response,
                Err(error) => {
                    pump.abort();
                    return Err(error);
                }
            };
            match response {
                Response::Stdout(bytes) => write_out(stdout, &bytes).await,
                Response::Stderr(bytes) => write_out(stderr, &bytes).await,
                Response::Finished(outcome) => break outcome,
                other => {
                    pump.abort();
                    return Err(unexpected(&other));
                }
            }
        };
        pump.abort();
        Ok(outcome)
    }

    /// The next response; `Error` frames and the end of the stream become errors.
    async fn next_response(&mut self) -> Result<Response, ClientError> {
        next_response(&mut self.reader).await
    }
}

/// The next response on `reader`; `Error` frames and the end of the stream become errors.
async fn next_response(reader: &mut Framed<ReadHalf<Stream>>) -> Result<Response, ClientError> {
    match reader.read_frame::<Response>().await? {
        Some(Response::Error { message }) => Err(ClientError::Server(message)),
        Some(response) => Ok(response),
        None => Err(ClientError::Closed),
    }
}

/// Writes a chunk of output and flushes it; a closed local output (a pipe whose reader left)
/// only loses that output, as with ssh.
async fn write_out<W: AsyncWrite + Unpin>(out: &mut W, bytes: &[u8]) {
    if out.write_all(bytes).await.is_ok() {
        let _ = out.flush().await;
    }
}

/// Sends `input` as `Stdin` frames, then `StdinEof`.
async fn send_input<I: AsyncRead + Unpin>(mut input: I, mut writer: Framed<WriteHalf<Stream>>) {
    let mut buf = vec![0u8; CHUNK_SIZE];
    loop {
        let request = match input.read(&mut buf).await {
            Ok(0) | Err(_) => Request::StdinEof,
            Ok(count) => Request::Stdin(buf[..count].to_vec()),
        };
        let last = request == Request::StdinEof;
        if writer.write_frame(&request).await.is_err() || last {
            return;
        }
    }
}

/// The error for a response that does not fit the exchange.
fn unexpected(response: &Response) -> ClientError {
    let name = match response {
        Response::LoggedIn => "LoggedIn",
        Response::LoginRefused { .. } => "LoginRefused",
        Response::Started => "Started",
        Response::CommandRefused { .. } => "CommandRefused",
        Response::Stdout(_) => "Stdout",
        Response::Stderr(_) => "Stderr",
        Response::Finished(_) => "Finished",
        Response::Error { .. } => "Error",
    };
    ClientError::Unexpected(name.to_owned())
}
