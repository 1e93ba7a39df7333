//! HASH (draft-bryan-ftpext-hash) and the legacy XSHA256/XSHA512/XSHA1/XMD5 commands.

use crate::protocol::hash::{FileDigest, HashAlgorithm};
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::{Session, storage_reply};

/// Hashes a whole file: beside it where the backend can, else streamed from it.
async fn digest(
    session: &Session,
    arg: &str,
    algorithm: HashAlgorithm,
) -> Result<FileDigest, Reply> {
    let Some(jail) = session.jail().cloned() else {
        return Err(Reply::new(
            ReplyCode::NOT_LOGGED_IN,
            "Please login with USER and PASS.",
        ));
    };
    let path = session
        .resolve(arg)
        .map_err(|error| storage_reply(&error))?;
    jail.digest(&path, algorithm)
        .await
        .map_err(|error| storage_reply(&error))
}

/// HASH: `213 ALGORITHM 0-SIZE HEX NAME` with the algorithm chosen by OPTS HASH.
pub(super) async fn hash(session: &Session, arg: &str) -> Reply {
    match digest(session, arg, session.hash_algorithm).await {
        Ok(digest) => Reply::new(ReplyCode::FILE_STATUS, digest.hash_reply_text(0, arg)),
        Err(reply) => reply,
    }
}

/// XSHA256 and friends: `250 HEX`, as the servers that introduced them answer.
pub(super) async fn legacy(session: &Session, algorithm: HashAlgorithm, arg: &str) -> Reply {
    match digest(session, arg, algorithm).await {
        Ok(digest) => Reply::new(ReplyCode::FILE_ACTION_OK, digest.hex),
        Err(reply) => reply,
    }
}
