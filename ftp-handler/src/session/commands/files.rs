//! MKD, RMD, DELE, RNFR, RNTO, SIZE and MDTM.

use crate::listing::ftp_timestamp;
use crate::protocol::reply::quote_path;
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::{Session, blocking, storage_reply};
use crate::storage::{Entry, Jail, StorageError, VirtualPath};

/// Resolves `arg` and runs a blocking jail operation on it; errors become their reply.
async fn with_path<T, F>(
    session: &Session,
    arg: &str,
    operation: F,
) -> Result<(VirtualPath, T), Reply>
where
    T: Send + 'static,
    F: FnOnce(&Jail, &VirtualPath) -> Result<T, StorageError> + Send + 'static,
{
    let Some(jail) = session.jail().cloned() else {
        return Err(Reply::new(
            ReplyCode::NOT_LOGGED_IN,
            "Please login with USER and PASS.",
        ));
    };
    let path = session
        .resolve(arg)
        .map_err(|error| storage_reply(&error))?;
    let target = path.clone();
    let value = blocking(move || operation(&jail, &target))
        .await
        .map_err(|error| storage_reply(&error))?;
    Ok((path, value))
}

/// MKD: creates a directory.
pub(super) async fn mkd(session: &Session, arg: &str) -> Reply {
    match with_path(session, arg, |jail, path| jail.create_dir(path)).await {
        Ok((path, ())) => Reply::new(
            ReplyCode::PATH_CREATED,
            format!("{} created.", quote_path(path.as_str())),
        ),
        Err(reply) => reply,
    }
}

/// RMD: removes an empty directory.
pub(super) async fn rmd(session: &Session, arg: &str) -> Reply {
    match with_path(session, arg, |jail, path| jail.remove_dir(path)).await {
        Ok(_) => Reply::new(ReplyCode::FILE_ACTION_OK, "Directory removed."),
        Err(reply) => reply,
    }
}

/// DELE: removes a file.
pub(super) async fn dele(session: &Session, arg: &str) -> Reply {
    match with_path(session, arg, |jail, path| jail.remove_file(path)).await {
        Ok(_) => Reply::new(ReplyCode::FILE_ACTION_OK, "File deleted."),
        Err(reply) => reply,
    }
}

/// RNFR: remembers an existing source for the next command, which should be RNTO.
pub(super) async fn rnfr(session: &mut Session, arg: &str) -> Reply {
    match with_path(session, arg, |jail, path| jail.metadata(path)).await {
        Ok((path, _)) => {
            session.rename_from = Some(path);
            Reply::new(ReplyCode::PENDING_FURTHER_INFORMATION, "Ready for RNTO.")
        }
        Err(reply) => reply,
    }
}

/// RNTO: renames the source given by the RNFR just before.
pub(super) async fn rnto(session: &Session, from: Option<VirtualPath>, arg: &str) -> Reply {
    let Some(from) = from else {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
    };
    match with_path(session, arg, move |jail, to| jail.rename(&from, to)).await {
        Ok(_) => Reply::new(ReplyCode::FILE_ACTION_OK, "Rename successful."),
        Err(reply) => reply,
    }
}

/// The entry of a regular file, or the reply refusing it.
async fn file_entry(session: &Session, arg: &str) -> Result<Entry, Reply> {
    let (path, entry) = with_path(session, arg, |jail, path| jail.metadata(path)).await?;
    if entry.is_file() {
        Ok(entry)
    } else {
        Err(Reply::new(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{path}: not a regular file."),
        ))
    }
}

/// SIZE: a file's size in bytes (RFC 3659).
pub(super) async fn size(session: &Session, arg: &str) -> Reply {
    match file_entry(session, arg).await {
        Ok(entry) => Reply::new(ReplyCode::FILE_STATUS, entry.size.to_string()),
        Err(reply) => reply,
    }
}

/// MDTM: a file's modification time, `YYYYMMDDHHMMSS` in UTC (RFC 3659).
pub(super) async fn mdtm(session: &Session, arg: &str) -> Reply {
    match file_entry(session, arg).await {
        Ok(entry) => Reply::new(ReplyCode::FILE_STATUS, ftp_timestamp(entry.modified)),
        Err(reply) => reply,
    }
}
