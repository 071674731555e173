//! What a campaign is, apart from storage: its lifecycle (DRAFT → SCHEDULED → RUNNING ⇄ PAUSED →
//! COMPLETED) and its settings with the rules that make them valid. Pure: no database, no clock.

use async_graphql::Enum;
use chrono::{NaiveTime, Weekday};

use crate::acd::{SkillLevel, Strategy};
use crate::compliance::number;
use crate::error::{DomainError, DomainResult};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Running,
    Paused,
    Completed,
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DialerMode {
    /// Dials ahead of agents within the abandonment budget.
    Predictive,
    /// One call per idle agent, never more lines than idle agents.
    Progressive,
    /// Never dials automatically: a contact is offered to an agent who decides.
    Preview,
}

impl DialerMode {
    /// Predictive and progressive: the machine places the call (automated dialing).
    pub fn is_automated(self) -> bool {
        !matches!(self, DialerMode::Preview)
    }
}

/// Stored names of the enums: the GraphQL names, e.g. `RUNNING`, `LONGEST_IDLE`.
macro_rules! stored_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($name => Some($ty::$variant),)+ _ => None }
            }
        }
    };
}

stored_names!(CampaignStatus { Draft => "DRAFT", Scheduled => "SCHEDULED", Running => "RUNNING", Paused => "PAUSED", Completed => "COMPLETED" });
stored_names!(DialerMode { Predictive => "PREDICTIVE", Progressive => "PROGRESSIVE", Preview => "PREVIEW" });

/// What a supervisor asks of a campaign's lifecycle.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LifecycleAction {
    Schedule,
    Start,
    Pause,
    Resume,
    Complete,
}

/// The status an action leads to, or `CONFLICT` when the action is not valid from `from`.
pub fn transition(from: CampaignStatus, action: LifecycleAction) -> DomainResult<CampaignStatus> {
    use CampaignStatus::*;
    use LifecycleAction::*;
    let to = match (from, action) {
        (Draft, Schedule) => Scheduled,
        (Scheduled, Start) => Running,
        (Running, Pause) => Paused,
        (Paused, Resume) => Running,
        (Scheduled | Running | Paused, Complete) => Completed,
        _ => {
            return Err(DomainError::conflict(format!(
                "a {} campaign cannot {}",
                from.as_str(),
                format!("{action:?}").to_lowercase()
            )));
        }
    };
    Ok(to)
}

/// Everything a supervisor sets on a campaign, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignSettings {
    pub name: String,
    pub dialer_mode: DialerMode,
    pub script: Option<String>,
    pub outcome_tags: Vec<String>,
    pub timezone_based_calling: bool,
    pub dnc_check: bool,
    pub recording_enabled: bool,
    pub caller_id: Option<String>,
    pub window_start: Option<NaiveTime>,
    pub window_end: Option<NaiveTime>,
    pub window_days: Vec<Weekday>,
    pub max_attempts: i32,
    pub retry_delay_minutes: i32,
    pub abandon_rate_target: f64,
    pub required_skills: Vec<SkillLevel>,
    pub language: Option<String>,
    pub region: Option<String>,
    pub routing_strategy: Strategy,
    pub wrap_up_timeout_seconds: Option<i32>,
    pub priority: i32,
    pub cost_per_minute: f64,
}

/// A partial change of settings (create applies one to the defaults, update to the stored ones).
/// `Some(None)` clears an optional setting.
#[derive(Clone, Debug, Default)]
pub struct CampaignChanges {
    pub name: Option<String>,
    pub dialer_mode: Option<DialerMode>,
    pub script: Option<Option<String>>,
    pub outcome_tags: Option<Vec<String>>,
    pub timezone_based_calling: Option<bool>,
    pub dnc_check: Option<bool>,
    pub recording_enabled: Option<bool>,
    pub caller_id: Option<Option<String>>,
    pub window_start: Option<Option<String>>,
    pub window_end: Option<Option<String>>,
    pub window_days: Option<Vec<String>>,
    pub max_attempts: Option<i32>,
    pub retry_delay_minutes: Option<i32>,
    pub abandon_rate_target: Option<f64>,
    pub required_skills: Option<Vec<SkillLevel>>,
    pub language: Option<Option<String>>,
    pub region: Option<Option<String>>,
    pub routing_strategy: Option<Strategy>,
    pub wrap_up_timeout_seconds: Option<Option<i32>>,
    pub priority: Option<i32>,
    pub cost_per_minute: Option<f64>,
}

/// The outcome tags a campaign gets when none are given.
pub const DEFAULT_OUTCOME_TAGS: [&str; 5] = ["sale", "not_interested", CALLBACK, DO_NOT_CALL, "wrong_number"];

