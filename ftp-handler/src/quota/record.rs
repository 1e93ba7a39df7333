//! The usage record: one small fixed-size binary record per user, read and rewritten in place
//! under the store's lock. One `pwrite` of 40 bytes is all-or-nothing against a process being
//! killed, and a checksum catches what a power cut or an outside edit could leave behind.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Marks a usage record and its format version.
const MAGIC: [u8; 8] = *b"WHFQUOT1";
/// Bytes in a record: magic, bytes, files, sessions, checksum.
pub(crate) const RECORD_LEN: usize = 40;

/// What the store keeps about one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Record {
    /// Bytes in use: committed files plus uploads in progress.
    pub(crate) bytes: u64,
    /// Files in use, counting files being created.
    pub(crate) files: u64,
    /// Sessions that attached and have not detached yet; non-zero while nobody holds the
    /// sessions lock means a session died without detaching, so the numbers may be off.
    pub(crate) sessions: u64,
}

/// What reading a record file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The file is empty: usage was never counted.
    Missing,
    /// A record with a valid checksum.
    Valid(Record),
    /// Something that is not a valid record.
    Corrupt,
}

impl Record {
    /// The record's on-disk form.
    pub(crate) fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.bytes.to_le_bytes());
        out[16..24].copy_from_slice(&self.files.to_le_bytes());
        out[24..32].copy_from_slice(&self.sessions.to_le_bytes());
        let sum = checksum(&out[..32]);
        out[32..].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Parses the on-disk form; `None` if it is not a valid record.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Record> {
        if bytes.len() != RECORD_LEN || bytes[..8] != MAGIC {
            return None;
        }
        let word = |at: usize| {
            let mut buffer = [0u8; 8];
            buffer.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(buffer)
        };
        if word(32) != checksum(&bytes[..32]) {
            return None;
        }
        Some(Record {
            bytes: word(8),
            files: word(16),
            sessions: word(24),
        })
    }

    /// Reads the record at the start of `file`.
    pub(crate) fn read(file: &File) -> io::Result<Stored> {
        let length = file.metadata()?.len();
        if length == 0 {
            return Ok(Stored::Missing);
        }
        if length != RECORD_LEN as u64 {
            return Ok(Stored::Corrupt);
        }
        let mut buffer = [0u8; RECORD_LEN];
        file.read_exact_at(&mut buffer, 0)?;
        Ok(Record::decode(&buffer).map_or(Stored::Corrupt, Stored::Valid))
    }

    /// Writes the record at the start of `file` in one call (and cuts off anything after it,
    /// which only a damaged file has).
    pub(crate) fn write(&self, file: &File) -> io::Result<()> {
        file.write_all_at(&self.encode(), 0)?;
        if file.metadata()?.len() != RECORD_LEN as u64 {
            file.set_len(RECORD_LEN as u64)?;
        }
        Ok(())
    }
}

/// FNV-1a over the record's fields: cheap, and enough to spot a torn or edited record.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_encoding() {
        let record = Record {
            bytes: u64::MAX - 3,
            files: 17,
            sessions: 2,
        };
        assert_eq!(Record::decode(&record.encode()), Some(record));
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let encoded = Record {
            bytes: 65536,
            files: 3,
            sessions: 1,
        }
        .encode();
        for index in 0..RECORD_LEN {
            for bit in 0..8 {
                let mut damaged = encoded;
                damaged[index] ^= 1 << bit;
                assert_eq!(Record::decode(&damaged), None, "byte {index} bit {bit}");
            }
        }
        assert_eq!(Record::decode(&encoded[..39]), None);
    }

    #[test]
    fn files_read_back_as_missing_valid_or_corrupt() {
        let file = tempfile::tempfile().unwrap();
        assert_eq!(Record::read(&file).unwrap(), Stored::Missing);
        let record = Record {
            bytes: 5,
            files: 1,
            sessions: 0,
        };
        record.write(&file).unwrap();
        assert_eq!(Record::read(&file).unwrap(), Stored::Valid(record));
        file.write_all_at(b"garbage", 8).unwrap();
        assert_eq!(Record::read(&file).unwrap(), Stored::Corrupt);
        file.set_len(12).unwrap();
        assert_eq!(Record::read(&file).unwrap(), Stored::Corrupt);
        file.write_all_at(&[0; 100], 0).unwrap();
        record.write(&file).unwrap();
        assert_eq!(Record::read(&file).unwrap(), Stored::Valid(record));
    }
}
