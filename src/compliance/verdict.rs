//! The verdict: one pure function, [`evaluate`], that runs every rule for one number at one
//! instant and returns all failing reasons (not only the first), the candidate zones, the line
//! type, the next safe call time and the versions of the data it used.
//!
//! Everything is passed in: the instant, the rule tables, the DNC registry and wireless list,
//! the tenant's and campaign's settings, and the contact's facts (address, explicit zone, line
//! lookup, consent records, attempts, internal DNC entry). It reads no clock and does no I/O.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use super::ComplianceRules;
use super::area_codes::{ContactPlace, Location};
use super::consent::{ConsentRecord, ebr_in_force, has_written_consent, revocation_in_force};
use super::dnc::{DncRegistry, NATIONAL, RegistryAnswer};
use super::frequency::{campaign_exhausted, cap_lifts};
use super::line_type::{LineType, LookupResult, WirelessList, line_type};
use super::number::{NumberPolicy, ServiceClass, parse, service_class, unassignable};
use super::state_rules::{ConsentRule, FrequencyCap, StateRule};
use super::windows::{CallingWindow, EmergencyBan, LocalDayRules, SEARCH_DAYS};

pub use crate::campaign::DialerMode;

/// The reason codes fixed by API.md.
/// The GraphQL enum `ComplianceReasonCode`, names fixed by API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
#[graphql(name = "ComplianceReasonCode")]
pub enum ReasonCode {
    InvalidNumber,
    NotDialable,
    NationalDnc,
    StateDnc,
    InternalDnc,
    OutsideCallingHours,
    RestrictedDay,
    NoConsentWireless,
    ConsentRevoked,
    FrequencyCap,
    AbandonRateCap,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::InvalidNumber => "INVALID_NUMBER",
            ReasonCode::NotDialable => "NOT_DIALABLE",
            ReasonCode::NationalDnc => "NATIONAL_DNC",
            ReasonCode::StateDnc => "STATE_DNC",
            ReasonCode::InternalDnc => "INTERNAL_DNC",
            ReasonCode::OutsideCallingHours => "OUTSIDE_CALLING_HOURS",
            ReasonCode::RestrictedDay => "RESTRICTED_DAY",
            ReasonCode::NoConsentWireless => "NO_CONSENT_WIRELESS",
            ReasonCode::ConsentRevoked => "CONSENT_REVOKED",
            ReasonCode::FrequencyCap => "FREQUENCY_CAP",
            ReasonCode::AbandonRateCap => "ABANDON_RATE_CAP",
        }
    }

    /// Whether the mere passing of time can lift it (hours, days, rolling caps).
    fn lifts_with_time(self) -> bool {
        matches!(self, ReasonCode::OutsideCallingHours | ReasonCode::RestrictedDay | ReasonCode::FrequencyCap)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failing rule: `{ code message }` in API.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

impl Reason {
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        Reason { code, message: message.into() }
    }
}

/// What a tenant does when its National DNC copy of an area code is older than allowed
/// (GraphQL `StaleRegistryPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, async_graphql::Enum)]
pub enum StaleRegistryPolicy {
    /// `NATIONAL_DNC`: the number cannot be checked against a fresh copy (the default).
    #[default]
    Block,
    /// Call, with a warning in the verdict (the safe harbor is then lost).
    Warn,
}

/// A tenant's compliance settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSettings {
    pub numbers: NumberPolicy,
    pub stale_registry: StaleRegistryPolicy,
    /// 31 days (47 CFR 64.1200(c)(2)(i)(D)); a tenant may only shorten it.
    pub max_registry_age_days: i64,
    /// How long a Number Lookup answer is trusted.
    pub lookup_ttl: TimeDelta,
    pub calling_window: Option<CallingWindow>,
}

impl Default for TenantSettings {
    fn default() -> Self {
        TenantSettings {
            numbers: NumberPolicy::default(),
            stale_registry: StaleRegistryPolicy::Block,
            max_registry_age_days: 31,
            lookup_ttl: TimeDelta::days(30),
            calling_window: None,
        }
    }
}

/// A campaign's 30-day abandonment figures (supplied by the live loop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbandonmentFigures {
    pub abandoned: u64,
    /// Calls answered by a live person in the same 30 days.
    pub live_answered: u64,
    /// The campaign's target; never above the 3 % of 47 CFR 64.1200(a)(7).
    pub target: f64,
}

