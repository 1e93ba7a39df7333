//! `--metrics-listen`: after a scripted session (a failed login, a login, an upload, a download,
//! an aborted download, an unknown verb, a ban) `/metrics` holds exactly the expected counts, as
//! read by Prometheus's own Python text parser, in async, threading and forking mode (forking:
//! the counts of session processes reach the exporter); `/healthz` and `/readyz` answer, and
//! `/readyz` fails while the user store cannot be read (a users file gone, a stopped PostgreSQL).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::Daemon;
use support::common::ftpd::{self, BIN};
use support::common::python;
use support::common::users::{self, Account};
use wharf_testkit::postgres::PgCluster;
use wharf_testkit::scrape::{exporter_addr, scrape, value};
use wharf_users::HashParams;

/// The scripted FTP session, with ftplib: prints each step's reply as JSON for the test to
/// check (no `assert`: the test judges the output).
const SESSION: &str = r#"
import ftplib, io, json, sys
host, port = sys.argv[1], int(sys.argv[2])
steps = {}
def attempt(name, action):
    try:
        steps[name] = str(action())
    except ftplib.all_errors as error:
        steps[name] = "error " + str(error)

# 1: a failed login.
one = ftplib.FTP()
one.connect(host, port, timeout=30)
attempt("wrong password", lambda: one.login("alice", "wrong"))
attempt("quit one", one.quit)

# 2: a login, an upload, its download, an aborted download, an unknown verb.
two = ftplib.FTP()
two.connect(host, port, timeout=30)
attempt("login", lambda: two.login("alice", "secret"))
payload = bytes(range(256)) * 400
attempt("stor", lambda: two.storbinary("STOR up.bin", io.BytesIO(payload)))
received = bytearray()
attempt("retr", lambda: two.retrbinary("RETR up.bin", received.extend))
steps["retr bytes"] = len(received)
conn = two.transfercmd("RETR big.bin")
conn.recv(65536)
attempt("abort", two.abort)
steps["abort reply"] = steps["abort"][:3]
if steps["abort reply"] == "426":
    attempt("after abort", two.getresp)
conn.close()
attempt("unknown", lambda: two.sendcmd("FOOBAR"))
attempt("noop", lambda: two.sendcmd("NOOP"))
attempt("quit two", two.quit)

# 3: the second failure from this address starts a ban (530, then 421).
three = ftplib.FTP()
three.connect(host, port, timeout=30)
attempt("ban starts", lambda: three.login("mallory", "guess"))
three.close()

# 4: refused at once while banned.
four = ftplib.FTP()
attempt("banned", lambda: four.connect(host, port, timeout=30))
four.close()
print(json.dumps(steps))
"#;

/// Bytes of the file whose download is aborted: far more than the socket buffers hold.
const BIG: usize = 64 << 20;

/// Bytes of the incomplete download in the xferlog (the aborted one).
fn aborted_download_bytes(xferlog: &Path) -> f64 {
    let text = std::fs::read_to_string(xferlog).expect("xferlog");
    let line = text
        .lines()
        .find(|line| line.contains(" o ") && line.ends_with(" i"))
        .unwrap_or_else(|| panic!("no incomplete download in {text}"));
    line.split_whitespace()
        .nth(7)
        .expect("bytes field")
        .parse()
        .expect("bytes")
}

