//! Many commands at once: twenty real clients in parallel, in every mode.

mod support;

use support::{Daemon, MODES, TestUser, text};

#[test]
fn twenty_commands_at_once_all_complete_in_every_mode() {
    for mode in MODES {
        let daemon = Daemon::start(
            mode,
            &[TestUser::exec("alice")],
            &["--max-commands-per-user", "20"],
        );
        let outputs = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..20)
                .map(|index| {
                    let daemon = &daemon;
                    scope.spawn(move || {
                        // Each command overlaps the others for a while, then reports itself.
                        let command = format!(
                            "sleep 0.3; echo start{index}; cat; echo end{index} >&2; exit {}",
                            index % 5
                        );
                        let input = format!("input{index}\n");
                        (index, daemon.client("alice", &command, input.as_bytes()))
                    })
                })
                .collect();
            runs.into_iter()
                .map(|run| run.join().expect("client thread"))
                .collect::<Vec<_>>()
        });
        for (index, output) in outputs {
            assert_eq!(
                output.status.code(),
                Some(index % 5),
                "{mode} #{index}: {}",
                text(&output.stderr)
            );
            assert_eq!(
                text(&output.stdout),
                format!("start{index}\ninput{index}\n"),
                "{mode} #{index}"
            );
            assert_eq!(
                text(&output.stderr),
                format!("end{index}\n"),
                "{mode} #{index}"
            );
        }
        // Every slot is free again: slots are released before the outcome is sent.
        let output = daemon.client("alice", "echo after", b"");
        assert_eq!(text(&output.stdout), "after\n", "{mode}");
    }
}
