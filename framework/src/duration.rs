//! Durations in configuration files and on command lines: whole seconds (`30`) or a number
//! with a unit (`500ms`, `30s`, `5m`, `1h`), the one syntax every Wharf service accepts.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// The error for a duration that is neither a number of seconds nor a number with a unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected seconds (30) or a number with a unit (500ms, 30s, 5m, 1h)"
)]
pub struct DurationParseError(pub String);

/// Parses `30`, `500ms`, `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let error = || DurationParseError(text.to_string());
    if number.is_empty() {
        return Err(error());
    }
    let value: u64 = number.parse().map_err(|_| error())?;
    let duration = match unit.trim() {
        "" | "s" => Duration::from_secs(value),
        "ms" => Duration::from_millis(value),
        "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(error)?),
        "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(error)?),
        _ => return Err(error()),
    };
    Ok(duration)
}

/// Either form a config source may carry a duration in.
#[derive(Deserialize)]
#[serde(untagged)]
enum DurationSetting {
    Seconds(u64),
    Text(String),
}

/// Serde `deserialize_with` helper for [`Duration`] fields.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    match DurationSetting::deserialize(deserializer)? {
        DurationSetting::Seconds(secs) => Ok(Duration::from_secs(secs)),
        DurationSetting::Text(text) => parse_duration(&text).map_err(de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "-5",
            "1.5s",
            "10 parsecs",
            "5d",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
