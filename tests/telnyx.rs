//! The Telnyx path against a fake Telnyx server (axum, random port) that follows the documented Call Control v2
//! contract, including its failures, and sends webhooks signed with an Ed25519 key pair made here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use ed25519_dalek::{Signer, SigningKey};
use outdial::clock::{Clock, SharedClock};
use outdial::telephony::telnyx::{TelnyxCarrier, TelnyxConfig};
use outdial::telephony::webhook::{
    Accepted, CallProgress, EventSink, MemoryDedupSink, Progress, SinkError, WebhookState, WebhookVerifier, router,
};
use outdial::telephony::{
    AgentEndpoint, CallId, CallLeg, Carrier, CarrierCallRef, CarrierError, CarrierEvent, CarrierEventKind, ClientState,
    DialRequest, HangupCause, SafeHarbor,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_KEY: &str = "KEY0123456789SECRETabcdef";
const CONNECTION: &str = "1494404757140276705";
/// Holds a `/`, a `+` and `=`, so the client must percent-encode it in paths.
const CALL_CONTROL_ID: &str = "v3:Md/I9+x4l==";

// ---------------------------------------------------------------------------------------------------------------
// The fake Telnyx server

#[derive(Debug, Clone)]
struct Recorded {
    method: &'static str,
    /// `dial`, `status` or the action name.
    action: String,
    call_control_id: Option<String>,
    auth: Option<String>,
    body: Value,
}

#[derive(Default)]
struct Fake {
    requests: Vec<Recorded>,
    /// Canned answers per action, used before the normal behaviour.
    script: HashMap<String, VecDeque<(u16, Value)>>,
    /// Commands already carried out, by (call_control_id or "dial", command_id): Telnyx runs each once.
    done: HashSet<(String, String)>,
    ended: HashSet<String>,
    /// Echo the Authorization header back in 401 errors (a misbehaving server).
    echo_auth: bool,
}

type FakeState = Arc<Mutex<Fake>>;

fn telnyx_error(status: u16, code: &str, title: &str) -> (u16, Value) {
    (status, json!({"errors": [{"code": code, "title": title, "detail": title}]}))
}

fn reply((status, body): (u16, Value)) -> (StatusCode, Json<Value>) {
    (StatusCode::from_u16(status).unwrap(), Json(body))
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> Result<(), (u16, Value)> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth == format!("Bearer {API_KEY}") && !fake.echo_auth {
        return Ok(());
    }
    let detail = if fake.echo_auth { format!("bad header {auth}") } else { "Authentication failed".into() };
    Err((401, json!({"errors": [{"code": "10009", "title": "Authentication failed", "detail": detail}]})))
}

fn record(fake: &mut Fake, method: &'static str, action: &str, id: Option<&str>, headers: &HeaderMap, body: &Value) {
    fake.requests.push(Recorded {
        method,
        action: action.into(),
        call_control_id: id.map(str::to_owned),
        auth: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: body.clone(),
    });
}

async fn dial(
    State(state): State<FakeState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut fake = state.lock().unwrap();
    record(&mut fake, "POST", "dial", None, &headers, &body);
    if let Err(error) = authorized(&fake, &headers) {
        return reply(error);
    }
    if let Some(canned) = fake.script.get_mut("dial").and_then(VecDeque::pop_front) {
        return reply(canned);
    }
    for field in ["connection_id", "to", "from"] {
        if !body[field].is_string() {
            return reply(telnyx_error(422, "10004", "Missing required parameter"));
        }
    }
    let timeout = body["timeout_secs"].as_u64().unwrap_or(30);
    let state_ok = body["client_state"].as_str().is_none_or(|s| BASE64.decode(s).is_ok());
    if !(5..=600).contains(&timeout) || !state_ok {
        return reply(telnyx_error(422, "10015", "Bad Request"));
    }
    let command = body["command_id"].as_str().unwrap_or_default().to_owned();
    fake.done.insert(("dial".into(), command));
    reply((
        200,
        json!({"data": {"call_control_id": CALL_CONTROL_ID, "call_leg_id": "leg-1", "call_session_id": "session-1",
                         "is_alive": false, "record_type": "call"}}),
    ))
}

async fn action(
    State(state): State<FakeState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut fake = state.lock().unwrap();
    record(&mut fake, "POST", &action, Some(&id), &headers, &body);
    if let Err(error) = authorized(&fake, &headers) {
        return reply(error);
    }
    if let Some(canned) = fake.script.get_mut(&action).and_then(VecDeque::pop_front) {
        return reply(canned);
    }
    let ok = (200, json!({"data": {"result": "ok"}}));
    let command = body["command_id"].as_str().unwrap_or_default().to_owned();
    if fake.done.contains(&(id.clone(), command.clone())) {
        return reply(ok); // a repeated command_id is not run again
    }
    if fake.ended.contains(&id) {
        return reply(telnyx_error(422, "90018", "Call has already ended"));
    }
    let required: &[&str] = match action.as_str() {
        "transfer" => &["to"],
        "bridge" => &["call_control_id"],
        "speak" => &["payload", "voice"],
        "hangup" => &[],
        _ => return reply(telnyx_error(404, "10005", "Resource not found")),
    };
    if required.iter().any(|field| !body[*field].is_string()) {
        return reply(telnyx_error(422, "10004", "Missing required parameter"));
    }
    if action == "hangup" {
        fake.ended.insert(id.clone());
    }
    fake.done.insert((id, command));
    reply(ok)
}

async fn status(
    State(state): State<FakeState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut fake = state.lock().unwrap();
    record(&mut fake, "GET", "status", Some(&id), &headers, &Value::Null);
    if let Err(error) = authorized(&fake, &headers) {
        return reply(error);
    }
    if id != CALL_CONTROL_ID {
        return reply(telnyx_error(404, "10005", "Resource not found"));
    }
    let alive = !fake.ended.contains(&id);
    reply((
        200,
        json!({"data": {"call_control_id": id, "call_leg_id": "leg-1", "call_session_id": "session-1",
                         "is_alive": alive, "record_type": "call", "call_duration": 42,
                         "start_time": "2026-09-01T12:00:00Z", "end_time": null}}),
    ))
}

async fn spawn_fake() -> (String, FakeState) {
    let state = FakeState::default();
    let app = axum::Router::new()
        .route("/v2/calls", post(dial))
        .route("/v2/calls/{id}", get(status))
        .route("/v2/calls/{id}/actions/{action}", post(action))
        .with_state(state.clone());
    (serve(app).await, state)
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn config(base_url: &str) -> TelnyxConfig {
    let mut config = TelnyxConfig::new(SecretString::from(API_KEY), CONNECTION);
    config.base_url = base_url.into();
    config.backoff_base = Duration::from_millis(5);
    config.backoff_max = Duration::from_millis(40);
    config.speech_words_per_second = 1000.0;
    config
}

fn dial_request(call: i64) -> DialRequest {
    DialRequest::new(CallId(call), "+13125550100", "+13125550199")
}

fn requests(state: &FakeState, action: &str) -> Vec<Recorded> {
    state.lock().unwrap().requests.iter().filter(|r| r.action == action).cloned().collect()
}

fn script(state: &FakeState, action: &str, answers: impl IntoIterator<Item = (u16, Value)>) {
    state.lock().unwrap().script.entry(action.into()).or_default().extend(answers);
}

fn call_ref() -> CarrierCallRef {
    CarrierCallRef {
        call: CallId(7),
        call_control_id: CALL_CONTROL_ID.into(),
        call_session_id: "session-1".into(),
        call_leg_id: None,
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands

#[tokio::test]
async fn dial_sends_the_documented_body_with_bearer_auth() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let request = dial_request(42);
    let command_id = request.command_id;
    let call = carrier.dial(request).await.unwrap();
    assert_eq!(call.call, CallId(42));
    assert_eq!(call.call_control_id, CALL_CONTROL_ID);
    assert_eq!(call.call_session_id, "session-1");

    let dials = requests(&state, "dial");
    assert_eq!(dials.len(), 1);
    let sent = &dials[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.auth.as_deref(), Some(format!("Bearer {API_KEY}").as_str()));
    assert_eq!(sent.body["connection_id"], CONNECTION);
    assert_eq!(sent.body["to"], "+13125550100");
    assert_eq!(sent.body["from"], "+13125550199");
    assert_eq!(sent.body["timeout_secs"], 25);
    assert_eq!(sent.body["answering_machine_detection"], "detect");
    assert_eq!(sent.body["command_id"], command_id.to_string());
    let state_sent = sent.body["client_state"].as_str().unwrap();
    assert_eq!(ClientState::decode(state_sent), Some(ClientState::customer(CallId(42))));
}

#[tokio::test]
async fn dial_without_machine_detection_says_disabled() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let mut request = dial_request(1);
    request.machine_detection = false;
    carrier.dial(request).await.unwrap();
    assert_eq!(requests(&state, "dial")[0].body["answering_machine_detection"], "disabled");
}

#[tokio::test]
async fn dial_retries_429_and_500_with_the_same_command_id() {
    let (url, state) = spawn_fake().await;
    script(
        &state,
        "dial",
        [telnyx_error(429, "90103", "Too many dials"), telnyx_error(500, "10007", "Unexpected error")],
    );
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let request = dial_request(5);
    let command_id = request.command_id.to_string();
    let call = carrier.dial(request).await.unwrap();
    assert_eq!(call.call_control_id, CALL_CONTROL_ID);
    let dials = requests(&state, "dial");
    assert_eq!(dials.len(), 3);
    assert!(dials.iter().all(|d| d.body["command_id"] == command_id.as_str()), "{dials:?}");
}

#[tokio::test]
async fn persistent_rate_limiting_ends_in_rate_limited_after_the_retries() {
    let (url, state) = spawn_fake().await;
    script(&state, "dial", (0..10).map(|_| telnyx_error(429, "10011", "Too many requests")));
    let mut config = config(&url);
    config.max_retries = 2;
    let carrier = TelnyxCarrier::new(config).unwrap();
    assert_eq!(carrier.dial(dial_request(5)).await, Err(CarrierError::RateLimited));
    assert_eq!(requests(&state, "dial").len(), 3);
}

#[tokio::test]
async fn persistent_server_errors_end_in_unavailable() {
    let (url, state) = spawn_fake().await;
    script(&state, "hangup", (0..10).map(|_| telnyx_error(503, "10007", "Service unavailable")));
    let mut config = config(&url);
    config.max_retries = 1;
    let carrier = TelnyxCarrier::new(config).unwrap();
    assert_eq!(carrier.hangup(&call_ref()).await, Err(CarrierError::Unavailable));
    assert_eq!(requests(&state, "hangup").len(), 2);
}

#[tokio::test]
async fn a_4xx_refusal_is_not_retried() {
    let (url, state) = spawn_fake().await;
    script(&state, "dial", [telnyx_error(422, "10016", "Phone number must be in +E.164 format")]);
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let error = carrier.dial(dial_request(5)).await.unwrap_err();
    assert!(matches!(&error, CarrierError::Rejected(text) if text.contains("10016")), "{error:?}");
    assert_eq!(requests(&state, "dial").len(), 1);
}

#[tokio::test]
async fn a_ring_timeout_below_fifteen_seconds_never_reaches_telnyx() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let mut request = dial_request(5);
    request.timeout_secs = 10;
    assert!(matches!(carrier.dial(request).await, Err(CarrierError::InvalidRequest(_))));
    assert!(requests(&state, "dial").is_empty());
}

#[tokio::test]
async fn an_unanswered_server_gives_timeout() {
    // A server that accepts the connection and never answers.
    let app = axum::Router::new().route(
        "/v2/calls",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK
        }),
    );
    let url = serve(app).await;
    let mut config = config(&url);
    config.request_timeout = Duration::from_millis(100);
    config.max_retries = 1;
    let carrier = TelnyxCarrier::new(config).unwrap();
    assert_eq!(carrier.dial(dial_request(5)).await, Err(CarrierError::Timeout));
}

