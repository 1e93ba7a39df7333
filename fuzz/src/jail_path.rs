//! Virtual path resolution ([`VirtualPath::resolve`]) and the local jail ([`LocalJail`]) on a
//! real directory tree whose home holds symlinks that point out of it.
//!
//! Invariants: a resolved path is absolute and normal (no empty, `.` or `..` component, no
//! NUL or line break, within the length limits), resolving it again changes nothing, and a
//! relative argument without `..` stays under the current directory; through the jail, no
//! metadata, listing or read ever reaches a file outside the home, whichever links it follows.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wharf_ftp::storage::path::{MAX_COMPONENT_BYTES, MAX_PATH_BYTES};
use wharf_ftp::storage::{LocalJail, VirtualPath};

/// What every file outside the home holds, so a read that escaped is recognised.
const OUTSIDE_MARKER: &[u8] = b"OUTSIDE-THE-HOME";

/// The fixture: a scratch directory with the home and the files outside it.
struct Fixture {
    /// The scratch directory (removed when the process exits).
    scratch: PathBuf,
    /// The jail on `scratch/home`.
    jail: LocalJail,
    /// `(device, inode)` of everything outside the home, the scratch directory included.
    outside: HashSet<(u64, u64)>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

/// The cwd and the argument are the first two `0xFF`-separated fields of `data`.
pub fn run(data: &[u8]) {
    let [cwd, arg] = crate::fields::<2>(data);
    let cwd = VirtualPath::parse(&cwd).unwrap_or_default();
    check_virtual_path(&cwd);
    let Ok(resolved) = VirtualPath::resolve(&cwd, &arg) else {
        return;
    };
    check_virtual_path(&resolved);
    assert_eq!(
        VirtualPath::parse(resolved.as_str()).as_ref(),
        Ok(&resolved),
        "resolving {resolved} again changed it"
    );
    let climbs = arg.split('/').any(|part| part == "..");
    if !arg.starts_with('/') && !climbs {
        assert!(
            resolved.starts_with(&cwd),
            "{arg:?} from {cwd} left it: {resolved}"
        );
    }
    if let Some(name) = resolved.file_name() {
        assert_eq!(resolved.parent().join(name).as_ref(), Ok(&resolved));
    }
    check_jail(&resolved);
}

/// The invariants `VirtualPath` documents.
fn check_virtual_path(path: &VirtualPath) {
    let text = path.as_str();
    assert!(text.starts_with('/'), "{text:?}");
    assert!(text.len() <= MAX_PATH_BYTES, "{} bytes", text.len());
    assert!(!text.contains(['\0', '\r', '\n']), "{text:?}");
    if !path.is_root() {
        assert!(!text.ends_with('/'), "{text:?}");
        for part in text[1..].split('/') {
            assert!(!matches!(part, "" | "." | ".."), "{text:?}");
            assert!(part.len() <= MAX_COMPONENT_BYTES, "{text:?}");
        }
    }
}

/// Everything the jail returns for `path` lies inside the home.
fn check_jail(path: &VirtualPath) {
    let fixture = FIXTURE.get_or_init(Fixture::create);
    if let Ok(entry) = fixture.jail.metadata(path) {
        fixture.assert_inside(entry.dev, entry.inode, path);
    }
    if let Ok(entries) = fixture.jail.list(path) {
        for entry in entries {
            assert!(!entry.name.contains('/'), "{path}: {:?}", entry.name);
            fixture.assert_inside(entry.dev, entry.inode, path);
        }
    }
    if let Ok((mut file, _size)) = fixture.jail.open_read(path, 0) {
        let metadata = file.metadata().expect("an open file has metadata");
        fixture.assert_inside(metadata.dev(), metadata.ino(), path);
        let mut content = Vec::new();
        // A FIFO or a device would block or fail; the fixture has neither.
        file.read_to_end(&mut content)
            .expect("the fixture's files read");
        assert!(
            !content
                .windows(OUTSIDE_MARKER.len())
                .any(|w| w == OUTSIDE_MARKER),
            "{path} read a file outside the home"
        );
    }
}

impl Fixture {
    /// Builds the tree once per process, in a scratch directory removed at exit.
    fn create() -> Fixture {
        let scratch = std::env::temp_dir().join(format!("wharf-fuzz-jail-{}", std::process::id()));
        // A leftover of an earlier process with the same id goes first.
        let _ = std::fs::remove_dir_all(&scratch);
        build_tree(&scratch).expect("the jail fixture builds in the temporary directory");
        remove_at_exit(&scratch);
        let home = scratch.join("home");
        let mut outside = HashSet::new();
        for path in [
            scratch.clone(),
            scratch.join("secret.txt"),
            scratch.join("secret-dir"),
            scratch.join("secret-dir/inner.txt"),
        ] {
            let metadata = std::fs::symlink_metadata(&path).expect("fixture file");
            outside.insert((metadata.dev(), metadata.ino()));
        }
        let jail = LocalJail::open(&home).expect("the fixture's home opens");
        Fixture {
            scratch,
            jail,
            outside,
        }
    }

    fn assert_inside(&self, dev: u64, inode: u64, path: &VirtualPath) {
        assert!(
            !self.outside.contains(&(dev, inode)),
            "{path} reached a file outside the home {}",
            self.scratch.join("home").display()
        );
    }
}

/// `scratch/{secret.txt, secret-dir/inner.txt}` outside, and a home full of links.
fn build_tree(scratch: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::symlink;
    let home = scratch.join("home");
    std::fs::create_dir_all(home.join("sub/deeper"))?;
    std::fs::create_dir_all(scratch.join("secret-dir"))?;
    std::fs::write(scratch.join("secret.txt"), OUTSIDE_MARKER)?;
    std::fs::write(scratch.join("secret-dir/inner.txt"), OUTSIDE_MARKER)?;
    std::fs::write(home.join("file.txt"), b"inside")?;
    std::fs::write(home.join("sub/inner.txt"), b"inside too")?;
    symlink("..", home.join("up"))?;
    symlink("../secret.txt", home.join("secret"))?;
    symlink("../secret-dir", home.join("outdir"))?;
    symlink(scratch.join("secret.txt"), home.join("abs"))?;
    symlink("/", home.join("slash"))?;
    symlink("file.txt", home.join("inlink"))?;
    symlink("loop", home.join("loop"))?;
    symlink("../file.txt", home.join("sub/back"))?;
    symlink("../../secret.txt", home.join("sub/escape"))?;
    symlink("../..", home.join("sub/deeper/top"))?;
    Ok(())
}

/// Removes `dir` when the process exits (libFuzzer ends with `exit`, which skips destructors).
fn remove_at_exit(dir: &Path) {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if DIR.set(dir.to_owned()).is_ok() {
        // SAFETY: `remove` is a plain function that takes no locks held at exit.
        unsafe {
            libc::atexit(remove);
        }
    }
}
