//! Transfers run as tasks so the control channel stays readable: ABOR stops them, STAT reports
//! progress, other commands wait until the transfer's final reply has been sent.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::tls::data::DataStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf::Connection;

use super::ascii::{AsciiDecoder, AsciiEncoder};
use super::control;
use super::state::{MAX_QUEUED_LINES, Session, storage_reply};
use super::upload_buffer::UploadBuffer;
use super::zero_copy;
use crate::protocol::{Command, Reply, ReplyCode};
use crate::storage::{StorageError, Upload};

/// Bytes moved per read or write of a download that does not go out with `sendfile`.
const CHUNK: usize = 256 * 1024;

/// How long an upload waits, after its data connection closed, for an ABOR or a closed control
/// connection that says the close was a break-off rather than the end of the file.
const COMMIT_GRACE: Duration = Duration::from_millis(10);

/// Why a transfer did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// ABOR, or the control connection went away.
    #[error("transfer aborted")]
    Aborted,
    /// The data connection failed.
    #[error("data connection failed: {0}")]
    DataConnection(io::Error),
    /// The data connection made no progress for the idle timeout.
    #[error("data connection stalled for {0:?}")]
    Stalled(Duration),
    /// Reading the file or storing the upload failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl TransferError {
    /// The final reply for the failed transfer.
    pub(crate) fn reply(&self) -> Reply {
        match self {
            TransferError::Aborted | TransferError::DataConnection(_) => Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                "Connection closed; transfer aborted.",
            ),
            TransferError::Stalled(_) => Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                "Data connection timed out; transfer aborted.",
            ),
            TransferError::Storage(error) => storage_reply(error),
        }
    }
}

/// What interrupted a transfer from the control side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interruption {
    /// The client sent ABOR.
    Abor,
    /// The control connection closed or failed.
    ControlLost,
}

/// Bytes moved so far, readable while the task runs (STAT).
pub(crate) type Progress = Arc<AtomicU64>;

/// What a download sends.
pub(crate) enum Source {
    /// A file opened by the jail, positioned at the restart offset.
    File(std::fs::File),
    /// A listing built in memory.
    Memory(Vec<u8>),
}

/// Sends `source` on the data connection, then closes it; returns the bytes sent. A file in
/// binary mode on a clear connection goes out with `sendfile` (no copy through this process);
/// otherwise through one buffer, reused for every chunk.
pub(crate) async fn send(
    mut data: DataStream,
    source: Source,
    ascii: bool,
    idle: Duration,
    mut cancel: oneshot::Receiver<()>,
    progress: Progress,
) -> Result<u64, TransferError> {
    let mut encoder = ascii.then(AsciiEncoder::default);
    let mut total = 0u64;
    match source {
        Source::Memory(bytes) => {
            let bytes = match encoder.as_mut() {
                Some(encoder) => encoder.encode(&bytes),
                None => bytes,
            };
            write_data(&mut data, &bytes, idle, &mut cancel).await?;
            total = bytes.len() as u64;
            progress.store(total, Ordering::Relaxed);
        }
        Source::File(file) => {
            if let (DataStream::Clear(stream), None) = (&data, &encoder) {
                total = send_file_zero_copy(stream, &file, idle, &mut cancel, &progress).await?;
            }
            // The rest (all of it, unless sendfile ran) through a buffer.
            let mut file = tokio::fs::File::from_std(file);
            let mut buf = vec![0u8; CHUNK];
            loop {
                let read = tokio::select! {
                    _ = &mut cancel => return Err(TransferError::Aborted),
                    read = file.read(&mut buf) => read,
                };
                let count = read.map_err(file_error)?;
                if count == 0 {
                    break;
                }
                match encoder.as_mut() {
                    Some(encoder) => {
                        let wire = encoder.encode(&buf[..count]);
                        write_data(&mut data, &wire, idle, &mut cancel).await?;
                    }
                    None => write_data(&mut data, &buf[..count], idle, &mut cancel).await?,
                }
                total += count as u64;
                progress.store(total, Ordering::Relaxed);
            }
        }
    }
    match tokio::time::timeout(idle, data.shutdown()).await {
        Ok(Ok(())) => Ok(total),
        Ok(Err(error)) => Err(TransferError::DataConnection(error)),
        Err(_) => Err(TransferError::Stalled(idle)),
    }
}

