//! The consent ledger as the gate reads it: consent records of the kinds in API.md with their
//! capture, expiry and revocation times, and the questions the gate asks of them (live
//! written consent, a revocation in force, an established business relationship in force).
//!
//! Owns no storage: the shell loads a number's records and passes them in.

use chrono::{DateTime, NaiveDate, Utc};

use super::state_rules::StateRule;

/// Kinds of consent (the GraphQL enum `ConsentKind` fixed by API.md; stored by the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum ConsentKind {
    /// Prior express written consent: the only kind that allows automated marketing calls to
    /// wireless numbers, and that exempts from the National DNC.
    PriorExpressWritten,
    /// Prior express consent (not written): informational calls only; it satisfies no rule
    /// of a telemarketing gate.
    PriorExpress,
    /// An established business relationship: exempts from the National DNC for a limited time.
    EstablishedBusiness,
}

/// What an established business relationship rests on (GraphQL `EbrBasis`; stored by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum EbrBasis {
    /// A purchase, delivery or payment (18 months federally).
    Purchase,
    /// An inquiry or application (3 months federally). An EBR whose basis is not recorded is
    /// taken as an inquiry (the stricter reading).
    Inquiry,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::PriorExpressWritten => "PRIOR_EXPRESS_WRITTEN",
            ConsentKind::PriorExpress => "PRIOR_EXPRESS",
            ConsentKind::EstablishedBusiness => "ESTABLISHED_BUSINESS",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [ConsentKind::PriorExpressWritten, ConsentKind::PriorExpress, ConsentKind::EstablishedBusiness]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl EbrBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            EbrBasis::Purchase => "PURCHASE",
            EbrBasis::Inquiry => "INQUIRY",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [EbrBasis::Purchase, EbrBasis::Inquiry].into_iter().find(|basis| basis.as_str() == text)
    }
}

/// One consent record for one number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    pub kind: ConsentKind,
    pub captured_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Set by `revokeConsent`; honored at once (the rule allows 10 business days).
    pub revoked_at: Option<DateTime<Utc>>,
    pub ebr_basis: Option<EbrBasis>,
}

impl ConsentRecord {
    /// Captured, not expired and not revoked at `at`.
    pub fn live_at(&self, at: DateTime<Utc>) -> bool {
        self.captured_at <= at
            && self.expires_at.is_none_or(|end| at < end)
            && self.revoked_at.is_none_or(|revoked| at < revoked)
    }
}

/// The latest revocation at or before `at` that no later consent has superseded. Such a
/// revocation blocks every call (stricter reading: a revocation is also a request not to be
/// called by this seller, 64.1200(d)).
pub fn revocation_in_force(records: &[ConsentRecord], at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let revoked = records.iter().filter_map(|r| r.revoked_at).filter(|&r| r <= at).max()?;
    let renewed = records.iter().any(|r| r.captured_at > revoked && r.live_at(at));
    (!renewed).then_some(revoked)
}

/// Live prior express written consent at `at`.
pub fn has_written_consent(records: &[ConsentRecord], at: DateTime<Utc>) -> bool {
    records.iter().any(|r| r.kind == ConsentKind::PriorExpressWritten && r.live_at(at))
}

/// A live established business relationship at `at`, under the shortest span any
/// applicable rule in force gives its basis.
pub fn ebr_in_force(records: &[ConsentRecord], rules: &[&StateRule], at: DateTime<Utc>) -> bool {
    let date = at.date_naive();
    records.iter().filter(|r| r.kind == ConsentKind::EstablishedBusiness && r.live_at(at)).any(|r| {
        let basis = r.ebr_basis.unwrap_or(EbrBasis::Inquiry);
        let start = r.captured_at.date_naive();
        let mut shortest: Option<NaiveDate> = None;
        for rule in rules.iter().filter(|rule| rule.in_force(date)) {
            let span = match basis {
                EbrBasis::Purchase => rule.ebr_purchase,
                EbrBasis::Inquiry => rule.ebr_inquiry,
            };
            let Some(span) = span else { continue };
            // A rule that grants no such exemption ends the relationship's effect.
            let Some(end) = span.ends(start) else {
                return false;
            };
            shortest = Some(shortest.map_or(end, |s| s.min(end)));
        }
        shortest.is_some_and(|end| date < end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn record(kind: ConsentKind, captured: DateTime<Utc>) -> ConsentRecord {
        ConsentRecord { kind, captured_at: captured, expires_at: None, revoked_at: None, ebr_basis: None }
    }

    #[test]
    fn written_consent_is_live_between_capture_expiry_and_revocation() {
        let mut pewc = record(ConsentKind::PriorExpressWritten, t(2026, 1, 1));
        pewc.expires_at = Some(t(2026, 6, 1));
        let records = [pewc.clone()];
        assert!(!has_written_consent(&records, t(2025, 12, 31)));
        assert!(has_written_consent(&records, t(2026, 3, 1)));
        assert!(!has_written_consent(&records, t(2026, 6, 1)));
        let oral = [record(ConsentKind::PriorExpress, t(2026, 1, 1))];
        assert!(!has_written_consent(&oral, t(2026, 3, 1)));
        pewc.revoked_at = Some(t(2026, 2, 1));
        let records = [pewc];
        assert!(!has_written_consent(&records, t(2026, 3, 1)));
        assert_eq!(revocation_in_force(&records, t(2026, 3, 1)), Some(t(2026, 2, 1)));
        assert_eq!(revocation_in_force(&records, t(2026, 1, 15)), None);
    }

    #[test]
    fn a_later_consent_supersedes_a_revocation() {
        let mut old = record(ConsentKind::PriorExpressWritten, t(2026, 1, 1));
        old.revoked_at = Some(t(2026, 2, 1));
        let renewed = record(ConsentKind::PriorExpressWritten, t(2026, 3, 1));
        let records = [old, renewed];
        assert_eq!(revocation_in_force(&records, t(2026, 2, 15)), Some(t(2026, 2, 1)));
        assert_eq!(revocation_in_force(&records, t(2026, 3, 2)), None);
        assert!(has_written_consent(&records, t(2026, 3, 2)));
    }
}
