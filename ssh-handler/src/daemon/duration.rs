//! Durations on the command line: whole seconds (`30`) or a number with a unit (`500ms`, `30s`,
//! `5m`, `1h`), the same syntax as `wharf-ftpd`'s settings.

use std::time::Duration;

pub use wharf::duration::DurationParseError;

/// Parses `30`, `500ms`, `30s`, `5m` or `1h`; zero is refused (a limit of nothing).
pub fn parse_duration(text: &str) -> Result<Duration, DurationParseError> {
    let duration = wharf::duration::parse_duration(text)?;
    if duration.is_zero() {
        return Err(DurationParseError(text.trim().to_owned()));
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