#[tokio::test]
async fn bridge_to_a_sip_endpoint_transfers_with_the_agent_leg_state() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    carrier.bridge(&call_ref(), &AgentEndpoint::Sip("sip:agent7@pbx.example.com".into())).await.unwrap();
    let sent = &requests(&state, "transfer")[0];
    assert_eq!(sent.call_control_id.as_deref(), Some(CALL_CONTROL_ID), "the path segment decodes to the id");
    assert_eq!(sent.body["to"], "sip:agent7@pbx.example.com");
    let target_state = sent.body["target_leg_client_state"].as_str().unwrap();
    assert_eq!(ClientState::decode(target_state), Some(ClientState::agent(CallId(7))));
    assert!(uuid::Uuid::parse_str(sent.body["command_id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn bridge_to_a_leg_uses_the_bridge_action() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    carrier.bridge(&call_ref(), &AgentEndpoint::Leg("v3:agent-leg".into())).await.unwrap();
    let sent = &requests(&state, "bridge")[0];
    assert_eq!(sent.body["call_control_id"], "v3:agent-leg");
    assert!(sent.body["command_id"].is_string());
}

#[tokio::test]
async fn safe_harbor_speaks_the_seller_and_number_then_hangs_up() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let message =
        SafeHarbor { seller_name: "Acme Solar".into(), callback_number: "+18005550123".into(), opt_out: true };
    carrier.play_safe_harbor(&call_ref(), &message).await.unwrap();
    let speak = &requests(&state, "speak")[0];
    let payload = speak.body["payload"].as_str().unwrap();
    assert!(payload.contains("Acme Solar") && payload.contains("8 0 0 5 5 5 0 1 2 3"), "{payload}");
    assert!(payload.contains("do-not-call"));
    assert!(speak.body["voice"].is_string());
    for _ in 0..100 {
        if !requests(&state, "hangup").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no hang-up after the safe-harbor message");
}

#[tokio::test]
async fn hanging_up_an_ended_call_is_not_an_error_but_bridging_it_is() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    carrier.hangup(&call_ref()).await.unwrap();
    carrier.hangup(&call_ref()).await.unwrap(); // 422 90018 from the fake
    assert_eq!(requests(&state, "hangup").len(), 2);
    let error = carrier.bridge(&call_ref(), &AgentEndpoint::Leg("v3:other".into())).await.unwrap_err();
    assert!(matches!(&error, CarrierError::Rejected(text) if text.contains("90018")), "{error:?}");
}

#[tokio::test]
async fn call_status_reads_is_alive_and_treats_unknown_calls_as_ended() {
    let (url, _state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let status = carrier.call_status(&call_ref()).await.unwrap();
    assert!(status.is_alive);
    assert_eq!(status.call_duration_secs, Some(42));
    carrier.hangup(&call_ref()).await.unwrap();
    assert!(!carrier.call_status(&call_ref()).await.unwrap().is_alive);
    let gone = CarrierCallRef { call_control_id: "v3:long-gone".into(), ..call_ref() };
    assert!(!carrier.call_status(&gone).await.unwrap().is_alive);
}

#[tokio::test]
async fn channels_are_held_until_the_call_ends() {
    let (url, _state) = spawn_fake().await;
    let mut config = config(&url);
    config.max_channels = 1;
    let carrier = TelnyxCarrier::new(config).unwrap();
    let call = carrier.dial(dial_request(1)).await.unwrap();
    assert_eq!(carrier.channels_in_use(), 1);
    assert_eq!(carrier.dial(dial_request(2)).await, Err(CarrierError::RateLimited));
    carrier.publish(event(
        "e-1",
        &call.call_control_id,
        CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None },
    ));
    assert_eq!(carrier.channels_in_use(), 0);
    carrier.dial(dial_request(3)).await.unwrap();
}

#[tokio::test]
async fn dials_beyond_the_per_second_limit_are_refused_client_side() {
    let (url, state) = spawn_fake().await;
    let mut config = config(&url);
    config.dials_per_second = 2;
    config.max_dial_wait = Duration::ZERO;
    config.max_channels = 100;
    let carrier = TelnyxCarrier::new(config).unwrap();
    carrier.dial(dial_request(1)).await.unwrap();
    carrier.dial(dial_request(2)).await.unwrap();
    assert_eq!(carrier.dial(dial_request(3)).await, Err(CarrierError::RateLimited));
    assert_eq!(requests(&state, "dial").len(), 2);
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    let (url, state) = spawn_fake().await;
    state.lock().unwrap().echo_auth = true;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let mut errors = vec![
        carrier.dial(dial_request(1)).await.unwrap_err(),
        carrier.hangup(&call_ref()).await.unwrap_err(),
        carrier.call_status(&call_ref()).await.unwrap_err(),
    ];
    assert!(matches!(&errors[0], CarrierError::Rejected(text) if text.contains("[REDACTED]")), "{:?}", errors[0]);
    let mut dead = config("http://127.0.0.1:1");
    dead.max_retries = 0;
    errors.push(TelnyxCarrier::new(dead).unwrap().dial(dial_request(1)).await.unwrap_err());
    for error in &errors {
        assert!(!format!("{error}").contains(API_KEY), "{error}");
        assert!(!format!("{error:?}").contains(API_KEY), "{error:?}");
    }
    assert!(!format!("{carrier:?}").contains(API_KEY));
    assert!(!format!("{:?}", config(&url)).contains(API_KEY));
}

// ---------------------------------------------------------------------------------------------------------------
// Webhooks

/// A clock the test sets.
struct TestClock(Mutex<DateTime<Utc>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

/// Stores each event once by id and reports duplicates, like the main repository's store.
#[derive(Default)]
struct TestSink {
    stored: Mutex<Vec<CarrierEvent>>,
    verdicts: Mutex<Vec<Accepted>>,
}

#[async_trait::async_trait]
impl EventSink for TestSink {
    async fn accept(&self, event: CarrierEvent) -> Result<Accepted, SinkError> {
        let mut stored = self.stored.lock().unwrap();
        let verdict = if stored.iter().any(|e| e.event_id == event.event_id) {
            Accepted::Duplicate
        } else {
            stored.push(event);
            Accepted::New
        };
        self.verdicts.lock().unwrap().push(verdict);
        Ok(verdict)
    }
}

/// Signs and sends webhooks as Telnyx does.
struct FakeTelnyxWebhooks {
    key: SigningKey,
    url: String,
    http: reqwest::Client,
}

impl FakeTelnyxWebhooks {
    fn body(event_type: &str, id: &str, extra: Value) -> String {
        let mut payload = json!({
            "call_control_id": CALL_CONTROL_ID, "call_leg_id": "leg-1", "call_session_id": "session-1",
            "connection_id": CONNECTION, "client_state": ClientState::customer(CallId(42)).encode(),
            "from": "+13125550199", "to": "+13125550100", "direction": "outgoing"
        });
        if let (Value::Object(payload), Value::Object(extra)) = (&mut payload, extra) {
            payload.extend(extra);
        }
        json!({
            "data": {"record_type": "event", "event_type": event_type, "id": id,
                     "occurred_at": "2026-09-01T12:00:05.123456Z", "payload": payload},
            "meta": {"attempt": 1, "delivered_to": "http://example.invalid/webhooks/telnyx"}
        })
        .to_string()
    }

    fn sign(&self, timestamp: i64, body: &str) -> String {
        BASE64.encode(self.key.sign(format!("{timestamp}|{body}").as_bytes()).to_bytes())
    }

    async fn post(&self, timestamp: i64, signature: &str, body: &str) -> u16 {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("telnyx-timestamp", timestamp.to_string())
            .header("telnyx-signature-ed25519", signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    }

    async fn deliver(&self, timestamp: i64, body: &str) -> u16 {
        self.post(timestamp, &self.sign(timestamp, body), body).await
    }
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 6).unwrap()
}

async fn spawn_webhooks(sink: Arc<dyn EventSink>) -> (FakeTelnyxWebhooks, Arc<TestClock>) {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let clock = Arc::new(TestClock(Mutex::new(start_time())));
    let public = BASE64.encode(key.verifying_key().to_bytes());
    let state = WebhookState {
        verifier: Arc::new(WebhookVerifier::from_base64(&public).unwrap()),
        sink,
        clock: clock.clone() as SharedClock,
    };
    let url = format!("{}/webhooks/telnyx", serve(router(state)).await);
    (FakeTelnyxWebhooks { key, url, http: reqwest::Client::new() }, clock)
}

#[tokio::test]
async fn a_signed_webhook_is_accepted_and_parsed() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-1", json!({"state": "answered"}));
    assert_eq!(telnyx.deliver(now, &body).await, 200);
    let stored = sink.stored.lock().unwrap().clone();
    assert_eq!(stored.len(), 1);
    let event = &stored[0];
    assert_eq!(event.event_id, "ev-1");
    assert_eq!(event.kind, CarrierEventKind::Answered);
    assert_eq!(event.call, Some(CallId(42)));
    assert_eq!(event.leg, CallLeg::Customer);
    assert_eq!(event.call_control_id, CALL_CONTROL_ID);
    assert_eq!(event.call_session_id, "session-1");
    assert_eq!(
        event.occurred_at,
        Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 5).unwrap() + TimeDelta::microseconds(123_456)
    );
}

