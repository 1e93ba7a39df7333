//! RFC 3659 machine listings: MLSD lines and the MLST entry line.
//!
//! Facts sent: `type`, `size` (files), `modify` (UTC), `perm` and `unique`. A symlink whose
//! target is missing or outside the home is `type=OS.unix=symlink` with nothing about its target.

use super::time::ftp_timestamp;
use crate::storage::{Entry, EntryKind};

/// The FEAT line body for MLST, naming the facts we send (all enabled, hence the stars).
pub const MLST_FACTS_FEAT: &str = "type*;size*;modify*;perm*;unique*;";

/// Which role an entry plays in an MLSD listing (RFC 3659 section 7.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactRole {
    /// An ordinary entry (`type=file` or `type=dir`).
    Entry,
    /// The directory being listed (`type=cdir`).
    CurrentDir,
    /// Its parent (`type=pdir`).
    ParentDir,
}

/// The fact list, each fact ending in `;`, e.g.
/// `type=file;size=12;modify=20251125175809;perm=adfrw;unique=801g1a2b;`.
pub fn facts(entry: &Entry, role: FactRole) -> String {
    let modify = ftp_timestamp(entry.modified);
    let unique = format!("{:x}g{:x}", entry.dev, entry.inode);
    match (entry.kind, role) {
        (EntryKind::Symlink, _) => format!("type=OS.unix=symlink;modify={modify};unique={unique};"),
        (EntryKind::File, _) => format!(
            "type=file;size={};modify={modify};perm={};unique={unique};",
            entry.size,
            file_perm(entry.mode)
        ),
        (EntryKind::Dir, role) => {
            let kind = match role {
                FactRole::Entry => "dir",
                FactRole::CurrentDir => "cdir",
                FactRole::ParentDir => "pdir",
            };
            // The listed directory and its parent cannot be deleted or renamed through
            // themselves: offer `d` and `f` only on ordinary entries.
            let perm = dir_perm(entry.mode, role == FactRole::Entry);
            format!("type={kind};modify={modify};perm={perm};unique={unique};")
        }
    }
}

/// One MLSD line ending in CRLF: facts, a space, the name (`.`/`..` for cdir/pdir).
pub fn mlsd_line(entry: &Entry, role: FactRole) -> String {
    let name = match role {
        FactRole::Entry => entry.name.as_str(),
        FactRole::CurrentDir => ".",
        FactRole::ParentDir => "..",
    };
    format!("{} {name}\r\n", facts(entry, role))
}

/// The entry line inside an MLST `250-` reply: a leading space, facts, a space, the pathname.
pub fn mlst_line(entry: &Entry, pathname: &str) -> String {
    format!(" {} {pathname}\r\n", facts(entry, FactRole::Entry))
}

/// RFC 3659 7.5.5 letters for a file, from the owner permission bits: `a`ppend, `d`elete,
/// rename (`f`), `r`ead, `w`rite.
fn file_perm(mode: u32) -> String {
    let writable = mode & 0o200 != 0;
    let readable = mode & 0o400 != 0;
    let mut perm = String::new();
    if writable {
        perm.push('a');
    }
    perm.push_str("df");
    if readable {
        perm.push('r');
    }
    if writable {
        perm.push('w');
    }
    perm
}

/// RFC 3659 7.5.5 letters for a directory: `c`reate files, `d`elete, `e`nter, rename (`f`),
/// `l`ist, `m`ake directories, `p`urge contents.
fn dir_perm(mode: u32, removable: bool) -> String {
    let readable = mode & 0o400 != 0;
    let writable = mode & 0o200 != 0;
    let enterable = mode & 0o100 != 0;
    let mut perm = String::new();
    let mut push = |letter: char, allowed: bool| {
        if allowed {
            perm.push(letter);
        }
    };
    push('c', writable && enterable);
    push('d', removable);
    push('e', enterable);
    push('f', removable);
    push('l', readable && enterable);
    push('m', writable && enterable);
    push('p', writable && enterable);
    perm
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn entry(name: &str, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            name: name.to_owned(),
            kind,
            is_symlink: kind == EntryKind::Symlink,
            size: 1234,
            modified: UNIX_EPOCH + Duration::from_secs(1_764_093_489),
            mode,
            nlink: 1,
            dev: 0x801,
            inode: 0x1a2b,
        }
    }

    #[test]
    fn file_facts_follow_rfc_3659() {
        let file = entry("report.pdf", EntryKind::File, 0o644);
        assert_eq!(
            mlsd_line(&file, FactRole::Entry),
            "type=file;size=1234;modify=20251125175809;perm=adfrw;unique=801g1a2b; report.pdf\r\n"
        );
        let read_only = entry("ro", EntryKind::File, 0o444);
        assert!(facts(&read_only, FactRole::Entry).contains(";perm=dfr;"));
    }

    #[test]
    fn directory_facts_and_roles() {
        let dir = entry("pub", EntryKind::Dir, 0o755);
        assert_eq!(
            facts(&dir, FactRole::Entry),
            "type=dir;modify=20251125175809;perm=cdeflmp;unique=801g1a2b;"
        );
        assert_eq!(
            mlsd_line(&dir, FactRole::CurrentDir),
            "type=cdir;modify=20251125175809;perm=celmp;unique=801g1a2b; .\r\n"
        );
        assert!(mlsd_line(&dir, FactRole::ParentDir).starts_with("type=pdir;"));
        assert!(mlsd_line(&dir, FactRole::ParentDir).ends_with("; ..\r\n"));
        let locked = entry("locked", EntryKind::Dir, 0o555);
        assert!(facts(&locked, FactRole::Entry).contains(";perm=defl;"));
    }

    #[test]
    fn unresolved_symlinks_reveal_nothing_of_their_target() {
        let link = entry("escape", EntryKind::Symlink, 0o777);
        let line = facts(&link, FactRole::Entry);
        assert!(line.starts_with("type=OS.unix=symlink;"), "{line}");
        assert!(!line.contains("size=") && !line.contains("perm="), "{line}");
    }

    #[test]
    fn mlst_line_has_a_leading_space_and_the_pathname() {
        let file = entry("a b.txt", EntryKind::File, 0o600);
        assert_eq!(
            mlst_line(&file, "/dir/a b.txt"),
            " type=file;size=1234;modify=20251125175809;perm=adfrw;unique=801g1a2b; /dir/a b.txt\r\n"
        );
    }

    #[test]
    fn feat_line_names_every_fact_sent() {
        for fact in ["type", "size", "modify", "perm", "unique"] {
            assert!(MLST_FACTS_FEAT.contains(&format!("{fact}*;")));
        }
    }
}
