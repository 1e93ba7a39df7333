//! Limits and timeouts of a public-facing daemon, each triggered and answered with its code,
//! in every concurrency mode where the behaviour could differ: session limits (421), the idle
//! timeout not counting while a transfer moves, the data accept timeout (425), over-long and
//! garbage lines (500, then 421 for a peer that keeps at it), and a client trickling bytes.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::raw::Raw;
use support::{Daemon, MODES, random_bytes};

#[test]
fn session_limits_answer_421_and_free_their_slot_on_close() {
    // Sequential mode serves one connection at a time: the others wait in the backlog.
    for mode in ["async", "threading", "forking"] {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[
                ("WHARF_FTPD__LIMITS__MAX_SESSIONS", "3"),
                ("WHARF_FTPD__LIMITS__MAX_SESSIONS_PER_IP", "2"),
            ],
        );
        let first = Raw::login(daemon.addr, "alice", "secret");
        let _second = Raw::login(daemon.addr, "alice", "secret");
        let (mut third, greeting) = Raw::connect(daemon.addr);
        assert_eq!(greeting.code, 421, "{mode}: per-address limit {greeting:?}");
        assert!(greeting.text().contains("your address"), "{greeting:?}");
        assert!(third.is_closed());
        // A second address (127.0.0.2 reaches the same loopback listener) takes the last slot.
        let _other = connect_from("127.0.0.2", &daemon);
        let (mut fourth, greeting) = Raw::connect(daemon.addr);
        assert_eq!(greeting.code, 421, "{mode}: server full {greeting:?}");
        assert!(greeting.text().contains("Too many users"), "{greeting:?}");
        assert!(fourth.is_closed());
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (mut again, greeting) = Raw::connect(daemon.addr);
            if greeting.code == 220 {
                assert_eq!(again.cmd("USER alice").code, 331);
                break;
            }
            assert!(Instant::now() < deadline, "{mode}: slot never freed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A control connection from `source` (a loopback address) with the greeting read.
fn connect_from(source: &str, daemon: &Daemon) -> TcpStream {
    let mut stream = support::raw::tcp_from(source, daemon.addr);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut greeting = [0u8; 3];
    stream.read_exact(&mut greeting).expect("greeting");
    assert_eq!(&greeting, b"220");
    stream
}

#[test]
fn idle_timeout_does_not_count_while_a_transfer_moves_then_answers_421() {
    for mode in MODES {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[("WHARF_FTPD__LIMITS__IDLE_TIMEOUT", "1s")],
        );
        // Bigger than the loopback socket buffers, so the server is still sending when the
        // client stops dawdling: the transfer moves from the first byte to the last.
        let payload = random_bytes(48 << 20, 5);
        std::fs::write(daemon.home("alice").join("big.bin"), &payload).unwrap();
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("RETR big.bin").code, 150);
        // Read slowly for well over the idle timeout; the transfer keeps moving.
        let started = Instant::now();
        let mut received = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let count = data.read(&mut chunk).expect("read");
            if count == 0 {
                break;
            }
            received.extend_from_slice(&chunk[..count]);
            if started.elapsed() < Duration::from_millis(2500) {
                std::thread::sleep(Duration::from_millis(80));
            }
        }
        assert!(
            started.elapsed() >= Duration::from_millis(2000),
            "{mode}: too fast to prove anything"
        );
        assert!(received == payload, "{mode}: bytes differ");
        assert_eq!(
            raw.reply().code,
            226,
            "{mode}: transfer cut by the idle timeout"
        );
        assert_eq!(raw.cmd("NOOP").code, 200, "{mode}");
        // Now silent: 421 after about a second.
        let silent = Instant::now();
        let reply = raw.reply();
        assert_eq!(reply.code, 421, "{mode}: {reply:?}");
        assert!(reply.text().contains("Idle timeout"), "{reply:?}");
        assert!(silent.elapsed() >= Duration::from_millis(900), "{mode}");
        assert!(raw.is_closed());
    }
}

