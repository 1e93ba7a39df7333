//! What runs between fork and exec, in two processes: a supervisor, and the command under it.
//!
//! std forks the *supervisor* and runs [`ChildPlan::run`] in it (`pre_exec`). The supervisor
//! becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`: every process of the command that is
//! orphaned, by `setsid`, a double fork or its parent's death, is re-parented to it, never to
//! init), forks the *command* process, and never returns: it waits, and when the shell ends or
//! the daemon asks (SIGTERM), it SIGKILLs every child it has, reaps, and repeats until it has
//! none, then exits the way the shell did. The command process returns from `run` after
//! dropping privileges and confining itself, and std `exec`s the shell in it.
//!
//! A subreaper process per command was chosen over making the daemon a subreaper (process-wide:
//! orphans of every command, and of the framework's own children, would pile up as the daemon's
//! zombies) and over a PID namespace (root only; the subreaper works the same for an
//! unprivileged daemon). The daemon talks to the supervisor only through its pid: SIGTERM
//! means "end the whole tree now".
//!
//! Everything here runs after `fork` in a multi-threaded process, so it allocates nothing and
//! calls only async-signal-safe system calls: every path, the ruleset and the limits were
//! prepared in the daemon before the fork, and the child only calls `restrict_self` on the
//! ruleset (two system calls).

use std::ffi::{CStr, CString};
use std::io;

use ::landlock::{RulesetCreated, RulesetStatus};

use super::identity::Identity;
use super::limits::Rlimit;

/// What the two processes do, prepared in the daemon.
pub(super) struct ChildPlan {
    /// The daemon's pid, to notice a daemon that died before the death signal was armed.
    pub daemon_pid: libc::pid_t,
    /// The uid and gid to switch to; `None` when the daemon is not root.
    pub identity: Option<Identity>,
    /// The rlimits of the command process.
    pub rlimits: Vec<Rlimit>,
    /// The private temporary directory to mount over `/tmp`, when there is one.
    pub tmp_source: Option<CString>,
    /// The Landlock ruleset, its path descriptors already open; `None` for unconfined commands.
    pub ruleset: Option<RulesetCreated>,
}

/// Where the private temporary directory appears to the command.
const TMP: &CStr = c"/tmp";

/// The root of the mount tree, made private so the `/tmp` mount never propagates out.
const ROOT: &CStr = c"/";

/// Where the supervisor finds its children.
const PROC: &CStr = c"/proc";

impl ChildPlan {
    /// Runs in the process std forked: returns only in the command process (to `exec` the
    /// shell); the supervisor never returns.
    pub(super) fn run(&mut self) -> io::Result<()> {
        // SAFETY: only async-signal-safe system calls on memory this process owns.
        unsafe {
            let signals = supervisor_signals();
            // Blocked now, waited for with sigwaitinfo: no handler of the daemon ever runs here.
            check(libc::sigprocmask(
                libc::SIG_BLOCK,
                &signals,
                std::ptr::null_mut(),
            ))?;
            // The daemon's death (or the death of the thread that spawned us) ends the tree.
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM))?;
            if libc::getppid() != self.daemon_pid {
                libc::_exit(1);
            }
            check(libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1))?;
            let supervisor = libc::getpid();
            match libc::fork() {
                -1 => Err(io::Error::last_os_error()),
                0 => {
                    let empty = empty_set();
                    check(libc::sigprocmask(
                        libc::SIG_SETMASK,
                        &empty,
                        std::ptr::null_mut(),
                    ))?;
                    self.confine_command(supervisor)
                }
                shell => supervise(shell, &signals),
            }
        }
    }

    /// In the command process: private `/tmp`, limits, identity, no_new_privs, Landlock.
    ///
    /// # Safety
    /// Call only in a freshly forked child, as [`ChildPlan::run`] does.
    unsafe fn confine_command(&mut self, supervisor: libc::pid_t) -> io::Result<()> {
        // SAFETY: async-signal-safe system calls on memory prepared before the fork.
        unsafe {
            if let Some(source) = &self.tmp_source {
                check(libc::unshare(libc::CLONE_NEWNS))?;
                check(libc::mount(
                    std::ptr::null(),
                    ROOT.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ))?;
                check(libc::mount(
                    source.as_ptr(),
                    TMP.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ))?;
            }
            for &(resource, value) in &self.rlimits {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                check(libc::setrlimit(resource, &limit))?;
            }
            if let Some(identity) = self.identity {
                // Groups first, then gid, then uid: after setuid nothing else could be changed.
                check(libc::setgroups(1, &identity.gid))?;
                check(libc::setresgid(identity.gid, identity.gid, identity.gid))?;
                check(libc::setresuid(identity.uid, identity.uid, identity.uid))?;
            }
            // After the identity change, which clears it: the shell dies with its supervisor.
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
            if libc::getppid() != supervisor {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        }
        if let Some(ruleset) = self.ruleset.take() {
            match ruleset.restrict_self() {
                Ok(status) if status.ruleset == RulesetStatus::FullyEnforced => {}
                Ok(_) => return Err(io::Error::from_raw_os_error(libc::EPERM)),
                Err(error) => {
                    // Freeing is not async-signal-safe; the process is about to end anyway.
                    std::mem::forget(error);
                    return Err(io::Error::from_raw_os_error(libc::EPERM));
                }
            }
        }
        Ok(())
    }
}

