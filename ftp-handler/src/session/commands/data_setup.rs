//! PORT, EPRT, PASV and EPSV: how the next data connection is made.

use std::net::{IpAddr, SocketAddr};

use crate::protocol::command::{EpsvArg, NetworkProtocol, epsv_reply_text, pasv_reply_text};
use crate::protocol::{Reply, ReplyCode};
use crate::session::data::{self, DataPlan};
use crate::session::state::Session;

/// The refusal of PORT/PASV/EPRT after `EPSV ALL`.
fn epsv_all_refusal() -> Reply {
    Reply::new(
        ReplyCode::BAD_SEQUENCE,
        "Only EPSV is allowed after EPSV ALL.",
    )
}

/// PORT and EPRT: the server will connect to the client, which must be the control peer.
pub(super) fn port(session: &mut Session, target: SocketAddr) -> Reply {
    if session.epsv_all {
        return epsv_all_refusal();
    }
    if let Err(reply) = data::check_active_target(target, session.peer_ip) {
        return reply;
    }
    session.data_plan = Some(DataPlan::Active(target));
    Reply::new(
        ReplyCode::OK,
        "PORT command successful. Consider using EPSV.",
    )
}

/// PASV: a passive listener, advertised as an IPv4 address.
pub(super) async fn pasv(session: &mut Session) -> Reply {
    if session.epsv_all {
        return epsv_all_refusal();
    }
    let advertised = match session
        .shared
        .config
        .passive
        .address
        .unwrap_or(session.local_ip)
    {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => {
            return Reply::new(
                ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                "PASV cannot describe an IPv6 address; use EPSV.",
            );
        }
    };
    match open_listener(session).await {
        Ok(port) => Reply::new(
            ReplyCode::ENTERING_PASSIVE_MODE,
            pasv_reply_text(std::net::SocketAddrV4::new(advertised, port)),
        ),
        Err(reply) => reply,
    }
}

/// EPSV: a passive listener, advertised by port only (RFC 2428).
pub(super) async fn epsv(session: &mut Session, arg: EpsvArg) -> Reply {
    match arg {
        EpsvArg::All => {
            session.epsv_all = true;
            return Reply::new(ReplyCode::OK, "EPSV ALL ok.");
        }
        EpsvArg::Protocol(protocol) if protocol != NetworkProtocol::of(session.local_ip) => {
            let own = match NetworkProtocol::of(session.local_ip) {
                NetworkProtocol::V4 => 1,
                NetworkProtocol::V6 => 2,
            };
            return Reply::new(
                ReplyCode::PROTOCOL_NOT_SUPPORTED,
                format!("Network protocol not supported, use ({own})."),
            );
        }
        EpsvArg::Any | EpsvArg::Protocol(_) => {}
    }
    match open_listener(session).await {
        Ok(port) => Reply::new(
            ReplyCode::ENTERING_EXTENDED_PASSIVE_MODE,
            epsv_reply_text(port),
        ),
        Err(reply) => reply,
    }
}

/// Binds the passive listener for the next transfer and returns its port.
async fn open_listener(session: &mut Session) -> Result<u16, Reply> {
    // A previous plan's listener is closed first so its port is free again.
    session.data_plan = None;
    let range = session.shared.config.passive.ports;
    let listener = data::passive_listener(session.local_ip, range)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "cannot open a passive listener");
            Reply::new(
                ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                "Cannot open a passive data port.",
            )
        })?;
    let port = listener
        .local_addr()
        .map_err(|_| {
            Reply::new(
                ReplyCode::CANNOT_OPEN_DATA_CONNECTION,
                "Cannot open a passive data port.",
            )
        })?
        .port();
    session.data_plan = Some(DataPlan::Passive(listener));
    Ok(port)
}
