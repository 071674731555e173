//! Calling windows evaluated on the called party's local clock, DST-correct through
//! chrono-tz: the rule rows' hours and day bans for each local date, tenant and campaign
//! windows, and the earliest instant at or after a time when one zone's window is open.
//!
//! Owns time-of-day and day-of-week logic only; it never looks at DNC, consent or caps.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

use super::holidays::HolidayCalendars;
use super::state_rules::{DayHours, StateRule};
use super::verdict::{Reason, ReasonCode};

/// How far ahead the search for an open window goes.
pub const SEARCH_DAYS: u64 = 400;
const DAY_SECONDS: u32 = 86_400;

/// Local hours `[start, end)` in seconds after midnight; `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalHours {
    start: u32,
    end: u32,
}

impl LocalHours {
    /// `start` must be before `end`; `end` of `None` means midnight at the end of the day.
    pub fn new(start: NaiveTime, end: Option<NaiveTime>) -> Option<Self> {
        let end = end.map_or(DAY_SECONDS, |t| t.num_seconds_from_midnight());
        let start = start.num_seconds_from_midnight();
        (start < end).then_some(LocalHours { start, end })
    }

    /// Parses `08:00-20:00` (`24:00` allowed as an end).
    pub fn parse(text: &str) -> Option<Self> {
        let (start, end) = text.split_once('-')?;
        let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").ok()?;
        let end = match end.trim() {
            "24:00" => None,
            end => Some(NaiveTime::parse_from_str(end, "%H:%M").ok()?),
        };
        LocalHours::new(start, end)
    }

    pub fn contains(self, second_of_day: u32) -> bool {
        (self.start..self.end).contains(&second_of_day)
    }

    fn intersect(self, other: LocalHours) -> Option<LocalHours> {
        let (start, end) = (self.start.max(other.start), self.end.min(other.end));
        (start < end).then_some(LocalHours { start, end })
    }
}

impl std::fmt::Display for LocalHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |s: u32| (s / 3600, s % 3600 / 60);
        let ((sh, sm), (eh, em)) = (hm(self.start), hm(self.end));
        write!(f, "{sh:02}:{sm:02}-{eh:02}:{em:02}")
    }
}

/// A tenant's or campaign's own calling window, on the called party's local clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingWindow {
    /// Monday first; `None` = no calls that weekday.
    days: [Option<LocalHours>; 7],
}

impl CallingWindow {
    pub fn every_day(hours: LocalHours) -> Self {
        CallingWindow { days: [Some(hours); 7] }
    }

    /// Monday to Friday only.
    pub fn weekdays(hours: LocalHours) -> Self {
        let mut window = CallingWindow::every_day(hours);
        window.days[5] = None;
        window.days[6] = None;
        window
    }

    /// The same window with one weekday changed (`None` closes it).
    pub fn with_day(mut self, weekday: Weekday, hours: Option<LocalHours>) -> Self {
        self.days[weekday.num_days_from_monday() as usize] = hours;
        self
    }

    pub fn hours_on(&self, weekday: Weekday) -> Option<LocalHours> {
        self.days[weekday.num_days_from_monday() as usize]
    }
}

/// A declared emergency during which no solicitation may reach a jurisdiction
/// (Louisiana while the LPSC is at the EOC; New York Nuisance Call Act orders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyBan {
    /// Jurisdiction code, `US-LA`.
    pub jurisdiction: String,
    pub starts: DateTime<Utc>,
    /// `None` while the end is not known.
    pub ends: Option<DateTime<Utc>>,
    pub source: String,
}

impl EmergencyBan {
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.starts <= at && self.ends.is_none_or(|end| at < end)
    }
}

/// Everything that shapes the local day for one call: the applicable rule rows, their
/// holiday calendars, and the tenant and campaign windows.
pub struct LocalDayRules<'a> {
    pub rules: &'a [&'a StateRule],
    pub holidays: &'a HolidayCalendars,
    pub tenant: Option<&'a CallingWindow>,
    pub campaign: Option<&'a CallingWindow>,
}