#[tokio::test]
async fn a_duplicate_webhook_gets_200_and_is_reported_duplicate() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = FakeTelnyxWebhooks::body("call.hangup", "ev-2", json!({"hangup_cause": "normal_clearing"}));
    assert_eq!(telnyx.deliver(now, &body).await, 200);
    clock.advance(TimeDelta::seconds(5));
    assert_eq!(telnyx.deliver(now + 5, &body).await, 200, "a redelivery, freshly signed");
    assert_eq!(*sink.verdicts.lock().unwrap(), vec![Accepted::New, Accepted::Duplicate]);
    assert_eq!(sink.stored.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-3", json!({}));
    let signature = telnyx.sign(now, &body);
    let tampered = body.replace("+13125550100", "+13125550101");
    assert_eq!(telnyx.post(now, &signature, &tampered).await, 401);
    assert_eq!(telnyx.post(now, "bm90IGEgc2lnbmF0dXJl", &body).await, 401);
    assert_eq!(telnyx.post(now + 1, &signature, &body).await, 401, "the timestamp is signed too");
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_webhook_signed_with_another_key_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let impostor = FakeTelnyxWebhooks {
        key: SigningKey::generate(&mut rand_core::OsRng),
        url: telnyx.url.clone(),
        http: reqwest::Client::new(),
    };
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-4", json!({}));
    assert_eq!(impostor.deliver(clock.now().timestamp(), &body).await, 401);
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-5", json!({}));
    assert_eq!(telnyx.deliver(now - 301, &body).await, 401);
    assert_eq!(telnyx.deliver(now + 301, &body).await, 401);
    assert_eq!(telnyx.deliver(now - 300, &body).await, 200, "the edge of the tolerance is inside");
}

