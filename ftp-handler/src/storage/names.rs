//! Names the storage layer keeps for itself: upload temp files, hidden from every listing.

/// Prefix of the temp files a replacing upload writes before renaming them over the target.
pub(crate) const TEMP_PREFIX: &str = ".wharf-upload.";

/// Whether `name` is reserved: listings hide it and the session can never address it.
pub(crate) fn is_reserved(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
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
