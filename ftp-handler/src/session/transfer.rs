//! Transfers run as tasks so the control channel stays readable: ABOR stops them, STAT reports
//! progress, other commands wait until the transfer's final reply has been sent.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::tls::data::DataStream;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wharf::Connection;

use super::ascii::{AsciiDecoder, AsciiEncoder};
use super::control;
use super::state::{MAX_QUEUED_LINES, Session, storage_reply};
use super::upload_buffer::UploadBuffer;
use super::zero_copy::{self, SpliceError};
use crate::protocol::{Command, Reply, ReplyCode};
use crate::storage::{
    Chunk, DownloadBody, LocalFile, SocketBody, StorageError, UploadSink, VirtualPath,
    WritePlacement, socket_body,
};

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
    /// A file from storage, from the restart offset on.
    Stored(DownloadBody),
    /// A listing built in memory.
    Memory(Vec<u8>),
}

/// Sends `source` on the data connection, then closes it; returns the bytes sent. In binary
/// mode on a clear connection a local file goes out with `sendfile` and an object storage
/// body on a plain socket with `splice` (no copy through this process); anything else
/// through one buffer, reused for every chunk.
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
        Source::Stored(mut body) => {
            match (&mut body, &mut data, &encoder) {
                (DownloadBody::File(file), DataStream::Clear(stream), None) => {
                    total = send_file_zero_copy(stream, file, idle, &mut cancel, &progress).await?;
                }
                (DownloadBody::Socket(socket), DataStream::Clear(stream), None) => {
                    total =
                        send_socket_zero_copy(stream, socket, idle, &mut cancel, &progress).await?;
                }
                _ => {}
            }
            // The rest (all of it, unless sendfile or splice ran) through a buffer.
            let mut file = body.into_reader();
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
        path: VirtualPath::root(),
        source: error,
    })
}