#[test]
fn a_data_connection_not_made_in_time_gets_425() {
    for mode in MODES {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[("WHARF_FTPD__LIMITS__DATA_ACCEPT_TIMEOUT", "500ms")],
        );
        std::fs::write(daemon.home("alice").join("f.txt"), b"data").unwrap();
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let reply = raw.cmd("EPSV");
        assert_eq!(reply.code, 229);
        let started = Instant::now();
        let reply = raw.cmd("RETR f.txt");
        assert_eq!(reply.code, 425, "{mode}: {reply:?}");
        assert!(started.elapsed() >= Duration::from_millis(450), "{mode}");
        assert!(started.elapsed() < Duration::from_secs(10), "{mode}");
        assert_eq!(raw.cmd("NOOP").code, 200, "{mode}: session goes on");
    }
}

#[test]
fn a_one_mib_line_gets_500_and_the_session_continues() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        let mut line = b"STOR ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 1 << 20));
        line.extend(b"\r\n");
        raw.send_bytes(&line);
        let reply = raw.reply();
        assert_eq!(reply.code, 500, "{mode}: {reply:?}");
        assert!(reply.text().contains("longer than"), "{reply:?}");
        assert_eq!(raw.cmd("PWD").code, 257, "{mode}: session continues");
        assert!(daemon.home("alice").read_dir().unwrap().next().is_none());
    }
}

#[test]
fn a_peer_that_keeps_sending_garbage_is_cut_with_421() {
    for mode in MODES {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[("WHARF_FTPD__LIMITS__MAX_BAD_COMMANDS", "5")],
        );
        let (mut raw, _) = Raw::connect(daemon.addr);
        for index in 0..4 {
            let reply = raw.cmd(&format!("FROB{index} x"));
            assert_eq!(reply.code, 500, "{mode}: {reply:?}");
        }
        // Known but unimplemented verbs are not garbage.
        assert_eq!(raw.cmd("REIN").code, 502, "{mode}");
        let reply = raw.cmd("\u{1}\u{2}garbage");
        assert_eq!(reply.code, 500, "{mode}: {reply:?}");
        let cut = raw.reply();
        assert_eq!(cut.code, 421, "{mode}: {cut:?}");
        assert!(raw.is_closed(), "{mode}");
    }
}

#[test]
fn random_bytes_on_the_control_channel_neither_crash_nor_stall_the_server() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        for seed in 0..3u64 {
            let mut stream = TcpStream::connect(daemon.addr).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            // Writing may fail once the server has cut the connection: that is fine.
            let _ = stream.write_all(&random_bytes(256 * 1024, seed));
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let mut answers = Vec::new();
            let started = Instant::now();
            let _ = stream.read_to_end(&mut answers);
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{mode}: stalled"
            );
            let text = String::from_utf8_lossy(&answers);
            assert!(text.starts_with("220"), "{mode}: {text}");
        }
        // The server still serves.
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(raw.cmd("NOOP").code, 200, "{mode}");
    }
}

#[test]
fn a_client_trickling_one_byte_a_second_holds_only_its_own_session() {
    for mode in MODES {
        let daemon = Daemon::start_with(
            mode,
            &[("alice", "secret")],
            &[],
            &[("WHARF_FTPD__LIMITS__LOGIN_TIMEOUT", "4s")],
        );
        let mut slow = TcpStream::connect(daemon.addr).expect("connect");
        slow.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let started = Instant::now();
        let trickle = std::thread::spawn(move || {
            let mut answers = Vec::new();
            for byte in b"USER alice\r\n" {
                if slow.write_all(&[*byte]).is_err() {
                    break;
                }
                let deadline = Instant::now() + Duration::from_secs(1);
                while Instant::now() < deadline {
                    let mut buf = [0u8; 512];
                    match slow.read(&mut buf) {
                        Ok(0) => return answers,
                        Ok(count) => answers.extend_from_slice(&buf[..count]),
                        Err(_) => {}
                    }
                }
            }
            answers
        });
        // Another client is served meanwhile (in sequential mode, once the trickler is cut).
        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        assert_eq!(raw.cmd("PWD").code, 257, "{mode}");
        if mode != "sequential" {
            assert!(
                started.elapsed() < Duration::from_millis(3500),
                "{mode}: the trickler held the server"
            );
        }
        let answers = String::from_utf8_lossy(&trickle.join().expect("trickler")).to_string();
        assert!(answers.contains("421"), "{mode}: {answers}");
        assert!(answers.contains("Login timeout"), "{mode}: {answers}");
        assert!(
            started.elapsed() < Duration::from_secs(11),
            "{mode}: trickler not cut in time"
        );
    }
}
