//! Telnyx webhooks: Ed25519 verification of `"{telnyx-timestamp}|{raw body}"` within a timestamp tolerance, parsing
//! of Call Control v2 events into [`CarrierEvent`]s, the axum route `POST /webhooks/telnyx` that hands them to an
//! [`EventSink`], and [`CallProgress`], which keeps late events from moving a call backwards. It must not store or
//! act on events itself: the sink does (store once by event id, then publish), and it must answer fast.
//!
//! Delivery facts this follows: Telnyx may send an event twice, late, or out of order, and retries a delivery that
//! does not get a 2xx. So: 200 for a duplicate (the sink reports it), 401 for a bad signature or a timestamp outside
//! the tolerance (a replay of an old delivery is stale), 400 for a body we cannot read (retrying will not help), 500
//! only when the sink itself failed (so Telnyx tries again), and 200 for event types we do not use.

use super::{AmdResult, CarrierEvent, CarrierEventKind, ClientState, HangupCause};
use crate::clock::SharedClock;
use async_trait::async_trait;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// The official SDKs' tolerance: `|now - timestamp| <= 300 s`.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the public key is not 32 bytes of base64")]
    InvalidKey,
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("the signature is not 64 bytes of base64")]
    MalformedSignature,
    #[error("the timestamp is not Unix seconds")]
    MalformedTimestamp,
    #[error("the timestamp is {age_secs} s away from now")]
    Stale { age_secs: i64 },
    #[error("the signature does not match")]
    BadSignature,
}

/// Checks that a webhook was signed by Telnyx's key, recently. The time is passed in.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    key: VerifyingKey,
    tolerance_secs: i64,
}

impl WebhookVerifier {
    pub fn new(key: VerifyingKey) -> Self {
        WebhookVerifier { key, tolerance_secs: DEFAULT_TOLERANCE_SECS }
    }

    /// From the account's public key as shown in the Telnyx portal (base64 of 32 bytes).
    pub fn from_base64(public_key: &str) -> Result<Self, VerifyError> {
        let bytes = BASE64.decode(public_key.trim()).map_err(|_| VerifyError::InvalidKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| VerifyError::InvalidKey)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| VerifyError::InvalidKey)?;
        Ok(Self::new(key))
    }

    pub fn with_tolerance_secs(mut self, tolerance_secs: i64) -> Self {
        self.tolerance_secs = tolerance_secs;
        self
    }

    /// Verifies `signature` (base64) over `"{timestamp}|"` followed by the exact raw body bytes.
    pub fn verify(&self, signature: &str, timestamp: &str, body: &[u8], now: DateTime<Utc>) -> Result<(), VerifyError> {
        let sent_at: i64 = timestamp.trim().parse().map_err(|_| VerifyError::MalformedTimestamp)?;
        let age_secs = now.timestamp() - sent_at;
        if age_secs.abs() > self.tolerance_secs {
            return Err(VerifyError::Stale { age_secs });
        }
        let signature = BASE64.decode(signature.trim()).map_err(|_| VerifyError::MalformedSignature)?;
        let signature: [u8; 64] = signature.try_into().map_err(|_| VerifyError::MalformedSignature)?;
        let signature = Signature::from_bytes(&signature);
        let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
        signed.extend_from_slice(timestamp.trim().as_bytes());
        signed.push(b'|');
        signed.extend_from_slice(body);
        self.key.verify_strict(&signed, &signature).map_err(|_| VerifyError::BadSignature)
    }

    /// [`verify`](Self::verify) with the values taken from the request headers.
    pub fn verify_headers(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<(), VerifyError> {
        let header = |name: &'static str| {
            headers.get(name).and_then(|value| value.to_str().ok()).ok_or(VerifyError::MissingHeader(name))
        };
        self.verify(header(SIGNATURE_HEADER)?, header(TIMESTAMP_HEADER)?, body, now)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable Telnyx event: {0}")]
pub struct ParseError(pub String);

#[derive(Deserialize)]
struct Envelope {
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    event_type: String,
    id: String,
    occurred_at: DateTime<Utc>,
    #[serde(default)]
    payload: Payload,
}

#[derive(Deserialize, Default)]
struct Payload {
    call_control_id: Option<String>,
    call_session_id: Option<String>,
    client_state: Option<String>,
    hangup_cause: Option<HangupCause>,
    sip_hangup_cause: Option<String>,
    result: Option<String>,
}

/// Reads a Call Control v2 webhook body. `Ok(None)` for an event type that is not a [`CarrierEventKind`]
/// (`call.speak.ended`, `call.recording.saved`, …).
pub fn parse_event(body: &[u8]) -> Result<Option<CarrierEvent>, ParseError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(|error| ParseError(error.to_string()))?;
    let data = envelope.data;
    let Some(kind) = event_kind(&data.event_type, &data.payload) else { return Ok(None) };
    let payload = data.payload;
    let call_control_id =
        payload.call_control_id.ok_or_else(|| ParseError(format!("{} without call_control_id", data.event_type)))?;
    let state = payload.client_state.as_deref().and_then(ClientState::decode);
    Ok(Some(CarrierEvent {
        event_id: data.id,
        occurred_at: data.occurred_at,
        call: state.map(|state| state.call),
        leg: state.map(|state| state.leg).unwrap_or_default(),
        call_control_id,
        call_session_id: payload.call_session_id.unwrap_or_default(),
        kind,
    }))
}

