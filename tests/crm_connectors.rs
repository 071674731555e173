//! Connectors against fake Salesforce, HubSpot and webhook servers (axum, port 0) that follow
//! the contracts in research/apis.md §3–4, including their failures.

mod common;

use std::time::Duration;

use common::fake_crm::{
    CLIENT_ID, CLIENT_SECRET, HOOK_SECRET, HS_TOKEN, Hs, HsState, REFRESH_TOKEN, Sf, SfState, hubspot_server,
    salesforce_server, webhook_server,
};
use outdial::crm::hubspot::{HubSpot, HubSpotConfig};
use outdial::crm::salesforce::{Salesforce, SalesforceConfig};
use outdial::crm::webhook::{Webhook, WebhookConfig};
use outdial::crm::{self, CallActivity, CrmConnector, CrmError, ExternalId, FieldChanges};
use secrecy::SecretString;
use serde_json::json;

fn activity(call_id: &str, who: Option<&str>) -> CallActivity {
    CallActivity {
        call_id: call_id.to_owned(),
        who: who.map(ExternalId::from),
        started_at: chrono::DateTime::parse_from_rfc3339("2026-09-01T12:00:00Z").unwrap().into(),
        duration: Duration::from_secs(125),
        disposition: "Connected".to_owned(),
        subject: "Outbound call – Connected".to_owned(),
        notes: "AMD=human; interested".to_owned(),
        from_number: Some("+13125550100".to_owned()),
        to_number: "+14155551212".to_owned(),
    }
}

async fn fake_salesforce(configure: impl FnOnce(&mut Sf)) -> (SfState, Salesforce) {
    let (state, base) = salesforce_server(configure).await;
    let mut cfg = SalesforceConfig::new(
        format!("{base}/services/oauth2/token").parse().unwrap(),
        CLIENT_ID,
        SecretString::from(CLIENT_SECRET),
        SecretString::from(REFRESH_TOKEN),
    );
    cfg.timeout = Duration::from_millis(1500);
    (state, Salesforce::new(cfg))
}

#[tokio::test]
async fn salesforce_refreshes_an_expired_token_once_then_succeeds() {
    let (state, sf) = fake_salesforce(|s| s.expire_first_token = true).await;
    let rec = sf.find_by_phone("+14155551212").await.unwrap().expect("a match");
    assert_eq!(rec.id.as_str(), "003000000000001", "Contact preferred over Lead");
    assert_eq!(rec.kind, "Contact");
    assert_eq!(rec.name.as_deref(), Some("Ann Lee"));
    let s = state.lock().unwrap();
    assert_eq!(s.token_requests, 2, "one initial token, one refresh after 401");
    assert_eq!(s.unauthorized, 1, "the stale token was refused once");
    assert_eq!(s.sosl.len(), 1, "then the request was retried once, with the new token");
    assert!(s.sosl[0].starts_with("FIND {4155551212} IN PHONE FIELDS RETURNING Contact(Id, Name"), "{}", s.sosl[0]);
    assert!(s.sosl[0].contains("Lead(Id, Name"));
}

#[tokio::test]
async fn salesforce_unknown_number_is_none() {
    let (_, sf) = fake_salesforce(|_| {}).await;
    assert_eq!(sf.find_by_phone("+19995550123").await.unwrap(), None);
}

#[tokio::test]
async fn salesforce_revoked_refresh_token_is_auth() {
    let (_, sf) = fake_salesforce(|s| s.invalid_grant = true).await;
    assert_eq!(sf.test_credentials().await, Err(CrmError::Auth));
}

#[tokio::test]
async fn salesforce_test_credentials_succeeds() {
    let (_, sf) = fake_salesforce(|_| {}).await;
    sf.test_credentials().await.unwrap();
}

