//! Preparing one server for a run: its FTP root, its account database and its configuration,
//! all in a fresh directory, and the command that starts it on 127.0.0.1.
//!
//! - Wharf: a users file with the test user (argon2id, Wharf's production parameters) and a
//!   TOML configuration lifting the session limits to fit 10,000 idle sessions (written by
//!   [`super::variant`], which also makes the S3, PostgreSQL and scratch set-ups).
//! - vsftpd: `bench/peers/vsftpd.conf` plus per-run `-o` settings; the test user is a system
//!   account with its password in `/etc/shadow` (made by `bench/peers.sh`).
//! - pure-ftpd: `bench/peers/pure-ftpd.flags` plus a PureDB made with `pure-pw`, holding the
//!   same argon2id hash Wharf's users file holds, so both servers pay the same cost per login.
//! - ProFTPD: `bench/peers/proftpd.conf` plus per-run lines (port, account, jail), checking
//!   the system account's password in `/etc/shadow` as vsftpd does.
//! - pyftpdlib: `bench/peers/pyftpdlib_server.py` with the user and root as arguments.

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Group, Uid, User, chown};
use wharf_users::{HashParams, hash_password};

use super::servers::{FtpServer, Programs};
use super::variant::{self, WharfVariant};

/// Why a server could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file or directory could not be made.
    #[error("{context}: {source}")]
    Io {
        /// What was being made.
        context: String,
        /// Why.
        source: io::Error,
    },
    /// The system account vsftpd and pure-ftpd need does not exist.
    #[error("system user {0:?} is missing: run bench/peers.sh, which creates it")]
    NoSystemUser(String),
    /// A users file or hash could not be made.
    #[error("cannot make the users file: {0}")]
    Users(#[from] wharf_users::AuthError),
    /// A helper program failed.
    #[error("{program} failed: {detail}")]
    Tool {
        /// The program.
        program: String,
        /// What it said.
        detail: String,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> SetupError {
    let context = context.into();
    move |source| SetupError::Io { context, source }
}

/// The test account's password hash, made once per run and shared by Wharf and pure-ftpd.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The login name.
    pub user: String,
    /// The password.
    pub password: String,
    /// Its argon2id PHC string with Wharf's production parameters.
    pub argon2_hash: String,
}

impl Credentials {
    /// Hashes the programs' test password with [`HashParams::PRODUCTION`].
    pub fn new(programs: &Programs) -> Result<Self, SetupError> {
        Ok(Credentials {
            user: programs.user.clone(),
            password: programs.password.clone(),
            argon2_hash: hash_password(&programs.password, &HashParams::PRODUCTION)?,
        })
    }
}

/// A prepared server: how to start it and where it keeps things.
#[derive(Debug)]
pub struct Prepared {
    /// The command that starts it in the foreground.
    pub command: Command,
    /// Where it will listen.
    pub addr: SocketAddr,
    /// The test user's root directory (the FTP `/`).
    pub root: PathBuf,
    /// Its standard output and error.
    pub log: PathBuf,
}

/// A port free on 127.0.0.1 right now (the server binds it a moment later).
pub fn free_port() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// Makes `dir/root` (owned by the system test user for servers that run as it) and the rest
/// of `server`'s files under `dir`, and returns its start command.
pub fn prepare(
    server: FtpServer,
    programs: &Programs,
    credentials: &Credentials,
    dir: &Path,
) -> Result<Prepared, SetupError> {
    let root = dir.join("root");
    fs::create_dir_all(&root).map_err(io_error(format!("creating {}", root.display())))?;
    let addr = free_port().map_err(io_error("finding a free port"))?;
    let log = dir.join("server.log");
    if server.runs_as_test_user() {
        let (uid, gid) = system_user(&programs.user)?;
        chown(&root, Some(uid), Some(gid)).map_err(|errno| SetupError::Io {
            context: format!("chown {}", root.display()),
            source: io::Error::from(errno),
        })?;
    }
    let command = match server {
        FtpServer::Vsftpd => vsftpd(programs, dir, &root, addr)?,
        FtpServer::PureFtpd => pure_ftpd(programs, credentials, dir, &root, addr)?,
        FtpServer::Proftpd => proftpd(programs, dir, &root, addr)?,
        FtpServer::Pyftpdlib => pyftpdlib(programs, credentials, &root, addr),
        FtpServer::WharfAsync
        | FtpServer::WharfThreading
        | FtpServer::WharfForking
        | FtpServer::WharfSequential => {
            let variant = WharfVariant::defaults(server.wharf_mode().unwrap_or("async"));
            variant::command(&variant, programs, credentials, dir, &root, addr)?
        }
    };
    Ok(Prepared {
        command,
        addr,
        root,
        log,
    })
}

/// The uid and gid of the system test user.
fn system_user(name: &str) -> Result<(Uid, Gid), SetupError> {
    match User::from_name(name) {
        Ok(Some(user)) => Ok((user.uid, user.gid)),
        _ => Err(SetupError::NoSystemUser(name.to_string())),
    }
}

fn vsftpd(
    programs: &Programs,
    dir: &Path,
    root: &Path,
    addr: SocketAddr,
) -> Result<Command, SetupError> {
    // vsftpd wants an empty, root-owned directory to chroot its unprivileged helper into.
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).map_err(io_error("creating vsftpd's secure_chroot_dir"))?;
    let mut command = Command::new(&programs.vsftpd);
    command
        .arg(programs.peers_dir.join("vsftpd.conf"))
        .arg(format!("-olisten_address={}", addr.ip()))
        .arg(format!("-olisten_port={}", addr.port()))
        .arg(format!("-olocal_root={}", root.display()))
        .arg(format!("-osecure_chroot_dir={}", empty.display()));
    Ok(command)
}

