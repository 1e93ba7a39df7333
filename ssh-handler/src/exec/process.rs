//! Starting a command: `/bin/sh -c` in the user's home, a clean environment, its own process group.

use std::io;
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use wharf_users::UserRecord;

/// The shell that interprets command lines, as OpenSSH's `exec` does with the login shell.
const SHELL: &str = "/bin/sh";

/// The only search path commands get; nothing from the daemon's environment leaks through.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Spawns `command_line` for `user` with piped stdin, stdout and stderr.
///
/// The environment is exactly `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL` and `LANG`; the
/// working directory is the user's home; the child leads a new process group so the whole
/// tree can be killed at once.
pub(crate) fn spawn(user: &UserRecord, command_line: &str) -> io::Result<Child> {
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
        .kill_on_drop(true);
    command.spawn()
}

/// The process group of a running command; dropping it kills every process still in it.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    /// The group id (the pid of the shell that leads it).
    id: Pid,
}

impl ProcessGroup {
    /// The group led by `child` (spawned with [`spawn`]); `None` if it already exited.
    pub(crate) fn of(child: &Child) -> Option<Self> {
        let pid = i32::try_from(child.id()?).ok()?;
        Some(ProcessGroup {
            id: Pid::from_raw(pid),
        })
    }

    /// Sends SIGKILL to every process of the group; a group already empty is not an error.
    pub(crate) fn kill(&self) {
        match killpg(self.id, Signal::SIGKILL) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(error) => {
                tracing::warn!(pgid = self.id.as_raw(), %error, "cannot kill a command's process group")
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
