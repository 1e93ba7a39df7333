//! The native wire protocol: postcard messages in `wharf::frame` frames.
//!
//! A connection opens with a [`ClientHello`] and a [`ServerHello`], whose layouts never change,
//! so a peer of any version can read them and learn which version the other side speaks. Then
//! the client sends [`Request`]s and the server answers with [`Response`]s, as laid out in
//! `docs/remote-command.md`.

mod bytes;

use serde::{Deserialize, Serialize};

/// The protocol's name, sent in the hello so another protocol is refused clearly.
pub const PROTOCOL_NAME: &str = "wharf-exec";

/// The version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame payload either side sends or accepts.
pub const MAX_FRAME_SIZE: usize = 256 * 1024;

/// The first frame from the client; its layout is the same in every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientHello {
    /// Must be [`PROTOCOL_NAME`].
    pub protocol: String,
    /// The version the client speaks.
    pub version: u32,
    /// Free-form client name and version, for the server's log.
    pub client: String,
}

/// The server's answer to the hello; its layout is the same in every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerHello {
    /// The server speaks `version`; requests may follow.
    Accepted {
        /// The version in use for the rest of the connection.
        version: u32,
        /// Free-form server name and version.
        server: String,
    },
    /// The server cannot talk to this client; it closes the connection after this frame.
    Refused {
        /// The version the server speaks.
        supported: u32,
        /// Why, for a person.
        message: String,
    },
}

/// A client message after the hello (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Log in with a password; answered by `LoggedIn` or `LoginRefused`.
    Login {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// Run a command line with `/bin/sh -c`; answered by `Started` or `CommandRefused`.
    Exec {
        /// The command line.
        command: String,
    },
    /// Bytes for the running command's standard input (at most 32 KiB per frame).
    Stdin(#[serde(with = "bytes")] Vec<u8>),
    /// End of the running command's standard input.
    StdinEof,
}

/// A server message after the hello (version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The login succeeded; `Exec` requests may follow.
    LoggedIn,
    /// The login failed; the same message for every reason.
    LoginRefused {
        /// Why, for a person.
        message: String,
    },
    /// The command is running; output, then `Finished`, follow.
    Started,
    /// The command could not start (too many running, bad command line); the connection stays.
    CommandRefused {
        /// Why, for a person.
        message: String,
    },
    /// A chunk of the command's standard output.
    Stdout(#[serde(with = "bytes")] Vec<u8>),
    /// A chunk of the command's standard error.
    Stderr(#[serde(with = "bytes")] Vec<u8>),
    /// The command ended; all its output came before this.
    Finished(Outcome),
    /// The request broke the protocol or the server failed; the connection closes after this.
    Error {
        /// Why, for a person.
        message: String,
    },
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Exit code or terminating signal.
    pub status: ExitStatus,
    /// The server limit that killed the command, if one did.
    pub limit: Option<Limit>,
}

/// The exit code or the signal that ended a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was killed by this signal.
    Signal {
        /// The signal number (as on the server).
        number: i32,
        /// The signal name without `SIG` (`TERM`, `KILL`), empty if unknown.
        name: String,
    },
    /// The server lost track of the command.
    Unknown {
        /// Why, for a person.
        message: String,
    },
}

/// A server limit that ended a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Limit {
    /// The wall-clock limit, in milliseconds.
    Time {
        /// The limit.
        millis: u64,
    },
    /// The output cap (stdout and stderr together), in bytes; output past it was not sent.
    Output {
        /// The cap.
        bytes: u64,
    },
}

impl ExitStatus {
    /// The status a shell would give: the code, or 128 + the signal number; 255 if unknown.
    pub fn shell_code(&self) -> i32 {
        match self {
            ExitStatus::Code(code) => *code,
            ExitStatus::Signal { number, .. } => 128 + number,
            ExitStatus::Unknown { .. } => 255,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Time { millis } => write!(
                f,
                "the time limit of {} s was reached; the command was killed",
                *millis as f64 / 1000.0
            ),
            Limit::Output { bytes } => write!(
                f,
                "the output limit of {bytes} bytes was reached; the command was killed"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf::frame::{HEADER_LEN, decode_payload, encode_frame};

    #[test]
    fn byte_chunks_encode_as_a_length_and_the_raw_bytes() {
        let frame = encode_frame(&Request::Stdin(vec![1, 2, 3]), MAX_FRAME_SIZE).unwrap();
        // Variant 2, length 3, bytes.
        assert_eq!(&frame[HEADER_LEN..], &[2, 3, 1, 2, 3]);
        let decoded: Request = decode_payload(&frame[HEADER_LEN..]).unwrap();
        assert_eq!(decoded, Request::Stdin(vec![1, 2, 3]));
    }

    #[test]
    fn every_message_round_trips() {
        let responses = [
            Response::Stdout(vec![0; 1000]),
            Response::Finished(Outcome {
                status: ExitStatus::Signal {
                    number: 15,
                    name: "TERM".into(),
                },
                limit: Some(Limit::Output { bytes: 10 }),
            }),
            Response::LoginRefused {
                message: "no".into(),
            },
        ];
        for response in responses {
            let frame = encode_frame(&response, MAX_FRAME_SIZE).unwrap();
            let decoded: Response = decode_payload(&frame[HEADER_LEN..]).unwrap();
            assert_eq!(decoded, response);
        }
    }

    #[test]
    fn shell_codes_follow_the_shell_convention() {
        assert_eq!(ExitStatus::Code(7).shell_code(), 7);
        let killed = ExitStatus::Signal {
            number: 9,
            name: "KILL".into(),
        };
        assert_eq!(killed.shell_code(), 137);
    }
}
