//! AUTH, PBSZ, PROT and CCC (RFC 4217): refused until FTPS is built.

use crate::protocol::{Reply, ReplyCode};

/// The reply to every FTPS command while this server has no TLS.
pub(super) fn unavailable() -> Reply {
    Reply::new(
        ReplyCode::NOT_IMPLEMENTED,
        "FTPS is not available on this server.",
    )
}
