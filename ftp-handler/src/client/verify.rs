//! End-to-end verification: the server's hash of a file (HASH, or a legacy XSHA256-style
//! command) compared with the same hash of the local copy.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use suppaftp::Status;

use super::connection::Connection;
use super::error::{ClientError, RemoteReply};
use super::features::{HASH_PREFERENCE, legacy_command};
use crate::protocol::HashAlgorithm;

/// How long the server may take to hash a big file before the client gives up.
const HASH_TIMEOUT: Duration = Duration::from_secs(600);

/// Read size while hashing the local file.
const CHUNK: usize = 256 * 1024;

/// The outcome of checking one transferred file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Both sides computed the same digest.
    Verified {
        /// The algorithm used.
        algorithm: HashAlgorithm,
        /// The common digest, lowercase hex.
        hex: String,
        /// The server command that produced it (`HASH` or `XSHA256`, ...).
        command: &'static str,
    },
    /// The server could not hash the file: the transfer is not known to be intact.
    Unverified {
        /// Why (no HASH support, or the server's refusal).
        reason: String,
    },
    /// The user asked for no verification (`--no-verify`).
    Skipped,
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Verified {
                algorithm,
                hex,
                command,
            } => write!(f, "verified: {algorithm} {hex} (server {command} matches)"),
            Self::Unverified { reason } => write!(f, "unverified: {reason}"),
            Self::Skipped => write!(f, "not verified (--no-verify)"),
        }
    }
}

/// A digest the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteDigest {
    /// The algorithm the server used.
    pub algorithm: HashAlgorithm,
    /// Its digest, lowercase hex.
    pub hex: String,
    /// The command that produced it.
    pub command: &'static str,
}

/// Compares the server's hash of `remote` with the hash of `local`; a difference is an error.
pub fn verify(
    connection: &mut Connection,
    remote: &str,
    local: &Path,
) -> Result<Verification, ClientError> {
    let digest = match remote_digest(connection, remote)? {
        Ok(digest) => digest,
        Err(reason) => return Ok(Verification::Unverified { reason }),
    };
    let local_hex = local_digest(local, digest.algorithm)?;
    if local_hex.eq_ignore_ascii_case(&digest.hex) {
        Ok(Verification::Verified {
            algorithm: digest.algorithm,
            hex: local_hex,
            command: digest.command,
        })
    } else {
        Err(ClientError::Mismatch {
            remote: remote.to_string(),
            local: local.to_path_buf(),
            algorithm: digest.algorithm.to_string(),
            remote_hex: digest.hex,
            local_hex,
        })
    }
}

