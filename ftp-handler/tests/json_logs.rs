//! `--log-format json`: every line on standard error is one JSON object, and a session's
//! events carry its span's fields (peer, user) for log collectors.

mod support;

use std::time::Duration;

use support::common::ftpd::spawn_serve;
use support::common::users;
use support::raw::Raw;

#[test]
fn json_lines_carry_the_session_fields() {
    let root = tempfile::tempdir().unwrap();
    let users_file = users::write_alice(root.path());
    let (mut child, mut lines) = spawn_serve(
        &["--log-format", "json"],
        &users_file,
        &users::state_dir(root.path()),
        &[],
    );
    let mut parsed = Vec::new();
    let addr = loop {
        let line = lines.next().expect("a log line").expect("read");
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = event["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        parsed.push(event);
        if let Some(addr) = message.strip_prefix("listening on ") {
            break addr.parse::<std::net::SocketAddr>().expect("address");
        }
    };
    let mut session = Raw::login(addr, "alice", "secret");
    assert_eq!(session.cmd("QUIT").code, 221);
    drop(session);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let _ = wharf_testkit::process::wait_within(&mut child, Duration::from_secs(15));
    let _ = child.kill();
    let _ = child.wait();
    for line in reader.join().unwrap() {
        parsed
            .push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")));
    }
    let in_session = parsed
        .iter()
        .find(|event| event["span"]["user"].as_str() == Some("alice"))
        .unwrap_or_else(|| panic!("no event in alice's session span: {parsed:#?}"));
    assert!(
        in_session["span"]["peer"]
            .as_str()
            .is_some_and(|peer| peer.starts_with("127.0.0.1:")),
        "{in_session}"
    );
}
