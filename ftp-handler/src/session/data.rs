//! Data connections: passive listeners (PASV/EPSV) on a configurable port range, and active
//! connections (PORT/EPRT) made only to the control connection's own peer (no FTP bounce).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::config::PortRange;
use crate::protocol::{Reply, ReplyCode};

/// Lowest port an active-mode data connection may go to (below it are system services).
const MIN_ACTIVE_PORT: u16 = 1024;

/// How the next data connection will be made.
#[derive(Debug)]
pub(crate) enum DataPlan {
    /// The client connects to this listener (PASV/EPSV).
    Passive(TcpListener),
    /// The server connects to this address (PORT/EPRT).
    Active(SocketAddr),
}

/// Why no data connection could be made; each maps to a 425 reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataError {
    /// Neither PASV/EPSV nor PORT/EPRT came before the transfer command.
    #[error("use PORT, EPRT, PASV or EPSV first")]
    NoPlan,
    /// The client did not connect (passive) or could not be reached (active) in time.
    #[error("data connection not made within {0:?}")]
    TimedOut(Duration),
    /// Connecting or accepting failed.
    #[error("cannot open data connection: {0}")]
    Io(#[from] io::Error),
    /// `PROT C` while the server requires TLS (521, RFC 4217).
    #[error("clear data connections are refused")]
    ClearRefused,
    /// The TLS handshake on the data connection failed.
    #[error("data connection TLS handshake failed: {0}")]
    Tls(io::Error),
    /// The data connection's TLS session is not a resumption of the control connection's.
    #[error("data connection TLS session not resumed")]
    NotResumed,
}

impl DataError {
    /// The reply for this failure.
    pub(crate) fn reply(&self) -> Reply {
        let text = match self {
            DataError::NoPlan => "Use PORT, EPRT, PASV or EPSV first.".to_string(),
            DataError::TimedOut(_) => "Failed to establish data connection (timed out).".into(),
            DataError::Io(_) => "Failed to establish data connection.".to_string(),
            DataError::ClearRefused => {
                return Reply::new(
                    ReplyCode::PROT_SETTING_REFUSED,
                    "Data connections must be encrypted: use PROT P.",
                );
            }
            DataError::Tls(_) => "TLS handshake on the data connection failed.".to_string(),
            DataError::NotResumed => "Data connection refused: its TLS session must resume \
                                      the control connection's TLS session (session reuse \
                                      required)."
                .to_string(),
        };
        Reply::new(ReplyCode::CANNOT_OPEN_DATA_CONNECTION, text)
    }
}

/// Binds a passive listener on `local_ip`, on a free port of `range` (any free port if none).
pub(crate) async fn passive_listener(
    local_ip: IpAddr,
    range: Option<PortRange>,
) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(local_ip, 0)).await;
    };
    // Start at a random port so concurrent sessions do not all race for the lowest one.
    let count = range.len();
    let start = rand::random_range(0..count);
    for step in 0..count {
        let offset = u16::try_from((start + step) % count).unwrap_or(0);
        let port = range.low().saturating_add(offset);
        match TcpListener::bind(SocketAddr::new(local_ip, port)).await {
            Ok(listener) => return Ok(listener),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        format!("every passive port in {range} is in use"),
    ))
}

/// Checks an active-mode target: it must be the control peer's own address, on an
/// unprivileged port. Returns the refusal reply otherwise.
pub(crate) fn check_active_target(target: SocketAddr, peer_ip: IpAddr) -> Result<(), Reply> {
    if target.ip().to_canonical() != peer_ip.to_canonical() {
        return Err(Reply::new(
            ReplyCode::SYNTAX_ERROR,
            "Illegal PORT command: data connections go only to your own address.",
        ));
    }
    if target.port() < MIN_ACTIVE_PORT {
        return Err(Reply::new(
            ReplyCode::SYNTAX_ERROR,
            "Illegal PORT command: privileged port.",
        ));
    }
    Ok(())
}

/// Who may open a session's passive data connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataPeers {
    /// The client itself.
    pub(crate) client: IpAddr,
    /// The trusted balancer the control connection came through: it forwards the data
    /// connection without a PROXY header, so it arrives from the balancer's address.
    pub(crate) balancer: Option<IpAddr>,
}

impl DataPeers {
    /// Whether a data connection from `from` belongs to this session.
    fn admits(&self, from: IpAddr) -> bool {
        let from = from.to_canonical();
        from == self.client.to_canonical()
            || self
                .balancer
                .is_some_and(|balancer| balancer.to_canonical() == from)
    }
}

