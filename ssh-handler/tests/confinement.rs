//! Confined commands, tried from the attacker's side with the real daemon (started as root) and
//! the real client: each attempt must fail and leave its target as it was.

mod confine_support;
mod support;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use confine_support::{
    ConfinedUser, listing, open_bait, running_as_root, snapshot, start, survivors_after,
    unique_marker,
};
use support::text;

#[test]
fn commands_cannot_read_or_write_the_daemons_files_other_homes_or_the_system() {
    if !running_as_root("commands_cannot_read_or_write_...") {
        return;
    }
    let daemon = start(
        &[
            ConfinedUser::with_uid("alice", 52001),
            ConfinedUser::with_uid("bob", 52002),
        ],
        &[],
    );
    let root = daemon.root.path();
    let secret = daemon.home("bob").join("secret.txt");
    std::fs::write(&secret, b"bob's secret\n").unwrap();
    std::os::unix::fs::chown(&secret, Some(52002), Some(52002)).unwrap();
    let bait = open_bait(root);
    let targets = [
        root.join("users.toml"),
        root.join("state/ssh_host_ed25519_key"),
        secret,
        bait,
        "/etc/shadow".into(),
    ];
    for target in &targets {
        let before = snapshot(target);
        assert!(before.is_some(), "{} must exist", target.display());
        let shown = target.display();
        let read = daemon.client("alice", &format!("cat '{shown}'"), b"");
        assert!(
            !read.status.success(),
            "read {shown}: {}",
            text(&read.stdout)
        );
        assert!(
            read.stdout.is_empty(),
            "read {shown}: {}",
            text(&read.stdout)
        );
        let write = daemon.client("alice", &format!("echo pwned >> '{shown}'"), b"");
        assert!(!write.status.success(), "wrote {shown}");
        let replace = daemon.client("alice", &format!("rm -f '{shown}'"), b"");
        assert!(!replace.status.success(), "removed {shown}");
        assert_eq!(snapshot(target), before, "{shown} changed");
    }
    // Directories: the state directory, another home, /root, and the real /tmp.
    let host_tmp_marker = format!("/tmp/{}", unique_marker("tmp"));
    for dir in [root.join("state"), daemon.home("bob"), "/root".into()] {
        let before = listing(&dir);
        let shown = dir.display();
        let list = daemon.client("alice", &format!("ls '{shown}'"), b"");
        assert!(
            !list.status.success(),
            "listed {shown}: {}",
            text(&list.stdout)
        );
        let create = daemon.client("alice", &format!("echo x > '{shown}/planted'"), b"");
        assert!(!create.status.success(), "created a file in {shown}");
        assert_eq!(listing(&dir), before, "{shown} changed");
    }
    // /tmp is the command's own: writing there works but never reaches the real /tmp.
    let tmp = daemon.client(
        "alice",
        &format!("echo x > {host_tmp_marker} && cat {host_tmp_marker}"),
        b"",
    );
    assert_eq!(text(&tmp.stdout), "x\n", "{}", text(&tmp.stderr));
    assert!(
        snapshot(std::path::Path::new(&host_tmp_marker)).is_none(),
        "the real /tmp was written"
    );
    // The own home works.
    let home = daemon.client("alice", "echo mine > note && cat note", b"");
    assert_eq!(text(&home.stdout), "mine\n", "{}", text(&home.stderr));
}

#[test]
fn commands_run_as_the_users_uid_or_the_command_user_never_root() {
    if !running_as_root("commands_run_as_the_users_uid_...") {
        return;
    }
    let daemon = start(
        &[
            ConfinedUser::with_uid("alice", 52011),
            ConfinedUser::without_uid("carol"),
        ],
        &[],
    );
    let alice = daemon.client("alice", "id -u; id -g; id -G", b"");
    assert_eq!(
        text(&alice.stdout),
        "52011\n52011\n52011\n",
        "{}",
        text(&alice.stderr)
    );
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let carol = daemon.client("carol", "id -u", b"");
    assert_eq!(
        text(&carol.stdout),
        format!("{}\n", nobody.uid),
        "{}",
        text(&carol.stderr)
    );
}

#[test]
fn a_user_with_uid_zero_is_refused_unless_root_commands_are_allowed() {
    if !running_as_root("a_user_with_uid_zero_...") {
        return;
    }
    let daemon = start(&[ConfinedUser::with_uid("mallory", 0)], &[]);
    let output = daemon.client("mallory", "id -u > owned", b"");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("would run as root"),
        "{}",
        text(&output.stderr)
    );
    assert!(snapshot(&daemon.home("mallory").join("owned")).is_none());
}

