//! Property tests: a safe verdict lies inside 08:00-21:00 local in every candidate zone, and
//! `next_safe_call_time` is itself safe while no earlier minute is (checked by scanning).

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use proptest::prelude::*;

use super::cases::{empty_data, pewc, t, warn_tenant};
use crate::compliance::ComplianceRules;
use crate::compliance::area_codes::ContactPlace;
use crate::compliance::verdict::{Attempt, CampaignSettings, ContactFacts, DialerMode, GateData, Verdict, evaluate};

/// Area codes across zones, split codes, overlays, territories, holiday states and unknown.
const PHONES: &[&str] = &[
    "2125550234",
    "3055550234",
    "8505550234",
    "4485550234",
    "6055550234",
    "2085550234",
    "9285550234",
    "7875550234",
    "6715550234",
    "6845550234",
    "8085550234",
    "9075550234",
    "8015550234",
    "2055550234",
    "5045550234",
    "6015550234",
    "2155550234",
    "4015550234",
    "2145550234",
    "9155550234",
    "5025550234",
    "4025550234",
    "2075550234",
    "2225550234",
];
const STATES: &[Option<&str>] = &[None, None, Some("TX"), Some("HI"), Some("UT"), Some("RI")];

fn verdict(phone: &str, state: Option<&str>, mode: DialerMode, attempts: &[Attempt], at: DateTime<Utc>) -> Verdict {
    let (registry, wireless) = empty_data();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let consent = [pewc()];
    let contact = ContactFacts {
        place: ContactPlace { state, ..Default::default() },
        consent: &consent,
        attempts,
        ..Default::default()
    };
    evaluate(ComplianceRules::embedded(), &data, &warn_tenant(), &CampaignSettings::new(mode), phone, &contact, at)
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2026-01-01 .. 2028-01-01, whole minutes (DST changes and holidays included).
    (0i64..2 * 365 * 24 * 60).prop_map(|minute| t("2026-01-01T00:00:00Z") + TimeDelta::minutes(minute))
}

fn mode() -> impl Strategy<Value = DialerMode> {
    prop_oneof![Just(DialerMode::Preview), Just(DialerMode::Predictive)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_safe_verdict_is_inside_the_federal_window_in_every_candidate_zone(
        phone in prop::sample::select(PHONES),
        state in prop::sample::select(STATES),
        mode in mode(),
        at in instant(),
    ) {
        let v = verdict(phone, state, mode, &[], at);
        if v.safe_to_call {
            prop_assert!(!v.timezones.is_empty());
            for tz in &v.timezones {
                let hour = at.with_timezone(tz).hour();
                prop_assert!((8..21).contains(&hour), "{phone} at {at}: {hour}:xx in {}", tz.name());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn next_safe_call_time_is_safe_and_no_earlier_minute_is(
        phone in prop::sample::select(PHONES),
        state in prop::sample::select(STATES),
        mode in mode(),
        at in instant(),
        attempt_offsets in prop::collection::vec(1i64..1440, 0..4),
    ) {
        let attempts: Vec<Attempt> =
            attempt_offsets.iter().map(|m| Attempt { at: at - TimeDelta::minutes(*m), this_campaign: false }).collect();
        let v = verdict(phone, state, mode, &attempts, at);
        let Some(next) = v.next_safe_call_time else {
            // No window at all: e.g. a Guam number with a Rhode Island address, where RI's
            // 09:00-18:00 on both clocks never overlaps. Then no instant of the next days is safe.
            for quarter in 0..(2 * 96) {
                let later = at + TimeDelta::minutes(15 * quarter);
                prop_assert!(!verdict(phone, state, mode, &attempts, later).safe_to_call, "{phone}: {later} is safe");
            }
            return Ok(());
        };
        prop_assert!(next >= at);
        prop_assert_eq!(v.safe_to_call, next == at);
        let at_next = verdict(phone, state, mode, &attempts, next);
        prop_assert!(at_next.safe_to_call, "{phone} next {next}: {:?}", at_next.reasons);
        prop_assert_eq!(at_next.next_safe_call_time, Some(next));
        // Scan every whole minute between `at` and `next` (up to 4 days).
        let mut minute = at + TimeDelta::minutes(1);
        minute = minute.with_second(0).unwrap_or(minute);
        let end = next.min(at + TimeDelta::days(4));
        while minute < end {
            let earlier = verdict(phone, state, mode, &attempts, minute);
            prop_assert!(!earlier.safe_to_call, "{phone}: {minute} is safe, before next {next}");
            minute += TimeDelta::minutes(1);
        }
    }
}