#[tokio::test]
async fn salesforce_retried_log_call_creates_one_task() {
    let (state, sf) = fake_salesforce(|_| {}).await;
    let a = activity("v3:session-'1'", Some("003000000000001"));
    let first = sf.log_call(&a).await.unwrap();
    let second = sf.log_call(&a).await.unwrap();
    assert_eq!(first, second);
    let s = state.lock().unwrap();
    assert_eq!(s.tasks.len(), 1);
    let t = &s.tasks[0];
    assert_eq!(t["CallObject"], "v3:session-'1'");
    assert_eq!(t["WhoId"], "003000000000001");
    assert_eq!(t["CallDurationInSeconds"], 125);
    assert_eq!(t["ActivityDate"], "2026-09-01");
    assert_eq!(t["CallDisposition"], "Connected");
    assert_eq!(s.soql[0], r"SELECT Id FROM Task WHERE CallObject = 'v3:session-\'1\'' LIMIT 1");
}

#[tokio::test]
async fn salesforce_update_patches_the_contact() {
    let (state, sf) = fake_salesforce(|_| {}).await;
    let changes = FieldChanges::new().set("DoNotCall", true);
    sf.update(&ExternalId::from("003000000000001"), &changes).await.unwrap();
    sf.update(&ExternalId::from("00Q000000000001"), &changes).await.unwrap();
    let s = state.lock().unwrap();
    assert_eq!(s.patches[0], ("Contact".into(), "003000000000001".into(), json!({"DoNotCall": true})));
    assert_eq!(s.patches[1].0, "Lead");
}

#[tokio::test]
async fn salesforce_request_limit_exceeded_is_rate_limited() {
    let (_, sf) = fake_salesforce(|s| s.limit_exceeded = true).await;
    assert_eq!(sf.find_by_phone("+14155551212").await, Err(CrmError::RateLimited { retry_after: None }));
}

#[tokio::test]
async fn salesforce_5xx_is_unavailable() {
    let (_, sf) = fake_salesforce(|s| s.unavailable = true).await;
    assert!(matches!(sf.log_call(&activity("c", None)).await, Err(CrmError::Unavailable(_))));
}

#[tokio::test]
async fn salesforce_malformed_body_is_unavailable() {
    let (_, sf) = fake_salesforce(|s| s.malformed = true).await;
    assert!(matches!(sf.find_by_phone("+14155551212").await, Err(CrmError::Unavailable(_))));
}

#[tokio::test]
async fn salesforce_slow_org_times_out() {
    let (_, sf) = fake_salesforce(|s| s.delay = Some(Duration::from_secs(3))).await;
    let t0 = std::time::Instant::now();
    assert_eq!(sf.log_call(&activity("c", None)).await, Err(CrmError::Timeout));
    assert!(t0.elapsed() < Duration::from_millis(2500), "the configured 1.5 s bounds the call");
    // Screen pop passes its own, shorter deadline.
    let t0 = std::time::Instant::now();
    let r = crm::find_for_screen_pop(&sf, "+14155551212", Duration::from_millis(200)).await;
    assert_eq!(r, Err(CrmError::Timeout));
    assert!(t0.elapsed() < Duration::from_millis(1000));
}

async fn fake_hubspot(configure: impl FnOnce(&mut Hs), token: &str) -> (HsState, HubSpot) {
    let (state, hs, _) = fake_hubspot_at(configure, token).await;
    (state, hs)
}

async fn fake_hubspot_at(configure: impl FnOnce(&mut Hs), token: &str) -> (HsState, HubSpot, String) {
    let (state, base) = hubspot_server(configure).await;
    let mut cfg = HubSpotConfig::new(base.parse().unwrap(), SecretString::from(token));
    cfg.timeout = Duration::from_millis(1500);
    (state, HubSpot::new(cfg), base)
}

