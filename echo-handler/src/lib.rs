//! Echo handlers for Wharf: every byte a client sends comes back, optionally upper-cased.
//!
//! [`Echo`] serves TCP and Unix streams; [`EchoDatagram`] answers each UDP datagram with
//! itself. They are the smallest complete handlers and the load of the framework benchmarks.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use wharf::{Connection, Datagram, DatagramHandler, DatagramReply, HandlerError, RequestHandler};

/// Echoes a stream back to its sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Echo {
    /// Answer in ASCII upper case.
    pub upper_case: bool,
}

impl RequestHandler for Echo {
    async fn handle(&mut self, conn: &mut Connection) -> Result<(), HandlerError> {
        loop {
            let chunk = conn.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(());
            }
            let len = chunk.len();
            if self.upper_case {
                let upper = chunk.to_ascii_uppercase();
                conn.consume(len);
                conn.write_all(&upper).await?;
            } else {
                // Write straight from the read buffer: no copy for the plain echo.
                let chunk = chunk.to_vec();
                conn.consume(len);
                conn.write_all(&chunk).await?;
            }
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