impl AbandonmentFigures {
    /// The federal ceiling of the abandonment rate.
    pub const FEDERAL_LIMIT: f64 = 0.03;

    pub fn rate(&self) -> f64 {
        if self.live_answered == 0 { 0.0 } else { self.abandoned as f64 / self.live_answered as f64 }
    }

    /// Whether the rate has reached the target (or the federal limit): predictive dialing stops
    /// until it is under again.
    pub fn reached(&self) -> bool {
        self.live_answered > 0 && self.rate() >= self.target.min(Self::FEDERAL_LIMIT)
    }

    /// How a campaign in `mode` is dialed with these figures: a predictive one whose rate has
    /// reached the target is dialed progressively (one call per idle agent, which the cap does not
    /// stop) until the rate is under it again; stopping would leave the rate above the target.
    pub fn dialing_mode(&self, mode: DialerMode) -> DialerMode {
        match mode {
            DialerMode::Predictive if self.reached() => DialerMode::Progressive,
            mode => mode,
        }
    }
}

/// A campaign's compliance settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSettings {
    pub mode: DialerMode,
    pub calling_window: Option<CallingWindow>,
    pub max_attempts: Option<u32>,
    pub abandonment: Option<AbandonmentFigures>,
}

impl CampaignSettings {
    pub fn new(mode: DialerMode) -> Self {
        CampaignSettings { mode, calling_window: None, max_attempts: None, abandonment: None }
    }
}

/// One past call or text to the number by the tenant (every campaign and channel; failed and
/// blocked attempts counted alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// Made by the campaign being checked (counts toward its maximum attempts).
    pub this_campaign: bool,
}

/// The tenant's internal DNC entry for the number (`addDncNumbers`, a `do_not_call`
/// outcome): who, when and why. Honored from `added_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalDncEntry {
    pub added_at: DateTime<Utc>,
    pub added_by: String,
    pub reason: Option<String>,
}

/// What the shell knows about the contact behind the number.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactFacts<'a> {
    pub place: ContactPlace<'a>,
    pub lookup: Option<LookupResult>,
    pub consent: &'a [ConsentRecord],
    pub attempts: &'a [Attempt],
    pub internal_dnc: Option<&'a InternalDncEntry>,
}

/// Data shared by every verdict: DNC lists, wireless list, declared emergencies.
#[derive(Debug, Clone, Copy)]
pub struct GateData<'a> {
    pub registry: &'a DncRegistry,
    pub wireless: &'a WirelessList,
    pub emergencies: &'a [EmergencyBan],
}

/// Versions of the data a verdict used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataVersions {
    /// Newest row of the state rules and holiday calendars.
    pub rules: NaiveDate,
    /// Newest row of the area-code, jurisdiction and ZIP tables.
    pub places: NaiveDate,
    /// Download date of the National DNC copy of the number's area code.
    pub national_dnc: Option<NaiveDate>,
}

/// The gate's answer (API.md `ComplianceVerdict`).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// E.164 when the number parsed, else the input as given.
    pub phone_number: String,
    pub safe_to_call: bool,
    pub reasons: Vec<Reason>,
    /// Notes that do not block (a stale registry under the `Warn` policy).
    pub warnings: Vec<String>,
    pub timezones: Vec<Tz>,
    /// Jurisdiction codes whose rules applied (`US-FL`, ...).
    pub jurisdictions: Vec<String>,
    pub line_type: Option<LineType>,
    /// `at` itself when safe; `None` when no passing of time makes it safe.
    pub next_safe_call_time: Option<DateTime<Utc>>,
    pub versions: DataVersions,
}

impl Verdict {
    pub fn codes(&self) -> Vec<ReasonCode> {
        let mut codes: Vec<ReasonCode> = self.reasons.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }
}

/// Everything about one call that the time rules need.
struct TimeRules<'a> {
    zones: &'a [Tz],
    day: LocalDayRules<'a>,
    caps: Vec<(&'a StateRule, FrequencyCap)>,
    attempt_times: Vec<DateTime<Utc>>,
    bans: Vec<&'a EmergencyBan>,
}

