//! The passive port range, written `LOW-HIGH`.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, de};

/// An inclusive range of TCP ports for passive data connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// First port of the range.
    low: u16,
    /// Last port of the range (inclusive).
    high: u16,
}

/// The error for a port range that is not `LOW-HIGH` with `1 <= LOW <= HIGH <= 65535`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port range {0:?}: expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535")]
pub struct PortRangeParseError(pub String);

impl PortRange {
    /// A range from `low` to `high` inclusive; `None` if empty or starting at port 0.
    pub fn new(low: u16, high: u16) -> Option<Self> {
        (low >= 1 && low <= high).then_some(Self { low, high })
    }

    /// The first port.
    pub fn low(&self) -> u16 {
        self.low
    }

    /// The last port (inclusive).
    pub fn high(&self) -> u16 {
        self.high
    }

    /// How many ports the range holds.
    pub fn len(&self) -> usize {
        usize::from(self.high - self.low) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The ports as a Rust range.
    pub fn ports(&self) -> RangeInclusive<u16> {
        self.low..=self.high
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

impl FromStr for PortRange {
    type Err = PortRangeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || PortRangeParseError(s.to_string());
        let (low, high) = s.trim().split_once('-').ok_or_else(error)?;
        let low: u16 = low.trim().parse().map_err(|_| error())?;
        let high: u16 = high.trim().parse().map_err(|_| error())?;
        Self::new(low, high).ok_or_else(error)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_low_high() {
        let range: PortRange = "50000-50010".parse().unwrap();
        assert_eq!((range.low(), range.high(), range.len()), (50000, 50010, 11));
        assert_eq!(range.to_string(), "50000-50010");
        assert_eq!("2121-2121".parse::<PortRange>().unwrap().len(), 1);
    }

    #[test]
    fn rejects_bad_ranges() {
        for bad in ["", "5000", "0-10", "10-5", "1-70000", "a-b", "-5", "5-"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad:?}");
        }
    }
}
