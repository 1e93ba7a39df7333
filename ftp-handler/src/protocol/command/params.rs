//! Typed arguments of the commands that take more than a path: TYPE, MODE, STRU, LIST/NLST
//! options, OPTS, PROT and SITE.

use super::ParseError;
use crate::protocol::hash::HashAlgorithm;

/// The representation type set by TYPE (RFC 959 section 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferType {
    /// `TYPE A` / `TYPE A N`: ASCII, with line ends converted to CRLF on the wire.
    Ascii,
    /// `TYPE I` / `TYPE L 8`: bytes as they are (the default; every modern client sets it).
    #[default]
    Image,
}

/// The transmission mode set by MODE; only stream mode exists here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    /// `MODE S`.
    Stream,
}

/// The file structure set by STRU; only file structure exists here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStructure {
    /// `STRU F`.
    File,
}

/// Data-channel protection level set by PROT (RFC 2228, RFC 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectionLevel {
    /// `C`: clear.
    Clear,
    /// `S`: safe (integrity only).
    Safe,
    /// `E`: confidential.
    Confidential,
    /// `P`: private (TLS on the data connection).
    Private,
}

/// The argument of LIST or NLST: `ls`-style option groups, then an optional path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListArgs {
    /// The option letters given (`-la` gives `la`), in order; clients send them out of habit.
    pub flags: String,
    /// The path to list, byte-exact; `None` lists the current directory.
    pub path: Option<String>,
}

impl ListArgs {
    /// Splits a LIST/NLST/STAT argument into options and path.
    pub fn parse(arg: &str) -> Self {
        parse_list(arg)
    }

    /// Whether hidden (dot) entries were asked for (`-a` or `-A`).
    pub fn shows_hidden(&self) -> bool {
        self.flags.contains(['a', 'A'])
    }
}

/// What an OPTS command sets (RFC 2389).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptsArg {
    /// `OPTS UTF8 ON|OFF` (RFC 2640; UTF-8 is always on here, OFF is accepted for old clients).
    Utf8(bool),
    /// `OPTS HASH` queries the selected algorithm; `OPTS HASH NAME` selects one.
    Hash(Option<HashAlgorithm>),
    /// `OPTS MLST fact;fact;...` selects the facts MLST/MLSD report (lowercased; may be empty).
    Mlst(Vec<String>),
}

/// A SITE subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    /// `SITE QUOTA`: the user's usage and limit.
    Quota,
    /// `SITE HELP`: the SITE subcommands offered.
    Help,
}

/// Parses a TYPE argument.
pub(super) fn parse_type(verb: &'static str, arg: &str) -> Result<TransferType, ParseError> {
    let words: Vec<String> = arg
        .split_ascii_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] => Ok(TransferType::Image),
        ["A", "T" | "C"] | ["E"] | ["E", _] | ["L", _] => Err(ParseError::UnsupportedParameter {
            verb,
            parameter: arg.trim().to_string(),
        }),
        [] => Err(ParseError::MissingArgument { verb }),
        _ => Err(ParseError::InvalidArgument {
            verb,
            reason: format!("unknown type {:?}", arg.trim()),
        }),
    }
}

/// Parses a MODE argument.
pub(super) fn parse_mode(verb: &'static str, arg: &str) -> Result<TransferMode, ParseError> {
    match arg.trim().to_ascii_uppercase().as_str() {
        "S" => Ok(TransferMode::Stream),
        "B" | "C" | "Z" => Err(ParseError::UnsupportedParameter {
            verb,
            parameter: arg.trim().to_string(),
        }),
        "" => Err(ParseError::MissingArgument { verb }),
        _ => Err(ParseError::InvalidArgument {
            verb,
            reason: format!("unknown mode {:?}", arg.trim()),
        }),
    }
}

