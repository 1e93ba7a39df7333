//! The daemon's protocol behaviour over raw control connections, in every concurrency mode:
//! reply codes, the jail against hostile paths, user isolation, limits, ABOR.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::raw::Raw;
use support::{Daemon, MODES, tree};

#[test]
fn bad_logins_unknown_commands_and_long_lines_get_their_codes() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let (mut raw, greeting) = Raw::connect(daemon.addr);
        assert_eq!(greeting.code, 220);
        assert_eq!(raw.cmd("PWD").code, 530, "{mode}: PWD before login");
        assert_eq!(raw.cmd("USER nobody").code, 331, "{mode}");
        assert_eq!(raw.cmd("PASS secret").code, 530, "{mode}: unknown user");
        assert_eq!(raw.cmd("USER alice").code, 331, "{mode}");
        assert_eq!(raw.cmd("PASS wrong").code, 530, "{mode}: wrong password");
        assert_eq!(raw.cmd("USER alice").code, 331);
        assert_eq!(raw.cmd("PASS secret").code, 230, "{mode}: good login");
        assert_eq!(raw.cmd("FROB x").code, 500, "{mode}");
        assert_eq!(raw.cmd("REIN").code, 502, "{mode}");
        assert_eq!(raw.cmd("RETR").code, 501, "{mode}");
        assert_eq!(raw.cmd("TYPE E").code, 504, "{mode}");
        assert_eq!(raw.cmd("REST x").code, 501, "{mode}");
        let long = format!("STOR {}", "a".repeat(100_000));
        assert_eq!(raw.cmd(&long).code, 500, "{mode}: over-long line");
        raw.send_bytes(b"CWD \xc3\x28\r\n");
        assert_eq!(raw.reply().code, 500, "{mode}: non-UTF-8 line");
        assert_eq!(raw.cmd("NOOP").code, 200, "{mode}: session still alive");
        assert_eq!(raw.cmd("SYST").code, 215);
        let feat = raw.cmd("FEAT");
        assert_eq!(feat.code, 211);
        for feature in [
            "UTF8",
            "EPSV",
            "REST STREAM",
            "MLST type",
            "HASH SHA-256*",
            "SIZE",
            "MDTM",
        ] {
            assert!(
                feat.text().contains(feature),
                "{mode}: FEAT lacks {feature}: {feat:?}"
            );
        }
        assert_eq!(raw.cmd("QUIT").code, 221);
        assert!(raw.is_closed());
    }
}

#[test]
fn three_failed_logins_close_the_connection() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    let (mut raw, _) = Raw::connect(daemon.addr);
    for _ in 0..2 {
        raw.cmd("USER alice");
        assert_eq!(raw.cmd("PASS nope").code, 530);
    }
    raw.cmd("USER alice");
    assert_eq!(raw.cmd("PASS nope").code, 530);
    assert_eq!(raw.reply().code, 421);
    assert!(raw.is_closed());
}

