//! Connectors against fake Salesforce, HubSpot and webhook servers (axum, port 0) that follow
//! the contracts in research/apis.md §3–4, including their failures.
// The fakes short-circuit with a ready axum `Response` as the error; its size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use outdial::crm::hubspot::{HubSpot, HubSpotConfig};
use outdial::crm::salesforce::{Salesforce, SalesforceConfig};
use outdial::crm::webhook::{self, Webhook, WebhookConfig};
use outdial::crm::{self, CallActivity, CrmConnector, CrmError, ExternalId, FieldChanges};
use secrecy::SecretString;
use serde_json::{Value, json};

const CLIENT_SECRET: &str = "sf-client-secret-XYZZY";
const REFRESH_TOKEN: &str = "5Aep861-refresh-PLUGH";
const HS_TOKEN: &str = "pat-na1-SECRET-FROBOZZ";
const HOOK_SECRET: &str = "whsec-GRUE";

async fn serve(make: impl FnOnce(String) -> Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = make(base.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

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

fn bearer(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").into()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

// ---------------------------------------------------------------- fake Salesforce

#[derive(Default)]
struct Sf {
    base: String,
    valid_token: String,
    token_requests: u32,
    /// The first token issued is already expired (the API answers 401 to it).
    expire_first_token: bool,
    unauthorized: u32,
    invalid_grant: bool,
    limit_exceeded: bool,
    unavailable: bool,
    /// Searches answer 200 with a body that is not the documented JSON.
    malformed: bool,
    delay: Option<Duration>,
    tasks: Vec<Value>,
    soql: Vec<String>,
    sosl: Vec<String>,
    patches: Vec<(String, String, Value)>,
}

type SfState = Arc<Mutex<Sf>>;

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!([{"message": message, "errorCode": code}]))).into_response()
}

async fn sf_token(State(s): State<SfState>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = s.lock().unwrap();
    assert_eq!(f.get("grant_type").map(String::as_str), Some("refresh_token"));
    assert_eq!(f.get("client_id").map(String::as_str), Some("consumer-key"));
    assert_eq!(f.get("client_secret").map(String::as_str), Some(CLIENT_SECRET));
    if s.invalid_grant || f.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN) {
        let body = json!({"error": "invalid_grant", "error_description": "expired access/refresh token"});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    s.token_requests += 1;
    let token = format!("00Dfake!AQ-access-{}", s.token_requests);
    if !(s.expire_first_token && s.token_requests == 1) {
        s.valid_token = token.clone();
    }
    Json(json!({"access_token": token, "instance_url": s.base, "id": "https://login/id/00D/005",
                "token_type": "Bearer", "issued_at": "1708058728442", "signature": "c2ln", "scope": "api refresh_token"}))
    .into_response()
}

/// Limit, outage, delay and session checks shared by every data route.
async fn sf_gate(s: &SfState, h: &HeaderMap) -> Result<(), Response> {
    let delay = s.lock().unwrap().delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut s = s.lock().unwrap();
    if s.limit_exceeded {
        return Err(sf_error(StatusCode::FORBIDDEN, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."));
    }
    if s.unavailable {
        return Err(sf_error(StatusCode::SERVICE_UNAVAILABLE, "SERVER_UNAVAILABLE", "overloaded"));
    }
    if s.valid_token.is_empty() || bearer(h) != s.valid_token {
        s.unauthorized += 1;
        return Err(sf_error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid"));
    }
    Ok(())
}

fn sf_people() -> Vec<Value> {
    vec![
        json!({"attributes": {"type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q1"},
               "Id": "00Q000000000001", "Name": "Lee Lead", "Phone": "415.555.1212", "MobilePhone": null}),
        json!({"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/0031"},
               "Id": "003000000000001", "Name": "Ann Lee", "Phone": "(415) 555-1212", "MobilePhone": null}),
        json!({"attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/0032"},
               "Id": "003000000000002", "Name": "Bo Other", "Phone": "(212) 555-0000", "MobilePhone": null}),
    ]
}

async fn sf_search(State(s): State<SfState>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = sf_gate(&s, &h).await {
        return r;
    }
    let sosl = q.get("q").cloned().unwrap_or_default();
    if s.lock().unwrap().malformed {
        return (StatusCode::OK, "<html>maintenance</html>").into_response();
    }
    s.lock().unwrap().sosl.push(sosl.clone());
    let term = sosl.split_once('{').and_then(|(_, r)| r.split_once('}')).map(|(t, _)| t.replace('\\', "")).unwrap();
    let records: Vec<Value> = sf_people()
        .into_iter()
        .filter(|r| {
            ["Phone", "MobilePhone"].iter().any(|f| r[f].as_str().is_some_and(|p| digits(p).ends_with(&digits(&term))))
        })
        .collect();
    Json(json!({"searchRecords": records})).into_response()
}

/// The value of a SOQL string literal up to its closing quote, backslash escapes undone.
fn soql_literal(rest: &str) -> String {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '\'' => return out,
            c => out.push(c),
        }
    }
    panic!("unterminated SOQL literal: {rest}")
}