/// Parses a STRU argument.
pub(super) fn parse_stru(verb: &'static str, arg: &str) -> Result<FileStructure, ParseError> {
    match arg.trim().to_ascii_uppercase().as_str() {
        "F" => Ok(FileStructure::File),
        "R" | "P" => Err(ParseError::UnsupportedParameter {
            verb,
            parameter: arg.trim().to_string(),
        }),
        "" => Err(ParseError::MissingArgument { verb }),
        _ => Err(ParseError::InvalidArgument {
            verb,
            reason: format!("unknown structure {:?}", arg.trim()),
        }),
    }
}

/// Parses a PROT argument.
pub(super) fn parse_prot(verb: &'static str, arg: &str) -> Result<ProtectionLevel, ParseError> {
    match arg.trim().to_ascii_uppercase().as_str() {
        "C" => Ok(ProtectionLevel::Clear),
        "S" => Ok(ProtectionLevel::Safe),
        "E" => Ok(ProtectionLevel::Confidential),
        "P" => Ok(ProtectionLevel::Private),
        "" => Err(ParseError::MissingArgument { verb }),
        _ => Err(ParseError::UnsupportedParameter {
            verb,
            parameter: arg.trim().to_string(),
        }),
    }
}

/// Splits LIST/NLST options (`-la`, `-a -l`) from the path that follows them.
///
/// Only leading words that start with `-` count as options, so `LIST my-file` keeps its name.
pub(super) fn parse_list(arg: &str) -> ListArgs {
    let mut flags = String::new();
    let mut rest = arg;
    while let Some(options) = rest.strip_prefix('-') {
        let (word, after) = options.split_once(' ').unwrap_or((options, ""));
        flags.push_str(word);
        rest = after.trim_start_matches(' ');
    }
    ListArgs {
        flags,
        path: (!rest.is_empty()).then(|| rest.to_string()),
    }
}

/// Parses an OPTS argument.
pub(super) fn parse_opts(verb: &'static str, arg: &str) -> Result<OptsArg, ParseError> {
    let arg = arg.trim();
    if arg.is_empty() {
        return Err(ParseError::MissingArgument { verb });
    }
    let (name, value) = arg.split_once(' ').unwrap_or((arg, ""));
    let value = value.trim();
    match name.to_ascii_uppercase().as_str() {
        "UTF8" | "UTF-8" => match value.to_ascii_uppercase().as_str() {
            "ON" | "" => Ok(OptsArg::Utf8(true)),
            "OFF" => Ok(OptsArg::Utf8(false)),
            _ => Err(ParseError::InvalidArgument {
                verb,
                reason: "expected OPTS UTF8 ON or OFF".to_string(),
            }),
        },
        "HASH" if value.is_empty() => Ok(OptsArg::Hash(None)),
        "HASH" => value.parse().map(|alg| OptsArg::Hash(Some(alg))).map_err(
            |e: crate::protocol::hash::UnknownHashAlgorithm| ParseError::InvalidArgument {
                verb,
                reason: e.to_string(),
            },
        ),
        "MLST" => Ok(OptsArg::Mlst(
            value
                .split(';')
                .map(|fact| fact.trim().to_ascii_lowercase())
                .filter(|fact| !fact.is_empty())
                .collect(),
        )),
        _ => Err(ParseError::InvalidArgument {
            verb,
            reason: format!("unknown option {name:?}"),
        }),
    }
}

