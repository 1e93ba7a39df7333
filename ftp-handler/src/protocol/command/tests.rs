//! Unit tests of control-line parsing.

use super::*;

/// The reply code a line gets when it does not parse.
fn error_code(line: &str) -> u16 {
    Command::parse(line)
        .expect_err(line)
        .reply()
        .code()
        .as_u16()
}

#[test]
fn verbs_are_case_insensitive() {
    for line in ["noop", "NOOP", "NoOp"] {
        assert_eq!(Command::parse(line), Ok(Command::Noop));
    }
    assert_eq!(Command::parse("cwd /x"), Ok(Command::Cwd("/x".into())));
}

#[test]
fn path_arguments_are_byte_exact() {
    assert_eq!(
        Command::parse("RETR  été/mon fichier.txt "),
        Ok(Command::Retr(" été/mon fichier.txt ".into()))
    );
    assert_eq!(
        Command::parse("STOR a\rb"),
        Ok(Command::Stor("a\rb".into()))
    );
    assert_eq!(
        Command::parse("MKD \"quoted\" dir"),
        Ok(Command::Mkd("\"quoted\" dir".into()))
    );
}

#[test]
fn x_aliases_map_to_the_rfc_959_commands() {
    assert_eq!(Command::parse("XPWD"), Ok(Command::Pwd));
    assert_eq!(Command::parse("XCUP"), Ok(Command::Cdup));
    assert_eq!(Command::parse("XMKD d"), Ok(Command::Mkd("d".into())));
    assert_eq!(Command::parse("XRMD d"), Ok(Command::Rmd("d".into())));
    assert_eq!(Command::parse("XCWD d"), Ok(Command::Cwd("d".into())));
}