/// A read error of the file being sent.
fn file_error(error: io::Error) -> TransferError {
    TransferError::Storage(StorageError::Io {
        path: crate::storage::VirtualPath::root(),
        source: error,
    })
}

/// Sends `file` from its position to its end with `sendfile`; returns the bytes sent. Stops
/// early, with the file positioned after what was sent, if the kernel cannot `sendfile` from
/// this file (the caller copies the rest).
async fn send_file_zero_copy(
    stream: &TcpStream,
    file: &std::fs::File,
    idle: Duration,
    cancel: &mut oneshot::Receiver<()>,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    loop {
        let sent = tokio::select! {
            _ = &mut *cancel => return Err(TransferError::Aborted),
            sent = tokio::time::timeout(idle, zero_copy::send_some(stream, file)) => sent,
        };
        match sent {
            Ok(Ok(0)) => return Ok(total),
            Ok(Ok(count)) => {
                total += count as u64;
                progress.store(total, Ordering::Relaxed);
            }
            Ok(Err(error)) if zero_copy::unsupported(&error) => {
                tracing::debug!(%error, "sendfile unavailable; copying instead");
                return Ok(total);
            }
            Ok(Err(error)) => return Err(TransferError::DataConnection(error)),
            Err(_) => return Err(TransferError::Stalled(idle)),
        }
    }
}

/// Writes one chunk unless cancelled or stalled.
async fn write_data(
    data: &mut DataStream,
    bytes: &[u8],
    idle: Duration,
    cancel: &mut oneshot::Receiver<()>,
) -> Result<(), TransferError> {
    tokio::select! {
        _ = cancel => Err(TransferError::Aborted),
        written = tokio::time::timeout(idle, data.write_all(bytes)) => match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(TransferError::DataConnection(error)),
            Err(_) => Err(TransferError::Stalled(idle)),
        },
    }
}

/// The result of writing one chunk: the upload and the buffer come back.
type Written = (Upload, UploadBuffer, Result<(), StorageError>);

/// Where an upload's file writes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileWrites {
    /// On tokio's blocking pool, overlapping the next network read: a thread shared by many
    /// sessions (async mode) must never wait for the disk.
    Pool,
    /// On the session's own thread, in turn with the reads (threading, forking and sequential
    /// modes): nothing else waits on that thread, and a handoff per chunk costs two context
    /// switches (measured: single-session STOR 15-20% faster on one CPU).
    Inline,
}

impl FileWrites {
    /// The placement for a session with these capabilities: inline where the session has a
    /// thread of its own.
    pub(crate) fn for_session(capabilities: wharf::Capabilities) -> FileWrites {
        if capabilities.owns_thread {
            FileWrites::Inline
        } else {
            FileWrites::Pool
        }
    }

    /// Starts writing `chunk[..length]` into `upload` where this placement says.
    fn start(self, upload: Upload, chunk: UploadBuffer, length: usize) -> Writing {
        match self {
            FileWrites::Pool => Writing::Pool(tokio::task::spawn_blocking(move || {
                write_chunk(upload, chunk, length)
            })),
            FileWrites::Inline => Writing::Done(write_chunk(upload, chunk, length)),
        }
    }
}

/// A chunk's write: running on the pool, or already done inline.
#[expect(
    clippy::large_enum_variant,
    reason = "one per upload, on its task's stack; boxing would allocate per chunk"
)]
enum Writing {
    /// On the blocking pool.
    Pool(JoinHandle<Written>),
    /// Done on the session's thread.
    Done(Written),
}