#[tokio::test]
async fn a_replay_outside_the_tolerance_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-6", json!({}));
    let signature = telnyx.sign(now, &body);
    assert_eq!(telnyx.post(now, &signature, &body).await, 200);
    clock.advance(TimeDelta::seconds(400));
    assert_eq!(telnyx.post(now, &signature, &body).await, 401, "the same bytes, 400 s later");
    assert_eq!(*sink.verdicts.lock().unwrap(), vec![Accepted::New]);
}

#[tokio::test]
async fn missing_headers_are_refused_and_an_unreadable_body_is_a_bad_request() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let body = FakeTelnyxWebhooks::body("call.answered", "ev-7", json!({}));
    let status = reqwest::Client::new().post(&telnyx.url).body(body).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 401);
    assert_eq!(telnyx.deliver(clock.now().timestamp(), "{\"data\": 12").await, 400);
    let ignored = FakeTelnyxWebhooks::body("call.speak.ended", "ev-8", json!({"status": "completed"}));
    assert_eq!(telnyx.deliver(clock.now().timestamp(), &ignored).await, 200, "event types we do not use are fine");
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn hangup_and_amd_webhooks_are_normalized() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let bodies = [
        FakeTelnyxWebhooks::body("call.machine.detection.ended", "a", json!({"result": "machine"})),
        FakeTelnyxWebhooks::body("call.hangup", "b", json!({"hangup_cause": "user_busy", "sip_hangup_cause": "486"})),
        FakeTelnyxWebhooks::body("call.hangup", "c", json!({"hangup_cause": "unspecified", "sip_hangup_cause": "403"})),
        FakeTelnyxWebhooks::body(
            "call.hangup",
            "d",
            json!({"hangup_cause": "timeout", "sip_hangup_cause": "unspecified"}),
        ),
    ];
    for body in &bodies {
        assert_eq!(telnyx.deliver(now, body).await, 200);
    }
    let kinds: Vec<_> = sink.stored.lock().unwrap().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            CarrierEventKind::MachineDetectionEnded { result: outdial::telephony::AmdResult::Machine },
            CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) },
            CarrierEventKind::Failed { cause: HangupCause::Unspecified, sip_code: Some(403) },
            CarrierEventKind::HungUp { cause: HangupCause::Timeout, sip_code: None },
        ]
    );
}

