//! The Telnyx carrier client and webhook route alone, against the fake Telnyx server of `common::fake_telnyx`
//! (documented Call Control v2 contract, including its failures; webhooks signed with an Ed25519 key pair made in
//! the test).

mod common;

use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::fake_telnyx::{API_KEY, CONNECTION, FakeTelnyx, WebhookSigner, event_body, serve, telnyx_error};
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A live call the fake knows before any dial. Holds a `/`, a `+` and `=`, so the client must percent-encode it.
const CALL_CONTROL_ID: &str = "v3:Md/I9+x4l==";

async fn spawn_fake() -> (String, FakeTelnyx) {
    let fake = FakeTelnyx::spawn().await;
    fake.place(CALL_CONTROL_ID);
    (fake.url.clone(), fake)
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
    let placed = state.calls().pop().unwrap();
    assert_eq!(call.call_control_id, placed.call_control_id);
    assert_eq!(call.call_session_id, placed.call_session_id);

    let dials = state.requests("dial");
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
    assert_eq!(state.requests("dial")[0].body["answering_machine_detection"], "disabled");
}

#[tokio::test]
async fn dial_retries_429_and_500_with_the_same_command_id() {
    let (url, state) = spawn_fake().await;
    state
        .script("dial", [telnyx_error(429, "90103", "Too many dials"), telnyx_error(500, "10007", "Unexpected error")]);
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let request = dial_request(5);
    let command_id = request.command_id.to_string();
    let call = carrier.dial(request).await.unwrap();
    assert_eq!(call.call_control_id, state.calls().pop().unwrap().call_control_id);
    assert_eq!(state.calls().len(), 2, "one call placed besides the known one");
    let dials = state.requests("dial");
    assert_eq!(dials.len(), 3);
    assert!(dials.iter().all(|d| d.body["command_id"] == command_id.as_str()), "{dials:?}");
}

#[tokio::test]
async fn persistent_rate_limiting_ends_in_rate_limited_after_the_retries() {
    let (url, state) = spawn_fake().await;
    state.script("dial", (0..10).map(|_| telnyx_error(429, "10011", "Too many requests")));
    let mut config = config(&url);
    config.max_retries = 2;
    let carrier = TelnyxCarrier::new(config).unwrap();
    assert_eq!(carrier.dial(dial_request(5)).await, Err(CarrierError::RateLimited));
    assert_eq!(state.requests("dial").len(), 3);
}

#[tokio::test]
async fn persistent_server_errors_end_in_unavailable() {
    let (url, state) = spawn_fake().await;
    state.script("hangup", (0..10).map(|_| telnyx_error(503, "10007", "Service unavailable")));
    let mut config = config(&url);
    config.max_retries = 1;
    let carrier = TelnyxCarrier::new(config).unwrap();
    assert_eq!(carrier.hangup(&call_ref()).await, Err(CarrierError::Unavailable));
    assert_eq!(state.requests("hangup").len(), 2);
}

#[tokio::test]
async fn a_4xx_refusal_is_not_retried() {
    let (url, state) = spawn_fake().await;
    state.script("dial", [telnyx_error(422, "10016", "Phone number must be in +E.164 format")]);
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let error = carrier.dial(dial_request(5)).await.unwrap_err();
    assert!(matches!(&error, CarrierError::Rejected(text) if text.contains("10016")), "{error:?}");
    assert_eq!(state.requests("dial").len(), 1);
}

