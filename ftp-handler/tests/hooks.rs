//! `[hooks]`: after a scripted ftplib session (a failed login, a login, an upload, a download,
//! a rename, a delete) a real command (a shell script writing its environment to a file) and
//! a real HTTP receiver (a thread here) each get every event with its fields, in async,
//! forking and threading mode; a receiver that fails twice gets the event once, after two counted failed
//! attempts; one that never answers 2xx is given up and counted; a full queue drops and counts;
//! a pre-upload program that refuses leaves nothing written (553 with its reason), one that
//! allows lets the upload through, and one that hangs or cannot start refuses (fail closed);
//! events still queued when the daemon is stopped are delivered before it exits.

mod hooks_support;
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hooks_support::{
    Receiver, config_file, daemon, metrics_text, recorded, recording_command, run_session, sample,
    script, wait_for, wait_sample,
};
use support::tree;

/// The scripted session: a failed login, then login, upload, download, rename, delete. Prints
/// each step's reply as JSON (no `assert`: the test judges).
const SESSION: &str = r#"
import ftplib, io, json, sys
host, port = sys.argv[1], int(sys.argv[2])
steps = {}
def attempt(name, action):
    try:
        steps[name] = str(action())
    except ftplib.all_errors as error:
        steps[name] = "error " + str(error)
one = ftplib.FTP()
one.connect(host, port, timeout=30)
attempt("wrong password", lambda: one.login("alice", "wrong"))
attempt("quit one", one.quit)
two = ftplib.FTP()
two.connect(host, port, timeout=30)
attempt("login", lambda: two.login("alice", "secret"))
attempt("stor", lambda: two.storbinary("STOR up.bin", io.BytesIO(b"u" * 1000)))
got = bytearray()
attempt("retr", lambda: two.retrbinary("RETR up.bin", got.extend))
steps["retr bytes"] = len(got)
attempt("rnfr", lambda: two.sendcmd("RNFR up.bin"))
attempt("rnto", lambda: two.sendcmd("RNTO moved.bin"))
attempt("dele", lambda: two.delete("moved.bin"))
attempt("quit two", two.quit)
print(json.dumps(steps))
"#;

