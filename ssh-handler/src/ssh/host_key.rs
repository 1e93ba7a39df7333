//! The SSH host key: generated once, kept in the state directory, the same on every start.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};

/// File name of the private host key inside the state directory (OpenSSH format, mode 0600).
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// Why the host key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    /// Reading or writing the key file failed.
    #[error("host key {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// The key file is not an unencrypted OpenSSH private key.
    #[error("host key {}: {source}", path.display())]
    Format {
        /// The key file.
        path: PathBuf,
        /// The parser's reason.
        #[source]
        source: russh::keys::ssh_key::Error,
    },
}

/// Loads `<state_dir>/ssh_host_ed25519_key`, creating it (and its `.pub`) on first use.
pub fn load_or_create(state_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    let path = state_dir.join(HOST_KEY_FILE);
    match fs::read(&path) {
        Ok(text) => return parse(&path, &text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(HostKeyError::Io { path, source }),
    }
    let key = generate(&path)?;
    match publish(&path, &key) {
        Ok(()) => {
            tracing::info!(path = %path.display(), fingerprint = %fingerprint(&key), "generated a new SSH host key");
            Ok(key)
        }
        // Another process created it first: use that one, so every start agrees.
        Err(HostKeyError::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
            let text = fs::read(&path).map_err(|source| HostKeyError::Io {
                path: path.clone(),
                source,
            })?;
            parse(&path, &text)
        }
        Err(error) => Err(error),
    }
}

/// The SHA-256 fingerprint of the key, as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

/// A fresh Ed25519 key from the operating system's random source.
fn generate(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let seed: [u8; 32] = rand::random();
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment("wharf-sshd host key");
    // Check now that it serializes, so `publish` only deals with the file system.
    key.to_openssh(LineEnding::LF)
        .map_err(|source| HostKeyError::Format {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(key)
}

/// Writes the key with mode 0600 under a temporary name, then links it into place only if no
/// key exists there yet; writes the public half next to it.
fn publish(path: &Path, key: &PrivateKey) -> Result<(), HostKeyError> {
    let io_error = |source| HostKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|source| HostKeyError::Format {
            path: path.to_path_buf(),
            source,
        })?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        });
    let linked = written.and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    linked.map_err(io_error)?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|source| HostKeyError::Format {
            path: path.to_path_buf(),
            source,
        })?;
    fs::write(path.with_extension("pub"), format!("{public}\n")).map_err(io_error)
}

/// Parses an OpenSSH private key file.
fn parse(path: &Path, text: &[u8]) -> Result<PrivateKey, HostKeyError> {
    PrivateKey::from_openssh(text).map_err(|source| HostKeyError::Format {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let path = dir.path().join(HOST_KEY_FILE);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&second));
        let public = fs::read_to_string(path.with_extension("pub")).unwrap();
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
    }

    #[test]
    fn a_corrupt_key_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(HOST_KEY_FILE), "not a key").unwrap();
        let error = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains(HOST_KEY_FILE), "{error}");
    }
}