#[tokio::test]
async fn hubspot_finds_a_contact_by_mobile_phone() {
    let (state, hs) = fake_hubspot(|_| {}, HS_TOKEN).await;
    let rec = hs.find_by_phone("+14155551212").await.unwrap().expect("a match");
    assert_eq!(rec.id.as_str(), "501");
    assert_eq!(rec.name.as_deref(), Some("Ann Lee"));
    let s = state.lock().unwrap();
    let groups = &s.searches[0]["filterGroups"];
    assert_eq!(groups[0]["filters"][0], json!({"propertyName": "phone", "operator": "EQ", "value": "+14155551212"}));
    assert_eq!(groups[1]["filters"][0]["propertyName"], "mobilephone");
}

#[tokio::test]
async fn hubspot_retried_log_call_creates_one_call_associated_with_the_contact() {
    let (state, hs) = fake_hubspot(|_| {}, HS_TOKEN).await;
    let a = activity("v3:session-2", Some("501"));
    let first = hs.log_call(&a).await.unwrap();
    assert_eq!(hs.log_call(&a).await.unwrap(), first);
    let s = state.lock().unwrap();
    assert_eq!(s.calls.len(), 1);
    let p = &s.calls[0]["properties"];
    assert_eq!(p["hs_call_duration"], "125000", "milliseconds");
    assert_eq!(p["hs_call_direction"], "OUTBOUND");
    assert_eq!(p["hs_call_status"], "COMPLETED");
    assert_eq!(p["hs_call_disposition"], "f240bbac-87c9-4f6e-bf70-924b57d47db7", "Connected GUID");
    assert_eq!(p["hs_timestamp"], "2026-09-01T12:00:00.000Z");
    assert_eq!(p["hs_call_title"], "Outbound call – Connected");
    assert_eq!(p["hs_call_body"], "AMD=human; interested");
    assert_eq!(p["hs_call_external_id"], "v3:session-2");
    assert_eq!(
        s.calls[0]["associations"],
        json!([{"to": {"id": "501"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}]}])
    );
}

#[tokio::test]
async fn hubspot_429_is_rate_limited_with_retry_after() {
    let (_, hs) = fake_hubspot(|s| s.rate_limited = true, HS_TOKEN).await;
    let err = hs.find_by_phone("+14155551212").await.unwrap_err();
    assert_eq!(err, CrmError::RateLimited { retry_after: Some(Duration::from_secs(3)) });
}

#[tokio::test]
async fn hubspot_update_patches_properties_and_missing_contact_is_not_found() {
    let (state, hs) = fake_hubspot(|_| {}, HS_TOKEN).await;
    let changes = FieldChanges::new().set("hs_lead_status", "ATTEMPTED_TO_CONTACT");
    hs.update(&ExternalId::from("501"), &changes).await.unwrap();
    assert_eq!(state.lock().unwrap().patches[0].1, json!({"properties": {"hs_lead_status": "ATTEMPTED_TO_CONTACT"}}));
    assert_eq!(hs.update(&ExternalId::from("404"), &changes).await, Err(CrmError::NotFound));
}

#[tokio::test]
async fn hubspot_client_limiter_spreads_a_burst_over_the_window() {
    let (state, _, base) = fake_hubspot_at(|_| {}, HS_TOKEN).await;
    let mut c = HubSpotConfig::new(base.parse().unwrap(), SecretString::from(HS_TOKEN));
    c.requests_per_window = 2;
    c.window = Duration::from_millis(400);
    let hs = HubSpot::new(c);
    let t0 = std::time::Instant::now();
    for _ in 0..3 {
        hs.find_by_phone("+14155551212").await.unwrap();
    }
    assert!(t0.elapsed() >= Duration::from_millis(400), "third request waited for the window");
    assert_eq!(state.lock().unwrap().requests, 3);
}

// ---------------------------------------------------------------- secrets never leak

