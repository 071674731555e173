//! Outbox delivery policy: after a failed attempt, retry later (exponential backoff with full
//! jitter, at least the CRM's retry-after) or dead-letter. Pure: the worker that applies it is
//! `outbox`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::CrmError;

/// Defaults: 10 s base doubling to a 30 min cap, dead letter after 8 attempts. The expected
/// total wait before the dead letter is about 10 min, so an outage of minutes drains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self { base: Duration::from_secs(10), cap: Duration::from_secs(30 * 60), max_attempts: 8 }
    }
}

/// Why an activity stops being retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Credentials rejected: retrying cannot help until someone fixes them.
    Auth,
    /// The CRM refused the payload itself (or the record it points to is gone).
    Rejected,
    /// `max_attempts` failures of a kind that is normally transient.
    Exhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    RetryAt(DateTime<Utc>),
    DeadLetter(DeadLetterReason),
}

impl DeliveryPolicy {
    /// The exponential ceiling for the wait after `attempts` failed attempts (1-based).
    pub fn ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }

    /// What to do after the `attempts`-th attempt (counting it) failed with `error` at `now`.
    pub fn next_step(&self, attempts: u32, error: &CrmError, now: DateTime<Utc>, rng: &mut impl Rng) -> Verdict {
        match error {
            CrmError::Auth => return Verdict::DeadLetter(DeadLetterReason::Auth),
            CrmError::BadRequest(_) | CrmError::NotFound => return Verdict::DeadLetter(DeadLetterReason::Rejected),
            CrmError::RateLimited { .. } | CrmError::Unavailable(_) | CrmError::Timeout => {}
        }
        if attempts >= self.max_attempts {
            return Verdict::DeadLetter(DeadLetterReason::Exhausted);
        }
        let ceiling = self.ceiling(attempts);
        let jittered = Duration::from_millis(rng.random_range(0..=ceiling.as_millis() as u64));
        let wait = match error {
            CrmError::RateLimited { retry_after: Some(ra) } => jittered.max(*ra),
            _ => jittered,
        };
        let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
        Verdict::RetryAt(now.checked_add_signed(wait).unwrap_or(DateTime::<Utc>::MAX_UTC))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn unavailable() -> CrmError {
        CrmError::Unavailable("HTTP 503".into())
    }

    #[test]
    fn ceiling_doubles_to_the_cap() {
        let p = DeliveryPolicy::default();
        let table =
            [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160), (6, 320), (7, 640), (8, 1280), (9, 1800), (40, 1800)];
        for (attempts, secs) in table {
            assert_eq!(p.ceiling(attempts), Duration::from_secs(secs), "attempt {attempts}");
        }
    }

    #[test]
    fn verdicts_by_error_and_attempt() {
        let p = DeliveryPolicy::default();
        let now = at(1_000_000);
        let rate = |s| CrmError::RateLimited { retry_after: Some(Duration::from_secs(s)) };
        // (attempts, error, expected: None = retry within the ceiling, Some(reason) = dead letter)
        let table: Vec<(u32, CrmError, Option<DeadLetterReason>)> = vec![
            (1, unavailable(), None),
            (1, CrmError::Timeout, None),
            (1, rate(30), None),
            (7, unavailable(), None),
            (8, unavailable(), Some(DeadLetterReason::Exhausted)),
            (8, CrmError::Timeout, Some(DeadLetterReason::Exhausted)),
            (1, CrmError::Auth, Some(DeadLetterReason::Auth)),
            (1, CrmError::BadRequest("INVALID_FIELD".into()), Some(DeadLetterReason::Rejected)),
            (1, CrmError::NotFound, Some(DeadLetterReason::Rejected)),
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for (attempts, err, expected) in table {
            match (p.next_step(attempts, &err, now, &mut rng), expected) {
                (Verdict::DeadLetter(r), Some(want)) => assert_eq!(r, want, "{attempts} {err:?}"),
                (Verdict::RetryAt(t), None) => {
                    let wait = (t - now).to_std().unwrap();
                    let floor = match err {
                        CrmError::RateLimited { retry_after: Some(ra) } => ra,
                        _ => Duration::ZERO,
                    };
                    assert!(wait >= floor && wait <= p.ceiling(attempts).max(floor), "{attempts} {err:?} {wait:?}");
                }
                (got, want) => panic!("{attempts} {err:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor_even_past_the_ceiling() {
        let p = DeliveryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let err = CrmError::RateLimited { retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(p.next_step(1, &err, at(0), &mut rng), Verdict::RetryAt(at(3600)));
    }

    #[test]
    fn jitter_is_full_and_reproducible_with_a_seed() {
        let p = DeliveryPolicy::default();
        let waits = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..200)
                .map(|_| match p.next_step(3, &unavailable(), at(0), &mut rng) {
                    Verdict::RetryAt(t) => t.timestamp_millis(),
                    v => panic!("{v:?}"),
                })
                .collect::<Vec<_>>()
        };
        let a = waits(42);
        assert_eq!(a, waits(42));
        assert_ne!(a, waits(43));
        assert!(a.iter().all(|ms| (0..=40_000).contains(ms)));
        // Full jitter spreads over the whole range, not just near the ceiling.
        assert!(a.iter().any(|ms| *ms < 10_000) && a.iter().any(|ms| *ms > 30_000));
    }

    #[test]
    fn max_attempts_is_configurable() {
        let p = DeliveryPolicy { max_attempts: 2, ..Default::default() };
        let mut rng = StdRng::seed_from_u64(0);
        assert!(matches!(p.next_step(1, &CrmError::Timeout, at(0), &mut rng), Verdict::RetryAt(_)));
        assert_eq!(
            p.next_step(2, &CrmError::Timeout, at(0), &mut rng),
            Verdict::DeadLetter(DeadLetterReason::Exhausted)
        );
    }
}
