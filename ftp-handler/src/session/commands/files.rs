//! MKD, RMD, DELE, RNFR, RNTO, SIZE and MDTM.

use super::events::Details;
use crate::config::hooks::HookEventKind;
use crate::listing::ftp_timestamp;
use crate::protocol::reply::quote_path;
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::{Session, storage_reply};
use crate::storage::{Entry, Jail, VirtualPath};

/// The session's storage and `arg` resolved, or the reply refusing them.
fn target(session: &Session, arg: &str) -> Result<(Jail, VirtualPath), Reply> {
    let Some(jail) = session.jail().cloned() else {
        return Err(Reply::new(
            ReplyCode::NOT_LOGGED_IN,
            "Please login with USER and PASS.",
        ));
    };
    let path = session
        .resolve(arg)
        .map_err(|error| storage_reply(&error))?;
    Ok((jail, path))
}

/// MKD: creates a directory.
pub(super) async fn mkd(session: &Session, arg: &str) -> Reply {
    let (jail, path) = match target(session, arg) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match jail.create_dir(&path).await {
        Ok(()) => Reply::new(
            ReplyCode::PATH_CREATED,
            format!("{} created.", quote_path(path.as_str())),
        ),
        Err(error) => storage_reply(&error),
    }
}

/// RMD: removes an empty directory.
pub(super) async fn rmd(session: &Session, arg: &str) -> Reply {
    let (jail, path) = match target(session, arg) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match jail.remove_dir(&path).await {
        Ok(()) => Reply::new(ReplyCode::FILE_ACTION_OK, "Directory removed."),
        Err(error) => storage_reply(&error),
    }
}

/// DELE: removes a file.
pub(super) async fn dele(session: &Session, arg: &str) -> Reply {
    let (jail, path) = match target(session, arg) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match jail.remove_file(&path).await {
        Ok(()) => {
            session.hook_event(
                HookEventKind::Delete,
                Details {
                    path: Some(path.as_str()),
                    ..Details::default()
                },
            );
            Reply::new(ReplyCode::FILE_ACTION_OK, "File deleted.")
        }
        Err(error) => storage_reply(&error),
    }
}

/// RNFR: remembers an existing source for the next command, which should be RNTO.
pub(super) async fn rnfr(session: &mut Session, arg: &str) -> Reply {
    let (jail, path) = match target(session, arg) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match jail.metadata(&path).await {
        Ok(_) => {
            session.rename_from = Some(path);
            Reply::new(ReplyCode::PENDING_FURTHER_INFORMATION, "Ready for RNTO.")
        }
        Err(error) => storage_reply(&error),
    }
}

/// RNTO: renames the source given by the RNFR just before.
pub(super) async fn rnto(session: &Session, from: Option<VirtualPath>, arg: &str) -> Reply {
    let Some(from) = from else {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
    };
    let (jail, to) = match target(session, arg) {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match jail.rename(&from, &to).await {
        Ok(()) => {
            session.hook_event(
                HookEventKind::Rename,
                Details {
                    path: Some(from.as_str()),
                    to_path: Some(to.as_str()),
                    ..Details::default()
                },
            );
            Reply::new(ReplyCode::FILE_ACTION_OK, "Rename successful.")
        }
        Err(error) => storage_reply(&error),
    }
}

/// The entry of a regular file, or the reply refusing it.
async fn file_entry(session: &Session, arg: &str) -> Result<Entry, Reply> {
    let (jail, path) = target(session, arg)?;
    let entry = jail
        .metadata(&path)
        .await
        .map_err(|error| storage_reply(&error))?;
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
