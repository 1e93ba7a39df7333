//! The execution core both front ends share: run a user's command under limits and stream it.
//!
//! - [`slots`]: the per-user cap on concurrent commands (lock files, valid in every mode).
//! - [`confine`]: Landlock, identity, resource limits, private `/tmp`, and the supervisor
//!   process that ends a command's whole process tree.
//! - `process`: spawning in the user's home with a clean environment, confined.
//! - `supervise`: streaming output in bounded chunks, stdin, the time and output limits.

pub mod confine;
mod process;
pub mod slots;
mod supervise;

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use wharf_users::UserRecord;

pub use confine::{ConfineError, Confinement, ConfinementConfig, ResourceLimits};
pub use slots::CommandSlots;

use crate::metrics::{CommandMeter, CommandResult};

/// Largest chunk of output or input moved at once, in bytes.
pub const CHUNK_SIZE: usize = 32 * 1024;

/// Output chunks queued between the command and a slow client: with [`CHUNK_SIZE`], at most
/// 128 KiB of output waits per command, whatever the command writes.
const EVENT_QUEUE: usize = 4;

/// Input chunks queued for a command that is not reading its standard input yet.
const STDIN_QUEUE: usize = 8;

/// The limits every command runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// Wall-clock time a command may run; then its whole process group is killed.
    pub time_limit: Duration,
    /// Bytes of stdout and stderr together a command may produce; then it is killed.
    pub max_output_bytes: u64,
    /// Commands one user may run at once, across all connections and processes.
    pub max_commands_per_user: usize,
}

impl Default for ExecLimits {
    /// 60 seconds, 256 MiB of output, 8 commands per user.
    fn default() -> Self {
        ExecLimits {
            time_limit: Duration::from_secs(60),
            max_output_bytes: 256 << 20,
            max_commands_per_user: 8,
        }
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How the command's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal (this number) killed it.
    Signal(i32),
}

/// A limit the server enforced by killing the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReached {
    /// The wall-clock limit expired.
    Time(Duration),
    /// The output cap was reached; output past it was not sent.
    Output(u64),
}

impl std::fmt::Display for LimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitReached::Time(limit) => write!(
                f,
                "the time limit of {} s was reached; the command was killed",
                limit.as_secs_f64()
            ),
            LimitReached::Output(bytes) => write!(
                f,
                "the output limit of {bytes} bytes was reached; the command was killed"
            ),
        }
    }
}

/// The end of a command: its status and the limit that ended it, if one did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Exit code or terminating signal.
    pub status: ExitStatus,
    /// Set when the server killed the command for exceeding a limit.
    pub limit: Option<LimitReached>,
}

/// What a running command reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// A chunk of output, at most [`CHUNK_SIZE`] bytes.
    Output(OutputStream, Vec<u8>),
    /// The command ended and every byte of its output was delivered before this event.
    Finished(Completion),
    /// The server lost track of the command (waiting for it failed); it was killed.
    Failed(String),
}

