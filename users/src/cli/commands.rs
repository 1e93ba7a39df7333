//! What each `user` subcommand does, on top of [`UsersFile`].

use std::fs::DirBuilder;
use std::io::{BufRead, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::password_input::{PasswordSource, read_new_password};
use super::{AddArgs, CliError, DelArgs, ExecArgs, ListArgs, PasswdArgs, QuotaArgs};
use crate::password::hash_password;
use crate::size::format_size;
use crate::user::{is_key_prefix, validate_name};
use crate::users_file::CommandSettings;
use crate::{AuthError, HashParams, UserRecord, UsersFile};

/// Who owns a home directory that `user add` creates.
#[derive(Debug, Clone, Copy)]
pub(super) enum HomeOwner<'a> {
    /// Whoever runs the command (`wharf-ftpd`, and `--uid` not given).
    Invoker,
    /// For `--allow-exec` users without `--uid`, when run as root: this system account, the one
    /// their remote commands run as.
    CommandUser(&'a str),
}

/// `user add`: checks everything it can before asking for the password, then adds under the lock.
pub(super) fn add(
    args: AddArgs,
    params: &HashParams,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    owner: HomeOwner<'_>,
) -> Result<(), CliError> {
    validate_name(&args.name)?;
    if args.home_is_key_prefix && !is_key_prefix(&args.home) {
        return Err(CliError::NotAKeyPrefix(args.home));
    }
    if UsersFile::load_or_empty(&args.users)?
        .get(&args.name)
        .is_some()
    {
        return Err(AuthError::DuplicateUser {
            name: args.name,
            path: args.users,
        }
        .into());
    }
    let mut authorized_keys = Vec::new();
    for key_file in &args.authorized_keys {
        authorized_keys.extend(read_authorized_keys(key_file)?);
    }
    // Resolved before the password prompt, so a missing account fails early.
    let home_owner = home_owner(&args, owner)?;
    let password = read_new_password(password_source(args.password_stdin, input), &args.name)?;
    let password_hash = hash_password(&password, params)?;
    let home = if args.home_is_key_prefix {
        args.home.clone()
    } else {
        create_home(&args.home, home_owner)?
    };
    let record = UserRecord {
        name: args.name.clone(),
        password_hash,
        home: home.clone(),
        quota_bytes: args.quota,
        quota_files: args.quota_files,
        allow_exec: args.allow_exec,
        authorized_keys,
    };
    let settings = CommandSettings {
        uid: args.uid,
        gid: args.gid,
        allow_network: args.allow_network,
        ..CommandSettings::default()
    };
    UsersFile::update(&args.users, |users| {
        users.add(record)?;
        users.set_command_settings(&args.name, settings)
    })?;
    writeln!(
        out,
        "added user {} (home {}, {})",
        args.name,
        home.display(),
        describe_quota(args.quota, args.quota_files)
    )
    .map_err(CliError::Output)
}

/// `user passwd`: the user must exist before the password is asked for.
pub(super) fn passwd(
    args: PasswdArgs,
    params: &HashParams,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if UsersFile::load(&args.users)?.get(&args.name).is_none() {
        return Err(AuthError::UnknownUser {
            name: args.name,
            path: args.users,
        }
        .into());
    }
    let password = read_new_password(password_source(args.password_stdin, input), &args.name)?;
    let password_hash = hash_password(&password, params)?;
    existing_file_update(&args.users, |users| {
        users.set_password_hash(&args.name, password_hash)
    })?;
    writeln!(out, "changed the password of user {}", args.name).map_err(CliError::Output)
}

/// `user del`: removes the entry, never the home directory.
pub(super) fn del(args: DelArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let removed = existing_file_update(&args.users, |users| users.remove(&args.name))?;
    writeln!(
        out,
        "deleted user {} (home {} left in place)",
        removed.name,
        removed.home.display()
    )
    .map_err(CliError::Output)
}

/// `user list`: one line per user, sorted by name.
pub(super) fn list(args: ListArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let users = UsersFile::load(&args.users)?;
    for user in users.iter() {
        writeln!(
            out,
            "{}\t{}\t{}\texec {}",
            user.name,
            user.home.display(),
            describe_quota(user.quota_bytes, user.quota_files),
            if user.allow_exec { "yes" } else { "no" }
        )
        .map_err(CliError::Output)?;
    }
    Ok(())
}

/// `user quota`: changes only the limits given on the command line.
pub(super) fn quota(args: QuotaArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let updated = existing_file_update(&args.users, |users| {
        if args.set.is_some() || args.none {
            users.set_quota_bytes(&args.name, args.set)?;
        }
        if args.files.is_some() || args.files_none {
            users.set_quota_files(&args.name, args.files)?;
        }
        users
            .get(&args.name)
            .cloned()
            .ok_or_else(|| AuthError::UnknownUser {
                name: args.name.clone(),
                path: args.users.clone(),
            })
    })?;
    writeln!(
        out,
        "user {}: {}",
        updated.name,
        describe_quota(updated.quota_bytes, updated.quota_files)
    )
    .map_err(CliError::Output)
}

/// `user exec`: allows or denies remote commands.
pub(super) fn exec(args: ExecArgs, out: &mut dyn Write) -> Result<(), CliError> {
    existing_file_update(&args.users, |users| {
        users.set_allow_exec(&args.name, args.allow)
    })?;
    let verdict = if args.allow { "may" } else { "may not" };
    writeln!(out, "user {} {verdict} run remote commands", args.name).map_err(CliError::Output)
}

/// A locked update of a users file that must already exist (only `add` creates one).
fn existing_file_update<T>(
    path: &Path,
    change: impl FnOnce(&mut UsersFile) -> Result<T, AuthError>,
) -> Result<T, AuthError> {
    // Checked before locking so a mistyped path leaves no lock file behind, and again under the
    // lock, since a file deleted meanwhile would otherwise be silently re-created.
    if !path.exists() {
        return Err(AuthError::MissingFile {
            path: path.to_owned(),
        });
    }
    UsersFile::update(path, |users| {
        if !users.path().exists() {
            return Err(AuthError::MissingFile {
                path: users.path().to_owned(),
            });
        }
        change(users)
    })
}

/// Where `--password-stdin` (or its absence) says the password comes from.
fn password_source(from_stdin: bool, input: &mut dyn BufRead) -> PasswordSource<'_> {
    if from_stdin {
        PasswordSource::Line(input)
    } else {
        PasswordSource::Terminal
    }
}

