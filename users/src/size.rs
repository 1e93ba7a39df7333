//! Byte sizes as people type them: `512`, `10K`, `10KB`, `10KiB`, `10MiB`, `1G`, `1GiB`.
//!
//! Every unit is a power of 1024, as `du`, `ls -h` and most FTP servers count storage: `K`, `KB` and
//! `KiB` all mean 1024 bytes, `M`/`MB`/`MiB` 1024², `G` 1024³, `T` 1024⁴, `P` 1024⁵, `E` 1024⁶. Units are
//! case-insensitive and may follow the number after spaces; a bare number (or a `B` suffix) is bytes.
//! Only whole numbers are accepted (`1536M`, not `1.5G`), so a size never rounds silently.

use thiserror::Error;

/// Why a size could not be parsed; each variant quotes the offending text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SizeError {
    /// The text was empty or only spaces.
    #[error("empty size: expected a number of bytes such as 512, 10MiB or 1G")]
    Empty,
    /// The text does not start with a whole number.
    #[error(
        "invalid size {text:?}: expected a whole number optionally followed by a unit (K, M, G, T, P, E)"
    )]
    InvalidNumber {
        /// The text as given.
        text: String,
    },
    /// The number has a fractional part, which this parser refuses instead of rounding.
    #[error(
        "invalid size {text:?}: fractions are not accepted, use a smaller unit (1536M, not 1.5G)"
    )]
    Fraction {
        /// The text as given.
        text: String,
    },
    /// The suffix is not one of the known units.
    #[error(
        "invalid size {text:?}: unknown unit {unit:?} (use B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB, TiB, P, PB, PiB, E, EB or EiB)"
    )]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The unrecognised suffix.
        unit: String,
    },
    /// The value does not fit in 64 bits.
    #[error("size {text:?} is too large (the limit is {} bytes)", u64::MAX)]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// Parses a size in bytes, with an optional binary unit (see the module documentation).
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, rest) = trimmed.split_at(digits_end);
    if digits.is_empty() {
        return Err(SizeError::InvalidNumber {
            text: text.to_owned(),
        });
    }
    if rest.starts_with(['.', ',']) {
        return Err(SizeError::Fraction {
            text: text.to_owned(),
        });
    }
    let number: u64 = digits.parse().map_err(|_| SizeError::Overflow {
        text: text.to_owned(),
    })?;
    let unit = rest.trim_start();
    let multiplier = unit_multiplier(unit).ok_or_else(|| SizeError::UnknownUnit {
        text: text.to_owned(),
        unit: unit.to_owned(),
    })?;
    number
        .checked_mul(multiplier)
        .ok_or_else(|| SizeError::Overflow {
            text: text.to_owned(),
        })
}

/// The number of bytes one `unit` stands for, or `None` for an unknown unit.
fn unit_multiplier(unit: &str) -> Option<u64> {
    let lower = unit.to_ascii_lowercase();
    let exponent = match lower.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        "e" | "eb" | "eib" => 6,
        _ => return None,
    };
    Some(1024u64.pow(exponent))
}

/// Formats a byte count for people: `512 B`, `10 KiB`, `1.5 GiB` (one decimal, binary units).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut unit_index = 0;
    let mut divisor = 1u64;
    while unit_index + 1 < UNITS.len() && bytes / divisor >= 1024 {
        divisor *= 1024;
        unit_index += 1;
    }
    if unit_index == 0 {
        return format!("{bytes} B");
    }
    let whole = bytes / divisor;
    let remainder = bytes % divisor;
    if remainder == 0 {
        return format!("{whole} {}", UNITS[unit_index]);
    }
    // One decimal, truncated rather than rounded so a value never looks bigger than it is.
    let tenths = u128::from(remainder) * 10 / u128::from(divisor);
    format!("{whole}.{tenths} {}", UNITS[unit_index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_bytes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("  512 b "), Ok(512));
    }

    #[test]
    fn units_are_powers_of_1024_in_every_spelling() {
        for text in ["10K", "10k", "10KB", "10kb", "10KiB", "10kib", "10 KiB"] {
            assert_eq!(parse_size(text), Ok(10 * 1024), "{text}");
        }
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("100M"), Ok(104_857_600));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("3PiB"), Ok(3 << 50));
    }

    #[test]
    fn junk_is_rejected_with_the_reason() {
        assert_eq!(parse_size(""), Err(SizeError::Empty));
        assert_eq!(parse_size("   "), Err(SizeError::Empty));
        assert!(matches!(
            parse_size("MiB"),
            Err(SizeError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_size("-5"),
            Err(SizeError::InvalidNumber { .. })
        ));
        assert!(matches!(
            parse_size("1.5G"),
            Err(SizeError::Fraction { .. })
        ));
        assert_eq!(
            parse_size("10Q"),
            Err(SizeError::UnknownUnit {
                text: "10Q".into(),
                unit: "Q".into()
            })
        );
        assert!(matches!(
            parse_size("10 MiB extra"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_size("10iB"),
            Err(SizeError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::Overflow { .. })
        ));
        assert!(matches!(parse_size("16E"), Err(SizeError::Overflow { .. })));
        assert!(matches!(
            parse_size("16777216T"),
            Err(SizeError::Overflow { .. })
        ));
    }

    #[test]
    fn error_messages_quote_the_input() {
        let message = parse_size("12XB").unwrap_err().to_string();
        assert!(message.contains("\"12XB\""), "{message}");
        assert!(message.contains("\"XB\""), "{message}");
    }

    #[test]
    fn formatting_uses_binary_units() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(104_857_600), "100 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(u64::MAX), "15.9 EiB");
    }

    #[test]
    fn formatted_whole_units_parse_back() {
        for bytes in [0, 512, 1024, 10 * 1024, 100 << 20, 7 << 30, 3 << 40] {
            let text = format_size(bytes).replace(' ', "");
            assert_eq!(parse_size(&text), Ok(bytes), "{text}");
        }
    }
}
