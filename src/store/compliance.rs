//! What the compliance gate reads and writes per tenant: the internal DNC list, the consent
//! ledger, past calls to a number, where its contacts live, a campaign's 30-day abandonment,
//! and the append-only audit of verdicts.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{call, compliance_decision, consent, contact, dnc_number, number_lookup};
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde_json::json;
use std::collections::HashMap;

use super::{Store, TenantId, tenants};
use crate::compliance::consent::{ConsentKind, ConsentRecord, EbrBasis};
use crate::compliance::line_type::{LineType, LookupResult};
use crate::compliance::verdict::{Attempt, InternalDncEntry, Verdict};
use crate::error::{DomainError, DomainResult};

/// Rows per insert statement of the audit and of DNC additions.
const BATCH: usize = 500;

/// Why a verdict was asked for (the audit's `purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Asked for through the API (`complianceCheck`, `validateContacts`).
    Check,
    /// The hopper's check of a contact it is about to queue for dialing.
    Hopper,
    /// Used to place a call.
    Dial,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Check => "CHECK",
            Purpose::Hopper => "HOPPER",
            Purpose::Dial => "DIAL",
        }
    }
}

/// A contact's own record of where it is (from the newest contact with the number).
#[derive(Clone, Debug, Default)]
pub struct StoredPlace {
    pub time_zone: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
}

/// A consent to record (`recordConsent`).
#[derive(Clone, Debug)]
pub struct NewConsent {
    pub phone_number: String,
    pub kind: ConsentKind,
    pub source: Option<String>,
    pub captured_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub ebr_basis: Option<EbrBasis>,
}

pub struct ComplianceRecords<'a>(&'a Store);

impl Store {
    pub fn compliance(&self) -> ComplianceRecords<'_> {
        ComplianceRecords(self)
    }
}

