//! End-to-end tests of the compliance gate's API over HTTP: verdicts with every reason and the
//! next safe time, the internal DNC list, consent and revocation, list validation, tenancy and
//! the audit. Each runs on SQLite and PostgreSQL, with a DNC snapshot written by the test.

mod common;

use chrono::NaiveDate;
use common::{Backend, TestApp, spawn_app_with, token};
use outdial::compliance::dnc::{self, DncRegistry, ImportOptions, ListKind};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

const ADMIN: &[&str] = &["admin"];
const CHECK: &str = "query($n: String!, $at: DateTime, $c: ID) { complianceCheck(phoneNumber: $n, at: $at, campaignId: $c) \
                     { phoneNumber safeToCall reasons { code message } timezones lineType nextSafeCallTime \
                     versions { nationalDnc } } }";
/// Monday 2026-06-15, 14:00 in New York, 11:00 in San Francisco.
const MIDDAY: &str = "2026-06-15T18:00:00+00:00";
/// A weekday after the tests run: an internal DNC entry is honored from when it is written.
const LATER: &str = "2027-01-05T18:00:00+00:00";

/// An app whose DNC registry lists 212-456-7890, with copies of 212 and 415 downloaded the day
/// before `MIDDAY`.
async fn app_with_registry(backend: Backend) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("dnc.snapshot");
    let mut registry = DncRegistry::new();
    let options = ImportOptions {
        list: dnc::NATIONAL.into(),
        kind: ListKind::Full,
        downloaded_on: NaiveDate::from_ymd_opt(2026, 6, 14).unwrap(),
        area_codes: vec![212, 415],
    };
    registry.import("2124567890\n".as_bytes(), &options, &mut |_| {}).unwrap();
    registry.write_snapshot(&snapshot).unwrap();
    let app = spawn_app_with(backend, |config| config.dnc_snapshot = Some(snapshot.clone())).await;
    (app, dir)
}

async fn check(app: &TestApp, token: &str, number: &str, at: &str) -> Value {
    let answer = app.graphql(Some(token), CHECK, json!({"n": number, "at": at})).await;
    answer.data()["complianceCheck"].clone()
}