async fn sf_query(State(s): State<SfState>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = sf_gate(&s, &h).await {
        return r;
    }
    let soql = q.get("q").cloned().unwrap_or_default();
    let mut s = s.lock().unwrap();
    s.soql.push(soql.clone());
    let wanted = soql_literal(soql.split_once("CallObject = '").unwrap().1);
    let records: Vec<Value> = s
        .tasks
        .iter()
        .filter(|t| t["CallObject"] == wanted.as_str())
        .map(|t| json!({"attributes": {"type": "Task"}, "Id": t["Id"]}))
        .collect();
    Json(json!({"totalSize": records.len(), "done": true, "records": records})).into_response()
}

async fn sf_create_task(State(s): State<SfState>, h: HeaderMap, Json(mut task): Json<Value>) -> Response {
    if let Err(r) = sf_gate(&s, &h).await {
        return r;
    }
    for (field, want) in [("TaskSubtype", "Call"), ("CallType", "Outbound"), ("Status", "Completed")] {
        assert_eq!(task[field], want, "{field}");
    }
    for field in ["Subject", "WhoId", "ActivityDate", "CallDisposition", "CallObject", "Description"] {
        assert!(task[field].is_string(), "{field} missing in {task}");
    }
    assert!(task["CallDurationInSeconds"].is_u64());
    let mut s = s.lock().unwrap();
    let id = format!("00T00000000000{}", s.tasks.len() + 1);
    task["Id"] = json!(id);
    s.tasks.push(task);
    (StatusCode::CREATED, Json(json!({"id": id, "success": true, "errors": []}))).into_response()
}

async fn sf_patch(
    State(s): State<SfState>,
    h: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
    Json(b): Json<Value>,
) -> Response {
    if let Err(r) = sf_gate(&s, &h).await {
        return r;
    }
    if b.get("Bogus__c").is_some() {
        // Some orgs' error messages echo the request; the connector must scrub it.
        let msg = format!("No such column 'Bogus__c'; request had Authorization: Bearer {}", bearer(&h));
        return sf_error(StatusCode::BAD_REQUEST, "INVALID_FIELD", &msg);
    }
    s.lock().unwrap().patches.push((kind, id, b));
    StatusCode::NO_CONTENT.into_response()
}

async fn sf_limits(State(s): State<SfState>, h: HeaderMap) -> Response {
    if let Err(r) = sf_gate(&s, &h).await {
        return r;
    }
    Json(json!({"DailyApiRequests": {"Max": 15000, "Remaining": 14999}})).into_response()
}

