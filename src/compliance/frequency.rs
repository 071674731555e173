//! Frequency caps: a rolling-window cap on attempts per number (state laws) and a campaign's
//! maximum attempts, answered as "when does the cap lift".
//!
//! Owns the arithmetic only; the attempt ledger is the shell's (calls and texts, every
//! campaign of the tenant, failed and blocked attempts counted alike).

use chrono::{DateTime, Utc};

use super::state_rules::FrequencyCap;

/// The earliest instant at or after `at` when the cap allows one more call, given the past
/// attempts (a window is `(t - window, t]`). Attempts after `at` are ignored.
pub fn cap_lifts(cap: FrequencyCap, attempts: &[DateTime<Utc>], at: DateTime<Utc>) -> DateTime<Utc> {
    let mut in_window: Vec<DateTime<Utc>> =
        attempts.iter().copied().filter(|&a| a <= at && at - cap.window < a).collect();
    let calls = cap.calls as usize;
    if in_window.len() < calls {
        return at;
    }
    in_window.sort_unstable();
    // After the (len - calls + 1)-th attempt leaves the window, calls - 1 remain.
    in_window[in_window.len() - calls] + cap.window
}

/// Whether a campaign has used all its attempts on this number.
pub fn campaign_exhausted(max_attempts: Option<u32>, attempts_made: u32) -> bool {
    max_attempts.is_some_and(|max| attempts_made >= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    fn h(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + TimeDelta::hours(hour)
    }

    #[test]
    fn three_per_day_lifts_when_the_oldest_counted_attempt_ages_out() {
        let cap = FrequencyCap { calls: 3, window: TimeDelta::hours(24) };
        type Case<'a> = (&'a [DateTime<Utc>], DateTime<Utc>, DateTime<Utc>);
        let cases: [Case<'_>; 5] = [
            (&[], h(30), h(30)),
            (&[h(1), h(2)], h(30), h(30)),
            (&[h(1), h(2), h(3)], h(4), h(25)),
            (&[h(3), h(1), h(2), h(10)], h(11), h(26)),
            // The attempt at h(1) left the window at h(25): (h(25) - 24h, h(25)] excludes it.
            (&[h(1), h(2), h(3)], h(25), h(25)),
        ];
        for (attempts, at, expected) in cases {
            assert_eq!(cap_lifts(cap, attempts, at), expected, "{attempts:?} at {at}");
        }
    }

    #[test]
    fn campaign_maximum_attempts() {
        assert!(!campaign_exhausted(None, 99));
        assert!(!campaign_exhausted(Some(3), 2));
        assert!(campaign_exhausted(Some(3), 3));
    }
}
