//! A fleet end to end: three wharf-ftpd nodes (async, threading, forking) over one PostgreSQL
//! database and one Garage bucket, behind HAProxy, driven by curl, lftp and Python's ftplib
//! through HAProxy only. What one node does, the others see: files, quotas, bans; the client's
//! own address reaches every log; a node killed mid-upload and a rolling restart lose nothing
//! that completed.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::clients::{curl_get, curl_put, ftplib, lftp, text};
use support::{BAN_AFTER, Fleet, HAPROXY_SOURCE};
use wharf_testkit::payload::{random_bytes, sha256_hex};

/// The size and SHA-256 of `data`, as [`wharf_testkit::objects::Objects`] reports an object.
fn digest(data: &[u8]) -> Option<(u64, String)> {
    Some((data.len() as u64, sha256_hex(data)))
}

/// Writes `data` into the fleet's scratch directory as `name`; returns the path.
fn scratch_file(fleet: &Fleet, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = fleet.scratch().join(name);
    std::fs::write(&path, data).expect("write a scratch file");
    path
}

#[test]
fn a_file_uploaded_through_one_node_is_listed_and_downloaded_identical_through_the_others() {
    let fleet = Fleet::start("shared_files", &[]);
    fleet.add_user("alice", "1GiB");
    let content = random_bytes(3 << 20, 1);
    let source = scratch_file(&fleet, "report.bin", &content);

    // Up through node 1 with curl (EPSV).
    let put = curl_put(
        "127.0.0.21",
        fleet.nodes[0].pinned,
        "alice",
        &source,
        "report.bin",
        &[],
    );
    assert!(put.status.success(), "curl upload: {}", text(&put));
    assert_eq!(
        fleet.objects().digest(&fleet.key("alice", "report.bin")),
        digest(&content),
        "the object in the bucket, read with boto3"
    );

    // Listed and fetched through node 2 with lftp (PASV: the node names the balancer).
    let out2 = fleet.scratch().join("via-node2.bin");
    let listed = lftp(
        "127.0.0.22",
        fleet.nodes[1].pinned,
        "alice",
        &format!("cls -l; get report.bin -o {}", out2.display()),
    );
    assert!(listed.status.success(), "lftp: {}", text(&listed));
    let listing = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listing.contains("report.bin") && listing.contains(&content.len().to_string()),
        "node 2 lists the file with its size: {listing}"
    );
    assert_eq!(std::fs::read(&out2).expect("lftp's copy"), content);

    // Through node 3 with ftplib: NLST, SIZE, and RETR hashed as it arrives.
    let fetched = ftplib(
        "127.0.0.23",
        fleet.nodes[2].pinned,
        "alice",
        "print('names', ' '.join(ftp.nlst()))\n\
         ftp.voidcmd('TYPE I')\n\
         print('size', ftp.size('report.bin'))\n\
         h = hashlib.sha256()\n\
         ftp.retrbinary('RETR report.bin', h.update)\n\
         print('sha256', h.hexdigest())\n\
         ftp.quit()",
        &[],
    );
    assert!(fetched.status.success(), "ftplib: {}", text(&fetched));
    let report = String::from_utf8_lossy(&fetched.stdout);
    assert!(report.contains("names report.bin"), "{report}");
    assert!(
        report.contains(&format!("size {}", content.len())),
        "{report}"
    );
    assert!(
        report.contains(&format!("sha256 {}", sha256_hex(&content))),
        "{report}"
    );

    // And through the shared frontend, wherever HAProxy puts this client.
    let out = fleet.scratch().join("via-balancer.bin");
    let got = curl_get(
        "127.0.0.24",
        fleet.control,
        "alice",
        "report.bin",
        &out,
        &[],
    );
    assert!(got.status.success(), "curl download: {}", text(&got));
    assert_eq!(std::fs::read(&out).expect("curl's copy"), content);

    // Each node served its own client: the pinned frontends really pin.
    for (node, client) in fleet
        .nodes
        .iter()
        .zip(["127.0.0.21", "127.0.0.22", "127.0.0.23"])
    {
        assert!(
            node.log().contains(&format!("peer={client}:")),
            "node {} saw {client}: {}",
            node.mode,
            node.log()
        );
    }
}

