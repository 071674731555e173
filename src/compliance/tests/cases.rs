//! Dated verdict cases, one table per concern. Times are UTC; comments give the local clock.

use chrono::{DateTime, Utc};

use crate::compliance::ComplianceRules;
use crate::compliance::area_codes::ContactPlace;
use crate::compliance::consent::{ConsentKind, ConsentRecord, EbrBasis};
use crate::compliance::dnc::{DncRegistry, ImportOptions, ListKind, NATIONAL, STATE};
use crate::compliance::line_type::{LineType, LookupResult, WirelessList};
use crate::compliance::verdict::ReasonCode::{self, *};
use crate::compliance::verdict::{
    AbandonmentFigures, Attempt, CampaignSettings, ContactFacts, DialerMode, GateData, InternalDncEntry,
    StaleRegistryPolicy, TenantSettings, Verdict, evaluate,
};
use crate::compliance::windows::EmergencyBan;

pub(crate) fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).with_timezone(&Utc)
}

pub(crate) fn pewc() -> ConsentRecord {
    ConsentRecord {
        kind: ConsentKind::PriorExpressWritten,
        captured_at: t("2015-01-01T00:00:00Z"),
        expires_at: None,
        revoked_at: None,
        ebr_basis: None,
    }
}

/// A tenant that only warns about a stale registry (the window cases hold no registry).
pub(crate) fn warn_tenant() -> TenantSettings {
    TenantSettings { stale_registry: StaleRegistryPolicy::Warn, ..TenantSettings::default() }
}

pub(crate) fn empty_data() -> (DncRegistry, WirelessList) {
    (DncRegistry::new(), WirelessList::default())
}

fn verdict_with(
    phone: &str,
    at: &str,
    mode: DialerMode,
    state: Option<&str>,
    consent: &[ConsentRecord],
    attempts: &[Attempt],
) -> Verdict {
    let (registry, wireless) = empty_data();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let contact =
        ContactFacts { place: ContactPlace { state, ..Default::default() }, consent, attempts, ..Default::default() };
    evaluate(ComplianceRules::embedded(), &data, &warn_tenant(), &CampaignSettings::new(mode), phone, &contact, t(at))
}

struct Case {
    name: &'static str,
    phone: &'static str,
    at: &'static str,
    mode: DialerMode,
    state: Option<&'static str>,
    codes: &'static [ReasonCode],
    /// `None`: never; the empty string: `at` itself.
    next: Option<&'static str>,
}

const P: DialerMode = DialerMode::Preview;
const A: DialerMode = DialerMode::Predictive;

fn case(
    name: &'static str,
    phone: &'static str,
    at: &'static str,
    codes: &'static [ReasonCode],
    next: &'static str,
) -> Case {
    Case { name, phone, at, mode: P, state: None, codes, next: Some(next) }
}