/// Why a command could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The user already runs as many commands as allowed.
    #[error("too many commands running for user {user} (at most {limit} at once)")]
    TooManyCommands {
        /// The user.
        user: String,
        /// The per-user cap.
        limit: usize,
    },
    /// The user may not run commands.
    #[error("user {0} may not run commands")]
    NotAllowed(String),
    /// The command line is empty.
    #[error("empty command")]
    EmptyCommand,
    /// The command line holds a NUL byte, which no shell can receive.
    #[error("the command contains a NUL byte")]
    NulInCommand,
    /// The slot files could not be used.
    #[error("cannot count running commands: {0}")]
    Slots(#[source] std::io::Error),
    /// The shell could not be started (missing home directory, out of processes).
    #[error("cannot start the command: {0}")]
    Spawn(#[source] std::io::Error),
    /// The command cannot be confined as required (see [`ConfineError`]).
    #[error(transparent)]
    Confinement(#[from] ConfineError),
}

/// Starts commands under [`ExecLimits`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Executor {
    /// The limits of every command.
    limits: ExecLimits,
    /// The per-user concurrency cap.
    slots: CommandSlots,
    /// How commands are confined.
    confinement: Confinement,
}

/// A command that is running: its events and its standard input.
///
/// Dropping it (for example when the client disconnects) kills the command's process group.
#[derive(Debug)]
pub struct RunningCommand {
    /// Output chunks, then one `Finished` or `Failed`.
    events: mpsc::Receiver<ExecEvent>,
    /// Chunks for the command's standard input; dropping it closes the input.
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    /// Counts the output taken and the end, when the front end metered the command.
    meter: Option<CommandMeter>,
}

impl Executor {
    /// An executor whose slot files live under `state_dir`, confining commands as `confinement`
    /// says.
    pub fn new(
        state_dir: &Path,
        limits: ExecLimits,
        confinement: Confinement,
    ) -> std::io::Result<Self> {
        let slots = CommandSlots::new(state_dir, limits.max_commands_per_user)?;
        Ok(Executor {
            limits,
            slots,
            confinement,
        })
    }

    /// The limits commands run under.
    pub fn limits(&self) -> ExecLimits {
        self.limits
    }

    /// Starts `command_line` for `user` (who must have `allow_exec`). Call it inside a tokio
    /// runtime: the command is supervised by a task of that runtime.
    pub fn start(
        &self,
        user: &UserRecord,
        command_line: &str,
    ) -> Result<RunningCommand, ExecError> {
        if !user.allow_exec {
            return Err(ExecError::NotAllowed(user.name.clone()));
        }
        if command_line.trim().is_empty() {
            return Err(ExecError::EmptyCommand);
        }
        if command_line.contains('\0') {
            return Err(ExecError::NulInCommand);
        }
        let slot = self
            .slots
            .try_acquire(&user.name)
            .map_err(ExecError::Slots)?
            .ok_or_else(|| ExecError::TooManyCommands {
                user: user.name.clone(),
                limit: self.slots.per_user(),
            })?;
        let prepared = self.confinement.prepare(user)?;
        let uid = prepared.identity.map(|identity| identity.uid);
        let landlocked = prepared.landlocked;
        let (child, tmp) =
            process::spawn(user, command_line, prepared).map_err(ExecError::Spawn)?;
        let (event_sender, events) = mpsc::channel(EVENT_QUEUE);
        let (stdin, stdin_receiver) = mpsc::channel(STDIN_QUEUE);
        if landlocked {
            tracing::info!(user = %user.name, cmd = %command_line, pid = child.id(), uid, "command started");
        } else {
            tracing::warn!(user = %user.name, cmd = %command_line, pid = child.id(), uid,
                "command started UNCONFINED (no Landlock: --unconfined-commands)");
        }
        let supervisor = supervise::Supervisor::new(child, tmp, self.limits, event_sender)?;
        tokio::spawn(supervisor.run(stdin_receiver, slot));
        Ok(RunningCommand {
            events,
            stdin: Some(stdin),
            meter: None,
        })
    }
}

impl RunningCommand {
    /// The command with `meter` counting the output each [`RunningCommand::next_event`] hands
    /// out and the end it reports; dropped before the end, the meter counts a disconnect.
    pub fn metered(mut self, meter: CommandMeter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The next event; `None` only after `Finished` or `Failed` was returned. Cancel safe.
    pub async fn next_event(&mut self) -> Option<ExecEvent> {
        let event = self.events.recv().await;
        if let Some(meter) = &mut self.meter {
            match &event {
                Some(ExecEvent::Output(stream, bytes)) => meter.output(*stream, bytes.len()),
                Some(ExecEvent::Finished(completion)) => {
                    meter.finished(CommandResult::of(completion));
                }
                // The supervisor reported losing the command, or vanished without a word.
                Some(ExecEvent::Failed(_)) | None => meter.finished(CommandResult::Error),
            }
        }
        event
    }

    /// Takes the sender for standard input (once); dropping it sends end-of-file.
    pub fn take_stdin(&mut self) -> Option<mpsc::Sender<Vec<u8>>> {
        self.stdin.take()
    }
}

/// The name of signal `number` without the `SIG` prefix (`TERM`), or an empty string.
pub fn signal_name(number: i32) -> String {
    nix::sys::signal::Signal::try_from(number)
        .map(|signal| signal.as_str().trim_start_matches("SIG").to_owned())
        .unwrap_or_default()
}