fn codes(verdict: &Value) -> Vec<String> {
    verdict["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

async fn audited(app: &TestApp, tenant: &str) -> i64 {
    let db = Database::connect(&app.database_url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "SELECT COUNT(*) AS n FROM compliance_decision WHERE tenant_id = $1",
        _ => "SELECT COUNT(*) AS n FROM compliance_decision WHERE tenant_id = ?",
    };
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, [tenant.into()])).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

backend_tests! {
    async fn verdicts_list_every_reason_and_the_next_safe_time(backend) {
        let (app, _dir) = app_with_registry(backend).await;
        let admin = token("acme", ADMIN);

        // Listed on the National DNC, and an automated call to a line of unknown type.
        let listed = check(&app, &admin, "(212) 456-7890", MIDDAY).await;
        assert_eq!(listed["phoneNumber"], "+12124567890");
        assert_eq!(listed["safeToCall"], false);
        let listed_codes = codes(&listed);
        assert!(listed_codes.contains(&"NATIONAL_DNC".into()), "{listed}");
        assert!(listed_codes.contains(&"NO_CONSENT_WIRELESS".into()), "{listed}");
        assert_eq!(listed["nextSafeCallTime"], Value::Null, "DNC never lifts with time");
        assert_eq!(listed["timezones"], json!(["America/New_York"]));
        assert_eq!(listed["versions"]["nationalDnc"], "2026-06-14");

        // Written consent makes an unlisted wireless-or-unknown number callable at midday.
        let consent = app.graphql(Some(&admin), "mutation { recordConsent(input: {phoneNumber: \"415-555-2671\", \
            kind: PRIOR_EXPRESS_WRITTEN, source: \"web form\", capturedAt: \"2026-06-01T00:00:00Z\"}) { phoneNumber kind } }",
            json!({})).await;
        assert_eq!(consent.data()["recordConsent"]["kind"], "PRIOR_EXPRESS_WRITTEN");
        let callable = check(&app, &admin, "4155552671", MIDDAY).await;
        assert_eq!(callable["safeToCall"], true, "{callable}");
        assert_eq!(callable["nextSafeCallTime"], MIDDAY);

        // Sunday 22:00 in San Francisco: outside the federal hours (08:00-21:00) and California's
        // (09:00-21:00); both are listed, and the next safe time is 09:00 local (16:00 UTC).
        let late = check(&app, &admin, "4155552671", "2026-06-15T05:00:00Z").await;
        assert_eq!(codes(&late), ["OUTSIDE_CALLING_HOURS", "OUTSIDE_CALLING_HOURS"], "{late}");
        assert_eq!(late["nextSafeCallTime"], "2026-06-15T16:00:00+00:00");

        // Revocation and the internal list block at once.
        let revoke = app.graphql(Some(&admin), "mutation { revokeConsent(phoneNumber: \"+14155552671\", via: \"call\") }", json!({})).await;
        assert_eq!(revoke.data()["revokeConsent"], 1);
        let revoked = check(&app, &admin, "4155552671", "2026-12-01T18:00:00Z").await;
        assert!(codes(&revoked).contains(&"CONSENT_REVOKED".into()), "{revoked}");

        let invalid = check(&app, &admin, "12345", MIDDAY).await;
        assert_eq!(codes(&invalid), ["INVALID_NUMBER"]);
        let toll_free = check(&app, &admin, "800-555-1234", MIDDAY).await;
        assert!(codes(&toll_free).contains(&"NOT_DIALABLE".into()));

        // Every verdict asked for went to the audit.
        assert_eq!(audited(&app, "acme").await, 6);
    }

    async fn the_internal_list_is_the_tenants_own(backend) {
        let (app, _dir) = app_with_registry(backend).await;
        let (acme, globex) = (token("acme", ADMIN), token("globex", ADMIN));
        let add = "mutation($n: [String!]!) { addDncNumbers(phoneNumbers: $n, reason: \"asked on a call\") }";
        let added = app.graphql(Some(&acme), add, json!({"n": ["415-555-2671", "(415) 555-2672"]})).await;
        assert_eq!(added.data()["addDncNumbers"], 2);
        let again = app.graphql(Some(&acme), add, json!({"n": ["4155552671"]})).await;
        assert_eq!(again.data()["addDncNumbers"], 0, "already listed");
        // One bad number refuses the whole request: nothing is written.
        let bad = app.graphql(Some(&acme), add, json!({"n": ["4155552673", "911"]})).await;
        assert_eq!(bad.code(), "BAD_USER_INPUT");
        let status = app.graphql(Some(&acme), "{ dncStatus { internalNumbers lists { name numbers areaCodes stale } } }", json!({})).await;
        assert_eq!(status.data()["dncStatus"]["internalNumbers"], 2);
        assert_eq!(status.data()["dncStatus"]["lists"][0]["name"], "NATIONAL_DNC");
        assert_eq!(status.data()["dncStatus"]["lists"][0]["numbers"], 1);

        let at_acme = check(&app, &acme, "4155552671", LATER).await;
        assert!(codes(&at_acme).contains(&"INTERNAL_DNC".into()), "{at_acme}");
        let before = check(&app, &acme, "4155552671", MIDDAY).await;
        assert!(!codes(&before).contains(&"INTERNAL_DNC".into()), "not before it was written: {before}");
        let at_globex = check(&app, &globex, "4155552671", LATER).await;
        assert!(!codes(&at_globex).contains(&"INTERNAL_DNC".into()), "{at_globex}");

        // Agents may add (a customer asks on a call); only admins remove.
        let agent = token("acme", &["agent"]);
        assert_eq!(app.graphql(Some(&agent), add, json!({"n": ["4155552674"]})).await.data()["addDncNumbers"], 1);
        let remove = "mutation($n: [String!]!) { removeDncNumbers(phoneNumbers: $n) }";
        let supervisor = token("acme", &["supervisor"]);
        assert_eq!(app.graphql(Some(&supervisor), remove, json!({"n": ["4155552671"]})).await.code(), "FORBIDDEN");
        assert_eq!(app.graphql(Some(&acme), remove, json!({"n": ["4155552671"]})).await.data()["removeDncNumbers"], 1);
        assert_eq!(app.graphql(Some(&acme), remove, json!({"n": ["4155552671"]})).await.data()["removeDncNumbers"], 0);
        let removed = check(&app, &acme, "4155552671", LATER).await;
        assert!(!codes(&removed).contains(&"INTERNAL_DNC".into()), "{removed}");
        // Listed again after a removal: the entry comes back from this moment.
        assert_eq!(app.graphql(Some(&acme), add, json!({"n": ["4155552671"]})).await.data()["addDncNumbers"], 1);
        let relisted = check(&app, &acme, "4155552671", LATER).await;
        assert!(codes(&relisted).contains(&"INTERNAL_DNC".into()), "{relisted}");
        assert_eq!(app.graphql(Some(&agent), CHECK, json!({"n": "4155552671"})).await.code(), "FORBIDDEN");
    }

    async fn lists_are_validated_with_a_summary(backend) {
        let (app, _dir) = app_with_registry(backend).await;
        let admin = token("acme", ADMIN);
        let list = app.create_list(&admin, "Mixed", &["2124567890", "4155552671", "4155552672"]).await;
        app.graphql(Some(&admin), "mutation { recordConsent(input: {phoneNumber: \"4155552671\", kind: PRIOR_EXPRESS_WRITTEN, \
            capturedAt: \"2026-06-01T00:00:00Z\"}) { id } }", json!({})).await.data();
        let validate = "mutation($l: ID, $at: DateTime, $c: ID) { validateContacts(listId: $l, at: $at, campaignId: $c, first: 2) \
                        { total callableNow callableLaterToday neverCallable byReason { code count } verdicts { phoneNumber safeToCall } } }";
        let report = app.graphql(Some(&admin), validate, json!({"l": list, "at": MIDDAY})).await;
        let report = &report.data()["validateContacts"];
        assert_eq!(report["total"], 3);
        assert_eq!(report["callableNow"], 1);
        assert_eq!(report["neverCallable"], 2, "{report}");
        assert_eq!(report["verdicts"].as_array().unwrap().len(), 2);
        let by_reason: Vec<(String, i64)> = report["byReason"].as_array().unwrap().iter()
            .map(|r| (r["code"].as_str().unwrap().to_owned(), r["count"].as_i64().unwrap())).collect();
        assert!(by_reason.contains(&("NATIONAL_DNC".into(), 1)), "{by_reason:?}");
        assert!(by_reason.contains(&("NO_CONSENT_WIRELESS".into(), 2)), "{by_reason:?}");

        // 2026-06-15T05:00Z is 22:00 in San Francisco and 01:00 on the 15th in New York (the call
        // centre's zone): the consented number opens at 08:00 in San Francisco, the same day.
        let night = app.graphql(Some(&admin), validate, json!({"l": list, "at": "2026-06-15T05:00:00Z"})).await;
        assert_eq!(night.data()["validateContacts"]["callableLaterToday"], 1);

        // Another tenant's list and campaign are not found.
        let globex = token("globex", ADMIN);
        assert_eq!(app.graphql(Some(&globex), validate, json!({"l": list})).await.code(), "NOT_FOUND");
        let campaign = app.create_campaign(&admin, "Acme", &list).await;
        assert_eq!(app.graphql(Some(&globex), CHECK, json!({"n": "4155552671", "c": campaign})).await.code(), "NOT_FOUND");
        let neither = app.graphql(Some(&admin), "mutation { validateContacts { total } }", json!({})).await;
        assert_eq!(neither.code(), "BAD_USER_INPUT");
    }
}

/// A Telnyx Number Lookup stand-in: `+14155552671` is a fixed line, every other number mobile;
/// counts the lookups it answers and refuses a wrong key.
async fn fake_number_lookup() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let answer = |State(hits): State<std::sync::Arc<AtomicUsize>>, Path(number): Path<String>, headers: HeaderMap| async move {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer lookup-key") {
            return Err(StatusCode::UNAUTHORIZED);
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let kind = if number == "+14155552671" { "fixed line" } else { "mobile" };
        Ok(axum::Json(json!({"data": {"record_type": "number_lookup", "phone_number": number,
            "carrier": {"name": "Test", "normalized_carrier": "Test Carrier", "type": kind}}})))
    };
    let router =
        axum::Router::new().route("/v2/number_lookup/{number}", axum::routing::get(answer)).with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, hits)
}

