//! TYPE, REST and OPTS: settings for later commands.

use crate::protocol::command::{OptsArg, TransferType};
use crate::protocol::{Reply, ReplyCode};
use crate::session::state::{MLST_FACTS, Session};

/// TYPE: ASCII or binary for later transfers.
pub(super) fn transfer_type(session: &mut Session, kind: TransferType) -> Reply {
    session.transfer_type = kind;
    let text = match kind {
        TransferType::Ascii => "Switching to ASCII mode.",
        TransferType::Image => "Switching to Binary mode.",
    };
    Reply::new(ReplyCode::OK, text)
}

/// REST: where the next RETR or STOR starts.
pub(super) fn rest(session: &mut Session, offset: u64) -> Reply {
    session.rest = Some(offset);
    Reply::new(
        ReplyCode::PENDING_FURTHER_INFORMATION,
        format!("Restarting at {offset}. Send STOR or RETR to start the transfer."),
    )
}

/// OPTS: UTF8, HASH and MLST options.
pub(super) fn opts(session: &mut Session, option: OptsArg) -> Reply {
    match option {
        OptsArg::Utf8(_) => Reply::new(ReplyCode::OK, "Always in UTF8 mode."),
        OptsArg::Hash(None) => Reply::new(ReplyCode::OK, session.hash_algorithm.name()),
        OptsArg::Hash(Some(algorithm)) => {
            session.hash_algorithm = algorithm;
            Reply::new(ReplyCode::OK, algorithm.name())
        }
        OptsArg::Mlst(requested) => {
            session.mlst_facts = MLST_FACTS
                .into_iter()
                .filter(|fact| requested.iter().any(|name| name == fact))
                .collect();
            let selected: String = session.mlst_facts.iter().map(|f| format!("{f};")).collect();
            Reply::new(ReplyCode::OK, format!("MLST OPTS {selected}"))
        }
    }
}
