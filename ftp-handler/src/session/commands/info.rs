//! FEAT, HELP, STAT without a path, and SITE.

use std::sync::Arc;

use crate::protocol::command::{ProtectionLevel, SUPPORTED_VERBS, SiteCommand, TransferType};
use crate::protocol::hash::feat_line;
use crate::protocol::{Reply, ReplyCode};
use crate::session::data::DataPlan;
use crate::session::state::{MLST_FACTS, Session, storage_reply};
use crate::storage::StorageError;
use crate::storage::open::blocking;

/// Verbs per line in the HELP listing.
const HELP_VERBS_PER_LINE: usize = 10;

/// FEAT: the extensions offered (RFC 2389), one per line with a leading space.
pub(super) fn feat(session: &Session) -> Reply {
    let facts: String = MLST_FACTS
        .into_iter()
        .map(|fact| {
            let star = if session.mlst_facts.contains(&fact) {
                "*"
            } else {
                ""
            };
            format!("{fact}{star};")
        })
        .collect();
    let mut features = vec![
        "EPRT".to_string(),
        "EPSV".to_string(),
        feat_line(session.hash_algorithm),
        "MDTM".to_string(),
        format!("MLST {facts}"),
        "REST STREAM".to_string(),
        "SIZE".to_string(),
        "TVFS".to_string(),
        "UTF8".to_string(),
    ];
    if session.shared.tls.is_some() {
        features.extend(["AUTH TLS", "PBSZ", "PROT"].map(String::from));
        features.sort();
    }
    Reply::multiline(
        ReplyCode::SYSTEM_STATUS,
        "Features:",
        features.iter().map(|feature| format!(" {feature}")),
        "End",
    )
}

/// HELP: the commands understood, or the SITE subcommands.
pub(super) fn help(topic: Option<&str>) -> Reply {
    if topic.is_some_and(|topic| topic.trim().eq_ignore_ascii_case("SITE")) {
        return site_help();
    }
    let lines: Vec<String> = SUPPORTED_VERBS
        .chunks(HELP_VERBS_PER_LINE)
        .map(|verbs| format!(" {}", verbs.join(" ")))
        .collect();
    Reply::multiline(
        ReplyCode::HELP,
        "The following commands are recognized:",
        lines,
        "Help OK.",
    )
}

/// The SITE subcommands.
fn site_help() -> Reply {
    Reply::multiline(
        ReplyCode::HELP,
        "SITE commands:",
        [" QUOTA: your disk usage and limits", " HELP: this list"],
        "Help OK.",
    )
}

/// STAT without a path: the session's status.
pub(super) fn status(session: &Session) -> Reply {
    let user = match &session.user {
        Some(user) => format!(" Logged in as {}", user.record.name),
        None => " Not logged in".to_string(),
    };
    let kind = match session.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Image => "BINARY",
    };
    let protection = match (session.control_protected, session.protection) {
        (false, _) => " Control connection: clear",
        (true, ProtectionLevel::Private) => " Control connection: TLS; data connections: TLS",
        (true, _) => " Control connection: TLS; data connections: clear",
    };
    let data = match &session.data_plan {
        Some(DataPlan::Passive(_)) => " Data connection: passive, waiting",
        Some(DataPlan::Active(_)) => " Data connection: active, ready",
        None => " Data connection: none",
    };
    Reply::multiline(
        ReplyCode::SYSTEM_STATUS,
        "wharf-ftpd status:",
        [
            format!(" Connected from {}", session.peer_ip),
            user,
            format!(" TYPE: {kind}; MODE: Stream; STRU: File"),
            protection.to_string(),
            data.to_string(),
        ],
        "End of status.",
    )
}

/// SITE: QUOTA and HELP.
pub(super) async fn site(session: &Session, command: SiteCommand) -> Reply {
    match command {
        SiteCommand::Help => site_help(),
        SiteCommand::Quota => quota(session).await,
    }
}

/// SITE QUOTA: the user's bytes and files in use (committed plus in progress, across every
/// session) and the limits as read at login, from the quota store.
async fn quota(session: &Session) -> Reply {
    let Some(user) = &session.user else {
        return Reply::new(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS.");
    };
    let quota = Arc::clone(&user.quota);
    let usage = match blocking(move || quota.usage().map_err(StorageError::from)).await {
        Ok(usage) => usage,
        Err(error) => return storage_reply(&error),
    };
    let limits = user.quota.limits();
    let limit =
        |value: Option<u64>| value.map_or_else(|| "unlimited".to_string(), |v| v.to_string());
    Reply::multiline(
        ReplyCode::OK,
        format!("Quota for {}:", user.record.name),
        [
            format!(" Bytes used: {}", usage.bytes),
            format!(" Bytes limit: {}", limit(limits.bytes)),
            format!(" Files used: {}", usage.files),
            format!(" Files limit: {}", limit(limits.files)),
        ],
        "End of quota report.",
    )
}
