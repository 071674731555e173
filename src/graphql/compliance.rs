//! The compliance gate in GraphQL: `complianceCheck` and `validateContacts` (every verdict is
//! audited), the internal DNC list, the consent ledger, and the DNC registry's status.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use entity::{campaign, consent};
use serde_json::json;
use std::collections::BTreeMap;

use super::ApiState;
use super::connection::row_id;
use crate::auth::{Access, Caller, caller};
use crate::clock::{local_day_start, next_local_day_start};
use crate::compliance::consent::{ConsentKind, EbrBasis};
use crate::compliance::line_type::LineType;
use crate::compliance::number;
use crate::compliance::verdict::{ReasonCode, StaleRegistryPolicy, Verdict};
use crate::compliance::windows::LocalHours;
use crate::error::{DomainError, DomainResult};
use crate::gate;
use crate::store::PageRequest;
use crate::store::compliance::{NewConsent, Purpose};

/// Most numbers one request may name.
const MAX_NUMBERS: usize = 10_000;
/// Contacts of a list judged per batch by `validateContacts`.
const LIST_BATCH: u64 = 1_000;
/// The National DNC copy may be this old (47 CFR 64.1200(c)(2)(i)(D)).
const MAX_REGISTRY_AGE_DAYS: i64 = 31;

#[derive(SimpleObject)]
pub struct VerdictReason {
    code: ReasonCode,
    message: String,
}

/// The versions of the data a verdict used.
#[derive(SimpleObject)]
pub struct DataVersions {
    /// Newest row of the state rules and holiday calendars.
    rules: NaiveDate,
    /// Newest row of the area-code, jurisdiction and ZIP tables.
    places: NaiveDate,
    /// Download date of the National DNC copy of the number's area code.
    national_dnc: Option<NaiveDate>,
}

/// Whether a number may be called at an instant, with every failing rule.
#[derive(SimpleObject)]
pub struct ComplianceVerdict {
    /// E.164 when the number parsed, else the input as given.
    phone_number: String,
    safe_to_call: bool,
    /// Every failing rule, not only the first.
    reasons: Vec<VerdictReason>,
    /// Candidate IANA zones of the called party.
    timezones: Vec<String>,
    line_type: Option<LineType>,
    /// The instant itself when safe; null when no passing of time makes the number callable.
    next_safe_call_time: Option<DateTime<Utc>>,
    /// Notes that do not block (e.g. a stale registry under the WARN policy).
    warnings: Vec<String>,
    /// Jurisdictions whose rules applied (`US-FL`, ...).
    jurisdictions: Vec<String>,
    versions: DataVersions,
}

impl From<Verdict> for ComplianceVerdict {
    fn from(v: Verdict) -> Self {
        ComplianceVerdict {
            phone_number: v.phone_number,
            safe_to_call: v.safe_to_call,
            reasons: v.reasons.into_iter().map(|r| VerdictReason { code: r.code, message: r.message }).collect(),
            timezones: v.timezones.iter().map(|tz| tz.name().to_owned()).collect(),
            line_type: v.line_type,
            next_safe_call_time: v.next_safe_call_time,
            warnings: v.warnings,
            jurisdictions: v.jurisdictions,
            versions: DataVersions {
                rules: v.versions.rules,
                places: v.versions.places,
                national_dnc: v.versions.national_dnc,
            },
        }
    }
}

#[derive(SimpleObject)]
pub struct ReasonCount {
    code: ReasonCode,
    count: i32,
}

/// Verdicts for many numbers: a summary over all of them and the first verdicts in order.
#[derive(SimpleObject, Default)]
pub struct ValidationReport {
    total: i32,
    /// Safe at the instant asked about.
    callable_now: i32,
    /// Not safe now, safe later on the call centre's same local day.
    callable_later_today: i32,
    /// Not callable whatever the hour (DNC, not dialable, no consent...).
    never_callable: i32,
    /// Numbers failing each rule (a number may fail several).
    by_reason: Vec<ReasonCount>,
    /// The first `first` verdicts, in input or list order.
    verdicts: Vec<ComplianceVerdict>,
}

