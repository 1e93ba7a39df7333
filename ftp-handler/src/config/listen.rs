//! Listen-address lists in the configuration: a TOML array, or one string with addresses
//! separated by commas (the form an environment variable can carry).

use serde::{Deserialize, Deserializer, de};
use wharf::ListenAddr;

/// Either form a config source may carry an address list in.
#[derive(Deserialize)]
#[serde(untagged)]
enum AddrList {
    One(String),
    Many(Vec<String>),
}

/// Parses a comma-separated list of listen addresses; blanks between commas are skipped.
pub fn parse_list(text: &str) -> Result<Vec<ListenAddr>, wharf::address::AddrParseError> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::parse)
        .collect()
}

/// Serde `deserialize_with` helper for `Vec<ListenAddr>` fields.
pub fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ListenAddr>, D::Error> {
    let texts = match AddrList::deserialize(deserializer)? {
        AddrList::One(text) => vec![text],
        AddrList::Many(texts) => texts,
    };
    let mut addrs = Vec::new();
    for text in texts {
        addrs.extend(parse_list(&text).map_err(de::Error::custom)?);
    }
    Ok(addrs)
}