/// Telnyx event types that become carrier events. Telnyx documents no `call.ringing` for Call Control v2; it is
/// read if it ever comes, and the simulated carrier emits `Ringing` itself.
fn event_kind(event_type: &str, payload: &Payload) -> Option<CarrierEventKind> {
    Some(match event_type {
        "call.initiated" => CarrierEventKind::Initiated,
        "call.ringing" => CarrierEventKind::Ringing,
        "call.answered" => CarrierEventKind::Answered,
        "call.bridged" => CarrierEventKind::Bridged,
        "call.machine.detection.ended" | "call.machine.premium.detection.ended" => {
            CarrierEventKind::MachineDetectionEnded { result: amd_result(payload.result.as_deref()) }
        }
        "call.hangup" => CarrierEventKind::from_hangup(
            payload.hangup_cause.unwrap_or(HangupCause::Unspecified),
            payload.sip_hangup_cause.as_deref().and_then(|code| code.parse().ok()),
        ),
        _ => return None,
    })
}

/// Standard (`human|machine|not_sure`) and premium (`human_residence|human_business|machine|silence|fax_detected|
/// not_sure`) results.
fn amd_result(result: Option<&str>) -> AmdResult {
    match result {
        Some("human" | "human_residence" | "human_business") => AmdResult::Human,
        Some("machine" | "fax_detected") => AmdResult::Machine,
        _ => AmdResult::NotSure,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event sink failed: {0}")]
pub struct SinkError(pub String);

/// Where verified events go: it stores each event once (by `event_id`) and says whether it had it already.
#[async_trait]
pub trait EventSink: Send + Sync {
    async fn accept(&self, event: CarrierEvent) -> Result<Accepted, SinkError>;
}

/// A sink that remembers the last `capacity` event ids in memory and forwards each new event once, e.g. to
/// [`TelnyxCarrier::publish`](super::telnyx::TelnyxCarrier::publish). For one process without a database; the main
/// repository's sink stores events under a unique event id instead.
pub struct MemoryDedupSink {
    capacity: usize,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    forward: Box<dyn Fn(CarrierEvent) + Send + Sync>,
}

impl MemoryDedupSink {
    pub fn new(capacity: usize, forward: impl Fn(CarrierEvent) + Send + Sync + 'static) -> Self {
        MemoryDedupSink { capacity: capacity.max(1), seen: Mutex::new(Default::default()), forward: Box::new(forward) }
    }
}

#[async_trait]
impl EventSink for MemoryDedupSink {
    async fn accept(&self, event: CarrierEvent) -> Result<Accepted, SinkError> {
        {
            let mut seen = self.seen.lock().map_err(|_| SinkError("dedup set poisoned".into()))?;
            let (ids, order) = &mut *seen;
            if !ids.insert(event.event_id.clone()) {
                return Ok(Accepted::Duplicate);
            }
            order.push_back(event.event_id.clone());
            while order.len() > self.capacity {
                if let Some(old) = order.pop_front() {
                    ids.remove(&old);
                }
            }
        }
        (self.forward)(event);
        Ok(Accepted::New)
    }
}

/// What the webhook route needs.
#[derive(Clone)]
pub struct WebhookState {
    pub verifier: Arc<WebhookVerifier>,
    pub sink: Arc<dyn EventSink>,
    pub clock: SharedClock,
}

/// `POST /webhooks/telnyx`.
pub fn router(state: WebhookState) -> Router {
    Router::new().route("/webhooks/telnyx", post(receive)).with_state(state)
}

async fn receive(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Err(error) = state.verifier.verify_headers(&headers, &body, state.clock.now()) {
        tracing::warn!(%error, "refused a Telnyx webhook");
        return StatusCode::UNAUTHORIZED;
    }
    let event = match parse_event(&body) {
        Ok(Some(event)) => event,
        Ok(None) => return StatusCode::OK,
        Err(error) => {
            tracing::warn!(%error, "unreadable Telnyx webhook");
            return StatusCode::BAD_REQUEST;
        }
    };
    let event_id = event.event_id.clone();
    match state.sink.accept(event).await {
        Ok(Accepted::New) => StatusCode::OK,
        Ok(Accepted::Duplicate) => {
            tracing::debug!(%event_id, "duplicate Telnyx webhook");
            StatusCode::OK
        }
        Err(error) => {
            tracing::error!(%event_id, %error, "could not take a Telnyx webhook");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Whether an event moves its call forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Apply it: the call is further along than before.
    Advanced,
    /// Keep it in the record but do not apply it: the call is already at this stage or past it (a `Ringing` after
    /// `Answered`, an `Answered` after `HungUp`, a second `Bridged`).
    Stale,
}

/// Out-of-order tolerance, per call leg (keyed by `call_control_id`): the lifecycle runs Initiated → Ringing →
/// Answered → MachineDetectionEnded → Bridged → HungUp/Failed ([`CarrierEventKind::stage`]), and an event whose
/// stage is not past the leg's current one is [`Progress::Stale`]. Every event is recorded either way.
#[derive(Debug, Default)]
pub struct CallProgress {
    legs: HashMap<String, Leg>,
}

#[derive(Debug, Default)]
struct Leg {
    stage: Option<u8>,
    record: Vec<CarrierEvent>,
}

impl CallProgress {
    pub fn observe(&mut self, event: &CarrierEvent) -> Progress {
        let leg = self.legs.entry(event.call_control_id.clone()).or_default();
        leg.record.push(event.clone());
        let stage = event.kind.stage();
        if leg.stage.is_some_and(|current| stage <= current) {
            Progress::Stale
        } else {
            leg.stage = Some(stage);
            Progress::Advanced
        }
    }

    /// The furthest event applied so far.
    pub fn current(&self, call_control_id: &str) -> Option<&CarrierEvent> {
        let leg = self.legs.get(call_control_id)?;
        leg.record.iter().rev().find(|event| Some(event.kind.stage()) == leg.stage)
    }

    /// Every event seen for the leg, applied or not, in arrival order.
    pub fn record(&self, call_control_id: &str) -> &[CarrierEvent] {
        self.legs.get(call_control_id).map(|leg| leg.record.as_slice()).unwrap_or_default()
    }

    /// Drops a finished leg once nothing late can matter any more.
    pub fn forget(&mut self, call_control_id: &str) {
        self.legs.remove(call_control_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANGUP: &str = r#"{"data":{"record_type":"event","event_type":"call.hangup","id":"0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
        "occurred_at":"2026-09-01T12:00:05.123456Z","payload":{"call_control_id":"v3:abc","call_leg_id":"l1",
        "call_session_id":"s1","client_state":"eyJjYWxsIjo0Mn0=","hangup_cause":"user_busy","hangup_source":"callee",
        "sip_hangup_cause":"486","state":"hangup"}},"meta":{"attempt":1}}"#;

    #[test]
    fn a_hangup_webhook_becomes_a_hung_up_event_for_our_call() {
        let event = parse_event(HANGUP.as_bytes()).unwrap().unwrap();
        assert_eq!(event.call, Some(super::super::CallId(42)));
        assert_eq!(event.event_id, "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0");
        assert_eq!(event.call_session_id, "s1");
        assert_eq!(event.kind, CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) });
    }

    #[test]
    fn amd_results_of_both_detectors_are_normalized() {
        for (raw, want) in [
            ("human", AmdResult::Human),
            ("human_business", AmdResult::Human),
            ("machine", AmdResult::Machine),
            ("fax_detected", AmdResult::Machine),
            ("silence", AmdResult::NotSure),
            ("not_sure", AmdResult::NotSure),
        ] {
            assert_eq!(amd_result(Some(raw)), want, "{raw}");
        }
    }

    #[test]
    fn unknown_event_types_are_skipped_and_garbage_is_an_error() {
        let body = HANGUP.replace("call.hangup", "call.speak.ended");
        assert_eq!(parse_event(body.as_bytes()), Ok(None));
        assert!(parse_event(b"{not json").is_err());
        let unknown_cause = HANGUP.replace("user_busy", "something_new");
        let event = parse_event(unknown_cause.as_bytes()).unwrap().unwrap();
        assert!(matches!(event.kind, CarrierEventKind::HungUp { cause: HangupCause::Unspecified, .. }));
    }
}