#[tokio::test]
async fn a_ring_timeout_below_fifteen_seconds_never_reaches_telnyx() {
    let (url, state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let mut request = dial_request(5);
    request.timeout_secs = 10;
    assert!(matches!(carrier.dial(request).await, Err(CarrierError::InvalidRequest(_))));
    assert!(state.requests("dial").is_empty());
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
    let sent = &state.requests("transfer")[0];
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
    let sent = &state.requests("bridge")[0];
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
    let speak = &state.requests("speak")[0];
    let payload = speak.body["payload"].as_str().unwrap();
    assert!(payload.contains("Acme Solar") && payload.contains("8 0 0 5 5 5 0 1 2 3"), "{payload}");
    assert!(payload.contains("do-not-call"));
    assert!(speak.body["voice"].is_string());
    for _ in 0..100 {
        if !state.requests("hangup").is_empty() {
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
    assert_eq!(state.requests("hangup").len(), 2);
    let error = carrier.bridge(&call_ref(), &AgentEndpoint::Leg("v3:other".into())).await.unwrap_err();
    assert!(matches!(&error, CarrierError::Rejected(text) if text.contains("90018")), "{error:?}");
}

#[tokio::test]
async fn call_status_reads_is_alive_and_treats_unknown_calls_as_ended() {
    let (url, _state) = spawn_fake().await;
    let carrier = TelnyxCarrier::new(config(&url)).unwrap();
    let status = carrier.call_status(&call_ref()).await.unwrap();
    assert!(status.is_alive);
    assert!(status.call_duration_secs.is_some());
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
    assert_eq!(carrier.free_dials(), Some(2));
    carrier.dial(dial_request(1)).await.unwrap();
    carrier.dial(dial_request(2)).await.unwrap();
    assert_eq!(carrier.free_dials(), Some(0), "the pacer is told no dial is taken now");
    assert_eq!(carrier.dial(dial_request(3)).await, Err(CarrierError::RateLimited));
    assert_eq!(state.requests("dial").len(), 2);
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert_eq!(carrier.free_dials(), Some(2), "a second later the window is free again");
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    let (url, state) = spawn_fake().await;
    state.settings(|s| s.echo_auth = true);
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

/// A webhook of the known call (our call 42) with `extra` in its payload.
fn body(event_type: &str, id: &str, extra: Value) -> String {
    body_of(CALL_CONTROL_ID, event_type, id, extra)
}

fn body_of(call_control_id: &str, event_type: &str, id: &str, extra: Value) -> String {
    let mut payload = json!({
        "call_control_id": call_control_id, "call_leg_id": "leg-1", "call_session_id": "session-1",
        "connection_id": CONNECTION, "client_state": ClientState::customer(CallId(42)).encode(),
        "from": "+13125550199", "to": "+13125550100", "direction": "outgoing"
    });
    if let (Value::Object(payload), Value::Object(extra)) = (&mut payload, extra) {
        payload.extend(extra);
    }
    let occurred_at = Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 5).unwrap() + TimeDelta::microseconds(123_456);
    event_body(event_type, id, occurred_at, payload)
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 6).unwrap()
}

async fn spawn_webhooks(sink: Arc<dyn EventSink>) -> (WebhookSigner, Arc<TestClock>) {
    let clock = Arc::new(TestClock(Mutex::new(start_time())));
    let signer = WebhookSigner::generate("");
    let state = WebhookState {
        verifier: Arc::new(WebhookVerifier::from_base64(&signer.public_key()).unwrap()),
        sink,
        clock: clock.clone() as SharedClock,
    };
    let url = format!("{}/webhooks/telnyx", serve(router(state)).await);
    (signer.aimed_at(url), clock)
}

#[tokio::test]
async fn a_signed_webhook_is_accepted_and_parsed() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = body("call.answered", "ev-1", json!({"state": "answered"}));
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
    let body = body("call.hangup", "ev-2", json!({"hangup_cause": "normal_clearing"}));
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
    let body = body("call.answered", "ev-3", json!({}));
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
    let impostor = WebhookSigner::generate(telnyx.url.clone());
    let body = body("call.answered", "ev-4", json!({}));
    assert_eq!(impostor.deliver(clock.now().timestamp(), &body).await, 401);
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_stale_or_future_timestamp_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = body("call.answered", "ev-5", json!({}));
    assert_eq!(telnyx.deliver(now - 301, &body).await, 401);
    assert_eq!(telnyx.deliver(now + 301, &body).await, 401);
    assert_eq!(telnyx.deliver(now - 300, &body).await, 200, "the edge of the tolerance is inside");
}

#[tokio::test]
async fn a_replay_outside_the_tolerance_is_refused() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let body = body("call.answered", "ev-6", json!({}));
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
    let unsigned = body("call.answered", "ev-7", json!({}));
    let status = reqwest::Client::new().post(&telnyx.url).body(unsigned).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 401);
    assert_eq!(telnyx.deliver(clock.now().timestamp(), "{\"data\": 12").await, 400);
    let ignored = body("call.speak.ended", "ev-8", json!({"status": "completed"}));
    assert_eq!(telnyx.deliver(clock.now().timestamp(), &ignored).await, 200, "event types we do not use are fine");
    assert!(sink.stored.lock().unwrap().is_empty());
}

#[tokio::test]
async fn hangup_and_amd_webhooks_are_normalized() {
    let sink = Arc::new(TestSink::default());
    let (telnyx, clock) = spawn_webhooks(sink.clone()).await;
    let now = clock.now().timestamp();
    let bodies = [
        body("call.machine.detection.ended", "a", json!({"result": "machine"})),
        body("call.hangup", "b", json!({"hangup_cause": "user_busy", "sip_hangup_cause": "486"})),
        body("call.hangup", "c", json!({"hangup_cause": "unspecified", "sip_hangup_cause": "403"})),
        body("call.hangup", "d", json!({"hangup_cause": "timeout", "sip_hangup_cause": "unspecified"})),
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
    let id = &call.call_control_id;
    let answered = body_of(id, "call.answered", "w-1", json!({}));
    let hangup = body_of(id, "call.hangup", "w-2", json!({"hangup_cause": "normal_clearing"}));
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
