//! What each `user` subcommand does, on top of a [`UserStore`] (the users file or a database).

use std::fs::DirBuilder;
use std::io::{BufRead, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::password_input::{PasswordSource, read_new_password};
use super::{AddArgs, CliError, DelArgs, ExecArgs, ImportArgs, ListArgs, PasswdArgs, QuotaArgs};
use crate::password::hash_password;
use crate::size::format_size;
use crate::store::{self, UserStore, UsersLocation};
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

/// Runs `work` against the store `location` names, on a runtime made for the command.
fn with_store<T>(
    location: &UsersLocation,
    work: impl AsyncFnOnce(&dyn UserStore) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let store = store::open_for_edit(location)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(work(store.as_ref()))
}

/// The error for `name` missing from `store`.
fn unknown_user(store: &dyn UserStore, name: &str) -> AuthError {
    AuthError::UnknownUser {
        name: name.to_owned(),
        path: PathBuf::from(store.location()),
    }
}

/// `user add`: checks everything it can before asking for the password, then adds it (under
/// the file's lock, or in one statement).
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
    let location = args.users.clone();
    with_store(&location, async |store| {
        match store.find(&args.name).await {
            Ok(None) | Err(AuthError::MissingFile { .. }) => {}
            Ok(Some(_)) => {
                return Err(AuthError::DuplicateUser {
                    name: args.name,
                    path: PathBuf::from(store.location()),
                }
                .into());
            }
            Err(error) => return Err(error.into()),
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
        store.add(record, settings).await?;
        writeln!(
            out,
            "added user {} (home {}, {})",
            args.name,
            home.display(),
            describe_quota(args.quota, args.quota_files)
        )
        .map_err(CliError::Output)
    })
}

/// `user passwd`: the user must exist before the password is asked for.
pub(super) fn passwd(
    args: PasswdArgs,
    params: &HashParams,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    with_store(&args.users.clone(), async |store| {
        if store.find(&args.name).await?.is_none() {
            return Err(unknown_user(store, &args.name).into());
        }
        let password = read_new_password(password_source(args.password_stdin, input), &args.name)?;
        let password_hash = hash_password(&password, params)?;
        store.set_password_hash(&args.name, password_hash).await?;
        writeln!(out, "changed the password of user {}", args.name).map_err(CliError::Output)
    })
}

/// `user del`: removes the entry, never the home directory.
pub(super) fn del(args: DelArgs, out: &mut dyn Write) -> Result<(), CliError> {
    with_store(&args.users, async |store| {
        let removed = store.remove(&args.name).await?;
        writeln!(
            out,
            "deleted user {} (home {} left in place)",
            removed.name,
            removed.home.display()
        )
        .map_err(CliError::Output)
    })
}

/// `user list`: one line per user, sorted by name.
pub(super) fn list(args: ListArgs, out: &mut dyn Write) -> Result<(), CliError> {
    with_store(&args.users, async |store| {
        let users = store.snapshot().await?;
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
    })
}

/// `user quota`: changes only the limits given on the command line.
pub(super) fn quota(args: QuotaArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let bytes = (args.set.is_some() || args.none).then_some(args.set);
    let files = (args.files.is_some() || args.files_none).then_some(args.files);
    with_store(&args.users, async |store| {
        let updated = store.set_quota(&args.name, bytes, files).await?;
        writeln!(
            out,
            "user {}: {}",
            updated.name,
            describe_quota(updated.quota_bytes, updated.quota_files)
        )
        .map_err(CliError::Output)
    })
}

/// `user exec`: allows or denies remote commands.
pub(super) fn exec(args: ExecArgs, out: &mut dyn Write) -> Result<(), CliError> {
    with_store(&args.users, async |store| {
        store.set_allow_exec(&args.name, args.allow).await?;
        let verdict = if args.allow { "may" } else { "may not" };
        writeln!(out, "user {} {verdict} run remote commands", args.name).map_err(CliError::Output)
    })
}

/// `user import`: adds every user of a users file to the store; names already there are
/// skipped (and listed), so a second run changes nothing.
pub(super) fn import(args: ImportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let source = UsersFile::load(&args.from)?;
    with_store(&args.users, async |store| {
        let mut skipped = Vec::new();
        let mut added = 0_usize;
        for record in source.iter() {
            let settings = source.command_settings(&record.name);
            match store.add(record.clone(), settings).await {
                Ok(()) => added += 1,
                Err(AuthError::DuplicateUser { name, .. }) => skipped.push(name),
                Err(error) => return Err(error.into()),
            }
        }
        writeln!(
            out,
            "imported {added} users from {} into {}",
            args.from.display(),
            store.location()
        )
        .map_err(CliError::Output)?;
        if !skipped.is_empty() {
            writeln!(out, "skipped (already present): {}", skipped.join(", "))
                .map_err(CliError::Output)?;
        }
        Ok(())
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
