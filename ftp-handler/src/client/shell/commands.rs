//! The shell's commands: what each does, its arguments and its help line.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Flow, Shell};
use crate::client::error::ClientError;
use crate::client::oneshot::show_hash;
use crate::client::transfer::{self, local_target, remote_target};

/// Every command with its usage and a one-line description, as `help` shows them.
pub const COMMANDS: [(&str, &str); 15] = [
    ("ls [PATH]", "list a remote directory"),
    ("cd PATH", "change the remote directory"),
    ("pwd", "show the remote directory"),
    (
        "get [-c] REMOTE [LOCAL]",
        "download (-c: resume a partial local file)",
    ),
    (
        "put [-c] LOCAL [REMOTE]",
        "upload (-c: resume a partial remote file)",
    ),
    ("mkdir PATH", "create a remote directory"),
    ("rmdir PATH", "remove an empty remote directory"),
    ("rm PATH", "delete a remote file"),
    ("mv FROM TO", "rename or move a remote file"),
    ("quota", "show your disk usage and limits (SITE QUOTA)"),
    (
        "hash REMOTE [LOCAL]",
        "show the server's hash of a file; compare with LOCAL",
    ),
    ("lcd [DIR]", "change (or show) the local directory"),
    ("lpwd", "show the local directory"),
    ("help", "this list"),
    ("quit", "leave (also exit, bye, Ctrl-D)"),
];

impl Shell {
    /// Runs one command line (already split into words); errors are shown, not fatal.
    pub fn execute(&mut self, words: Vec<String>) -> Flow {
        let Some((name, args)) = words.split_first() else {
            return Flow::Continue;
        };
        let result = match name.as_str() {
            "quit" | "exit" | "bye" => return Flow::Quit,
            "help" | "?" => self.help(),
            "ls" | "dir" => self.ls(args),
            "cd" => self.cd(args),
            "pwd" => self.pwd(args),
            "get" => self.get(args),
            "put" => self.put(args),
            "mkdir" => arity(args, 1, "mkdir PATH").and_then(|()| self.connection.mkdir(&args[0])),
            "rmdir" => arity(args, 1, "rmdir PATH").and_then(|()| self.connection.rmdir(&args[0])),
            "rm" | "delete" => {
                arity(args, 1, "rm PATH").and_then(|()| self.connection.remove(&args[0]))
            }
            "mv" | "rename" => arity(args, 2, "mv FROM TO")
                .and_then(|()| self.connection.rename(&args[0], &args[1])),
            "quota" => self.quota(args),
            "hash" => self.hash(args),
            "lcd" => self.lcd(args),
            "lpwd" => self.lpwd(args),
            other => Err(ClientError::Usage(format!(
                "unknown command {other:?}: type help for the list"
            ))),
        };
        if let Err(error) = result {
            eprintln!("error: {error}");
            if self.connection.is_broken() {
                eprintln!("(the connection will be re-established by the next command)");
            }
        }
        Flow::Continue
    }

    /// `help`
    fn help(&mut self) -> Result<(), ClientError> {
        let mut out = std::io::stdout();
        for (usage, description) in COMMANDS {
            let _ = writeln!(out, "  {usage:<26} {description}");
        }
        Ok(())
    }

    /// `ls [PATH]`
    fn ls(&mut self, args: &[String]) -> Result<(), ClientError> {
        if args.len() > 1 {
            return Err(usage("ls [PATH]"));
        }
        let lines = self.connection.list(args.first().map(String::as_str))?;
        let mut out = std::io::stdout();
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        Ok(())
    }

    /// `cd PATH`
    fn cd(&mut self, args: &[String]) -> Result<(), ClientError> {
        arity(args, 1, "cd PATH")?;
        self.cwd = self.connection.cwd(&args[0])?;
        Ok(())
    }

    /// `pwd`
    fn pwd(&mut self, args: &[String]) -> Result<(), ClientError> {
        arity(args, 0, "pwd")?;
        self.cwd = self.connection.pwd()?;
        println!("{}", self.cwd);
        Ok(())
    }

    /// `get [-c] REMOTE [LOCAL]`: offers to resume when a shorter local copy exists.
    fn get(&mut self, args: &[String]) -> Result<(), ClientError> {
        let (resume, args) = take_flag(args, "-c");
        if args.is_empty() || args.len() > 2 {
            return Err(usage("get [-c] REMOTE [LOCAL]"));
        }
        let remote = args[0].as_str();
        let local = local_target(remote, args.get(1).map(|s| Path::new(s.as_str())));
        let resume = resume || self.offer_download_resume(remote, &local)?;
        transfer::get(
            &mut self.connection,
            remote,
            &local,
            resume,
            &self.transfer,
            &mut std::io::stdout(),
        )
        .map(|_| ())
    }

