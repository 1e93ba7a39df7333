//! One subject's record: recent failure times and the end of a running ban, stored as one
//! line of decimal milliseconds since the Unix epoch: `BAN_END FAILURE FAILURE ...`.

use std::time::{Duration, SystemTime};

use super::BanPolicy;

/// Failures and ban of one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Record {
    /// When the ban ends, ms since the epoch; 0 when there is none.
    ban_end: u64,
    /// Times of recent failures, ms since the epoch, oldest first.
    failures: Vec<u64>,
}

/// Milliseconds since the Unix epoch (0 for times before it).
fn millis(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

impl Record {
    /// Reads the text form; anything unreadable is an empty record (the file is server-owned,
    /// so damage can only come from a crash in the middle of a write).
    pub(super) fn parse(text: &str) -> Self {
        let mut numbers = text.split_whitespace().map(str::parse::<u64>);
        let Some(Ok(ban_end)) = numbers.next() else {
            return Self::default();
        };
        let failures: Result<Vec<u64>, _> = numbers.collect();
        Self {
            ban_end,
            failures: failures.unwrap_or_default(),
        }
    }

    /// The text form.
    pub(super) fn to_text(&self) -> String {
        let mut text = self.ban_end.to_string();
        for failure in &self.failures {
            text.push(' ');
            text.push_str(&failure.to_string());
        }
        text.push('\n');
        text
    }

    /// Time left of a ban running at `now`.
    pub(super) fn ban_left(&self, now: SystemTime) -> Option<Duration> {
        let now = millis(now);
        (self.ban_end > now).then(|| Duration::from_millis(self.ban_end - now))
    }

    /// Whether the record says nothing worth keeping at `now` (no ban, no failure in `window`).
    pub(super) fn is_stale(&self, now: SystemTime, window: Duration) -> bool {
        let horizon = millis(now).saturating_sub(millis_of(window));
        self.ban_left(now).is_none() && self.failures.iter().all(|&at| at <= horizon)
    }

    /// Counts a failure at `now`; returns true if it starts a ban.
    pub(super) fn fail(&mut self, now: SystemTime, policy: &BanPolicy) -> bool {
        let at = millis(now);
        let horizon = at.saturating_sub(millis_of(policy.window));
        self.failures.retain(|&failure| failure > horizon);
        if self.ban_left(now).is_some() {
            return false;
        }
        self.failures.push(at);
        let limit = usize::try_from(policy.after_failures).unwrap_or(usize::MAX);
        if self.failures.len() < limit {
            return false;
        }
        self.failures.clear();
        self.ban_end = at.saturating_add(millis_of(policy.duration));
        true
    }
}

/// A duration in whole milliseconds, saturating.
fn millis_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_garbage_is_empty() {
        let record = Record {
            ban_end: 5,
            failures: vec![1, 2, 3],
        };
        assert_eq!(Record::parse(&record.to_text()), record);
        assert_eq!(Record::parse("not numbers"), Record::default());
        assert_eq!(Record::parse(""), Record::default());
        assert_eq!(
            Record::parse("7 1 x"),
            Record {
                ban_end: 7,
                failures: vec![]
            }
        );
    }

    #[test]
    fn stale_after_the_window_and_the_ban() {
        let policy = BanPolicy {
            after_failures: 2,
            window: Duration::from_secs(10),
            duration: Duration::from_secs(5),
        };
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut record = Record::default();
        assert!(!record.fail(t0, &policy));
        assert!(!record.is_stale(t0, policy.window));
        assert!(record.is_stale(t0 + Duration::from_secs(11), policy.window));
        assert!(record.fail(t0, &policy));
        assert!(!record.is_stale(t0 + Duration::from_secs(4), policy.window));
        assert!(record.is_stale(t0 + Duration::from_secs(5), policy.window));
    }
}
