//! The daemon driven by an independent Rust client, `suppaftp`, in every concurrency mode.

mod support;

use std::time::Duration;

use suppaftp::list::{File, ListParser};
use suppaftp::tokio::AsyncFtpStream;
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, Status};
use support::{Daemon, MODES, random_bytes, sha256_hex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Size of the big transfer: 20 MiB of random bytes.
const BIG: usize = 20 << 20;

/// Connects and logs in as alice.
async fn login(daemon: &Daemon) -> AsyncFtpStream {
    let mut ftp = AsyncFtpStream::connect(daemon.addr).await.expect("connect");
    ftp.login("alice", "secret").await.expect("login");
    ftp.transfer_type(FileType::Binary).await.expect("TYPE I");
    ftp
}

/// Downloads a whole file.
async fn get(ftp: &mut AsyncFtpStream, name: &str) -> Vec<u8> {
    let mut stream = ftp.retr_as_stream(name).await.expect("RETR");
    let mut data = Vec::new();
    stream.read_to_end(&mut data).await.expect("read data");
    stream.finish().await.expect("226 after RETR");
    data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppaftp_logins_and_directory_commands() {
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        let mut bad = AsyncFtpStream::connect(daemon.addr).await.expect("connect");
        match bad.login("alice", "wrong").await {
            Err(FtpError::UnexpectedResponse(response)) => {
                assert_eq!(response.status, Status::NotLoggedIn, "{mode}")
            }
            other => panic!("{mode}: bad login gave {other:?}"),
        }
        // Sequential mode serves one connection at a time: end this one first.
        drop(bad);
        let mut ftp = login(&daemon).await;
        assert_eq!(ftp.pwd().await.unwrap(), "/", "{mode}");
        ftp.mkdir("docs").await.expect("MKD");
        ftp.cwd("docs").await.expect("CWD");
        assert_eq!(ftp.pwd().await.unwrap(), "/docs");
        ftp.put_file("a.txt", &mut &b"alpha\n"[..])
            .await
            .expect("STOR");
        ftp.mkdir("sub dir").await.expect("MKD with a space");
        ftp.cdup().await.expect("CDUP");
        assert_eq!(ftp.pwd().await.unwrap(), "/");

        let names = ftp.nlst(Some("docs")).await.expect("NLST");
        assert_eq!(names, vec!["a.txt", "sub dir"], "{mode}");
        let long = ftp.list(Some("docs")).await.expect("LIST");
        let files: Vec<File> = long
            .iter()
            .map(|line| ListParser::parse_posix(line).unwrap_or_else(|e| panic!("{line:?}: {e:?}")))
            .collect();
        assert_eq!(files.len(), 2, "{mode}: {long:?}");
        assert!(files[0].is_file() && files[0].name() == "a.txt" && files[0].size() == 6);
        assert!(files[1].is_directory() && files[1].name() == "sub dir");
        let machine = ftp.mlsd(Some("docs")).await.expect("MLSD");
        let files: Vec<File> = machine
            .iter()
            .map(|line| ListParser::parse_mlsd(line).unwrap_or_else(|e| panic!("{line:?}: {e:?}")))
            .collect();
        assert_eq!(files.len(), 2, "{mode}: {machine:?}");
        assert!(
            files
                .iter()
                .any(|f| f.is_file() && f.name() == "a.txt" && f.size() == 6)
        );
        assert!(
            files
                .iter()
                .any(|f| f.is_directory() && f.name() == "sub dir")
        );

        ftp.rename("docs/a.txt", "docs/b.txt")
            .await
            .expect("RNFR/RNTO");
        assert_eq!(ftp.size("docs/b.txt").await.unwrap(), 6);
        assert!(
            ftp.size("docs/a.txt").await.is_err(),
            "{mode}: old name gone"
        );
        ftp.rm("docs/b.txt").await.expect("DELE");
        ftp.rmdir("docs/sub dir").await.expect("RMD");
        ftp.rmdir("docs").await.expect("RMD");
        assert!(ftp.nlst(None).await.expect("NLST").is_empty(), "{mode}");
        ftp.quit().await.expect("QUIT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppaftp_twenty_mib_round_trip_with_hash_in_every_data_mode() {
    let data = random_bytes(BIG, 1);
    let expected = sha256_hex(&data);
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        for (index, data_mode) in [Mode::Passive, Mode::ExtendedPassive]
            .into_iter()
            .enumerate()
        {
            let mut ftp = login(&daemon).await;
            ftp.set_mode(data_mode);
            let name = format!("big{index}.bin");
            let sent = ftp
                .put_file(&name, &mut &data[..])
                .await
                .expect("STOR 20 MiB");
            assert_eq!(sent, BIG as u64);
            let on_disk = std::fs::read(daemon.home("alice").join(&name)).unwrap();
            assert_eq!(sha256_hex(&on_disk), expected, "{mode}: stored bytes");
            let back = get(&mut ftp, &name).await;
            assert_eq!(sha256_hex(&back), expected, "{mode}: downloaded bytes");
            let hash = ftp
                .custom_command(format!("HASH {name}"), &[Status::File])
                .await
                .expect("HASH");
            let text = hash.as_string().unwrap();
            assert_eq!(
                text,
                format!("213 SHA-256 0-{BIG} {expected} {name}"),
                "{mode}"
            );
            let legacy = ftp
                .custom_command(format!("XSHA256 {name}"), &[Status::RequestedFileActionOk])
                .await
                .expect("XSHA256");
            assert!(legacy.as_string().unwrap().ends_with(&expected), "{mode}");
            ftp.quit().await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppaftp_resumes_broken_transfers_in_both_directions() {
    // Larger than loopback's socket buffers: the server cannot have finished sending when ABOR
    // arrives (suppaftp 12's abort reads one reply, not the RETR's 226 and ABOR's after it).
    let data = random_bytes(32 << 20, 2);
    let half = data.len() / 2;
    for mode in MODES {
        let daemon = Daemon::start(mode, &[("alice", "secret")]);
        std::fs::write(daemon.home("alice").join("source.bin"), &data).unwrap();
        let mut ftp = login(&daemon).await;

        // Download broken off after the first half, then REST + RETR for the rest.
        let mut stream = ftp.retr_as_stream("source.bin").await.expect("RETR");
        let mut first = vec![0u8; half];
        stream.read_exact(&mut first).await.unwrap();
        ftp.abort(stream).await.expect("ABOR");
        ftp.resume_transfer(half).await.expect("REST");
        let rest = get(&mut ftp, "source.bin").await;
        first.extend(rest);
        assert_eq!(sha256_hex(&first), sha256_hex(&data), "{mode}: REST+RETR");

        // Upload broken off (a new file keeps its partial bytes), then REST + STOR.
        let mut stream = ftp.put_with_stream("upload.bin").await.expect("STOR");
        stream.write_all(&data[..half]).await.unwrap();
        stream.finish().await.expect("226 for the first half");
        assert_eq!(ftp.size("upload.bin").await.unwrap(), half, "{mode}");
        ftp.resume_transfer(half).await.expect("REST");
        let mut stream = ftp.put_with_stream("upload.bin").await.expect("REST+STOR");
        stream.write_all(&data[half..]).await.unwrap();
        stream.finish().await.expect("226");
        let stored = std::fs::read(daemon.home("alice").join("upload.bin")).unwrap();
        assert_eq!(sha256_hex(&stored), sha256_hex(&data), "{mode}: REST+STOR");

        // APPE continues a partial file.
        ftp.put_file("append.bin", &mut &data[..half])
            .await
            .unwrap();
        ftp.append_file("append.bin", &mut &data[half..])
            .await
            .expect("APPE");
        let appended = std::fs::read(daemon.home("alice").join("append.bin")).unwrap();
        assert_eq!(sha256_hex(&appended), sha256_hex(&data), "{mode}: APPE");

        // REST beyond the end is refused with 554 before any transfer.
        ftp.resume_transfer(data.len() + 1).await.unwrap();
        match ftp.put_with_stream("upload.bin").await {
            Err(FtpError::UnexpectedResponse(response)) => {
                let text = response.as_string().unwrap_or_default();
                assert!(text.starts_with("554 "), "{mode}: {text}")
            }
            Err(other) => panic!("{mode}: {other:?}"),
            Ok(_) => panic!("{mode}: STOR past the end was accepted"),
        }
        tokio::time::timeout(Duration::from_secs(10), ftp.quit())
            .await
            .expect("QUIT in time")
            .unwrap();
    }
}
