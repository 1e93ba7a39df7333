//! S3-compatible object storage through OpenDAL: a user's home is a key prefix (`alice/`),
//! directories are prefixes, and an empty directory is kept by a zero-byte marker object
//! (`alice/dir/`).
//!
//! - `keys`: virtual paths to object keys, inside the home and nowhere else.
//! - `direct_get`: RETR's GET on a plain-HTTP connection of its own, for `splice`.
//! - `download`: RETR's body through OpenDAL, gathered into buffer-sized reads.
//! - `upload`: STOR, APPE, REST + STOR and STOU as multipart uploads in bounded memory.
//! - `commit`: commits to one key take turns, so each counts the object it replaces.
//! - `errors`: OpenDAL errors as [`StorageError`]s.
//! - `stale`: aborting the multipart uploads of daemons that died mid-upload.
//!
//! Confinement is by construction: every key is the home prefix followed by the components of
//! a [`VirtualPath`], which has no `.`, `..`, empty, NUL or line-break components; no call takes
//! a key from the client or from a listing without re-deriving it that way.

mod commit;
mod direct_get;
mod download;
mod errors;
mod keys;
mod stale;
mod upload;

pub use upload::UPLOAD_BUFFER_MIB;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use futures::TryStreamExt;
use opendal::Operator;
use tokio::sync::Semaphore;

use self::errors::backend_error;
use self::keys::HomeKeys;
use self::stale::StaleUploads;
use super::backend::{
    Capabilities, Download, DownloadBody, Jail, StorageBackend, UploadMode, UploadSink,
    WritePlacement,
};
use super::entry::{Entry, EntryKind};
use super::error::StorageError;
use super::names;
use super::path::VirtualPath;
use super::quota::{NoQuota, QuotaHook, Usage};
use super::socket_body::SocketBody;
use crate::config::storage::StorageConfig;

pub use self::upload::PART_SIZE;

/// How long a download's presigned GET stays valid; it is sent at once.
const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);

/// What object storage can do: no `sendfile`, no partial uploads left behind; APPE and
/// REST + STOR by copying the existing object into a new multipart upload.
const OBJECT_CAPABILITIES: Capabilities = Capabilities {
    zero_copy: false,
    append: true,
    server_side_hash: false,
    keeps_partial_uploads: false,
};

/// One user's home in a bucket. Cheap to clone.
#[derive(Clone)]
pub struct ObjectStore {
    /// The bucket, through OpenDAL (its root is the bucket's root).
    operator: Operator,
    /// The home's keys.
    keys: HomeKeys,
    /// Told of every change in usage; may refuse writes.
    quota: Arc<dyn QuotaHook>,
    /// The process's budget for upload part buffers, in MiB.
    buffers: Arc<Semaphore>,
    /// Finds and aborts abandoned multipart uploads under the home.
    stale: StaleUploads,
    /// The endpoint speaks plain HTTP: downloads may take the `direct_get` path.
    plain_http: bool,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ObjectStore")
            .field("home", &self.keys.home())
            .finish_non_exhaustive()
    }
}

/// The operator for the configured bucket.
pub fn operator(config: &StorageConfig) -> Result<Operator, StorageError> {
    install_http_transport();
    let mut builder = opendal::services::S3::default()
        .bucket(&config.bucket)
        .region(&config.region)
        .access_key_id(&config.access_key_id)
        .secret_access_key(&config.secret_access_key)
        // Only what the configuration says: no AWS profile files or instance metadata.
        .disable_config_load();
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint(endpoint);
    }
    let operator =
        Operator::new(builder).map_err(|error| backend_error(&VirtualPath::root(), error))?;
    Ok(operator.layer(opendal::layers::RetryLayer::new().with_max_times(3)))
}

/// OpenDAL's process-wide HTTP transport (reqwest), with rustls on ring as the process's
/// crypto provider: the `-no-provider` feature installs neither, and without them every
/// request fails with "default HTTP transport is not installed". The client (and its CA
/// roots, read from `/etc/ssl`) is built here, so the daemon calls this before Landlock
/// confines it. Idempotent.
pub fn install_http_transport() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // Already installed (by FTPS, say) is fine: any provider serves.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        opendal::HttpTransporter::install_default(
            opendal_http_transport_reqwest::ReqwestTransport::default(),
        );
    });
}

