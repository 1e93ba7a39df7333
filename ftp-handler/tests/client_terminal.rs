//! What a person at a terminal sees: progress bars under a pseudo-terminal and plain summaries
//! when piped, and the interactive shell driven through a pseudo-terminal.

mod client_support;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use client_support::daemon::Ftpd;
use client_support::proxy::Proxy;
use client_support::{
    PyFtpd, client, drive, file_sha256, random_bytes, run, sha256_hex, under_script, url_for,
};

#[test]
fn a_progress_bar_is_drawn_on_a_terminal() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let data = random_bytes(2 << 20, 31);
    std::fs::write(daemon.home().join("big.bin"), &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = url_for(daemon.addr, "big.bin");
    let shown = under_script(
        work.path(),
        work.path(),
        &["--limit-rate", "4M", "get", &url, "copy.bin"],
    )
    .expect(0);
    // Bytes done/total, rate and ETA, redrawn in place.
    assert!(shown.stdout.contains("2.00 MiB/2.00 MiB"), "{shown:#?}");
    assert!(shown.stdout.contains("MiB/s ETA"), "{shown:#?}");
    assert!(shown.stdout.contains("big.bin [="), "{shown:#?}");
    assert!(shown.stdout.contains("verified: SHA-256"), "{shown:#?}");
    assert_eq!(
        file_sha256(&work.path().join("copy.bin")),
        sha256_hex(&data)
    );

    let up = under_script(
        work.path(),
        work.path(),
        &["put", "copy.bin", &url_for(daemon.addr, "up.bin")],
    )
    .expect(0);
    assert!(up.stdout.contains("MiB/s ETA"), "{up:#?}");
}

