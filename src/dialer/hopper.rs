//! The hopper of one running campaign: the next contacts to dial, callbacks first, then by when
//! they became due, each passed by the compliance gate for "now" when it was queued (audited as
//! `HOPPER`). A contact the gate refuses leaves the hopper until its next safe time, or for good
//! when time cannot lift the refusal. Entries older than [`FRESH_FOR`] are dropped unused: the
//! dial path checks the gate again at the dial instant either way. In preview mode a contact
//! leaves the hopper for an agent's screen and comes back when the agent skips it or the offer
//! lapses (its gate check keeps its age).

use chrono::{DateTime, TimeDelta, Utc};
use entity::{campaign, contact};
use std::collections::{HashSet, VecDeque};

use super::scheduler::Shared;
use crate::auth::TenantId;
use crate::campaign::DialerMode;
use crate::compliance::verdict::{ReasonCode, Verdict};
use crate::error::DomainResult;
use crate::store::compliance::Purpose;

/// How long a hopper verdict is trusted before the contact is checked again.
pub const FRESH_FOR: TimeDelta = TimeDelta::seconds(60);

/// Most contacts read and checked in one refill.
const REFILL_BATCH: u64 = 500;

/// How long a contact waits when the campaign, not the contact, was refused (its abandonment cap).
pub const CAMPAIGN_REFUSAL_WAIT: TimeDelta = TimeDelta::minutes(5);

/// When a refused contact may be tried again: its next safe time; a short wait when only the
/// campaign's abandonment cap stood in the way (it is no fact about the contact, so never a
/// reason to block it for good); `None` (blocked) when time cannot lift the refusal.
pub fn retry_after_refusal(verdict: &Verdict, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    verdict.next_safe_call_time.or_else(|| {
        let campaign_only = verdict.codes().iter().all(|code| *code == ReasonCode::AbandonRateCap);
        campaign_only.then(|| now + CAMPAIGN_REFUSAL_WAIT)
    })
}

#[derive(Default)]
pub struct Hopper {
    queue: VecDeque<(contact::Model, DateTime<Utc>)>,
    /// Contacts lent to agents' screens (preview), not to be read again until they come back.
    lent: HashSet<i64>,
}

impl Hopper {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Up to `count` contacts to dial now, in order; stale entries are dropped on the way.
    pub fn take(&mut self, count: usize, now: DateTime<Utc>) -> Vec<contact::Model> {
        let mut taken = Vec::with_capacity(count.min(self.queue.len()));
        while taken.len() < count {
            let Some((contact, _)) = self.take_one(now) else { break };
            taken.push(contact);
        }
        taken
    }

    /// The next fresh contact with when the gate passed it; stale entries are dropped on the way.
    pub fn take_one(&mut self, now: DateTime<Utc>) -> Option<(contact::Model, DateTime<Utc>)> {
        while let Some((contact, checked_at)) = self.queue.pop_front() {
            if now - checked_at <= FRESH_FOR {
                return Some((contact, checked_at));
            }
        }
        None
    }

    /// The next fresh contact for an agent's screen; it stays the hopper's until it is put back
    /// or [`settled`](Hopper::settled).
    pub fn lend(&mut self, now: DateTime<Utc>) -> Option<(contact::Model, DateTime<Utc>)> {
        let (contact, checked_at) = self.take_one(now)?;
        self.lent.insert(contact.id);
        Some((contact, checked_at))
    }

    /// A lent contact was dialed or refused: the hopper forgets it.
    pub fn settled(&mut self, contact: i64) {
        self.lent.remove(&contact);
    }

    /// Puts a contact taken with [`Hopper::take_one`] or lent back: first in line when it was not
    /// used (no agent was free), last when an agent passed on it.
    pub fn put_back(&mut self, contact: contact::Model, checked_at: DateTime<Utc>, first: bool) {
        self.lent.remove(&contact.id);
        if first {
            self.queue.push_front((contact, checked_at));
        } else {
            self.queue.push_back((contact, checked_at));
        }
    }

    /// Reads due contacts of the campaign's lists (up to `wanted` more than it holds), checks
    /// them with the gate for `now` and queues those it passes; the refused are deferred. Contacts
    /// it holds or lent are not read again. Returns how many contacts were due.
    pub async fn refill(
        &mut self,
        shared: &Shared,
        tenant: &TenantId,
        (campaign, mode): (&campaign::Model, DialerMode),
        lists: &[i64],
        wanted: usize,
        now: DateTime<Utc>,
    ) -> DomainResult<usize> {
        let (store, gate) = (&shared.store, &shared.gate);
        let held: Vec<i64> = self.queue.iter().map(|(c, _)| c.id).chain(self.lent.iter().copied()).collect();
        let limit = (wanted as u64).clamp(1, REFILL_BATCH);
        let due = store.contacts().due(tenant, lists, campaign.max_attempts, now, &held, limit).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let judgement = gate.judgement(tenant, now, Some(campaign)).await?.placed_as(mode);
        let numbers: Vec<String> = due.iter().map(|c| c.phone_number.clone()).collect();
        let verdicts = gate.check_with(&judgement, &numbers, Purpose::Hopper, now).await?;
        let count = due.len();
        let mut refused = Vec::new();
        for (contact, verdict) in due.into_iter().zip(verdicts) {
            if verdict.safe_to_call {
                self.queue.push_back((contact, now));
            } else {
                tracing::debug!(contact = contact.id, reasons = ?verdict.codes(), next = ?verdict.next_safe_call_time, "hopper: refused");
                refused.push((contact.id, retry_after_refusal(&verdict, now)));
            }
        }
        store.contacts().defer(tenant, &refused).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::verdict::{DataVersions, Reason};
    use chrono::{NaiveDate, TimeZone};

    fn refused(codes: &[ReasonCode], next: Option<DateTime<Utc>>) -> Verdict {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        Verdict {
            phone_number: "+12125552000".into(),
            safe_to_call: false,
            reasons: codes.iter().map(|c| Reason::new(*c, "refused")).collect(),
            warnings: Vec::new(),
            timezones: Vec::new(),
            jurisdictions: Vec::new(),
            line_type: None,
            next_safe_call_time: next,
            versions: DataVersions { rules: day, places: day, national_dnc: None },
        }
    }

    #[test]
    fn only_the_contact_s_own_refusals_block_it_for_good() {
        let now = Utc.with_ymd_and_hms(2026, 9, 1, 15, 0, 0).unwrap();
        let later = now + TimeDelta::hours(3);
        let cases = [
            (vec![ReasonCode::AbandonRateCap], None, Some(now + CAMPAIGN_REFUSAL_WAIT)),
            (vec![ReasonCode::NationalDnc], None, None),
            (vec![ReasonCode::AbandonRateCap, ReasonCode::NationalDnc], None, None),
            (vec![ReasonCode::OutsideCallingHours], Some(later), Some(later)),
        ];
        for (codes, next, want) in cases {
            assert_eq!(retry_after_refusal(&refused(&codes, next), now), want, "{codes:?}");
        }
    }
}
