//! Control-line parsing: one line in, one typed [`Command`] (or a typed [`ParseError`]) out.
//!
//! Verbs are case-insensitive. Arguments are everything after the first space, kept byte-exact
//! (paths may hold spaces, leading or trailing ones included, and any UTF-8).

mod address;
mod params;

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

pub use address::{EpsvArg, NetworkProtocol, epsv_reply_text, pasv_reply_text};
pub use params::{
    FileStructure, ListArgs, OptsArg, ProtectionLevel, SiteCommand, TransferMode, TransferType,
};

use crate::protocol::hash::HashAlgorithm;
use crate::protocol::reply::{Reply, ReplyCode};

/// One parsed FTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// USER name (RFC 959).
    User(String),
    /// PASS password (RFC 959); may be empty. Its `Debug` form is redacted.
    Pass(Password),
    /// ACCT account (RFC 959); accounts are not used here.
    Acct(String),
    /// CWD / XCWD path.
    Cwd(String),
    /// CDUP / XCUP.
    Cdup,
    /// PWD / XPWD.
    Pwd,
    /// MKD / XMKD path.
    Mkd(String),
    /// RMD / XRMD path.
    Rmd(String),
    /// DELE path.
    Dele(String),
    /// RNFR path: the first half of a rename.
    Rnfr(String),
    /// RNTO path: the second half of a rename.
    Rnto(String),
    /// RETR path: download.
    Retr(String),
    /// STOR path: upload (replacing).
    Stor(String),
    /// STOU [name]: upload under a unique name.
    Stou(Option<String>),
    /// APPE path: upload appending.
    Appe(String),
    /// LIST [options] [path]: long listing over the data connection.
    List(ListArgs),
    /// NLST [options] [path]: names only over the data connection.
    Nlst(ListArgs),
    /// MLSD [path]: machine listing over the data connection (RFC 3659).
    Mlsd(Option<String>),
    /// MLST [path]: machine facts of one entry on the control connection (RFC 3659).
    Mlst(Option<String>),
    /// TYPE A|I|L 8.
    Type(TransferType),
    /// MODE S.
    Mode(TransferMode),
    /// STRU F.
    Stru(FileStructure),
    /// PORT h1,h2,h3,h4,p1,p2: active mode, IPv4.
    Port(SocketAddrV4),
    /// PASV: passive mode, IPv4.
    Pasv,
    /// EPSV [ALL|1|2]: extended passive mode (RFC 2428).
    Epsv(EpsvArg),
    /// EPRT |proto|address|port|: extended active mode (RFC 2428).
    Eprt(SocketAddr),
    /// REST offset: where the next RETR/STOR starts (RFC 3659 REST STREAM).
    Rest(u64),
    /// ABOR: abort the transfer in progress.
    Abor,
    /// SYST.
    Syst,
    /// STAT [path]: server status, or a listing on the control connection.
    Stat(Option<String>),
    /// HELP [topic].
    Help(Option<String>),
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
    /// ALLO size [R record]: storage pre-allocation (superfluous here).
    Allo(Option<u64>),
    /// FEAT (RFC 2389).
    Feat,
    /// OPTS (RFC 2389).
    Opts(OptsArg),
    /// SIZE path (RFC 3659).
    Size(String),
    /// MDTM path (RFC 3659).
    Mdtm(String),
    /// HASH path (draft-bryan-ftpext-hash), with the algorithm selected by OPTS HASH.
    Hash(String),
    /// XSHA256 / XSHA512 / XSHA1 / XSHA / XMD5 path: legacy fixed-algorithm hash commands.
    LegacyHash {
        /// The algorithm the verb names.
        algorithm: HashAlgorithm,
        /// The file to hash.
        path: String,
    },
    /// AUTH mechanism (RFC 2228 / RFC 4217), e.g. `TLS`.
    Auth(String),
    /// PBSZ size (RFC 4217; always 0 with TLS).
    Pbsz(u64),
    /// PROT C|S|E|P (RFC 4217).
    Prot(ProtectionLevel),
    /// CCC: clear the control channel (RFC 4217).
    Ccc,
    /// SITE subcommand.
    Site(SiteCommand),
}

/// Why a control line is not a command this server can run; each maps to one reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line was empty.
    #[error("empty command line")]
    Empty,
    /// A verb nobody defined (500).
    #[error("unknown command {verb:?}")]
    UnknownCommand {
        /// The verb as sent (truncated for the reply if very long).
        verb: String,
    },
    /// A standard verb this server does not implement (502).
    #[error("command {verb} is not implemented")]
    NotImplemented {
        /// The verb, upper case.
        verb: String,
    },
    /// A required argument is absent (501).
    #[error("{verb} needs an argument")]
    MissingArgument {
        /// The verb, upper case.
        verb: &'static str,
    },
    /// An argument is malformed (501).
    #[error("bad argument to {verb}: {reason}")]
    InvalidArgument {
        /// The verb, upper case.
        verb: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A well-formed argument value this server does not support (504).
    #[error("{verb} {parameter} is not supported")]
    UnsupportedParameter {
        /// The verb, upper case.
        verb: &'static str,
        /// The parameter as sent.
        parameter: String,
    },
    /// An RFC 2428 network protocol number other than 1 or 2 (522).
    #[error("{verb}: network protocol {protocol} is not supported, use (1,2)")]
    UnsupportedProtocol {
        /// The verb, upper case.
        verb: &'static str,
        /// The protocol number as sent.
        protocol: String,
    },
    /// A SITE subcommand this server does not offer (500).
    #[error("unknown SITE command {name:?}")]
    UnknownSiteCommand {
        /// The subcommand as sent.
        name: String,
    },
}