impl LocalDayRules<'_> {
    /// The hours calls may be placed on a local date, or `None` for a closed day.
    pub fn open_hours(&self, date: NaiveDate) -> Option<LocalHours> {
        let mut open = LocalHours { start: 0, end: DAY_SECONDS };
        for rule in self.rules.iter().filter(|r| r.in_force(date)) {
            match rule.hours_on(date, self.holidays).0 {
                DayHours::NoRule => {}
                DayHours::Closed => return None,
                DayHours::Open(hours) => open = open.intersect(hours)?,
            }
        }
        for window in [self.tenant, self.campaign].into_iter().flatten() {
            open = open.intersect(window.hours_on(date.weekday())?)?;
        }
        Some(open)
    }

    /// The earliest instant at or after `t` when the window is open in zone `tz`.
    pub fn opening(&self, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&tz);
        let today = local.date_naive();
        let second = local.time().num_seconds_from_midnight();
        if let Some(hours) = self.open_hours(today) {
            if hours.contains(second) {
                return Some(t);
            }
            if second < hours.start {
                return Some(local_instant(tz, today, hours.start)?.max(t));
            }
        }
        (1..=SEARCH_DAYS).find_map(|ahead| {
            let date = today.checked_add_days(Days::new(ahead))?;
            let hours = self.open_hours(date)?;
            local_instant(tz, date, hours.start)
        })
    }

    /// Why the window is closed at `t` in zone `tz` (nothing when it is open).
    pub fn explain(&self, tz: Tz, t: DateTime<Utc>, reasons: &mut Vec<Reason>) {
        let local = t.with_timezone(&tz);
        let (date, second) = (local.date_naive(), local.time().num_seconds_from_midnight());
        let when = format!("{} {} in {}", local.format("%a %Y-%m-%d %H:%M"), "local", tz.name());
        for rule in self.rules.iter().filter(|r| r.in_force(date)) {
            match rule.hours_on(date, self.holidays) {
                (DayHours::Closed, holiday) => {
                    let day = holiday.map_or_else(|| local.format("%A").to_string(), str::to_string);
                    reasons.push(Reason::new(
                        ReasonCode::RestrictedDay,
                        format!("{}: no calls on {day} ({when})", rule.name),
                    ));
                }
                (DayHours::Open(hours), _) if !hours.contains(second) => {
                    reasons.push(Reason::new(
                        ReasonCode::OutsideCallingHours,
                        format!("{}: calls only {hours} local ({when})", rule.name),
                    ));
                }
                _ => {}
            }
        }
        for (owner, window) in [("tenant", self.tenant), ("campaign", self.campaign)] {
            let Some(window) = window else { continue };
            match window.hours_on(date.weekday()) {
                Some(hours) if hours.contains(second) => {}
                Some(hours) => reasons.push(Reason::new(
                    ReasonCode::OutsideCallingHours,
                    format!("{owner} calling window {hours} local ({when})"),
                )),
                None => reasons.push(Reason::new(
                    ReasonCode::OutsideCallingHours,
                    format!("{owner} calling window closed on {} ({when})", date.weekday()),
                )),
            }
        }
    }
}

/// The first instant whose local wall time in `tz` is `second` on `date`; when a DST gap
/// skips that time, the instant the clocks jumped (the first valid wall time after it: starts
/// are whole minutes and US gaps end on a whole minute).
fn local_instant(tz: Tz, date: NaiveDate, second: u32) -> Option<DateTime<Utc>> {
    let wall = date.and_hms_opt(0, 0, 0)? + TimeDelta::seconds(i64::from(second));
    (0..=180).find_map(|minute| {
        tz.from_local_datetime(&(wall + TimeDelta::minutes(minute)))
            .earliest()
            .map(|instant| instant.with_timezone(&Utc))
    })
}
