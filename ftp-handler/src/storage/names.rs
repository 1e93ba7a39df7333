//! Names the storage layer keeps for itself (upload temp files, hidden from every listing) and
//! the names it picks for STOU.

use super::path::VirtualPath;

/// Prefix of the temp files a replacing upload writes before renaming them over the target.
pub(crate) const TEMP_PREFIX: &str = ".wharf-upload.";

/// Whether `name` is reserved: listings hide it and the session can never address it.
pub(crate) fn is_reserved(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// STOU's names for an upload to `base`, in the order they are tried, with the folder they go
/// in: `name`, `name.1` to `name.99`, then eight random suffixes (`upload` for the root).
pub(crate) fn unique_candidates(base: &VirtualPath) -> (VirtualPath, impl Iterator<Item = String>) {
    let (parent, stem) = match base.file_name() {
        Some(name) => (base.parent(), name.to_owned()),
        None => (VirtualPath::root(), "upload".to_owned()),
    };
    let numbered = stem.clone();
    let candidates = std::iter::once(stem.clone())
        .chain((1..100).map(move |counter| format!("{numbered}.{counter}")))
        .chain((0..8).map(move |_| format!("{stem}.{:08x}", rand::random::<u32>())));
    (parent, candidates)
}

/// A fresh temp file name; collisions are still handled by creating it exclusively.
pub(crate) fn temp_name() -> String {
    format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_reserved_and_distinct() {
        let first = temp_name();
        let second = temp_name();
        assert!(is_reserved(&first) && is_reserved(&second));
        assert_ne!(first, second);
        assert!(!is_reserved(".wharf"));
        assert!(!is_reserved("wharf-upload.x"));
    }
}