fn event(id: &str, call_control_id: &str, kind: CarrierEventKind) -> CarrierEvent {
    CarrierEvent {
        event_id: id.into(),
        occurred_at: start_time(),
        call: Some(CallId(42)),
        leg: CallLeg::Customer,
        call_control_id: call_control_id.into(),
        call_session_id: "session-1".into(),
        kind,
    }
}

#[test]
fn ringing_after_answered_is_recorded_but_not_applied() {
    let mut progress = CallProgress::default();
    assert_eq!(progress.observe(&event("1", "leg-a", CarrierEventKind::Initiated)), Progress::Advanced);
    assert_eq!(progress.observe(&event("2", "leg-a", CarrierEventKind::Answered)), Progress::Advanced);
    assert_eq!(progress.observe(&event("3", "leg-a", CarrierEventKind::Ringing)), Progress::Stale);
    assert_eq!(progress.current("leg-a").unwrap().kind, CarrierEventKind::Answered);
    let hung_up = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
    assert_eq!(progress.observe(&event("4", "leg-a", hung_up.clone())), Progress::Advanced);
    assert_eq!(progress.observe(&event("5", "leg-a", CarrierEventKind::Answered)), Progress::Stale, "no reopening");
    assert_eq!(progress.observe(&event("6", "leg-b", CarrierEventKind::Ringing)), Progress::Advanced, "per leg");
    let ids: Vec<_> = progress.record("leg-a").iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(progress.current("leg-a").unwrap().kind, hung_up);
}

