//! The transfer log, parsed field by field against xferlog(5) in every concurrency mode:
//! completed and aborted transfers, both directions, ASCII and binary, clear and FTPS.

mod support;
mod tls_support;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

use support::raw::Raw;
use support::{MODES, random_bytes};
use tls_support::raw_tls::{TlsRaw, data_tcp, handshake, read_all, write_and_close};
use tls_support::{pki, start_ftps};

/// One parsed xferlog line.
#[derive(Debug)]
struct Entry {
    /// current-time, as (weekday, month, day, hh:mm:ss, year).
    date: (String, String, u32, String, i64),
    transfer_secs: u64,
    remote_host: String,
    file_size: u64,
    filename: String,
    transfer_type: String,
    special_action: String,
    direction: String,
    access_mode: String,
    username: String,
    service: String,
    auth_method: String,
    auth_user: String,
    completion: String,
}

/// Parses a line into its 14 xferlog fields (the date takes five words).
fn parse(line: &str) -> Entry {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 18, "{line:?}");
    let number = |text: &str| {
        text.parse::<u64>()
            .unwrap_or_else(|_| panic!("{text:?} in {line:?}"))
    };
    Entry {
        date: (
            f[0].to_string(),
            f[1].to_string(),
            u32::try_from(number(f[2])).expect("day"),
            f[3].to_string(),
            i64::try_from(number(f[4])).expect("year"),
        ),
        transfer_secs: number(f[5]),
        remote_host: f[6].to_string(),
        file_size: number(f[7]),
        filename: f[8].to_string(),
        transfer_type: f[9].to_string(),
        special_action: f[10].to_string(),
        direction: f[11].to_string(),
        access_mode: f[12].to_string(),
        username: f[13].to_string(),
        service: f[14].to_string(),
        auth_method: f[15].to_string(),
        auth_user: f[16].to_string(),
        completion: f[17].to_string(),
    }
}

/// Today's UTC date as (weekday, month, day, year), the xferlog way.
fn today() -> (&'static str, &'static str, u32, i64) {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let days = i64::try_from(secs / 86_400).expect("days");
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).expect("day");
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let month_index = usize::try_from(month - 1).expect("month");
    let weekday = WEEKDAYS[usize::try_from(days.rem_euclid(7)).expect("weekday")];
    (weekday, MONTHS[month_index], day, year)
}

#[test]
fn xferlog_lines_have_every_field_right_in_every_mode() {
    let pki = pki();
    let config = pki.client_config();
    for mode in MODES {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("xferlog");
        let daemon = start_ftps(
            mode,
            &[("alice", "secret")],
            &pki,
            &[],
            &[("WHARF_FTPD__LOG__XFERLOG", log.to_str().unwrap())],
        );
        let big = random_bytes(32 << 20, 9);
        std::fs::write(daemon.home("alice").join("big.bin"), &big).unwrap();

        let mut raw = Raw::login(daemon.addr, "alice", "secret");
        // 1. Binary upload, complete; a name with a space.
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("STOR my file.bin").code, 150);
        data.write_all(&[7u8; 1000]).unwrap();
        drop(data);
        assert_eq!(raw.reply().code, 226);
        // 2. ASCII upload, complete: 8 bytes on the wire.
        assert_eq!(raw.cmd("TYPE A").code, 200);
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("STOR text.txt").code, 150);
        data.write_all(b"one\r\ntwo").unwrap();
        drop(data);
        assert_eq!(raw.reply().code, 226);
        assert_eq!(raw.cmd("TYPE I").code, 200);
        // 3. Download aborted part-way.
        let mut data = raw.epsv(daemon.addr);
        assert_eq!(raw.cmd("RETR big.bin").code, 150);
        let mut some = vec![0u8; 64 * 1024];
        data.read_exact(&mut some).unwrap();
        raw.send_bytes(b"ABOR\r\n");
        let first = raw.reply();
        if first.code == 426 {
            assert_eq!(raw.reply().code, 226);
        }
        drop(data);
        raw.cmd("QUIT");
        // 4. Download over FTPS, complete.
        let (mut secure, _) = TlsRaw::connect(daemon.addr);
        secure.secure_login(&config, "alice", "secret");
        let addr = secure.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(secure.cmd("RETR my file.bin").code, 150);
        let mut tls = handshake(&config, data).unwrap();
        assert_eq!(read_all(&mut tls).unwrap().len(), 1000);
        assert_eq!(secure.reply().code, 226);
        // 5. Upload over FTPS, complete.
        let addr = secure.epsv(daemon.addr);
        let data = data_tcp(addr);
        assert_eq!(secure.cmd("STOR tls.bin").code, 150);
        write_and_close(handshake(&config, data).unwrap(), &[1u8; 4321]).unwrap();
        assert_eq!(secure.reply().code, 226);
        secure.cmd("QUIT");

        // Lines are appended by the session after its reply: wait for all five.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.lines().count() >= 5 || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let entries: Vec<Entry> = text.lines().map(parse).collect();
        assert_eq!(entries.len(), 5, "{mode}: {text}");
        let (weekday, month, day, year) = today();
        let expected = [
            ("/my_file.bin", Some(1000), "b", "i", "c"),
            ("/text.txt", Some(8), "a", "i", "c"),
            ("/big.bin", None, "b", "o", "i"),
            ("/my_file.bin", Some(1000), "b", "o", "c"),
            ("/tls.bin", Some(4321), "b", "i", "c"),
        ];
        for (entry, (name, size, kind, direction, completion)) in entries.iter().zip(expected) {
            let what = format!("{mode} {name} {direction}");
            // Written just now (UTC); allow the date to have turned over at midnight.
            let (w, m, d, _, y) = &entry.date;
            assert!(
                (w.as_str(), m.as_str(), *d, *y) == (weekday, month, day, year)
                    || entry.date.3.starts_with("23:59")
                    || entry.date.3.starts_with("00:00"),
                "{what}: {entry:?}"
            );
            let clock: Vec<&str> = entry.date.3.split(':').collect();
            assert!(
                clock.len() == 3 && clock.iter().all(|p| p.len() == 2),
                "{what}"
            );
            assert!(
                entry.transfer_secs >= 1 && entry.transfer_secs < 60,
                "{what}"
            );
            assert_eq!(entry.remote_host, "127.0.0.1", "{what}");
            match size {
                Some(size) => assert_eq!(entry.file_size, size, "{what}"),
                None => assert!(
                    entry.file_size >= 64 * 1024 && entry.file_size < big.len() as u64,
                    "{what}: aborted after part of the file: {entry:?}"
                ),
            }
            assert_eq!(entry.filename, name, "{what}");
            assert_eq!(entry.transfer_type, kind, "{what}");
            assert_eq!(entry.special_action, "_", "{what}");
            assert_eq!(entry.direction, direction, "{what}");
            assert_eq!(
                entry.access_mode, "r",
                "{what}: a real (not anonymous) user"
            );
            assert_eq!(entry.username, "alice", "{what}");
            assert_eq!(entry.service, "ftp", "{what}");
            assert_eq!(entry.auth_method, "0", "{what}");
            assert_eq!(entry.auth_user, "*", "{what}");
            assert_eq!(entry.completion, completion, "{what}");
        }
    }
}
