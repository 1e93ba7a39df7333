//! An empty home on the local disk or under a fresh key prefix in this test binary's Garage,
//! used through the storage trait ([`Jail`]) exactly as a session uses it; what it stored is
//! read behind its back (boto3 for S3) and compared here.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncReadExt;
use wharf_ftp::config::storage::{BackendKind, StorageConfig};
use wharf_ftp::storage::{
    Chunk, CommitInfo, Jail, QuotaHook, StorageError, UploadMode, UploadSink, VirtualPath,
    WritePlacement, open_home,
};

pub use super::common::backend::{BACKENDS, Backend, digest_of};
use super::common::backend::{fresh_prefix, garage};

/// One user's empty home on a backend, with the storage a session would open for it.
pub struct BackendHome {
    /// Local disk or S3.
    pub backend: Backend,
    /// The storage, home as `/`.
    pub jail: Jail,
    /// The home as the stored-object helpers take it (a directory, or `t-NAME-N/alice/`).
    home: String,
    /// A sibling of the home that nothing may reach (`ROOT/outside`, or
    /// `t-NAME-N/alice-outside/`: a prefix that starts like the home's).
    outside: String,
    /// Holds the local home.
    _root: tempfile::TempDir,
}

impl BackendHome {
    /// An empty home on `backend` (on S3 under a prefix no other test uses).
    pub fn new(backend: Backend, name: &str) -> BackendHome {
        let root = tempfile::tempdir().expect("temp dir");
        let (config, home_arg, home, outside) = match backend {
            Backend::Local => {
                let home = root.path().join("home");
                std::fs::create_dir(&home).expect("home");
                let outside = root.path().join("outside");
                std::fs::create_dir(&outside).expect("outside");
                let text = home.to_str().expect("utf-8").to_owned();
                let outside = outside.to_str().expect("utf-8").to_owned();
                (StorageConfig::default(), text, home, outside)
            }
            Backend::S3 => {
                let garage = garage();
                let prefix = fresh_prefix(name);
                let config = StorageConfig {
                    backend: BackendKind::S3,
                    endpoint: Some(garage.endpoint()),
                    bucket: garage.bucket().to_owned(),
                    region: garage.region().to_owned(),
                    access_key_id: garage.access_key_id().to_owned(),
                    secret_access_key: garage.secret_access_key().to_owned(),
                    prefix: prefix.clone(),
                    ..StorageConfig::default()
                };
                (
                    config,
                    format!("{prefix}alice/"),
                    PathBuf::from("alice/"),
                    format!("{prefix}alice-outside/"),
                )
            }
        };
        let jail = open_home(&config, &home, false).expect("open the home");
        BackendHome {
            backend,
            jail,
            home: home_arg,
            outside,
            _root: root,
        }
    }

    /// The same home, its usage changes told to `hook`.
    pub fn with_quota(mut self, hook: Arc<dyn QuotaHook>) -> BackendHome {
        self.jail = self.jail.with_quota(hook);
        self
    }

    /// The `(size, SHA-256)` of what is stored as `name` (relative to the home), read without
    /// the storage under test; `None` if nothing is.
    pub fn stored(&self, name: &str) -> Option<(u64, String)> {
        super::common::backend::stored_digest(self.backend, &self.home, name)
    }

    /// Like [`BackendHome::stored`], for a file beside the home, out of its reach.
    pub fn stored_outside(&self, name: &str) -> Option<(u64, String)> {
        super::common::backend::stored_digest(self.backend, &self.outside, name)
    }

    /// Stores `content` as `name` beside the home, out of its reach.
    pub fn place_outside(&self, name: &str, content: &[u8]) {
        super::common::backend::place(self.backend, &self.outside, name, content);
    }

    /// Stores `content` as `name` behind the storage's back.
    pub fn place(&self, name: &str, content: &[u8]) {
        super::common::backend::place(self.backend, &self.home, name, content);
    }
}

/// A valid absolute virtual path.
pub fn vpath(text: &str) -> VirtualPath {
    VirtualPath::parse(text).expect("valid path")
}

/// Writes `bytes` to an upload in chunks of 64 KiB, stopping at the first error.
pub async fn write_all(sink: &mut Box<dyn UploadSink>, bytes: &[u8]) -> Result<(), StorageError> {
    for piece in bytes.chunks(64 * 1024) {
        let (_, written) = sink
            .write(Chunk::new(Box::new(piece.to_vec()), piece.len()))
            .await;
        written?;
    }
    Ok(())
}

/// A whole upload of `bytes` to `path` in `mode`, committed.
pub async fn upload(
    jail: &Jail,
    path: &str,
    mode: UploadMode,
    bytes: &[u8],
) -> Result<CommitInfo, StorageError> {
    let mut sink = jail
        .begin_upload(&vpath(path), mode, WritePlacement::Inline)
        .await?;
    write_all(&mut sink, bytes).await?;
    sink.commit().await
}

/// The whole content of a file from `offset`, read through the storage.
pub async fn read_from(jail: &Jail, path: &str, offset: u64) -> Result<Vec<u8>, StorageError> {
    let download = jail.open_read(&vpath(path), offset).await?;
    let mut content = Vec::new();
    download
        .body
        .into_reader()
        .read_to_end(&mut content)
        .await
        .map_err(|source| StorageError::Io {
            path: vpath(path),
            source,
        })?;
    Ok(content)
}
