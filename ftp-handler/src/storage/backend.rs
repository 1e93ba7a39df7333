//! The storage trait: everything the FTP session asks of the place a user's files live, so that
//! the protocol works the same over the local jail and over object storage.
//!
//! The trait is used as `Arc<dyn StorageBackend>` ([`Jail`]), chosen at login from the
//! configuration; native `async fn` in traits are not object-safe, so `async-trait` boxes the
//! futures (one allocation per call, nothing per byte: bytes move through [`UploadSink::write`]
//! and [`Download`] streams).

use std::any::Any;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::AsyncRead;

use super::entry::Entry;
use super::error::StorageError;
use super::path::VirtualPath;
use super::quota::{QuotaHook, Usage};
use super::socket_body::SocketBody;
use crate::protocol::hash::{FileDigest, HashAlgorithm, digest_async};

/// A user's storage as a session holds it: the backend the configuration chose, home as `/`.
/// Cheap to clone. (The name predates the object-storage backend: the jail is what confines.)
pub type Jail = Arc<dyn StorageBackend>;

/// How an upload treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// STOR: an existing file is replaced atomically on commit.
    Replace,
    /// APPE: bytes are added at the end (the file is created if missing).
    Append,
    /// REST n + STOR: the file keeps its first `n` bytes (`n` at most its size) and continues
    /// with the upload's.
    ResumeAt(u64),
    /// STOU: a new file under a fresh name derived from the path (a directory gets `upload`);
    /// [`UploadSink::path`] tells the name chosen.
    Unique,
}

/// What a committed upload produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Where the file now is.
    pub path: VirtualPath,
    /// Its size in bytes.
    pub size: u64,
    /// Size of the file it replaced, for a replacing upload over an existing file.
    pub replaced_size: Option<u64>,
}

/// What a backend can do beyond the common ground; FEAT and the transfer code read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Downloads can leave through `sendfile` ([`DownloadBody::File`]).
    pub zero_copy: bool,
    /// APPE and REST n + STOR are supported (else refused with 504 and not advertised).
    pub append: bool,
    /// The backend hashes a file itself, without the bytes passing through a stream.
    pub server_side_hash: bool,
    /// An interrupted upload of a new file keeps what was received (resumable); otherwise an
    /// upload is all or nothing.
    pub keeps_partial_uploads: bool,
}

/// Where a local upload's blocking file writes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePlacement {
    /// On tokio's blocking pool, overlapping the next network read: a thread shared by many
    /// sessions (async mode) must never wait for the disk.
    Pool,
    /// On the session's own thread, in turn with the reads (threading, forking and sequential
    /// modes): nothing else waits on that thread, and a handoff per chunk costs two context
    /// switches (measured: single-session STOR 15-20% faster on one CPU).
    Inline,
}

/// A file opened for reading at an offset.
pub struct Download {
    /// The file's whole size (not what is left after the offset).
    pub size: u64,
    /// The bytes from the offset on.
    pub body: DownloadBody,
}

/// Where a download's bytes come from.
pub enum DownloadBody {
    /// A local file positioned at the offset: may go out with `sendfile`.
    File(LocalFile),
    /// An object storage response body on a plain TCP connection: may go out with `splice`.
    Socket(SocketBody),
    /// Any other stream (object storage).
    Stream(Pin<Box<dyn AsyncRead + Send>>),
}

impl DownloadBody {
    /// The bytes as a stream, whatever their source.
    pub fn into_reader(self) -> Pin<Box<dyn AsyncRead + Send>> {
        match self {
            DownloadBody::File(file) => Box::pin(tokio::fs::File::from_std(file.0)),
            DownloadBody::Socket(body) => Box::pin(body),
            DownloadBody::Stream(stream) => stream,
        }
    }
}

impl fmt::Debug for DownloadBody {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownloadBody::File(_) => formatter.write_str("File"),
            DownloadBody::Socket(body) => body.fmt(formatter),
            DownloadBody::Stream(_) => formatter.write_str("Stream"),
        }
    }
}

/// A local file opened by the jail for reading; only its descriptor is lent out (`sendfile`).
#[derive(Debug)]
pub struct LocalFile(std::fs::File);

impl LocalFile {
    /// Wraps a file the jail opened.
    pub(crate) fn new(file: std::fs::File) -> LocalFile {
        LocalFile(file)
    }
}