/// The outcome tag that schedules a call back at the agent's chosen time.
pub const CALLBACK: &str = "callback";
/// The outcome tag that puts the number on the tenant's internal DNC list.
pub const DO_NOT_CALL: &str = "do_not_call";

/// The regulatory ceiling of the abandonment rate (16 CFR 310.4(b)(4)(i); 47 CFR 64.1200(a)(7)).
pub const MAX_ABANDON_RATE: f64 = 0.03;

impl CampaignSettings {
    pub fn defaults(name: String, dialer_mode: DialerMode) -> Self {
        CampaignSettings {
            name,
            dialer_mode,
            script: None,
            outcome_tags: DEFAULT_OUTCOME_TAGS.iter().map(|t| t.to_string()).collect(),
            timezone_based_calling: true,
            dnc_check: true,
            recording_enabled: false,
            caller_id: None,
            window_start: None,
            window_end: None,
            window_days: Vec::new(),
            max_attempts: 3,
            retry_delay_minutes: 60,
            abandon_rate_target: MAX_ABANDON_RATE,
            required_skills: Vec::new(),
            language: None,
            region: None,
            routing_strategy: Strategy::LongestIdle,
            wrap_up_timeout_seconds: None,
            priority: 5,
            cost_per_minute: 0.0,
        }
    }

    /// Applies changes and checks the result as a whole.
    pub fn apply(mut self, c: CampaignChanges) -> DomainResult<Self> {
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(name) = c.name {
            self.name = name.trim().to_owned();
        }
        set(&mut self.dialer_mode, c.dialer_mode);
        if let Some(script) = c.script {
            self.script = text(script);
        }
        if let Some(tags) = c.outcome_tags {
            self.outcome_tags = tags.into_iter().map(|t| t.trim().to_owned()).collect();
        }
        set(&mut self.timezone_based_calling, c.timezone_based_calling);
        set(&mut self.dnc_check, c.dnc_check);
        set(&mut self.recording_enabled, c.recording_enabled);
        if let Some(caller_id) = c.caller_id {
            self.caller_id = match text(caller_id) {
                Some(given) => Some(
                    number::parse(&given)
                        .map_err(|e| DomainError::bad_input("callerId", format!("callerId: {e}")))?
                        .e164(),
                ),
                None => None,
            };
        }
        if let Some(start) = c.window_start {
            self.window_start = text(start).map(|s| parse_time("windowStart", &s)).transpose()?;
        }
        if let Some(end) = c.window_end {
            self.window_end = text(end).map(|s| parse_time("windowEnd", &s)).transpose()?;
        }
        if let Some(days) = c.window_days {
            self.window_days = days.iter().map(|d| parse_day(d)).collect::<DomainResult<_>>()?;
        }
        set(&mut self.max_attempts, c.max_attempts);
        set(&mut self.retry_delay_minutes, c.retry_delay_minutes);
        set(&mut self.abandon_rate_target, c.abandon_rate_target);
        if let Some(skills) = c.required_skills {
            self.required_skills =
                skills.into_iter().map(|s| SkillLevel { name: s.name.trim().to_owned(), level: s.level }).collect();
        }
        if let Some(language) = c.language {
            self.language = text(language);
        }
        if let Some(region) = c.region {
            self.region = text(region);
        }
        set(&mut self.routing_strategy, c.routing_strategy);
        set(&mut self.wrap_up_timeout_seconds, c.wrap_up_timeout_seconds);
        set(&mut self.priority, c.priority);
        set(&mut self.cost_per_minute, c.cost_per_minute);
        self.check()?;
        Ok(self)
    }