async fn fake_salesforce(configure: impl FnOnce(&mut Sf)) -> (SfState, Salesforce) {
    let state: SfState = Arc::default();
    configure(&mut state.lock().unwrap());
    let st = state.clone();
    let base = serve(move |base| {
        st.lock().unwrap().base = base;
        Router::new()
            .route("/services/oauth2/token", post(sf_token))
            .route("/services/data/v62.0/search/", get(sf_search))
            .route("/services/data/v62.0/query/", get(sf_query))
            .route("/services/data/v62.0/sobjects/Task/", post(sf_create_task))
            .route("/services/data/v62.0/sobjects/{kind}/{id}", patch(sf_patch))
            .route("/services/data/v62.0/limits/", get(sf_limits))
            .with_state(st)
    })
    .await;
    let mut cfg = SalesforceConfig::new(
        format!("{base}/services/oauth2/token").parse().unwrap(),
        "consumer-key",
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

// ---------------------------------------------------------------- fake HubSpot

#[derive(Default)]
struct Hs {
    contacts: Vec<Value>,
    calls: Vec<Value>,
    searches: Vec<Value>,
    patches: Vec<(String, Value)>,
    rate_limited: bool,
    requests: u32,
}

type HsState = Arc<Mutex<Hs>>;

fn hs_gate(s: &mut Hs, h: &HeaderMap) -> Result<(), Response> {
    s.requests += 1;
    if bearer(h) != HS_TOKEN {
        let body = json!({"status": "error", "message": "Authentication credentials not found.",
                          "correlationId": "c0", "category": "INVALID_AUTHENTICATION"});
        return Err((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    if s.rate_limited {
        let body = json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                          "errorType": "RATE_LIMIT", "correlationId": "c1", "policyName": "TEN_SECONDLY_ROLLING"});
        let headers = [
            ("Retry-After", "3"),
            ("X-HubSpot-RateLimit-Max", "100"),
            ("X-HubSpot-RateLimit-Remaining", "0"),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", "10000"),
        ];
        return Err((StatusCode::TOO_MANY_REQUESTS, headers, Json(body)).into_response());
    }
    Ok(())
}

/// OR of filter groups, AND of filters, EQ only; values compared as strings.
fn hs_filter(objects: &[Value], body: &Value) -> Vec<Value> {
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    assert!(groups.len() <= 5, "at most 5 filterGroups");
    objects
        .iter()
        .filter(|o| {
            groups.iter().any(|g| {
                g["filters"].as_array().unwrap().iter().all(|f| {
                    assert_eq!(f["operator"], "EQ");
                    o["properties"][f["propertyName"].as_str().unwrap()] == f["value"]
                })
            })
        })
        .cloned()
        .collect()
}

async fn hs_contact_search(State(s): State<HsState>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = hs_gate(&mut s, &h) {
        return r;
    }
    s.searches.push(b.clone());
    let results = hs_filter(&s.contacts, &b);
    Json(json!({"total": results.len(), "results": results})).into_response()
}

async fn hs_call_search(State(s): State<HsState>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = hs_gate(&mut s, &h) {
        return r;
    }
    let results = hs_filter(&s.calls, &b);
    Json(json!({"total": results.len(), "results": results})).into_response()
}

async fn hs_create_call(State(s): State<HsState>, h: HeaderMap, Json(b): Json<Value>) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = hs_gate(&mut s, &h) {
        return r;
    }
    let p = &b["properties"];
    assert!(p["hs_timestamp"].is_string(), "hs_timestamp is required");
    for (k, v) in p.as_object().unwrap() {
        assert!(v.is_string(), "property {k} must be a string");
    }
    let id = format!("{}", 9000 + s.calls.len());
    let mut call = json!({"id": id, "properties": p.clone(), "associations": b["associations"].clone(),
                          "createdAt": "2026-09-01T12:00:01.000Z", "updatedAt": "2026-09-01T12:00:01.000Z", "archived": false});
    call["properties"]["hs_object_id"] = json!(id);
    s.calls.push(call.clone());
    (StatusCode::CREATED, Json(call)).into_response()
}

async fn hs_patch_contact(
    State(s): State<HsState>,
    h: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<Value>,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = hs_gate(&mut s, &h) {
        return r;
    }
    let Some(c) = s.contacts.iter().find(|c| c["id"] == id.as_str()).cloned() else {
        let body = json!({"status": "error", "message": "Object not found", "correlationId": "c2", "category": "OBJECT_NOT_FOUND"});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    s.patches.push((id, b));
    Json(c).into_response()
}

async fn fake_hubspot(configure: impl FnOnce(&mut Hs), token: &str) -> (HsState, HubSpot) {
    let (state, hs, _) = fake_hubspot_at(configure, token).await;
    (state, hs)
}

async fn fake_hubspot_at(configure: impl FnOnce(&mut Hs), token: &str) -> (HsState, HubSpot, String) {
    let state: HsState = Arc::default();
    {
        let mut s = state.lock().unwrap();
        s.contacts.push(json!({"id": "501", "properties": {"firstname": "Ann", "lastname": "Lee",
            "phone": "(415) 555-0000", "mobilephone": "+14155551212",
            "hs_searchable_calculated_phone_number": "4155550000",
            "hs_searchable_calculated_mobile_number": "4155551212", "hs_object_id": "501"}}));
        configure(&mut s);
    }
    let st = state.clone();
    let base = serve(move |_| {
        Router::new()
            .route("/crm/v3/objects/contacts/search", post(hs_contact_search))
            .route("/crm/v3/objects/contacts/{id}", patch(hs_patch_contact))
            .route("/crm/v3/objects/calls", post(hs_create_call))
            .route("/crm/v3/objects/calls/search", post(hs_call_search))
            .with_state(st)
    })
    .await;
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

#[derive(Default)]
struct Hook {
    bodies: Vec<(String, Value)>,
    bad_signatures: u32,
}

async fn hook_handler(
    State(s): State<Arc<Mutex<Hook>>>,
    Path(action): Path<String>,
    h: HeaderMap,
    body: String,
) -> Response {
    let ts = h.get(webhook::TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let sig = h.get(webhook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    let mut s = s.lock().unwrap();
    if !webhook::verify(HOOK_SECRET.as_bytes(), ts, sig, body.as_bytes(), now, Duration::from_secs(300)) {
        s.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    s.bodies.push((action.clone(), v.clone()));
    match action.as_str() {
        "lookup" if v["phone"] == "+14155551212" => Json(
            json!({"data": {"customer": {"ref": 77, "full_name": "Ann Lee", "tel": "+14155551212", "tier": "gold"}}}),
        )
        .into_response(),
        "lookup" => StatusCode::NOT_FOUND.into_response(),
        "activities" => {
            assert_eq!(h.get("idempotency-key").unwrap(), v["external"]["call"].as_str().unwrap());
            Json(json!({"result": {"activity": "act-1"}})).into_response()
        }
        _ => Json(json!({})).into_response(),
    }
}

#[tokio::test]
async fn webhook_requests_are_signed_and_mapped() {
    let state: Arc<Mutex<Hook>> = Arc::default();
    let st = state.clone();
    let base = serve(move |_| Router::new().route("/crm/{action}", post(hook_handler)).with_state(st)).await;
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
    let state: Arc<Mutex<Hook>> = Arc::default();
    let st = state.clone();
    let base = serve(move |_| Router::new().route("/crm/{action}", post(hook_handler)).with_state(st)).await;
    let hook = Webhook::new(WebhookConfig::new(format!("{base}/crm").parse().unwrap(), SecretString::from("nope")));
    assert_eq!(hook.test_credentials().await, Err(CrmError::Auth));
    assert_eq!(state.lock().unwrap().bad_signatures, 1);
}

// ---------------------------------------------------------------- delivery

#[tokio::test]
async fn deliver_looks_up_the_person_and_logs_once_through_a_trait_object() {
    let (state, hs) = fake_hubspot(|_| {}, HS_TOKEN).await;
    let connector: Arc<dyn CrmConnector> = Arc::new(hs);
    let a = activity("v3:session-3", None);
    let id = crm::delivery::deliver(connector.as_ref(), &a).await.unwrap();
    assert_eq!(crm::delivery::deliver(connector.as_ref(), &a).await.unwrap(), id);
    let s = state.lock().unwrap();
    assert_eq!(s.calls.len(), 1);
    assert_eq!(s.calls[0]["associations"][0]["to"]["id"], "501");
}
