//! FTP control lines: raw bytes through [`LineReader`] and [`Command::parse`], as a session
//! reads them.
//!
//! Invariants: no line is longer than the limit or holds a line end; every parsed command,
//! written back in canonical form, parses to the same command; every refusal is one reply line
//! that cannot be split by what the client sent.

use std::fmt::Write as _;

use tokio::io::BufReader;
use wharf_ftp::protocol::command::{
    EpsvArg, FileStructure, ListArgs, NetworkProtocol, OptsArg, ProtectionLevel, SiteCommand,
    TransferMode, TransferType,
};
use wharf_ftp::protocol::{Command, LineReader};

/// The line limit the daemon uses by default.
const MAX_LINE: usize = 512;

/// Reads every line of `data` (in small pieces, as a slow client sends them) and parses it.
pub fn run(data: &[u8]) {
    let lines = crate::block_on(async {
        let mut stream = BufReader::with_capacity(7, data);
        let mut reader = LineReader::new(MAX_LINE);
        let mut lines = Vec::new();
        // An error is the stream ending mid-line: every line before it was returned.
        while let Ok(Some(line)) = reader.read_line(&mut stream).await {
            lines.push(line);
        }
        lines
    });
    for line in lines.into_iter().flatten() {
        assert!(line.len() <= MAX_LINE, "a line of {} bytes", line.len());
        assert!(!line.contains('\n'), "a line holding LF: {line:?}");
        check_line(&line);
    }
}

/// Parses one line and checks the command's round trip or the refusal's reply.
pub fn check_line(line: &str) {
    match Command::parse(line) {
        Ok(command) => {
            let canonical = canonical(&command);
            let again = Command::parse(&canonical);
            assert_eq!(
                again.as_ref(),
                Ok(&command),
                "{line:?} parsed as {command:?}, its canonical form {canonical:?} did not"
            );
        }
        Err(error) => {
            let wire = String::from_utf8(error.reply().to_wire()).expect("replies are UTF-8");
            assert!(wire.ends_with("\r\n"), "{wire:?}");
            let body = &wire[..wire.len() - 2];
            assert!(
                !body.contains(['\r', '\n']),
                "{line:?} made a reply of more than one line: {wire:?}"
            );
            assert!(
                body.len() > 4 && body.as_bytes()[..3].iter().all(u8::is_ascii_digit),
                "{wire:?}"
            );
            assert_eq!(body.as_bytes()[3], b' ', "{wire:?}");
        }
    }
}

/// The command as a client would send it; an independent writer, so the parser is checked
/// against a second reading of the protocol rather than against itself.
pub fn canonical(command: &Command) -> String {
    let verb = command.verb();
    let mut line = verb.to_owned();
    let mut arg = |text: &str| {
        line.push(' ');
        line.push_str(text);
    };
    match command {
        Command::User(text)
        | Command::Acct(text)
        | Command::Cwd(text)
        | Command::Mkd(text)
        | Command::Rmd(text)
        | Command::Dele(text)
        | Command::Rnfr(text)
        | Command::Rnto(text)
        | Command::Retr(text)
        | Command::Stor(text)
        | Command::Appe(text)
        | Command::Size(text)
        | Command::Mdtm(text)
        | Command::Hash(text)
        | Command::LegacyHash { path: text, .. } => arg(text),
        Command::Pass(password) => arg(password.expose()),
        Command::Stou(text)
        | Command::Mlsd(text)
        | Command::Mlst(text)
        | Command::Stat(text)
        | Command::Help(text) => {
            if let Some(text) = text {
                arg(text);
            }
        }
        Command::List(list) | Command::Nlst(list) => list_arg(list, arg),
        Command::Type(TransferType::Ascii) => arg("A"),
        Command::Type(TransferType::Image) => arg("I"),
        Command::Mode(TransferMode::Stream) => arg("S"),
        Command::Stru(FileStructure::File) => arg("F"),
        Command::Port(addr) => {
            let [h1, h2, h3, h4] = addr.ip().octets();
            let [p1, p2] = addr.port().to_be_bytes();
            arg(&format!("{h1},{h2},{h3},{h4},{p1},{p2}"));
        }
        Command::Eprt(addr) => {
            let protocol = match NetworkProtocol::of(addr.ip()) {
                NetworkProtocol::V4 => 1,
                NetworkProtocol::V6 => 2,
            };
            arg(&format!("|{protocol}|{}|{}|", addr.ip(), addr.port()));
        }
        Command::Epsv(EpsvArg::Any) => {}
        Command::Epsv(EpsvArg::All) => arg("ALL"),
        Command::Epsv(EpsvArg::Protocol(NetworkProtocol::V4)) => arg("1"),
        Command::Epsv(EpsvArg::Protocol(NetworkProtocol::V6)) => arg("2"),
        Command::Rest(number) | Command::Pbsz(number) => arg(&number.to_string()),
        Command::Allo(size) => {
            if let Some(size) = size {
                arg(&size.to_string());
            }
        }
        Command::Opts(OptsArg::Utf8(on)) => arg(if *on { "UTF8 ON" } else { "UTF8 OFF" }),
        Command::Opts(OptsArg::Hash(None)) => arg("HASH"),
        Command::Opts(OptsArg::Hash(Some(algorithm))) => arg(&format!("HASH {}", algorithm.name())),
        Command::Opts(OptsArg::Mlst(facts)) => {
            let mut text = "MLST ".to_owned();
            for fact in facts {
                let _ = write!(text, "{fact};");
            }
            arg(&text);
        }
        // An all-blank mechanism parses as an empty one; a blank argument says the same.
        Command::Auth(mechanism) if mechanism.is_empty() => arg(" "),
        Command::Auth(mechanism) => arg(mechanism),
        Command::Prot(level) => arg(match level {
            ProtectionLevel::Clear => "C",
            ProtectionLevel::Safe => "S",
            ProtectionLevel::Confidential => "E",
            ProtectionLevel::Private => "P",
        }),
        Command::Site(SiteCommand::Quota) => arg("QUOTA"),
        Command::Site(SiteCommand::Help) => arg("HELP"),
        Command::Cdup
        | Command::Pwd
        | Command::Pasv
        | Command::Abor
        | Command::Syst
        | Command::Noop
        | Command::Quit
        | Command::Feat
        | Command::Ccc => {}
    }
    line
}

/// LIST/NLST options as one `-flags` word, then the path.
fn list_arg(list: &ListArgs, mut arg: impl FnMut(&str)) {
    match (list.flags.is_empty(), &list.path) {
        (true, None) => {}
        (true, Some(path)) => arg(path),
        (false, None) => arg(&format!("-{}", list.flags)),
        (false, Some(path)) => arg(&format!("-{} {path}", list.flags)),
    }
}