/// Longest verb echoed back in a reply, so a garbage line is not reflected whole.
const MAX_ECHOED_VERB: usize = 32;

/// Standard verbs (RFC 959, 775, 1639, 2228, 2389, 3659, 7151, drafts) that exist but that this
/// server does not implement: they get 502 rather than 500.
const NOT_IMPLEMENTED: &[&str] = &[
    "REIN", "SMNT", "LPRT", "LPSV", "XCRC", "ADAT", "MIC", "CONF", "ENC", "LANG", "MAIL", "MLFL",
    "MRCP", "MRSQ", "MSAM", "MSND", "MSOM", "XRCP", "XRSQ", "XSEM", "XSEN", "RANG", "MFMT", "MFCT",
    "MFF", "AVBL", "CSID", "CLNT", "HOST", "DSIZ", "THMB",
];

impl ParseError {
    /// The reply this error gets on the control connection.
    pub fn reply(&self) -> Reply {
        let code = match self {
            Self::Empty | Self::UnknownCommand { .. } | Self::UnknownSiteCommand { .. } => {
                ReplyCode::SYNTAX_ERROR
            }
            Self::NotImplemented { .. } => ReplyCode::NOT_IMPLEMENTED,
            Self::MissingArgument { .. } | Self::InvalidArgument { .. } => ReplyCode::BAD_ARGUMENTS,
            Self::UnsupportedParameter { .. } => ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            Self::UnsupportedProtocol { .. } => ReplyCode::PROTOCOL_NOT_SUPPORTED,
        };
        Reply::new(code, format!("{self}."))
    }
}

