//! LIST lines in the `ls -l` format that FTP clients parse, and NLST lines.

use std::time::SystemTime;

use super::time::{UtcDateTime, unix_seconds};
use crate::storage::{Entry, EntryKind};

/// Half of an average Gregorian year: older files show the year instead of the time, as `ls`.
const SIX_MONTHS_SECONDS: i64 = 15_778_476;

/// Clock slack before a modification time counts as "in the future" (an upload in progress).
const FUTURE_SLACK_SECONDS: i64 = 60;

/// Owner and group shown when the user name cannot be printed safely.
const DEFAULT_OWNER: &str = "ftp";

/// One LIST line ending in CRLF, e.g.
/// `-rw-r--r--   1 alice    alice        1234 Nov 25 17:58 notes.txt`.
/// `user` is shown as owner and group; `now` decides between time and year.
pub fn ls_line(entry: &Entry, user: &str, now: SystemTime) -> String {
    let owner = printable_owner(user);
    format!(
        "{}{} {:>3} {:<8} {:<8} {:>12} {} {}\r\n",
        type_char(entry.kind),
        permission_string(entry.mode),
        entry.nlink,
        owner,
        owner,
        entry.size,
        ls_date(entry.modified, now),
        entry.name
    )
}

/// One NLST line: the name and CRLF.
pub fn nlst_line(name: &str) -> String {
    format!("{name}\r\n")
}

/// `-`, `d` or `l`; a symlink resolved inside the home shows its target's type, as `ls -L`.
fn type_char(kind: EntryKind) -> char {
    match kind {
        EntryKind::File => '-',
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
    }
}

/// `rwxr-xr-x` with setuid, setgid and sticky bits as `ls` prints them.
fn permission_string(mode: u32) -> String {
    let triplet = |shift: u32, special: bool, set_char: char| {
        let bits = (mode >> shift) & 0o7;
        let read = if bits & 0o4 != 0 { 'r' } else { '-' };
        let write = if bits & 0o2 != 0 { 'w' } else { '-' };
        let execute = match (bits & 0o1 != 0, special) {
            (true, true) => set_char,
            (false, true) => set_char.to_ascii_uppercase(),
            (true, false) => 'x',
            (false, false) => '-',
        };
        [read, write, execute]
    };
    triplet(6, mode & 0o4000 != 0, 's')
        .into_iter()
        .chain(triplet(3, mode & 0o2000 != 0, 's'))
        .chain(triplet(0, mode & 0o1000 != 0, 't'))
        .collect()
}

/// `Mon DD HH:MM` for recent times, `Mon DD  YYYY` for old or future ones (UTC).
fn ls_date(modified: SystemTime, now: SystemTime) -> String {
    let when = unix_seconds(modified);
    let current = unix_seconds(now);
    let utc = UtcDateTime::from_system_time(modified);
    let recent = when > current.saturating_sub(SIX_MONTHS_SECONDS)
        && when <= current.saturating_add(FUTURE_SLACK_SECONDS);
    if recent {
        format!(
            "{} {:>2} {:02}:{:02}",
            utc.month_abbreviation(),
            utc.day,
            utc.hour,
            utc.minute
        )
    } else {
        format!(
            "{} {:>2} {:>5}",
            utc.month_abbreviation(),
            utc.day,
            utc.year
        )
    }
}

/// The user name if it prints as one word, else `ftp` (a space would break client parsers).
fn printable_owner(user: &str) -> &str {
    let printable = !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_graphic() || c.is_alphanumeric());
    if printable { user } else { DEFAULT_OWNER }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2025-11-25T17:58:09Z
    const NOW: u64 = 1_764_093_489;

    fn entry(name: &str, kind: EntryKind, mode: u32, size: u64, modified: u64) -> Entry {
        Entry {
            name: name.to_owned(),
            kind,
            is_symlink: kind == EntryKind::Symlink,
            size,
            modified: UNIX_EPOCH + Duration::from_secs(modified),
            mode,
            nlink: 1,
            dev: 1,
            inode: 2,
        }
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn recent_file_shows_time_of_day() {
        let line = ls_line(
            &entry("notes.txt", EntryKind::File, 0o644, 1234, NOW - 60),
            "alice",
            now(),
        );
        assert_eq!(
            line,
            "-rw-r--r--   1 alice    alice            1234 Nov 25 17:57 notes.txt\r\n"
        );
    }

    #[test]
    fn old_and_future_files_show_the_year() {
        // 2024-12-31T00:00:00Z: more than six months before NOW.
        let old = ls_line(
            &entry("old", EntryKind::File, 0o600, 7, 1_735_603_200),
            "bob",
            now(),
        );
        assert_eq!(
            old,
            "-rw-------   1 bob      bob                 7 Dec 31  2024 old\r\n"
        );
        // 2026-01-05T00:00:00Z: in the future.
        let future = ls_line(
            &entry("f", EntryKind::File, 0o644, 0, 1_767_571_200),
            "bob",
            now(),
        );
        assert!(future.contains("Jan  5  2026 f\r\n"), "{future}");
        // Five months ago is still recent.
        let recent = ls_line(
            &entry("r", EntryKind::File, 0o644, 0, NOW - 150 * 86_400),
            "bob",
            now(),
        );
        assert!(recent.contains("Jun 28 17:58 r\r\n"), "{recent}");
    }

    #[test]
    fn directories_symlinks_and_special_bits() {
        let dir = ls_line(
            &entry("pub", EntryKind::Dir, 0o755, 4096, NOW),
            "ftp",
            now(),
        );
        assert!(dir.starts_with("drwxr-xr-x "), "{dir}");
        let link = ls_line(
            &entry("out", EntryKind::Symlink, 0o777, 4, NOW),
            "ftp",
            now(),
        );
        assert!(
            link.starts_with("lrwxrwxrwx ") && link.ends_with(" out\r\n"),
            "{link}"
        );
        assert_eq!(permission_string(0o4755), "rwsr-xr-x");
        assert_eq!(permission_string(0o2644), "rw-r-Sr--");
        assert_eq!(permission_string(0o1777), "rwxrwxrwt");
        assert_eq!(permission_string(0o1666), "rw-rw-rwT");
        assert_eq!(permission_string(0), "---------");
    }

    #[test]
    fn unprintable_user_names_fall_back_to_ftp() {
        for user in ["", "two words", "tab\tname"] {
            let line = ls_line(&entry("x", EntryKind::File, 0o644, 1, NOW), user, now());
            assert!(line.contains(" ftp      ftp "), "{user:?}: {line}");
        }
    }

    #[test]
    fn names_with_spaces_are_kept_whole_and_nlst_is_names_only() {
        let line = ls_line(
            &entry("my file .txt", EntryKind::File, 0o644, 1, NOW),
            "u",
            now(),
        );
        assert!(line.ends_with(" my file .txt\r\n"), "{line}");
        assert_eq!(nlst_line("a b"), "a b\r\n");
    }
}
