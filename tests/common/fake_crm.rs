//! Fake Salesforce, HubSpot and signed-webhook CRM servers (axum, port 0) that follow the contracts in
//! research/apis.md §3–4, including their failures (expired tokens, limits, outages, slow or
//! malformed answers). Their state is shared so tests can inspect what arrived and flip failures.
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
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "consumer-key";
pub const CLIENT_SECRET: &str = "sf-client-secret-XYZZY";
pub const REFRESH_TOKEN: &str = "5Aep861-refresh-PLUGH";
pub const HS_TOKEN: &str = "pat-na1-SECRET-FROBOZZ";
pub const HOOK_SECRET: &str = "whsec-GRUE";

/// Serves the router `make` builds (it gets the base URL) on a random port; returns the base URL.
pub async fn serve(make: impl FnOnce(String) -> Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = make(base.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

pub fn bearer(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").into()
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

// ---------------------------------------------------------------- fake Salesforce

#[derive(Default)]
pub struct Sf {
    pub base: String,
    pub valid_token: String,
    pub token_requests: u32,
    /// The first token issued is already expired (the API answers 401 to it).
    pub expire_first_token: bool,
    pub unauthorized: u32,
    pub invalid_grant: bool,
    pub limit_exceeded: bool,
    pub unavailable: bool,
    /// Searches answer 200 with a body that is not the documented JSON.
    pub malformed: bool,
    pub delay: Option<Duration>,
    /// Task creation answers only after this long, the Task already made (a lost response).
    pub answer_created_after: Option<Duration>,
    pub tasks: Vec<Value>,
    /// Task ids by CallObject (the idempotency query's index).
    pub task_by_call: HashMap<String, Value>,
    pub soql: Vec<String>,
    pub sosl: Vec<String>,
    pub patches: Vec<(String, String, Value)>,
}

pub type SfState = Arc<Mutex<Sf>>;

fn sf_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!([{"message": message, "errorCode": code}]))).into_response()
}

async fn sf_token(State(s): State<SfState>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = s.lock().unwrap();
    assert_eq!(f.get("grant_type").map(String::as_str), Some("refresh_token"));
    assert_eq!(f.get("client_id").map(String::as_str), Some(CLIENT_ID));
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
    let records: Vec<Value> =
        s.task_by_call.get(&wanted).map(|id| json!({"attributes": {"type": "Task"}, "Id": id})).into_iter().collect();
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
    let (id, wait) = {
        let mut s = s.lock().unwrap();
        let id = format!("00T{:012}", s.tasks.len() + 1);
        task["Id"] = json!(id);
        if let Some(call) = task["CallObject"].as_str() {
            s.task_by_call.insert(call.to_owned(), json!(id));
        }
        s.tasks.push(task);
        (id, s.answer_created_after)
    };
    if let Some(wait) = wait {
        tokio::time::sleep(wait).await;
    }
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

/// A fake Salesforce org configured by `configure`; returns its state and base URL (the login
/// and instance URL at once).
pub async fn salesforce_server(configure: impl FnOnce(&mut Sf)) -> (SfState, String) {
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
    (state, base)
}

// ---------------------------------------------------------------- fake HubSpot

#[derive(Default)]
pub struct Hs {
    pub contacts: Vec<Value>,
    pub calls: Vec<Value>,
    pub searches: Vec<Value>,
    pub patches: Vec<(String, Value)>,
    pub rate_limited: bool,
    pub requests: u32,
}

pub type HsState = Arc<Mutex<Hs>>;

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

async fn hs_list_contacts(State(s): State<HsState>, h: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(r) = hs_gate(&mut s, &h) {
        return r;
    }
    let results: Vec<Value> = s.contacts.iter().take(1).cloned().collect();
    Json(json!({"results": results})).into_response()
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

/// A fake HubSpot portal with one contact (Ann Lee, mobile +14155551212) configured by
/// `configure`; returns its state and base URL.
pub async fn hubspot_server(configure: impl FnOnce(&mut Hs)) -> (HsState, String) {
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
            .route("/crm/v3/objects/contacts", get(hs_list_contacts))
            .route("/crm/v3/objects/contacts/search", post(hs_contact_search))
            .route("/crm/v3/objects/contacts/{id}", patch(hs_patch_contact))
            .route("/crm/v3/objects/calls", post(hs_create_call))
            .route("/crm/v3/objects/calls/search", post(hs_call_search))
            .with_state(st)
    })
    .await;
    (state, base)
}

#[derive(Default)]
pub struct Hook {
    pub bodies: Vec<(String, Value)>,
    pub bad_signatures: u32,
}

async fn hook_handler(
    State(s): State<Arc<Mutex<Hook>>>,
    Path(action): Path<String>,
    h: HeaderMap,
    body: String,
) -> Response {
    let ts = h.get(outdial::crm::webhook::TIMESTAMP_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let sig = h.get(outdial::crm::webhook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let now = chrono::Utc::now().timestamp();
    let mut s = s.lock().unwrap();
    if !outdial::crm::webhook::verify(HOOK_SECRET.as_bytes(), ts, sig, body.as_bytes(), now, Duration::from_secs(300)) {
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

/// A CRM behind the signed-webhook connector at `{base}/crm/{action}` (secret [`HOOK_SECRET`]):
/// it knows Ann Lee (+14155551212, ref 77) under `/data/customer` and answers an activity with
/// `{"result": {"activity": "act-1"}}`; every verified request is kept.
pub async fn webhook_server() -> (Arc<Mutex<Hook>>, String) {
    let state: Arc<Mutex<Hook>> = Arc::default();
    let st = state.clone();
    let base = serve(move |_| Router::new().route("/crm/{action}", post(hook_handler)).with_state(st)).await;
    (state, base)
}