/// Every event of the scripted session reaches both targets with its fields, in order.
fn every_event_reaches_the_command_and_the_webhook(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events");
    let command = recording_command(dir.path(), &out);
    let receiver = Receiver::start(&[]);
    let config = config_file(
        dir.path(),
        &format!(
            "command = {:?}\nwebhook_url = {:?}\nretry_backoff = \"100ms\"\n",
            command.display().to_string(),
            receiver.url()
        ),
    );
    let daemon = daemon(mode, &config);
    let steps = run_session(&daemon, SESSION);
    let step = |name: &str| steps[name].as_str().unwrap_or("").to_string();
    assert!(step("wrong password").starts_with("error 530"), "{steps}");
    assert!(step("login").starts_with("230"), "{steps}");
    assert!(step("stor").starts_with("226"), "{steps}");
    assert_eq!(steps["retr bytes"], 1000, "{steps}");
    assert!(step("rnto").starts_with("250"), "{steps}");
    assert!(step("dele").starts_with("250"), "{steps}");

    let posted = receiver.wait_accepted(6);
    let runs = wait_for(|| {
        let runs = recorded(&out);
        (runs.len() >= 6).then_some(runs)
    })
    .unwrap_or_else(|| panic!("command runs: {:#?}\n{}", recorded(&out), daemon.log_text()));
    assert_eq!(posted.len(), 6, "{posted:#?}");
    assert_eq!(runs.len(), 6, "{runs:#?}");

    // The webhook: one POST of JSON per event, in the order they happened.
    let kinds: Vec<&str> = posted
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        [
            "login_failed",
            "login",
            "upload",
            "download",
            "rename",
            "delete"
        ],
        "{posted:#?}"
    );
    for request in &posted {
        assert_eq!(request.request_line, "POST /events HTTP/1.1");
        assert_eq!(request.content_type, "application/json");
    }
    let event = |kind: &str| {
        posted
            .iter()
            .find(|r| r.body["event"] == kind)
            .map(|r| r.body.clone())
            .unwrap()
    };
    let home = daemon.home("alice").display().to_string();
    let failed = event("login_failed");
    let login = event("login");
    assert_ne!(failed["session"], login["session"], "two sessions");
    assert_eq!(failed["user"], "alice");
    assert_eq!(failed["client_addr"], "127.0.0.1");
    assert!(
        failed.get("home").is_none() && failed.get("path").is_none(),
        "{failed}"
    );
    assert_eq!(login["home"], home.as_str());
    let expected: [(&str, &[(&str, serde_json::Value)]); 5] = [
        ("login", &[]),
        (
            "upload",
            &[("path", "/up.bin".into()), ("size", 1000.into())],
        ),
        (
            "download",
            &[("path", "/up.bin".into()), ("size", 1000.into())],
        ),
        (
            "rename",
            &[("path", "/up.bin".into()), ("to_path", "/moved.bin".into())],
        ),
        ("delete", &[("path", "/moved.bin".into())]),
    ];
    for (kind, fields) in expected {
        let body = event(kind);
        assert_eq!(body["session"], login["session"], "{body}");
        assert_eq!(body["user"], "alice", "{body}");
        assert_eq!(body["client_addr"], "127.0.0.1", "{body}");
        let time = body["time"].as_str().unwrap_or("");
        assert!(time.len() == 20 && time.ends_with('Z'), "{body}");
        for (field, value) in fields {
            assert_eq!(&body[field], value, "{kind}.{field}: {body}");
        }
        let present = body.as_object().unwrap().len();
        assert_eq!(present, 6 + fields.len(), "no other field: {body}");
    }

    // The command: the same events, the same fields as variables, nothing else inherited.
    for body in posted.iter().map(|r| &r.body) {
        let kind = body["event"].as_str().unwrap();
        let run = runs
            .iter()
            .find(|run| run.get("WHARF_EVENT").map(String::as_str) == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} run in {runs:#?}"));
        let mut want = BTreeMap::new();
        for (field, value) in body.as_object().unwrap() {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            want.insert(format!("WHARF_{}", field.to_ascii_uppercase()), value);
        }
        assert_eq!(run, &want, "{kind}: command environment vs webhook JSON");
    }

    let metrics = wait_sample(
        &daemon,
        r#"wharf_ftpd_hook_deliveries_total{target="command",result="ok"}"#,
        6.0,
    );
    for (series, want) in [
        (
            r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="ok"}"#,
            6.0,
        ),
        (
            r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="failed"}"#,
            0.0,
        ),
        (
            r#"wharf_ftpd_hook_deliveries_total{target="command",result="dropped"}"#,
            0.0,
        ),
        (
            r#"wharf_ftpd_hook_failed_attempts_total{target="webhook"}"#,
            0.0,
        ),
    ] {
        assert_eq!(sample(&metrics, series), Some(want), "{series}\n{metrics}");
    }
}

#[test]
fn every_event_reaches_the_command_and_the_webhook_in_async_mode() {
    every_event_reaches_the_command_and_the_webhook("async");
}

#[test]
fn every_event_reaches_the_command_and_the_webhook_in_forking_mode() {
    every_event_reaches_the_command_and_the_webhook("forking");
}

#[test]
fn every_event_reaches_the_command_and_the_webhook_in_threading_mode() {
    every_event_reaches_the_command_and_the_webhook("threading");
}

/// Uploads one small file as alice; returns the reply.
const UPLOAD: &str = r#"
import ftplib, io, json, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login("alice", "secret")
print(json.dumps({"stor": ftp.storbinary("STOR one.bin", io.BytesIO(b"1" * 10))}))
ftp.quit()
"#;