#[test]
fn navigation_and_file_commands_round_trip() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(
            raw.cmd("PWD").lines[0],
            "257 \"/\" is the current directory."
        );
        let mkd = raw.cmd("MKD dir \"q\" é");
        assert_eq!(mkd.code, 257, "{mode}: {mkd:?}");
        assert!(mkd.lines[0].contains("\"/dir \"\"q\"\" é\""), "{mkd:?}");
        assert_eq!(raw.cmd("CWD dir \"q\" é").code, 250);
        assert_eq!(
            raw.cmd("PWD").lines[0],
            "257 \"/dir \"\"q\"\" é\" is the current directory."
        );
        assert_eq!(raw.cmd("CDUP").code, 250);
        assert_eq!(
            raw.cmd("PWD").lines[0],
            "257 \"/\" is the current directory."
        );
        std::fs::write(daemon.home("alice").join("f.txt"), b"hello").unwrap();
        assert_eq!(raw.cmd("SIZE f.txt").lines[0], "213 5");
        let mdtm = raw.cmd("MDTM f.txt");
        assert_eq!((mdtm.code, mdtm.lines[0].len()), (213, 18), "{mdtm:?}");
        assert_eq!(raw.cmd("RNTO g.txt").code, 503, "{mode}: RNTO without RNFR");
        assert_eq!(raw.cmd("RNFR f.txt").code, 350);
        assert_eq!(raw.cmd("RNTO g.txt").code, 250);
        assert!(daemon.home("alice").join("g.txt").exists());
        assert_eq!(raw.cmd("DELE f.txt").code, 550, "{mode}: renamed away");
        assert_eq!(raw.cmd("DELE g.txt").code, 250);
        assert_eq!(raw.cmd("RMD dir \"q\" é").code, 250);
        assert_eq!(raw.cmd("RMD dir \"q\" é").code, 550);
        let mlst = raw.cmd("MLST /");
        assert_eq!(mlst.code, 250, "{mlst:?}");
        assert!(mlst.lines[1].starts_with(" type=dir;"), "{mlst:?}");
        let site = raw.cmd("SITE QUOTA");
        assert_eq!(site.code, 200, "{site:?}");
        assert!(site.text().contains("Bytes limit: 1073741824"), "{site:?}");
    }
}

#[test]
fn hostile_paths_are_refused_and_nothing_outside_the_home_is_touched() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"top secret").unwrap();
    let before_outside = tree(outside.path());
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret"), ("bob", "hunter2")]);
        let home = daemon.home("alice");
        std::os::unix::fs::symlink("/etc", home.join("etc-link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), home.join("out")).unwrap();
        std::fs::write(daemon.home("bob").join("bob.txt"), b"bob's").unwrap();
        let before_root = tree(daemon.root.path());
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let long_name = "n".repeat(300);
        let table: Vec<(String, &[u16])> = vec![
            ("CWD ../../..".into(), &[250]),
            ("CWD /etc".into(), &[550]),
            ("CWD etc-link".into(), &[550]),
            ("CWD out".into(), &[550]),
            ("SIZE ../bob/bob.txt".into(), &[550]),
            ("SIZE /../../etc/passwd".into(), &[550]),
            ("SIZE etc-link/passwd".into(), &[550]),
            ("SIZE out/secret.txt".into(), &[550]),
            ("MDTM out/secret.txt".into(), &[550]),
            ("HASH out/secret.txt".into(), &[550]),
            ("XSHA256 etc-link/passwd".into(), &[550]),
            ("DELE out/secret.txt".into(), &[550]),
            ("RNFR out/secret.txt".into(), &[550]),
            ("MKD out/new".into(), &[550]),
            ("MKD etc-link/new".into(), &[550]),
            ("RMD out".into(), &[550]),
            ("MLST out/secret.txt".into(), &[550]),
            // The link itself may be listed (as a link); what it points to never is.
            ("STAT out".into(), &[213, 550]),
            (format!("MKD {long_name}"), &[553]),
            (format!("SIZE {long_name}"), &[553]),
            ("SIZE a\0b".into(), &[553]),
            ("MKD a\0b".into(), &[553]),
        ];
        for (line, expected) in &table {
            let reply = raw.cmd(line);
            assert!(
                expected.contains(&reply.code),
                "{mode}: {line:?} got {reply:?}, expected {expected:?}"
            );
            assert!(
                !reply.text().contains("top secret") && !reply.text().contains("root:"),
                "{mode}: {line:?} leaked {reply:?}"
            );
        }
        // `CWD ../../..` stays at the home root.
        assert_eq!(
            raw.cmd("PWD").lines[0],
            "257 \"/\" is the current directory."
        );
        // Transfers through the links are refused before any data connection is used.
        for line in [
            "RETR out/secret.txt",
            "RETR etc-link/passwd",
            "RETR ../bob/bob.txt",
        ] {
            let _data = raw.epsv(daemon.addr);
            let reply = raw.cmd(line);
            assert_eq!(reply.code, 550, "{mode}: {line} got {reply:?}");
        }
        for line in [
            "STOR out/planted.txt",
            "APPE etc-link/planted",
            "STOR ../bob/planted",
        ] {
            let _data = raw.epsv(daemon.addr);
            let reply = raw.cmd(line);
            assert!(
                [550, 553].contains(&reply.code),
                "{mode}: {line} got {reply:?}"
            );
        }
        for line in ["LIST out", "NLST etc-link", "MLSD out", "LIST ../bob"] {
            let mut data = raw.epsv(daemon.addr);
            let reply = raw.cmd(line);
            if reply.code == 150 {
                let mut listing = String::new();
                data.read_to_string(&mut listing).unwrap();
                let end = raw.reply();
                assert!(
                    !listing.contains("secret.txt")
                        && !listing.contains("passwd")
                        && !listing.contains("bob.txt"),
                    "{mode}: {line} revealed {listing:?} ({end:?})"
                );
            } else {
                assert!(
                    [501, 550].contains(&reply.code),
                    "{mode}: {line} got {reply:?}"
                );
            }
        }
        raw.cmd("QUIT");
        let after_root: Vec<String> = tree(daemon.root.path())
            .into_iter()
            .filter(|path| !path.starts_with("state"))
            .collect();
        let before_root: Vec<String> = before_root
            .into_iter()
            .filter(|path| !path.starts_with("state"))
            .collect();
        assert_eq!(after_root, before_root, "{mode}: files changed");
        assert_eq!(
            tree(outside.path()),
            before_outside,
            "{mode}: outside changed"
        );
        assert_eq!(
            std::fs::read(outside.path().join("secret.txt")).unwrap(),
            b"top secret"
        );
    }
}