impl Writing {
    /// Waits for the write to finish.
    async fn finish(self) -> Result<Written, TransferError> {
        match self {
            Writing::Pool(task) => task.await.map_err(write_task_lost),
            Writing::Done(written) => Ok(written),
        }
    }
}

/// Writes `chunk[..length]` into `upload` (nothing for an empty chunk).
fn write_chunk(mut upload: Upload, chunk: UploadBuffer, length: usize) -> Written {
    let written = if length > 0 {
        upload.write_all(&chunk[..length])
    } else {
        Ok(())
    };
    (upload, chunk, written)
}

/// Receives the data connection into `upload` until the client closes it; returns the upload,
/// not yet committed. On failure the upload has already been aborted.
///
/// With [`FileWrites::Pool`], reading the next chunk overlaps writing the previous one to the
/// file; either way the two buffers take turns, so in binary mode nothing is allocated per
/// chunk, only when a fast sender makes the buffers grow ([`UploadBuffer`]).
pub(crate) async fn receive(
    mut data: DataStream,
    upload: Upload,
    ascii: bool,
    writes: FileWrites,
    idle: Duration,
    mut cancel: oneshot::Receiver<()>,
    progress: Progress,
) -> Result<Upload, TransferError> {
    let mut decoder = ascii.then(AsciiDecoder::default);
    let mut buf = UploadBuffer::first();
    // The second buffer; `None` while a write holds it.
    let mut spare: Option<UploadBuffer> = None;
    let mut upload = Some(upload);
    let mut writing: Option<Writing> = None;
    loop {
        let read = tokio::select! {
            _ = &mut cancel => Err(TransferError::Aborted),
            read = tokio::time::timeout(idle, data.read(&mut buf)) => match read {
                Ok(Ok(count)) => Ok(count),
                Ok(Err(error)) => Err(TransferError::DataConnection(error)),
                Err(_) => Err(TransferError::Stalled(idle)),
            },
        };
        // The previous chunk must be on disk before the next one is handed over.
        if let Some(task) = writing.take() {
            let (returned, buffer, written) = task.finish().await?;
            if decoder.is_none() {
                spare = Some(buffer);
            }
            if let Err(error) = written {
                abort_upload(returned).await;
                return Err(TransferError::Storage(error));
            }
            upload = Some(returned);
        }
        let Some(mut current) = upload.take() else {
            return Err(write_task_lost("the upload was lost"));
        };
        let count = match read {
            Ok(count) => count,
            Err(error) => {
                abort_upload(current).await;
                return Err(error);
            }
        };
        progress.fetch_add(count as u64, Ordering::Relaxed);
        let eof = count == 0;
        let (chunk, length) = match decoder.as_mut() {
            Some(decoder) => {
                let decoded = if eof {
                    decoder.finish()
                } else {
                    decoder.decode(&buf[..count])
                };
                let length = decoded.len();
                (UploadBuffer::unbudgeted(decoded), length)
            }
            None => {
                let next = UploadBuffer::next(&buf, count, spare.take());
                (std::mem::replace(&mut buf, next), count)
            }
        };
        if eof {
            if length > 0 {
                // The last line end held back by TYPE A decoding.
                let (returned, _, written) = writes.start(current, chunk, length).finish().await?;
                current = returned;
                if let Err(error) = written {
                    abort_upload(current).await;
                    return Err(TransferError::Storage(error));
                }
            }
            // Answer the client's close: over TLS this sends our close_notify, which clients
            // such as Python's ftplib (`unwrap`) wait for. The upload is whole either way.
            match tokio::time::timeout(idle, data.shutdown()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, "closing an upload's data connection"),
                Err(_) => tracing::debug!("closing an upload's data connection timed out"),
            }
            return Ok(current);
        }
        writing = Some(writes.start(current, chunk, length));
    }
}

