//! Two `wharf-ftpd serve` daemons over one PostgreSQL database of users: logins through
//! either, bans and per-address session caps shared by both, and a database that goes away and
//! comes back while they run (new logins get 421 meanwhile, and work again without a restart;
//! uploads that need more quota than their leases hold fail with 451 and keep the old file).

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::common::ftpd::{self, BIN, FtpdProcess};
use support::common::users::{self, Account};
use support::raw::Raw;
use wharf_testkit::postgres::PgCluster;
use wharf_users::HashParams;

/// Runs `wharf-ftpd ARGS` with the cluster's password in `PGPASSWORD` only.
fn ftpd(cluster: &PgCluster, arguments: &[&str]) -> Output {
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
    String::from_utf8(output.stdout.clone()).expect("UTF-8");
    output
}

/// A database on `cluster` holding alice/secret and bob/pw, imported from a users file with
/// `wharf-ftpd user import`; returns its URL (without the password) and the scratch root.
fn database_with_users(cluster: &PgCluster) -> (String, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let accounts = ["alice", "bob"].map(|name| Account {
        name,
        password: if name == "alice" { "secret" } else { "pw" },
        quota_bytes: Some(1 << 30),
        quota_files: None,
    });
    let file = users::write_users(root.path(), &accounts, &HashParams::INSECURE_FOR_TESTS);
    let database = cluster.new_database("ftpd");
    let url = cluster.url_without_password(&database);
    let migrated = ftpd(cluster, &["db", "migrate", "--users", &url]);
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("applied migrations [1, 2, 3]"));
    let imported = ftpd(
        cluster,
        &[
            "user",
            "import",
            "--from",
            &file.to_string_lossy(),
            "--users",
            &url,
        ],
    );
    assert!(String::from_utf8_lossy(&imported.stdout).contains("imported 2 users"));
    let again = ftpd(cluster, &["db", "migrate", "--users", &url]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("schema up to date"));
    (url, root)
}