impl AsFd for LocalFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Bytes lent to an upload: owned, so a write may run on another thread, and given back after
/// so the session can reuse its buffer.
pub struct Chunk {
    /// The buffer (the session's own type; it gets it back with [`Chunk::into_buffer`]).
    buffer: Box<dyn ChunkBuffer>,
    /// How many leading bytes of the buffer are the chunk.
    length: usize,
}

/// A buffer an upload can borrow bytes from.
pub trait ChunkBuffer: Send + 'static {
    /// The buffer's bytes.
    fn bytes(&self) -> &[u8];
    /// The buffer as `Any`, to get the concrete type back.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl Chunk {
    /// The first `length` bytes of `buffer` (at most its size).
    pub fn new(buffer: Box<dyn ChunkBuffer>, length: usize) -> Chunk {
        let length = length.min(buffer.bytes().len());
        Chunk { buffer, length }
    }

    /// The chunk's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.buffer.bytes()[..self.length]
    }

    /// The buffer back, as the type it was lent as (`None` if it was another type).
    pub fn into_buffer<T: 'static>(self) -> Option<T> {
        self.buffer
            .into_any()
            .downcast::<T>()
            .ok()
            .map(|boxed| *boxed)
    }
}

impl fmt::Debug for Chunk {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Chunk")
            .field("length", &self.length)
            .finish()
    }
}

/// An upload in progress: write the chunks, then [`commit`](UploadSink::commit) or
/// [`abort`](UploadSink::abort). Dropping it uncommitted is an abort.
#[async_trait]
pub trait UploadSink: Send + fmt::Debug {
    /// The target path (for [`UploadMode::Unique`], the name chosen).
    fn path(&self) -> &VirtualPath;

    /// Bytes written so far by this upload.
    fn bytes_written(&self) -> u64;

    /// Writes one chunk after the quota hook accepted it, and gives the chunk back. A quota
    /// refusal rolls the upload back (the user's files are as before it).
    async fn write(&mut self, chunk: Chunk) -> (Chunk, Result<(), StorageError>);

    /// Makes the upload visible, atomically for a replacing upload.
    async fn commit(self: Box<Self>) -> Result<CommitInfo, StorageError>;

    /// Stops the upload; what stays behind depends on
    /// [`Capabilities::keeps_partial_uploads`].
    async fn abort(self: Box<Self>);
}

/// One user's files, home as `/`: what every backend offers. Paths are virtual and already
/// normalised ([`VirtualPath`]); each backend keeps them inside the home by its own means.
#[async_trait]
pub trait StorageBackend: Send + Sync + fmt::Debug {
    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The same storage, reporting usage changes to `hook`.
    fn with_quota(&self, hook: Arc<dyn QuotaHook>) -> Jail;

    /// Facts about one path.
    async fn metadata(&self, path: &VirtualPath) -> Result<Entry, StorageError>;

    /// A directory's entries sorted by name (hidden and reserved names left out as the backend
    /// decides), or the single entry of a file.
    async fn list(&self, path: &VirtualPath) -> Result<Vec<Entry>, StorageError>;

    /// Opens a regular file for reading at `offset`; past the end is
    /// [`StorageError::BadOffset`].
    async fn open_read(&self, path: &VirtualPath, offset: u64) -> Result<Download, StorageError>;

    /// Starts an upload to `path`; `placement` says where blocking writes may run.
    async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
        placement: WritePlacement,
    ) -> Result<Box<dyn UploadSink>, StorageError>;

    /// Creates one directory; its parent must exist.
    async fn create_dir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes an empty directory.
    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Removes a file.
    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError>;

    /// Renames a file or directory; replaces an existing file, never a directory or `/`.
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;

    /// Counts the files and bytes in the home (committed plus what dead uploads left that
    /// still counts), for a quota rebuild.
    async fn usage(&self) -> Result<Usage, StorageError>;

    /// Removes what dead uploads left behind, before a quota rebuild.
    async fn remove_stale_uploads(&self) -> Result<(), StorageError>;

    /// The digest of a whole file. The default streams it through [`open_read`](Self::open_read).
    async fn digest(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
    ) -> Result<FileDigest, StorageError> {
        let download = self.open_read(path, 0).await?;
        let mut reader = download.body.into_reader();
        digest_async(algorithm, &mut reader)
            .await
            .map_err(|error| StorageError::from_io(path, error))
    }
}

impl ChunkBuffer for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}
