//! What one control connection remembers between commands.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use wharf::{Connection, HandlerError};
use wharf_users::UserRecord;

use super::Shared;
use super::data::DataPlan;
use super::homes::OpenHome;
use super::slots::Held;
use crate::protocol::command::{ProtectionLevel, TransferType};
use crate::protocol::reply::{Reply, ReplyCode};
use crate::protocol::{HashAlgorithm, LineError, LineReader};
use crate::quota::AttachedQuota;
use crate::storage::{Jail, StorageError, VirtualPath};
use crate::tls::SessionTls;

/// Facts MLST/MLSD can report, in FEAT order.
pub(crate) const MLST_FACTS: [&str; 5] = ["type", "size", "modify", "perm", "unique"];

/// Most command lines kept while a transfer runs; a peer sending more is cut off.
pub(crate) const MAX_QUEUED_LINES: usize = 64;

/// What the command loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Read the next command.
    Continue,
    /// Close the control connection.
    Close,
}

/// A logged-in user and their jail.
pub(crate) struct LoggedIn {
    /// The user's record as of login (home, quota).
    pub(crate) record: UserRecord,
    /// The user's files, home as `/`, with the user's quota enforced.
    pub(crate) jail: Jail,
    /// The session's attachment to the user's usage record (SITE QUOTA reads it).
    pub(crate) quota: Arc<dyn AttachedQuota>,
    /// The open home the two above come from, shared with the user's other sessions in this
    /// process; held so it stays open while this session lives.
    pub(crate) _home: Arc<OpenHome>,
}

/// One FTP session's state.
pub(crate) struct Session {
    /// Configuration and authenticator.
    pub(crate) shared: Arc<Shared>,
    /// The connection id, as in the session's log span (hook events carry it).
    pub(crate) id: u64,
    /// The client's address (behind a trusted balancer, the one its PROXY header named): the
    /// only target of active mode, and what bans, limits and logs see.
    pub(crate) peer_ip: IpAddr,
    /// The trusted balancer the control connection came through, if any: passive data
    /// connections forwarded by it (without a header) come from its address.
    pub(crate) balancer_ip: Option<IpAddr>,
    /// The control connection's local address: where passive listeners bind.
    pub(crate) local_ip: IpAddr,
    /// Bounded line framing of the control channel.
    pub(crate) control: LineReader,
    /// Lines that arrived during a transfer, run after it.
    pub(crate) queued: VecDeque<Result<String, LineError>>,
    /// The sweep of stale multipart uploads started at login, awaited (briefly) when the
    /// session ends so that a short session does not cancel it with its runtime.
    pub(crate) sweep: Option<tokio::task::JoinHandle<()>>,
    /// The name given by USER, waiting for PASS.
    pub(crate) pending_user: Option<String>,
    /// Set once PASS succeeded.
    pub(crate) user: Option<LoggedIn>,
    /// Failed PASS attempts on this connection.
    pub(crate) failed_logins: u32,
    /// The current directory.
    pub(crate) cwd: VirtualPath,
    /// TYPE A or I.
    pub(crate) transfer_type: TransferType,
    /// Offset set by REST for the next RETR/STOR.
    pub(crate) rest: Option<u64>,
    /// Source of a rename, set by RNFR for the next command only.
    pub(crate) rename_from: Option<VirtualPath>,
    /// Algorithm HASH uses (OPTS HASH).
    pub(crate) hash_algorithm: HashAlgorithm,
    /// Facts MLST/MLSD report (OPTS MLST).
    pub(crate) mlst_facts: Vec<&'static str>,
    /// How the next data connection is made (PASV/EPSV/PORT/EPRT).
    pub(crate) data_plan: Option<DataPlan>,
    /// After `EPSV ALL`, only EPSV may set up data connections (RFC 2428).
    pub(crate) epsv_all: bool,
    /// When the connection started, for the login timeout.
    pub(crate) started: Instant,
    /// When the last reply went out (the greeting, then each command's): how long the client
    /// has been quiet, which decides how a stopping server ends the session.
    pub(crate) answered: Instant,
    /// Session-limit slots, held until the session ends.
    pub(crate) slots: Option<Held>,
    /// Unusable command lines so far; too many close the session.
    pub(crate) bad_commands: u32,
    /// The connection came to an implicit-FTPS listener: TLS from the first byte.
    pub(crate) implicit_tls: bool,
    /// This session's TLS acceptors and session cache, made on first use.
    pub(crate) tls: Option<SessionTls>,
    /// The control connection runs over TLS.
    pub(crate) control_protected: bool,
    /// PBSZ was given after the TLS handshake (RFC 4217 wants it before PROT).
    pub(crate) pbsz_set: bool,
    /// Data-connection protection set by PROT: clear until `PROT P`.
    pub(crate) protection: ProtectionLevel,
    /// The session has a process to itself (forking mode), confined by [`super::confine`].
    pub(crate) own_process: bool,
    /// Step 2 of the confinement (down to the user's home) is done.
    pub(crate) narrowed: bool,
}

impl Session {
    /// A fresh session for an accepted control connection (TCP only).
    pub(crate) fn new(shared: Arc<Shared>, conn: &Connection) -> Result<Self, HandlerError> {
        let peer_ip = conn
            .peer()
            .ip()
            .ok_or("FTP needs a TCP control connection")?
            .ip()
            .to_canonical();
        let balancer_ip = conn.proxied_by().map(|addr| addr.ip().to_canonical());
        let socket = conn.socket().ok_or("FTP needs a TCP control connection")?;
        // ABOR may come as TCP urgent data (Python's ftplib sends it with MSG_OOB); keep the
        // urgent byte in the normal stream so the line is read whole.
        socket.set_out_of_band_inline(true)?;
        let local_ip = socket
            .local_addr()?
            .ok_or("FTP needs a TCP control connection")?
            .ip()
            .to_canonical();
        let max_line = shared.config.limits.max_line_length;
        Ok(Self {
            shared,
            id: conn.id(),
            peer_ip,
            balancer_ip,
            local_ip,
            control: LineReader::new(max_line),
            queued: VecDeque::new(),
            sweep: None,
            pending_user: None,
            user: None,
            failed_logins: 0,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Image,
            rest: None,
            rename_from: None,
            hash_algorithm: HashAlgorithm::default(),
            mlst_facts: MLST_FACTS.to_vec(),
            data_plan: None,
            epsv_all: false,
            started: Instant::now(),
            answered: Instant::now(),
            slots: None,
            bad_commands: 0,
            implicit_tls: false,
            tls: None,
            control_protected: false,
            pbsz_set: false,
            protection: ProtectionLevel::Clear,
            own_process: false,
            narrowed: false,
        })
    }

    /// The logged-in user's jail, if any.
    pub(crate) fn jail(&self) -> Option<&Jail> {
        self.user.as_ref().map(|user| &user.jail)
    }

    /// The logged-in user's name, or `ftp` before login.
    pub(crate) fn user_name(&self) -> &str {
        self.user
            .as_ref()
            .map_or("ftp", |user| user.record.name.as_str())
    }

    /// Resolves a path argument against the current directory.
    pub(crate) fn resolve(&self, arg: &str) -> Result<VirtualPath, StorageError> {
        VirtualPath::resolve(&self.cwd, arg).map_err(StorageError::from)
    }
}

/// The reply for a storage error, from the storage layer's single mapping.
pub(crate) fn storage_reply(error: &StorageError) -> Reply {
    let (code, text) = error.reply();
    Reply::new(ReplyCode::new(code).unwrap_or(ReplyCode::LOCAL_ERROR), text)
}
