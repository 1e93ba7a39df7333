//! UTC calendar arithmetic, enough for listings and MDTM (no time-zone database needed).

use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time broken down in the proleptic Gregorian calendar, UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Year, e.g. 2025 (may be before 1970 or negative for very old times).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

impl UtcDateTime {
    /// Breaks down a time, also one before 1970.
    pub fn from_system_time(time: SystemTime) -> UtcDateTime {
        let seconds = unix_seconds(time);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // rem_euclid keeps the time of day in 0..86_400, so these casts cannot truncate.
        UtcDateTime {
            year,
            month,
            day,
            hour: (second_of_day / 3600) as u32,
            minute: (second_of_day % 3600 / 60) as u32,
            second: (second_of_day % 60) as u32,
        }
    }

    /// English three-letter month name, as `ls` prints it in the C locale.
    pub fn month_abbreviation(&self) -> &'static str {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        MONTHS[(self.month.clamp(1, 12) - 1) as usize]
    }
}

/// Seconds since the Unix epoch, negative before it (whole seconds, rounded down).
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// `YYYYMMDDHHMMSS` in UTC: the MDTM reply and the MLSx `modify` fact (RFC 3659 time-val).
pub fn ftp_timestamp(time: SystemTime) -> String {
    let utc = UtcDateTime::from_system_time(time);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        utc.year.clamp(0, 9999),
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second
    )
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(seconds: i64) -> UtcDateTime {
        let time = if seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        };
        UtcDateTime::from_system_time(time)
    }

    fn date(utc: UtcDateTime) -> (i64, u32, u32, u32, u32, u32) {
        (
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second,
        )
    }

    #[test]
    fn converts_known_instants() {
        assert_eq!(date(at(0)), (1970, 1, 1, 0, 0, 0));
        // 2025-11-25T17:58:09Z
        assert_eq!(date(at(1_764_093_489)), (2025, 11, 25, 17, 58, 9));
        // 2000-02-29T23:59:59Z (leap day of a century leap year)
        assert_eq!(date(at(951_868_799)), (2000, 2, 29, 23, 59, 59));
        // 2024-12-31T00:00:00Z
        assert_eq!(date(at(1_735_603_200)), (2024, 12, 31, 0, 0, 0));
        // 1969-12-31T23:59:59Z, one second before the epoch
        assert_eq!(date(at(-1)), (1969, 12, 31, 23, 59, 59));
        // 1900-03-01T00:00:00Z (1900 is not a leap year)
        assert_eq!(date(at(-2_203_891_200)), (1900, 3, 1, 0, 0, 0));
    }

    #[test]
    fn rounds_sub_second_times_before_the_epoch_down() {
        let time = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(unix_seconds(time), -1);
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1500)), 1);
    }

    #[test]
    fn formats_ftp_timestamps() {
        let time = UNIX_EPOCH + Duration::from_secs(1_764_093_489);
        assert_eq!(ftp_timestamp(time), "20251125175809");
        assert_eq!(ftp_timestamp(UNIX_EPOCH), "19700101000000");
        assert_eq!(at(1_764_093_489).month_abbreviation(), "Nov");
    }
}
