//! Starting a command: `/bin/sh -c` in the user's home, a clean environment, confined.

use std::io;
use std::process::Stdio;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use wharf_users::UserRecord;

use super::confine::{Prepared, PrivateTmp};

/// The shell that interprets command lines, as OpenSSH's `exec` does with the login shell.
const SHELL: &str = "/bin/sh";

/// The only search path commands get; nothing from the daemon's environment leaks through.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Spawns `command_line` for `user` with piped stdin, stdout and stderr, under `confinement`.
///
/// The environment is exactly `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL` and `LANG`; the
/// working directory is the user's home. The process spawned is the command's supervisor (see
/// `confine::child`), leading a new process group; the shell runs under it. Returns the
/// private `/tmp` too, to be dropped once the supervisor has exited.
pub(crate) fn spawn(
    user: &UserRecord,
    command_line: &str,
    confinement: Prepared,
) -> io::Result<(Child, Option<PrivateTmp>)> {
    let mut command = Command::new(SHELL);
    command
        .arg("-c")
        .arg(command_line)
        .current_dir(&user.home)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .env("SHELL", SHELL)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // SIGKILL would kill the supervisor before it ends the tree; see CommandTree instead.
        .kill_on_drop(false);
    let tmp = confinement.install(&mut command);
    Ok((command.spawn()?, tmp))
}

/// The supervisor of a running command, by pid; ending it ends every process of the command.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommandTree {
    /// The supervisor's pid, which is also the process group id.
    supervisor: Pid,
}

impl CommandTree {
    /// The tree supervised by `child` (spawned with [`spawn`]); `None` if it already exited.
    pub(crate) fn of(child: &Child) -> Option<Self> {
        let pid = i32::try_from(child.id()?).ok()?;
        Some(CommandTree {
            supervisor: Pid::from_raw(pid),
        })
    }

    /// Asks the supervisor to SIGKILL every process of the command and exit. Call it only while
    /// the supervisor is not reaped yet (its pid cannot have been reused).
    pub(crate) fn end(&self) {
        match kill(self.supervisor, Signal::SIGTERM) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(pid = self.supervisor.as_raw(), %error, "cannot ask a command's supervisor to end it")
            }
        }
    }

    /// The last resort when the supervisor does not answer: SIGKILL its process group.
    pub(crate) fn force(&self) {
        match killpg(self.supervisor, Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(pgid = self.supervisor.as_raw(), %error, "cannot kill a command's process group")
            }
        }
    }
}