/// ProFTPD: the committed configuration with this run's port, account and jail appended,
/// run in the foreground (`-n`).
fn proftpd(
    programs: &Programs,
    dir: &Path,
    root: &Path,
    addr: SocketAddr,
) -> Result<Command, SetupError> {
    let (_, gid) = system_user(&programs.user)?;
    let group = match Group::from_gid(gid) {
        Ok(Some(group)) => group.name,
        _ => return Err(SetupError::NoSystemUser(programs.user.clone())),
    };
    let base = programs.peers_dir.join("proftpd.conf");
    let text =
        fs::read_to_string(&base).map_err(io_error(format!("reading {}", base.display())))?;
    let config = dir.join("proftpd.conf");
    let appended = proftpd_run_lines(&programs.user, &group, dir, root, addr);
    fs::write(&config, format!("{text}\n{appended}")).map_err(io_error("writing proftpd.conf"))?;
    let mut command = Command::new(&programs.proftpd);
    command.arg("-n").arg("-c").arg(&config);
    Ok(command)
}

/// The per-run lines of ProFTPD's configuration.
fn proftpd_run_lines(user: &str, group: &str, dir: &Path, root: &Path, addr: SocketAddr) -> String {
    format!(
        "# Added by wharf-ftp-bench for this run.\nPort {}\nUser {user}\nGroup {group}\n\
         PidFile {}\nScoreboardFile {}\nDefaultRoot {}\n",
        addr.port(),
        dir.join("proftpd.pid").display(),
        dir.join("proftpd.scoreboard").display(),
        root.display()
    )
}

/// pure-ftpd's flags file: one flag per line, `#` comments.
fn read_flags(path: &Path) -> Result<Vec<String>, SetupError> {
    let text = fs::read_to_string(path).map_err(io_error(format!("reading {}", path.display())))?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(String::from)
        .collect())
}

