//! A TCP relay in front of a server's control port, whose connections the test can cut while
//! it keeps listening: a network failure the client must recover from.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The relay; it stops accepting when dropped (the listener thread ends with the process).
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Both ends of every relayed connection, to cut them.
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Relays every connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let open = Arc::new(Mutex::new(Vec::new()));
        let registry = Arc::clone(&open);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let pairs = [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ];
                if let Ok(mut list) = registry.lock() {
                    list.push(client);
                    list.push(server);
                }
                for pair in pairs {
                    if let (Ok(from), Ok(to)) = pair {
                        std::thread::spawn(move || relay(from, to));
                    }
                }
            }
        });
        Proxy { addr, open }
    }

    /// Cuts every relayed connection, as a network failure would.
    pub fn cut(&self) {
        if let Ok(mut list) = self.open.lock() {
            for stream in list.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Copies one direction until either side closes.
fn relay(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => {
                if to.write_all(&buffer[..read]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