/// Accumulates a report batch by batch.
struct Tally {
    report: ValidationReport,
    by_reason: BTreeMap<ReasonCode, i32>,
    keep: usize,
    day_ends: DateTime<Utc>,
}

impl Tally {
    fn add(&mut self, verdicts: Vec<Verdict>) {
        for verdict in verdicts {
            self.report.total += 1;
            match (verdict.safe_to_call, verdict.next_safe_call_time) {
                (true, _) => self.report.callable_now += 1,
                (false, Some(next)) if next < self.day_ends => self.report.callable_later_today += 1,
                (false, Some(_)) => {}
                (false, None) => self.report.never_callable += 1,
            }
            for code in verdict.codes() {
                *self.by_reason.entry(code).or_default() += 1;
            }
            if self.report.verdicts.len() < self.keep {
                self.report.verdicts.push(verdict.into());
            }
        }
    }

    fn finish(mut self) -> ValidationReport {
        self.report.by_reason = self.by_reason.into_iter().map(|(code, count)| ReasonCount { code, count }).collect();
        self.report
    }
}

/// The numbers of a request, each parsed; the first bad one refuses the whole request.
fn parse_numbers(field: &'static str, numbers: &[String]) -> DomainResult<Vec<String>> {
    if numbers.is_empty() || numbers.len() > MAX_NUMBERS {
        return Err(DomainError::bad_input(field, format!("give 1 to {MAX_NUMBERS} phone numbers")));
    }
    numbers
        .iter()
        .enumerate()
        .map(|(i, given)| {
            number::parse(given)
                .map(|n| n.e164())
                .map_err(|e| DomainError::bad_input(field, format!("{field}[{i}] {given:?}: {e}")))
        })
        .collect()
}

async fn campaign_of(api: &ApiState, caller: &Caller, id: Option<&ID>) -> DomainResult<Option<campaign::Model>> {
    match id {
        Some(id) => Ok(Some(api.store.campaigns().get(&caller.tenant, row_id(id, "campaign")?).await?)),
        None => Ok(None),
    }
}

#[derive(SimpleObject)]
pub struct DncListStatus {
    /// `NATIONAL_DNC`, `STATE_DNC` or another imported list.
    name: String,
    numbers: u64,
    area_codes: i32,
    oldest_download: Option<NaiveDate>,
    /// The oldest area code's copy is older than 31 days.
    stale: bool,
}

#[derive(SimpleObject)]
pub struct DncStatus {
    lists: Vec<DncListStatus>,
    /// Numbers on this tenant's internal list.
    internal_numbers: u64,
    max_age_days: i32,
}

#[derive(SimpleObject)]
pub struct Consent {
    id: ID,
    phone_number: String,
    kind: ConsentKind,
    source: Option<String>,
    captured_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    revoked_via: Option<String>,
    /// What an established business relationship rests on.
    ebr_basis: Option<EbrBasis>,
    recorded_by: String,
}

impl TryFrom<consent::Model> for Consent {
    type Error = DomainError;

    fn try_from(row: consent::Model) -> DomainResult<Self> {
        let record = crate::store::compliance::record_of(&row)?;
        Ok(Consent {
            id: ID::from(row.id),
            phone_number: row.phone_number,
            kind: record.kind,
            source: row.source,
            captured_at: row.captured_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            revoked_via: row.revoked_via,
            ebr_basis: record.ebr_basis,
            recorded_by: row.recorded_by,
        })
    }
}

#[derive(InputObject)]
pub struct ConsentInput {
    phone_number: String,
    kind: ConsentKind,
    /// Where it was captured (web form URL, recording id, ...).
    source: Option<String>,
    /// Default: now. Never in the future.
    captured_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// For ESTABLISHED_BUSINESS: a purchase (18 months) or an inquiry (3 months; the default).
    ebr_basis: Option<EbrBasis>,
}

