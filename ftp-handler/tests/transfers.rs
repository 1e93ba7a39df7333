//! Transfer commands beyond STOR/RETR, over raw connections: STOU, OPTS MLST, STAT with a path,
//! STAT during a transfer, TYPE A.

mod support;

use std::io::{Read, Write};

use support::raw::Raw;
use support::{Daemon, MODES};

#[test]
fn stou_stores_under_a_fresh_name_and_reports_it() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        std::fs::write(daemon.home("alice").join("report.txt"), b"old").unwrap();
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let mut data = raw.epsv(daemon.addr);
        let opening = raw.cmd("STOU report.txt");
        assert_eq!(opening.code, 150, "{mode}: {opening:?}");
        let name = opening.lines[0]
            .strip_prefix("150 FILE: ")
            .expect("RFC 1123 150 FILE: name")
            .to_string();
        assert_ne!(name, "report.txt", "{mode}: STOU overwrote");
        data.write_all(b"new").unwrap();
        drop(data);
        let done = raw.reply();
        assert_eq!(done.code, 226, "{mode}: {done:?}");
        assert!(done.lines[0].contains(&name), "{mode}: {done:?}");
        let home = daemon.home("alice");
        assert_eq!(std::fs::read(home.join("report.txt")).unwrap(), b"old");
        assert_eq!(std::fs::read(home.join(&name)).unwrap(), b"new");
    }
}

#[test]
fn opts_mlst_selects_the_facts_and_stat_lists_on_the_control_connection() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    std::fs::write(daemon.home("alice").join("f.txt"), b"12345").unwrap();
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    assert_eq!(
        raw.cmd("OPTS MLST size;type;").lines[0],
        "200 MLST OPTS type;size;"
    );
    let mlst = raw.cmd("MLST f.txt");
    assert_eq!(mlst.lines[1], " type=file;size=5; /f.txt", "{mlst:?}");
    assert!(
        raw.cmd("FEAT")
            .text()
            .contains("MLST type*;size*;modify;perm;unique;")
    );
    let mut data = raw.epsv(daemon.addr);
    assert_eq!(raw.cmd("MLSD").code, 150);
    let mut listing = String::new();
    data.read_to_string(&mut listing).unwrap();
    assert_eq!(listing, "type=file;size=5; f.txt\r\n");
    assert_eq!(raw.reply().code, 226);
    let stat = raw.cmd("STAT -la /");
    assert_eq!(stat.code, 213, "{stat:?}");
    assert!(
        stat.lines[1].starts_with("-rw") && stat.lines[1].ends_with(" f.txt"),
        "{stat:?}"
    );
    assert!(stat.lines.last().unwrap().starts_with("213 "));
}

#[test]
fn stat_during_a_download_reports_progress_and_the_transfer_completes() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    let big = support::random_bytes(16 << 20, 9);
    std::fs::write(daemon.home("alice").join("big.bin"), &big).unwrap();
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    let mut data = raw.epsv(daemon.addr);
    assert_eq!(raw.cmd("RETR big.bin").code, 150);
    let mut first = vec![0u8; 1 << 20];
    data.read_exact(&mut first).unwrap();
    let status = raw.cmd("STAT");
    assert_eq!(status.code, 213, "{status:?}");
    assert!(status.lines[0].contains("bytes so far"), "{status:?}");
    // A command other than ABOR/STAT waits for the transfer's own reply.
    raw.send_bytes(b"NOOP\r\n");
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    first.extend(rest);
    assert!(first == big, "downloaded bytes differ");
    assert_eq!(raw.reply().code, 226);
    assert_eq!(
        raw.reply().code,
        200,
        "the queued NOOP runs after the transfer"
    );
}

#[test]
fn type_a_converts_line_ends_both_ways() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(raw.cmd("TYPE A").code, 200);
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("STOR t.txt").code, 150);
        data.write_all(b"a\r\nb\r\n").unwrap();
        drop(data);
        assert_eq!(raw.reply().code, 226);
        assert_eq!(
            std::fs::read(daemon.home("alice").join("t.txt")).unwrap(),
            b"a\nb\n"
        );
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("RETR t.txt").code, 150);
        let mut wire = Vec::new();
        data.read_to_end(&mut wire).unwrap();
        assert_eq!(wire, b"a\r\nb\r\n", "{mode}");
        assert_eq!(raw.reply().code, 226);
    }
}