#[test]
fn two_users_cannot_see_each_others_files() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "a-pass"), ("bob", "b-pass")]);
        std::fs::write(daemon.home("alice").join("alice-only.txt"), b"a").unwrap();
        std::fs::write(daemon.home("bob").join("bob-only.txt"), b"b").unwrap();
        for (user, password, own, other) in [
            ("alice", "a-pass", "alice-only.txt", "bob-only.txt"),
            ("bob", "b-pass", "bob-only.txt", "alice-only.txt"),
        ] {
            let mut raw = Raw::login(daemon.addr, user, password);
            let mut data = raw.epsv(daemon.addr);
            assert_eq!(raw.cmd("NLST -a").code, 150);
            let mut names = String::new();
            data.read_to_string(&mut names).unwrap();
            assert_eq!(raw.reply().code, 226);
            assert_eq!(names, format!("{own}\r\n"), "{mode}: {user} sees {names:?}");
            for path in [
                other.to_string(),
                format!("../{other}"),
                format!("/../{other}"),
            ] {
                assert_eq!(
                    raw.cmd(&format!("SIZE {path}")).code,
                    550,
                    "{mode}: {user} {path}"
                );
            }
            raw.cmd("QUIT");
        }
    }
}

#[test]
fn active_mode_only_connects_back_to_the_control_peer() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(raw.cmd("PORT 10,1,2,3,200,1").code, 500, "{mode}: bounce");
        assert_eq!(
            raw.cmd("EPRT |1|192.0.2.1|40000|").code,
            500,
            "{mode}: bounce"
        );
        assert_eq!(
            raw.cmd("PORT 127,0,0,1,0,25").code,
            500,
            "{mode}: privileged port"
        );
        assert_eq!(raw.cmd("EPRT |3|x|1|").code, 522, "{mode}");
        std::fs::write(daemon.home("alice").join("f.bin"), b"active data").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(raw.cmd(&format!("EPRT |1|127.0.0.1|{port}|")).code, 200);
        let reply = raw.cmd("RETR f.bin");
        assert_eq!(reply.code, 150, "{mode}: {reply:?}");
        assert!(reply.lines[0].contains("(11 bytes)"), "{reply:?}");
        let (mut data, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"active data");
        assert_eq!(raw.reply().code, 226);
    }
}