/// The supervisor's life: wait for the shell or for the daemon's SIGTERM, end the tree, exit
/// as the shell did.
///
/// # Safety
/// Call only in the forked supervisor, with `signals` blocked.
unsafe fn supervise(shell: libc::pid_t, signals: &libc::sigset_t) -> ! {
    // SAFETY: async-signal-safe system calls on this function's own memory.
    unsafe {
        // No core file, and no ptrace by a command that shares the daemon's uid.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::prctl(libc::PR_SET_DUMPABLE, 0);
        // Its copies of the pipes (and of std's exec-error pipe, whose end of file tells the
        // daemon the shell started) must not keep them open.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for fd in 0..1024 {
                libc::close(fd);
            }
        }
        let mut status: Option<libc::c_int> = None;
        loop {
            reap_ready(shell, &mut status);
            if status.is_some() {
                break;
            }
            let signal = libc::sigwaitinfo(signals, std::ptr::null_mut());
            if signal == libc::SIGTERM {
                libc::kill(shell, libc::SIGKILL);
                break;
            }
        }
        end_tree(shell, &mut status);
        exit_like(status)
    }
}

/// Reaps every child that already ended, noting the shell's status.
unsafe fn reap_ready(shell: libc::pid_t, status: &mut Option<libc::c_int>) {
    loop {
        let mut raw = 0;
        // SAFETY: waitpid writes one int we own.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG | libc::__WALL) };
        if pid <= 0 {
            return;
        }
        if pid == shell {
            *status = Some(raw);
        }
    }
}

/// Kills every child (the subreaper inherits each orphan, so repeating reaches every process
/// of the tree) and reaps until none is left.
unsafe fn end_tree(shell: libc::pid_t, status: &mut Option<libc::c_int>) {
    // SAFETY: async-signal-safe system calls on this function's own memory.
    unsafe {
        let me = libc::getpid();
        loop {
            kill_children(me);
            let mut raw = 0;
            let pid = libc::waitpid(-1, &mut raw, libc::__WALL);
            if pid == -1 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return; // ECHILD: nothing left.
            }
            if pid == shell && status.is_none() {
                *status = Some(raw);
            }
        }
    }
}

/// Sends SIGKILL to every process whose parent is `parent`, found by reading `/proc`.
unsafe fn kill_children(parent: libc::pid_t) {
    // SAFETY: the descriptor and buffers are this function's own.
    unsafe {
        let dir = libc::open(
            PROC.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return;
        }
        let mut entries = [0u8; 4096];
        loop {
            let read = libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.as_mut_ptr(),
                entries.len(),
            );
            if read <= 0 {
                break;
            }
            let mut offset = 0usize;
            let end = read as usize;
            // struct linux_dirent64: u64 inode, i64 offset, u16 record length, u8 type, name.
            while offset + 19 < end {
                let length = u16::from_ne_bytes([entries[offset + 16], entries[offset + 17]]);
                if length == 0 {
                    break;
                }
                let name = &entries[offset + 19..(offset + length as usize).min(end)];
                if let Some(pid) = parse_pid(name)
                    && parent_of(pid) == Some(parent)
                {
                    libc::kill(pid, libc::SIGKILL);
                }
                offset += length as usize;
            }
        }
        libc::close(dir);
    }
}

/// The pid a `/proc` entry name stands for (a NUL-terminated run of digits).
fn parse_pid(name: &[u8]) -> Option<libc::pid_t> {
    let digits = name.split(|&byte| byte == 0).next()?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0 as libc::pid_t, |pid, &digit| {
        pid.checked_mul(10)?
            .checked_add(libc::pid_t::from(digit - b'0'))
    })
}