/// A write task that panicked or vanished: a local error (the upload is dropped, which
/// interrupts it).
fn write_task_lost(reason: impl std::fmt::Display) -> TransferError {
    TransferError::Storage(StorageError::Io {
        path: crate::storage::VirtualPath::root(),
        source: io::Error::other(format!("upload task failed: {reason}")),
    })
}

/// Aborts an upload off the async threads (it may remove a temp file).
pub(crate) async fn abort_upload(upload: Upload) {
    if let Err(join) = tokio::task::spawn_blocking(move || upload.abort()).await {
        tracing::warn!(%join, "aborting an upload failed");
    }
}

impl Session {
    /// Waits for a transfer task while reading the control channel. ABOR cancels the task,
    /// STAT reports progress, anything else is queued for after the transfer.
    pub(crate) async fn supervise<T>(
        &mut self,
        conn: &mut Connection,
        mut task: JoinHandle<Result<T, TransferError>>,
        cancel: oneshot::Sender<()>,
        progress: &Progress,
    ) -> io::Result<(Result<T, TransferError>, Option<Interruption>)> {
        loop {
            let line = tokio::select! {
                result = &mut task => return Ok((joined(result), None)),
                line = self.control.read_line(conn) => line,
            };
            let interruption = match line {
                Ok(Some(Ok(text))) => match Command::parse(&text) {
                    Ok(Command::Abor) => Some(Interruption::Abor),
                    Ok(Command::Stat(None)) => {
                        let moved = progress.load(Ordering::Relaxed);
                        control::say(
                            conn,
                            ReplyCode::FILE_STATUS,
                            format!("Transfer in progress: {moved} bytes so far."),
                        )
                        .await?;
                        None
                    }
                    _ => self.queue(Ok(text)),
                },
                Ok(Some(Err(error))) => self.queue(Err(error)),
                Ok(None) | Err(_) => Some(Interruption::ControlLost),
            };
            if let Some(interruption) = interruption {
                // The task may have finished meanwhile; then the send finds no receiver.
                let _ = cancel.send(());
                return Ok((joined(task.await), Some(interruption)));
            }
        }
    }

    /// Keeps a line for after the transfer; too many lines count as a lost control connection.
    fn queue(&mut self, line: Result<String, crate::protocol::LineError>) -> Option<Interruption> {
        if self.queued.len() >= MAX_QUEUED_LINES {
            tracing::warn!("too many commands during a transfer; closing");
            return Some(Interruption::ControlLost);
        }
        self.queued.push_back(line);
        None
    }

    /// After an upload's data connection closed: waits briefly for a sign that the close was a
    /// break-off (ABOR, control connection closed) rather than the end of the file. Other
    /// lines are queued.
    pub(crate) async fn upload_interruption(
        &mut self,
        conn: &mut Connection,
    ) -> Option<Interruption> {
        let deadline = tokio::time::sleep(COMMIT_GRACE);
        tokio::pin!(deadline);
        loop {
            let line = tokio::select! {
                biased;
                line = self.control.read_line(conn) => line,
                _ = &mut deadline => return None,
            };
            let interruption = match line {
                Ok(Some(Ok(text))) => match Command::parse(&text) {
                    Ok(Command::Abor) => Some(Interruption::Abor),
                    _ => self.queue(Ok(text)),
                },
                Ok(Some(Err(error))) => self.queue(Err(error)),
                Ok(None) | Err(_) => Some(Interruption::ControlLost),
            };
            if interruption.is_some() {
                return interruption;
            }
        }
    }
}

/// Flattens a task's join result: a panicked task is a local error.
fn joined<T>(
    result: Result<Result<T, TransferError>, tokio::task::JoinError>,
) -> Result<T, TransferError> {
    result.unwrap_or_else(|join| {
        Err(TransferError::Storage(StorageError::Io {
            path: crate::storage::VirtualPath::root(),
            source: io::Error::other(format!("transfer task failed: {join}")),
        }))
    })
}