/// The keys an [`ObjectStore`] opened with `prefix` and `home` uses for `path`: the home's
/// prefix, the file key (`None` for `/`, which is no file) and the directory prefix. For the
/// fuzz targets, which check the key rules from outside the crate.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn keys_of(
    prefix: &str,
    home: &str,
    path: &VirtualPath,
) -> Result<(String, Option<String>, String), StorageError> {
    let keys = HomeKeys::new(prefix, home)?;
    let file = if path.is_root() {
        None
    } else {
        Some(keys.file(path)?)
    };
    Ok((keys.home().to_owned(), file, keys.dir(path)?))
}

impl ObjectStore {
    /// The home `home` (a key prefix such as `alice/`) under the configured daemon prefix, in
    /// the bucket `operator` reaches. Refuses a home that is not a plain relative prefix.
    pub fn open(
        operator: Operator,
        config: &StorageConfig,
        home: &str,
        buffers: Arc<Semaphore>,
    ) -> Result<ObjectStore, StorageError> {
        Ok(ObjectStore {
            operator,
            keys: HomeKeys::new(&config.prefix, home)?,
            quota: Arc::new(NoQuota),
            buffers,
            stale: StaleUploads::new(config),
            plain_http: config
                .endpoint
                .as_deref()
                .is_some_and(|endpoint| endpoint.starts_with("http://")),
        })
    }

    /// The key prefix of the home (ends with `/`).
    pub fn home_key(&self) -> &str {
        self.keys.home()
    }

    /// The facts of a file from its object metadata.
    fn file_entry(&self, name: String, key: &str, metadata: &opendal::Metadata) -> Entry {
        Entry {
            name,
            kind: EntryKind::File,
            is_symlink: false,
            size: metadata.content_length(),
            modified: modified(metadata),
            mode: 0o644,
            nlink: 1,
            dev: 0,
            inode: keys::key_id(key),
        }
    }

    /// The facts of a directory (a prefix).
    fn dir_entry(&self, name: String, key: &str, metadata: Option<&opendal::Metadata>) -> Entry {
        Entry {
            name,
            kind: EntryKind::Dir,
            is_symlink: false,
            size: 0,
            modified: metadata.map_or(UNIX_EPOCH, modified),
            mode: 0o755,
            nlink: 2,
            dev: 0,
            inode: keys::key_id(key),
        }
    }

    /// The file's metadata, `None` if no object has that key.
    async fn stat_file(
        &self,
        path: &VirtualPath,
    ) -> Result<Option<opendal::Metadata>, StorageError> {
        if path.is_root() {
            return Ok(None);
        }
        let key = self.keys.file(path)?;
        match self.operator.stat(&key).await {
            Ok(metadata) if metadata.is_file() => Ok(Some(metadata)),
            Ok(_) => Ok(None),
            Err(error) if error.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(backend_error(path, error)),
        }
    }

    /// Whether `path` is a directory: the home, a marker object or any key below it.
    async fn dir_exists(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        if path.is_root() {
            return Ok(true);
        }
        let key = self.keys.dir(path)?;
        let mut lister = self
            .operator
            .lister_with(&key)
            .limit(1)
            .await
            .map_err(|error| backend_error(path, error))?;
        Ok(lister
            .try_next()
            .await
            .map_err(|error| backend_error(path, error))?
            .is_some())
    }

