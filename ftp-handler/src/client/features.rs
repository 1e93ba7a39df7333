//! What a server offers, read from its FEAT reply (RFC 2389): the HASH algorithms, the legacy
//! XSHA*/XMD5 commands, `REST STREAM`, EPSV, SIZE and UTF8.

use suppaftp::types::Features;

use crate::protocol::HashAlgorithm;

/// HASH algorithms in the order this client prefers them: SHA-256 as the design asks, then the
/// strongest of the rest.
pub const HASH_PREFERENCE: [HashAlgorithm; 4] = [
    HashAlgorithm::Sha256,
    HashAlgorithm::Sha512,
    HashAlgorithm::Sha1,
    HashAlgorithm::Md5,
];

/// The extensions the client uses, as the server advertised them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFeatures {
    /// Algorithms offered by `HASH` (draft-bryan-ftpext-hash), empty if HASH is not offered.
    pub hash: Vec<HashAlgorithm>,
    /// The algorithm HASH currently uses (marked `*` in FEAT).
    pub hash_selected: Option<HashAlgorithm>,
    /// Legacy one-algorithm commands listed in FEAT (`XSHA256`, `XSHA512`, `XSHA1`, `XMD5`).
    pub legacy_hash: Vec<HashAlgorithm>,
    /// `REST STREAM`: REST before STOR continues an upload (else APPE is used).
    pub rest_stream: bool,
    /// `EPSV` (RFC 2428), needed for IPv6 and preferred behind NAT.
    pub epsv: bool,
    /// `SIZE` (RFC 3659).
    pub size: bool,
    /// `UTF8` (RFC 2640).
    pub utf8: bool,
    /// Legacy hash commands found missing by trying them (learned, not advertised).
    pub legacy_missing: Vec<HashAlgorithm>,
}

impl ServerFeatures {
    /// Reads suppaftp's FEAT map (keys are the first word of each line, values the rest).
    pub fn from_feat(features: &Features) -> ServerFeatures {
        let mut out = ServerFeatures::default();
        for (name, value) in features {
            let value = value.as_deref().unwrap_or("");
            match name.to_ascii_uppercase().as_str() {
                "HASH" => {
                    for item in value.split(';') {
                        let item = item.trim();
                        let (name, selected) = match item.strip_suffix('*') {
                            Some(name) => (name, true),
                            None => (item, false),
                        };
                        if let Ok(algorithm) = name.parse::<HashAlgorithm>() {
                            out.hash.push(algorithm);
                            if selected {
                                out.hash_selected = Some(algorithm);
                            }
                        }
                    }
                }
                "REST" => out.rest_stream = value.to_ascii_uppercase().contains("STREAM"),
                "EPSV" => out.epsv = true,
                "SIZE" => out.size = true,
                "UTF8" => out.utf8 = true,
                other => {
                    if let Some(algorithm) = legacy_algorithm(other) {
                        out.legacy_hash.push(algorithm);
                    }
                }
            }
        }
        out
    }

    /// The HASH algorithm to ask for: the first of [`HASH_PREFERENCE`] the server offers.
    pub fn preferred_hash(&self) -> Option<HashAlgorithm> {
        HASH_PREFERENCE
            .into_iter()
            .find(|algorithm| self.hash.contains(algorithm))
    }
}

/// The legacy command for an algorithm: `XSHA256`, `XSHA512`, `XSHA1` or `XMD5`.
pub fn legacy_command(algorithm: HashAlgorithm) -> &'static str {
    match algorithm {
        HashAlgorithm::Sha256 => "XSHA256",
        HashAlgorithm::Sha512 => "XSHA512",
        HashAlgorithm::Sha1 => "XSHA1",
        HashAlgorithm::Md5 => "XMD5",
    }
}

/// The algorithm of a legacy command name, if it is one.
fn legacy_algorithm(name: &str) -> Option<HashAlgorithm> {
    HASH_PREFERENCE
        .into_iter()
        .find(|algorithm| legacy_command(*algorithm) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(lines: &[(&str, Option<&str>)]) -> Features {
        lines
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn reads_hash_algorithms_and_the_selected_one() {
        let features = ServerFeatures::from_feat(&feat(&[
            ("HASH", Some("SHA-1;SHA-256*;SHA-512;MD5;CRC32")),
            ("REST", Some("STREAM")),
            ("EPSV", None),
            ("SIZE", None),
            ("UTF8", None),
        ]));
        assert_eq!(features.hash.len(), 4);
        assert_eq!(features.hash_selected, Some(HashAlgorithm::Sha256));
        assert_eq!(features.preferred_hash(), Some(HashAlgorithm::Sha256));
        assert!(features.rest_stream && features.epsv && features.size && features.utf8);
    }

    #[test]
    fn prefers_the_strongest_offered_when_sha256_is_missing() {
        let features = ServerFeatures::from_feat(&feat(&[("HASH", Some("MD5*;SHA-1;SHA-512"))]));
        assert_eq!(features.preferred_hash(), Some(HashAlgorithm::Sha512));
        assert_eq!(features.hash_selected, Some(HashAlgorithm::Md5));
    }

    #[test]
    fn a_server_without_extensions_offers_nothing() {
        let features = ServerFeatures::from_feat(&feat(&[("MDTM", None), ("REST", None)]));
        assert_eq!(features, ServerFeatures::default());
        assert_eq!(features.preferred_hash(), None);
    }

    #[test]
    fn lists_legacy_hash_commands() {
        let features = ServerFeatures::from_feat(&feat(&[("XSHA256", None), ("XMD5", None)]));
        assert!(features.hash.is_empty());
        assert!(features.legacy_hash.contains(&HashAlgorithm::Sha256));
        assert!(features.legacy_hash.contains(&HashAlgorithm::Md5));
    }
}