impl TimeRules<'_> {
    fn open_everywhere(&self, t: DateTime<Utc>) -> bool {
        self.zones.iter().all(|&tz| {
            let local = t.with_timezone(&tz);
            self.day
                .open_hours(local.date_naive())
                .is_some_and(|h| h.contains(local.time().num_seconds_from_midnight()))
        })
    }

    /// The earliest instant at or after `start` at which every window, day rule, rolling cap
    /// and emergency lets a call through: each rule pushes the candidate forward until none
    /// moves it (a fixed point), within [`SEARCH_DAYS`].
    fn next_safe(&self, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let horizon = start + TimeDelta::days(SEARCH_DAYS as i64);
        let mut t = start;
        while t <= horizon {
            let before = t;
            for &tz in self.zones {
                t = t.max(self.day.opening(tz, t)?);
            }
            for (_, cap) in &self.caps {
                t = t.max(cap_lifts(*cap, &self.attempt_times, t));
            }
            for ban in &self.bans {
                if ban.covers(t) {
                    t = t.max(ban.ends?);
                }
            }
            if t == before {
                return Some(t);
            }
        }
        None
    }
}

/// The verdict for dialing `phone_number` at `at`.
pub fn evaluate(
    rules: &ComplianceRules,
    data: &GateData<'_>,
    tenant: &TenantSettings,
    campaign: &CampaignSettings,
    phone_number: &str,
    contact: &ContactFacts<'_>,
    at: DateTime<Utc>,
) -> Verdict {
    let mut verdict = Verdict {
        phone_number: String::new(),
        safe_to_call: false,
        reasons: Vec::new(),
        warnings: Vec::new(),
        timezones: Vec::new(),
        jurisdictions: Vec::new(),
        line_type: None,
        next_safe_call_time: None,
        versions: DataVersions {
            rules: rules.state_rules.newest_row().max(rules.holidays.newest_row()),
            places: rules.area_codes.newest_row(),
            national_dnc: None,
        },
    };
    let number = match parse(phone_number) {
        Ok(number) => number,
        Err(e) => {
            verdict.phone_number = phone_number.to_string();
            verdict.reasons.push(Reason::new(ReasonCode::InvalidNumber, e.to_string()));
            return verdict;
        }
    };
    verdict.phone_number = number.e164();
    let table = &rules.area_codes;
    let mut dialable = true;
    if let Some(why) = unassignable(number) {
        verdict.reasons.push(Reason::new(ReasonCode::NotDialable, why.to_string()));
        dialable = false;
    }
    match service_class(number) {
        Some(ServiceClass::TollFree) if tenant.numbers.allow_toll_free => {}
        Some(class) => {
            verdict.reasons.push(Reason::new(ReasonCode::NotDialable, class.to_string()));
            dialable = false;
        }
        None => {}
    }
    let area_code = table.area_code(number.npa());
    if dialable && service_class(number).is_none() {
        match area_code.map(|a| table.jurisdiction(a.jurisdiction)) {
            None if number.npa() / 100 == 5 => {
                let message = format!("area code {} is a non-geographic personal-communications code", number.npa());
                verdict.reasons.push(Reason::new(ReasonCode::NotDialable, message));
                dialable = false;
            }
            Some(place) if place.country == "CA" && !tenant.numbers.allow_canada => {
                let message =
                    format!("{} is in Canada ({}); the tenant has not enabled Canada", number.e164(), place.name);
                verdict.reasons.push(Reason::new(ReasonCode::NotDialable, message));
                dialable = false;
            }
            Some(place) if place.country != "US" && place.country != "CA" && !tenant.numbers.allow_caribbean => {
                let message = format!(
                    "{} is an international NANP number ({}); the tenant has not enabled it",
                    number.e164(),
                    place.name
                );
                verdict.reasons.push(Reason::new(ReasonCode::NotDialable, message));
                dialable = false;
            }
            _ => {}
        }
    }

    // A toll-free number a tenant allows has no area code: it is located like an unknown one
    // (every U.S. zone and state, narrowed by nothing, widened by the address).
    let location = if dialable {
        table.locate(number, &contact.place)
    } else {
        Location { zones: Vec::new(), jurisdictions: Vec::new(), area_code_known: false }
    };
    let applicable = rules.state_rules.applicable(&location, campaign.mode);
    let line = line_type(number, contact.lookup.as_ref(), data.wireless, at, tenant.lookup_ttl);
    verdict.line_type = Some(line);
    verdict.jurisdictions = location.jurisdictions.iter().map(|&j| table.jurisdiction(j).code.clone()).collect();

    let revoked = revocation_in_force(contact.consent, at);
    let written = revoked.is_none() && has_written_consent(contact.consent, at);
    if let Some(when) = revoked {
        let message = format!("consent revoked at {}", when.format("%Y-%m-%d %H:%M UTC"));
        verdict.reasons.push(Reason::new(ReasonCode::ConsentRevoked, message));
    }
    let registry_covers = area_code.is_none_or(|a| table.jurisdiction(a.jurisdiction).country == "US");
    check_dnc(
        &mut verdict,
        data,
        tenant,
        contact,
        number,
        &applicable,
        written,
        revoked.is_some(),
        at,
        registry_covers,
    );
    check_consent(&mut verdict, campaign, line, &applicable, written, at);

    if let Some(figures) = campaign.abandonment.filter(|f| campaign.mode == DialerMode::Predictive && f.reached()) {
        let message = format!(
            "30-day abandonment {:.2}% has reached the target {:.2}%",
            figures.rate() * 100.0,
            figures.target.min(AbandonmentFigures::FEDERAL_LIMIT) * 100.0
        );
        verdict.reasons.push(Reason::new(ReasonCode::AbandonRateCap, message));
    }
    let campaign_attempts = contact.attempts.iter().filter(|a| a.this_campaign && a.at <= at).count() as u32;
    let exhausted = campaign_exhausted(campaign.max_attempts, campaign_attempts);
    if exhausted {
        let message = format!("campaign maximum of {} attempts reached", campaign.max_attempts.unwrap_or_default());
        verdict.reasons.push(Reason::new(ReasonCode::FrequencyCap, message));
    }

    if dialable {
        let time_rules = TimeRules {
            zones: &location.zones,
            day: LocalDayRules {
                rules: &applicable,
                holidays: &rules.holidays,
                tenant: tenant.calling_window.as_ref(),
                campaign: campaign.calling_window.as_ref(),
            },
            caps: caps_of(&applicable),
            attempt_times: contact.attempts.iter().map(|a| a.at).filter(|&t| t <= at).collect(),
            bans: data.emergencies.iter().filter(|b| verdict.jurisdictions.contains(&b.jurisdiction)).collect(),
        };
        explain_time_rules(&mut verdict, &time_rules, at);
        // A campaign's used-up attempts never come back, although its code is FREQUENCY_CAP.
        let permanent = exhausted || verdict.reasons.iter().any(|r| !r.code.lifts_with_time());
        if verdict.reasons.is_empty() {
            verdict.next_safe_call_time = Some(at);
        } else if !permanent {
            verdict.next_safe_call_time = time_rules.next_safe(at);
        }
    }
    verdict.timezones = location.zones;
    verdict.safe_to_call = verdict.reasons.is_empty();
    verdict
}