    /// Whether the directory has anything but its own marker.
    async fn dir_has_children(&self, path: &VirtualPath) -> Result<bool, StorageError> {
        let key = self.keys.dir(path)?;
        let mut lister = self
            .operator
            .lister_with(&key)
            .limit(2)
            .await
            .map_err(|error| backend_error(path, error))?;
        while let Some(entry) = lister
            .try_next()
            .await
            .map_err(|error| backend_error(path, error))?
        {
            if entry.path() != key {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Refuses an operation whose parent directory is missing, as a file system would.
    async fn require_parent(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let parent = path.parent();
        if self.dir_exists(&parent).await? {
            Ok(())
        } else if self.stat_file(&parent).await?.is_some() {
            Err(StorageError::NotADirectory { path: parent })
        } else {
            Err(StorageError::NotFound { path: parent })
        }
    }

    /// The GET of `key` from `offset` to `size` on a connection of its own
    /// (`direct_get`), for endpoints that speak plain HTTP; `None` when that path does not
    /// serve it (the reason logged), and the download goes through OpenDAL.
    async fn direct_get(
        &self,
        key: &str,
        etag: Option<&str>,
        offset: u64,
        size: u64,
    ) -> Option<SocketBody> {
        if !self.plain_http {
            return None;
        }
        let options = opendal::options::ReadOptions {
            range: (offset..size).into(),
            if_match: etag.map(str::to_string),
            ..Default::default()
        };
        let served = match self
            .operator
            .presign_read_options(key, PRESIGN_EXPIRY, options)
            .await
        {
            Ok(request) => direct_get::get(&request, size - offset).await,
            Err(error) => Err(format!("presigning: {error}")),
        };
        served
            .inspect_err(|reason| {
                tracing::debug!(
                    key,
                    reason,
                    "direct GET not used; downloading through OpenDAL"
                )
            })
            .ok()
    }

    /// Every object key under a directory's prefix (recursively), with sizes.
    async fn objects_under(&self, path: &VirtualPath) -> Result<Vec<(String, u64)>, StorageError> {
        let key = self.keys.dir(path)?;
        let mut lister = self
            .operator
            .lister_with(&key)
            .recursive(true)
            .await
            .map_err(|error| backend_error(path, error))?;
        let mut objects = Vec::new();
        while let Some(entry) = lister
            .try_next()
            .await
            .map_err(|error| backend_error(path, error))?
        {
            let size = if entry.metadata().is_file() {
                entry.metadata().content_length()
            } else {
                0
            };
            objects.push((entry.path().to_owned(), size));
        }
        Ok(objects)
    }
}

/// An object's modification time, the epoch if the store did not say.
fn modified(metadata: &opendal::Metadata) -> SystemTime {
    metadata
        .last_modified()
        .map_or(UNIX_EPOCH, SystemTime::from)
}

#[async_trait]
impl StorageBackend for ObjectStore {
    fn capabilities(&self) -> Capabilities {
        OBJECT_CAPABILITIES
    }

    fn with_quota(&self, hook: Arc<dyn QuotaHook>) -> Jail {
        let mut store = self.clone();
        store.quota = hook;
        Arc::new(store)
    }

    async fn metadata(&self, path: &VirtualPath) -> Result<Entry, StorageError> {
        if path.is_root() {
            return Ok(self.dir_entry("/".to_owned(), self.keys.home(), None));
        }
        let name = path.file_name().unwrap_or("/").to_owned();
        if let Some(metadata) = self.stat_file(path).await? {
            return Ok(self.file_entry(name, &self.keys.file(path)?, &metadata));
        }
        if self.dir_exists(path).await? {
            let key = self.keys.dir(path)?;
            let marker = self.operator.stat(&key).await.ok();
            return Ok(self.dir_entry(name, &key, marker.as_ref()));
        }
        Err(StorageError::NotFound { path: path.clone() })
    }

    async fn list(&self, path: &VirtualPath) -> Result<Vec<Entry>, StorageError> {
        let entry = self.metadata(path).await?;
        if !entry.is_dir() {
            return Ok(vec![entry]);
        }
        let key = self.keys.dir(path)?;
        let mut lister = self
            .operator
            .lister(&key)
            .await
            .map_err(|error| backend_error(path, error))?;
        let mut listing = Vec::new();
        while let Some(item) = lister
            .try_next()
            .await
            .map_err(|error| backend_error(path, error))?
        {
            let Some(rest) = item.path().strip_prefix(key.as_str()) else {
                continue;
            };
            let (name, is_dir) = match rest.strip_suffix('/') {
                Some(name) => (name, true),
                None => (rest, false),
            };
            // The marker itself, and names no session could address (made by other clients).
            if name.is_empty() || names::is_reserved(name) || name.contains(['\r', '\n']) {
                continue;
            }
            let Ok(child) = path.join(name) else {
                continue;
            };
            if child.file_name() != Some(name) {
                continue;
            }
            let child_key = if is_dir {
                self.keys.dir(&child)?
            } else {
                self.keys.file(&child)?
            };
            listing.push(if is_dir {
                self.dir_entry(name.to_owned(), &child_key, None)
            } else {
                self.file_entry(name.to_owned(), &child_key, item.metadata())
            });
        }
        listing.sort_by(|left, right| left.name.cmp(&right.name));
        // A prefix that is also a file name (made outside FTP) shows once, as the file.
        listing.dedup_by(|later, earlier| later.name == earlier.name);
        Ok(listing)
    }

    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Download, StorageError> {
        let Some(metadata) = self.stat_file(path).await? else {
            return Err(if self.dir_exists(path).await? {
                StorageError::IsADirectory { path: path.clone() }
            } else {
                StorageError::NotFound { path: path.clone() }
            });
        };
        let size = metadata.content_length();
        if offset > size {
            return Err(StorageError::BadOffset {
                path: path.clone(),
                offset,
                size,
            });
        }
        if offset == size {
            return Ok(Download {
                size,
                body: DownloadBody::Stream(Box::pin(tokio::io::empty())),
            });
        }
        let key = self.keys.file(path)?;
        if let Some(body) = self.direct_get(&key, metadata.etag(), offset, size).await {
            return Ok(Download {
                size,
                body: DownloadBody::Socket(body),
            });
        }
        let mut reader = self.operator.reader_with(&key);
        // The GET must read the object the stat saw (its size bounds the range): with
        // If-Match an object replaced meanwhile ends the download with an error instead.
        if let Some(etag) = metadata.etag() {
            reader = reader.if_match(etag);
        }
        let reader = reader.await.map_err(|error| backend_error(path, error))?;
        // One GET from the offset, streamed as it arrives: the socket's flow control bounds
        // the memory, and no request waits for the one before.
        let stream = reader
            .into_bytes_stream(offset..size)
            .await
            .map_err(|error| backend_error(path, error))?;
        Ok(Download {
            size,
            body: DownloadBody::Stream(Box::pin(download::GatheringReader::new(stream))),
        })
    }

    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
        _placement: WritePlacement,
    ) -> Result<Box<dyn UploadSink>, StorageError> {
        let upload = upload::ObjectUpload::begin(self, path, mode).await?;
        Ok(Box::new(upload))
    }

    async fn create_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() || self.stat_file(path).await?.is_some() || self.dir_exists(path).await? {
            return Err(StorageError::AlreadyExists { path: path.clone() });
        }
        self.require_parent(path).await?;
        let key = self.keys.dir(path)?;
        self.operator
            .create_dir(&key)
            .await
            .map_err(|error| backend_error(path, error))
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::PermissionDenied { path: path.clone() });
        }
        if !self.dir_exists(path).await? {
            return Err(if self.stat_file(path).await?.is_some() {
                StorageError::NotADirectory { path: path.clone() }
            } else {
                StorageError::NotFound { path: path.clone() }
            });
        }
        if self.dir_has_children(path).await? {
            return Err(StorageError::DirectoryNotEmpty { path: path.clone() });
        }
        let key = self.keys.dir(path)?;
        self.operator
            .delete(&key)
            .await
            .map_err(|error| backend_error(path, error))
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let Some(metadata) = self.stat_file(path).await? else {
            return Err(if path.is_root() || self.dir_exists(path).await? {
                StorageError::IsADirectory { path: path.clone() }
            } else {
                StorageError::NotFound { path: path.clone() }
            });
        };
        let key = self.keys.file(path)?;
        self.operator
            .delete(&key)
            .await
            .map_err(|error| backend_error(path, error))?;
        self.quota.release(metadata.content_length(), 1);
        Ok(())
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::PermissionDenied { path: from.clone() });
        }
        if to != from && to.starts_with(from) {
            return Err(StorageError::PermissionDenied { path: to.clone() });
        }
        if to == from {
            return self.metadata(from).await.map(|_| ());
        }
        if self.dir_exists(to).await? {
            return Err(StorageError::AlreadyExists { path: to.clone() });
        }
        self.require_parent(to).await?;
        if let Some(source) = self.stat_file(from).await? {
            // A file: one server-side copy, then the delete (not atomic: for a moment both
            // names exist; a failed delete leaves both, and the copy is counted).
            let replaced = self.stat_file(to).await?;
            let (from_key, to_key) = (self.keys.file(from)?, self.keys.file(to)?);
            // The copy holds the bytes a second time until the delete: counted while it does.
            let size = source.content_length();
            self.quota.reserve(size, 0)?;
            if let Err(error) = self.operator.copy(&from_key, &to_key).await {
                self.quota.release(size, 0);
                return Err(backend_error(to, error));
            }
            if let Some(old) = replaced {
                self.quota.release(old.content_length(), 1);
            }
            self.operator
                .delete(&from_key)
                .await
                .map_err(|error| backend_error(from, error))?;
            self.quota.release(size, 0);
            return Ok(());
        }
        if !self.dir_exists(from).await? {
            return Err(StorageError::NotFound { path: from.clone() });
        }
        if self.stat_file(to).await?.is_some() {
            return Err(StorageError::AlreadyExists { path: to.clone() });
        }
        // A directory: every object below it copied, then deleted; one request per object
        // each way, and not atomic (see docs/storage.md).
        let (from_dir, to_dir) = (self.keys.dir(from)?, self.keys.dir(to)?);
        let objects = self.objects_under(from).await?;
        let bytes: u64 = objects.iter().map(|(_, size)| size).sum();
        // The copies hold the bytes a second time until the deletes: counted while they do.
        self.quota.reserve(bytes, 0)?;
        for (key, _) in &objects {
            let Some(rest) = key.strip_prefix(from_dir.as_str()) else {
                continue;
            };
            let target = format!("{to_dir}{rest}");
            let copied = if key.ends_with('/') {
                self.operator.create_dir(&target).await
            } else {
                self.operator.copy(key, &target).await.map(|_| ())
            };
            if let Err(error) = copied {
                self.quota.release(bytes, 0);
                return Err(backend_error(to, error));
            }
        }
        if !objects.iter().any(|(key, _)| *key == from_dir) {
            // Keep the renamed directory even if it held only subdirectories' markers.
            self.operator
                .create_dir(&to_dir)
                .await
                .map_err(|error| backend_error(to, error))?;
        }
        for (key, _) in &objects {
            self.operator
                .delete(key)
                .await
                .map_err(|error| backend_error(from, error))?;
        }
        self.quota.release(bytes, 0);
        Ok(())
    }

    async fn usage(&self) -> Result<Usage, StorageError> {
        let objects = self.objects_under(&VirtualPath::root()).await?;
        Ok(objects.iter().filter(|(key, _)| !key.ends_with('/')).fold(
            Usage::default(),
            |usage, (_, size)| Usage {
                bytes: usage.bytes.saturating_add(*size),
                files: usage.files + 1,
            },
        ))
    }

    /// Aborts the home's multipart uploads initiated longer ago than `stale_upload_age` (those
    /// of daemons killed mid-upload; a failed upload aborts its own). Their parts never count
    /// in usage, so a sweep that fails (a key without ListBucketMultipartUploads, say) is
    /// logged and the count goes on.
    async fn remove_stale_uploads(&self) -> Result<(), StorageError> {
        let home = VirtualPath::root();
        if let Err(error) = self.stale.sweep(self.keys.home(), &home).await {
            tracing::warn!(home = self.keys.home(), %error, "cannot sweep stale multipart uploads");
        }
        Ok(())
    }
}
