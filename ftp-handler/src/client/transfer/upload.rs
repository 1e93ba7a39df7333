//! STOR from a local file, from the start or resumed at the remote size (REST + STOR when
//! the server offers `REST STREAM`, APPE otherwise).

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use super::progress::Progress;
use super::pump::{PumpError, pump};
use super::{TransferOptions, Transferred, label};
use crate::client::connection::Connection;
use crate::client::error::ClientError;

/// Uploads `local` to `remote`. With `resume`, sends only what follows the remote file's
/// current size.
pub fn upload(
    connection: &mut Connection,
    local: &Path,
    remote: &str,
    resume: bool,
    options: &TransferOptions,
) -> Result<Transferred, ClientError> {
    let mut file =
        File::open(local).map_err(|source| ClientError::local("cannot read", local, source))?;
    let meta = file
        .metadata()
        .map_err(|source| ClientError::local("cannot read", local, source))?;
    if !meta.is_file() {
        return Err(ClientError::local(
            "cannot upload",
            local,
            std::io::Error::other("not a regular file"),
        ));
    }
    let total = meta.len();
    let offset = if resume {
        connection.size(remote)?.unwrap_or(0)
    } else {
        0
    };
    if offset > total {
        return Err(ClientError::ResumeLarger {
            path: remote.to_string(),
            partial: offset,
            total,
        });
    }
    if resume && offset == total && offset > 0 {
        return Ok(Transferred::nothing(offset, Some(total)));
    }
    let line = start_line(connection, remote, offset)?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|source| ClientError::local("cannot read", local, source))?;
    let mut data = connection.open_data(&line)?;
    let started = Instant::now();
    let progress = Progress::start(options.progress, &label(remote), offset, Some(total));
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    match pump(&mut reader, &mut data, &progress, options.limit_rate) {
        Ok(bytes) => {
            connection.finish_data(&line, data)?;
            progress.finish();
            Ok(Transferred {
                bytes,
                offset,
                total: Some(total),
                elapsed: started.elapsed(),
            })
        }
        Err(PumpError::Write(source)) => {
            // The server may have cut the data connection on purpose (552 quota, 451): its
            // final reply says why better than the broken pipe does.
            progress.abandon();
            match connection.finish_data(&line, data) {
                Err(error @ ClientError::Remote { .. }) => Err(error),
                _ => Err(ClientError::ConnectionLost {
                    action: line,
                    source,
                }),
            }
        }
        Err(PumpError::Read(source)) => {
            connection.abandon_data(data);
            Err(ClientError::local("cannot read", local, source))
        }
    }
}

/// The command that starts the upload: STOR, REST + STOR, or APPE.
fn start_line(
    connection: &mut Connection,
    remote: &str,
    offset: u64,
) -> Result<String, ClientError> {
    if offset == 0 {
        return Ok(format!("STOR {remote}"));
    }
    if connection.features().rest_stream {
        match connection.restart_at(offset) {
            Ok(()) => return Ok(format!("STOR {remote}")),
            // Some servers accept REST only before RETR: append instead.
            Err(ClientError::Remote { reply, .. }) => {
                tracing::debug!(%reply, "REST before STOR refused; using APPE");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(format!("APPE {remote}"))
}
