//! The floor: a bare tokio echo loop with no framework, a task per connection.

use std::io::Write;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Command line of the bare tokio echo server.
#[derive(Debug, clap::Parser)]
#[command(about = "A bare tokio echo server: the floor for framework overhead")]
pub struct BareArgs {
    /// TCP address to listen on.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: SocketAddr,
}

/// Bytes read per `read` call; the same as a Wharf connection's buffer.
const BUFFER_SIZE: usize = 16 * 1024;

/// Serves echo on a multi-thread runtime (one worker per core) until the process is killed.
pub fn serve(args: &BareArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.listen).await?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of descriptors or a connection reset before accept: keep serving.
                Err(_) => continue,
            };
            tokio::spawn(echo(stream));
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn echo(mut stream: TcpStream) {
    if stream.set_nodelay(true).is_err() {
        return;
    }
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Prints the line the benchmark waits for, the same as `wharf-echo` prints.
pub fn announce(addr: SocketAddr) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}
