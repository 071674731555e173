//! The compliance gate as a service: the pure verdict core ([`crate::compliance`]) fed with the
//! tenant's facts from the database (internal DNC, consent, past calls, contact addresses,
//! settings, a campaign's window, attempts and 30-day abandonment) and with the shared DNC
//! registry, and every verdict appended to the audit before it is returned.
//!
//! The registry is read from the snapshot that `outdial import-dnc` writes beside the database;
//! a running server picks up a new snapshot within a minute ([`Gate::reload_if_changed`]).
//! A check without a campaign is judged as predictive dialing: the strictest reading.
//!
//! Line types come from Telnyx Number Lookup when a key is configured, cached for 30 days and
//! asked only for a dial or a single `complianceCheck` (never for a whole list: each lookup is
//! billed); otherwise from the local wireless blocks and ported-numbers files. A number of
//! unknown line type counts as wireless for automated dialing.

use anyhow::Context;
use chrono::{DateTime, TimeDelta, Utc, Weekday};
use entity::campaign;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::campaign::DialerMode;
use crate::compliance::dnc::DncRegistry;
use crate::compliance::line_type::{LookupResult, WirelessLineError, WirelessList};
use crate::compliance::number::{self, NumberPolicy};
use crate::compliance::verdict::{
    AbandonmentFigures, CampaignSettings, ContactFacts, GateData, StaleRegistryPolicy, TenantSettings, Verdict,
    evaluate,
};
use crate::compliance::windows::{CallingWindow, LocalHours};
use crate::compliance::{ComplianceRules, area_codes::ContactPlace};
use crate::config::Config;
use crate::error::DomainResult;
use crate::number_lookup::{Found, LookupError, NumberLookup};
use crate::store::compliance::Purpose;
use crate::store::{Store, TenantId};

/// How long a Number Lookup answer is trusted (the verdict core's default too).
const LOOKUP_TTL: TimeDelta = TimeDelta::days(30);

/// How far back past calls count: the longest rolling cap is 24 hours; two days leave margin.
const ATTEMPTS_LOOKBACK: TimeDelta = TimeDelta::days(2);

/// The settings one request's verdicts share (see [`Gate::judgement`]).
pub struct Judgement {
    tenant: TenantId,
    at: DateTime<Utc>,
    campaign: Option<i64>,
    tenant_settings: TenantSettings,
    campaign_settings: CampaignSettings,
    /// Past calls from here on count (frequency caps, the campaign's attempts).
    attempts_since: DateTime<Utc>,
}

impl Judgement {
    /// Judges the campaign's calls as placed in `mode`. The dialer paces a predictive campaign
    /// progressively (one call per idle agent) while its 30-day abandonment is at its cap, and
    /// those calls are not stopped by the cap: stopping would freeze the rate above the target,
    /// while calls that wait for an agent bring it down.
    pub fn placed_as(mut self, mode: DialerMode) -> Self {
        self.campaign_settings.mode = mode;
        self
    }
}

/// Lookups in flight at once for one check.
const LOOKUPS_AT_ONCE: usize = 8;

pub struct Gate {
    store: Store,
    rules: &'static ComplianceRules,
    registry: RwLock<Arc<DncRegistry>>,
    wireless: WirelessList,
    lookup: Option<NumberLookup>,
    snapshot: PathBuf,
    loaded: Mutex<Option<SystemTime>>,
}