#[test]
fn piped_output_gets_one_line_summaries_and_no_bar() {
    let daemon = Ftpd::start(1 << 30, &[]);
    std::fs::write(daemon.home().join("big.bin"), random_bytes(2 << 20, 32)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut get = client(work.path(), work.path());
    get.args(["get", &url_for(daemon.addr, "big.bin")]);
    let get = run(get).expect(0);
    assert!(!get.stderr.contains("ETA"), "{get:#?}");
    assert!(
        !get.stderr.contains('\u{1b}'),
        "no terminal escapes: {get:#?}"
    );
    let lines: Vec<&str> = get.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{get:#?}");
    assert!(
        lines[0].starts_with("got big.bin -> big.bin: 2097152 bytes in "),
        "{get:#?}"
    );
    assert!(lines[1].starts_with("verified: SHA-256 "), "{get:#?}");
}

#[test]
fn no_progress_keeps_a_terminal_free_of_bars() {
    let daemon = Ftpd::start(1 << 30, &[]);
    std::fs::write(daemon.home().join("a.bin"), random_bytes(100_000, 33)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let url = url_for(daemon.addr, "a.bin");
    let shown = under_script(work.path(), work.path(), &["--no-progress", "get", &url]).expect(0);
    assert!(!shown.stdout.contains("ETA"), "{shown:#?}");
    assert!(
        shown.stdout.contains("got a.bin -> a.bin: 100000 bytes"),
        "{shown:#?}"
    );
}

#[test]
fn a_shell_session_on_a_terminal_changes_directory_lists_and_transfers() {
    let daemon = Ftpd::start(1 << 30, &[]);
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let data = random_bytes(1 << 20, 34);
    std::fs::write(work.path().join("report 2026.bin"), &data).unwrap();
    let session = drive(
        work.path(),
        home.path(),
        &[
            ("Password for alice@", Some("secret")),
            ("Transfers are verified with HASH SHA-256.", None),
            ("wharf-ftp:/> ", Some("mkdir docs")),
            ("wharf-ftp:/> ", Some("cd docs")),
            ("wharf-ftp:/docs> ", Some("put \"report 2026.bin\"")),
            ("verified: SHA-256", None),
            ("wharf-ftp:/docs> ", Some("ls")),
            ("report 2026.bin", None),
            ("wharf-ftp:/docs> ", Some("mv \"report 2026.bin\" r.bin")),
            ("wharf-ftp:/docs> ", Some("get r.bin copy.bin")),
            ("verified: SHA-256", None),
            ("wharf-ftp:/docs> ", Some("hash r.bin copy.bin")),
            ("matches copy.bin", None),
            ("wharf-ftp:/docs> ", Some("cd nowhere")),
            ("error: CWD nowhere: 550", None),
            ("wharf-ftp:/docs> ", Some("frobnicate")),
            ("unknown command \"frobnicate\"", None),
            ("wharf-ftp:/docs> ", Some("pwd")),
            ("/docs", None),
            ("wharf-ftp:/docs> ", Some("quota")),
            ("Bytes used: 1048576", None),
            ("wharf-ftp:/docs> ", Some("help")),
            ("SITE QUOTA", None),
            ("wharf-ftp:/docs> ", Some("rm r.bin")),
            ("wharf-ftp:/docs> ", Some("cd ..")),
            ("wharf-ftp:/> ", Some("rmdir docs")),
            ("wharf-ftp:/> ", Some("quit")),
        ],
        &[&url_for(daemon.addr, "")],
    )
    .expect(0);
    // The password typed at the prompt is not echoed.
    assert!(!session.stdout.contains("secret"), "{session:#?}");
    // The transfers drew bars on the terminal.
    assert!(session.stdout.contains("ETA"), "{session:#?}");
    assert_eq!(
        file_sha256(&work.path().join("copy.bin")),
        sha256_hex(&data)
    );
    assert!(!daemon.home().join("docs").exists(), "rmdir did not run");
    // The history survives for the next session.
    let history = std::fs::read_to_string(home.path().join(".wharf_ftp_history")).unwrap();
    assert!(
        history.contains("mkdir docs") && history.contains("quota"),
        "{history}"
    );
}

#[test]
fn the_shell_opens_in_the_urls_directory_and_against_pyftpdlib() {
    let server = PyFtpd::start(&[]);
    std::fs::create_dir(server.root.path().join("pub")).unwrap();
    std::fs::write(server.root.path().join("pub/readme.txt"), b"hello\n").unwrap();
    let work = tempfile::tempdir().unwrap();
    let session = drive(
        work.path(),
        work.path(),
        &[
            ("Password for alice@", Some("secret")),
            ("transfers may be reported as unverified", None),
            ("wharf-ftp:/pub> ", Some("get readme.txt")),
            ("unverified: the server offers no HASH", None),
            ("wharf-ftp:/pub> ", Some("exit")),
        ],
        &[&url_for(server.addr, "pub")],
    )
    .expect(0);
    assert!(!session.stdout.contains("secret"), "{session:#?}");
    assert_eq!(
        std::fs::read(work.path().join("readme.txt")).unwrap(),
        b"hello\n"
    );
}

#[test]
fn the_shell_reads_commands_from_a_pipe_and_reconnects_after_a_network_failure() {
    let work = tempfile::tempdir().unwrap();
    let daemon = Ftpd::start(1 << 30, &[]);
    std::fs::create_dir(daemon.home().join("docs")).unwrap();
    std::fs::write(daemon.home().join("docs/one.txt"), b"1").unwrap();
    let proxy = Proxy::start(daemon.addr);
    let mut shell = client(work.path(), work.path());
    shell
        .stdin(Stdio::piped())
        .env("WHARF_FTP_HISTORY", "")
        .arg(url_for(proxy.addr, "docs"));
    let mut child = shell.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let output = lines_of(child.stdout.take().unwrap());
    let errors = lines_of(child.stderr.take().unwrap());
    writeln!(input, "ls").unwrap();
    wait_for(&output, "one.txt");

    // The network drops the control connection; the next command fails and says so...
    proxy.cut();
    writeln!(input, "ls").unwrap();
    wait_for(&errors, "connection lost");
    wait_for(&errors, "re-established by the next command");
    // ...and the one after logs in again, back in the same directory.
    std::fs::write(daemon.home().join("docs/two.txt"), b"2").unwrap();
    writeln!(input, "ls").unwrap();
    wait_for(&output, "two.txt");
    writeln!(input, "quit").unwrap();
    drop(input);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// Lines of a pipe, as they come.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    receive
}

/// Waits (at most 30 s) for a line containing `text`.
fn wait_for(lines: &mpsc::Receiver<String>, text: &str) {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => continue,
            Err(_) => panic!("never saw {text:?}"),
        }
    }
}
