//! One file per command group; [`dispatch`] routes a parsed command to its file.
//!
//! - `login`: USER PASS ACCT QUIT
//! - `navigation`: CWD CDUP PWD
//! - `files`: MKD RMD DELE RNFR RNTO SIZE MDTM
//! - `data_setup`: PORT EPRT PASV EPSV
//! - `settings`: TYPE MODE STRU REST OPTS ALLO
//! - `info`: SYST FEAT HELP NOOP STAT SITE
//! - `list`: LIST NLST MLSD MLST, STAT with a path
//! - `retr`: RETR; `stor`: STOR APPE STOU; `download`: what RETR and listings share
//! - `hash`: HASH XSHA256 XSHA512 XSHA1 XMD5
//! - `security`: AUTH PBSZ PROT CCC
//! - `events`: what the commands tell the hooks (events, the pre-upload check)

mod data_setup;
mod download;
mod events;
mod files;
mod hash;
mod info;
mod list;
mod login;
mod navigation;
mod retr;
mod security;
mod settings;
mod stor;
mod storage_errors;

use std::io;

use wharf::Connection;

use super::state::{Flow, Session};
use crate::protocol::{Command, Reply, ReplyCode};

/// What a command produced.
pub(crate) enum Answer {
    /// One reply, still to be sent.
    Reply(Reply),
    /// The command sent its replies itself (transfers); go on as `Flow` says.
    Sent(Flow),
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Self {
        Answer::Reply(reply)
    }
}

/// Runs one command of a session (the login gate has already been passed).
pub(crate) async fn dispatch(
    session: &mut Session,
    conn: &mut Connection,
    command: Command,
) -> io::Result<Answer> {
    // RNFR holds only until the next command.
    let rename_from = session.rename_from.take();
    // REST applies to the next transfer; commands that set up or inspect it may come between
    // (RFC 3659 5.3), anything else cancels it. Transfer commands take it as they start.
    let keeps_rest = matches!(
        command,
        Command::Rest(_)
            | Command::Pasv
            | Command::Epsv(_)
            | Command::Port(_)
            | Command::Eprt(_)
            | Command::Type(_)
            | Command::Size(_)
            | Command::Mdtm(_)
            | Command::Noop
    );
    let answer = match command {
        Command::User(name) => login::user(session, name).into(),
        Command::Pass(password) => login::pass(session, conn, password).await?,
        Command::Acct(_) => Reply::new(ReplyCode::SUPERFLUOUS, "ACCT is not needed here.").into(),
        Command::Quit => login::quit(conn).await?,
        Command::Cwd(path) => navigation::cwd(session, &path).await.into(),
        Command::Cdup => navigation::cwd(session, "..").await.into(),
        Command::Pwd => navigation::pwd(session).into(),
        Command::Mkd(path) => files::mkd(session, &path).await.into(),
        Command::Rmd(path) => files::rmd(session, &path).await.into(),
        Command::Dele(path) => files::dele(session, &path).await.into(),
        Command::Rnfr(path) => files::rnfr(session, &path).await.into(),
        Command::Rnto(path) => files::rnto(session, rename_from, &path).await.into(),
        Command::Size(path) => files::size(session, &path).await.into(),
        Command::Mdtm(path) => files::mdtm(session, &path).await.into(),
        Command::Retr(path) => Answer::Sent(retr::retr(session, conn, &path).await?),
        Command::Stor(path) => {
            Answer::Sent(stor::store(session, conn, Some(&path), stor::Kind::Stor).await?)
        }
        Command::Appe(path) => {
            Answer::Sent(stor::store(session, conn, Some(&path), stor::Kind::Appe).await?)
        }
        Command::Stou(path) => {
            Answer::Sent(stor::store(session, conn, path.as_deref(), stor::Kind::Stou).await?)
        }
        Command::List(args) => {
            Answer::Sent(list::list(session, conn, args, list::Format::Long).await?)
        }
        Command::Nlst(args) => {
            Answer::Sent(list::list(session, conn, args, list::Format::Names).await?)
        }
        Command::Mlsd(path) => Answer::Sent(list::mlsd(session, conn, path.as_deref()).await?),
        Command::Mlst(path) => list::mlst(session, path.as_deref()).await.into(),
        Command::Stat(Some(path)) => list::stat(session, &path).await.into(),
        Command::Stat(None) => info::status(session).into(),
        Command::Type(kind) => settings::transfer_type(session, kind).into(),
        Command::Mode(_) => Reply::new(ReplyCode::OK, "Mode set to S.").into(),
        Command::Stru(_) => Reply::new(ReplyCode::OK, "Structure set to F.").into(),
        Command::Rest(offset) => settings::rest(session, offset).into(),
        Command::Opts(option) => settings::opts(session, option).into(),
        Command::Allo(_) => Reply::new(ReplyCode::SUPERFLUOUS, "ALLO is not needed here.").into(),
        Command::Port(addr) => data_setup::port(session, addr.into()).into(),
        Command::Eprt(addr) => data_setup::port(session, addr).into(),
        Command::Pasv => data_setup::pasv(session).await.into(),
        Command::Epsv(arg) => data_setup::epsv(session, arg).await.into(),
        // RFC 959: with nothing (left) to abort, ABOR closes any data connection and says 226.
        Command::Abor => {
            session.data_plan = None;
            Reply::new(ReplyCode::TRANSFER_COMPLETE, "No transfer to abort.").into()
        }
        Command::Syst => Reply::new(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8").into(),
        Command::Feat => info::feat(session).into(),
        Command::Help(topic) => info::help(topic.as_deref()).into(),
        Command::Noop => Reply::new(ReplyCode::OK, "NOOP ok.").into(),
        Command::Site(site) => info::site(session, site).await.into(),
        Command::Hash(path) => hash::hash(session, &path).await.into(),
        Command::LegacyHash { algorithm, path } => {
            hash::legacy(session, algorithm, &path).await.into()
        }
        Command::Auth(mechanism) => security::auth(session, conn, &mechanism).await?,
        Command::Pbsz(_) => security::pbsz(session).into(),
        Command::Prot(level) => security::prot(session, level).into(),
        Command::Ccc => security::ccc(session).into(),
    };
    if !keeps_rest {
        session.rest = None;
    }
    Ok(answer)
}
