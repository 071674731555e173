//! Holiday calendars for the states that ban calls on holidays: each holiday's date rule
//! (fixed date, nth or last weekday of a month, Easter-relative, with a day offset), its
//! observed-date shift, and calendars that include others, read from `data/holidays.csv`.
//!
//! Owns only "is this local date a holiday in calendar C, and which". The stricter reading is
//! encoded: a fixed-date holiday that falls on a weekend bans **both** the date itself and
//! its observed weekday.

use std::collections::HashMap;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::Deserialize;

use super::area_codes::read_csv;
use super::{DataError, Provenance};

const FILE: &str = "holidays.csv";
/// Calendars are expanded for these years; a date outside them is checked against no holiday,
/// so the range is checked at start to cover the rule table's life.
const FIRST_YEAR: i32 = 2000;
const LAST_YEAR: i32 = 2100;

/// How a holiday falling on a weekend is observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObservedShift {
    /// No shift.
    None,
    /// Saturday → Friday, Sunday → Monday (federal and Alabama practice).
    SatFriSunMon,
    /// Only Sunday → Monday (Mississippi).
    SunMon,
}

/// A holiday's date rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DateRule {
    Fixed {
        month: u32,
        day: u32,
    },
    NthWeekday {
        nth: u8,
        weekday: Weekday,
        month: u32,
    },
    LastWeekday {
        weekday: Weekday,
        month: u32,
    },
    Easter,
    /// Every holiday of another calendar.
    Include(String),
}

#[derive(Debug, Clone)]
struct HolidayRule {
    name: String,
    rule: DateRule,
    offset_days: i64,
    observed: ObservedShift,
    effective: NaiveDate,
}

#[derive(Deserialize)]
struct HolidayRow {
    calendar: String,
    holiday: String,
    rule: String,
    observed: ObservedShift,
    effective: NaiveDate,
    source: String,
}

/// Every calendar, expanded to the dates it bans.
#[derive(Debug, Clone)]
pub struct HolidayCalendars {
    dates: HashMap<String, HashMap<NaiveDate, String>>,
    newest_row: NaiveDate,
}

impl HolidayCalendars {
    pub fn parse(text: &str) -> Result<Self, DataError> {
        let mut rules: HashMap<String, Vec<HolidayRule>> = HashMap::new();
        let mut newest_row = NaiveDate::MIN;
        for row in read_csv::<HolidayRow>(FILE, text)? {
            Provenance::new(FILE, &row.holiday, row.effective, &row.source)?;
            newest_row = newest_row.max(row.effective);
            let (rule, offset_days) = parse_rule(&row.rule)?;
            let holiday =
                HolidayRule { name: row.holiday, rule, offset_days, observed: row.observed, effective: row.effective };
            let is_include = matches!(holiday.rule, DateRule::Include(_));
            if !is_include && holiday.date_in(2000).is_none() {
                return Err(DataError::new(FILE, format!("no such date: {:?}", row.rule)));
            }
            rules.entry(row.calendar).or_default().push(holiday);
        }
        let mut dates = HashMap::new();
        for calendar in rules.keys() {
            let mut days = HashMap::new();
            expand(&rules, calendar, &mut days, 0)?;
            dates.insert(calendar.clone(), days);
        }
        Ok(HolidayCalendars { dates, newest_row })
    }

    /// Whether a calendar of that name exists.
    pub fn has_calendar(&self, calendar: &str) -> bool {
        self.dates.contains_key(calendar)
    }

    /// The holiday that bans `date` in `calendar`, if any.
    pub fn holiday_on(&self, calendar: &str, date: NaiveDate) -> Option<&str> {
        self.dates.get(calendar)?.get(&date).map(String::as_str)
    }

    pub fn newest_row(&self) -> NaiveDate {
        self.newest_row
    }
}

fn expand(
    rules: &HashMap<String, Vec<HolidayRule>>,
    calendar: &str,
    days: &mut HashMap<NaiveDate, String>,
    depth: u8,
) -> Result<(), DataError> {
    let Some(list) = rules.get(calendar) else {
        return Err(DataError::new(FILE, format!("unknown calendar {calendar}")));
    };
    if depth > 4 {
        return Err(DataError::new(FILE, format!("{calendar}: includes loop")));
    }
    for rule in list {
        if let DateRule::Include(other) = &rule.rule {
            expand(rules, other, days, depth + 1)?;
            continue;
        }
        for year in FIRST_YEAR..=LAST_YEAR {
            let Some(date) = rule.date_in(year) else {
                continue;
            };
            if date < rule.effective {
                continue;
            }
            days.entry(date).or_insert_with(|| rule.name.clone());
            if let Some(observed) = observed_date(date, rule.observed) {
                days.entry(observed).or_insert_with(|| format!("{} (observed)", rule.name));
            }
        }
    }
    Ok(())
}

impl HolidayRule {
    fn date_in(&self, year: i32) -> Option<NaiveDate> {
        let base = match &self.rule {
            DateRule::Fixed { month, day } => NaiveDate::from_ymd_opt(year, *month, *day)?,
            DateRule::NthWeekday { nth, weekday, month } => {
                NaiveDate::from_weekday_of_month_opt(year, *month, *weekday, *nth)?
            }
            DateRule::LastWeekday { weekday, month } => last_weekday(year, *month, *weekday)?,
            DateRule::Easter => easter(year)?,
            DateRule::Include(_) => return None,
        };
        base.checked_add_signed(chrono::TimeDelta::days(self.offset_days))
    }
}

