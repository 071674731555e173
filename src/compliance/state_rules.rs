//! The calling-rules table (`data/state_rules.csv`): the federal baseline and every state's
//! (and Canada's) hours per day of the week, Sunday and holiday bans, rolling frequency caps,
//! consent requirements and established-business-relationship limits, each row versioned by
//! its effective dates and carrying its source and confidence.
//!
//! Owns parsing, checking and selecting rows for a call. It does not evaluate instants: that
//! is `windows` (hours and days) and `verdict` (consent, caps).

use chrono::{Datelike, Months, NaiveDate, TimeDelta, Weekday};
use serde::Deserialize;

use super::area_codes::{AreaCodeTable, JurisdictionId, Location, read_csv};
use super::holidays::HolidayCalendars;
use super::verdict::DialerMode;
use super::windows::LocalHours;
use super::{DataError, Provenance};

const FILE: &str = "state_rules.csv";

/// Where a row applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every call (the federal baseline).
    Everywhere,
    /// Every jurisdiction of a country (`CA`).
    Country(String),
    Jurisdiction(JurisdictionId),
}

/// Which calls a row governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialing {
    Any,
    /// Predictive and progressive dialing (the machine places the call).
    Automated,
}

/// A row's rule for one kind of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayHours {
    /// The row says nothing about this day.
    NoRule,
    /// No calls at all (RESTRICTED_DAY).
    Closed,
    Open(LocalHours),
}

/// When prior express written consent is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentRule {
    /// Automated dialing of a wireless (or unknown) line: the federal TCPA rule.
    AutomatedWireless,
    /// Automated dialing of any line (FL, OK, MD "automated system" laws).
    Automated,
    /// Any call to a wireless (or unknown) line ("wireless no-call" states).
    Wireless,
    /// Every call (CT SB 1058).
    All,
}

/// How long an established business relationship lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EbrSpan {
    Months(u32),
    Days(u64),
    /// The state grants no exemption of this kind.
    Never,
}

impl EbrSpan {
    /// The last instant-date the relationship still counts, starting from `from`.
    pub fn ends(self, from: NaiveDate) -> Option<NaiveDate> {
        match self {
            EbrSpan::Months(n) => from.checked_add_months(Months::new(n)),
            EbrSpan::Days(n) => from.checked_add_days(chrono::Days::new(n)),
            EbrSpan::Never => None,
        }
    }
}

/// At most `calls` calls per number in any rolling `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    pub calls: u32,
    pub window: TimeDelta,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct StateRule {
    pub scope: Scope,
    /// Shown in reasons: "Florida (Fla. Stat. 501.616)".
    pub name: String,
    pub effective: NaiveDate,
    pub until: Option<NaiveDate>,
    pub dialing: Dialing,
    /// Monday first.
    pub week: [DayHours; 7],
    pub holidays: Option<(String, DayHours)>,
    pub frequency: Option<FrequencyCap>,
    pub consent: Option<ConsentRule>,
    pub ebr_purchase: Option<EbrSpan>,
    pub ebr_inquiry: Option<EbrSpan>,
    /// `V` (checked against the law), `S` (secondary sources) or `UNSURE` (stricter reading).
    pub confidence: String,
    pub provenance: Provenance,
}

#[derive(Deserialize)]
struct Row {
    jurisdiction: String,
    name: String,
    effective: NaiveDate,
    until: Option<NaiveDate>,
    dialing: Dialing,
    mon_fri: String,
    saturday: String,
    sunday: String,
    holidays: String,
    holiday_hours: String,
    frequency: String,
    consent: Option<ConsentRule>,
    ebr_purchase: String,
    ebr_inquiry: String,
    confidence: String,
    source: String,
}

/// All rows, with an index from jurisdiction to the rows that apply there.
#[derive(Debug, Clone)]
pub struct StateRuleTable {
    rules: Vec<StateRule>,
    by_jurisdiction: Vec<Vec<usize>>,
    newest_row: NaiveDate,
}

impl StateRuleTable {
    pub fn parse(text: &str, places: &AreaCodeTable, holidays: &HolidayCalendars) -> Result<Self, DataError> {
        let mut rules = Vec::new();
        let mut newest_row = NaiveDate::MIN;
        for row in read_csv::<Row>(FILE, text)? {
            newest_row = newest_row.max(row.effective);
            rules.push(parse_row(row, places, holidays)?);
        }
        let by_jurisdiction = places
            .jurisdictions()
            .map(|(id, place)| {
                (0..rules.len())
                    .filter(|&i| match &rules[i].scope {
                        Scope::Everywhere => true,
                        Scope::Country(country) => *country == place.country,
                        Scope::Jurisdiction(j) => *j == id,
                    })
                    .collect()
            })
            .collect();
        Ok(StateRuleTable { rules, by_jurisdiction, newest_row })
    }

    pub fn rules(&self) -> &[StateRule] {
        &self.rules
    }

    pub fn newest_row(&self) -> NaiveDate {
        self.newest_row
    }

