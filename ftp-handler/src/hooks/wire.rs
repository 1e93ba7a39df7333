//! The channel from sessions to the hook process: a `SOCK_SEQPACKET` Unix socket pair made
//! before anything forks, so every session (task, thread or process) holds the sending end.
//!
//! One message is one JSON record; records never interleave, whichever process sends them.
//! Sends never wait (`MSG_DONTWAIT`): a full socket buffer is a dropped event, not a slow
//! session. A pre-upload request carries, as `SCM_RIGHTS`, the write end of a pipe the
//! session reads the verdict from, so each answer reaches only the session that asked.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Serialize};

use super::event::{HookEvent, VetoRequest};

/// Largest record; an event is a few hundred bytes (paths are bounded by the line length).
pub(super) const MAX_MESSAGE: usize = 64 * 1024;

/// Send buffer asked for on the sessions' end, so bursts are absorbed by the kernel while the
/// hook process catches up (the kernel caps it at `net.core.wmem_max`).
const SEND_BUFFER: libc::c_int = 4 << 20;

/// A record from a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Message {
    /// An event to deliver.
    Event(HookEvent),
    /// A pre-upload question; the verdict goes to the passed pipe.
    Veto(VetoRequest),
}

/// Both ends of a fresh channel: `(sessions' end, hook process's end)`, close-on-exec.
pub(super) fn channel() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if made != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned by nothing else.
    let (sessions, hooks) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: setsockopt with an int option on a socket we own.
    unsafe {
        libc::setsockopt(
            sessions.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&SEND_BUFFER as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    Ok((sessions, hooks))
}

/// A pipe `(read end, write end)`, close-on-exec and non-blocking.
pub(super) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Control-message room for one descriptor, aligned as `cmsghdr` needs.
#[repr(C, align(8))]
struct Control([u8; 64]);

/// Sends one record without waiting, with `passed` as `SCM_RIGHTS` if given. A full buffer is
/// `WouldBlock`.
pub(super) fn send(
    socket: BorrowedFd<'_>,
    message: &Message,
    passed: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "hook record too large",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut control = Control([0; 64]);
    // SAFETY: an all-zero msghdr is valid (no name, no control).
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if let Some(fd) = passed {
        // SAFETY: the control buffer is aligned and larger than CMSG_SPACE of one int; the
        // header points at it for CMSG_FIRSTHDR, and the data is written inside it.
        unsafe {
            let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            header.msg_control = control.0.as_mut_ptr().cast();
            header.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd.as_raw_fd());
        }
    }
    // SAFETY: the header and everything it points at live across the call.
    let sent = unsafe {
        libc::sendmsg(
            socket.as_raw_fd(),
            &header,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What one receive produced.
#[derive(Debug)]
pub(super) enum Received {
    /// A record and the descriptor passed with it, if any.
    Record(Vec<u8>, Option<OwnedFd>),
    /// A record too large for the buffer, or with its control data cut; any descriptor is
    /// closed.
    Truncated,
    /// Every sending end is closed.
    Closed,
}

/// Receives one record without waiting (`WouldBlock` when there is none).
pub(super) fn receive(socket: BorrowedFd<'_>) -> io::Result<Received> {
    let mut buffer = vec![0u8; MAX_MESSAGE + 1];
    let mut iov = libc::iovec {
        iov_base: buffer.as_mut_ptr().cast(),
        iov_len: buffer.len(),
    };
    let mut control = Control([0; 64]);
    // SAFETY: an all-zero msghdr is valid; iov and control are set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.0.as_mut_ptr().cast();
    header.msg_controllen = control.0.len() as _;
    // SAFETY: the header and its buffers live across the call.
    let length = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut header,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if length < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut passed = Vec::new();
    // SAFETY: the kernel filled the control buffer; CMSG_FIRSTHDR/NXTHDR stay inside
    // msg_controllen, and each SCM_RIGHTS payload holds whole descriptors it gave us.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for index in 0..payload / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.add(index));
                    passed.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    let length = length as usize;
    if header.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 || length > MAX_MESSAGE {
        return Ok(Received::Truncated);
    }
    if length == 0 && passed.is_empty() {
        return Ok(Received::Closed);
    }
    buffer.truncate(length);
    // One descriptor at most is expected; any others close here.
    Ok(Received::Record(buffer, passed.into_iter().next()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use super::*;
    use crate::config::hooks::HookEventKind;

    #[test]
    fn records_and_passed_pipes_arrive_whole() {
        let (sessions, hooks) = channel().unwrap();
        let event = HookEvent::now(HookEventKind::Login, 1, "::1".into(), "alice".into());
        send(sessions.as_fd(), &Message::Event(event.clone()), None).unwrap();
        let (read_end, write_end) = pipe().unwrap();
        let request = VetoRequest {
            session: 2,
            client_addr: "::1".into(),
            user: "alice".into(),
            home: "/home/alice".into(),
            path: "/a".into(),
            mode: super::super::event::UploadKind::Replace,
            offset: None,
        };
        send(
            sessions.as_fd(),
            &Message::Veto(request.clone()),
            Some(write_end.as_fd()),
        )
        .unwrap();
        drop(write_end);

        let Received::Record(bytes, None) = receive(hooks.as_fd()).unwrap() else {
            panic!("an event without a descriptor");
        };
        assert_eq!(
            serde_json::from_slice::<Message>(&bytes).unwrap(),
            Message::Event(event)
        );
        let Received::Record(bytes, Some(passed)) = receive(hooks.as_fd()).unwrap() else {
            panic!("a veto request with its pipe");
        };
        assert_eq!(
            serde_json::from_slice::<Message>(&bytes).unwrap(),
            Message::Veto(request)
        );
        std::fs::File::from(passed).write_all(b"answer").unwrap();
        let mut answer = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut answer)
            .unwrap();
        assert_eq!(answer, "answer");
        assert_eq!(
            receive(hooks.as_fd()).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        drop(sessions);
        assert!(matches!(receive(hooks.as_fd()).unwrap(), Received::Closed));
    }
}