/// The parent pid of `pid`, from `/proc/<pid>/stat`.
unsafe fn parent_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let mut path = [0u8; 32];
    let prefix = b"/proc/";
    path[..prefix.len()].copy_from_slice(prefix);
    let mut length = prefix.len();
    length += write_decimal(&mut path[length..], pid)?;
    let suffix = b"/stat\0";
    path.get_mut(length..length + suffix.len())?
        .copy_from_slice(suffix);
    let mut stat = [0u8; 256];
    // SAFETY: a NUL-terminated path and a buffer of our own.
    let read = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let read = libc::read(fd, stat.as_mut_ptr().cast(), stat.len());
        libc::close(fd);
        read
    };
    let stat = stat.get(..usize::try_from(read).ok()?)?;
    parse_parent(stat)
}

/// The parent pid in a `/proc/<pid>/stat` line: `pid (name) state ppid ...`, where the name
/// may itself hold `)` and spaces, so the last `)` ends it.
fn parse_parent(stat: &[u8]) -> Option<libc::pid_t> {
    let close = stat.iter().rposition(|&byte| byte == b')')?;
    let mut fields = stat.get(close + 1..)?.split(|&byte| byte == b' ');
    fields.next()?; // the empty field before the state
    fields.next()?; // the state letter
    let parent = fields.next()?;
    let mut name = [0u8; 16];
    name.get_mut(..parent.len())?.copy_from_slice(parent);
    parse_pid(&name)
}

/// Writes `value` (non-negative) in decimal at the start of `out`; the number of bytes.
fn write_decimal(out: &mut [u8], value: libc::pid_t) -> Option<usize> {
    let mut digits = [0u8; 12];
    let mut count = 0;
    let mut rest = u32::try_from(value).ok()?;
    loop {
        digits[count] = b'0' + (rest % 10) as u8;
        count += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let out = out.get_mut(..count)?;
    for (slot, digit) in out.iter_mut().zip(digits[..count].iter().rev()) {
        *slot = *digit;
    }
    Some(count)
}

/// Ends the supervisor with the shell's exit code, or by the signal that killed the shell, so
/// the daemon reports what the command did.
unsafe fn exit_like(status: Option<libc::c_int>) -> ! {
    // SAFETY: async-signal-safe calls; the process ends here.
    unsafe {
        match status {
            Some(raw) if libc::WIFEXITED(raw) => libc::_exit(libc::WEXITSTATUS(raw)),
            Some(raw) if libc::WIFSIGNALED(raw) => {
                let signal = libc::WTERMSIG(raw);
                libc::signal(signal, libc::SIG_DFL);
                let mut only = empty_set();
                libc::sigaddset(&mut only, signal);
                libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
                libc::kill(libc::getpid(), signal);
                libc::_exit(128 + signal)
            }
            _ => libc::_exit(1),
        }
    }
}

/// SIGCHLD (a child ended) and SIGTERM (the daemon asks for the end).
fn supervisor_signals() -> libc::sigset_t {
    let mut set = empty_set();
    // SAFETY: the set is ours and initialised.
    unsafe {
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigaddset(&mut set, libc::SIGTERM);
    }
    set
}

/// An initialised empty signal set.
fn empty_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

/// A system call's -1 as the error it set.
fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_names_and_stat_lines_are_parsed_without_trusting_the_command_name() {
        assert_eq!(parse_pid(b"1234\0\0"), Some(1234));
        assert_eq!(parse_pid(b"self\0"), None);
        assert_eq!(parse_pid(b"\0"), None);
        assert_eq!(parse_pid(b"99999999999999\0"), None);
        assert_eq!(parse_parent(b"42 (sh) S 7 42 42 0 -1"), Some(7));
        // A name chosen to mislead a naive parser.
        assert_eq!(parse_parent(b"42 (a) S 1 (b) R 9) S 77 1 1"), Some(77));
        assert_eq!(parse_parent(b"garbage"), None);
    }

    #[test]
    fn the_parent_of_this_process_is_read_from_proc() {
        let me = libc::pid_t::try_from(std::process::id()).unwrap();
        // SAFETY: plain system calls.
        let parent = unsafe { libc::getppid() };
        assert_eq!(unsafe { parent_of(me) }, Some(parent));
    }

    #[test]
    fn decimals_are_written_in_place() {
        let mut out = [0u8; 8];
        assert_eq!(write_decimal(&mut out, 305), Some(3));
        assert_eq!(&out[..3], b"305");
        assert_eq!(write_decimal(&mut out[..2], 305), None);
        assert_eq!(write_decimal(&mut out, -1), None);
    }
}