impl Gate {
    /// Opens the gate with the configured DNC snapshot when there is one (an empty registry
    /// otherwise: every number's area code then counts as never downloaded), the wireless
    /// files, and Number Lookup when a Telnyx key is set.
    pub fn open(store: Store, config: &Config) -> anyhow::Result<Gate> {
        let mut wireless = WirelessList::default();
        let read = |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("{}", path.display()));
        if let Some(path) = &config.wireless_blocks {
            report_bad_lines(path, wireless.add_blocks(&read(path)?));
        }
        if let Some(path) = &config.ported_numbers {
            report_bad_lines(path, wireless.add_ported(&read(path)?));
        }
        let lookup =
            config.telnyx_api_key.as_ref().map(|key| NumberLookup::new(&config.telnyx_api_url, key)).transpose()?;
        let gate = Gate {
            store,
            rules: ComplianceRules::embedded(),
            registry: RwLock::new(Arc::new(DncRegistry::new())),
            wireless,
            lookup,
            snapshot: config.dnc_snapshot_path(),
            loaded: Mutex::new(None),
        };
        gate.reload_if_changed()?;
        Ok(gate)
    }

    /// Reads the snapshot again when its file changed since the last read.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let Ok(modified) = std::fs::metadata(&self.snapshot).and_then(|m| m.modified()) else {
            return Ok(false);
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == Some(modified) {
            return Ok(false);
        }
        let registry = DncRegistry::read_snapshot(&self.snapshot)?;
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(registry);
        *loaded = Some(modified);
        tracing::info!(path = %self.snapshot.display(), "DNC registry loaded");
        Ok(true)
    }

    pub fn registry(&self) -> Arc<DncRegistry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// What every verdict of one request shares: the tenant's and the campaign's settings at
    /// `at` (read once, however many batches of numbers follow).
    pub async fn judgement(
        &self,
        tenant: &TenantId,
        at: DateTime<Utc>,
        campaign: Option<&campaign::Model>,
    ) -> DomainResult<Judgement> {
        Ok(Judgement {
            tenant: tenant.clone(),
            at,
            campaign: campaign.map(|c| c.id),
            tenant_settings: tenant_settings(&self.store.tenant_settings(tenant).await?),
            campaign_settings: match campaign {
                Some(row) => self.campaign_settings(tenant, row, at).await?,
                None => CampaignSettings::new(DialerMode::Predictive),
            },
            attempts_since: campaign.map_or(at - ATTEMPTS_LOOKBACK, |c| c.created_at.min(at - ATTEMPTS_LOOKBACK)),
        })
    }

    /// Verdicts for numbers as given (parsed or not) at `at`, for a campaign or for predictive
    /// dialing in general; each is appended to the audit.
    pub async fn check(
        &self,
        tenant: &TenantId,
        inputs: &[String],
        at: DateTime<Utc>,
        campaign: Option<&campaign::Model>,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<Verdict>> {
        let judgement = self.judgement(tenant, at, campaign).await?;
        self.check_with(&judgement, inputs, purpose, now).await
    }

    /// Verdicts for one batch of numbers under a [`Judgement`]; each is appended to the audit
    /// (for [`Purpose::Dial`], the safe ones by the caller, with the call they allow).
    pub async fn check_with(
        &self,
        judgement: &Judgement,
        inputs: &[String],
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<Verdict>> {
        let Judgement { tenant, at, campaign, .. } = judgement;
        let e164s: Vec<Option<String>> =
            inputs.iter().map(|input| number::parse(input).ok().map(|n| n.e164())).collect();
        let numbers: Vec<String> = e164s.iter().flatten().cloned().collect();
        let records = self.store.compliance();
        let internal = records.internal_dnc(tenant, &numbers).await?;
        let consents = records.consents(tenant, &numbers).await?;
        let attempts = records.attempts(tenant, &numbers, *campaign, judgement.attempts_since).await?;
        let places = records.places(tenant, &numbers).await?;
        let mut lookups = records.lookups(&numbers).await?;
        if purpose != Purpose::Check || inputs.len() == 1 {
            self.look_up_missing(&numbers, &mut lookups, now).await?;
        }

        let registry = self.registry();
        let data = GateData { registry: &registry, wireless: &self.wireless, emergencies: &[] };
        let verdicts: Vec<Verdict> = inputs
            .iter()
            .zip(&e164s)
            .map(|(input, e164)| {
                let e164 = e164.as_deref().unwrap_or_default();
                let place = places.get(e164);
                let facts = ContactFacts {
                    place: ContactPlace {
                        time_zone: place.and_then(|p| p.time_zone.as_deref()).and_then(|tz| tz.parse().ok()),
                        state: place.and_then(|p| p.state.as_deref()),
                        zip: place.and_then(|p| p.zip.as_deref()),
                    },
                    lookup: lookups.get(e164).copied(),
                    consent: consents.get(e164).map_or(&[], Vec::as_slice),
                    attempts: attempts.get(e164).map_or(&[], Vec::as_slice),
                    internal_dnc: internal.get(e164),
                };
                let (tenant_settings, campaign_settings) = (&judgement.tenant_settings, &judgement.campaign_settings);
                evaluate(self.rules, &data, tenant_settings, campaign_settings, input, &facts, *at)
            })
            .collect();
        if purpose == Purpose::Dial {
            // A dial's safe verdict is audited with its call, in the transaction that writes the
            // call row (`store::calls::create_dialed`); only refusals are written here.
            let refused: Vec<Verdict> = verdicts.iter().filter(|v| !v.safe_to_call).cloned().collect();
            records.audit(tenant, &refused, purpose, *campaign, *at, now).await?;
        } else {
            records.audit(tenant, &verdicts, purpose, *campaign, *at, now).await?;
        }
        Ok(verdicts)
    }

    /// Asks Number Lookup for the numbers with no answer younger than [`LOOKUP_TTL`] and keeps
    /// the answers. A failed lookup leaves the line type unknown (treated as wireless).
    async fn look_up_missing(
        &self,
        numbers: &[String],
        lookups: &mut HashMap<String, LookupResult>,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let Some(client) = &self.lookup else { return Ok(()) };
        let missing: Vec<String> = numbers
            .iter()
            .filter(|n| lookups.get(*n).is_none_or(|l| l.looked_up_at > now || now - l.looked_up_at >= LOOKUP_TTL))
            .cloned()
            .collect();
        let answers: Vec<(String, Result<Found, LookupError>)> = futures_util::stream::iter(missing)
            .map(|number| {
                let client = client.clone();
                async move {
                    let answer = client.line_type(&number).await;
                    (number, answer)
                }
            })
            .buffer_unordered(LOOKUPS_AT_ONCE)
            .collect()
            .await;
        for (number, answer) in answers {
            match answer {
                Ok(found) => {
                    self.store.compliance().save_lookup(&number, found.line_type, found.carrier, now).await?;
                    lookups.insert(number, LookupResult { line_type: found.line_type, looked_up_at: now });
                }
                Err(error) => tracing::warn!(%error, "line type unknown: counted as wireless"),
            }
        }
        Ok(())
    }

    async fn campaign_settings(
        &self,
        tenant: &TenantId,
        row: &campaign::Model,
        at: DateTime<Utc>,
    ) -> DomainResult<CampaignSettings> {
        let settings = crate::store::campaigns::settings_of(row)?;
        let (abandoned, live_answered) = self.store.compliance().abandonment_30d(tenant, row.id, at).await?;
        let window = match (settings.window_start, settings.window_end) {
            (Some(start), Some(end)) => LocalHours::new(start, Some(end)).map(|hours| {
                let every_day = CallingWindow::every_day(hours);
                if settings.window_days.is_empty() {
                    return every_day;
                }
                ALL_DAYS
                    .into_iter()
                    .filter(|day| !settings.window_days.contains(day))
                    .fold(every_day, |window, day| window.with_day(day, None))
            }),
            _ => None,
        };
        Ok(CampaignSettings {
            mode: settings.dialer_mode,
            calling_window: window,
            max_attempts: u32::try_from(settings.max_attempts).ok(),
            abandonment: Some(AbandonmentFigures { abandoned, live_answered, target: settings.abandon_rate_target }),
        })
    }
}

fn report_bad_lines(path: &std::path::Path, errors: Vec<WirelessLineError>) {
    if let Some(first) = errors.first() {
        tracing::warn!(path = %path.display(), count = errors.len(), first = ?first, "unreadable lines skipped");
    }
}

const ALL_DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

/// Keys of the tenant's `settings` JSON that the gate reads.
pub const STALE_REGISTRY: &str = "staleRegistry";
pub const ALLOW_TOLL_FREE: &str = "allowTollFree";
pub const ALLOW_CANADA: &str = "allowCanada";
pub const ALLOW_CARIBBEAN: &str = "allowCaribbean";
pub const CALLING_WINDOW: &str = "callingWindow";
const WARN: &str = "WARN";

/// A tenant's compliance settings from its `settings` JSON: `staleRegistry` (`BLOCK`, the
/// default, or `WARN`), `allowTollFree`, `allowCanada`, `allowCaribbean` and `callingWindow`
/// (`"HH:MM-HH:MM"`, local to the called party). Unknown keys are ignored.
pub fn tenant_settings(json: &serde_json::Value) -> TenantSettings {
    let flag = |key: &str| json.get(key).and_then(serde_json::Value::as_bool).unwrap_or(false);
    TenantSettings {
        numbers: NumberPolicy {
            allow_toll_free: flag(ALLOW_TOLL_FREE),
            allow_canada: flag(ALLOW_CANADA),
            allow_caribbean: flag(ALLOW_CARIBBEAN),
        },
        stale_registry: match json.get(STALE_REGISTRY).and_then(serde_json::Value::as_str) {
            Some(WARN) => StaleRegistryPolicy::Warn,
            _ => StaleRegistryPolicy::Block,
        },
        calling_window: json
            .get(CALLING_WINDOW)
            .and_then(serde_json::Value::as_str)
            .and_then(LocalHours::parse)
            .map(CallingWindow::every_day),
        ..TenantSettings::default()
    }
}
