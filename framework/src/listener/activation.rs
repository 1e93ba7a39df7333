//! Socket activation: listening sockets handed over by the service manager (systemd's
//! `LISTEN_FDS` protocol), matched to the server's named listeners.
//!
//! The protocol: the manager passes `LISTEN_FDS` sockets as descriptors 3, 4, ..., sets
//! `LISTEN_PID` to the pid they are meant for (a forked helper must not take them) and may name
//! them in `LISTEN_FDNAMES` (colon-separated, `FileDescriptorName=` in a socket unit).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::Socket;

use crate::address::ListenAddr;
use crate::listener::bind::StdListener;

/// The first descriptor the manager passes.
const FIRST_FD: RawFd = 3;

/// Inherited sockets are taken once per process: a second server built in the same process
/// must not serve (and later close) descriptors the first one owns.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// One listening socket from the service manager.
#[derive(Debug)]
pub(crate) struct Inherited {
    /// Its name from `LISTEN_FDNAMES`, if the manager gave names.
    pub(crate) name: Option<String>,
    /// The socket, non-blocking and close-on-exec.
    pub(crate) listener: StdListener,
    /// Its bound address.
    pub(crate) addr: ListenAddr,
}

/// What the environment says, before any descriptor is touched.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Announcement {
    /// How many descriptors, from 3 on.
    pub(crate) count: usize,
    /// Their names, if given.
    pub(crate) names: Vec<String>,
}

/// Reads `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` as given; `None` unless they name
/// this process (`pid`) and at least one socket.
pub(crate) fn announcement(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    pid: u32,
) -> Result<Option<Announcement>, String> {
    let (Some(listen_pid), Some(listen_fds)) = (listen_pid, listen_fds) else {
        return Ok(None);
    };
    if listen_pid.trim().parse::<u32>().ok() != Some(pid) {
        tracing::debug!(
            listen_pid,
            pid,
            "LISTEN_PID names another process: no socket activation"
        );
        return Ok(None);
    }
    let count: usize = listen_fds
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_FDS={listen_fds:?} is not a number"))?;
    if count == 0 {
        return Ok(None);
    }
    let names: Vec<String> = match listen_fdnames {
        Some(names) if !names.is_empty() => names.split(':').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    if !names.is_empty() && names.len() != count {
        return Err(format!(
            "LISTEN_FDNAMES names {} sockets but LISTEN_FDS says {count}",
            names.len()
        ));
    }
    Ok(Some(Announcement { count, names }))
}

/// Takes the listening sockets the service manager passed to this process (none when the
/// environment names another process or nothing, or when they were taken already).
pub(crate) fn take_inherited() -> io::Result<Vec<Inherited>> {
    let env = |name| std::env::var(name).ok();
    let announced = announcement(
        env("LISTEN_PID").as_deref(),
        env("LISTEN_FDS").as_deref(),
        env("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )
    .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let Some(announced) = announced else {
        return Ok(Vec::new());
    };
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    let mut inherited = Vec::with_capacity(announced.count);
    for index in 0..announced.count {
        let fd = FIRST_FD + RawFd::try_from(index).unwrap_or(RawFd::MAX - FIRST_FD);
        let name = announced.names.get(index).cloned();
        let (listener, addr) = adopt(fd).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("inherited descriptor {fd} is not a usable listening socket: {e}"),
            )
        })?;
        inherited.push(Inherited {
            name,
            listener,
            addr,
        });
    }
    Ok(inherited)
}

/// Checks that `fd` is a listening stream socket and takes ownership of it.
fn adopt(fd: RawFd) -> io::Result<(StdListener, ListenAddr)> {
    // A descriptor that is not open must not be owned: closing it on the error path would
    // close whatever the process opens there next.
    // SAFETY: F_GETFD only reads the descriptor's flags.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: by the protocol, descriptors 3.. are ours to own from here on; `TAKEN` makes
    // sure only one owner is created per process.
    let socket = unsafe { Socket::from_raw_fd(fd) };
    if socket.r#type()? != socket2::Type::STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a stream socket",
        ));
    }
    if !socket.is_listener()? {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not listening"));
    }
    socket.set_cloexec(true)?;
    socket.set_nonblocking(true)?;
    let local = socket.local_addr()?;
    if let Some(addr) = local.as_socket() {
        return Ok((StdListener::Tcp(socket.into()), ListenAddr::Tcp(addr)));
    }
    let path = local
        .as_pathname()
        .map(|p| p.to_path_buf())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an IP nor a named Unix socket",
            )
        })?;
    let fd: OwnedFd = socket.into();
    let listener = UnixListener::from(fd);
    // The manager owns the socket file: it is not removed when the server closes.
    Ok((StdListener::Unix(listener, None), ListenAddr::Unix(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_process_and_a_count_announce_sockets() {
        assert_eq!(announcement(None, Some("1"), None, 7), Ok(None));
        assert_eq!(announcement(Some("8"), Some("1"), None, 7), Ok(None));
        assert_eq!(announcement(Some("7"), Some("0"), None, 7), Ok(None));
        assert_eq!(
            announcement(Some("7"), Some("2"), Some("ftp:ftps"), 7),
            Ok(Some(Announcement {
                count: 2,
                names: vec!["ftp".into(), "ftps".into()]
            }))
        );
        assert_eq!(
            announcement(Some("7"), Some("1"), None, 7),
            Ok(Some(Announcement {
                count: 1,
                names: vec![]
            }))
        );
        assert!(announcement(Some("7"), Some("x"), None, 7).is_err());
        assert!(announcement(Some("7"), Some("2"), Some("ftp"), 7).is_err());
    }
}