/// Parses a SITE argument.
pub(super) fn parse_site(verb: &'static str, arg: &str) -> Result<SiteCommand, ParseError> {
    let name = arg.split_ascii_whitespace().next().unwrap_or("");
    match name.to_ascii_uppercase().as_str() {
        "QUOTA" => Ok(SiteCommand::Quota),
        "HELP" => Ok(SiteCommand::Help),
        "" => Err(ParseError::MissingArgument { verb }),
        _ => Err(ParseError::UnknownSiteCommand {
            name: name.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_accepts_ascii_image_and_local_8() {
        for (arg, expected) in [
            ("A", TransferType::Ascii),
            ("a n", TransferType::Ascii),
            ("I", TransferType::Image),
            ("i", TransferType::Image),
            ("L 8", TransferType::Image),
        ] {
            assert_eq!(parse_type("TYPE", arg), Ok(expected), "{arg}");
        }
    }

    #[test]
    fn type_distinguishes_unsupported_from_malformed() {
        for arg in ["E", "A T", "L 7"] {
            assert!(matches!(
                parse_type("TYPE", arg),
                Err(ParseError::UnsupportedParameter { .. })
            ));
        }
        assert!(matches!(
            parse_type("TYPE", "X"),
            Err(ParseError::InvalidArgument { .. })
        ));
        assert!(matches!(
            parse_type("TYPE", "A N X"),
            Err(ParseError::InvalidArgument { .. })
        ));
        assert!(matches!(
            parse_type("TYPE", ""),
            Err(ParseError::MissingArgument { .. })
        ));
    }

    #[test]
    fn mode_stru_and_prot_parse() {
        assert_eq!(parse_mode("MODE", "s"), Ok(TransferMode::Stream));
        assert!(matches!(
            parse_mode("MODE", "B"),
            Err(ParseError::UnsupportedParameter { .. })
        ));
        assert_eq!(parse_stru("STRU", "F"), Ok(FileStructure::File));
        assert!(matches!(
            parse_stru("STRU", "Q"),
            Err(ParseError::InvalidArgument { .. })
        ));
        assert_eq!(parse_prot("PROT", "p"), Ok(ProtectionLevel::Private));
        assert!(matches!(
            parse_prot("PROT", "X"),
            Err(ParseError::UnsupportedParameter { .. })
        ));
    }

    #[test]
    fn list_options_are_stripped_from_the_path() {
        assert_eq!(parse_list(""), ListArgs::default());
        let args = parse_list("-la");
        assert_eq!((args.flags.as_str(), args.path), ("la", None));
        let args = parse_list("-a -l  my dir/sub");
        assert_eq!(args.flags, "al");
        assert_eq!(args.path.as_deref(), Some("my dir/sub"));
        assert!(args.shows_hidden());
        let args = parse_list("my-file -x");
        assert_eq!(args.flags, "");
        assert_eq!(args.path.as_deref(), Some("my-file -x"));
        assert!(!args.shows_hidden());
    }

    #[test]
    fn opts_forms() {
        assert_eq!(parse_opts("OPTS", "UTF8 ON"), Ok(OptsArg::Utf8(true)));
        assert_eq!(parse_opts("OPTS", "utf8 off"), Ok(OptsArg::Utf8(false)));
        assert_eq!(parse_opts("OPTS", "HASH"), Ok(OptsArg::Hash(None)));
        assert_eq!(
            parse_opts("OPTS", "HASH sha-512"),
            Ok(OptsArg::Hash(Some(HashAlgorithm::Sha512)))
        );
        assert!(matches!(
            parse_opts("OPTS", "HASH CRC32"),
            Err(ParseError::InvalidArgument { .. })
        ));
        assert_eq!(
            parse_opts("OPTS", "MLST type;Size;;modify;"),
            Ok(OptsArg::Mlst(vec![
                "type".into(),
                "size".into(),
                "modify".into()
            ]))
        );
        assert_eq!(parse_opts("OPTS", "MLST"), Ok(OptsArg::Mlst(vec![])));
        assert!(matches!(
            parse_opts("OPTS", "FOO bar"),
            Err(ParseError::InvalidArgument { .. })
        ));
        assert!(matches!(
            parse_opts("OPTS", " "),
            Err(ParseError::MissingArgument { .. })
        ));
    }

    #[test]
    fn site_subcommands() {
        assert_eq!(parse_site("SITE", "quota"), Ok(SiteCommand::Quota));
        assert_eq!(parse_site("SITE", "HELP"), Ok(SiteCommand::Help));
        assert!(matches!(
            parse_site("SITE", "CHMOD 777 x"),
            Err(ParseError::UnknownSiteCommand { .. })
        ));
        assert!(matches!(
            parse_site("SITE", ""),
            Err(ParseError::MissingArgument { .. })
        ));
    }
}