/// A tenant's compliance settings.
#[derive(SimpleObject)]
pub struct ComplianceSettings {
    /// What a National DNC copy older than 31 days does: BLOCK (the default) or WARN.
    stale_registry: StaleRegistryPolicy,
    allow_toll_free: bool,
    /// Canadian numbers (outdial holds no Canadian DNCL: off by default).
    allow_canada: bool,
    /// Caribbean NANP countries (international calls: off by default).
    allow_caribbean: bool,
    /// The tenant's own calling window, local to the called party (`HH:MM`), inside the rules'.
    calling_window_start: Option<String>,
    calling_window_end: Option<String>,
}

impl From<&serde_json::Value> for ComplianceSettings {
    fn from(json: &serde_json::Value) -> Self {
        let settings = gate::tenant_settings(json);
        let window = json.get(gate::CALLING_WINDOW).and_then(|w| w.as_str()).and_then(|w| w.split_once('-'));
        ComplianceSettings {
            stale_registry: settings.stale_registry,
            allow_toll_free: settings.numbers.allow_toll_free,
            allow_canada: settings.numbers.allow_canada,
            allow_caribbean: settings.numbers.allow_caribbean,
            calling_window_start: window.map(|(start, _)| start.to_owned()),
            calling_window_end: window.map(|(_, end)| end.to_owned()),
        }
    }
}

/// Changes to the compliance settings; omitted fields stay as they are.
#[derive(InputObject)]
pub struct ComplianceSettingsInput {
    stale_registry: Option<StaleRegistryPolicy>,
    allow_toll_free: Option<bool>,
    allow_canada: Option<bool>,
    allow_caribbean: Option<bool>,
    /// `HH:MM`; give both ends, or both null to drop the tenant's window.
    calling_window_start: MaybeUndefined<String>,
    calling_window_end: MaybeUndefined<String>,
}

impl ComplianceSettingsInput {
    fn into_changes(self) -> DomainResult<serde_json::Map<String, serde_json::Value>> {
        let mut changes = serde_json::Map::new();
        if let Some(policy) = self.stale_registry {
            let name = if policy == StaleRegistryPolicy::Warn { "WARN" } else { "BLOCK" };
            changes.insert(gate::STALE_REGISTRY.into(), json!(name));
        }
        for (key, value) in [
            (gate::ALLOW_TOLL_FREE, self.allow_toll_free),
            (gate::ALLOW_CANADA, self.allow_canada),
            (gate::ALLOW_CARIBBEAN, self.allow_caribbean),
        ] {
            if let Some(value) = value {
                changes.insert(key.into(), json!(value));
            }
        }
        match (self.calling_window_start, self.calling_window_end) {
            (MaybeUndefined::Undefined, MaybeUndefined::Undefined) => {}
            (MaybeUndefined::Null, MaybeUndefined::Null) => {
                changes.insert(gate::CALLING_WINDOW.into(), serde_json::Value::Null);
            }
            (MaybeUndefined::Value(start), MaybeUndefined::Value(end)) => {
                let window = format!("{}-{}", start.trim(), end.trim());
                if LocalHours::parse(&window).is_none() || start.trim() >= end.trim() {
                    return Err(DomainError::bad_input(
                        "callingWindowStart",
                        "the calling window is HH:MM to a later HH:MM",
                    ));
                }
                changes.insert(gate::CALLING_WINDOW.into(), json!(window));
            }
            _ => {
                return Err(DomainError::bad_input(
                    "callingWindowStart",
                    "give callingWindowStart and callingWindowEnd together",
                ));
            }
        }
        Ok(changes)
    }
}

#[derive(Default)]
pub struct ComplianceQuery;