/// The server's digest of `path`, or why it has none. Picks SHA-256 (or the best offered)
/// with OPTS HASH; without HASH, tries the legacy commands once per connection.
pub fn remote_digest(
    connection: &mut Connection,
    path: &str,
) -> Result<Result<RemoteDigest, String>, ClientError> {
    if let Some(wanted) = connection.features().preferred_hash() {
        select_hash(connection, wanted)?;
        return match connection.raw(&format!("HASH {path}"), &[Status::File], Some(HASH_TIMEOUT)) {
            Ok(response) => {
                let reply = RemoteReply::from_body(&response.body);
                parse_hash_reply(&reply.text)
                    .map(Ok)
                    .ok_or_else(|| ClientError::Protocol {
                        action: format!("HASH {path}"),
                        detail: format!("cannot read {:?}", reply.text),
                    })
            }
            Err(ClientError::Remote { reply, .. }) => {
                Ok(Err(format!("the server refused HASH {path}: {reply}")))
            }
            Err(error) => Err(error),
        };
    }
    let advertised = connection.features().legacy_hash.clone();
    let candidates: Vec<HashAlgorithm> = if advertised.is_empty() {
        HASH_PREFERENCE.to_vec()
    } else {
        advertised
    };
    for algorithm in candidates {
        if connection.features().legacy_missing.contains(&algorithm) {
            continue;
        }
        let command = legacy_command(algorithm);
        let expected = [
            Status::File,
            Status::RequestedFileActionOk,
            Status::CommandOk,
        ];
        match connection.raw(&format!("{command} {path}"), &expected, Some(HASH_TIMEOUT)) {
            Ok(response) => {
                let reply = RemoteReply::from_body(&response.body);
                return find_hex(&reply.text, algorithm)
                    .map(|hex| {
                        Ok(RemoteDigest {
                            algorithm,
                            hex,
                            command,
                        })
                    })
                    .ok_or_else(|| ClientError::Protocol {
                        action: format!("{command} {path}"),
                        detail: format!("no {algorithm} digest in {:?}", reply.text),
                    });
            }
            Err(ClientError::Remote { reply, .. }) if matches!(reply.code, 500 | 502 | 504) => {
                connection.features_mut().legacy_missing.push(algorithm);
            }
            Err(ClientError::Remote { reply, .. }) => {
                return Ok(Err(format!("the server refused {command} {path}: {reply}")));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(Err(
        "the server offers no HASH command (nor XSHA256, XSHA512, XSHA1, XMD5)".to_string(),
    ))
}

/// Makes `wanted` the server's HASH algorithm unless it already is; keeps the current one if
/// the server refuses.
fn select_hash(connection: &mut Connection, wanted: HashAlgorithm) -> Result<(), ClientError> {
    if connection.features().hash_selected == Some(wanted) {
        return Ok(());
    }
    match connection.raw(&format!("OPTS HASH {wanted}"), &[Status::CommandOk], None) {
        Ok(_) => {
            connection.features_mut().hash_selected = Some(wanted);
            Ok(())
        }
        Err(ClientError::Remote { reply, .. }) => {
            tracing::debug!(%reply, "OPTS HASH refused; using the server's default");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Reads `SHA-256 0-1234 <hex> name` (the text of a 213 HASH reply).
pub fn parse_hash_reply(text: &str) -> Option<RemoteDigest> {
    let mut words = text.split_whitespace();
    let algorithm: HashAlgorithm = words.next()?.parse().ok()?;
    let _range = words.next()?;
    let hex = words.next()?;
    is_digest(hex, algorithm).then(|| RemoteDigest {
        algorithm,
        hex: hex.to_ascii_lowercase(),
        command: "HASH",
    })
}

/// The first word of a legacy reply that is a digest of `algorithm`'s length.
fn find_hex(text: &str, algorithm: HashAlgorithm) -> Option<String> {
    text.split_whitespace()
        .find(|word| is_digest(word, algorithm))
        .map(str::to_ascii_lowercase)
}

/// Whether `word` is a hexadecimal digest of the length `algorithm` produces.
fn is_digest(word: &str, algorithm: HashAlgorithm) -> bool {
    let len = match algorithm {
        HashAlgorithm::Sha256 => 64,
        HashAlgorithm::Sha512 => 128,
        HashAlgorithm::Sha1 => 40,
        HashAlgorithm::Md5 => 32,
    };
    word.len() == len && word.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The digest of a whole local file.
pub fn local_digest(path: &Path, algorithm: HashAlgorithm) -> Result<String, ClientError> {
    let mut file =
        File::open(path).map_err(|source| ClientError::local("cannot read", path, source))?;
    let mut hasher = algorithm.hasher();
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|source| ClientError::local("cannot read", path, source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize_hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn reads_a_hash_reply() {
        let digest = parse_hash_reply(&format!(
            "SHA-256 0-0 {} a file.txt",
            EMPTY_SHA256.to_uppercase()
        ))
        .unwrap();
        assert_eq!(digest.algorithm, HashAlgorithm::Sha256);
        assert_eq!(digest.hex, EMPTY_SHA256);
    }

    #[test]
    fn refuses_a_hash_reply_with_a_wrong_length_digest() {
        assert_eq!(parse_hash_reply("SHA-256 0-0 abcd x"), None);
        assert_eq!(parse_hash_reply("CRC32 0-0 abcd1234 x"), None);
        assert_eq!(parse_hash_reply("SHA-256"), None);
    }

    #[test]
    fn finds_the_digest_in_legacy_replies() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        assert_eq!(find_hex(md5, HashAlgorithm::Md5).as_deref(), Some(md5));
        assert_eq!(
            find_hex(&format!("{EMPTY_SHA256} empty.txt"), HashAlgorithm::Sha256).as_deref(),
            Some(EMPTY_SHA256)
        );
        assert_eq!(find_hex("File not found", HashAlgorithm::Sha1), None);
    }

    #[test]
    fn hashes_a_local_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            local_digest(&path, HashAlgorithm::Sha256).unwrap(),
            EMPTY_SHA256
        );
        assert!(local_digest(&dir.path().join("missing"), HashAlgorithm::Md5).is_err());
    }

    #[test]
    fn outcomes_say_whether_the_file_is_verified() {
        let unverified = Verification::Unverified {
            reason: "no HASH".to_string(),
        };
        assert!(unverified.to_string().starts_with("unverified"));
        assert!(!unverified.to_string().starts_with("verified"));
    }
}
