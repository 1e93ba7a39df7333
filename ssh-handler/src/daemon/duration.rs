//! Durations on the command line: whole seconds (`30`) or a number with a unit (`500ms`, `30s`,
//! `5m`, `1h`), the same syntax as `wharf-ftpd`'s settings.

use std::time::Duration;

/// The error for a duration that is neither a number of seconds nor a number with a unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {0:?}: expected seconds (30) or a number with a unit (500ms, 30s, 5m, 1h)"
)]
pub struct DurationParseError(pub String);

/// Parses `30`, `500ms`, `30s`, `5m` or `1h`; zero is refused (a limit of nothing).
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let text = text.trim();
    let error = || DurationParseError(text.to_owned());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| error())?;
    let duration = match unit {
        "" | "s" => Duration::from_secs(value),
        "ms" => Duration::from_millis(value),
        "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(error)?),
        "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(error)?),
        _ => return Err(error()),
    };
    if duration.is_zero() {
        return Err(error());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_units() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn rejects_zero_garbage_and_overflow() {
        for text in ["0", "", "s", "10x", "-1", "1.5s", "99999999999999999999h"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