    /// Every row that governs a call of this mode to this location (in force or not: dates
    /// are checked against each local date by the caller).
    pub fn applicable(&self, location: &Location, mode: DialerMode) -> Vec<&StateRule> {
        let wanted = |rule: &&StateRule| rule.dialing == Dialing::Any || mode.is_automated();
        if let [only] = location.jurisdictions[..] {
            // One jurisdiction: its index is already sorted and free of repeats.
            return self.by_jurisdiction[usize::from(only.index())]
                .iter()
                .map(|&i| &self.rules[i])
                .filter(wanted)
                .collect();
        }
        let mut indexes: Vec<usize> = location
            .jurisdictions
            .iter()
            .flat_map(|j| self.by_jurisdiction[usize::from(j.index())].iter().copied())
            .collect();
        if location.jurisdictions.is_empty() {
            indexes.extend((0..self.rules.len()).filter(|&i| self.rules[i].scope == Scope::Everywhere));
        }
        indexes.sort_unstable();
        indexes.dedup();
        indexes
            .into_iter()
            .map(|i| &self.rules[i])
            .filter(|rule| rule.dialing == Dialing::Any || mode.is_automated())
            .collect()
    }
}

impl StateRule {
    pub fn in_force(&self, date: NaiveDate) -> bool {
        self.effective <= date && self.until.is_none_or(|until| date <= until)
    }

    /// This row's rule for a local date, and the holiday that set it, if any.
    pub fn hours_on<'h>(&self, date: NaiveDate, holidays: &'h HolidayCalendars) -> (DayHours, Option<&'h str>) {
        if let Some((calendar, hours)) = &self.holidays
            && let Some(name) = holidays.holiday_on(calendar, date)
        {
            return (*hours, Some(name));
        }
        (self.week[date.weekday().num_days_from_monday() as usize], None)
    }
}

fn parse_row(row: Row, places: &AreaCodeTable, holidays: &HolidayCalendars) -> Result<StateRule, DataError> {
    let key = format!("{} {}", row.jurisdiction, row.effective);
    let bad = |what: &str| DataError::new(FILE, format!("{key}: {what}"));
    let scope = match row.jurisdiction.as_str() {
        "*" => Scope::Everywhere,
        code if code.len() == 2 && places.jurisdictions().any(|(_, j)| j.country == code) => {
            Scope::Country(code.to_string())
        }
        code => Scope::Jurisdiction(
            places
                .jurisdictions()
                .find(|(_, j)| j.code == code)
                .map(|(id, _)| id)
                .ok_or_else(|| bad("unknown jurisdiction"))?,
        ),
    };
    let weekday = day_hours(&row.mon_fri).ok_or_else(|| bad("bad mon_fri"))?;
    let mut week = [weekday; 7];
    week[Weekday::Sat.num_days_from_monday() as usize] = day_hours(&row.saturday).ok_or_else(|| bad("bad saturday"))?;
    week[Weekday::Sun.num_days_from_monday() as usize] = day_hours(&row.sunday).ok_or_else(|| bad("bad sunday"))?;
    let holiday_rule = match (row.holidays.is_empty(), day_hours(&row.holiday_hours)) {
        (true, Some(DayHours::NoRule)) => None,
        (false, Some(hours)) if hours != DayHours::NoRule => {
            if !holidays.has_calendar(&row.holidays) {
                return Err(bad("unknown holiday calendar"));
            }
            Some((row.holidays.clone(), hours))
        }
        _ => return Err(bad("holidays needs a calendar and its hours")),
    };
    if !matches!(row.confidence.as_str(), "V" | "S" | "UNSURE") {
        return Err(bad("confidence must be V, S or UNSURE"));
    }
    if row.until.is_some_and(|until| until < row.effective) {
        return Err(bad("until before effective"));
    }
    Ok(StateRule {
        scope,
        name: row.name,
        effective: row.effective,
        until: row.until,
        dialing: row.dialing,
        week,
        holidays: holiday_rule,
        frequency: frequency(&row.frequency).ok_or_else(|| bad("bad frequency"))?,
        consent: row.consent,
        ebr_purchase: ebr_span(&row.ebr_purchase).ok_or_else(|| bad("bad ebr_purchase"))?,
        ebr_inquiry: ebr_span(&row.ebr_inquiry).ok_or_else(|| bad("bad ebr_inquiry"))?,
        confidence: row.confidence,
        provenance: Provenance::new(FILE, &key, row.effective, &row.source)?,
    })
}

/// `""` (no rule), `closed`, or `HH:MM-HH:MM`.
fn day_hours(text: &str) -> Option<DayHours> {
    match text {
        "" => Some(DayHours::NoRule),
        "closed" => Some(DayHours::Closed),
        hours => LocalHours::parse(hours).map(DayHours::Open),
    }
}

/// `""` or `3/24h`.
fn frequency(text: &str) -> Option<Option<FrequencyCap>> {
    if text.is_empty() {
        return Some(None);
    }
    let (calls, hours) = text.split_once('/')?;
    let hours: i64 = hours.strip_suffix('h')?.parse().ok()?;
    let calls: u32 = calls.parse().ok()?;
    (calls > 0 && hours > 0).then_some(Some(FrequencyCap { calls, window: TimeDelta::hours(hours) }))
}

/// `""`, `none`, `18mo` or `30d`.
fn ebr_span(text: &str) -> Option<Option<EbrSpan>> {
    if text.is_empty() {
        return Some(None);
    }
    if text == "none" {
        return Some(Some(EbrSpan::Never));
    }
    if let Some(months) = text.strip_suffix("mo") {
        return months.parse().ok().map(|m| Some(EbrSpan::Months(m)));
    }
    text.strip_suffix('d')?.parse().ok().map(|d| Some(EbrSpan::Days(d)))
}