backend_tests! {
    async fn line_types_come_from_number_lookup_and_are_cached(backend) {
        use chrono::{Datelike, Duration, Utc, Weekday};
        use std::sync::atomic::Ordering;
        let (lookup_url, hits) = fake_number_lookup().await;
        // A fresh registry copy, and a Tuesday 19:00 UTC (11:00 in San Francisco) after the
        // lookups happen (an answer counts only from when it was given).
        let today = Utc::now().date_naive();
        let dir = tempfile::tempdir().unwrap();
        let snapshot = dir.path().join("dnc.snapshot");
        let mut registry = DncRegistry::new();
        let options = ImportOptions { list: dnc::NATIONAL.into(), kind: ListKind::Full, downloaded_on: today, area_codes: vec![415] };
        registry.import("".as_bytes(), &options, &mut |_| {}).unwrap();
        registry.write_snapshot(&snapshot).unwrap();
        let tuesday = (1..=8).map(|d| today + Duration::days(d)).find(|d| d.weekday() == Weekday::Tue).unwrap();
        let at = format!("{tuesday}T19:00:00+00:00");
        let app = spawn_app_with(backend, |config| {
            config.dnc_snapshot = Some(snapshot.clone());
            config.telnyx_api_key = Some("lookup-key".to_owned().into());
            config.telnyx_api_url = lookup_url.clone();
        })
        .await;
        let admin = token("acme", ADMIN);

        let landline = check(&app, &admin, "415-555-2671", &at).await;
        assert_eq!(landline["lineType"], "LANDLINE");
        assert_eq!(landline["safeToCall"], true, "a landline needs no written consent for a live predictive call: {landline}");
        let mobile = check(&app, &admin, "415-555-2672", &at).await;
        assert_eq!(mobile["lineType"], "WIRELESS");
        assert_eq!(codes(&mobile), ["NO_CONSENT_WIRELESS"]);
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        // The answer is kept: asking again costs no lookup.
        check(&app, &admin, "415-555-2671", &at).await;
        assert_eq!(hits.load(Ordering::SeqCst), 2);

        // A list is never looked up number by number (each lookup is billed): unknown counts as wireless.
        let report = app.graphql(Some(&admin), "mutation($at: DateTime) { validateContacts(phoneNumbers: [\"4155552673\", \"4155552674\"], at: $at) \
            { verdicts { lineType reasons { code } } } }", json!({"at": at})).await;
        assert_eq!(report.data()["validateContacts"]["verdicts"][0]["lineType"], "UNKNOWN");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}

backend_tests! {
    async fn tenant_settings_change_the_verdicts(backend) {
        let (app, _dir) = app_with_registry(backend).await;
        let admin = token("acme", ADMIN);
        app.graphql(Some(&admin), "mutation { recordConsent(input: {phoneNumber: \"4155552671\", kind: PRIOR_EXPRESS_WRITTEN, \
            capturedAt: \"2026-06-01T00:00:00Z\"}) { id } }", json!({})).await.data();
        // Months after the download, the copy of 415 is stale: blocked by default (a number with
        // written consent is exempt from the National DNC, so this one has none).
        let stale = check(&app, &admin, "4155552672", LATER).await;
        assert!(codes(&stale).contains(&"NATIONAL_DNC".into()), "{stale}");

        let update = "mutation($input: ComplianceSettingsInput!) { updateComplianceSettings(input: $input) \
                      { staleRegistry callingWindowStart callingWindowEnd allowCanada } }";
        let supervisor = token("acme", &["supervisor"]);
        assert_eq!(app.graphql(Some(&supervisor), update, json!({"input": {"staleRegistry": "WARN"}})).await.code(), "FORBIDDEN");
        let warned = app.graphql(Some(&admin), update, json!({"input": {"staleRegistry": "WARN"}})).await;
        assert_eq!(warned.data()["updateComplianceSettings"]["staleRegistry"], "WARN");
        let with_warning = app.graphql(Some(&admin), "query($n: String!, $at: DateTime) { complianceCheck(phoneNumber: $n, at: $at) \
            { safeToCall warnings reasons { code } } }", json!({"n": "4155552672", "at": LATER})).await;
        let verdict = &with_warning.data()["complianceCheck"];
        assert_eq!(verdict["reasons"], json!([{"code": "NO_CONSENT_WIRELESS"}]), "{verdict}");
        assert!(!verdict["warnings"].as_array().unwrap().is_empty(), "{verdict}");

        // The tenant's own window narrows the rules' (11:00 in San Francisco is outside 12:00-16:00).
        let window = app.graphql(Some(&admin), update, json!({"input": {"callingWindowStart": "12:00", "callingWindowEnd": "16:00"}})).await;
        assert_eq!(window.data()["updateComplianceSettings"]["callingWindowStart"], "12:00");
        assert_eq!(window.data()["updateComplianceSettings"]["staleRegistry"], "WARN", "other settings stay");
        let narrowed = check(&app, &admin, "4155552671", LATER).await;
        assert_eq!(codes(&narrowed), ["OUTSIDE_CALLING_HOURS"], "{narrowed}");
        let half = app.graphql(Some(&admin), update, json!({"input": {"callingWindowStart": "12:00"}})).await;
        assert_eq!(half.code(), "BAD_USER_INPUT");
        let other = app.graphql(Some(&token("globex", ADMIN)), "{ complianceSettings { staleRegistry callingWindowStart } }", json!({})).await;
        assert_eq!(other.data()["complianceSettings"], json!({"staleRegistry": "BLOCK", "callingWindowStart": null}));
    }
}