/// Rolling caps of the rows that govern the call (a row's cap binds from its effective date).
fn caps_of<'a>(rules: &[&'a StateRule]) -> Vec<(&'a StateRule, FrequencyCap)> {
    rules.iter().filter_map(|r| r.frequency.map(|cap| (*r, cap))).collect()
}

fn explain_time_rules(verdict: &mut Verdict, time: &TimeRules<'_>, at: DateTime<Utc>) {
    if !time.open_everywhere(at) {
        for &tz in time.zones {
            time.day.explain(tz, at, &mut verdict.reasons);
        }
    }
    let date = at.date_naive();
    for (rule, cap) in time.caps.iter().filter(|(r, _)| r.in_force(date)) {
        let lifts = cap_lifts(*cap, &time.attempt_times, at);
        if lifts > at {
            let message = format!(
                "{}: at most {} calls per {} h; allowed again at {}",
                rule.name,
                cap.calls,
                cap.window.num_hours(),
                lifts.format("%Y-%m-%d %H:%M UTC")
            );
            verdict.reasons.push(Reason::new(ReasonCode::FrequencyCap, message));
        }
    }
    for ban in time.bans.iter().filter(|b| b.covers(at)) {
        let message = format!("declared emergency in {} ({})", ban.jurisdiction, ban.source);
        verdict.reasons.push(Reason::new(ReasonCode::RestrictedDay, message));
    }
}

