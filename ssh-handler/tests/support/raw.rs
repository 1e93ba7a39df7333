//! A raw native-protocol connection: frames sent and read exactly, for protocol-level tests.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wharf::frame::{FrameError, Framed};
use wharf_ssh::protocol::{
    ClientHello, MAX_FRAME_SIZE, Outcome, PROTOCOL_NAME, PROTOCOL_VERSION, Request, Response,
    ServerHello,
};

/// How long one read may wait before the test fails (a hang guard, not a speed check).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A framed TCP connection to the daemon's native port.
pub struct Raw {
    /// The frames.
    pub frames: Framed<TcpStream>,
}

/// What a command sent back.
#[derive(Debug, Default)]
pub struct RunResult {
    /// All `Stdout` bytes.
    pub stdout: Vec<u8>,
    /// All `Stderr` bytes.
    pub stderr: Vec<u8>,
    /// The outcome, if `Finished` came.
    pub outcome: Option<Outcome>,
}

impl Raw {
    /// Connects without saying anything.
    pub async fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Raw {
            frames: Framed::new(stream).with_max_frame_size(MAX_FRAME_SIZE),
        }
    }

    /// Connects, says hello and logs in as `user`; panics unless both succeed.
    pub async fn logged_in(addr: SocketAddr, user: &str, password: &str) -> Raw {
        let mut raw = Raw::connect(addr).await;
        let hello = raw.hello(PROTOCOL_VERSION).await;
        assert!(matches!(hello, ServerHello::Accepted { .. }), "{hello:?}");
        let reply = raw.login(user, password).await;
        assert_eq!(reply, Some(Response::LoggedIn));
        raw
    }

    /// Sends a hello for `version` and returns the server's answer.
    pub async fn hello(&mut self, version: u32) -> ServerHello {
        self.send(&ClientHello {
            protocol: PROTOCOL_NAME.into(),
            version,
            client: "raw test client".into(),
        })
        .await;
        self.recv().await.expect("hello answer")
    }

    /// Sends a login and returns the answer (`None` if the server closed).
    pub async fn login(&mut self, user: &str, password: &str) -> Option<Response> {
        self.send(&Request::Login {
            user: user.into(),
            password: password.into(),
        })
        .await;
        self.recv().await
    }

    /// Sends one frame.
    pub async fn send<T: Serialize>(&mut self, value: &T) {
        self.frames.write_frame(value).await.expect("send frame");
    }

    /// Writes raw bytes, bypassing the framing.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let stream = self.frames.get_mut();
        stream.write_all(bytes).await.expect("send bytes");
        stream.flush().await.expect("flush");
    }

    /// Reads one frame; `None` at a clean end of stream.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Option<T> {
        self.try_recv().await.expect("read frame")
    }

    /// Reads one frame, returning framing errors.
    pub async fn try_recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        tokio::time::timeout(READ_TIMEOUT, self.frames.read_frame())
            .await
            .expect("the server answered in time")
    }

    /// Runs `command` with `stdin` (then end of input) and collects everything until
    /// `Finished` or the end of the stream.
    pub async fn run(&mut self, command: &str, stdin: &[u8]) -> RunResult {
        self.send(&Request::Exec {
            command: command.into(),
        })
        .await;
        let started: Option<Response> = self.recv().await;
        assert_eq!(started, Some(Response::Started), "command did not start");
        for chunk in stdin.chunks(16 * 1024) {
            self.send(&Request::Stdin(chunk.to_vec())).await;
        }
        self.send(&Request::StdinEof).await;
        let mut result = RunResult::default();
        while let Some(response) = self.recv::<Response>().await {
            match response {
                Response::Stdout(bytes) => result.stdout.extend(bytes),
                Response::Stderr(bytes) => result.stderr.extend(bytes),
                Response::Finished(outcome) => {
                    result.outcome = Some(outcome);
                    break;
                }
                other => panic!("unexpected response during a command: {other:?}"),
            }
        }
        result
    }
}