#[test]
fn every_command_of_the_scope_parses() {
    let cases: Vec<(&str, Command)> = vec![
        ("USER bob", Command::User("bob".into())),
        ("PASS s3cret", Command::Pass(Password::new("s3cret"))),
        ("PASS", Command::Pass(Password::new(""))),
        ("ACCT x", Command::Acct("x".into())),
        ("CDUP", Command::Cdup),
        ("PWD", Command::Pwd),
        ("DELE f", Command::Dele("f".into())),
        ("RNFR a", Command::Rnfr("a".into())),
        ("RNTO b", Command::Rnto("b".into())),
        ("STOU", Command::Stou(None)),
        ("STOU x", Command::Stou(Some("x".into()))),
        ("APPE f", Command::Appe("f".into())),
        ("LIST", Command::List(ListArgs::default())),
        (
            "NLST -a sub",
            Command::Nlst(ListArgs {
                flags: "a".into(),
                path: Some("sub".into()),
            }),
        ),
        ("MLSD", Command::Mlsd(None)),
        ("MLST f", Command::Mlst(Some("f".into()))),
        ("TYPE A", Command::Type(TransferType::Ascii)),
        ("TYPE A N", Command::Type(TransferType::Ascii)),
        ("TYPE I", Command::Type(TransferType::Image)),
        ("TYPE L 8", Command::Type(TransferType::Image)),
        ("MODE S", Command::Mode(TransferMode::Stream)),
        ("STRU F", Command::Stru(FileStructure::File)),
        (
            "PORT 127,0,0,1,200,10",
            Command::Port("127.0.0.1:51210".parse().unwrap()),
        ),
        ("PASV", Command::Pasv),
        ("EPSV", Command::Epsv(EpsvArg::Any)),
        ("EPSV ALL", Command::Epsv(EpsvArg::All)),
        (
            "EPRT |2|::1|4000|",
            Command::Eprt("[::1]:4000".parse().unwrap()),
        ),
        ("REST 1048576", Command::Rest(1_048_576)),
        ("ABOR", Command::Abor),
        ("SYST", Command::Syst),
        ("STAT", Command::Stat(None)),
        ("STAT -l d", Command::Stat(Some("-l d".into()))),
        ("HELP", Command::Help(None)),
        ("HELP SITE", Command::Help(Some("SITE".into()))),
        ("QUIT", Command::Quit),
        ("ALLO 1000", Command::Allo(Some(1000))),
        ("ALLO 1000 R 10", Command::Allo(Some(1000))),
        ("ALLO", Command::Allo(None)),
        ("FEAT", Command::Feat),
        ("OPTS UTF8 ON", Command::Opts(OptsArg::Utf8(true))),
        (
            "OPTS HASH SHA-512",
            Command::Opts(OptsArg::Hash(Some(HashAlgorithm::Sha512))),
        ),
        ("SIZE f", Command::Size("f".into())),
        ("MDTM f", Command::Mdtm("f".into())),
        ("HASH f", Command::Hash("f".into())),
        (
            "XSHA256 f",
            Command::LegacyHash {
                algorithm: HashAlgorithm::Sha256,
                path: "f".into(),
            },
        ),
        (
            "XSHA512 f",
            Command::LegacyHash {
                algorithm: HashAlgorithm::Sha512,
                path: "f".into(),
            },
        ),
        (
            "XSHA1 f",
            Command::LegacyHash {
                algorithm: HashAlgorithm::Sha1,
                path: "f".into(),
            },
        ),
        (
            "XMD5 f",
            Command::LegacyHash {
                algorithm: HashAlgorithm::Md5,
                path: "f".into(),
            },
        ),
        ("AUTH tls", Command::Auth("TLS".into())),
        ("PBSZ 0", Command::Pbsz(0)),
        ("PROT P", Command::Prot(ProtectionLevel::Private)),
        ("CCC", Command::Ccc),
        ("SITE QUOTA", Command::Site(SiteCommand::Quota)),
        ("SITE HELP", Command::Site(SiteCommand::Help)),
    ];
    for (line, expected) in cases {
        let parsed = Command::parse(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(parsed, expected, "{line:?}");
        let verb = line.split(' ').next().unwrap_or(line);
        assert!(
            SUPPORTED_VERBS.contains(&parsed.verb()) && parsed.verb() == verb.to_uppercase(),
            "{line:?} reports verb {}",
            parsed.verb()
        );
    }
}

#[test]
fn unknown_verbs_get_500_and_known_unimplemented_ones_502() {
    assert_eq!(error_code("FOO bar"), 500);
    assert_eq!(error_code(""), 500);
    assert_eq!(error_code(" NOOP"), 500);
    assert_eq!(error_code("REIN"), 502);
    assert_eq!(error_code("lprt 4,4,1,2,3,4,2,0,21"), 502);
    assert_eq!(error_code("SITE CHMOD 600 f"), 500);
}

#[test]
fn missing_or_bad_arguments_get_501() {
    for line in [
        "USER",
        "CWD",
        "RETR",
        "STOR",
        "DELE",
        "RNFR",
        "SIZE",
        "HASH",
        "XSHA256",
        "PORT",
        "PORT 1,2,3",
        "EPRT",
        "EPRT |1|::1|21|",
        "REST",
        "REST -5",
        "REST 12a",
        "REST 99999999999999999999999",
        "TYPE Z",
        "OPTS",
        "OPTS HASH CRC32",
        "PBSZ x",
        "SITE",
        "ALLO lots",
    ] {
        assert_eq!(error_code(line), 501, "{line:?}");
    }
}

#[test]
fn unsupported_parameters_get_504_and_unknown_network_protocols_522() {
    for line in ["TYPE E", "MODE B", "STRU R", "PROT X", "TYPE L 7"] {
        assert_eq!(error_code(line), 504, "{line:?}");
    }
    assert_eq!(error_code("EPRT |5|x|21|"), 522);
    assert_eq!(error_code("EPSV 7"), 522);
}

#[test]
fn unknown_verb_is_echoed_truncated_and_on_one_line() {
    let long = "X".repeat(400);
    let wire = Command::parse(&long).unwrap_err().reply().to_string();
    assert!(wire.len() < 120, "{wire}");
    let wire = Command::parse("BAD\rVERB").unwrap_err().reply().to_string();
    assert_eq!(wire.matches("\r\n").count(), 1);
    assert!(wire.starts_with("500 "));
}

#[test]
fn debug_form_of_pass_hides_the_password() {
    let command = Command::parse("PASS hunter2").unwrap();
    let shown = format!("{command:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    match command {
        Command::Pass(password) => assert_eq!(password.expose(), "hunter2"),
        other => panic!("parsed as {other:?}"),
    }
}