fn pure_ftpd(
    programs: &Programs,
    credentials: &Credentials,
    dir: &Path,
    root: &Path,
    addr: SocketAddr,
) -> Result<Command, SetupError> {
    let (uid, gid) = system_user(&programs.user)?;
    let passwd = dir.join("pureftpd.passwd");
    let database = dir.join("pureftpd.pdb");
    // pure-pw writes the account line; its hash is then replaced by the shared argon2id one.
    let mut add = Command::new(&programs.pure_pw);
    add.args(["useradd", &credentials.user])
        .args(["-u", &uid.to_string(), "-g", &gid.to_string()])
        .arg("-d")
        .arg(root)
        .arg("-f")
        .arg(&passwd);
    run_with_input(
        add,
        &format!("{0}\n{0}\n", credentials.password),
        "pure-pw useradd",
    )?;
    let line = fs::read_to_string(&passwd).map_err(io_error("reading pureftpd.passwd"))?;
    let rewritten =
        replace_second_field(&line, &credentials.argon2_hash).ok_or_else(|| SetupError::Tool {
            program: "pure-pw useradd".into(),
            detail: format!("unexpected account line {line:?}"),
        })?;
    fs::write(&passwd, rewritten).map_err(io_error("writing pureftpd.passwd"))?;
    let mut make = Command::new(&programs.pure_pw);
    make.arg("mkdb").arg(&database).arg("-f").arg(&passwd);
    run_with_input(make, "", "pure-pw mkdb")?;
    let mut command = Command::new(&programs.pure_ftpd);
    command
        .args(read_flags(&programs.peers_dir.join("pure-ftpd.flags"))?)
        .arg("-S")
        .arg(format!("{},{}", addr.ip(), addr.port()))
        .arg("-l")
        .arg(format!("puredb:{}", database.display()));
    Ok(command)
}

/// Replaces the second `:`-separated field of each non-empty line.
fn replace_second_field(text: &str, value: &str) -> Option<String> {
    let mut out = String::new();
    for line in text.lines().filter(|line| !line.is_empty()) {
        let (name, rest) = line.split_once(':')?;
        let (_, after) = rest.split_once(':')?;
        out.push_str(&format!("{name}:{value}:{after}\n"));
    }
    (!out.is_empty()).then_some(out)
}

fn pyftpdlib(
    programs: &Programs,
    credentials: &Credentials,
    root: &Path,
    addr: SocketAddr,
) -> Command {
    let mut command = Command::new(&programs.python);
    command
        .arg(programs.peers_dir.join("pyftpdlib_server.py"))
        .arg("--listen")
        .arg(addr.to_string())
        .args(["--user", &credentials.user])
        .args(["--password", &credentials.password])
        .arg("--root")
        .arg(root);
    command
}

/// Runs a helper with `input` on its standard input; fails on a non-zero exit.
fn run_with_input(mut command: Command, input: &str, name: &str) -> Result<(), SetupError> {
    let tool = |detail: String| SetupError::Tool {
        program: name.to_string(),
        detail,
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| tool(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| tool(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| tool(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(tool(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_field_of_an_account_line_is_replaced() {
        let line = "bench:$argon2id$v=19$m=8192,t=63,p=1$abc$def:999:995::/tmp/r/./::::::::::::\n";
        let out = replace_second_field(line, "$argon2id$v=19$m=19456,t=2,p=1$x$y").unwrap();
        assert_eq!(
            out,
            "bench:$argon2id$v=19$m=19456,t=2,p=1$x$y:999:995::/tmp/r/./::::::::::::\n"
        );
        assert_eq!(replace_second_field("no fields here", "x"), None);
    }

    #[test]
    fn proftpd_gets_the_runs_port_account_and_jail() {
        let addr: SocketAddr = "127.0.0.1:40021".parse().unwrap();
        let lines = proftpd_run_lines(
            "bench",
            "benchgroup",
            Path::new("/w/proftpd"),
            Path::new("/w/proftpd/root"),
            addr,
        );
        for wanted in [
            "\nPort 40021\n",
            "\nUser bench\n",
            "\nGroup benchgroup\n",
            "\nPidFile /w/proftpd/proftpd.pid\n",
            "\nScoreboardFile /w/proftpd/proftpd.scoreboard\n",
            "\nDefaultRoot /w/proftpd/root\n",
        ] {
            assert!(lines.contains(wanted), "{wanted:?} missing from {lines:?}");
        }
    }

    #[test]
    fn flags_files_drop_comments_and_split_words() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flags");
        fs::write(&path, "# header\n-E   # no anon\n-c 20000\n\n").unwrap();
        assert_eq!(read_flags(&path).unwrap(), ["-E", "-c", "20000"]);
    }

    #[test]
    fn the_committed_peer_files_exist() {
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers");
        let flags = read_flags(&peers.join("pure-ftpd.flags")).unwrap();
        assert!(flags.contains(&"-A".to_string()), "{flags:?}");
        for file in [
            "vsftpd.conf",
            "vsftpd.pam",
            "proftpd.conf",
            "pyftpdlib_server.py",
        ] {
            assert!(peers.join(file).is_file(), "{file}");
        }
    }
}