#[Object]
impl ComplianceQuery {
    /// Whether `phoneNumber` may be called at `at` (default now) for a campaign (default:
    /// predictive dialing in general, the strictest reading). The verdict is audited.
    #[graphql(guard = "Access::Staff")]
    async fn compliance_check(
        &self,
        ctx: &Context<'_>,
        phone_number: String,
        at: Option<DateTime<Utc>>,
        campaign_id: Option<ID>,
    ) -> DomainResult<ComplianceVerdict> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let campaign = campaign_of(api, caller, campaign_id.as_ref()).await?;
        let now = api.clock.now();
        let verdicts = api
            .gate
            .check(&caller.tenant, &[phone_number], at.unwrap_or(now), campaign.as_ref(), Purpose::Check, now)
            .await?;
        verdicts.into_iter().next().map(ComplianceVerdict::from).ok_or_else(|| anyhow::anyhow!("no verdict").into())
    }

    /// The tenant's compliance settings.
    #[graphql(guard = "Access::Staff")]
    async fn compliance_settings(&self, ctx: &Context<'_>) -> DomainResult<ComplianceSettings> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        Ok(ComplianceSettings::from(&api.store.tenant_settings(&caller.tenant).await?))
    }

    /// The DNC lists held (the National registry and imported state lists), how fresh they are,
    /// and the size of the tenant's internal list.
    #[graphql(guard = "Access::Staff")]
    async fn dnc_status(&self, ctx: &Context<'_>) -> DomainResult<DncStatus> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let today = api.clock.now().date_naive();
        let lists = api
            .gate
            .registry()
            .status()
            .into_iter()
            .map(|list| DncListStatus {
                stale: list.oldest_download.is_none_or(|d| today - d > TimeDelta::days(MAX_REGISTRY_AGE_DAYS)),
                name: list.name,
                numbers: list.numbers,
                area_codes: i32::try_from(list.area_codes).unwrap_or(i32::MAX),
                oldest_download: list.oldest_download,
            })
            .collect();
        let internal_numbers = api.store.compliance().internal_dnc_count(&caller.tenant).await?;
        Ok(DncStatus { lists, internal_numbers, max_age_days: MAX_REGISTRY_AGE_DAYS as i32 })
    }
}

#[derive(Default)]
pub struct ComplianceMutation;