/// `wharf-ftpd serve` in `mode` over the database at `url`, with its own state directory.
fn daemon(
    cluster: &PgCluster,
    mode: &str,
    url: &str,
    root: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> FtpdProcess {
    let mut env = env.to_vec();
    env.push(("PGPASSWORD", cluster.password()));
    ftpd::serve(mode, Path::new(url), &root.join(name), &[], &env)
}

/// USER and PASS; returns the PASS reply code.
fn try_login(raw: &mut Raw, user: &str, password: &str) -> u16 {
    assert_eq!(raw.cmd(&format!("USER {user}")).code, 331);
    raw.cmd(&format!("PASS {password}")).code
}

#[test]
fn five_failed_logins_through_one_daemon_ban_the_address_on_the_other() {
    let cluster = PgCluster::shared();
    let (url, root) = database_with_users(cluster);
    let bans = [
        ("WHARF_FTPD__LIMITS__BAN_AFTER_FAILURES", "5"),
        ("WHARF_FTPD__LIMITS__BAN_WINDOW", "60s"),
        ("WHARF_FTPD__LIMITS__BAN_DURATION", "60s"),
        ("WHARF_FTPD__LIMITS__MAX_LOGIN_ATTEMPTS", "10"),
    ];
    let first = daemon(cluster, "async", &url, root.path(), "a", &bans);
    let second = daemon(cluster, "forking", &url, root.path(), "b", &bans);

    // Both daemons log in the database's users, and refuse wrong and unknown ones alike.
    for process in [&first, &second] {
        let mut raw = Raw::login(process.addr(), "alice", "secret");
        assert_eq!(raw.cmd("NOOP").code, 200);
        let (mut raw, _) = Raw::connect(process.addr());
        assert_eq!(try_login(&mut raw, "alice", "wrong"), 530);
        assert_eq!(try_login(&mut raw, "nobody", "secret"), 530);
    }

    // Five failures from 127.0.0.2 through the first daemon, over two connections.
    let (mut raw, greeting) = Raw::connect_from("127.0.0.2", first.addr());
    assert_eq!(greeting.code, 220);
    for _ in 0..3 {
        assert_eq!(try_login(&mut raw, "mallory", "guess"), 530);
    }
    drop(raw);
    let (mut raw, _) = Raw::connect_from("127.0.0.2", first.addr());
    assert_eq!(try_login(&mut raw, "mallory", "guess"), 530);
    assert_eq!(try_login(&mut raw, "mallory", "guess"), 530);
    assert_eq!(raw.reply().code, 421, "the fifth failure starts the ban");

    // The second daemon refuses that address at once, even with a right password.
    let (mut raw, greeting) = Raw::connect_from("127.0.0.2", second.addr());
    assert_eq!(greeting.code, 421, "{greeting:?}");
    assert!(greeting.text().contains("failed logins"), "{greeting:?}");
    assert!(raw.is_closed());
    // Another address is served, and the banned name is refused there too.
    let (mut raw, greeting) = Raw::connect_from("127.0.0.3", second.addr());
    assert_eq!(greeting.code, 220);
    assert_eq!(try_login(&mut raw, "bob", "pw"), 230);
    let (mut raw, _) = Raw::connect_from("127.0.0.3", second.addr());
    assert_eq!(raw.cmd("USER mallory").code, 421);

    first.wait_for_log("login ban engaged", Duration::from_secs(10));
    second.wait_for_log("refused: login ban in force", Duration::from_secs(10));
    for process in [&first, &second] {
        assert!(
            !process.log_text().contains(cluster.password()),
            "the password is never logged"
        );
    }
}

#[test]
fn the_per_address_session_cap_holds_across_both_daemons() {
    let cluster = PgCluster::shared();
    let (url, root) = database_with_users(cluster);
    let cap = [("WHARF_FTPD__LIMITS__MAX_SESSIONS_PER_IP", "2")];
    let first = daemon(cluster, "threading", &url, root.path(), "a", &cap);
    let second = daemon(cluster, "forking", &url, root.path(), "b", &cap);

    let (mut on_first, _) = Raw::connect_from("127.0.0.2", first.addr());
    assert_eq!(try_login(&mut on_first, "alice", "secret"), 230);
    let (mut on_second, _) = Raw::connect_from("127.0.0.2", second.addr());
    assert_eq!(try_login(&mut on_second, "bob", "pw"), 230);
    // Each daemon alone holds one session of the address; together they hold the cap.
    let (mut third, greeting) = Raw::connect_from("127.0.0.2", first.addr());
    assert_eq!(greeting.code, 220, "locally there is room");
    assert_eq!(third.cmd("USER alice").code, 331);
    let refused = third.cmd("PASS secret");
    assert_eq!(refused.code, 421, "{refused:?}");
    assert!(
        refused.text().contains("Too many connections"),
        "{refused:?}"
    );
    assert!(third.is_closed());
    // Another address is not affected.
    let (mut other, _) = Raw::connect_from("127.0.0.3", first.addr());
    assert_eq!(try_login(&mut other, "alice", "secret"), 230);

    // A session that ends gives its place back at once, on the other daemon too.
    assert_eq!(on_second.cmd("QUIT").code, 221);
    assert!(on_second.is_closed());
    let (mut again, _) = Raw::connect_from("127.0.0.2", first.addr());
    assert_eq!(try_login(&mut again, "alice", "secret"), 230);
    assert_eq!(on_first.cmd("NOOP").code, 200);
}

#[test]
fn a_database_given_by_host_name_serves_logins_in_every_confined_mode() {
    // Landlock confines the daemon (forking mode: each session process, which connects on
    // its own): every new connection resolves `localhost`, so resolution must still work.
    let cluster = PgCluster::shared();
    let (url, root) = database_with_users(cluster);
    let named = url.replace("@127.0.0.1:", "@localhost:");
    assert_ne!(named, url, "the URL names its host: {url}");
    for mode in ["async", "threading", "forking", "sequential"] {
        let process = daemon(cluster, mode, &named, root.path(), mode, &[]);
        for (user, password) in [("alice", "secret"), ("bob", "pw")] {
            let (mut raw, _) = Raw::connect(process.addr());
            assert_eq!(try_login(&mut raw, user, password), 230, "{mode}: {user}");
            assert_eq!(raw.cmd("PWD").code, 257, "{mode}: {user}");
        }
    }
}

#[test]
fn with_the_database_down_new_logins_get_421_and_work_again_once_it_is_back() {
    let mut cluster = PgCluster::start();
    let (url, root) = database_with_users(&cluster);
    let first = daemon(&cluster, "async", &url, root.path(), "a", &[]);
    let second = daemon(&cluster, "threading", &url, root.path(), "b", &[]);
    let mut running: Vec<Raw> = [&first, &second]
        .iter()
        .map(|process| Raw::login(process.addr(), "alice", "secret"))
        .collect();

    cluster.stop();
    for process in [&first, &second] {
        let (mut raw, greeting) = Raw::connect(process.addr());
        assert_eq!(greeting.code, 220, "{greeting:?}");
        assert_eq!(raw.cmd("USER bob").code, 331);
        let refused = raw.cmd("PASS pw");
        assert_eq!(refused.code, 421, "{refused:?}");
        assert!(raw.is_closed());
        process.wait_for_log("users database unreachable", Duration::from_secs(10));
    }
    // Sessions already in go on.
    for raw in &mut running {
        assert_eq!(raw.cmd("PWD").code, 257);
    }

    cluster.restart();
    for process in [&first, &second] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (mut raw, _) = Raw::connect(process.addr());
            match try_login(&mut raw, "bob", "pw") {
                230 => break,
                code => {
                    assert_eq!(code, 421);
                    assert!(Instant::now() < deadline, "logins never came back");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    for raw in &mut running {
        assert_eq!(raw.cmd("NOOP").code, 200);
    }
}

/// Bytes in the regular files under `dir`, its subfolders included.
fn stored_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read home") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("type");
        if kind.is_dir() {
            total += stored_bytes(&entry.path());
        } else if kind.is_file() {
            total += entry.metadata().expect("metadata").len();
        }
    }
    total
}

/// `wharf-ftpd quota show alice`'s byte count over the database at `url`.
fn quota_bytes(cluster: &PgCluster, url: &str) -> u64 {
    let shown = ftpd(cluster, &["quota", "show", "alice", "--users", url]);
    let text = String::from_utf8_lossy(&shown.stdout).into_owned();
    let bytes = text
        .split_whitespace()
        .skip_while(|word| *word != "bytes")
        .nth(1)
        .unwrap_or_else(|| panic!("no byte count in {text:?}"));
    bytes
        .parse()
        .unwrap_or_else(|_| panic!("bad count in {text:?}"))
}

#[test]
fn three_uploads_through_each_of_two_daemons_never_pass_the_quota_together() {
    let cluster = PgCluster::shared();
    let (url, root) = database_with_users(cluster);
    let limit: u64 = 5 << 20;
    ftpd(
        cluster,
        &["user", "quota", "alice", "--users", &url, "--set", "5MiB"],
    );
    let first = daemon(cluster, "threading", &url, root.path(), "a", &[]);
    let second = daemon(cluster, "async", &url, root.path(), "b", &[]);
    let payload = root.path().join("payload");
    std::fs::write(&payload, vec![7u8; 2 << 20]).unwrap();

    // Six uploads of 2 MiB at once, three through each daemon: at most two fit.
    let uploads: Vec<_> = (0..6)
        .map(|index| {
            let addr = if index % 2 == 0 {
                first.addr()
            } else {
                second.addr()
            };
            let payload = payload.clone();
            std::thread::spawn(move || {
                Command::new("curl")
                    .args(["--silent", "--show-error", "--max-time", "60"])
                    .args(["--user", "alice:secret", "-T"])
                    .arg(&payload)
                    .arg(format!("ftp://{addr}/upload-{index}"))
                    .output()
                    .expect("run curl")
            })
        })
        .collect();
    let outcomes: Vec<Output> = uploads
        .into_iter()
        .map(|upload| upload.join().expect("curl thread"))
        .collect();
    let refused = outcomes
        .iter()
        .filter(|output| {
            String::from_utf8_lossy(&output.stderr).contains("Exceeded storage allocation")
        })
        .count();
    let home = users::home(root.path(), "alice");
    let stored = stored_bytes(&home);
    assert!(
        stored <= limit,
        "{stored} bytes stored past the {limit} limit"
    );
    assert!(
        refused >= 4,
        "at most two uploads fit: {outcomes:?}\n{}\n{}",
        first.log_text(),
        second.log_text()
    );
    for output in &outcomes {
        let failed = !output.status.success();
        assert!(
            !failed
                || String::from_utf8_lossy(&output.stderr).contains("Exceeded storage allocation"),
            "an upload failed for another reason than the quota: {output:?}"
        );
    }
    // The sessions have ended: the shared count is what is on disk, through either daemon.
    assert_eq!(quota_bytes(cluster, &url), stored);
    let mut raw = Raw::login(second.addr(), "alice", "secret");
    let site = raw.cmd("SITE QUOTA");
    assert!(site.text().contains(&stored.to_string()), "{site:?}");
}

#[test]
fn a_daemon_killed_mid_upload_gives_its_reservation_back_after_the_lease() {
    let cluster = PgCluster::shared();
    let (url, root) = database_with_users(cluster);
    let mut first = daemon(cluster, "async", &url, root.path(), "a", &[]);
    let home = users::home(root.path(), "alice");
    std::fs::write(home.join("kept"), vec![1u8; 100_000]).unwrap();
    assert_eq!(
        quota_bytes(cluster, &url),
        100_000,
        "an idle user is counted from disk"
    );

    // An upload through the first daemon, cut by SIGKILL after 3 MiB.
    let mut raw = Raw::login(first.addr(), "alice", "secret");
    assert_eq!(raw.cmd("TYPE I").code, 200);
    let mut data = raw.epsv(first.addr());
    assert_eq!(raw.cmd("STOR cut").code, 150);
    use std::io::Write;
    for _ in 0..48 {
        data.write_all(&[9u8; 65536]).unwrap();
    }
    data.flush().unwrap();
    // The bytes have reached the daemon's reservation once the count shows them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while quota_bytes(cluster, &url) < 100_000 + (1 << 20) {
        assert!(Instant::now() < deadline, "the upload never counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill();
    drop(data);
    drop(raw);

    // Until the lease runs out, the dead session still counts (never less than is stored);
    // then the count is what is stored.
    let killed = Instant::now();
    loop {
        let shown = quota_bytes(cluster, &url);
        let stored = stored_bytes(&home);
        assert!(shown >= stored, "{shown} counted for {stored} stored");
        if shown == stored {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the dead lease still counts: {shown} for {stored}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        killed.elapsed() >= Duration::from_secs(5),
        "a live-looking lease was dropped early"
    );
    // A daemon on the same database serves the user on the repaired count.
    let second = daemon(cluster, "forking", &url, root.path(), "b", &[]);
    let mut raw = Raw::login(second.addr(), "alice", "secret");
    assert_eq!(raw.cmd("NOOP").code, 200);
}

/// Sends up to `bytes` of filler on `data` in 64 KiB writes; stops at the first failed write
/// (the daemon closed the data connection).
fn send_filler(data: &mut std::net::TcpStream, bytes: usize) {
    use std::io::Write;
    let chunk = [5u8; 65536];
    for _ in 0..bytes / chunk.len() {
        if data.write_all(&chunk).is_err() {
            return;
        }
    }
    let _ = data.flush();
}

#[test]
fn the_database_stopped_mid_upload_fails_it_with_451_and_keeps_the_old_file_and_the_count() {
    let mut cluster = PgCluster::start();
    let (url, root) = database_with_users(&cluster);
    let daemons = [
        daemon(&cluster, "async", &url, root.path(), "a", &[]),
        daemon(&cluster, "threading", &url, root.path(), "b", &[]),
    ];
    let home = users::home(root.path(), "alice");
    let old = vec![3u8; 200_000];
    for index in 0..daemons.len() {
        std::fs::write(home.join(format!("file-{index}")), &old).unwrap();
    }
    let stored_before = stored_bytes(&home);

    // One overwrite through each daemon, 1 MiB in when the database stops.
    let mut uploads: Vec<_> = daemons
        .iter()
        .enumerate()
        .map(|(index, process)| {
            let mut raw = Raw::login(process.addr(), "alice", "secret");
            assert_eq!(raw.cmd("TYPE I").code, 200);
            let mut data = raw.epsv(process.addr());
            assert_eq!(raw.cmd(&format!("STOR file-{index}")).code, 150);
            send_filler(&mut data, 1 << 20);
            (raw, data)
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while quota_bytes(&cluster, &url) < stored_before + (2 << 20) {
        assert!(Instant::now() < deadline, "the uploads never counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.stop();

    // Past the headroom the leases hold, no more bytes can be granted: 451, not 226.
    for (index, (raw, data)) in uploads.iter_mut().enumerate() {
        send_filler(data, 64 << 20);
        data.shutdown(std::net::Shutdown::Write).ok();
        let reply = raw.reply();
        assert_eq!(reply.code, 451, "upload {index}: {reply:?}");
        assert!(
            reply.text().contains("quota store unavailable"),
            "{reply:?}"
        );
        assert_eq!(
            std::fs::read(home.join(format!("file-{index}"))).unwrap(),
            old,
            "upload {index} changed the file it failed to replace"
        );
        // The session goes on (commands that need no database).
        assert_eq!(raw.cmd("PWD").code, 257);
    }
    assert_eq!(
        stored_bytes(&home),
        stored_before,
        "a failed upload left bytes"
    );
    for process in &daemons {
        process.wait_for_log(
            "cannot reserve quota: write refused",
            Duration::from_secs(10),
        );
    }

    // Back up: the count comes down to what is stored (never below it) and uploads work again.
    cluster.restart();
    let back = Instant::now();
    loop {
        let shown = quota_bytes(&cluster, &url);
        assert!(
            shown >= stored_before,
            "{shown} counted for {stored_before} stored"
        );
        if shown == stored_before {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "the failed uploads still count: {shown} for {stored_before}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for (index, (raw, _)) in uploads.iter_mut().enumerate() {
        let mut data = raw.epsv(daemons[index].addr());
        assert_eq!(raw.cmd(&format!("STOR again-{index}")).code, 150);
        send_filler(&mut data, 1 << 20);
        drop(data);
        let done = raw.reply();
        assert_eq!(done.code, 226, "upload {index} after the restart: {done:?}");
    }
    // Once the sessions end, their leases (headroom included) go back: the count is what is
    // stored.
    for (mut raw, _) in uploads {
        assert_eq!(raw.cmd("QUIT").code, 221);
        assert!(raw.is_closed());
    }
    let stored = stored_bytes(&home);
    assert_eq!(stored, stored_before + 2 * (1 << 20));
    let ended = Instant::now();
    while quota_bytes(&cluster, &url) != stored {
        assert!(
            ended.elapsed() < Duration::from_secs(10),
            "the count after the restart: {} for {stored}",
            quota_bytes(&cluster, &url)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