#[test]
fn a_webhook_failing_twice_gets_the_event_once_after_two_counted_failures() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[500, 500]);
    let config = config_file(
        dir.path(),
        &format!(
            "webhook_url = {:?}\nevents = [\"upload\"]\nretries = 3\nretry_backoff = \"200ms\"\n",
            receiver.url()
        ),
    );
    let daemon = daemon("async", &config);
    let started = Instant::now();
    let steps = run_session(&daemon, UPLOAD);
    assert!(
        steps["stor"].as_str().unwrap().starts_with("226"),
        "{steps}"
    );
    let all = receiver.wait_accepted(1);
    // 200 ms, then 400 ms between the attempts.
    assert!(started.elapsed() >= Duration::from_millis(600));
    let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200], "{all:#?}");
    assert!(
        all.iter().all(|r| r.body == all[0].body),
        "the same event each time"
    );
    assert_eq!(all[0].body["event"], "upload");
    assert_eq!(all[0].body["path"], "/one.bin");
    let metrics = wait_sample(
        &daemon,
        r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="ok"}"#,
        1.0,
    );
    assert_eq!(
        sample(
            &metrics,
            r#"wharf_ftpd_hook_failed_attempts_total{target="webhook"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="failed"}"#
        ),
        Some(0.0),
        "{metrics}"
    );
    // Only uploads were asked for: the login was not posted.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.received().len(), 3);
    let log = daemon.log_text();
    assert_eq!(log.matches("hook delivery failed").count(), 2, "{log}");
}

#[test]
fn a_webhook_that_never_accepts_is_given_up_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[503, 503, 503]);
    let config = config_file(
        dir.path(),
        &format!(
            "webhook_url = {:?}\nevents = [\"upload\"]\nretries = 1\nretry_backoff = \"50ms\"\n",
            receiver.url()
        ),
    );
    let daemon = daemon("forking", &config);
    let steps = run_session(&daemon, UPLOAD);
    assert!(
        steps["stor"].as_str().unwrap().starts_with("226"),
        "{steps}"
    );
    let metrics = wait_sample(
        &daemon,
        r#"wharf_ftpd_hook_deliveries_total{target="webhook",result="failed"}"#,
        1.0,
    );
    assert_eq!(
        sample(
            &metrics,
            r#"wharf_ftpd_hook_failed_attempts_total{target="webhook"}"#
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(receiver.received().len(), 2, "one attempt and one retry");
    assert!(
        daemon.log_text().contains("hook event not delivered"),
        "{}",
        daemon.log_text()
    );
}

#[test]
fn a_full_queue_drops_events_without_slowing_the_session_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    std::fs::create_dir_all(&out).unwrap();
    // Each delivery takes a second: the worker holds one event, the queue one more.
    let command = script(
        dir.path(),
        "slow.sh",
        &format!("sleep 1\ntouch {}/run-$$\n", out.display()),
    );
    let config = config_file(
        dir.path(),
        &format!(
            "command = {:?}\nevents = [\"delete\"]\nqueue = 1\n",
            command.display().to_string()
        ),
    );
    let daemon = daemon("async", &config);
    for name in ["a", "b", "c", "d", "e"] {
        std::fs::write(daemon.home("alice").join(name), b"x").unwrap();
    }
    let started = Instant::now();
    let steps = run_session(
        &daemon,
        r#"
import ftplib, json, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login("alice", "secret")
print(json.dumps({name: ftp.delete(name) for name in "abcde"}))
ftp.quit()
"#,
    );
    let session_took = started.elapsed();
    assert_eq!(steps.as_object().unwrap().len(), 5, "{steps}");
    assert!(
        session_took < Duration::from_secs(4),
        "the session waited for the hooks: {session_took:?}"
    );
    // The worker holds one event and the queue one more: at least three of the five are
    // dropped (a fourth if the second arrives before the worker took the first).
    let ok = r#"wharf_ftpd_hook_deliveries_total{target="command",result="ok"}"#;
    let dropped = r#"wharf_ftpd_hook_deliveries_total{target="command",result="dropped"}"#;
    let mut metrics = String::new();
    let settled = wait_for(|| {
        metrics = metrics_text(&daemon);
        let counts = (sample(&metrics, ok)?, sample(&metrics, dropped)?);
        let runs = std::fs::read_dir(&out).ok()?.count() as f64;
        (counts.0 + counts.1 == 5.0 && runs == counts.0).then_some(counts)
    });
    let (delivered, lost) = settled.unwrap_or_else(|| panic!("{metrics}"));
    assert!(lost >= 3.0 && delivered >= 1.0, "{metrics}");
    assert_eq!(
        daemon.log_text().matches("hook event dropped").count() as f64,
        lost,
        "{}",
        daemon.log_text()
    );
}