impl ComplianceRecords<'_> {
    /// Internal DNC entries of the given E.164 numbers.
    pub async fn internal_dnc(
        &self,
        tenant: &TenantId,
        numbers: &[String],
    ) -> DomainResult<HashMap<String, InternalDncEntry>> {
        let rows = dnc_number::Entity::find()
            .filter(dnc_number::Column::TenantId.eq(tenant.as_str()))
            .filter(dnc_number::Column::PhoneNumber.is_in(numbers.iter().cloned()))
            .filter(dnc_number::Column::RemovedAt.is_null())
            .all(&self.0.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let entry = InternalDncEntry { added_at: row.created_at, added_by: row.added_by, reason: row.reason };
                (row.phone_number, entry)
            })
            .collect())
    }

    /// Adds numbers to the internal DNC list; a number already there keeps its first entry, and
    /// a removed one is listed again from `now`. Returns how many were added.
    pub async fn add_dnc(
        &self,
        tenant: &TenantId,
        numbers: &[String],
        reason: Option<&str>,
        added_by: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<u64> {
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let added = add_dnc_in(&txn, tenant, numbers, reason, added_by, now).await?;
        txn.commit().await?;
        Ok(added)
    }

    /// Takes numbers off the internal DNC list from `now`, keeping the entries on record with
    /// who removed them; returns how many were listed.
    pub async fn remove_dnc(
        &self,
        tenant: &TenantId,
        numbers: &[String],
        removed_by: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<u64> {
        let result = dnc_number::Entity::update_many()
            .col_expr(dnc_number::Column::RemovedAt, Expr::value(now))
            .col_expr(dnc_number::Column::RemovedBy, Expr::value(removed_by))
            .filter(dnc_number::Column::TenantId.eq(tenant.as_str()))
            .filter(dnc_number::Column::PhoneNumber.is_in(numbers.iter().cloned()))
            .filter(dnc_number::Column::RemovedAt.is_null())
            .exec(&self.0.writer)
            .await?;
        Ok(result.rows_affected)
    }

    pub async fn internal_dnc_count(&self, tenant: &TenantId) -> DomainResult<u64> {
        use sea_orm::PaginatorTrait;
        Ok(dnc_number::Entity::find()
            .filter(dnc_number::Column::TenantId.eq(tenant.as_str()))
            .count(&self.0.db)
            .await?)
    }

    /// Consent records of the given numbers, oldest first.
    pub async fn consents(
        &self,
        tenant: &TenantId,
        numbers: &[String],
    ) -> DomainResult<HashMap<String, Vec<ConsentRecord>>> {
        let rows = consent::Entity::find()
            .filter(consent::Column::TenantId.eq(tenant.as_str()))
            .filter(consent::Column::PhoneNumber.is_in(numbers.iter().cloned()))
            .order_by_asc(consent::Column::CapturedAt)
            .all(&self.0.db)
            .await?;
        let mut by_number: HashMap<String, Vec<ConsentRecord>> = HashMap::new();
        for row in rows {
            let record = record_of(&row)?;
            by_number.entry(row.phone_number).or_default().push(record);
        }
        Ok(by_number)
    }

    pub async fn record_consent(
        &self,
        tenant: &TenantId,
        consent: NewConsent,
        recorded_by: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<consent::Model> {
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let row = consent::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            phone_number: Set(consent.phone_number),
            kind: Set(consent.kind.as_str().to_owned()),
            source: Set(consent.source),
            captured_at: Set(consent.captured_at),
            expires_at: Set(consent.expires_at),
            revoked_at: Set(None),
            revoked_via: Set(None),
            recorded_by: Set(recorded_by.to_owned()),
            ebr_basis: Set(consent.ebr_basis.map(|b| b.as_str().to_owned())),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Revokes every unrevoked consent of a number at `now`. A revocation with no consent on
    /// record is still recorded (as a revoked PRIOR_EXPRESS record), so that it blocks calls
    /// from this moment. Returns how many records it revoked or wrote.
    pub async fn revoke_consent(
        &self,
        tenant: &TenantId,
        number: &str,
        via: Option<&str>,
        recorded_by: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<u64> {
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let revoked = consent::Entity::update_many()
            .col_expr(consent::Column::RevokedAt, Expr::value(now))
            .col_expr(consent::Column::RevokedVia, Expr::value(via.map(str::to_owned)))
            .filter(consent::Column::TenantId.eq(tenant.as_str()))
            .filter(consent::Column::PhoneNumber.eq(number))
            .filter(consent::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if revoked == 0 {
            consent::ActiveModel {
                tenant_id: Set(tenant.as_str().to_owned()),
                phone_number: Set(number.to_owned()),
                kind: Set(ConsentKind::PriorExpress.as_str().to_owned()),
                source: Set(Some("revocation with no consent on record".into())),
                captured_at: Set(now),
                expires_at: Set(None),
                revoked_at: Set(Some(now)),
                revoked_via: Set(via.map(str::to_owned)),
                recorded_by: Set(recorded_by.to_owned()),
                ebr_basis: Set(None),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok(Ord::max(revoked, 1))
    }

    /// Calls to the given numbers since `since`, marked when made by `campaign`.
    pub async fn attempts(
        &self,
        tenant: &TenantId,
        numbers: &[String],
        campaign: Option<i64>,
        since: DateTime<Utc>,
    ) -> DomainResult<HashMap<String, Vec<Attempt>>> {
        #[derive(FromQueryResult)]
        struct Dialed {
            to_number: String,
            campaign_id: i64,
            dialed_at: DateTime<Utc>,
        }
        let rows = call::Entity::find()
            .select_only()
            .columns([call::Column::ToNumber, call::Column::CampaignId, call::Column::DialedAt])
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::ToNumber.is_in(numbers.iter().cloned()))
            .filter(call::Column::DialedAt.gte(since))
            .into_model::<Dialed>()
            .all(&self.0.db)
            .await?;
        let mut by_number: HashMap<String, Vec<Attempt>> = HashMap::new();
        for row in rows {
            let attempt = Attempt { at: row.dialed_at, this_campaign: Some(row.campaign_id) == campaign };
            by_number.entry(row.to_number).or_default().push(attempt);
        }
        Ok(by_number)
    }

    /// Where the contacts with the given numbers live (the newest contact of each number).
    pub async fn places(&self, tenant: &TenantId, numbers: &[String]) -> DomainResult<HashMap<String, StoredPlace>> {
        let rows = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::PhoneNumber.is_in(numbers.iter().cloned()))
            .order_by_asc(contact::Column::Id)
            .all(&self.0.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let place = StoredPlace { time_zone: row.timezone, state: row.state, zip: row.zip };
                (row.phone_number, place)
            })
            .collect())
    }

    /// A campaign's abandoned calls and live answers over the 30 days before `at` (the rules'
    /// definition: abandoned over answered by a live person).
    pub async fn abandonment_30d(
        &self,
        tenant: &TenantId,
        campaign: i64,
        at: DateTime<Utc>,
    ) -> DomainResult<(u64, u64)> {
        #[derive(FromQueryResult)]
        struct Figures {
            abandoned: Option<i64>,
            live: Option<i64>,
        }
        let abandoned = call::Column::Outcome.eq("ABANDONED");
        let live = call::Column::AnsweredAt
            .is_not_null()
            .and(call::Column::AmdResult.is_null().or(call::Column::AmdResult.ne("machine")));
        let figures = call::Entity::find()
            .select_only()
            .column_as(Expr::expr(Func::sum(Expr::case(abandoned, 1).finally(0))), "abandoned")
            .column_as(Expr::expr(Func::sum(Expr::case(live, 1).finally(0))), "live")
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::CampaignId.eq(campaign))
            .filter(call::Column::DialedAt.gte(at - TimeDelta::days(30)))
            .filter(call::Column::DialedAt.lte(at))
            .into_model::<Figures>()
            .one(&self.0.db)
            .await?;
        let figures = figures.unwrap_or(Figures { abandoned: None, live: None });
        Ok((figures.abandoned.unwrap_or(0) as u64, figures.live.unwrap_or(0) as u64))
    }

    /// Cached Number Lookup answers of the given numbers (shared by every tenant).
    pub async fn lookups(&self, numbers: &[String]) -> DomainResult<HashMap<String, LookupResult>> {
        let rows = number_lookup::Entity::find()
            .filter(number_lookup::Column::PhoneNumber.is_in(numbers.iter().cloned()))
            .all(&self.0.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let line_type = LineType::parse(&row.line_type).unwrap_or(LineType::Unknown);
                (row.phone_number, LookupResult { line_type, looked_up_at: row.looked_up_at })
            })
            .collect())
    }

    /// Keeps a Number Lookup answer (replacing an older one).
    pub async fn save_lookup(
        &self,
        number: &str,
        line_type: LineType,
        carrier: Option<String>,
        at: DateTime<Utc>,
    ) -> DomainResult<()> {
        let row = number_lookup::ActiveModel {
            phone_number: Set(number.to_owned()),
            line_type: Set(line_type.as_str().to_owned()),
            carrier: Set(carrier),
            looked_up_at: Set(at),
        };
        let on_conflict = OnConflict::column(number_lookup::Column::PhoneNumber)
            .update_columns([
                number_lookup::Column::LineType,
                number_lookup::Column::Carrier,
                number_lookup::Column::LookedUpAt,
            ])
            .to_owned();
        number_lookup::Entity::insert(row).on_conflict(on_conflict).exec_without_returning(&self.0.writer).await?;
        Ok(())
    }

    /// Appends verdicts to the audit, in batches.
    pub async fn audit(
        &self,
        tenant: &TenantId,
        verdicts: &[Verdict],
        purpose: Purpose,
        campaign: Option<i64>,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        if verdicts.is_empty() {
            return Ok(());
        }
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let rows: Vec<AuditRow> = verdicts.iter().map(|verdict| AuditRow { verdict, campaign, call: None }).collect();
        insert_audit(&txn, tenant, &rows, purpose, at, now).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Adds numbers to the internal DNC list inside the caller's transaction (see
/// [`ComplianceRecords::add_dnc`]).
pub(super) async fn add_dnc_in(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    numbers: &[String],
    reason: Option<&str>,
    added_by: &str,
    now: DateTime<Utc>,
) -> DomainResult<u64> {
    let mut added = dnc_number::Entity::update_many()
        .col_expr(dnc_number::Column::RemovedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(dnc_number::Column::RemovedBy, Expr::value(Option::<String>::None))
        .col_expr(dnc_number::Column::CreatedAt, Expr::value(now))
        .col_expr(dnc_number::Column::AddedBy, Expr::value(added_by))
        .col_expr(dnc_number::Column::Reason, Expr::value(reason.map(str::to_owned)))
        .filter(dnc_number::Column::TenantId.eq(tenant.as_str()))
        .filter(dnc_number::Column::PhoneNumber.is_in(numbers.iter().cloned()))
        .filter(dnc_number::Column::RemovedAt.is_not_null())
        .exec(db)
        .await?
        .rows_affected;
    for chunk in numbers.chunks(BATCH) {
        let rows = chunk.iter().map(|number| dnc_number::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            phone_number: Set(number.clone()),
            reason: Set(reason.map(str::to_owned)),
            added_by: Set(added_by.to_owned()),
            created_at: Set(now),
            removed_at: Set(None),
            removed_by: Set(None),
            ..Default::default()
        });
        let on_conflict = OnConflict::columns([dnc_number::Column::TenantId, dnc_number::Column::PhoneNumber])
            .do_nothing()
            .to_owned();
        added += dnc_number::Entity::insert_many(rows).on_conflict(on_conflict).exec_without_returning(db).await?;
    }
    Ok(added)
}

/// Appends verdicts to the audit inside the caller's transaction (the dial path writes the
/// call and its verdict together).
#[allow(clippy::too_many_arguments)]
/// One audit record to write: a verdict, and the campaign and call it was given for.
pub(super) struct AuditRow<'a> {
    pub verdict: &'a Verdict,
    pub campaign: Option<i64>,
    pub call: Option<i64>,
}

pub(super) async fn insert_audit(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    rows: &[AuditRow<'_>],
    purpose: Purpose,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    for chunk in rows.chunks(BATCH) {
        let rows = chunk.iter().map(|&AuditRow { verdict, campaign, call }| compliance_decision::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            phone_number: Set(verdict.phone_number.clone()),
            campaign_id: Set(campaign),
            call_id: Set(call),
            purpose: Set(purpose.as_str().to_owned()),
            safe_to_call: Set(verdict.safe_to_call),
            reasons: Set(json!(
                verdict
                    .reasons
                    .iter()
                    .map(|r| json!({"code": r.code.as_str(), "message": r.message}))
                    .collect::<Vec<_>>()
            )),
            timezones: Set(json!(verdict.timezones.iter().map(|tz| tz.name()).collect::<Vec<_>>())),
            line_type: Set(verdict.line_type.map(|l| l.as_str().to_owned())),
            next_safe_call_time: Set(verdict.next_safe_call_time),
            rules_version: Set(format!(
                "rules-{} places-{} national-dnc-{}",
                verdict.versions.rules,
                verdict.versions.places,
                verdict.versions.national_dnc.map_or("none".into(), |d| d.to_string())
            )),
            evaluated_for: Set(at),
            decided_at: Set(now),
            ..Default::default()
        });
        compliance_decision::Entity::insert_many(rows).exec_without_returning(db).await?;
    }
    Ok(())
}

pub fn record_of(row: &consent::Model) -> DomainResult<ConsentRecord> {
    let corrupt = || DomainError::from(anyhow::anyhow!("consent {} has a bad kind", row.id));
    Ok(ConsentRecord {
        kind: ConsentKind::parse(&row.kind).ok_or_else(corrupt)?,
        captured_at: row.captured_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        ebr_basis: row.ebr_basis.as_deref().and_then(EbrBasis::parse),
    })
}