/// The uid and gid a newly created home should belong to; `None`: leave it to the invoker.
fn home_owner(args: &AddArgs, owner: HomeOwner<'_>) -> Result<Option<(u32, u32)>, CliError> {
    if let Some(uid) = args.uid {
        return Ok(Some((uid, args.gid.unwrap_or(uid))));
    }
    match owner {
        HomeOwner::CommandUser(name) if args.allow_exec && nix::unistd::geteuid().is_root() => {
            let account = nix::unistd::User::from_name(name)
                .map_err(|errno| {
                    AuthError::io("look up the account", Path::new(name), errno.into())
                })?
                .ok_or_else(|| CliError::UnknownAccount {
                    name: name.to_owned(),
                })?;
            Ok(Some((account.uid.as_raw(), account.gid.as_raw())))
        }
        _ => Ok(None),
    }
}

/// Makes `home` absolute and creates it (mode 0700, parents as needed) if it does not exist; a
/// home it creates is given to `owner` (the parents stay the invoker's).
fn create_home(home: &Path, owner: Option<(u32, u32)>) -> Result<PathBuf, AuthError> {
    let absolute =
        std::path::absolute(home).map_err(|source| AuthError::io("resolve", home, source))?;
    let existed = absolute.exists();
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&absolute)
        .map_err(|source| AuthError::io("create home directory", &absolute, source))?;
    if !absolute.is_dir() {
        return Err(AuthError::io(
            "use as home directory",
            &absolute,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        ));
    }
    if let (false, Some((uid, gid))) = (existed, owner) {
        std::os::unix::fs::chown(&absolute, Some(uid), Some(gid)).map_err(|source| {
            AuthError::io("give the home directory to its uid", &absolute, source)
        })?;
    }
    Ok(absolute)
}

/// The public-key lines of an OpenSSH `authorized_keys`-style file (blank and `#` lines skipped).
fn read_authorized_keys(path: &Path) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| AuthError::io("read authorized key file", path, source))?;
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.split_whitespace().count() < 2 {
            return Err(CliError::BadAuthorizedKey {
                path: path.to_owned(),
                line: index + 1,
            });
        }
        keys.push(line.to_owned());
    }
    if keys.is_empty() {
        return Err(CliError::NoAuthorizedKey {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}

/// `quota 10 MiB, files unlimited` for people.
fn describe_quota(bytes: Option<u64>, files: Option<u64>) -> String {
    let bytes = bytes.map_or_else(|| "unlimited".to_owned(), format_size);
    let files = files.map_or_else(|| "unlimited".to_owned(), |count| count.to_string());
    format!("quota {bytes}, files {files}")
}