impl Command {
    /// Parses one control line (without its CRLF).
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        if verb.is_empty() {
            return Err(ParseError::Empty);
        }
        let upper = verb.to_ascii_uppercase();
        let required = |verb: &'static str| required(verb, arg);
        let optional = || optional(arg);
        let command = match upper.as_str() {
            "USER" => Self::User(required("USER")?),
            "PASS" => Self::Pass(Password::new(arg)),
            "ACCT" => Self::Acct(required("ACCT")?),
            "CWD" | "XCWD" => Self::Cwd(required("CWD")?),
            "CDUP" | "XCUP" => Self::Cdup,
            "PWD" | "XPWD" => Self::Pwd,
            "MKD" | "XMKD" => Self::Mkd(required("MKD")?),
            "RMD" | "XRMD" => Self::Rmd(required("RMD")?),
            "DELE" => Self::Dele(required("DELE")?),
            "RNFR" => Self::Rnfr(required("RNFR")?),
            "RNTO" => Self::Rnto(required("RNTO")?),
            "RETR" => Self::Retr(required("RETR")?),
            "STOR" => Self::Stor(required("STOR")?),
            "STOU" => Self::Stou(optional()),
            "APPE" => Self::Appe(required("APPE")?),
            "LIST" => Self::List(params::parse_list(arg)),
            "NLST" => Self::Nlst(params::parse_list(arg)),
            "MLSD" => Self::Mlsd(optional()),
            "MLST" => Self::Mlst(optional()),
            "TYPE" => Self::Type(params::parse_type("TYPE", arg)?),
            "MODE" => Self::Mode(params::parse_mode("MODE", arg)?),
            "STRU" => Self::Stru(params::parse_stru("STRU", arg)?),
            "PORT" => Self::Port(address::parse_port("PORT", &required("PORT")?)?),
            "PASV" => Self::Pasv,
            "EPSV" => Self::Epsv(address::parse_epsv("EPSV", arg)?),
            "EPRT" => Self::Eprt(address::parse_eprt("EPRT", &required("EPRT")?)?),
            "REST" => Self::Rest(parse_number("REST", arg)?),
            "ABOR" => Self::Abor,
            "SYST" => Self::Syst,
            "STAT" => Self::Stat(optional()),
            "HELP" => Self::Help(optional()),
            "NOOP" => Self::Noop,
            "QUIT" => Self::Quit,
            "ALLO" => Self::Allo(parse_allo(arg)?),
            "FEAT" => Self::Feat,
            "OPTS" => Self::Opts(params::parse_opts("OPTS", arg)?),
            "SIZE" => Self::Size(required("SIZE")?),
            "MDTM" => Self::Mdtm(required("MDTM")?),
            "HASH" => Self::Hash(required("HASH")?),
            "XSHA256" => legacy_hash(HashAlgorithm::Sha256, required("XSHA256")?),
            "XSHA512" => legacy_hash(HashAlgorithm::Sha512, required("XSHA512")?),
            "XSHA1" | "XSHA" => legacy_hash(HashAlgorithm::Sha1, required("XSHA1")?),
            "XMD5" => legacy_hash(HashAlgorithm::Md5, required("XMD5")?),
            "AUTH" => Self::Auth(required("AUTH")?.trim().to_ascii_uppercase()),
            "PBSZ" => Self::Pbsz(parse_number("PBSZ", arg)?),
            "PROT" => Self::Prot(params::parse_prot("PROT", arg)?),
            "CCC" => Self::Ccc,
            "SITE" => Self::Site(params::parse_site("SITE", arg)?),
            known if NOT_IMPLEMENTED.contains(&known) => {
                return Err(ParseError::NotImplemented { verb: upper });
            }
            _ => {
                return Err(ParseError::UnknownCommand {
                    verb: verb.chars().take(MAX_ECHOED_VERB).collect(),
                });
            }
        };
        Ok(command)
    }

    /// The canonical verb, for logs and replies (`XPWD` reports as `PWD`).
    pub fn verb(&self) -> &'static str {
        match self {
            Self::User(_) => "USER",
            Self::Pass(_) => "PASS",
            Self::Acct(_) => "ACCT",
            Self::Cwd(_) => "CWD",
            Self::Cdup => "CDUP",
            Self::Pwd => "PWD",
            Self::Mkd(_) => "MKD",
            Self::Rmd(_) => "RMD",
            Self::Dele(_) => "DELE",
            Self::Rnfr(_) => "RNFR",
            Self::Rnto(_) => "RNTO",
            Self::Retr(_) => "RETR",
            Self::Stor(_) => "STOR",
            Self::Stou(_) => "STOU",
            Self::Appe(_) => "APPE",
            Self::List(_) => "LIST",
            Self::Nlst(_) => "NLST",
            Self::Mlsd(_) => "MLSD",
            Self::Mlst(_) => "MLST",
            Self::Type(_) => "TYPE",
            Self::Mode(_) => "MODE",
            Self::Stru(_) => "STRU",
            Self::Port(_) => "PORT",
            Self::Pasv => "PASV",
            Self::Epsv(_) => "EPSV",
            Self::Eprt(_) => "EPRT",
            Self::Rest(_) => "REST",
            Self::Abor => "ABOR",
            Self::Syst => "SYST",
            Self::Stat(_) => "STAT",
            Self::Help(_) => "HELP",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::Allo(_) => "ALLO",
            Self::Feat => "FEAT",
            Self::Opts(_) => "OPTS",
            Self::Size(_) => "SIZE",
            Self::Mdtm(_) => "MDTM",
            Self::Hash(_) => "HASH",
            Self::LegacyHash { algorithm, .. } => match algorithm {
                HashAlgorithm::Sha256 => "XSHA256",
                HashAlgorithm::Sha512 => "XSHA512",
                HashAlgorithm::Sha1 => "XSHA1",
                HashAlgorithm::Md5 => "XMD5",
            },
            Self::Auth(_) => "AUTH",
            Self::Pbsz(_) => "PBSZ",
            Self::Prot(_) => "PROT",
            Self::Ccc => "CCC",
            Self::Site(_) => "SITE",
        }
    }
}

/// A password as sent with PASS; its `Debug` form never shows it, so commands can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for verification only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

/// The verbs that list every command this server accepts, for HELP.
pub const SUPPORTED_VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT",
    "HASH", "HELP", "LIST", "MDTM", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS",
    "PASV", "PBSZ", "PORT", "PROT", "PWD", "QUIT", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE",
    "SIZE", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMD5", "XMKD",
    "XPWD", "XRMD", "XSHA1", "XSHA256", "XSHA512",
];

/// A required argument, byte-exact.
fn required(verb: &'static str, arg: &str) -> Result<String, ParseError> {
    if arg.is_empty() {
        Err(ParseError::MissingArgument { verb })
    } else {
        Ok(arg.to_string())
    }
}

/// An optional argument, byte-exact; absent when empty.
fn optional(arg: &str) -> Option<String> {
    (!arg.is_empty()).then(|| arg.to_string())
}

/// A decimal unsigned number argument (REST, PBSZ).
fn parse_number(verb: &'static str, arg: &str) -> Result<u64, ParseError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(ParseError::MissingArgument { verb });
    }
    if !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::InvalidArgument {
            verb,
            reason: "expected a non-negative decimal number".to_string(),
        });
    }
    arg.parse().map_err(|_| ParseError::InvalidArgument {
        verb,
        reason: "number too large".to_string(),
    })
}

/// The ALLO argument: `size` or `size R record-size`; may be absent.
fn parse_allo(arg: &str) -> Result<Option<u64>, ParseError> {
    match arg.split_ascii_whitespace().next() {
        None => Ok(None),
        Some(size) => parse_number("ALLO", size).map(Some),
    }
}

/// A legacy XSHA*/XMD5 command.
fn legacy_hash(algorithm: HashAlgorithm, path: String) -> Command {
    Command::LegacyHash { algorithm, path }
}

#[cfg(test)]
mod tests;