#[test]
fn transfer_without_data_connection_times_out_with_425() {
    let daemon = Daemon::start_with(
        "async",
        &[("alice", "secret")],
        &[],
        &[("WHARF_FTPD__LIMITS__DATA_ACCEPT_TIMEOUT", "300ms")],
    );
    std::fs::write(daemon.home("alice").join("f.bin"), b"x").unwrap();
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    assert_eq!(raw.cmd("RETR f.bin").code, 425, "no PASV/PORT first");
    assert_eq!(raw.cmd("EPSV").code, 229);
    assert_eq!(raw.cmd("RETR f.bin").code, 425, "nobody connected");
    assert_eq!(raw.cmd("NOOP").code, 200);
}

#[test]
fn abor_stops_a_running_download_and_the_session_goes_on() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let big = support::random_bytes(64 << 20, 7);
        std::fs::write(daemon.home("alice").join("big.bin"), &big).unwrap();
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(raw.cmd("TYPE I").code, 200);
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("RETR big.bin").code, 150);
        let mut first = vec![0u8; 1 << 16];
        data.read_exact(&mut first).unwrap();
        assert_eq!(first, big[..1 << 16]);
        // The client stops reading, so the server is stuck writing when ABOR arrives.
        raw.send_bytes(b"ABOR\r\n");
        let aborted = raw.reply();
        assert!([426, 226].contains(&aborted.code), "{mode}: {aborted:?}");
        if aborted.code == 426 {
            assert_eq!(raw.reply().code, 226, "{mode}");
        }
        drop(data);
        assert_eq!(
            raw.cmd("NOOP").code,
            200,
            "{mode}: session alive after ABOR"
        );
        assert_eq!(raw.cmd("ABOR").code, 226, "{mode}: nothing to abort");
    }
}

#[test]
fn an_interrupted_overwrite_keeps_the_old_content() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let path = daemon.home("alice").join("keep.bin");
        std::fs::write(&path, b"old content").unwrap();
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("STOR keep.bin").code, 150);
        data.write_all(&[b'n'; 100_000]).unwrap();
        raw.send_bytes(b"ABOR\r\n");
        let aborted = raw.reply();
        assert_eq!(aborted.code, 426, "{mode}: {aborted:?}");
        assert_eq!(raw.reply().code, 226);
        drop(data);
        assert_eq!(std::fs::read(&path).unwrap(), b"old content", "{mode}");
        assert_eq!(raw.cmd("NOOP").code, 200);
    }
}

#[test]
fn fifty_sessions_at_once() {
    // Sequential mode serves one connection at a time by definition; it is left out here.
    for mode in ["async", "threading", "forking"] {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        std::fs::write(daemon.home("alice").join("shared.txt"), b"shared").unwrap();
        let sessions: Vec<Raw> = (0..50)
            .map(|_| Raw::login(daemon.addr, "alice", "secret"))
            .collect();
        for (index, mut raw) in sessions.into_iter().enumerate() {
            assert_eq!(
                raw.cmd("SIZE shared.txt").lines[0],
                "213 6",
                "{mode}: session {index}"
            );
            assert_eq!(raw.cmd("QUIT").code, 221);
        }
    }
}

#[test]
fn sessions_over_the_per_address_limit_get_421() {
    let daemon = Daemon::start_with(
        "forking",
        &[("alice", "secret")],
        &[],
        &[("WHARF_FTPD__LIMITS__MAX_SESSIONS_PER_IP", "2")],
    );
    let (_first, greeting) = Raw::connect(daemon.addr);
    assert_eq!(greeting.code, 220);
    let (_second, greeting) = Raw::connect(daemon.addr);
    assert_eq!(greeting.code, 220);
    let (mut third, greeting) = Raw::connect(daemon.addr);
    assert_eq!(greeting.code, 421, "{greeting:?}");
    assert!(third.is_closed());
    drop(_first);
    // The slot frees when the first session's process ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_again, greeting) = Raw::connect(daemon.addr);
        if greeting.code == 220 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}