/// Tries uploads the veto refuses and one it allows.
const VETOED: &str = r#"
import ftplib, io, json, sys
steps = {}
def attempt(name, action):
    try:
        steps[name] = str(action())
    except ftplib.all_errors as error:
        steps[name] = "error " + str(error)
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login("alice", "secret")
attempt("new exe", lambda: ftp.storbinary("STOR new.exe", io.BytesIO(b"MZ" * 1000)))
attempt("over old exe", lambda: ftp.storbinary("STOR old.exe", io.BytesIO(b"new content")))
attempt("append old exe", lambda: ftp.storbinary("APPE old.exe", io.BytesIO(b"more")))
attempt("noop", lambda: ftp.sendcmd("NOOP"))
attempt("allowed", lambda: ftp.storbinary("STOR fine.txt", io.BytesIO(b"fine")))
ftp.quit()
print(json.dumps(steps))
"#;

/// The veto refuses `*.exe` with a reason (control characters included, to be removed) and
/// records what it was asked.
fn a_refusing_veto_leaves_nothing_written(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let asked = dir.path().join("asked");
    std::fs::create_dir_all(&asked).unwrap();
    let veto = script(
        dir.path(),
        "veto.sh",
        &format!(
            "env | grep '^WHARF_' | sort > {}/ask-$$\n\
             case \"$WHARF_PATH\" in\n  *.exe) printf 'no executables\\033[0m: %s\\nsecond line\\n' \"$WHARF_PATH\"; exit 3;;\nesac\nexit 0\n",
            asked.display()
        ),
    );
    let config = config_file(
        dir.path(),
        &format!("pre_upload = {:?}\n", veto.display().to_string()),
    );
    let daemon = daemon(mode, &config);
    let home = daemon.home("alice");
    std::fs::write(home.join("old.exe"), b"old content").unwrap();
    let before = tree(&home);

    let steps = run_session(&daemon, VETOED);
    let step = |name: &str| steps[name].as_str().unwrap_or("").to_string();
    assert_eq!(
        step("new exe"),
        "error 553 no executables[0m: /new.exe",
        "{steps}"
    );
    assert_eq!(
        step("over old exe"),
        "error 553 no executables[0m: /old.exe"
    );
    assert_eq!(
        step("append old exe"),
        "error 553 no executables[0m: /old.exe"
    );
    assert!(
        step("noop").starts_with("200"),
        "the session goes on: {steps}"
    );
    assert!(step("allowed").starts_with("226"), "{steps}");

    let mut after = tree(&home);
    after.retain(|name| name != "fine.txt");
    assert_eq!(after, before, "nothing written for a refused upload");
    assert_eq!(std::fs::read(home.join("old.exe")).unwrap(), b"old content");
    assert_eq!(std::fs::read(home.join("fine.txt")).unwrap(), b"fine");

    let mut asks: Vec<BTreeMap<String, String>> = Vec::new();
    for entry in std::fs::read_dir(&asked).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        asks.push(
            text.lines()
                .filter_map(|line| line.split_once('='))
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        );
    }
    assert_eq!(asks.len(), 4, "{asks:#?}");
    let append = asks
        .iter()
        .find(|ask| ask["WHARF_UPLOAD_MODE"] == "append")
        .expect("the APPE question");
    assert_eq!(append["WHARF_EVENT"], "pre_upload");
    assert_eq!(append["WHARF_PATH"], "/old.exe");
    assert_eq!(append["WHARF_USER"], "alice");
    assert_eq!(append["WHARF_HOME"], home.display().to_string());
    assert_eq!(append["WHARF_CLIENT_ADDR"], "127.0.0.1");

    let metrics = metrics_text(&daemon);
    for (result, want) in [("refused", 3.0), ("allowed", 1.0), ("failed", 0.0)] {
        let series = format!("wharf_ftpd_upload_vetoes_total{{result=\"{result}\"}}");
        assert_eq!(sample(&metrics, &series), Some(want), "{series}\n{metrics}");
    }
}