#[test]
fn parallel_uploads_of_one_user_over_three_nodes_never_pass_the_quota() {
    let fleet = Fleet::start("shared_quota", &[]);
    // Room for five of the twelve 2 MiB uploads, started together, four through each node.
    fleet.add_user("bob", "10MiB");
    let size = 2 << 20;
    let uploads: Vec<(usize, Vec<u8>)> = (0..12)
        .map(|index| (index, random_bytes(size, 100 + index as u64)))
        .collect();
    let threads: Vec<_> = uploads
        .iter()
        .map(|(index, content)| {
            let index = *index;
            let path = scratch_file(&fleet, &format!("part-{index}.bin"), content);
            let control = fleet.nodes[index % 3].pinned;
            let from = format!("127.0.0.{}", 30 + index);
            std::thread::spawn(move || {
                // Slowed so that all twelve are in flight at once.
                let name = format!("part-{index}.bin");
                curl_put(
                    &from,
                    control,
                    "bob",
                    &path,
                    &name,
                    &["--limit-rate", "4M", "-v"],
                )
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|thread| thread.join().expect("upload thread"))
        .collect();

    let succeeded: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, output)| output.status.success())
        .map(|(index, _)| index)
        .collect();
    assert!(
        !succeeded.is_empty() && succeeded.len() <= 5,
        "at most five fit, and the first ones do: {succeeded:?}\n{}",
        results.iter().map(text).collect::<Vec<_>>().join("\n")
    );
    // Each failed one was refused for the quota by the node it reached. curl says so (its
    // words for 552) when it reads the reply, or reports the data connection the node closed
    // while it was still sending.
    let logs: Vec<String> = fleet.nodes.iter().map(|node| node.log()).collect();
    for (index, output) in results.iter().enumerate() {
        if output.status.success() {
            continue;
        }
        let said = text(output);
        assert!(
            said.contains("Exceeded storage allocation") || said.contains("(55)"),
            "upload {index} failed for the quota: {said}"
        );
        let peer = format!("peer=127.0.0.{}:", 30 + index);
        assert!(
            logs.iter()
                .flat_map(|log| log.lines())
                .any(|line| line.contains(&peer)
                    && line.contains("upload failed")
                    && line.contains("quota exceeded")),
            "upload {index} refused for the quota by its node: {said}\n{}",
            logs.join("\n")
        );
    }

    // What is stored is exactly the uploads that succeeded, byte for byte, within the quota.
    let stored = fleet.stored("bob");
    let names: Vec<String> = succeeded
        .iter()
        .map(|index| format!("part-{index}.bin"))
        .collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(
        stored
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>(),
        expected,
        "only the completed uploads are visible"
    );
    let keys: Vec<String> = names.iter().map(|name| fleet.key("bob", name)).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let digests = fleet.objects().digests(&keys);
    for (index, found) in succeeded.iter().zip(digests) {
        assert_eq!(found, digest(&uploads[*index].1), "part-{index}.bin");
    }
    let stored_bytes: u64 = stored.iter().map(|(_, size)| size).sum();
    assert!(stored_bytes <= 10 << 20);

    // The shared count equals what is stored, with nothing left reserved.
    assert_eq!(
        fleet.quota_used("bob"),
        (stored_bytes, stored.len() as u64),
        "quota show agrees with the bucket"
    );
    let home = format!("{}bob/", fleet.prefix);
    fleet.wait_until(Duration::from_secs(15), "refused uploads aborted", || {
        fleet.objects().unfinished_uploads(&home).is_empty()
    });
}

#[test]
fn a_ban_made_through_one_node_holds_on_the_others_and_names_the_client() {
    let fleet = Fleet::start("shared_bans", &[]);
    fleet.add_user("carol", "1GiB");
    let attacker = "127.0.0.41";

    // BAN_AFTER failed logins through node 1, one connection each (for a name that is not
    // carol's: a name is banned as well as the address).
    for _ in 0..BAN_AFTER {
        let script = format!(
            "import ftplib, sys\n\
             ftp = ftplib.FTP(source_address=({attacker:?}, 0), timeout=30)\n\
             print('greeting', ftp.connect({host:?}, {port}))\n\
             try:\n    ftp.login('mallory', 'guess')\nexcept ftplib.all_errors as e:\n    print('refused', e)\n",
            host = fleet.nodes[0].pinned.ip().to_string(),
            port = fleet.nodes[0].pinned.port(),
        );
        let tried = wharf_testkit::python::script(&script)
            .output()
            .expect("python3");
        let said = String::from_utf8_lossy(&tried.stdout);
        assert!(said.contains("refused 530"), "{}", text(&tried));
    }

    // Nodes 2 and 3, and the shared frontend, refuse that address even with the password.
    for control in [fleet.nodes[1].pinned, fleet.nodes[2].pinned, fleet.control] {
        let out = fleet.scratch().join("never.txt");
        let refused = curl_get(attacker, control, "carol", "", &out, &["--list-only", "-v"]);
        assert!(!refused.status.success(), "banned at {control}");
        assert!(
            text(&refused).contains("421"),
            "told 421 at {control}: {}",
            text(&refused)
        );
    }
    // Another client is served: the ban is on the client's address, not on HAProxy's.
    let listed = lftp("127.0.0.42", fleet.nodes[1].pinned, "carol", "cls");
    assert!(
        listed.status.success(),
        "another address: {}",
        text(&listed)
    );

    // The shared ban names the client, and so do the nodes' logs.
    let bans = fleet.sql("SELECT subject FROM wharf_bans");
    assert!(bans.contains(attacker), "bans: {bans}");
    assert!(
        !bans
            .lines()
            .any(|subject| subject.trim().ends_with(HAPROXY_SOURCE)),
        "HAProxy's address is never banned: {bans}"
    );
    let engaged = fleet.nodes[0].log();
    assert!(
        engaged
            .lines()
            .any(|line| line.contains("login ban engaged") && line.contains(attacker)),
        "{engaged}"
    );
    for node in &fleet.nodes[1..] {
        assert!(
            node.log()
                .lines()
                .any(|line| line.contains("login ban in force") && line.contains(attacker)),
            "node {}: {}",
            node.mode,
            node.log()
        );
    }
}

#[test]
fn logs_and_xferlog_name_the_client_never_the_balancer() {
    let fleet = Fleet::start("client_address", &[]);
    fleet.add_user("dave", "1GiB");
    let content = random_bytes(256 << 10, 7);
    let source = scratch_file(&fleet, "note.bin", &content);
    let clients = ["127.0.0.51", "127.0.0.52", "127.0.0.53"];

    // Through each node: an upload with curl, a download with lftp.
    for (node, client) in fleet.nodes.iter().zip(clients) {
        let name = format!("note-{}.bin", node.mode);
        let put = curl_put(client, node.pinned, "dave", &source, &name, &[]);
        assert!(put.status.success(), "{}", text(&put));
        let out = fleet.scratch().join(format!("back-{}.bin", node.mode));
        let got = lftp(
            client,
            node.pinned,
            "dave",
            &format!("get {name} -o {}", out.display()),
        );
        assert!(got.status.success(), "{}", text(&got));
        assert_eq!(std::fs::read(&out).expect("lftp's copy"), content);
    }

    for (node, client) in fleet.nodes.iter().zip(clients) {
        let log = node.log();
        let sessions: Vec<&str> = log.lines().filter(|line| line.contains("peer=")).collect();
        assert!(
            sessions
                .iter()
                .any(|line| line.contains(&format!("peer={client}:")) && line.contains("logged in")),
            "node {} logs {client}'s login: {log}",
            node.mode
        );
        assert!(
            sessions
                .iter()
                .all(|line| !line.contains(&format!("peer={HAPROXY_SOURCE}:"))),
            "node {} never logs HAProxy as the peer: {log}",
            node.mode
        );
        // xferlog: the seventh field is the remote host.
        let lines = node.xferlog_lines();
        assert_eq!(lines.len(), 2, "an upload and a download: {lines:?}");
        for line in &lines {
            let host = line.split_whitespace().nth(6);
            assert_eq!(host, Some(client), "node {}: {line}", node.mode);
        }
    }
}

#[test]
fn a_node_killed_mid_upload_loses_nothing_and_the_others_keep_serving() {
    // A multipart upload nobody finishes is aborted by a later login once it is 20 s old.
    let mut fleet = Fleet::start(
        "node_loss",
        &[("WHARF_FTPD__STORAGE__STALE_UPLOAD_AGE", "20s")],
    );
    fleet.add_user("erin", "1GiB");
    let old = random_bytes(1 << 20, 11);
    let new = random_bytes(32 << 20, 12);
    let old_path = scratch_file(&fleet, "old.bin", &old);
    let new_path = scratch_file(&fleet, "new.bin", &new);
    let key = fleet.key("erin", "big.bin");
    let put = curl_put(
        "127.0.0.61",
        fleet.nodes[0].pinned,
        "erin",
        &old_path,
        "big.bin",
        &[],
    );
    assert!(put.status.success(), "{}", text(&put));

    // A slow overwrite through node 2 (threading), 16 s at 2 MB/s ...
    let control = fleet.nodes[1].pinned;
    let upload = std::thread::spawn(move || {
        curl_put(
            "127.0.0.62",
            control,
            "erin",
            &new_path,
            "big.bin",
            &["--limit-rate", "2M"],
        )
    });
    // ... under way: its data is flowing, and its first parts are in the bucket, when node 2
    // is killed.
    let home = format!("{}erin/", fleet.prefix);
    fleet.nodes[1]
        .daemon
        .wait_for_log("upload path=", Duration::from_secs(20));
    fleet.wait_until(Duration::from_secs(20), "a multipart upload begun", || {
        !fleet.objects().unfinished_uploads(&home).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let killed_at = Instant::now();
    fleet.nodes[1].daemon.kill();

    let cut = upload.join().expect("upload thread");
    assert!(
        !cut.status.success(),
        "the client sees an error: {}",
        text(&cut)
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(60),
        "the client was not left hanging"
    );
    assert_eq!(
        fleet.objects().digest(&key),
        digest(&old),
        "no part of the cut upload is visible: the old object is whole"
    );

    // The other nodes serve on, uploads and downloads alike.
    for (node, client) in [(0, "127.0.0.63"), (2, "127.0.0.64")] {
        let out = fleet.scratch().join(format!("after-{node}.bin"));
        let got = curl_get(
            client,
            fleet.nodes[node].pinned,
            "erin",
            "big.bin",
            &out,
            &[],
        );
        assert!(got.status.success(), "{}", text(&got));
        assert_eq!(std::fs::read(&out).expect("download"), old);
        let small = scratch_file(&fleet, "small.bin", b"still here\n");
        let name = format!("small-{node}.bin");
        let put = curl_put(client, fleet.nodes[node].pinned, "erin", &small, &name, &[]);
        assert!(put.status.success(), "{}", text(&put));
    }

    // Once the dead node's lease has run out, the count is what is stored.
    let stored = || {
        let stored = fleet.stored("erin");
        (
            stored.iter().map(|(_, size)| size).sum::<u64>(),
            stored.len() as u64,
        )
    };
    fleet.wait_until(
        Duration::from_secs(75),
        "quota equals the stored bytes after the lease",
        || fleet.quota_used("erin") == stored(),
    );

    // The dead node's parts are left behind, until a login finds them older than the
    // stale-upload age and aborts them: no orphaned parts.
    assert!(!fleet.objects().unfinished_uploads(&home).is_empty());
    fleet.wait_until(Duration::from_secs(60), "the dead upload aborted", || {
        let listed = ftplib(
            "127.0.0.66",
            fleet.nodes[2].pinned,
            "erin",
            "ftp.nlst()\nftp.quit()",
            &[],
        );
        assert!(listed.status.success(), "{}", text(&listed));
        fleet.objects().unfinished_uploads(&home).is_empty()
    });

    // Node 2 comes back and serves the same file.
    fleet.nodes[1].daemon.start_again();
    let out = fleet.scratch().join("after-restart.bin");
    let got = curl_get(
        "127.0.0.65",
        fleet.nodes[1].pinned,
        "erin",
        "big.bin",
        &out,
        &[],
    );
    assert!(got.status.success(), "{}", text(&got));
    assert_eq!(std::fs::read(&out).expect("download"), old);
}

/// What one client of the rolling restart did: each transfer, and whether it succeeded.
struct Done {
    /// Uploads: the name and the content's digest.
    uploads: Vec<(String, Option<(u64, String)>)>,
    /// Failures, with the client's words.
    failures: Vec<String>,
    /// Transfers that completed.
    completed: usize,
}

#[test]
fn a_rolling_restart_loses_no_completed_transfer_and_clients_see_no_error() {
    let mut fleet = Fleet::start("rolling_restart", &[]);
    fleet.add_user("frank", "1GiB");
    let seed = random_bytes(1 << 20, 21);
    let seed_path = scratch_file(&fleet, "seed.bin", &seed);
    let put = curl_put(
        "127.0.0.71",
        fleet.control,
        "frank",
        &seed_path,
        "seed.bin",
        &[],
    );
    assert!(put.status.success(), "{}", text(&put));

    // Four curl clients through the shared frontend, each from its own address (so HAProxy
    // spreads them), alternating an upload of a new file and a download of the seed, slowed
    // so that every restart catches transfers in flight.
    let stop = Arc::new(AtomicBool::new(false));
    let scratch = fleet.scratch().to_path_buf();
    let control = fleet.control;
    let seed_digest = digest(&seed);
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let stop = Arc::clone(&stop);
            let scratch = scratch.clone();
            let seed_digest = seed_digest.clone();
            std::thread::spawn(move || {
                let from = format!("127.0.0.{}", 72 + client);
                let mut done = Done {
                    uploads: Vec::new(),
                    failures: Vec::new(),
                    completed: 0,
                };
                let mut round = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let name = format!("c{client}-{round}.bin");
                    let content = random_bytes(384 << 10, 1000 * client as u64 + round);
                    let path = scratch.join(&name);
                    std::fs::write(&path, &content).expect("write");
                    let put = curl_put(
                        &from,
                        control,
                        "frank",
                        &path,
                        &name,
                        &["--limit-rate", "1M", "-v"],
                    );
                    if put.status.success() {
                        done.completed += 1;
                        done.uploads.push((name.clone(), digest(&content)));
                    } else {
                        done.failures.push(format!("upload {name}: {}", text(&put)));
                    }
                    let out = scratch.join(format!("c{client}-{round}.seed"));
                    let got = curl_get(
                        &from,
                        control,
                        "frank",
                        "seed.bin",
                        &out,
                        &["--limit-rate", "2M", "-v"],
                    );
                    let copy = std::fs::read(&out).unwrap_or_default();
                    if got.status.success() && digest(&copy) == seed_digest {
                        done.completed += 1;
                    } else {
                        done.failures.push(format!("download: {}", text(&got)));
                    }
                    round += 1;
                }
                done
            })
        })
        .collect();

    // SIGTERM to each node in turn, waiting for it to end, then starting it again.
    std::thread::sleep(Duration::from_secs(2));
    for node in &mut fleet.nodes {
        let status = node.daemon.stop();
        assert!(
            status.is_some_and(|status| status.success()),
            "node {} stopped cleanly on SIGTERM: {status:?}\n{}",
            node.mode,
            node.daemon.log_text()
        );
        node.daemon.start_again();
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::SeqCst);
    let results: Vec<Done> = clients
        .into_iter()
        .map(|client| client.join().expect("client thread"))
        .collect();

    let failures: Vec<&String> = results.iter().flat_map(|done| &done.failures).collect();
    assert!(failures.is_empty(), "clients saw errors: {failures:#?}");
    let completed: usize = results.iter().map(|done| done.completed).sum();
    assert!(completed >= 12, "transfers ran throughout: {completed}");

    // Every upload a client saw complete is in the bucket, whole.
    let uploads: Vec<&(String, Option<(u64, String)>)> =
        results.iter().flat_map(|done| &done.uploads).collect();
    let keys: Vec<String> = uploads
        .iter()
        .map(|(name, _)| fleet.key("frank", name))
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    for ((name, expected), found) in uploads.iter().zip(fleet.objects().digests(&keys)) {
        assert_eq!(&found, expected, "{name}");
    }
    // Every node stopped with sessions to finish and said how it went.
    for node in &fleet.nodes {
        assert!(
            node.log().contains("stopped"),
            "node {}: {}",
            node.mode,
            node.log()
        );
    }
}
