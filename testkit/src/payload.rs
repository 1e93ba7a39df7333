//! Deterministic test payloads and their SHA-256, so that what a client sent can be compared
//! with what a server stored without keeping both in memory twice.

use std::path::Path;

use sha2::{Digest, Sha256};

/// `len` pseudo-random bytes from `seed` (xorshift64*: fast, deterministic, not secret).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Lowercase hex SHA-256 of a file's content; panics with the path if it cannot be read.
pub fn file_sha256(path: &Path) -> String {
    let data = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    sha256_hex(&data)
}

#[cfg(test)]
mod tests {
    use super::{file_sha256, random_bytes, sha256_hex};

    #[test]
    fn payloads_repeat_for_a_seed_and_differ_between_seeds() {
        assert_eq!(random_bytes(1000, 1), random_bytes(1000, 1));
        assert_ne!(random_bytes(1000, 1), random_bytes(1000, 2));
        assert_eq!(random_bytes(13, 7).len(), 13);
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn a_files_digest_is_the_digest_of_its_content() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("payload");
        let data = random_bytes(70_000, 3);
        std::fs::write(&path, &data).expect("write payload");
        assert_eq!(file_sha256(&path), sha256_hex(&data));
    }
}