#[tokio::test]
async fn no_error_or_debug_output_contains_a_secret() {
    let secrets = [CLIENT_SECRET, REFRESH_TOKEN, HS_TOKEN, "00Dfake!AQ-access", HOOK_SECRET];
    let mut outputs = Vec::new();

    let (_, sf) = fake_salesforce(|_| {}).await;
    let bad = FieldChanges::new().set("Bogus__c", 1);
    let e = sf.update(&ExternalId::from("003000000000001"), &bad).await.unwrap_err();
    assert!(matches!(e, CrmError::BadRequest(_)), "{e:?}");
    outputs.push(format!("{e} {e:?} {sf:?}"));
    let (_, sf) = fake_salesforce(|s| s.invalid_grant = true).await;
    let e = sf.find_by_phone("+14155551212").await.unwrap_err();
    assert_eq!(e, CrmError::Auth);
    outputs.push(format!("{e} {e:?} {sf:?}"));
    let (_, sf) = fake_salesforce(|s| s.unavailable = true).await;
    let e = sf.find_by_phone("+14155551212").await.unwrap_err();
    outputs.push(format!("{e} {e:?}"));

    let (_, hs) = fake_hubspot(|_| {}, "pat-na1-wrong-token-SECRET").await;
    let e = hs.find_by_phone("+14155551212").await.unwrap_err();
    assert_eq!(e, CrmError::Auth);
    outputs.push(format!("{e} {e:?} {hs:?}"));

    let hook = Webhook::new(WebhookConfig::new(
        format!("http://127.0.0.1:9/crm?key={HOOK_SECRET}").parse().unwrap(),
        SecretString::from(HOOK_SECRET),
    ));
    let e = hook.find_by_phone("+14155551212").await.unwrap_err();
    outputs.push(format!("{e} {e:?} {hook:?}"));

    for out in &outputs {
        for s in secrets.iter().chain(["pat-na1-wrong-token-SECRET"].iter()) {
            assert!(!out.contains(s), "{s:?} leaked in {out}");
        }
    }
}

// ---------------------------------------------------------------- webhook

#[tokio::test]
async fn webhook_requests_are_signed_and_mapped() {
    let (state, base) = webhook_server().await;
    let mut cfg = WebhookConfig::new(format!("{base}/crm").parse().unwrap(), SecretString::from(HOOK_SECRET));
    cfg.mapping.record = "/data/customer".into();
    cfg.mapping.id = "/ref".into();
    cfg.mapping.name = Some("/full_name".into());
    cfg.mapping.phone = Some("/tel".into());
    cfg.mapping.fields.insert("tier".into(), "/tier".into());
    cfg.mapping.activity_id = "/result/activity".into();
    cfg.activity_template = json!({"external": {"call": "{{call_id}}"}, "secs": "{{duration_seconds}}",
                                   "text": "{{disposition}}: {{notes}}"});
    let hook = Webhook::new(cfg);

    let rec = hook.find_by_phone("+14155551212").await.unwrap().unwrap();
    assert_eq!(rec.id.as_str(), "77");
    assert_eq!(rec.name.as_deref(), Some("Ann Lee"));
    assert_eq!(rec.phone.as_deref(), Some("+14155551212"));
    assert_eq!(rec.fields["tier"], "gold");
    assert_eq!(hook.find_by_phone("+19995550000").await.unwrap(), None);

    let id = hook.log_call(&activity("v3:s-9", Some("77"))).await.unwrap();
    assert_eq!(id.as_str(), "act-1");
    let s = state.lock().unwrap();
    assert_eq!(s.bad_signatures, 0);
    assert_eq!(
        s.bodies[2].1,
        json!({"external": {"call": "v3:s-9"}, "secs": 125, "text": "Connected: AMD=human; interested"})
    );
}

#[tokio::test]
async fn webhook_with_the_wrong_secret_is_rejected_as_auth() {
    let (state, base) = webhook_server().await;
    let hook = Webhook::new(WebhookConfig::new(format!("{base}/crm").parse().unwrap(), SecretString::from("nope")));
    assert_eq!(hook.test_credentials().await, Err(CrmError::Auth));
    assert_eq!(state.lock().unwrap().bad_signatures, 1);
}