#[test]
fn tcp_is_denied_unless_the_user_may_use_the_network() {
    if !running_as_root("tcp_is_denied_...") {
        return;
    }
    let mut networked = ConfinedUser::with_uid("carol", 52022);
    networked.settings.allow_network = true;
    let daemon = start(&[ConfinedUser::with_uid("alice", 52021), networked], &[]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 5); print(\"connected\")'"
    );
    let denied = daemon.client("alice", &connect, b"");
    assert!(!denied.status.success(), "{}", text(&denied.stdout));
    assert!(
        text(&denied.stderr).contains("PermissionError"),
        "{}",
        text(&denied.stderr)
    );
    assert_eq!(
        listener.accept().map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock)
    );
    let bind = daemon.client(
        "alice",
        "python3 -c 'import socket; socket.socket().bind((\"127.0.0.1\", 0))'",
        b"",
    );
    assert!(!bind.status.success(), "a TCP port was bound");
    let allowed = daemon.client("carol", &connect, b"");
    assert_eq!(
        text(&allowed.stdout),
        "connected\n",
        "{}",
        text(&allowed.stderr)
    );
    listener.set_nonblocking(false).unwrap();
    assert!(listener.accept().is_ok());
}

#[test]
fn setsid_and_double_forks_do_not_outlive_their_command() {
    if !running_as_root("setsid_and_double_forks_...") {
        return;
    }
    let daemon = start(
        &[ConfinedUser::with_uid("alice", 52031)],
        &["--time-limit", "3s"],
    );
    let marker = unique_marker("escape");
    let script = format!(
        "setsid sh -c 'sleep 600; :' {marker} & (sh -c 'sleep 600; :' {marker} &); \
         sleep 0.3; echo started"
    );
    let output = daemon.client("alice", &script, b"");
    assert_eq!(
        text(&output.stdout),
        "started\n",
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        survivors_after(&marker, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
    // The same escape, ended by the time limit instead.
    let marker = unique_marker("timeout");
    let script = format!("setsid sh -c 'sleep 600; :' {marker} & sleep 100");
    let output = daemon.client("alice", &script, b"");
    assert_eq!(
        output.status.code(),
        Some(128 + 9),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(
        survivors_after(&marker, Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

#[test]
fn a_home_that_contains_another_home_is_refused() {
    if !running_as_root("a_home_that_contains_another_home_is_refused") {
        return;
    }
    let daemon = start(&[ConfinedUser::with_uid("bob", 52041)], &[]);
    // A second user whose home is the parent of bob's.
    let users = daemon.root.path().join("users.toml");
    wharf_users::UsersFile::update(&users, |file| {
        let mut record = file.get("bob").cloned().expect("bob");
        record.name = "eve".into();
        record.home = daemon.root.path().join("home");
        file.add(record)
    })
    .unwrap();
    let output = daemon.client("eve", "cat bob/* ; echo x > bob/planted", b"");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("contains the home of user bob"),
        "{}",
        text(&output.stderr)
    );
    assert!(snapshot(&daemon.home("bob").join("planted")).is_none());
}

#[test]
fn user_add_gives_a_new_home_to_the_uid_its_commands_run_as() {
    if !running_as_root("user_add_gives_a_new_home_...") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let users = root.path().join("users.toml");
    let add = |name: &str, extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wharf-sshd"));
        command
            .args(["user", "add", name, "--users"])
            .arg(&users)
            .arg("--home")
            .arg(root.path().join(name))
            .args(["--allow-exec", "--password-stdin"])
            .args(extra);
        let output = support::run_with_input(command, b"pw\n");
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    add("dora", &["--uid", "52051"]);
    add("fred", &[]);
    use std::os::unix::fs::MetadataExt;
    let dora = std::fs::metadata(root.path().join("dora")).unwrap();
    assert_eq!((dora.uid(), dora.gid()), (52051, 52051));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let fred = std::fs::metadata(root.path().join("fred")).unwrap();
    assert_eq!(fred.uid(), nobody.uid.as_raw());
    let file = wharf_users::UsersFile::load(&users).unwrap();
    assert_eq!(file.command_settings("dora").uid, Some(52051));
    assert_eq!(file.command_settings("fred").uid, None);
}
