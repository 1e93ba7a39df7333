//! Stopping the daemon: idle connections close, running commands get the shutdown timeout and
//! are then killed with their whole process group, in the in-process and the forking modes.

mod support;

use std::time::{Duration, Instant};

use support::raw::Raw;
use support::{Daemon, PASSWORD, TestUser, process_gone};
use wharf_ssh::protocol::{Request, Response};

#[test]
fn sigterm_stops_the_daemon_and_kills_running_commands() {
    for mode in ["async", "threading", "forking"] {
        let mut daemon = Daemon::start(
            mode,
            &[TestUser::exec("alice")],
            &["--shutdown-timeout", "1s"],
        );
        let pid_file = daemon.home("alice").join("pid");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (_idle, _busy) = runtime.block_on(async {
            let idle = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            let mut busy = Raw::logged_in(daemon.addr, "alice", PASSWORD).await;
            busy.send(&Request::Exec {
                command: "sleep 100 & echo $! > pid; wait".into(),
            })
            .await;
            assert_eq!(
                busy.recv::<Response>().await,
                Some(Response::Started),
                "{mode}"
            );
            (idle, busy)
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let sleeper: u32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse().ok())
            {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "{mode}: the command never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            daemon.stop(Duration::from_secs(30)),
            "{mode}: the daemon did not stop"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !process_gone(sleeper) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            process_gone(sleeper),
            "{mode}: a command outlived the daemon"
        );
    }
}