    fn check(&self) -> DomainResult<()> {
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(DomainError::bad_input("name", "name must have 1 to 200 characters"));
        }
        if self.outcome_tags.is_empty() || self.outcome_tags.len() > 50 {
            return Err(DomainError::bad_input("outcomeTags", "give 1 to 50 outcome tags"));
        }
        let mut seen = std::collections::HashSet::new();
        for tag in &self.outcome_tags {
            if tag.is_empty() || tag.chars().count() > 64 {
                return Err(DomainError::bad_input("outcomeTags", "an outcome tag has 1 to 64 characters"));
            }
            if !seen.insert(tag.to_lowercase()) {
                return Err(DomainError::bad_input("outcomeTags", format!("outcome tag {tag:?} is given twice")));
            }
        }
        if !(self.abandon_rate_target > 0.0 && self.abandon_rate_target <= MAX_ABANDON_RATE) {
            return Err(DomainError::bad_input(
                "abandonRateTarget",
                "abandonRateTarget must be above 0 and at most 0.03 (the 3% rule)",
            ));
        }
        if !(1..=50).contains(&self.max_attempts) {
            return Err(DomainError::bad_input("maxAttempts", "maxAttempts must be 1 to 50"));
        }
        if !(1..=43_200).contains(&self.retry_delay_minutes) {
            return Err(DomainError::bad_input("retryDelayMinutes", "retryDelayMinutes must be 1 to 43200 (30 days)"));
        }
        if !(0..=100).contains(&self.priority) {
            return Err(DomainError::bad_input("priority", "priority must be 0 to 100 (higher is served first)"));
        }
        if !(self.cost_per_minute.is_finite() && (0.0..=100.0).contains(&self.cost_per_minute)) {
            return Err(DomainError::bad_input("costPerMinute", "costPerMinute must be 0 to 100"));
        }
        match (self.window_start, self.window_end) {
            (Some(start), Some(end)) if start >= end => {
                return Err(DomainError::bad_input("windowEnd", "windowEnd must be later than windowStart"));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(DomainError::bad_input("windowStart", "give both windowStart and windowEnd, or neither"));
            }
            _ => {}
        }
        SkillLevel::check_all(&self.required_skills).map_err(|m| DomainError::bad_input("requiredSkills", m))?;
        if let Some(seconds) = self.wrap_up_timeout_seconds
            && !(5..=3_600).contains(&seconds)
        {
            return Err(DomainError::bad_input(
                "wrapUpTimeoutSeconds",
                "wrapUpTimeoutSeconds must be 5 to 3600, or null to wait for the agent",
            ));
        }
        if let Some(language) = &self.language
            && !(2..=8).contains(&language.len())
        {
            return Err(DomainError::bad_input("language", "language is a language tag such as \"en\" or \"es-MX\""));
        }
        Ok(())
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

fn parse_time(field: &'static str, text: &str) -> DomainResult<NaiveTime> {
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| DomainError::bad_input(field, format!("{field} must be HH:MM (24-hour), got {text:?}")))
}

fn parse_day(text: &str) -> DomainResult<Weekday> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| DomainError::bad_input("windowDays", format!("{text:?} is not a day of the week (MON..SUN)")))
}

#[cfg(test)]
mod tests {
    use super::CampaignStatus::*;
    use super::LifecycleAction::*;
    use super::*;

    #[test]
    fn lifecycle_allows_exactly_the_documented_transitions() {
        let statuses = [Draft, Scheduled, Running, Paused, Completed];
        let actions = [Schedule, Start, Pause, Resume, Complete];
        let allowed = [
            (Draft, Schedule, Scheduled),
            (Scheduled, Start, Running),
            (Running, Pause, Paused),
            (Paused, Resume, Running),
            (Scheduled, Complete, Completed),
            (Running, Complete, Completed),
            (Paused, Complete, Completed),
        ];
        for from in statuses {
            for action in actions {
                let expected = allowed.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                match (transition(from, action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from:?} {action:?}"),
                    (Err(DomainError::Conflict(_)), None) => {}
                    (got, want) => panic!("{from:?} {action:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn settings_are_checked_as_a_whole() {
        let base = CampaignSettings::defaults("Spring".into(), DialerMode::Predictive);
        let cases: Vec<(CampaignChanges, &str)> = vec![
            (CampaignChanges { abandon_rate_target: Some(0.05), ..Default::default() }, "abandonRateTarget"),
            (CampaignChanges { abandon_rate_target: Some(0.0), ..Default::default() }, "abandonRateTarget"),
            (CampaignChanges { name: Some("  ".into()), ..Default::default() }, "name"),
            (CampaignChanges { max_attempts: Some(0), ..Default::default() }, "maxAttempts"),
            (CampaignChanges { outcome_tags: Some(vec!["a".into(), "A".into()]), ..Default::default() }, "outcomeTags"),
            (CampaignChanges { caller_id: Some(Some("555".into())), ..Default::default() }, "callerId"),
            (CampaignChanges { window_start: Some(Some("9am".into())), ..Default::default() }, "windowStart"),
            (
                CampaignChanges {
                    window_start: Some(Some("18:00".into())),
                    window_end: Some(Some("09:00".into())),
                    ..Default::default()
                },
                "windowEnd",
            ),
            (CampaignChanges { window_days: Some(vec!["Funday".into()]), ..Default::default() }, "windowDays"),
        ];
        for (changes, field) in cases {
            match base.clone().apply(changes) {
                Err(DomainError::BadInput { field: Some(f), .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let ok = base
            .apply(CampaignChanges {
                caller_id: Some(Some("(212) 456-7890".into())),
                window_start: Some(Some("09:00".into())),
                window_end: Some(Some("17:30".into())),
                window_days: Some(vec!["mon".into(), "Fri".into()]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ok.caller_id.as_deref(), Some("+12124567890"));
        assert_eq!(ok.window_days, vec![Weekday::Mon, Weekday::Fri]);
    }
}