#[test]
fn a_refusing_veto_leaves_nothing_written_in_async_mode() {
    a_refusing_veto_leaves_nothing_written("async");
}

#[test]
fn a_refusing_veto_leaves_nothing_written_in_forking_mode() {
    a_refusing_veto_leaves_nothing_written("forking");
}

#[test]
fn a_refusing_veto_leaves_nothing_written_in_threading_and_sequential_mode() {
    a_refusing_veto_leaves_nothing_written("threading");
    a_refusing_veto_leaves_nothing_written("sequential");
}

#[test]
fn a_veto_that_hangs_or_cannot_start_refuses_the_upload() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = script(dir.path(), "hang.sh", "sleep 30\n");
    for (program, mode) in [
        (hanging.display().to_string(), "async"),
        ("/nonexistent/veto".to_string(), "forking"),
    ] {
        let config = config_file(
            dir.path(),
            &format!("pre_upload = {program:?}\npre_upload_timeout = \"300ms\"\n"),
        );
        let daemon = daemon(mode, &config);
        let started = Instant::now();
        let steps = run_session(
            &daemon,
            r#"
import ftplib, io, json, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login("alice", "secret")
try:
    reply = ftp.storbinary("STOR any.txt", io.BytesIO(b"data"))
except ftplib.error_perm as error:
    reply = "error " + str(error)
print(json.dumps({"stor": reply}))
ftp.quit()
"#,
        );
        assert_eq!(
            steps["stor"], "error 553 Upload refused: the upload policy check failed.",
            "{program}: {steps}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "bounded by the timeout"
        );
        assert!(tree(&daemon.home("alice")).is_empty(), "nothing written");
        let log = daemon.log_text();
        assert!(log.contains("pre-upload check failed"), "{log}");
        let metrics = metrics_text(&daemon);
        assert_eq!(
            sample(
                &metrics,
                r#"wharf_ftpd_upload_vetoes_total{result="failed"}"#
            ),
            Some(1.0),
            "{metrics}"
        );
    }
}

#[test]
fn events_queued_when_the_daemon_stops_are_still_delivered() {
    for mode in ["async", "forking"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs");
        std::fs::create_dir_all(&out).unwrap();
        let command = script(
            dir.path(),
            "slow.sh",
            &format!("sleep 1\necho \"$WHARF_PATH\" > {}/run-$$\n", out.display()),
        );
        let config = config_file(
            dir.path(),
            &format!(
                "command = {:?}\nevents = [\"delete\"]\n",
                command.display().to_string()
            ),
        );
        let mut daemon = daemon(mode, &config);
        for name in ["a", "b"] {
            std::fs::write(daemon.home("alice").join(name), b"x").unwrap();
        }
        let steps = run_session(
            &daemon,
            r#"
import ftplib, json, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
ftp.login("alice", "secret")
print(json.dumps({name: ftp.delete(name) for name in "ab"}))
ftp.quit()
"#,
        );
        assert_eq!(steps.as_object().unwrap().len(), 2, "{steps}");
        // Both deliveries take two seconds; the daemon is told to stop at once.
        let pid = nix::unistd::Pid::from_raw(i32::try_from(daemon.pid()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        assert!(daemon.wait_exit(Duration::from_secs(15)), "{mode}: stops");
        let mut delivered: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
            .collect();
        delivered.sort();
        assert_eq!(delivered, ["/a\n", "/b\n"], "{mode}: {}", daemon.log_text());
    }
}
