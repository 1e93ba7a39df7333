//! CWD, CDUP and PWD.

use crate::protocol::reply::quote_path;
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::{Session, storage_reply};
use crate::storage::StorageError;

/// CWD (and CDUP as `CWD ..`): changes the current directory if the target is one.
pub(super) async fn cwd(session: &mut Session, arg: &str) -> Reply {
    let Some(jail) = session.jail().cloned() else {
        return Reply::new(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS.");
    };
    let path = match session.resolve(arg) {
        Ok(path) => path,
        Err(error) => return storage_reply(&error),
    };
    match jail.metadata(&path).await {
        Ok(entry) if entry.is_dir() => {
            session.cwd = path;
            Reply::new(ReplyCode::FILE_ACTION_OK, "Directory successfully changed.")
        }
        Ok(_) => storage_reply(&StorageError::NotADirectory { path }),
        Err(error) => storage_reply(&error),
    }
}

/// PWD: the current directory, quoted.
pub(super) fn pwd(session: &Session) -> Reply {
    Reply::new(
        ReplyCode::PATH_CREATED,
        format!(
            "{} is the current directory.",
            quote_path(session.cwd.as_str())
        ),
    )
}
