//! The line protocol: parsing a request line into a [`Command`], and the reply words.
//!
//! ```text
//! SET key value   -> OK
//! GET key         -> VALUE value | NOT_FOUND
//! DEL key         -> DELETED | NOT_FOUND
//! KEYS            -> KEYS n key1 key2 ...   (sorted)
//! QUIT            -> BYE, then the server closes the connection
//! anything else   -> ERR reason             (the session goes on)
//! ```
//! Commands are case-insensitive; the value is the rest of the line after the key and the
//! spaces that follow it. Lines end with `\n` (a `\r` before it is dropped).

use crate::store::check_key;

/// One parsed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Store a value under a key.
    Set(String, String),
    /// Read a key's value.
    Get(String),
    /// Remove a key.
    Del(String),
    /// List the keys.
    Keys,
    /// End the session.
    Quit,
}

/// Parses one line (without its line end); `Err` holds the text after `ERR `.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, rest) = line
        .split_once([' ', '\t'])
        .map_or((line, ""), |(verb, rest)| (verb, rest.trim_start()));
    let key_only = |usage: &str| match rest.split_once([' ', '\t']) {
        None if !rest.is_empty() => check_key(rest).map(|()| rest.to_string()),
        _ => Err(format!("usage: {usage}")),
    };
    match verb.to_ascii_uppercase().as_str() {
        "" => Err("empty line".to_string()),
        "SET" => {
            let Some((key, value)) = rest.split_once([' ', '\t']) else {
                return Err("usage: SET key value".to_string());
            };
            check_key(key)?;
            Ok(Command::Set(
                key.to_string(),
                value.trim_start().to_string(),
            ))
        }
        "GET" => key_only("GET key").map(Command::Get),
        "DEL" => key_only("DEL key").map(Command::Del),
        "KEYS" if rest.is_empty() => Ok(Command::Keys),
        "QUIT" if rest.is_empty() => Ok(Command::Quit),
        "KEYS" | "QUIT" => Err(format!("usage: {} takes no argument", verb.to_uppercase())),
        _ => Err(format!(
            "unknown command {verb:?}: expected SET, GET, DEL, KEYS or QUIT"
        )),
    }
}
