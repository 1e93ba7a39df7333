//! Echo handlers for Wharf: every byte a client sends comes back, optionally upper-cased.
//!
//! [`Echo`] serves TCP and Unix streams; [`EchoDatagram`] answers each UDP datagram with
//! itself. They are the smallest complete handlers and the load of the framework benchmarks.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use wharf::{Connection, Datagram, DatagramHandler, DatagramReply, HandlerError, RequestHandler};

/// Echoes a stream back to its sender.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    /// Answer in ASCII upper case.
    pub upper_case: bool,
    /// Reused copy of the last chunk read, so the echo loop does not allocate per read.
    scratch: Vec<u8>,
}

impl Echo {
    /// An echo handler, upper-casing its answers if `upper_case`.
    pub fn new(upper_case: bool) -> Self {
        Echo {
            upper_case,
            scratch: Vec::new(),
        }
    }
}

impl RequestHandler for Echo {
    /// The echo loop awaits only this connection's reads and writes.
    const BLOCKING_IO: bool = true;

    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        loop {
            let chunk = conn.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(());
            }
            // The read buffer and the writer share the connection: copy the chunk out first.
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk);
            conn.consume(self.scratch.len());
            if self.upper_case {
                self.scratch.make_ascii_uppercase();
            }
            conn.write_all(&self.scratch).await?;
            conn.flush().await?;
        }
    }
}

/// Echoes each UDP datagram back to its sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoDatagram {
    /// Answer in ASCII upper case.
    pub upper_case: bool,
}

impl DatagramHandler for EchoDatagram {
    async fn handle(
        &mut self,
        datagram: Datagram,
        reply: DatagramReply,
    ) -> Result<(), HandlerError> {
        let mut data = datagram.data;
        if self.upper_case {
            data.make_ascii_uppercase();
        }
        reply.send(&data).await?;
        Ok(())
    }
}
