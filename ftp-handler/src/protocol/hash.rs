//! File hashes for the HASH command (draft-bryan-ftpext-hash) and the legacy XSHA*/XMD5 forms.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Read size while hashing.
const CHUNK: usize = 64 * 1024;

/// A hash algorithm the server offers, named as in draft-bryan-ftpext-hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// SHA-256, the default selection.
    #[default]
    Sha256,
    /// SHA-512.
    Sha512,
    /// SHA-1 (legacy; offered because clients ask for it).
    Sha1,
    /// MD5 (legacy; offered because clients ask for it).
    Md5,
}

/// The error for an algorithm name the server does not offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm {0:?}: expected SHA-256, SHA-512, SHA-1 or MD5")]
pub struct UnknownHashAlgorithm(pub String);

impl HashAlgorithm {
    /// Every offered algorithm, in the order FEAT lists them.
    pub const ALL: [HashAlgorithm; 4] = [Self::Sha256, Self::Sha512, Self::Sha1, Self::Md5];

    /// The protocol name: `SHA-256`, `SHA-512`, `SHA-1` or `MD5`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
            Self::Sha1 => "SHA-1",
            Self::Md5 => "MD5",
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher::Sha256(Sha256::new()),
            Self::Sha512 => Hasher::Sha512(Sha512::new()),
            Self::Sha1 => Hasher::Sha1(Sha1::new()),
            Self::Md5 => Hasher::Md5(Md5::new()),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HashAlgorithm {
    type Err = UnknownHashAlgorithm;

    /// Parses a protocol name, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownHashAlgorithm(s.to_string()))
    }
}

/// The FEAT line for HASH, the selected algorithm marked with `*`:
/// `HASH SHA-256*;SHA-512;SHA-1;MD5`.
pub fn feat_line(selected: HashAlgorithm) -> String {
    let names: Vec<String> = HashAlgorithm::ALL
        .into_iter()
        .map(|alg| {
            if alg == selected {
                format!("{}*", alg.name())
            } else {
                alg.name().to_string()
            }
        })
        .collect();
    format!("HASH {}", names.join(";"))
}

/// An incremental hash computation of one of the offered algorithms.
#[derive(Debug, Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
    /// SHA-1 state.
    Sha1(Sha1),
    /// MD5 state.
    Md5(Md5),
}

impl Hasher {
    /// Feeds bytes into the hash.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
            Self::Sha1(h) => h.update(data),
            Self::Md5(h) => h.update(data),
        }
    }

    /// Ends the computation and returns the digest as lowercase hex.
    pub fn finalize_hex(self) -> String {
        match self {
            Self::Sha256(h) => to_hex(&h.finalize()),
            Self::Sha512(h) => to_hex(&h.finalize()),
            Self::Sha1(h) => to_hex(&h.finalize()),
            Self::Md5(h) => to_hex(&h.finalize()),
        }
    }
}

/// A finished digest and how many bytes went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    /// The algorithm used.
    pub algorithm: HashAlgorithm,
    /// Lowercase hexadecimal digest.
    pub hex: String,
    /// Number of bytes hashed (the end of the range when hashing started at `start`).
    pub len: u64,
}

impl FileDigest {
    /// The text of a `213` HASH reply: `SHA-256 START-END HEX PATH`, where END is START plus
    /// the bytes hashed (the end is exclusive, so a whole file reads `0-SIZE`).
    pub fn hash_reply_text(&self, start: u64, path: &str) -> String {
        format!(
            "{} {}-{} {} {}",
            self.algorithm,
            start,
            start.saturating_add(self.len),
            self.hex,
            path
        )
    }
}

/// Hashes everything an async reader yields (wrap it in `take` to hash a byte range).
pub async fn digest_async<R>(algorithm: HashAlgorithm, reader: &mut R) -> io::Result<FileDigest>
where
    R: AsyncRead + Unpin + ?Sized,
{
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok(FileDigest {
        algorithm,
        hex: hasher.finalize_hex(),
        len,
    })
}

/// Hashes everything a blocking reader yields (for use off the async threads).
pub fn digest_blocking<R>(algorithm: HashAlgorithm, reader: &mut R) -> io::Result<FileDigest>
where
    R: Read + ?Sized,
{
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok(FileDigest {
        algorithm,
        hex: hasher.finalize_hex(),
        len,
    })
}

/// Lowercase hexadecimal form of bytes.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests of "abc" from the FIPS 180 / RFC 1321 test vectors.
    const ABC: [(HashAlgorithm, &str); 4] = [
        (
            HashAlgorithm::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlgorithm::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            HashAlgorithm::Sha1,
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (HashAlgorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
    ];

    #[tokio::test]
    async fn async_digest_matches_known_vectors() {
        for (alg, expected) in ABC {
            let digest = digest_async(alg, &mut &b"abc"[..]).await.unwrap();
            assert_eq!(digest.hex, expected, "{alg}");
            assert_eq!(digest.len, 3);
        }
    }

    #[test]
    fn blocking_digest_matches_known_vectors() {
        for (alg, expected) in ABC {
            let digest = digest_blocking(alg, &mut &b"abc"[..]).unwrap();
            assert_eq!(digest.hex, expected, "{alg}");
        }
    }

    #[tokio::test]
    async fn digest_of_a_range_hashes_only_that_range() {
        let data = b"xxabcyy";
        let mut range = tokio::io::AsyncReadExt::take(&data[2..], 3);
        let digest = digest_async(HashAlgorithm::Md5, &mut range).await.unwrap();
        assert_eq!(digest.hex, ABC[3].1);
        assert_eq!(
            digest.hash_reply_text(2, "f.txt"),
            format!("MD5 2-5 {} f.txt", ABC[3].1)
        );
    }

    #[test]
    fn names_parse_case_insensitively_and_round_trip() {
        for alg in HashAlgorithm::ALL {
            assert_eq!(alg.name().parse::<HashAlgorithm>(), Ok(alg));
            assert_eq!(alg.name().to_lowercase().parse::<HashAlgorithm>(), Ok(alg));
        }
        assert!("SHA256".parse::<HashAlgorithm>().is_err());
        assert!("CRC32".parse::<HashAlgorithm>().is_err());
        assert_eq!(HashAlgorithm::default(), HashAlgorithm::Sha256);
    }

    #[test]
    fn feat_line_marks_the_selected_algorithm() {
        assert_eq!(
            feat_line(HashAlgorithm::Sha256),
            "HASH SHA-256*;SHA-512;SHA-1;MD5"
        );
        assert_eq!(
            feat_line(HashAlgorithm::Md5),
            "HASH SHA-256;SHA-512;SHA-1;MD5*"
        );
    }
}
