//! Object keys for virtual paths: the daemon's prefix, the user's home prefix, then the
//! path's components. The hostile-path rules of the local jail hold because a
//! [`VirtualPath`] can only hold plain components, and reserved names are refused here too.

use std::hash::{Hash, Hasher};

use crate::storage::error::StorageError;
use crate::storage::names;
use crate::storage::path::{PathError, VirtualPath};

/// The keys of one home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HomeKeys {
    /// `prefix/home/`, always ending with `/`, never starting with one.
    home: String,
}

impl HomeKeys {
    /// The home `home` under `prefix`; each must be a relative key prefix of plain components
    /// (`alice/`, `tenants/a/alice`), and the home must not be empty.
    pub(super) fn new(prefix: &str, home: &str) -> Result<HomeKeys, StorageError> {
        let mut key = String::new();
        let mut home_components = 0;
        for (index, part) in [prefix, home].into_iter().enumerate() {
            if part.starts_with('/') {
                return Err(PathError::BadName.into());
            }
            // Parsed as a path, then required to be unchanged by normalisation: no `..`,
            // `.`, empty components, NUL or line breaks.
            let trimmed = part.trim_end_matches('/');
            if trimmed.is_empty() {
                continue;
            }
            let parsed = VirtualPath::parse(&format!("/{trimmed}"))?;
            if parsed.as_str() != format!("/{trimmed}") {
                return Err(PathError::BadName.into());
            }
            for component in parsed.components() {
                key.push_str(component);
                key.push('/');
                home_components += usize::from(index == 1);
            }
        }
        // An empty home would be the whole bucket (or the whole daemon prefix).
        if home_components == 0 {
            return Err(PathError::BadName.into());
        }
        Ok(HomeKeys { home: key })
    }

    /// The home's own prefix.
    pub(super) fn home(&self) -> &str {
        &self.home
    }

    /// The key of the file at `path` (not the root).
    pub(super) fn file(&self, path: &VirtualPath) -> Result<String, StorageError> {
        if path.components().any(names::is_reserved) {
            return Err(StorageError::ReservedName { path: path.clone() });
        }
        let mut key = self.home.clone();
        for (index, component) in path.components().enumerate() {
            if index > 0 {
                key.push('/');
            }
            key.push_str(component);
        }
        Ok(key)
    }

    /// The prefix of the directory at `path` (the home for the root), ending with `/`.
    pub(super) fn dir(&self, path: &VirtualPath) -> Result<String, StorageError> {
        if path.is_root() {
            return Ok(self.home.clone());
        }
        let mut key = self.file(path)?;
        key.push('/');
        Ok(key)
    }
}

/// A stable number for a key, for the MLSx `unique` fact.
pub(super) fn key_id(key: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::parse(text).expect("valid")
    }

    #[test]
    fn keys_are_the_prefix_the_home_and_the_components() {
        let keys = HomeKeys::new("wharf", "alice/").unwrap();
        assert_eq!(keys.home(), "wharf/alice/");
        assert_eq!(keys.file(&path("/a/b.txt")).unwrap(), "wharf/alice/a/b.txt");
        assert_eq!(keys.dir(&path("/a")).unwrap(), "wharf/alice/a/");
        assert_eq!(keys.dir(&VirtualPath::root()).unwrap(), "wharf/alice/");
        assert_eq!(HomeKeys::new("", "alice").unwrap().home(), "alice/");
    }

    #[test]
    fn hostile_homes_are_refused() {
        for home in [
            "",
            "/",
            "/alice",
            "../bob",
            "alice/../bob",
            "a//b",
            "./a",
            "a\nb",
            "a\0b",
        ] {
            assert!(HomeKeys::new("", home).is_err(), "{home:?}");
        }
        assert!(HomeKeys::new("../x", "alice").is_err());
    }

    #[test]
    fn resolved_paths_never_leave_the_home() {
        let keys = HomeKeys::new("", "alice/").unwrap();
        for hostile in ["../bob/x", "/../../bob", "a/../../..", "..", "./../bob"] {
            let resolved = VirtualPath::resolve(&path("/sub"), hostile).unwrap();
            let key = if resolved.is_root() {
                keys.dir(&resolved).unwrap()
            } else {
                keys.file(&resolved).unwrap()
            };
            assert!(key.starts_with("alice/"), "{hostile:?} gave {key}");
            assert!(!key.contains(".."), "{hostile:?} gave {key}");
        }
    }

    #[test]
    fn reserved_names_are_refused() {
        let keys = HomeKeys::new("", "alice/").unwrap();
        assert!(matches!(
            keys.file(&path("/.wharf-upload.1234")),
            Err(StorageError::ReservedName { .. })
        ));
    }
}