/// Sends `file` from its position to its end with `sendfile`; returns the bytes sent. Stops
/// early, with the file positioned after what was sent, if the kernel cannot `sendfile` from
/// this file (the caller copies the rest).
async fn send_file_zero_copy(
    stream: &TcpStream,
    file: &LocalFile,
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

/// Sends `body` to its end, the bytes that came with the response's head by a write and the
/// rest with `splice`; returns the bytes sent. Stops early, before taking any byte off the
/// socket, if the kernel cannot `splice` from it (the caller copies the rest).
async fn send_socket_zero_copy(
    stream: &mut TcpStream,
    body: &mut SocketBody,
    idle: Duration,
    cancel: &mut oneshot::Receiver<()>,
    progress: &Progress,
) -> Result<u64, TransferError> {
    let head = body.take_head();
    write_data(stream, &head, idle, cancel).await?;
    let mut total = head.len() as u64;
    progress.store(total, Ordering::Relaxed);
    let pipe = match zero_copy::Pipe::new() {
        Ok(pipe) => pipe,
        Err(error) => {
            tracing::debug!(%error, "no pipe for splice; copying instead");
            return Ok(total);
        }
    };
    let mut spliced = 0u64;
    while body.remaining() > 0 {
        let moved = tokio::select! {
            _ = &mut *cancel => return Err(TransferError::Aborted),
            moved = tokio::time::timeout(
                idle,
                zero_copy::splice_some(body.socket(), &pipe, stream, body.remaining()),
            ) => moved,
        };
        match moved {
            Ok(Ok(0)) => return Err(file_error(socket_body::cut_short(body.remaining()))),
            Ok(Ok(count)) => {
                body.consumed(count as u64);
                spliced += count as u64;
                total += count as u64;
                progress.store(total, Ordering::Relaxed);
            }
            Ok(Err(SpliceError::Source(error)))
                if spliced == 0 && zero_copy::unsupported(&error) =>
            {
                tracing::debug!(%error, "splice unavailable; copying instead");
                return Ok(total);
            }
            Ok(Err(SpliceError::Source(error))) => return Err(file_error(error)),
            Ok(Err(SpliceError::Sink(error))) => return Err(TransferError::DataConnection(error)),
            Err(_) => return Err(TransferError::Stalled(idle)),
        }
    }
    Ok(total)
}

/// Writes one chunk unless cancelled or stalled.
async fn write_data(
    data: &mut (impl AsyncWrite + Unpin),
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

/// Where an upload's blocking file writes run for a session with these capabilities: inline
/// where the session has a thread of its own, else on the blocking pool.
pub(crate) fn write_placement(capabilities: wharf::Capabilities) -> WritePlacement {
    if capabilities.owns_thread {
        WritePlacement::Inline
    } else {
        WritePlacement::Pool
    }
}

/// Receives the data connection into `upload` until the client closes it; returns the upload,
/// not yet committed. On failure the upload has already been aborted.
///
/// Reading the next chunk runs beside writing the previous one (which, for the local backend
/// with [`WritePlacement::Pool`], happens on the blocking pool); the two buffers take turns, so
/// in binary mode nothing is allocated per chunk, only when a fast sender makes the buffers
/// grow ([`UploadBuffer`]).
pub(crate) async fn receive(
    mut data: DataStream,
    mut upload: Box<dyn UploadSink>,
    ascii: bool,
    idle: Duration,
    mut cancel: oneshot::Receiver<()>,
    progress: Progress,
) -> Result<Box<dyn UploadSink>, TransferError> {
    let mut decoder = ascii.then(AsciiDecoder::default);
    let mut buf = UploadBuffer::first();
    // The second buffer; `None` while a write holds it.
    let mut spare: Option<UploadBuffer> = None;
    // The chunk read last time, written while the next one is read.
    let mut pending: Option<Chunk> = None;
    loop {
        let writing = async {
            match pending.take() {
                Some(chunk) => Some(upload.write(chunk).await),
                None => None,
            }
        };
        let (read, written) =
            fill_while_writing(&mut data, &mut buf, idle, &mut cancel, &progress, writing).await;
        // The previous chunk is stored before the next one is handed over.
        if let Some((chunk, written)) = written {
            if decoder.is_none() {
                spare = chunk.into_buffer::<UploadBuffer>();
            }
            if let Err(error) = written {
                upload.abort().await;
                return Err(TransferError::Storage(error));
            }
        }
        let Filled { count, first, eof } = match read {
            Ok(filled) => filled,
            Err(error) => {
                upload.abort().await;
                return Err(error);
            }
        };
        let (buffer, length) = match decoder.as_mut() {
            Some(decoder) => {
                let mut decoded = decoder.decode(&buf[..count]);
                if eof {
                    decoded.extend(decoder.finish());
                }
                let length = decoded.len();
                (UploadBuffer::unbudgeted(decoded), length)
            }
            None => {
                let next = UploadBuffer::next(&buf, first, spare.take());
                (std::mem::replace(&mut buf, next), count)
            }
        };
        let chunk = Chunk::new(Box::new(buffer), length);
        if eof {
            if length > 0 {
                // What came with the end of the data (and, in TYPE A, the last line end
                // held back by decoding).
                let (_, written) = upload.write(chunk).await;
                if let Err(error) = written {
                    upload.abort().await;
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
            return Ok(upload);
        }
        pending = Some(chunk);
    }
}

/// What one [`fill_while_writing`] of an upload buffer received.
#[derive(Debug)]
struct Filled {
    /// Bytes in the buffer.
    count: usize,
    /// Bytes the first read returned: a first read that fills the buffer marks a sender
    /// fast enough for a bigger one ([`UploadBuffer::next`]).
    first: usize,
    /// The client closed the data connection.
    eof: bool,
}

/// Reads into `buf` while `writing` (the store of the previous chunk) runs: until the buffer
/// is full or the client closes the connection, or, once the write is done, until the first
/// read that brings something. So while storage is busy (a trip to the blocking pool, for a
/// local upload in async mode) small client writes gather into one chunk, and when it is idle
/// what came is handed on at once (a client that pauses has its bytes stored meanwhile).
/// Returns when both are done; `progress` counts every read.
async fn fill_while_writing<W: Future>(
    data: &mut DataStream,
    buf: &mut [u8],
    idle: Duration,
    cancel: &mut oneshot::Receiver<()>,
    progress: &Progress,
    writing: W,
) -> (Result<Filled, TransferError>, W::Output) {
    let mut writing = std::pin::pin!(writing);
    let mut written = None;
    let mut filled = Filled {
        count: 0,
        first: 0,
        eof: false,
    };
    let read = loop {
        let read = tokio::select! {
            biased;
            _ = &mut *cancel => break Err(TransferError::Aborted),
            done = &mut writing, if written.is_none() => {
                written = Some(done);
                if filled.count > 0 {
                    break Ok(());
                }
                continue;
            }
            read = tokio::time::timeout(idle, data.read(&mut buf[filled.count..])) => read,
        };
        let got = match read {
            Ok(Ok(got)) => got,
            Ok(Err(error)) => break Err(TransferError::DataConnection(error)),
            Err(_) => break Err(TransferError::Stalled(idle)),
        };
        if filled.count == 0 {
            filled.first = got;
        }
        filled.count += got;
        filled.eof = got == 0;
        progress.fetch_add(got as u64, Ordering::Relaxed);
        if filled.eof || filled.count == buf.len() || written.is_some() {
            break Ok(());
        }
    };
    let written = match written {
        Some(written) => written,
        None => writing.await,
    };
    (read.map(|()| filled), written)
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
            path: VirtualPath::root(),
            source: io::Error::other(format!("transfer task failed: {join}")),
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data connection whose client side writes `pieces` one at a time, a moment apart,
    /// then waits `linger` and closes.
    async fn sender(pieces: Vec<Vec<u8>>, linger: Duration) -> (DataStream, JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            for piece in pieces {
                stream.write_all(&piece).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(linger).await;
        });
        let (stream, _) = listener.accept().await.unwrap();
        (DataStream::Clear(stream), client)
    }

    /// One fill of `buf` from `data` while a store of the previous chunk takes `write`.
    async fn fill_during(
        data: &mut DataStream,
        buf: &mut [u8],
        cancel: &mut oneshot::Receiver<()>,
        progress: &Progress,
        write: Duration,
    ) -> Result<Filled, TransferError> {
        let idle = Duration::from_secs(30);
        let writing = tokio::time::sleep(write);
        let (filled, ()) = fill_while_writing(data, buf, idle, cancel, progress, writing).await;
        filled
    }

    #[tokio::test]
    async fn while_storage_is_busy_small_client_writes_gather_into_a_full_buffer() {
        let pieces: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 1000]).collect();
        let (mut data, client) = sender(pieces, Duration::ZERO).await;
        let (_keep, mut cancel) = oneshot::channel();
        let progress = Progress::default();
        let mut buf = vec![0u8; 4000];
        let write = Duration::from_secs(1);

        let filled = fill_during(&mut data, &mut buf, &mut cancel, &progress, write).await;
        let filled = filled.unwrap();
        assert_eq!((filled.count, filled.eof), (4000, false));
        assert_eq!(&buf[..1000], &[0u8; 1000][..]);
        assert_eq!(&buf[3000..], &[3u8; 1000][..]);
        assert_eq!(progress.load(Ordering::Relaxed), 4000);

        let filled = fill_during(&mut data, &mut buf, &mut cancel, &progress, write).await;
        assert_eq!(filled.unwrap().count, 4000);
        // The last two pieces, then the close: a part-filled buffer that ends the data.
        let filled = fill_during(&mut data, &mut buf, &mut cancel, &progress, write).await;
        let filled = filled.unwrap();
        assert_eq!((filled.count, filled.eof), (2000, true));
        assert_eq!(&buf[1000..2000], &[9u8; 1000][..]);
        assert_eq!(progress.load(Ordering::Relaxed), 10_000);
        client.await.unwrap();
    }

    #[tokio::test]
    async fn once_storage_is_idle_what_came_is_handed_on_without_waiting_for_more() {
        // The client sends a little, then pauses without closing.
        let (mut data, client) = sender(vec![vec![7; 1000]], Duration::from_secs(60)).await;
        let (_keep, mut cancel) = oneshot::channel();
        let mut buf = vec![0u8; 4000];
        let write = Duration::from_millis(50);
        let progress = Progress::default();
        let filled = fill_during(&mut data, &mut buf, &mut cancel, &progress, write).await;
        let filled = filled.unwrap();
        assert_eq!((filled.count, filled.eof), (1000, false));
        assert_eq!(&buf[..1000], &[7u8; 1000][..]);
        client.abort();
    }

    /// The near end of a connection whose far end writes `bytes`, then closes.
    async fn origin(bytes: Vec<u8>) -> TcpStream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut far, _) = listener.accept().await.unwrap();
            far.write_all(&bytes).await.unwrap();
        });
        TcpStream::connect(addr).await.unwrap()
    }

    /// A data connection whose client side reads to the end.
    async fn receiver() -> (DataStream, JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).await.unwrap();
            received
        });
        let (stream, _) = listener.accept().await.unwrap();
        (DataStream::Clear(stream), client)
    }

    /// Sends a socket body of `head` then `rest` (of which the origin sends `sent` bytes).
    async fn send_socket_body(
        head: &[u8],
        rest: &[u8],
        sent: usize,
        ascii: bool,
    ) -> (Result<u64, TransferError>, Vec<u8>) {
        let socket = origin(rest[..sent].to_vec()).await;
        let body = SocketBody::new(head.to_vec().into(), socket, rest.len() as u64);
        let (data, client) = receiver().await;
        let (_keep, cancel) = oneshot::channel();
        let source = Source::Stored(DownloadBody::Socket(body));
        let idle = Duration::from_secs(30);
        let sent = send(data, source, ascii, idle, cancel, Progress::default()).await;
        (sent, client.await.unwrap())
    }

    #[tokio::test]
    async fn a_socket_body_goes_out_whole_its_head_first() {
        let rest: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let (sent, received) = send_socket_body(b"head bytes", &rest, rest.len(), false).await;
        assert_eq!(sent.unwrap(), 10 + rest.len() as u64);
        assert_eq!(&received[..10], b"head bytes");
        assert!(received[10..] == rest[..], "the body arrives unchanged");
    }

    #[tokio::test]
    async fn a_socket_body_cut_short_fails_the_transfer_by_splice_and_by_copy() {
        let rest = vec![b'x'; 1_000_000];
        for ascii in [false, true] {
            let (sent, received) = send_socket_body(b"", &rest, 400_000, ascii).await;
            match sent {
                Err(TransferError::Storage(StorageError::Io { source, .. })) => {
                    assert_eq!(source.kind(), io::ErrorKind::UnexpectedEof, "ascii {ascii}")
                }
                other => panic!("ascii {ascii}: a cut body must fail, got {other:?}"),
            }
            assert_eq!(received.len(), 400_000, "ascii {ascii}: what came went out");
        }
    }

    #[tokio::test]
    async fn an_abor_stops_a_fill_that_waits_for_more() {
        // The client stays connected, so only the ABOR can end the fill.
        let (mut data, client) = sender(vec![vec![1; 10]], Duration::from_secs(60)).await;
        let (abort, mut cancel) = oneshot::channel();
        let mut buf = vec![0u8; 4000];
        abort.send(()).unwrap();
        let write = Duration::from_millis(10);
        let progress = Progress::default();
        let filled = fill_during(&mut data, &mut buf, &mut cancel, &progress, write).await;
        assert!(matches!(filled, Err(TransferError::Aborted)));
        client.abort();
    }
}
