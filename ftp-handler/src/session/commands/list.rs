//! LIST, NLST, MLSD, MLST and STAT with a path.

use std::io;
use std::time::SystemTime;

use wharf::Connection;

use super::download::download;
use crate::listing::{FactRole, facts, ls_line, nlst_line};
use crate::protocol::command::ListArgs;
use crate::protocol::{Reply, ReplyCode};
use crate::session::control;
use crate::session::state::{Flow, Session, storage_reply};
use crate::session::transfer::Source;
use crate::storage::{Entry, StorageError, VirtualPath};

/// The shape of a LIST-family listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names only.
    Names,
}

/// The entries at `arg` (or the current directory): a directory's content, or one file.
async fn entries(
    session: &Session,
    arg: Option<&str>,
) -> Result<(VirtualPath, Entry, Vec<Entry>), StorageError> {
    let Some(jail) = session.jail().cloned() else {
        return Err(StorageError::PermissionDenied {
            path: VirtualPath::root(),
        });
    };
    let path = match arg {
        Some(arg) => session.resolve(arg)?,
        None => session.cwd.clone(),
    };
    let entry = jail.metadata(&path).await?;
    let listing = jail.list(&path).await?;
    Ok((path, entry, listing))
}

/// LIST and NLST over the data connection; dot files only with `-a`.
pub(super) async fn list(
    session: &mut Session,
    conn: &mut Connection,
    args: ListArgs,
    format: Format,
) -> io::Result<Flow> {
    let (_, entry, listing) = match entries(session, args.path.as_deref()).await {
        Ok(found) => found,
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    let now = SystemTime::now();
    let shown = listing
        .iter()
        .filter(|item| !entry.is_dir() || args.shows_hidden() || !item.name.starts_with('.'));
    let text: String = match format {
        Format::Long => shown
            .map(|item| ls_line(item, session.user_name(), now))
            .collect(),
        Format::Names => shown.map(|item| nlst_line(&item.name)).collect(),
    };
    download(
        session,
        conn,
        Source::Memory(text.into_bytes()),
        "Here comes the directory listing.".to_string(),
        "Directory send OK.",
        None,
    )
    .await
}

/// Keeps only the facts selected by OPTS MLST, in the listing's order.
fn selected_facts(all: &str, selected: &[&str]) -> String {
    all.split_terminator(';')
        .filter(|fact| {
            let name = fact.split('=').next().unwrap_or("");
            selected
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(name))
        })
        .map(|fact| format!("{fact};"))
        .collect()
}

/// MLSD: machine listing of a directory over the data connection (RFC 3659).
pub(super) async fn mlsd(
    session: &mut Session,
    conn: &mut Connection,
    arg: Option<&str>,
) -> io::Result<Flow> {
    let (path, entry, listing) = match entries(session, arg).await {
        Ok(found) => found,
        Err(error) => {
            control::send(conn, &storage_reply(&error)).await?;
            return Ok(Flow::Continue);
        }
    };
    if !entry.is_dir() {
        let refusal = Reply::new(
            ReplyCode::BAD_ARGUMENTS,
            format!("{path}: not a directory."),
        );
        control::send(conn, &refusal).await?;
        return Ok(Flow::Continue);
    }
    let text: String = listing
        .iter()
        .map(|item| {
            let facts = selected_facts(&facts(item, FactRole::Entry), &session.mlst_facts);
            format!("{facts} {}\r\n", item.name)
        })
        .collect();
    download(
        session,
        conn,
        Source::Memory(text.into_bytes()),
        "Here comes the directory listing.".to_string(),
        "MLSD complete.",
        None,
    )
    .await
}

/// MLST: the facts of one entry on the control connection.
pub(super) async fn mlst(session: &Session, arg: Option<&str>) -> Reply {
    let (path, entry, _) = match entries(session, arg).await {
        Ok(found) => found,
        Err(error) => return storage_reply(&error),
    };
    let facts = selected_facts(&facts(&entry, FactRole::Entry), &session.mlst_facts);
    Reply::multiline(
        ReplyCode::FILE_ACTION_OK,
        format!("Listing {path}"),
        [format!(" {facts} {path}")],
        "End",
    )
}

/// STAT with a path: the LIST lines on the control connection.
pub(super) async fn stat(session: &Session, arg: &str) -> Reply {
    let path = ListArgs::parse(arg).path;
    let (path, _, listing) = match entries(session, path.as_deref()).await {
        Ok(found) => found,
        Err(error) => return storage_reply(&error),
    };
    let now = SystemTime::now();
    let lines: Vec<String> = listing
        .iter()
        .map(|item| {
            ls_line(item, session.user_name(), now)
                .trim_end()
                .to_string()
        })
        .collect();
    Reply::multiline(
        ReplyCode::FILE_STATUS,
        format!("Status of {path}:"),
        lines,
        "End of status.",
    )
}

#[cfg(test)]
mod tests {
    use super::selected_facts;

    #[test]
    fn only_selected_facts_are_kept() {
        let all = "type=file;size=12;modify=20250101000000;perm=r;unique=1g2;";
        assert_eq!(selected_facts(all, &["type", "size"]), "type=file;size=12;");
        assert_eq!(selected_facts(all, &[]), "");
    }
}