/// Runs the scripted session against a daemon in `mode` and checks every family.
fn scripted_session_is_counted_exactly(mode: &str) {
    let xferlog = tempfile::NamedTempFile::new().unwrap();
    let xferlog_path = xferlog.path().to_string_lossy().into_owned();
    let daemon = Daemon::start_with(
        mode,
        &[("alice", "secret")],
        &["--metrics-listen", "127.0.0.1:0"],
        &[
            ("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", "2"),
            ("WHARF_FTPD__LOG__XFERLOG", &xferlog_path),
        ],
    );
    assert!(
        !daemon
            .log_text()
            .contains(&format!("listening on {}", "http")),
        "the exporter must not be logged as an FTP listener"
    );
    let listening: Vec<SocketAddr> = daemon.listen_addrs(1);
    assert_eq!(listening, vec![daemon.addr], "{}", daemon.log_text());
    let exporter = exporter_addr(|| daemon.log_text());
    assert_ne!(exporter, daemon.addr);
    std::fs::write(daemon.home("alice").join("big.bin"), vec![7u8; BIG]).unwrap();

    let before = &scrape(exporter, &["/metrics"])[0];
    assert_eq!(value(before, "wharf_ftpd_sessions_total", ""), Some(0.0));

    let output = python::script(SESSION)
        .arg(daemon.addr.ip().to_string())
        .arg(daemon.addr.port().to_string())
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let steps: serde_json::Value = serde_json::from_slice(&output.stdout).expect("session JSON");
    let step = |name: &str| steps[name].as_str().unwrap_or("").to_string();
    assert!(step("wrong password").starts_with("error 530"), "{steps}");
    assert!(step("login").starts_with("230"), "{steps}");
    assert!(step("stor").starts_with("226"), "{steps}");
    assert_eq!(steps["retr bytes"], 102_400, "{steps}");
    assert_eq!(
        step("abort reply"),
        "426",
        "the download must really be cut: {steps}"
    );
    assert!(step("unknown").starts_with("error 500"), "{steps}");
    assert!(step("ban starts").starts_with("error 530"), "{steps}");
    assert!(step("banned").starts_with("error 421"), "{steps}");

    // The last session's end reaches the gauge just after its reply.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let scraped = scrape(exporter, &["/metrics"]).remove(0);
        if value(&scraped, "wharf_ftpd_sessions_active", "") == Some(0.0)
            || Instant::now() > deadline
        {
            break scraped;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );
    let aborted = aborted_download_bytes(xferlog.path());
    assert!(aborted >= 65_536.0 && aborted < BIG as f64, "{aborted}");
    let expected: &[(&str, &str, f64)] = &[
        ("wharf_ftpd_sessions_active", "", 0.0),
        ("wharf_ftpd_sessions_total", "", 4.0),
        ("wharf_ftpd_logins_total", "result=ok", 1.0),
        ("wharf_ftpd_logins_total", "result=failed", 2.0),
        ("wharf_ftpd_logins_total", "result=banned", 1.0),
        ("wharf_ftpd_bans_active", "", 1.0),
        (
            "wharf_ftpd_transfer_bytes_total",
            "direction=upload",
            102_400.0,
        ),
        (
            "wharf_ftpd_transfer_bytes_total",
            "direction=download",
            102_400.0 + aborted,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=upload,result=ok",
            1.0,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=upload,result=failed",
            0.0,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=upload,result=aborted",
            0.0,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=download,result=ok",
            1.0,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=download,result=failed",
            0.0,
        ),
        (
            "wharf_ftpd_transfers_total",
            "direction=download,result=aborted",
            1.0,
        ),
        ("wharf_ftpd_transfer_seconds_count", "", 3.0),
        ("wharf_ftpd_transfer_seconds_bucket", "le=+Inf", 3.0),
        ("wharf_ftpd_commands_total", "class=3xx,command=USER", 3.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=PASS", 1.0),
        ("wharf_ftpd_commands_total", "class=5xx,command=PASS", 2.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=TYPE", 2.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=PASV", 3.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=STOR", 1.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=RETR", 1.0),
        ("wharf_ftpd_commands_total", "class=4xx,command=RETR", 1.0),
        ("wharf_ftpd_commands_total", "class=5xx,command=other", 1.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=NOOP", 1.0),
        ("wharf_ftpd_commands_total", "class=2xx,command=QUIT", 2.0),
    ];
    let mut wrong = Vec::new();
    for (name, labels, want) in expected {
        let got = value(&metrics, name, labels);
        if got != Some(*want) {
            wrong.push(format!("{name}{{{labels}}}: got {got:?}, want {want}"));
        }
    }
    // Every command series is one of the above: nothing else was counted.
    let commands = metrics
        .samples
        .keys()
        .filter(|(name, _)| name == "wharf_ftpd_commands_total")
        .count();
    let expected_commands = expected
        .iter()
        .filter(|(name, _, _)| *name == "wharf_ftpd_commands_total")
        .count();
    if commands != expected_commands {
        wrong.push(format!(
            "{commands} command series, want {expected_commands}: {:?}",
            metrics.samples.keys().collect::<Vec<_>>()
        ));
    }
    assert!(wrong.is_empty(), "{mode}: {wrong:#?}\n{}", metrics.body);
    // Buckets are cumulative as exposed: never falling, ending at the count.
    let mut buckets: Vec<(f64, f64)> = metrics
        .samples
        .iter()
        .filter(|((name, _), _)| name == "wharf_ftpd_transfer_seconds_bucket")
        .map(|((_, labels), count)| {
            let bound = labels.trim_start_matches("le=");
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().expect("le")
            };
            (bound, *count)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1),
        "{buckets:?}"
    );
    for (family, kind) in [
        ("wharf_ftpd_sessions_active", "gauge"),
        ("wharf_ftpd_sessions", "counter"),
        ("wharf_ftpd_logins", "counter"),
        ("wharf_ftpd_commands", "counter"),
        ("wharf_ftpd_transfer_bytes", "counter"),
        ("wharf_ftpd_transfers", "counter"),
        ("wharf_ftpd_transfer_seconds", "histogram"),
        ("wharf_ftpd_bans_active", "gauge"),
    ] {
        assert_eq!(
            metrics.families.get(family).map(String::as_str),
            Some(kind),
            "{family}: {:?}",
            metrics.families
        );
    }
    assert!(
        !metrics.body.contains("wharf_ftpd_quota_used_bytes"),
        "per-user quota is opt-in"
    );

    // Health: alive and ready; then the users file goes and readiness fails with a reason.
    let health = scrape(exporter, &["/healthz", "/readyz", "/nowhere"]);
    assert_eq!((health[0].status, health[1].status), (200, 200));
    assert_eq!(health[2].status, 404);
    std::fs::remove_file(users::users_file(daemon.root.path())).unwrap();
    let health = scrape(exporter, &["/healthz", "/readyz"]);
    assert_eq!(health[0].status, 200);
    assert_eq!(health[1].status, 503, "{}", health[1].body);
    assert!(health[1].body.contains("users file"), "{}", health[1].body);
}

#[test]
fn metrics_count_a_scripted_session_exactly_in_async_mode() {
    scripted_session_is_counted_exactly("async");
}

#[test]
fn metrics_count_a_scripted_session_exactly_in_forking_mode() {
    scripted_session_is_counted_exactly("forking");
}

#[test]
fn metrics_count_a_scripted_session_exactly_in_threading_mode() {
    scripted_session_is_counted_exactly("threading");
}

#[test]
fn per_user_quota_usage_is_reported_when_asked_for() {
    let daemon = Daemon::start_with(
        "forking",
        &[("alice", "secret"), ("bob", "pw")],
        &["--metrics-listen", "127.0.0.1:0"],
        &[("WHARF_FTPD__METRICS__PER_USER_QUOTA", "true")],
    );
    let exporter = exporter_addr(|| daemon.log_text());
    let upload = python::script(
        "import ftplib, io, sys\nftp = ftplib.FTP()\nftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)\nftp.login('alice', 'secret')\nftp.storbinary('STOR a.bin', io.BytesIO(b'x' * 5000))\nftp.quit()\nprint('uploaded')",
    )
    .arg(daemon.addr.ip().to_string())
    .arg(daemon.addr.port().to_string())
    .output()
    .expect("python3");
    assert!(
        String::from_utf8_lossy(&upload.stdout).contains("uploaded"),
        "{}",
        String::from_utf8_lossy(&upload.stderr)
    );
    let metrics = scrape(exporter, &["/metrics"]).remove(0);
    assert_eq!(
        value(&metrics, "wharf_ftpd_quota_used_bytes", "user=alice"),
        Some(5000.0),
        "{}",
        metrics.body
    );
    // bob never logged in: his usage was never counted, so he has no series.
    assert_eq!(
        value(&metrics, "wharf_ftpd_quota_used_bytes", "user=bob"),
        None,
        "{}",
        metrics.body
    );
}

/// Runs `wharf-ftpd ARGS` with the cluster's password; panics on failure.
fn ftpd(cluster: &PgCluster, arguments: &[&str]) {
    let output = Command::new(BIN)
        .args(arguments)
        .env("PGPASSWORD", cluster.password())
        .output()
        .expect("run wharf-ftpd");
    assert!(
        output.status.success(),
        "wharf-ftpd {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `/readyz` until it answers `status` (10 s at most); returns the last body.
fn wait_for_readiness(exporter: SocketAddr, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = scrape(exporter, &["/readyz"]).remove(0);
        if ready.status == status {
            return ready.body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {} ({}), want {status}",
            ready.status,
            ready.body
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn readyz_fails_while_the_users_database_is_stopped() {
    let mut cluster = PgCluster::start();
    let root = tempfile::tempdir().unwrap();
    let account = Account {
        name: "alice",
        password: "secret",
        quota_bytes: None,
        quota_files: None,
    };
    let file = users::write_users(root.path(), &[account], &HashParams::INSECURE_FOR_TESTS);
    let database = cluster.new_database("metrics");
    let url = cluster.url_without_password(&database);
    ftpd(&cluster, &["db", "migrate", "--users", &url]);
    ftpd(
        &cluster,
        &[
            "user",
            "import",
            "--from",
            &file.to_string_lossy(),
            "--users",
            &url,
        ],
    );
    let process = ftpd::serve(
        "forking",
        Path::new(&url),
        &root.path().join("state"),
        &["--metrics-listen", "127.0.0.1:0"],
        &[("PGPASSWORD", cluster.password())],
    );
    let exporter = exporter_addr(|| process.log_text());
    wait_for_readiness(exporter, 200);
    let metrics = scrape(exporter, &["/metrics"]).remove(0);
    assert_eq!(
        value(&metrics, "wharf_ftpd_bans_active", ""),
        Some(0.0),
        "bans are counted in the database: {}",
        metrics.body
    );

    cluster.stop();
    let reason = wait_for_readiness(exporter, 503);
    assert!(reason.contains("not ready"), "{reason}");
    assert_eq!(
        scrape(exporter, &["/healthz"])[0].status,
        200,
        "still alive"
    );

    cluster.restart();
    wait_for_readiness(exporter, 200);
}
