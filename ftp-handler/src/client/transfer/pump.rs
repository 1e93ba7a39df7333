//! Copies the bytes of one transfer, counting progress and keeping to an optional rate limit.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::progress::Progress;

/// Largest read at once.
const MAX_CHUNK: usize = 256 * 1024;

/// Smallest read when a low rate limit asks for small steps.
const MIN_CHUNK: usize = 1024;

/// Which side of the copy failed.
#[derive(Debug)]
pub enum PumpError {
    /// Reading the source failed.
    Read(io::Error),
    /// Writing the destination failed.
    Write(io::Error),
}

/// Copies `reader` into `writer` until the end, returning the bytes copied. With `limit`
/// (bytes per second) the copy sleeps as needed to stay under it.
pub fn pump(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    progress: &Progress,
    limit: Option<u64>,
) -> Result<u64, PumpError> {
    let chunk = match limit {
        // About ten steps per second, so a limited transfer advances smoothly.
        Some(rate) => usize::try_from(rate / 10)
            .unwrap_or(MAX_CHUNK)
            .clamp(MIN_CHUNK, MAX_CHUNK),
        None => MAX_CHUNK,
    };
    let mut buffer = vec![0u8; chunk];
    let started = Instant::now();
    let mut copied: u64 = 0;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(PumpError::Read(error)),
        };
        writer
            .write_all(&buffer[..read])
            .map_err(PumpError::Write)?;
        copied += read as u64;
        progress.advance(read as u64);
        if let Some(rate) = limit {
            pace(started, copied, rate);
        }
    }
    writer.flush().map_err(PumpError::Write)?;
    Ok(copied)
}

/// Sleeps until `copied` bytes since `started` are no faster than `rate` bytes per second.
fn pace(started: Instant, copied: u64, rate: u64) {
    if rate == 0 {
        return;
    }
    let due = Duration::from_secs_f64(copied as f64 / rate as f64);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        std::thread::sleep(wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_everything_and_flushes() {
        let data: Vec<u8> = (0..=255u8).cycle().take(600_000).collect();
        let mut out = Vec::new();
        let progress = Progress::start(false, "t", 0, None);
        let copied = pump(&mut &data[..], &mut out, &progress, None).unwrap();
        assert_eq!(copied, data.len() as u64);
        assert_eq!(out, data);
    }

    #[test]
    fn a_rate_limit_slows_the_copy_down() {
        let data = vec![7u8; 20_000];
        let mut out = Vec::new();
        let progress = Progress::start(false, "t", 0, None);
        let started = Instant::now();
        pump(&mut &data[..], &mut out, &progress, Some(100_000)).unwrap();
        // 20 kB at 100 kB/s cannot take less than 0.2 s (a lower bound, not a speed check).
        assert!(started.elapsed() >= Duration::from_millis(190));
        assert_eq!(out, data);
    }

    #[test]
    fn reports_which_side_failed() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let progress = Progress::start(false, "t", 0, None);
        let result = pump(&mut &b"abc"[..], &mut Broken, &progress, None);
        assert!(matches!(result, Err(PumpError::Write(_))));
    }
}