/// Makes the data connection of `plan`, within `timeout`. A passive listener only accepts a
/// connection from the session's `peers`; others are dropped and waiting goes on.
pub(crate) async fn connect(
    plan: DataPlan,
    local_ip: IpAddr,
    peers: DataPeers,
    timeout: Duration,
) -> Result<TcpStream, DataError> {
    let attempt = async {
        match plan {
            DataPlan::Passive(listener) => loop {
                let (stream, from) = listener.accept().await?;
                if peers.admits(from.ip()) {
                    return Ok(stream);
                }
                tracing::warn!(%from, "refused data connection from a foreign address");
            },
            DataPlan::Active(target) => {
                let socket = if target.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                let local = local_ip.to_canonical();
                if local.is_ipv4() == target.is_ipv4() {
                    socket.bind(SocketAddr::new(local, 0))?;
                }
                socket.connect(target).await
            }
        }
    };
    let stream: io::Result<TcpStream> = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| DataError::TimedOut(timeout))?;
    let stream = stream?;
    // Data replies are bulk: Nagle only delays the last segment.
    stream.set_nodelay(true)?;
    keep_unsent_low(&stream)?;
    Ok(stream)
}

/// Most bytes a data connection holds written but not yet sent (`TCP_NOTSENT_LOWAT`).
///
/// Without a bound a download fills the socket's whole send buffer (megabytes, by the
/// kernel's autotuning), and the client's acknowledgements then send that backlog, on the
/// client's CPU. With the backlog held this low the server's own writes send their bytes
/// and the socket reports room as soon as they leave. Measured on loopback (docs/benchmarks.md):
/// one 1 GiB download went from about 2,900 to 6,400 MiB/s, 300 downloads of 10 MiB at once
/// from about 2,000 to 5,500 MiB/s; 32 and 128 KiB were both slower than 64.
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNSENT_LOW_WATER: u32 = 64 * 1024;

/// Bounds the bytes `stream` holds unsent to [`UNSENT_LOW_WATER`], where the OS offers it.
fn keep_unsent_low(stream: &TcpStream) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket2::SockRef::from(stream).set_tcp_notsent_lowat(UNSENT_LOW_WATER)?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passive_connections_come_from_the_client_or_its_balancer_only() {
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let balancer: IpAddr = "10.0.0.2".parse().unwrap();
        let direct = DataPeers {
            client,
            balancer: None,
        };
        assert!(direct.admits(client));
        assert!(direct.admits("::ffff:203.0.113.7".parse().unwrap()));
        assert!(!direct.admits(balancer));
        let proxied = DataPeers {
            client,
            balancer: Some(balancer),
        };
        assert!(proxied.admits(client));
        assert!(proxied.admits(balancer));
        assert!(!proxied.admits("10.0.0.3".parse().unwrap()));
    }

    #[tokio::test]
    async fn passive_listener_stays_in_range_and_skips_busy_ports() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Other tests bind ports meanwhile, so a pair found free may be taken again before we
        // use it: try a few pairs.
        for _ in 0..10 {
            let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let low = probe.local_addr().unwrap().port().min(65000);
            drop(probe);
            let range = PortRange::new(low, low + 1).unwrap();
            let (Ok(first), Ok(second)) = (
                passive_listener(ip, Some(range)).await,
                passive_listener(ip, Some(range)).await,
            ) else {
                continue;
            };
            let ports = [
                first.local_addr().unwrap().port(),
                second.local_addr().unwrap().port(),
            ];
            assert!(ports.iter().all(|p| range.ports().contains(p)));
            assert_ne!(ports[0], ports[1]);
            let third = passive_listener(ip, Some(range)).await;
            assert_eq!(third.unwrap_err().kind(), io::ErrorKind::AddrInUse);
            return;
        }
        panic!("found no two adjacent free ports in ten tries");
    }

    #[test]
    fn active_targets_other_than_the_peer_are_refused() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(check_active_target("127.0.0.1:40000".parse().unwrap(), peer).is_ok());
        assert!(check_active_target("[::ffff:127.0.0.1]:40000".parse().unwrap(), peer).is_ok());
        let bounce = check_active_target("10.0.0.1:40000".parse().unwrap(), peer).unwrap_err();
        assert_eq!(bounce.code(), ReplyCode::SYNTAX_ERROR);
        assert!(check_active_target("127.0.0.1:25".parse().unwrap(), peer).is_err());
    }

    #[tokio::test]
    async fn passive_accept_times_out_with_425() {
        let listener = passive_listener("127.0.0.1".parse().unwrap(), None)
            .await
            .unwrap();
        let error = connect(
            DataPlan::Passive(listener),
            "127.0.0.1".parse().unwrap(),
            DataPeers {
                client: "127.0.0.1".parse().unwrap(),
                balancer: None,
            },
            Duration::from_millis(50),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, DataError::TimedOut(_)));
        assert_eq!(error.reply().code(), ReplyCode::CANNOT_OPEN_DATA_CONNECTION);
    }
}
