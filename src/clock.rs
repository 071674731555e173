//! Where time comes from, and where a local day begins. Every component is given a [`Clock`]; nothing reads the system time on
//! its own, so tests and the simulator can drive the same code with another clock.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, SubsecRound, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock of the machine, to the microsecond: the precision PostgreSQL keeps, so an
/// instant held in memory equals the same instant read back from any backend.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// The wall clock read at a fixed offset: time passes at its real pace from another instant.
/// For tests and demonstrations that must run at a chosen hour (inside a calling window).
pub struct OffsetClock(pub TimeDelta);

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        (Utc::now() + self.0).trunc_subsecs(6)
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// The start of the local day that holds `now` (the first instant of the local day, which
/// a DST change may move off 00:00).
pub fn local_day_start(zone: Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    start_of(zone, now.with_timezone(&zone).date_naive())
}

pub fn next_local_day_start(zone: Tz, day_start: DateTime<Utc>) -> DateTime<Utc> {
    let today = day_start.with_timezone(&zone).date_naive();
    start_of(zone, today.checked_add_days(Days::new(1)).unwrap_or(today))
}

fn start_of(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    // A zone may skip midnight (DST at 00:00): the day then starts at the first valid minute.
    (0..=120)
        .find_map(|minutes| {
            let local = day.and_time(NaiveTime::MIN) + TimeDelta::minutes(minutes);
            zone.from_local_datetime(&local).earliest()
        })
        .map(|local| local.with_timezone(&Utc))
        .unwrap_or_else(|| day.and_time(NaiveTime::MIN).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_local_midnight_across_dst() {
        let zone: Tz = "America/New_York".parse().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 1, 15, 0, 0).unwrap(); // the day DST ends
        assert_eq!(local_day_start(zone, now), Utc.with_ymd_and_hms(2026, 11, 1, 4, 0, 0).unwrap());
        assert_eq!(
            next_local_day_start(zone, local_day_start(zone, now)),
            Utc.with_ymd_and_hms(2026, 11, 2, 5, 0, 0).unwrap()
        );
        // Santiago skips 00:00 when its DST begins (2026-09-06): the day starts at 01:00.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let start = start_of(santiago, NaiveDate::from_ymd_opt(2026, 9, 6).unwrap());
        assert_eq!(start.with_timezone(&santiago).format("%H:%M").to_string(), "01:00");
    }
}
