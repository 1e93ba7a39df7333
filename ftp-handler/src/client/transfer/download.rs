//! RETR into a local file, from the start or resumed with REST at the local file's size.

use std::fs::OpenOptions;
use std::io::{BufWriter, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use super::progress::Progress;
use super::pump::{PumpError, pump};
use super::{TransferOptions, Transferred, label};
use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// Downloads `remote` into `local`. With `resume`, keeps the bytes already in `local` and
/// asks the server for the rest (REST + RETR). An existing `local` is left untouched if the
/// server refuses the download.
pub fn download(
    connection: &mut Connection,
    remote: &str,
    local: &Path,
    resume: bool,
    options: &TransferOptions,
) -> Result<Transferred, ClientError> {
    let total = connection.size(remote)?;
    let existing = std::fs::metadata(local).ok();
    if existing.as_ref().is_some_and(|meta| meta.is_dir()) {
        return Err(ClientError::local(
            "cannot download into",
            local,
            std::io::Error::other("it is a directory"),
        ));
    }
    let offset = match (&existing, resume) {
        (Some(meta), true) => meta.len(),
        _ => 0,
    };
    if let Some(total) = total {
        if offset > total {
            return Err(ClientError::ResumeLarger {
                path: local.display().to_string(),
                partial: offset,
                total,
            });
        }
        if resume && offset == total {
            return Ok(Transferred::nothing(offset, Some(total)));
        }
    }
    // Opened without truncating: an old copy survives a refused RETR.
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(local)
        .map_err(|source| ClientError::local("cannot create", local, source))?;
    let line = format!("RETR {remote}");
    let opened = (if offset > 0 {
        connection.restart_at(offset)
    } else {
        Ok(())
    })
    .and_then(|()| connection.open_data(&line));
    let mut data = match opened {
        Ok(data) => data,
        Err(error) => {
            if existing.is_none() {
                let _ = std::fs::remove_file(local);
            }
            return Err(error);
        }
    };
    let mut file = file;
    if let Err(source) = file
        .set_len(offset)
        .and_then(|()| file.seek(SeekFrom::Start(offset)).map(|_| ()))
    {
        connection.abandon_data(data);
        return Err(ClientError::local("cannot write", local, source));
    }
    let started = Instant::now();
    let progress = Progress::start(options.progress, &label(remote), offset, total);
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    match pump(&mut data, &mut writer, &progress, options.limit_rate) {
        Ok(bytes) => {
            connection.finish_data(&line, data)?;
            progress.finish();
            Ok(Transferred {
                bytes,
                offset,
                total,
                elapsed: started.elapsed(),
            })
        }
        Err(PumpError::Read(source)) => {
            connection.abandon_data(data);
            Err(ClientError::ConnectionLost {
                action: line,
                source,
            })
        }
        Err(PumpError::Write(source)) => {
            connection.abandon_data(data);
            Err(ClientError::local("cannot write", local, source))
        }
    }
}