fn observed_date(date: NaiveDate, shift: ObservedShift) -> Option<NaiveDate> {
    match (shift, date.weekday()) {
        (ObservedShift::SatFriSunMon, Weekday::Sat) => date.checked_sub_days(Days::new(1)),
        (ObservedShift::SatFriSunMon | ObservedShift::SunMon, Weekday::Sun) => date.checked_add_days(Days::new(1)),
        _ => None,
    }
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> Option<NaiveDate> {
    let next_month = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let mut day = next_month.pred_opt()?;
    while day.weekday() != weekday {
        day = day.pred_opt()?;
    }
    Some(day)
}

/// Western Easter Sunday (the anonymous Gregorian computus).
fn easter(year: i32) -> Option<NaiveDate> {
    let (a, b, c) = (year % 19, year / 100, year % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

/// Parses `07-04`, `3rd MON JAN`, `last MON MAY`, `easter -47`, `1st MON NOV +1`,
/// `include US`.
fn parse_rule(text: &str) -> Result<(DateRule, i64), DataError> {
    let bad = || DataError::new(FILE, format!("bad date rule {text:?}"));
    let words: Vec<&str> = text.split_whitespace().collect();
    let (words, offset) = match words.split_last() {
        Some((last, rest)) if last.starts_with(['+', '-']) => (rest, last.parse::<i64>().map_err(|_| bad())?),
        _ => (&words[..], 0),
    };
    let rule = match words {
        ["include", calendar] => DateRule::Include((*calendar).to_string()),
        ["easter"] => DateRule::Easter,
        [date] => {
            let (month, day) = date.split_once('-').ok_or_else(bad)?;
            DateRule::Fixed { month: month.parse().map_err(|_| bad())?, day: day.parse().map_err(|_| bad())? }
        }
        [nth, weekday, month] => {
            let weekday = weekday.parse::<Weekday>().map_err(|_| bad())?;
            let month = month_number(month).ok_or_else(bad)?;
            match *nth {
                "last" => DateRule::LastWeekday { weekday, month },
                _ => DateRule::NthWeekday {
                    nth: nth.trim_end_matches(char::is_alphabetic).parse().map_err(|_| bad())?,
                    weekday,
                    month,
                },
            }
        }
        _ => return Err(bad()),
    };
    Ok((rule, offset))
}

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name)).map(|i| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::ComplianceRules;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn holidays_and_observed_shifts_fall_on_their_dates() {
        let calendars = &ComplianceRules::embedded().holidays;
        let cases = [
            ("US", d(2026, 1, 1), Some("New Year's Day")),
            ("US", d(2026, 1, 19), Some("Martin Luther King Jr. Day")),
            ("US", d(2026, 5, 25), Some("Memorial Day")),
            // 2026-07-04 is a Saturday: observed Friday 07-03, and the day itself stays banned.
            ("US", d(2026, 7, 3), Some("Independence Day (observed)")),
            ("US", d(2026, 7, 4), Some("Independence Day")),
            ("US", d(2026, 7, 6), None),
            ("US", d(2026, 11, 26), Some("Thanksgiving Day")),
            // 2027-12-25 is a Saturday → Friday 12-24.
            ("US", d(2027, 12, 24), Some("Christmas Day (observed)")),
            // 2028-01-01 is a Saturday → Friday 2027-12-31.
            ("US", d(2027, 12, 31), Some("New Year's Day (observed)")),
            ("US-UT", d(2026, 7, 24), Some("Pioneer Day")),
            ("US-UT", d(2027, 7, 23), Some("Pioneer Day (observed)")),
            ("US-UT", d(2026, 1, 1), Some("New Year's Day")),
            ("US-AL", d(2026, 2, 17), Some("Mardi Gras")),
            ("US-AL", d(2026, 4, 27), Some("Confederate Memorial Day")),
            ("US-LA", d(2026, 2, 17), Some("Mardi Gras")),
            ("US-LA", d(2026, 4, 3), Some("Good Friday")),
            // Mississippi includes the federal days (stricter), whose Saturday shift applies too.
            ("US-MS", d(2026, 7, 3), Some("Independence Day (observed)")),
            ("US-MS", d(2027, 7, 5), Some("Independence Day (observed)")),
            ("US-PA", d(2026, 11, 3), Some("Election Day")),
            ("US-PA", d(2026, 6, 14), Some("Flag Day")),
            ("US-RI", d(2026, 8, 10), Some("Victory Day")),
            ("US-NE", d(2026, 4, 24), Some("Arbor Day")),
            ("US", d(2020, 6, 19), None),
            ("US", d(2021, 6, 18), Some("Juneteenth National Independence Day (observed)")),
        ];
        for (calendar, date, expected) in cases {
            assert_eq!(calendars.holiday_on(calendar, date), expected, "{calendar} {date}");
        }
    }

    #[test]
    fn easter_dates_are_right() {
        for (year, month, day) in [(2024, 3, 31), (2025, 4, 20), (2026, 4, 5), (2027, 3, 28)] {
            assert_eq!(easter(year), Some(d(year, month, day)));
        }
    }

    #[test]
    fn bad_rules_are_refused() {
        for rule in ["13-45", "5th XYZ JAN", "easter x", "sometimes"] {
            let text = format!("calendar,holiday,rule,observed,effective,source\nX,H,{rule},none,2020-01-01,s\n");
            assert!(HolidayCalendars::parse(&text).is_err(), "{rule}");
        }
    }
}