#[Object]
impl ComplianceMutation {
    /// Verdicts for numbers or for a whole contact list (one of the two), at `at` (default
    /// now) for a campaign: a summary over all, and the first `first` verdicts (default 100,
    /// at most 1000). Every verdict is audited.
    #[graphql(guard = "Access::Staff")]
    async fn validate_contacts(
        &self,
        ctx: &Context<'_>,
        phone_numbers: Option<Vec<String>>,
        list_id: Option<ID>,
        at: Option<DateTime<Utc>>,
        campaign_id: Option<ID>,
        #[graphql(default = 100)] first: i32,
    ) -> DomainResult<ValidationReport> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        if !(0..=1000).contains(&first) {
            return Err(DomainError::bad_input("first", "first must be 0 to 1000"));
        }
        let campaign = campaign_of(api, caller, campaign_id.as_ref()).await?;
        let now = api.clock.now();
        let at = at.unwrap_or(now);
        let zone = api.store.tenant_time_zone(&caller.tenant).await?;
        let mut tally = Tally {
            report: ValidationReport::default(),
            by_reason: BTreeMap::new(),
            keep: first as usize,
            day_ends: next_local_day_start(zone, local_day_start(zone, at)),
        };
        let judgement = api.gate.judgement(&caller.tenant, at, campaign.as_ref()).await?;
        let check = async |numbers: &[String]| api.gate.check_with(&judgement, numbers, Purpose::Check, now).await;
        match (phone_numbers, list_id) {
            (Some(numbers), None) => {
                if numbers.is_empty() || numbers.len() > MAX_NUMBERS {
                    return Err(DomainError::bad_input("phoneNumbers", format!("give 1 to {MAX_NUMBERS} numbers")));
                }
                tally.add(check(&numbers).await?);
            }
            (None, Some(list)) => {
                let list = api.store.contact_lists().get(&caller.tenant, row_id(&list, "contact list")?).await?;
                let mut after = None;
                loop {
                    let request = PageRequest { first: LIST_BATCH, after, with_total: false };
                    let page = api.store.contacts().list(&caller.tenant, list.id, None, request).await?;
                    let numbers: Vec<String> = page.items.iter().map(|c| c.phone_number.clone()).collect();
                    tally.add(check(&numbers).await?);
                    after = page.items.last().map(|c| c.id);
                    if !page.has_next {
                        break;
                    }
                }
            }
            _ => return Err(DomainError::bad_input("phoneNumbers", "give phoneNumbers or listId (one of the two)")),
        }
        Ok(tally.finish())
    }

    /// Adds numbers to the tenant's internal DNC list, honored from this moment. Returns how
    /// many were not on it yet. Any invalid number refuses the whole request.
    #[graphql(guard = "Access::Authenticated")]
    async fn add_dnc_numbers(
        &self,
        ctx: &Context<'_>,
        phone_numbers: Vec<String>,
        reason: Option<String>,
    ) -> DomainResult<u64> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let numbers = parse_numbers("phoneNumbers", &phone_numbers)?;
        let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
            return Err(DomainError::bad_input("reason", "reason has at most 500 characters"));
        }
        api.store.compliance().add_dnc(&caller.tenant, &numbers, reason.as_deref(), &caller.user, api.clock.now()).await
    }

    /// Takes numbers off the internal DNC list (admins only); the entries stay on record with who
    /// removed them. Returns how many were listed.
    #[graphql(guard = "Access::Admin")]
    async fn remove_dnc_numbers(&self, ctx: &Context<'_>, phone_numbers: Vec<String>) -> DomainResult<u64> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let numbers = parse_numbers("phoneNumbers", &phone_numbers)?;
        api.store.compliance().remove_dnc(&caller.tenant, &numbers, &caller.user, api.clock.now()).await
    }

    /// Changes the tenant's compliance settings (admins only).
    #[graphql(guard = "Access::Admin")]
    async fn update_compliance_settings(
        &self,
        ctx: &Context<'_>,
        input: ComplianceSettingsInput,
    ) -> DomainResult<ComplianceSettings> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let changes = input.into_changes()?;
        let settings = api.store.update_tenant_settings(&caller.tenant, changes, api.clock.now()).await?;
        Ok(ComplianceSettings::from(&settings))
    }

    /// Records a consent to be called.
    #[graphql(guard = "Access::Staff")]
    async fn record_consent(&self, ctx: &Context<'_>, input: ConsentInput) -> DomainResult<Consent> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let now = api.clock.now();
        let phone_number = parse_numbers("phoneNumber", std::slice::from_ref(&input.phone_number))?.remove(0);
        let captured_at = input.captured_at.unwrap_or(now);
        if captured_at > now + TimeDelta::minutes(5) {
            return Err(DomainError::bad_input("capturedAt", "capturedAt cannot be in the future"));
        }
        if input.expires_at.is_some_and(|end| end <= captured_at) {
            return Err(DomainError::bad_input("expiresAt", "expiresAt must be after capturedAt"));
        }
        if input.ebr_basis.is_some() && input.kind != ConsentKind::EstablishedBusiness {
            return Err(DomainError::bad_input("ebrBasis", "ebrBasis goes with ESTABLISHED_BUSINESS only"));
        }
        let consent = NewConsent {
            phone_number,
            kind: input.kind,
            source: input.source.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            captured_at,
            expires_at: input.expires_at,
            ebr_basis: input.ebr_basis,
        };
        api.store.compliance().record_consent(&caller.tenant, consent, &caller.user, now).await?.try_into()
    }

    /// Revokes every consent of a number from this moment (any role: agents hear revocations
    /// on calls). Returns how many records it revoked or wrote.
    #[graphql(guard = "Access::Authenticated")]
    async fn revoke_consent(&self, ctx: &Context<'_>, phone_number: String, via: Option<String>) -> DomainResult<u64> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let number = parse_numbers("phoneNumber", std::slice::from_ref(&phone_number))?.remove(0);
        let via = via.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        api.store
            .compliance()
            .revoke_consent(&caller.tenant, &number, via.as_deref(), &caller.user, api.clock.now())
            .await
    }
}
