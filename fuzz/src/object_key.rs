//! Object keys: a daemon prefix, a user's home prefix and a virtual path resolved from a
//! client's argument, as object storage names them.
//!
//! Invariants: an accepted home prefix is plain (no leading `/`, no empty, `.` or `..`
//! component, ends with `/`) and starts with the daemon prefix's components; every file key and
//! directory prefix starts with the home prefix; what follows is exactly the path's components,
//! so two paths never share a key and no key climbs out of the home.

use wharf_ftp::storage::VirtualPath;
use wharf_ftp::storage::object::keys_of;

/// The prefix, the home, the cwd and the argument are `0xFF`-separated fields of `data`.
pub fn run(data: &[u8]) {
    let [prefix, home, cwd, arg] = crate::fields::<4>(data);
    let cwd = VirtualPath::parse(&cwd).unwrap_or_default();
    let Ok(path) = VirtualPath::resolve(&cwd, &arg) else {
        return;
    };
    let Ok((home_key, file_key, dir_key)) = keys_of(&prefix, &home, &path) else {
        return;
    };
    check_home(&prefix, &home, &home_key);
    let relative = &path.as_str()[1..];
    assert!(
        dir_key.starts_with(&home_key),
        "{dir_key:?} outside {home_key:?}"
    );
    let dir_rest = &dir_key[home_key.len()..];
    if path.is_root() {
        assert_eq!(dir_rest, "", "the root's prefix is the home");
        assert_eq!(file_key, None);
    } else {
        assert_eq!(dir_rest, format!("{relative}/"), "{path}");
        let file_key = file_key.expect("a path other than / has a file key");
        assert!(
            file_key.starts_with(&home_key),
            "{file_key:?} outside {home_key:?}"
        );
        assert_eq!(&file_key[home_key.len()..], relative, "{path}");
    }
    for part in dir_key.trim_end_matches('/').split('/') {
        assert!(!matches!(part, "" | "." | ".."), "{dir_key:?}");
    }
}

/// The home prefix is the plain components of the daemon prefix, then those of the home.
fn check_home(prefix: &str, home: &str, home_key: &str) {
    assert!(home_key.ends_with('/'), "{home_key:?}");
    assert!(!home_key.starts_with('/'), "{home_key:?}");
    assert!(!home_key.contains(['\0', '\r', '\n']), "{home_key:?}");
    let parts: Vec<&str> = home_key.trim_end_matches('/').split('/').collect();
    for part in &parts {
        assert!(!matches!(*part, "" | "." | ".."), "{home_key:?}");
    }
    let expected: Vec<&str> = [prefix, home]
        .iter()
        .flat_map(|text| text.split('/').filter(|part| !part.is_empty()))
        .collect();
    assert_eq!(parts, expected, "prefix {prefix:?}, home {home:?}");
    let home_parts = home.split('/').filter(|part| !part.is_empty()).count();
    assert!(home_parts > 0, "an empty home {home:?} was accepted");
}