#[tokio::test]
async fn webhooks_reach_the_carriers_subscribers_once() {
    let (url, _state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let publisher = carrier.clone();
    let sink = Arc::new(MemoryDedupSink::new(1000, move |event| publisher.publish(event)));
    let (telnyx, clock) = spawn_webhooks(sink).await;
    let mut events = carrier.events();
    let call = carrier.dial(dial_request(42)).await.unwrap();
    assert_eq!(carrier.channels_in_use(), 1);
    let now = clock.now().timestamp();
    let answered = FakeTelnyxWebhooks::body("call.answered", "w-1", json!({}));
    let hangup = FakeTelnyxWebhooks::body("call.hangup", "w-2", json!({"hangup_cause": "normal_clearing"}));
    for body in [&answered, &answered, &hangup, &hangup] {
        assert_eq!(telnyx.deliver(now, body).await, 200);
    }
    let first = events.recv().await.unwrap();
    let second = events.recv().await.unwrap();
    assert_eq!((first.event_id.as_str(), second.event_id.as_str()), ("w-1", "w-2"));
    assert_eq!(first.call_control_id, call.call_control_id);
    assert!(events.try_recv().is_err(), "duplicates were not published");
    assert_eq!(carrier.channels_in_use(), 0, "the hang-up freed the channel");
}
