//! Durations in the configuration: the syntax shared by every Wharf service.

pub use wharf::duration::{DurationParseError, deserialize, parse_duration};