    /// `put [-c] LOCAL [REMOTE]`: offers to resume when a shorter remote copy exists.
    fn put(&mut self, args: &[String]) -> Result<(), ClientError> {
        let (resume, args) = take_flag(args, "-c");
        if args.is_empty() || args.len() > 2 {
            return Err(usage("put [-c] LOCAL [REMOTE]"));
        }
        let local = PathBuf::from(&args[0]);
        let remote = remote_target(&local, args.get(1).map(|s| s.as_str()).unwrap_or(""));
        let resume = resume || self.offer_upload_resume(&local, &remote)?;
        transfer::put(
            &mut self.connection,
            &local,
            &remote,
            resume,
            &self.transfer,
            &mut std::io::stdout(),
        )
        .map(|_| ())
    }

    /// Asks whether to continue a local partial copy of `remote`.
    fn offer_download_resume(&mut self, remote: &str, local: &Path) -> Result<bool, ClientError> {
        let partial = std::fs::metadata(local).map(|m| m.len()).unwrap_or(0);
        if partial == 0 {
            return Ok(false);
        }
        match self.connection.size(remote)? {
            Some(total) if partial < total => Ok(self.ask(
                &format!(
                    "{} has {partial} of {total} bytes: resume? [Y/n] ",
                    local.display()
                ),
                true,
            )),
            _ => Ok(false),
        }
    }

    /// Asks whether to continue a remote partial copy of `local`.
    fn offer_upload_resume(&mut self, local: &Path, remote: &str) -> Result<bool, ClientError> {
        let Ok(meta) = std::fs::metadata(local) else {
            return Ok(false);
        };
        match self.connection.size(remote)? {
            Some(partial) if partial > 0 && partial < meta.len() => Ok(self.ask(
                &format!(
                    "{remote} on the server has {partial} of {} bytes: resume? [Y/n] ",
                    meta.len()
                ),
                true,
            )),
            _ => Ok(false),
        }
    }

    /// `quota`
    fn quota(&mut self, args: &[String]) -> Result<(), ClientError> {
        arity(args, 0, "quota")?;
        for line in self.connection.site("QUOTA")? {
            println!("{line}");
        }
        Ok(())
    }

    /// `hash REMOTE [LOCAL]`
    fn hash(&mut self, args: &[String]) -> Result<(), ClientError> {
        if args.is_empty() || args.len() > 2 {
            return Err(usage("hash REMOTE [LOCAL]"));
        }
        show_hash(
            &mut self.connection,
            &args[0],
            args.get(1).map(Path::new),
            &mut std::io::stdout(),
        )
    }

    /// `lcd [DIR]`
    fn lcd(&mut self, args: &[String]) -> Result<(), ClientError> {
        if args.len() > 1 {
            return Err(usage("lcd [DIR]"));
        }
        if let Some(dir) = args.first() {
            std::env::set_current_dir(dir)
                .map_err(|source| ClientError::local("cannot change to", dir, source))?;
        }
        self.lpwd(&[])
    }

    /// `lpwd`
    fn lpwd(&mut self, args: &[String]) -> Result<(), ClientError> {
        arity(args, 0, "lpwd")?;
        let dir = std::env::current_dir()
            .map_err(|source| ClientError::local("cannot read", ".", source))?;
        println!("{}", dir.display());
        Ok(())
    }
}

/// Removes `flag` from the arguments, saying whether it was there.
fn take_flag<'a>(args: &'a [String], flag: &str) -> (bool, Vec<&'a String>) {
    let found = args.iter().any(|arg| arg == flag);
    (found, args.iter().filter(|arg| *arg != flag).collect())
}

/// Checks the argument count.
fn arity(args: &[String], count: usize, form: &str) -> Result<(), ClientError> {
    if args.len() == count {
        Ok(())
    } else {
        Err(usage(form))
    }
}

/// A usage error for one command.
fn usage(form: &str) -> ClientError {
    ClientError::Usage(format!("usage: {form}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_taken_out_of_the_arguments() {
        let args: Vec<String> = ["-c", "a", "b"].map(String::from).to_vec();
        let (found, rest) = take_flag(&args, "-c");
        assert!(found);
        assert_eq!(rest, [&"a".to_string(), &"b".to_string()]);
    }

    #[test]
    fn arity_errors_show_the_usage() {
        let error = arity(&[], 1, "cd PATH").unwrap_err();
        assert_eq!(error.to_string(), "usage: cd PATH");
    }
}