fn run(cases: &[Case]) {
    let consent = [pewc()];
    let mut failures = Vec::new();
    for c in cases {
        let v = verdict_with(c.phone, c.at, c.mode, c.state, &consent, &[]);
        let expected_next = c.next.map(|n| if n.is_empty() { t(c.at) } else { t(n) });
        if v.codes() != c.codes || v.next_safe_call_time != expected_next || v.safe_to_call != c.codes.is_empty() {
            failures.push(format!(
                "{}: got {:?} next {:?} ({:?}); expected {:?} next {:?}",
                c.name,
                v.codes(),
                v.next_safe_call_time,
                v.reasons.iter().map(|r| &r.message).collect::<Vec<_>>(),
                c.codes,
                expected_next
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

const OUT: &[ReasonCode] = &[OutsideCallingHours];
const DAY: &[ReasonCode] = &[RestrictedDay];
const SAFE: &[ReasonCode] = &[];

#[test]
fn both_2026_dst_changes_move_the_window() {
    run(&[
        case(
            "NY Sat before spring change 07:30 EST",
            "2125550234",
            "2026-03-07T12:30:00Z",
            OUT,
            "2026-03-07T13:00:00Z",
        ),
        case("NY spring-change day 08:30 EDT", "2125550234", "2026-03-08T12:30:00Z", SAFE, ""),
        case("NY spring-change day 07:30 EDT", "2125550234", "2026-03-08T11:30:00Z", OUT, "2026-03-08T12:00:00Z"),
        case("NY before fall change 08:30 EDT", "2125550234", "2026-10-31T12:30:00Z", SAFE, ""),
        case("NY fall-change day 07:30 EST", "2125550234", "2026-11-01T12:30:00Z", OUT, "2026-11-01T13:00:00Z"),
        case("NY fall-change day 20:30 EST", "2125550234", "2026-11-02T01:30:00Z", SAFE, ""),
        case("NY fall-change day 21:00 EST", "2125550234", "2026-11-02T02:00:00Z", OUT, "2026-11-02T13:00:00Z"),
        case("LA night of spring change 21:30 PDT", "2135550234", "2026-03-09T04:30:00Z", OUT, "2026-03-09T15:00:00Z"),
        case("Phoenix does not change: 07:30 MST", "6025550234", "2026-03-08T14:30:00Z", OUT, "2026-03-08T15:00:00Z"),
    ]);
}

#[test]
fn split_area_codes_take_the_intersection_summer_and_winter() {
    run(&[
        // 850: Chicago and New York; Florida 08:00-20:00.
        case("850 summer 07:30 CDT", "8505550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("850 summer 20:30 EDT", "8505550234", "2026-07-15T00:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("850 winter 07:30 CST", "8505550234", "2026-01-15T13:30:00Z", OUT, "2026-01-15T14:00:00Z"),
        case("850 winter 19:30 EST 18:30 CST", "8505550234", "2026-01-16T00:30:00Z", SAFE, ""),
        case("850-332 Pensacola is Central only", "8503320234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("850-210 Tallahassee is Eastern only", "8502100234", "2026-07-15T12:30:00Z", SAFE, ""),
        // 605: Chicago and Denver.
        case("605 summer 07:30 MDT", "6055550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
        case("605 winter 07:30 MST", "6055550234", "2026-01-15T14:30:00Z", OUT, "2026-01-15T15:00:00Z"),
        case("605 winter 21:30 CST", "6055550234", "2026-01-16T03:30:00Z", OUT, "2026-01-16T15:00:00Z"),
        // 208: Boise and Los Angeles.
        case("208 summer 07:30 PDT", "2085550234", "2026-07-15T14:30:00Z", OUT, "2026-07-15T15:00:00Z"),
        case("208 winter 07:30 PST", "2085550234", "2026-01-15T15:30:00Z", OUT, "2026-01-15T16:00:00Z"),
        case("208 winter 08:30 PST", "2085550234", "2026-01-15T16:30:00Z", SAFE, ""),
        // 928: Phoenix and Denver (Navajo Nation keeps DST): the windows differ only in summer.
        case("928 summer 07:30 MST Phoenix", "9285550234", "2026-07-15T14:30:00Z", OUT, "2026-07-15T15:00:00Z"),
        case("928 summer 21:30 MDT Navajo", "9285550234", "2026-07-16T03:30:00Z", OUT, "2026-07-16T15:00:00Z"),
        case("928 winter 20:30 both", "9285550234", "2026-01-16T03:30:00Z", SAFE, ""),
        // Overlays inherit both zones.
        case("448 overlay of 850 summer 07:30 CDT", "4485550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("930 overlay of 812 07:30 CDT", "9305550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        // Kentucky 10:00 on the Central clock.
        case("364 overlay of 270 07:30 CDT", "3645550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T15:00:00Z"),
    ]);
}

#[test]
fn territories_use_their_own_clocks() {
    run(&[
        case("Puerto Rico 07:30 AST", "7875550234", "2026-07-15T11:30:00Z", OUT, "2026-07-15T12:00:00Z"),
        case("USVI 21:30 AST", "3405550234", "2026-07-15T01:30:00Z", OUT, "2026-07-15T12:00:00Z"),
        case("Guam 10:00 ChST", "6715550234", "2026-07-15T00:00:00Z", SAFE, ""),
        case("Guam 22:00 ChST", "6715550234", "2026-07-15T12:00:00Z", OUT, "2026-07-15T22:00:00Z"),
        case("CNMI 22:00 ChST", "6705550234", "2026-07-15T12:00:00Z", OUT, "2026-07-15T22:00:00Z"),
        case("American Samoa 08:30 SST", "6845550234", "2026-07-15T19:30:00Z", SAFE, ""),
        case("Hawaii 07:30 HST", "8085550234", "2026-07-15T17:30:00Z", OUT, "2026-07-15T18:00:00Z"),
    ]);
}

#[test]
fn every_state_rule_in_the_table_binds() {
    let with = |mut c: Case, mode: DialerMode| {
        c.mode = mode;
        c
    };
    run(&[
        case("FL 20:30 EDT", "3055550234", "2026-07-15T00:30:00Z", OUT, "2026-07-15T12:00:00Z"),
        case("OK 20:30 CDT", "4055550234", "2026-07-15T01:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        with(
            case("OK ADAD 08:30 CDT predictive", "4055550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
            A,
        ),
        case("OK 08:30 CDT preview", "4055550234", "2026-07-15T13:30:00Z", SAFE, ""),
        case("MD 20:30 EDT", "4105550234", "2026-07-15T00:30:00Z", OUT, "2026-07-15T12:00:00Z"),
        case("OR 20:30 PDT in 2026", "5035550234", "2026-07-15T03:30:00Z", OUT, "2026-07-15T15:00:00Z"),
        case("OR 20:30 PDT in 2025 (before HB 3865)", "5035550234", "2025-07-15T03:30:00Z", SAFE, ""),
        case("TX weekday 08:30 CDT", "2145550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
        case("TX Sunday 11:30 CDT", "2145550234", "2026-07-19T16:30:00Z", OUT, "2026-07-19T17:00:00Z"),
        case("CT 08:30 EDT", "2035550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("CT 20:30 EDT", "2035550234", "2026-07-16T00:30:00Z", OUT, "2026-07-16T13:00:00Z"),
        case("WA 20:30 PDT", "2065550234", "2026-07-15T03:30:00Z", OUT, "2026-07-15T15:00:00Z"),
        case("KY 09:30 EDT", "5025550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
        case("UT Sunday", "8015550234", "2026-07-19T18:00:00Z", DAY, "2026-07-20T14:00:00Z"),
        case("UT Pioneer Day", "8015550234", "2026-07-24T18:00:00Z", DAY, "2026-07-25T14:00:00Z"),
        case("AL 20:30 CDT", "2055550234", "2026-07-15T01:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("AL Sunday", "2055550234", "2026-07-19T18:00:00Z", DAY, "2026-07-20T13:00:00Z"),
        case("AL Mardi Gras", "2515550234", "2026-02-17T18:00:00Z", DAY, "2026-02-18T14:00:00Z"),
        case("LA Mardi Gras", "5045550234", "2026-02-17T18:00:00Z", DAY, "2026-02-18T14:00:00Z"),
        case("LA Good Friday", "5045550234", "2026-04-03T18:00:00Z", DAY, "2026-04-04T13:00:00Z"),
        case("LA 20:30 CDT", "5045550234", "2026-07-15T01:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("MS Sunday", "6015550234", "2026-07-19T18:00:00Z", DAY, "2026-07-20T13:00:00Z"),
        case("MS 2027-07-04 Sunday observed Monday", "6015550234", "2027-07-05T15:00:00Z", DAY, "2027-07-06T13:00:00Z"),
        case("PA Sunday (UNSURE: closed)", "2155550234", "2026-07-19T18:00:00Z", DAY, "2026-07-20T12:00:00Z"),
        case("PA Election Day 2026", "2155550234", "2026-11-03T15:00:00Z", DAY, "2026-11-04T13:00:00Z"),
        case("PA Election Day 2018 (before the holiday ban)", "2155550234", "2018-11-06T15:00:00Z", SAFE, ""),
        case("RI weekday 18:30 EDT", "4015550234", "2026-07-15T22:30:00Z", OUT, "2026-07-16T13:00:00Z"),
        case("RI Saturday 09:30 EDT", "4015550234", "2026-07-18T13:30:00Z", OUT, "2026-07-18T14:00:00Z"),
        case("RI Victory Day", "4015550234", "2026-08-10T15:00:00Z", DAY, "2026-08-11T13:00:00Z"),
        case("MA 20:30 EDT", "6175550234", "2026-07-15T00:30:00Z", OUT, "2026-07-15T12:00:00Z"),
        case("MI 08:30 EDT", "3135550234", "2026-07-15T12:30:00Z", OUT, "2026-07-15T13:00:00Z"),
        case("MN 08:30 CDT", "6125550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
        case("NV 08:30 PDT", "7025550234", "2026-07-15T15:30:00Z", OUT, "2026-07-15T16:00:00Z"),
        case("NV 20:30 PDT", "7025550234", "2026-07-16T03:30:00Z", OUT, "2026-07-16T16:00:00Z"),
        case("NM 08:30 MDT", "5055550234", "2026-07-15T14:30:00Z", OUT, "2026-07-15T15:00:00Z"),
        with(
            case("CA ADAD 08:30 PDT predictive", "2135550234", "2026-07-15T15:30:00Z", OUT, "2026-07-15T16:00:00Z"),
            A,
        ),
        case("CA 08:30 PDT preview", "2135550234", "2026-07-15T15:30:00Z", SAFE, ""),
        case("IL 08:30 CDT (UNSURE: 09:00)", "3125550234", "2026-07-15T13:30:00Z", OUT, "2026-07-15T14:00:00Z"),
        with(
            case("NE prerecorded Sunday 11:00 CDT", "4025550234", "2026-07-19T16:00:00Z", OUT, "2026-07-19T18:00:00Z"),
            A,
        ),
        with(case("NE Arbor Day 10:00 CDT", "4025550234", "2026-04-24T15:00:00Z", OUT, "2026-04-24T18:00:00Z"), A),
        case("NE Sunday preview", "4025550234", "2026-07-19T16:00:00Z", SAFE, ""),
        Case {
            state: Some("TX"),
            ..case(
                "212 with a Texas address: 07:30 MDT",
                "2125550234",
                "2026-07-15T13:30:00Z",
                OUT,
                "2026-07-15T15:00:00Z",
            )
        },
        Case {
            state: Some("FL"),
            ..case(
                "212 with a Florida address: 20:30 EDT",
                "2125550234",
                "2026-07-16T00:30:00Z",
                OUT,
                "2026-07-16T12:00:00Z",
            )
        },
        // Unknown: every US zone and every state's rules: Kentucky's 10:00 in Honolulu (20:00Z)
        // to Rhode Island's 18:00 in New York (22:00Z).
        case("unknown area code: Hawaii 07:00", "2225550234", "2026-07-15T17:00:00Z", OUT, "2026-07-15T20:00:00Z"),
        case("unknown area code: RI 18:30 EDT", "2225550234", "2026-07-15T22:30:00Z", OUT, "2026-07-16T20:00:00Z"),
        case("unknown area code: 21:00Z", "2225550234", "2026-07-15T21:00:00Z", SAFE, ""),
        // Guam number, Rhode Island address: RI's 09:00-18:00 on both clocks never overlaps.
        Case {
            state: Some("RI"),
            next: None,
            ..case("Guam number, RI address: never", "6715550234", "2026-07-15T00:00:00Z", OUT, "")
        },
    ]);
}

#[test]
fn holidays_shift_to_observed_days() {
    run(&[
        // 2026-07-04 is a Saturday: Friday 07-03 is observed; both days are banned in Utah.
        case("UT Independence Day observed Friday", "8015550234", "2026-07-03T18:00:00Z", DAY, "2026-07-06T14:00:00Z"),
        // 2027-07-24 (Pioneer Day) is a Saturday: observed Friday 07-23.
        case("UT Pioneer Day observed Friday 2027", "8015550234", "2027-07-23T18:00:00Z", DAY, "2027-07-26T14:00:00Z"),
        // 2027-12-25 is a Saturday: observed Friday 12-24 in Alabama.
        case("AL Christmas observed Friday 2027", "2055550234", "2027-12-24T18:00:00Z", DAY, "2027-12-27T14:00:00Z"),
        case("AL Thanksgiving 2026", "2055550234", "2026-11-26T18:00:00Z", DAY, "2026-11-27T14:00:00Z"),
        case("NY Thanksgiving is a normal day", "2125550234", "2026-11-26T18:00:00Z", SAFE, ""),
    ]);
}

fn attempts_at(times: &[&str], this_campaign: bool) -> Vec<Attempt> {
    times.iter().map(|x| Attempt { at: t(x), this_campaign }).collect()
}

#[test]
fn frequency_caps_hold_until_the_oldest_attempt_ages_out() {
    let consent = [pewc()];
    let three = attempts_at(&["2026-07-14T14:00:00Z", "2026-07-14T15:00:00Z", "2026-07-14T16:00:00Z"], false);
    let florida = verdict_with("3055550234", "2026-07-15T13:00:00Z", P, None, &consent, &three);
    assert_eq!(florida.codes(), [FrequencyCap]);
    assert_eq!(florida.next_safe_call_time, Some(t("2026-07-15T14:00:00Z")));
    let new_york = verdict_with("2125550234", "2026-07-15T13:00:00Z", P, None, &consent, &three);
    assert!(new_york.safe_to_call, "{:?}", new_york.reasons);
    // Maine: one automated call per 8 hours.
    let one = attempts_at(&["2026-07-15T13:00:00Z"], false);
    let maine = verdict_with("2075550234", "2026-07-15T15:00:00Z", A, None, &consent, &one);
    assert_eq!(maine.codes(), [FrequencyCap]);
    assert_eq!(maine.next_safe_call_time, Some(t("2026-07-15T21:00:00Z")));
    // A cap lifting after hours moves on to the next window: FL 19:30 EDT, lifts at 20:30.
    let evening = attempts_at(&["2026-07-14T23:00:00Z", "2026-07-14T23:10:00Z", "2026-07-15T00:30:00Z"], false);
    let late = verdict_with("3055550234", "2026-07-14T23:30:00Z", P, None, &consent, &evening[..2]);
    assert!(late.safe_to_call);
    let capped = verdict_with("3055550234", "2026-07-15T00:35:00Z", P, None, &consent, &evening);
    assert_eq!(capped.codes(), [OutsideCallingHours, FrequencyCap]);
    assert_eq!(capped.next_safe_call_time, Some(t("2026-07-15T23:00:00Z")));

    // Campaign maximum attempts: never again for this campaign.
    let (registry, wireless) = empty_data();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let mine = attempts_at(&["2026-07-10T14:00:00Z", "2026-07-11T14:00:00Z"], true);
    let contact = ContactFacts { consent: &consent, attempts: &mine, ..Default::default() };
    let campaign = CampaignSettings { max_attempts: Some(2), ..CampaignSettings::new(P) };
    let v = evaluate(
        ComplianceRules::embedded(),
        &data,
        &warn_tenant(),
        &campaign,
        "2125550234",
        &contact,
        t("2026-07-15T15:00:00Z"),
    );
    assert_eq!(v.codes(), [FrequencyCap]);
    assert_eq!(v.next_safe_call_time, None);
}

#[test]
fn consent_rules_and_revocation() {
    let at = "2026-07-15T15:00:00Z";
    let landline = Some(LookupResult { line_type: LineType::Landline, looked_up_at: t("2026-07-01T00:00:00Z") });
    let stale_lookup = Some(LookupResult { line_type: LineType::Landline, looked_up_at: t("2026-01-01T00:00:00Z") });
    let mut revoked = pewc();
    revoked.revoked_at = Some(t("2026-07-01T00:00:00Z"));
    let oral = ConsentRecord { kind: ConsentKind::PriorExpress, ..pewc() };
    let (registry, wireless) = empty_data();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    type Row<'a> = (&'a str, &'a str, DialerMode, Option<LookupResult>, Vec<ConsentRecord>, &'a [ReasonCode]);
    let cases: Vec<Row<'_>> = vec![
        ("predictive, unknown line, no consent", "2125550234", A, None, vec![], &[NoConsentWireless]),
        ("predictive, unknown line, oral consent", "2125550234", A, None, vec![oral.clone()], &[NoConsentWireless]),
        ("predictive, unknown line, written consent", "2125550234", A, None, vec![pewc()], &[]),
        ("progressive counts as automated", "2125550234", DialerMode::Progressive, None, vec![], &[NoConsentWireless]),
        ("predictive, landline by lookup", "2125550234", A, landline, vec![], &[]),
        ("predictive, lookup older than the TTL", "2125550234", A, stale_lookup, vec![], &[NoConsentWireless]),
        ("preview, unknown line", "2125550234", P, None, vec![], &[]),
        ("FL automated system, landline", "3055550234", A, landline, vec![], &[NoConsentWireless]),
        ("CT any sales call, preview", "2035550234", P, landline, vec![], &[NoConsentWireless]),
        ("TX wireless no-call, preview, unknown line", "2145550234", P, None, vec![], &[NoConsentWireless]),
        ("TX wireless no-call, preview, landline", "2145550234", P, landline, vec![], &[]),
        ("revoked written consent, preview", "2125550234", P, None, vec![revoked.clone()], &[ConsentRevoked]),
        (
            "revoked written consent, predictive",
            "2125550234",
            A,
            None,
            vec![revoked.clone()],
            &[NoConsentWireless, ConsentRevoked],
        ),
    ];
    for (name, phone, mode, lookup, consent, codes) in cases {
        let contact = ContactFacts { lookup, consent: &consent, ..Default::default() };
        let v = evaluate(
            ComplianceRules::embedded(),
            &data,
            &warn_tenant(),
            &CampaignSettings::new(mode),
            phone,
            &contact,
            t(at),
        );
        assert_eq!(v.codes(), codes, "{name}: {:?}", v.reasons);
        if !codes.is_empty() {
            assert_eq!(v.next_safe_call_time, None, "{name}");
        }
    }
}

fn registry_with(listed: &[&str], downloaded: &str) -> DncRegistry {
    let mut registry = DncRegistry::new();
    let text: String = listed.iter().map(|n| format!("{n}\n")).collect();
    let on = t(downloaded).date_naive();
    let areas = vec![212, 214, 305, 504];
    let options = ImportOptions { list: NATIONAL.into(), kind: ListKind::Full, downloaded_on: on, area_codes: areas };
    registry.import(text.as_bytes(), &options, &mut |_| {}).unwrap();
    registry
}

#[test]
fn dnc_lists_exemptions_and_staleness() {
    let at = "2026-07-15T15:00:00Z";
    let registry = registry_with(&["2125550234", "2145550234"], "2026-07-01T00:00:00Z");
    let mut with_state = registry.clone();
    let state = ImportOptions {
        list: STATE.into(),
        kind: ListKind::Full,
        downloaded_on: t(at).date_naive(),
        area_codes: vec![],
    };
    with_state.import("3055550234\n".as_bytes(), &state, &mut |_| {}).unwrap();
    let ebr = |basis, captured: &str| ConsentRecord {
        kind: ConsentKind::EstablishedBusiness,
        captured_at: t(captured),
        expires_at: None,
        revoked_at: None,
        ebr_basis: Some(basis),
    };
    let internal = InternalDncEntry {
        added_at: t("2026-07-15T14:59:00Z"),
        added_by: "agent-7".into(),
        reason: Some("do_not_call".into()),
    };
    let later = InternalDncEntry { added_at: t("2026-07-15T15:01:00Z"), ..internal.clone() };
    let block = TenantSettings::default();
    let warn = warn_tenant();
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a DncRegistry,
        Vec<ConsentRecord>,
        Option<&'a InternalDncEntry>,
        &'a TenantSettings,
        &'a [ReasonCode],
    );
    let rows: Vec<Row<'_>> = vec![
        ("listed", "2125550234", &registry, vec![], None, &block, &[NationalDnc]),
        ("listed, written consent", "2125550234", &registry, vec![pewc()], None, &block, &[]),
        (
            "listed, purchase 12 months ago",
            "2125550234",
            &registry,
            vec![ebr(EbrBasis::Purchase, "2025-07-20T00:00:00Z")],
            None,
            &block,
            &[],
        ),
        (
            "listed, purchase 19 months ago",
            "2125550234",
            &registry,
            vec![ebr(EbrBasis::Purchase, "2024-12-01T00:00:00Z")],
            None,
            &block,
            &[NationalDnc],
        ),
        (
            "listed, inquiry 2 months ago",
            "2125550234",
            &registry,
            vec![ebr(EbrBasis::Inquiry, "2026-05-20T00:00:00Z")],
            None,
            &block,
            &[],
        ),
        (
            "listed, inquiry 4 months ago",
            "2125550234",
            &registry,
            vec![ebr(EbrBasis::Inquiry, "2026-03-10T00:00:00Z")],
            None,
            &block,
            &[NationalDnc],
        ),
        (
            "TX listed, purchase 13 months ago (TX: 12)",
            "2145550234",
            &registry,
            vec![ebr(EbrBasis::Purchase, "2025-06-10T00:00:00Z")],
            None,
            &block,
            &[NationalDnc, NoConsentWireless],
        ),
        ("not listed, fresh copy", "2125550235", &registry, vec![], None, &block, &[]),
        ("area code never downloaded, block", "3125550235", &registry, vec![], None, &block, &[NationalDnc]),
        ("area code never downloaded, warn", "3125550235", &registry, vec![], None, &warn, &[]),
        ("internal list", "2125550235", &registry, vec![pewc()], Some(&internal), &block, &[InternalDnc]),
        ("internal list written a minute later", "2125550235", &registry, vec![], Some(&later), &block, &[]),
        ("state list", "3055550234", &with_state, vec![], None, &block, &[StateDnc]),
    ];
    let wireless = WirelessList::default();
    for (name, phone, registry, consent, internal, tenant, codes) in rows {
        let data = GateData { registry, wireless: &wireless, emergencies: &[] };
        let contact = ContactFacts { consent: &consent, internal_dnc: internal, ..Default::default() };
        let v = evaluate(ComplianceRules::embedded(), &data, tenant, &CampaignSettings::new(P), phone, &contact, t(at));
        assert_eq!(v.codes(), codes, "{name}: {:?}", v.reasons);
    }
    // Older than 31 days: blocked, or a warning.
    let old = registry_with(&[], "2026-06-01T00:00:00Z");
    let data = GateData { registry: &old, wireless: &wireless, emergencies: &[] };
    let contact = ContactFacts::default();
    let v =
        evaluate(ComplianceRules::embedded(), &data, &block, &CampaignSettings::new(P), "2125550235", &contact, t(at));
    assert_eq!(v.codes(), [NationalDnc]);
    let fresh = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let listed =
        evaluate(ComplianceRules::embedded(), &fresh, &block, &CampaignSettings::new(P), "2125550234", &contact, t(at));
    assert_eq!(
        listed.versions.national_dnc,
        Some(t("2026-07-01T00:00:00Z").date_naive()),
        "a listed number names its copy"
    );
    assert!(v.reasons[0].message.contains("44 days old"), "{:?}", v.reasons);
    let v =
        evaluate(ComplianceRules::embedded(), &data, &warn, &CampaignSettings::new(P), "2125550235", &contact, t(at));
    assert!(v.safe_to_call && v.warnings.len() == 1);
    assert_eq!(v.versions.national_dnc, Some(t("2026-06-01T00:00:00Z").date_naive()));
}

#[test]
fn numbers_abandonment_and_emergencies() {
    let consent = [pewc()];
    let at = t("2026-07-15T15:00:00Z");
    let (registry, wireless) = empty_data();
    let ban = EmergencyBan {
        jurisdiction: "US-LA".into(),
        starts: t("2026-07-14T00:00:00Z"),
        ends: Some(t("2026-07-16T00:00:00Z")),
        source: "LPSC at the EOC".into(),
    };
    let bans = [ban];
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &bans };
    let contact = ContactFacts { consent: &consent, ..Default::default() };
    let rules = ComplianceRules::embedded();
    let check = |tenant: &TenantSettings, campaign: &CampaignSettings, phone: &str| {
        evaluate(rules, &data, tenant, campaign, phone, &contact, at)
    };
    let tenant = warn_tenant();
    let preview = CampaignSettings::new(P);
    let codes = |phone: &str| check(&tenant, &preview, phone).codes();
    assert_eq!(codes("not a number"), [InvalidNumber]);
    assert_eq!(codes("+44 20 7946 0958"), [InvalidNumber]);
    assert_eq!(codes("8005550234"), [NotDialable]);
    assert_eq!(codes("9005550234"), [NotDialable]);
    assert_eq!(codes("2125550155"), [NotDialable]);
    assert_eq!(codes("2124110234"), [NotDialable]);
    assert_eq!(codes("5005550234"), [NotDialable]);
    assert_eq!(codes("8765550234"), [NotDialable]);
    assert_eq!(codes("4165550234"), [NotDialable]);
    assert_eq!(check(&tenant, &preview, "8005550234").next_safe_call_time, None);
    let open = TenantSettings {
        numbers: crate::compliance::number::NumberPolicy {
            allow_caribbean: true,
            allow_canada: true,
            allow_toll_free: true,
        },
        ..warn_tenant()
    };
    assert_eq!(check(&open, &preview, "8765550234").codes(), SAFE);
    // 11:00 EDT in Toronto: Canada 09:00-21:30.
    assert_eq!(check(&open, &preview, "4165550234").codes(), SAFE);
    // Toll-free has no place: every U.S. zone and state applies (05:00 in Honolulu now, and
    // Louisiana's emergency until 2026-07-16 00:00 UTC).
    let toll_free = check(&open, &preview, "8005550234");
    assert_eq!(toll_free.codes(), [OutsideCallingHours, RestrictedDay]);
    assert_eq!(toll_free.next_safe_call_time, Some(t("2026-07-16T20:00:00Z")));
    let jamaica = check(&open, &preview, "8765550234");
    assert_eq!(jamaica.timezones, [chrono_tz::America::Jamaica]);

    let figures = AbandonmentFigures { abandoned: 4, live_answered: 100, target: 0.05 };
    let predictive = CampaignSettings { abandonment: Some(figures), ..CampaignSettings::new(A) };
    let v = check(&tenant, &predictive, "2125550234");
    assert_eq!(v.codes(), [AbandonRateCap], "{:?}", v.reasons);
    let progressive = CampaignSettings { abandonment: Some(figures), ..CampaignSettings::new(DialerMode::Progressive) };
    assert_eq!(check(&tenant, &progressive, "2125550234").codes(), SAFE);
    let low = AbandonmentFigures { abandoned: 2, live_answered: 100, target: 0.03 };
    let predictive = CampaignSettings { abandonment: Some(low), ..CampaignSettings::new(A) };
    assert_eq!(check(&tenant, &predictive, "2125550234").codes(), SAFE);

    let louisiana = check(&tenant, &preview, "5045550234");
    assert_eq!(louisiana.codes(), [RestrictedDay]);
    // The ban ends at 19:00 CDT, inside Louisiana's 08:00-20:00.
    assert_eq!(louisiana.next_safe_call_time, Some(t("2026-07-16T00:00:00Z")));

    // Every failing reason is listed, not only the first.
    let listed = registry_with(&["3055550234"], "2026-07-10T00:00:00Z");
    let data = GateData { registry: &listed, wireless: &wireless, emergencies: &[] };
    let v = evaluate(
        rules,
        &data,
        &TenantSettings::default(),
        &CampaignSettings::new(A),
        "3055550234",
        &ContactFacts::default(),
        t("2026-07-15T00:30:00Z"),
    );
    assert_eq!(v.codes(), [NationalDnc, OutsideCallingHours, NoConsentWireless]);
    assert_eq!(v.next_safe_call_time, None);
    assert_eq!(v.timezones, [chrono_tz::America::New_York]);
    assert_eq!(v.jurisdictions, ["US-FL"]);
}

#[test]
fn state_ebr_windows_shorten_the_national_dnc_exemption() {
    let at = "2026-07-15T18:00:00Z";
    let ebr = |basis, captured: &str| ConsentRecord {
        kind: ConsentKind::EstablishedBusiness,
        captured_at: t(captured),
        expires_at: None,
        revoked_at: None,
        ebr_basis: Some(basis),
    };
    use EbrBasis::{Inquiry, Purchase};
    // (state, number, basis, captured, listed-and-not-exempt)
    let rows = [
        ("NY control: purchase 13 months", "2125550234", Purchase, "2025-06-10T00:00:00Z", false),
        ("NY control: inquiry 2 months", "2125550234", Inquiry, "2026-05-15T00:00:00Z", false),
        ("CA inquiry 45 days (30)", "2135550234", Inquiry, "2026-06-01T00:00:00Z", true),
        ("CO inquiry 45 days (30)", "3035550234", Inquiry, "2026-06-01T00:00:00Z", true),
        ("TN purchase 13 months (12)", "6155550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("MO purchase 7 months (6)", "3145550234", Purchase, "2025-12-10T00:00:00Z", true),
        ("MT purchase 7 months (6)", "4065550234", Purchase, "2025-12-10T00:00:00Z", true),
        ("LA purchase 7 months (6)", "5045550234", Purchase, "2025-12-10T00:00:00Z", true),
        ("MS purchase 7 months (6)", "6015550234", Purchase, "2025-12-10T00:00:00Z", true),
        ("WI inquiry 1 month (none)", "4145550234", Inquiry, "2026-06-15T00:00:00Z", true),
        ("NJ inquiry 1 month (none)", "2015550234", Inquiry, "2026-06-15T00:00:00Z", true),
        ("MI inquiry 1 month (none)", "3135550234", Inquiry, "2026-06-15T00:00:00Z", true),
        ("MI purchase 13 months (12)", "3135550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("IN purchase 1 month (no EBR at all)", "3175550234", Purchase, "2026-06-15T00:00:00Z", true),
        ("NM purchase 13 months (12)", "5055550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("WA purchase 13 months (12)", "2065550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("PA purchase 13 months (12)", "2155550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("TX purchase 13 months (12)", "2145550234", Purchase, "2025-06-10T00:00:00Z", true),
        ("TX purchase 11 months", "2145550234", Purchase, "2025-08-10T00:00:00Z", false),
    ];
    let listed: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let registry = registry_with(&listed, "2026-07-10T00:00:00Z");
    let wireless = WirelessList::default();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let landline = Some(LookupResult { line_type: LineType::Landline, looked_up_at: t("2026-07-01T00:00:00Z") });
    for (name, phone, basis, captured, blocked) in rows {
        let consent = [ebr(basis, captured)];
        let contact = ContactFacts { consent: &consent, lookup: landline, ..Default::default() };
        let tenant = TenantSettings::default();
        let v =
            evaluate(ComplianceRules::embedded(), &data, &tenant, &CampaignSettings::new(P), phone, &contact, t(at));
        let expected: &[ReasonCode] = if blocked { &[NationalDnc] } else { &[] };
        assert_eq!(v.codes(), expected, "{name}: {:?}", v.reasons);
    }
}

#[test]
fn wireless_no_call_states_and_canada() {
    let at = t("2026-07-15T18:00:00Z");
    let (registry, wireless) = empty_data();
    let data = GateData { registry: &registry, wireless: &wireless, emergencies: &[] };
    let tenant = TenantSettings {
        numbers: crate::compliance::number::NumberPolicy { allow_canada: true, ..Default::default() },
        ..warn_tenant()
    };
    let check = |phone: &str, at: DateTime<Utc>| {
        evaluate(
            ComplianceRules::embedded(),
            &data,
            &tenant,
            &CampaignSettings::new(P),
            phone,
            &ContactFacts::default(),
            at,
        )
    };
    for phone in ["6025550234", "3075550234", "2015550234", "5045550234", "2145550234"] {
        assert_eq!(check(phone, at).codes(), [NoConsentWireless], "{phone}");
    }
    assert_eq!(check("2125550234", at).codes(), SAFE);
    // Canada (CRTC): weekends 10:00-18:00. Saturday 18:30 EDT in Toronto.
    let toronto = check("4165550234", t("2026-07-18T22:30:00Z"));
    assert_eq!(toronto.codes(), [OutsideCallingHours]);
    assert_eq!(toronto.next_safe_call_time, Some(t("2026-07-19T14:00:00Z")));
    // Weekdays 09:00-21:30, but the federal row applies to every call (stricter): 20:45 EDT
    // is inside, 21:15 is not.
    assert_eq!(check("4165550234", t("2026-07-16T00:45:00Z")).codes(), SAFE);
    assert_eq!(check("4165550234", t("2026-07-16T01:15:00Z")).codes(), [OutsideCallingHours]);
}

/// Jurisdictions whose rows the dated cases above exercise.
const COVERED: &[&str] = &[
    "*", "CA", "US-FL", "US-OK", "US-MD", "US-OR", "US-TX", "US-CT", "US-WA", "US-UT", "US-AL", "US-LA", "US-MS",
    "US-PA", "US-RI", "US-KY", "US-MA", "US-MI", "US-MN", "US-NV", "US-NM", "US-CA", "US-IL", "US-NE", "US-ME",
    "US-AZ", "US-NJ", "US-WY", "US-CO", "US-TN", "US-MO", "US-MT", "US-WI", "US-IN",
];

#[test]
fn every_row_of_the_rule_table_has_a_dated_case() {
    use crate::compliance::state_rules::Scope;
    let rules = ComplianceRules::embedded();
    let mut missing = Vec::new();
    for rule in rules.state_rules.rules() {
        let code = match &rule.scope {
            Scope::Everywhere => "*".to_string(),
            Scope::Country(country) => country.clone(),
            Scope::Jurisdiction(id) => rules.area_codes.jurisdiction(*id).code.clone(),
        };
        if !COVERED.contains(&code.as_str()) {
            missing.push(format!("{code} ({})", rule.name));
        }
        assert!(!rule.provenance.source.is_empty() && rule.effective.to_string().len() == 10);
    }
    assert!(missing.is_empty(), "rows without a dated case: {missing:?}");
}
