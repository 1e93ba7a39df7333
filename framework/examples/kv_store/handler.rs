//! The per-connection handler: read a bounded line, run the command against the store, reply.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use wharf::{Connection, HandlerError, RequestHandler};

use crate::protocol::{self, Command};
use crate::store::Store;

/// Serves one connection; cloned per connection, so it holds only shared handles.
#[derive(Clone, Debug)]
pub struct KvHandler {
    /// The pairs, shared by every connection (see [`Store`] for how, per mode).
    pub store: Store,
    /// The longest request line, in bytes without its line end; longer ones get an error.
    pub max_line: usize,
}

/// What one bounded read found.
enum Line {
    /// A whole line, its line end removed.
    Text(Vec<u8>),
    /// A line longer than the limit; it was read to its end and dropped.
    TooLong,
    /// The client closed the connection (a partial last line is dropped).
    End,
}

/// Reads one line of at most `limit` bytes without ever buffering more than that: a client
/// sending an endless line costs the server nothing but the reading.
async fn read_line(conn: &mut Connection, limit: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = conn.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::End);
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if !too_long && line.len() + chunk.len() <= limit + 1 {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        let used = newline.map_or(available.len(), |at| at + 1);
        conn.consume(used);
        if newline.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            // `limit + 1` above left room for the `\r`; without it the line must fit `limit`.
            return Ok(if too_long || line.len() > limit {
                Line::TooLong
            } else {
                Line::Text(line)
            });
        }
    }
}

/// Runs one command other than `QUIT` against the store and returns the reply line.
fn execute(store: &Store, command: Command) -> io::Result<String> {
    Ok(match command {
        Command::Set(key, value) => {
            store.set(&key, &value)?;
            "OK".to_string()
        }
        Command::Get(key) => store
            .get(&key)?
            .map_or("NOT_FOUND".to_string(), |value| format!("VALUE {value}")),
        Command::Del(key) => if store.delete(&key)? {
            "DELETED"
        } else {
            "NOT_FOUND"
        }
        .to_string(),
        Command::Keys => {
            let keys = store.keys()?;
            let mut reply = format!("KEYS {}", keys.len());
            for key in keys {
                reply.push(' ');
                reply.push_str(&key);
            }
            reply
        }
        Command::Quit => "BYE".to_string(),
    })
}

impl KvHandler {
    /// Runs `command`. File operations block: inline where the connection has a thread of
    /// its own, on tokio's blocking pool in async mode, where they would stall other
    /// connections.
    async fn run(&self, command: Command, owns_thread: bool) -> io::Result<String> {
        if owns_thread || !self.store.blocks() {
            return execute(&self.store, command);
        }
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || execute(&store, command))
            .await
            .map_err(io::Error::other)?
    }
}

impl RequestHandler for KvHandler {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        // Asked of the connection, never of the mode: what matters is whether this
        // connection may block its thread.
        let owns_thread = conn.capabilities().owns_thread;
        let shutdown = conn.shutdown_signal();
        loop {
            // Between requests, a shutdown ends the session; a request in progress finishes.
            let line = tokio::select! {
                line = read_line(conn, self.max_line) => line?,
                () = shutdown.triggered() => break,
            };
            let (reply, last) = match line {
                Line::End => break,
                Line::TooLong => (
                    format!("ERR line too long: at most {} bytes", self.max_line),
                    false,
                ),
                Line::Text(bytes) => match std::str::from_utf8(&bytes).map(protocol::parse) {
                    Err(_) => ("ERR line is not UTF-8".to_string(), false),
                    Ok(Err(reason)) => (format!("ERR {reason}"), false),
                    Ok(Ok(command)) => {
                        let last = command == Command::Quit;
                        match self.run(command, owns_thread).await {
                            Ok(reply) => (reply, last),
                            Err(error) => {
                                tracing::warn!(peer = %conn.peer(), %error, "store failed");
                                ("ERR store failed".to_string(), false)
                            }
                        }
                    }
                },
            };
            conn.write_all(reply.as_bytes()).await?;
            conn.write_all(b"\n").await?;
            conn.flush().await?;
            if last {
                break;
            }
        }
        Ok(())
    }
}
