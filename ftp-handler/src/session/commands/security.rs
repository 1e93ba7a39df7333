//! AUTH, PBSZ, PROT and CCC (RFC 2228, RFC 4217): FTPS on an explicit control connection.
//!
//! Replies follow RFC 4217 and the reference servers: 234 before the handshake, 502 when this
//! server has no TLS, 504 for another mechanism, 503 out of sequence, `200 PBSZ=0`, 536 for
//! `PROT S`/`PROT E`, 534 for `PROT C` under `require_tls` and for CCC (the control connection
//! stays encrypted), 533 for CCC on a clear control connection.

use std::io;

use wharf::Connection;

use super::Answer;
use crate::protocol::command::ProtectionLevel;
use crate::protocol::{Reply, ReplyCode};
use crate::session::control;
use crate::session::state::{Flow, Session};

/// 431: need some unavailable resource to process security (RFC 2228).
const SECURITY_RESOURCE_UNAVAILABLE: u16 = 431;

/// The reply to FTPS commands when this server has no TLS configured.
fn unavailable() -> Reply {
    Reply::new(
        ReplyCode::NOT_IMPLEMENTED,
        "FTPS is not available on this server.",
    )
}

/// AUTH TLS (or the legacy AUTH SSL): answers 234, then runs the TLS handshake.
pub(super) async fn auth(
    session: &mut Session,
    conn: &mut Connection,
    mechanism: &str,
) -> io::Result<Answer> {
    if session.shared.tls.is_none() {
        return Ok(unavailable().into());
    }
    // `SSL` and `TLS-P` are the old drafts' names; they also protected the data connections.
    let implied_protection = match mechanism {
        "TLS" | "TLS-C" => None,
        "SSL" | "TLS-P" => Some(ProtectionLevel::Private),
        _ => {
            return Ok(Reply::new(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!("AUTH {mechanism} is not supported; use AUTH TLS."),
            )
            .into());
        }
    };
    if session.control_protected {
        return Ok(Reply::new(ReplyCode::BAD_SEQUENCE, "Already using TLS.").into());
    }
    if session.user.is_some() {
        return Ok(Reply::new(ReplyCode::BAD_SEQUENCE, "AUTH must come before login.").into());
    }
    if !session.queued.is_empty() {
        // Commands sent in clear after AUTH would look as if they had come over TLS.
        return Ok(Reply::new(
            ReplyCode::BAD_SEQUENCE,
            "AUTH cannot follow pipelined commands.",
        )
        .into());
    }
    let Some(tls) = session.session_tls() else {
        let code = ReplyCode::new(SECURITY_RESOURCE_UNAVAILABLE).unwrap_or(ReplyCode::LOCAL_ERROR);
        return Ok(Reply::new(code, "TLS cannot be set up now.").into());
    };
    control::say(
        conn,
        ReplyCode::AUTH_ACCEPTED,
        format!("AUTH {mechanism} successful; starting TLS."),
    )
    .await?;
    let limits = &session.shared.config.limits;
    let limit = limits
        .login_timeout
        .saturating_sub(session.started.elapsed())
        .min(limits.idle_timeout);
    if session.secure_control(conn, tls, limit).await.is_err() {
        return Ok(Answer::Sent(Flow::Close));
    }
    // A name given in clear before the handshake does not carry over.
    session.pending_user = None;
    session.pbsz_set = false;
    if let Some(level) = implied_protection {
        session.protection = level;
    }
    Ok(Answer::Sent(Flow::Continue))
}

/// PBSZ: only 0 makes sense over TLS (RFC 4217 section 8).
pub(super) fn pbsz(session: &mut Session) -> Reply {
    if session.shared.tls.is_none() {
        return unavailable();
    }
    if !session.control_protected {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "PBSZ needs AUTH TLS first.");
    }
    session.pbsz_set = true;
    Reply::new(ReplyCode::OK, "PBSZ=0")
}

/// PROT: C (clear) or P (private, TLS on data connections).
pub(super) fn prot(session: &mut Session, level: ProtectionLevel) -> Reply {
    if session.shared.tls.is_none() {
        return unavailable();
    }
    if !session.control_protected {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "PROT needs AUTH TLS first.");
    }
    if !session.pbsz_set {
        return Reply::new(ReplyCode::BAD_SEQUENCE, "PROT needs PBSZ first.");
    }
    match level {
        ProtectionLevel::Clear if session.shared.config.tls.require_tls => Reply::new(
            ReplyCode::POLICY_DENIED,
            "Clear data connections are not allowed on this server; use PROT P.",
        ),
        ProtectionLevel::Clear | ProtectionLevel::Private => {
            session.protection = level;
            let name = if level == ProtectionLevel::Clear {
                "Clear"
            } else {
                "Private"
            };
            Reply::new(ReplyCode::OK, format!("Protection level set to {name}."))
        }
        ProtectionLevel::Safe | ProtectionLevel::Confidential => Reply::new(
            ReplyCode::PROT_LEVEL_NOT_SUPPORTED,
            "Only PROT C and PROT P are supported with TLS.",
        ),
    }
}

/// CCC: refused; the control connection stays encrypted.
pub(super) fn ccc(session: &Session) -> Reply {
    if session.shared.tls.is_none() {
        return unavailable();
    }
    if !session.control_protected {
        return Reply::new(
            ReplyCode::PROTECTION_DENIED,
            "The control connection is not protected.",
        );
    }
    Reply::new(
        ReplyCode::POLICY_DENIED,
        "CCC is not allowed: the control connection stays encrypted.",
    )
}
