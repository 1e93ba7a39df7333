//! The optional transfer log in the wu-ftpd `xferlog` format that log tools read: one line per
//! file transfer, appended with `O_APPEND` so sessions in every mode (processes included) can
//! share one file.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::listing::UtcDateTime;
use crate::listing::time::unix_seconds;
use crate::metrics::{TransferDirection, TransferResult};

/// Which way a file went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Downloaded by the client (`o`).
    Outgoing,
    /// Uploaded by the client (`i`).
    Incoming,
}

/// One finished (or failed) file transfer.
#[derive(Debug, Clone)]
pub(crate) struct TransferRecord {
    /// When the transfer ended.
    pub(crate) ended: SystemTime,
    /// How long it took.
    pub(crate) duration: Duration,
    /// The client's address.
    pub(crate) peer: IpAddr,
    /// Bytes moved on the data connection.
    pub(crate) bytes: u64,
    /// The file, as the session sees it (home = `/`).
    pub(crate) path: String,
    /// TYPE A (`a`) or binary (`b`).
    pub(crate) ascii: bool,
    /// Upload or download.
    pub(crate) direction: Direction,
    /// The logged-in user.
    pub(crate) user: String,
    /// Whether the transfer completed (`c`) or not (`i`).
    pub(crate) complete: bool,
}

impl TransferRecord {
    /// The xferlog line, newline included. Whitespace in names becomes `_` so every field stays
    /// one word, as log tools split on spaces.
    pub(crate) fn line(&self) -> String {
        let when = UtcDateTime::from_system_time(self.ended);
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let weekday = WEEKDAYS[unix_seconds(self.ended).div_euclid(86_400).rem_euclid(7) as usize];
        let one_word = |text: &str| text.replace(char::is_whitespace, "_");
        format!(
            "{weekday} {} {:2} {:02}:{:02}:{:02} {} {} {} {} {} {} _ {} r {} ftp 0 * {}\n",
            when.month_abbreviation(),
            when.day,
            when.hour,
            when.minute,
            when.second,
            when.year,
            self.duration.as_secs().max(1),
            self.peer,
            self.bytes,
            one_word(&self.path),
            if self.ascii { 'a' } else { 'b' },
            match self.direction {
                Direction::Outgoing => 'o',
                Direction::Incoming => 'i',
            },
            one_word(&self.user),
            if self.complete { 'c' } else { 'i' },
        )
    }
}

/// Appends a record to the log file; failures are logged, never fatal to the session.
pub(crate) async fn append(file: &Path, record: TransferRecord) {
    let file = file.to_path_buf();
    let line = record.line();
    let written = tokio::task::spawn_blocking(move || {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file)?;
        // One write call per line: appends of a line do not interleave.
        log.write_all(line.as_bytes())
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "cannot write the xferlog"),
        Err(join) => tracing::warn!(%join, "cannot write the xferlog"),
    }
}

impl super::state::Session {
    /// Records a file transfer in the xferlog, if one is configured.
    pub(crate) async fn log_transfer(
        &self,
        path: &str,
        started: Instant,
        bytes: u64,
        direction: Direction,
        result: TransferResult,
    ) {
        let duration = started.elapsed();
        if let Some(metrics) = &self.shared.metrics {
            let direction = match direction {
                Direction::Incoming => TransferDirection::Upload,
                Direction::Outgoing => TransferDirection::Download,
            };
            metrics.transfer(direction, result, bytes, duration.as_secs_f64());
        }
        let Some(file) = &self.shared.config.log.xferlog else {
            return;
        };
        let record = TransferRecord {
            ended: SystemTime::now(),
            duration,
            peer: self.peer_ip,
            bytes,
            path: path.to_string(),
            ascii: self.transfer_type == crate::protocol::command::TransferType::Ascii,
            direction,
            user: self.user_name().to_string(),
            complete: result == TransferResult::Ok,
        };
        append(file, record).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_the_fourteen_xferlog_fields() {
        let record = TransferRecord {
            // 2025-11-25 17:58:09 UTC, a Tuesday.
            ended: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_093_489),
            duration: Duration::from_millis(200),
            peer: "127.0.0.1".parse().unwrap(),
            bytes: 1234,
            path: "/my file.txt".to_string(),
            ascii: false,
            direction: Direction::Incoming,
            user: "alice".to_string(),
            complete: true,
        };
        assert_eq!(
            record.line(),
            "Tue Nov 25 17:58:09 2025 1 127.0.0.1 1234 /my_file.txt b _ i r alice ftp 0 * c\n"
        );
        let incomplete = TransferRecord {
            complete: false,
            direction: Direction::Outgoing,
            ascii: true,
            ..record
        };
        let line = incomplete.line();
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Five date words, then 13 more fields.
        assert_eq!(fields.len(), 18, "{line}");
        assert_eq!((fields[9], fields[11], fields[17]), ("a", "o", "i"));
    }
}