#[allow(clippy::too_many_arguments)]
fn check_dnc(
    verdict: &mut Verdict,
    data: &GateData<'_>,
    tenant: &TenantSettings,
    contact: &ContactFacts<'_>,
    number: super::number::NanpNumber,
    applicable: &[&StateRule],
    written: bool,
    revoked: bool,
    at: DateTime<Utc>,
    registry_covers: bool,
) {
    if let Some(entry) = contact.internal_dnc.filter(|e| e.added_at <= at) {
        let why = entry.reason.as_deref().unwrap_or("no reason given");
        let message = format!(
            "on the tenant's do-not-call list since {} by {} ({why})",
            entry.added_at.format("%Y-%m-%d"),
            entry.added_by
        );
        verdict.reasons.push(Reason::new(ReasonCode::InternalDnc, message));
    }
    // A live written consent or business relationship exempts from the registries; a
    // revocation ends both (64.1200(a)(10)).
    let ebr = !revoked && ebr_in_force(contact.consent, applicable, at);
    let answer = data.registry.national(number);
    if let RegistryAnswer::NotListed { downloaded_on } = answer {
        verdict.versions.national_dnc = Some(downloaded_on);
    } else {
        verdict.versions.national_dnc = data.registry.download_date(NATIONAL, number.npa());
    }
    match answer {
        RegistryAnswer::Listed if written || ebr => {}
        RegistryAnswer::Listed => {
            verdict.reasons.push(Reason::new(ReasonCode::NationalDnc, "on the National Do Not Call Registry"));
        }
        answer => {
            let downloaded = match answer {
                RegistryAnswer::NotListed { downloaded_on } => Some(downloaded_on),
                _ => None,
            };
            // Canada and the Caribbean are outside the U.S. registry; so are toll-free numbers.
            let us = registry_covers && service_class(number).is_none();
            let age = downloaded.map(|d| (at.date_naive() - d).num_days());
            let stale = age.is_none_or(|days| days > tenant.max_registry_age_days);
            if us && stale && !written && !ebr {
                let message = match age {
                    Some(days) => format!(
                        "the National DNC copy of area code {} is {days} days old (more than {})",
                        number.npa(),
                        tenant.max_registry_age_days
                    ),
                    None => format!("no National DNC copy of area code {} has been imported", number.npa()),
                };
                match tenant.stale_registry {
                    StaleRegistryPolicy::Block => verdict.reasons.push(Reason::new(ReasonCode::NationalDnc, message)),
                    StaleRegistryPolicy::Warn => verdict.warnings.push(message),
                }
            }
        }
    }
    if let Some(list) = data.registry.other_listing(number) {
        // State lists: only written consent exempts (EBR spans differ by state; stricter).
        if !written {
            verdict.reasons.push(Reason::new(ReasonCode::StateDnc, format!("on the {list} list")));
        }
    }
}

fn check_consent(
    verdict: &mut Verdict,
    campaign: &CampaignSettings,
    line: LineType,
    applicable: &[&StateRule],
    written: bool,
    at: DateTime<Utc>,
) {
    if written {
        return;
    }
    let date = at.date_naive();
    let automated = campaign.mode.is_automated();
    // An unknown line counts as wireless, for manual dialing too (stricter).
    let wireless = line.wireless_for_automated_dialing();
    let requiring = applicable.iter().filter(|rule| rule.in_force(date)).find(|rule| match rule.consent {
        Some(ConsentRule::AutomatedWireless) => automated && wireless,
        Some(ConsentRule::Automated) => automated,
        Some(ConsentRule::Wireless) => wireless,
        Some(ConsentRule::All) => true,
        None => false,
    });
    if let Some(rule) = requiring {
        let message = format!(
            "{}: prior express written consent required ({} dialing, {} line)",
            rule.name,
            if automated { "automated" } else { "manual" },
            line.as_str()
        );
        verdict.reasons.push(Reason::new(ReasonCode::NoConsentWireless, message));
    }
}