#[test]
fn xferlog_gets_one_line_per_file_transfer_in_every_mode() {
    for mode in MODES {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("xferlog");
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[("WHARF_FTPD__LOG__XFERLOG", log.to_str().unwrap())],
        );
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("STOR my file.bin").code, 150);
        data.write_all(&[7u8; 1000]).unwrap();
        drop(data);
        assert_eq!(raw.reply().code, 226);
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("RETR my file.bin").code, 150);
        let mut back = Vec::new();
        data.read_to_end(&mut back).unwrap();
        assert_eq!(raw.reply().code, 226);
        // Listings are not file transfers.
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("LIST").code, 150);
        data.read_to_end(&mut Vec::new()).unwrap();
        assert_eq!(raw.reply().code, 226);
        raw.cmd("QUIT");
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split(' ').filter(|f| !f.is_empty()).collect())
            .collect();
        assert_eq!(lines.len(), 2, "{mode}: {text}");
        for (fields, direction) in lines.iter().zip(["i", "o"]) {
            assert_eq!(fields.len(), 18, "{mode}: {fields:?}");
            assert_eq!(fields[6], "127.0.0.1");
            assert_eq!((fields[7], fields[8]), ("1000", "/my_file.bin"), "{mode}");
            assert_eq!(
                (fields[11], fields[13], fields[17]),
                (direction, "alice", "c")
            );
        }
    }
}

#[test]
fn ipv6_control_connections_use_epsv_and_eprt() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("this test needs IPv6 on the loopback interface (::1)");
    }
    for mode in MODES {
        let daemon =
            Daemon::start_with(mode, &[("alice", "secret")], &["--listen", "[::1]:0"], &[]);
        let v6 = daemon
            .listen_addrs(2)
            .into_iter()
            .find(std::net::SocketAddr::is_ipv6)
            .expect("an IPv6 listener");
        std::fs::write(daemon.home("alice").join("f.bin"), b"over ipv6").unwrap();
        let mut raw = Raw::login(v6, "alice", "secret");
        assert_eq!(
            raw.cmd("PASV").code,
            425,
            "{mode}: PASV cannot say an IPv6 address"
        );
        assert_eq!(raw.cmd("EPSV 1").code, 522, "{mode}");
        let mut data = raw.epsv(v6);
        assert_eq!(raw.cmd("RETR f.bin").code, 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"over ipv6");
        assert_eq!(raw.reply().code, 226);
        let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(raw.cmd(&format!("EPRT |2|::1|{port}|")).code, 200, "{mode}");
        assert_eq!(raw.cmd("RETR f.bin").code, 150);
        let (mut data, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"over ipv6");
        assert_eq!(raw.reply().code, 226);
    }
}

#[test]
fn rest_is_cancelled_by_unrelated_commands() {
    let daemon = Daemon::start("async", &[("alice", "secret")]);
    std::fs::write(daemon.home("alice").join("f.txt"), b"0123456789").unwrap();
    let mut raw = Raw::login(daemon.addr, "alice", "secret");
    assert_eq!(raw.cmd("REST 4").code, 350);
    assert_eq!(raw.cmd("TYPE I").code, 200);
    let mut data = raw.epsv(daemon.addr);
    assert_eq!(raw.cmd("RETR f.txt").code, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"456789", "REST survives TYPE and EPSV");
    assert_eq!(raw.reply().code, 226);
    assert_eq!(raw.cmd("REST 4").code, 350);
    assert_eq!(raw.cmd("PWD").code, 257);
    let mut data = raw.epsv(daemon.addr);
    assert_eq!(raw.cmd("RETR f.txt").code, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"0123456789", "PWD cancelled the REST");
    assert_eq!(raw.reply().code, 226);
}
