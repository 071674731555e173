//! The pure pre-dial compliance gate: number rules, where the called party is, calling windows
//! by zone and state, DNC sets, line type, consent, frequency and abandonment caps, and the one
//! [`verdict::evaluate`] that combines them into a [`verdict::Verdict`].
//!
//! Nothing here reads a clock, a database or the network: time, settings, contact facts,
//! consent records, attempts and DNC views are passed in. The only I/O is the explicit DNC
//! file import and snapshot functions in [`dnc`].

pub mod area_codes;
pub mod consent;
pub mod dnc;
pub mod frequency;
pub mod holidays;
pub mod line_type;
pub mod number;
pub mod state_rules;
pub mod verdict;
pub mod windows;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use chrono::NaiveDate;

use area_codes::AreaCodeTable;
use holidays::HolidayCalendars;
use state_rules::StateRuleTable;

/// A data file that does not parse or does not agree with the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DataError {
    pub file: &'static str,
    pub message: String,
}

impl DataError {
    pub fn new(file: &'static str, message: impl Into<String>) -> Self {
        DataError { file, message: message.into() }
    }
}

/// Where a data row comes from: its file, its key, the date it takes effect and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub file: &'static str,
    pub key: String,
    pub effective: NaiveDate,
    pub source: String,
}

impl Provenance {
    /// Every row must name a source.
    pub fn new(file: &'static str, key: &str, effective: NaiveDate, source: &str) -> Result<Self, DataError> {
        if source.trim().is_empty() {
            return Err(DataError::new(file, format!("{key}: a row needs a source")));
        }
        Ok(Provenance { file, key: key.to_string(), effective, source: source.to_string() })
    }
}

const JURISDICTIONS: &str = include_str!("data/jurisdictions.csv");
const AREA_CODES: &str = include_str!("data/area_codes.csv");
const ZIP3: &str = include_str!("data/zip3.csv");
const HOLIDAYS: &str = include_str!("data/holidays.csv");
const STATE_RULES: &str = include_str!("data/state_rules.csv");

/// Every table the gate reads, parsed and checked against each other.
#[derive(Debug, Clone)]
pub struct ComplianceRules {
    pub area_codes: AreaCodeTable,
    pub holidays: HolidayCalendars,
    pub state_rules: StateRuleTable,
    /// `rules-YYYY-MM-DD`: the newest effective date of any row of the rule table and the
    /// holiday calendars (goes into every verdict).
    pub rules_version: String,
    /// `places-YYYY-MM-DD`: the same for the area-code, jurisdiction and ZIP tables.
    pub places_version: String,
}

impl ComplianceRules {
    /// Parses the five data files (the shell may load newer versions than the embedded ones).
    pub fn parse(
        jurisdictions: &str,
        area_codes: &str,
        zip3: &str,
        holidays: &str,
        state_rules: &str,
    ) -> Result<Self, DataError> {
        let area_codes = AreaCodeTable::parse(jurisdictions, area_codes, zip3)?;
        let holidays = HolidayCalendars::parse(holidays)?;
        let state_rules = StateRuleTable::parse(state_rules, &area_codes, &holidays)?;
        let rules_version = format!("rules-{}", state_rules.newest_row().max(holidays.newest_row()));
        let places_version = format!("places-{}", area_codes.newest_row());
        Ok(ComplianceRules { area_codes, holidays, state_rules, rules_version, places_version })
    }

    /// The tables compiled into the binary, parsed once.
    ///
    /// # Panics
    /// When the embedded data is inconsistent: a build that must not start (the tests parse it).
    pub fn embedded() -> &'static ComplianceRules {
        static RULES: OnceLock<ComplianceRules> = OnceLock::new();
        RULES.get_or_init(|| {
            ComplianceRules::parse(JURISDICTIONS, AREA_CODES, ZIP3, HOLIDAYS, STATE_RULES)
                .unwrap_or_else(|e| panic!("embedded compliance data: {e}"))
        })
    }
}
