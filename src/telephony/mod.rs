//! The carrier boundary: the [`Carrier`] trait every carrier implements, the dial and command types, the normalized
//! [`CarrierEvent`]s and [`CarrierError`]. It must not know about campaigns, the database, pacing or agents' state:
//! the scheduler and the ACD decide, a carrier only places and controls calls and reports what happened.
//!
//! Two carriers: [`telnyx::TelnyxCarrier`] (Call Control v2; its events arrive through [`webhook::router`]) and
//! [`simulated::SimulatedCarrier`] (the default when no Telnyx key is configured).

pub mod simulated;
pub mod telnyx;
pub mod webhook;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

/// The lowest ring timeout we ever ask for: the TSR requires a call to ring at least 15 s (or four rings).
pub const MIN_TIMEOUT_SECS: u32 = 15;
/// The highest ring timeout Telnyx accepts.
pub const MAX_TIMEOUT_SECS: u32 = 600;

/// Our own id of a call (the call row's id).
pub use crate::acd::CallId;

/// Which leg of our call an event is about: the customer's (the leg we dialed) or the agent's (made by a transfer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CallLeg {
    #[default]
    Customer,
    Agent,
}

/// What we put in Telnyx's `client_state` (base64 of this JSON) so every webhook names our call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientState {
    pub call: CallId,
    #[serde(default, skip_serializing_if = "is_customer")]
    pub leg: CallLeg,
}

fn is_customer(leg: &CallLeg) -> bool {
    *leg == CallLeg::Customer
}

impl ClientState {
    pub fn customer(call: CallId) -> Self {
        ClientState { call, leg: CallLeg::Customer }
    }

    pub fn agent(call: CallId) -> Self {
        ClientState { call, leg: CallLeg::Agent }
    }

    /// Base64 of `{"call":123}` (Telnyx requires `client_state` to be valid base64).
    pub fn encode(&self) -> String {
        BASE64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// `None` for anything that is not a state we wrote (absent, not base64, other JSON).
    pub fn decode(encoded: &str) -> Option<Self> {
        let bytes = BASE64.decode(encoded.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// One outbound call to place. Build it with [`DialRequest::new`]; [`DialRequest::validate`] is checked by every carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRequest {
    pub call: CallId,
    /// The called number, +E.164.
    pub to: String,
    /// Our caller id, +E.164.
    pub from: String,
    /// Ring timeout; at least [`MIN_TIMEOUT_SECS`], at most [`MAX_TIMEOUT_SECS`].
    pub timeout_secs: u32,
    pub machine_detection: bool,
    /// Idempotency key: retries of this dial send the same one, so the carrier places the call once.
    pub command_id: Uuid,
}

impl DialRequest {
    /// A dial with a 25-s ring timeout, machine detection on and a fresh UUIDv4 command id.
    pub fn new(call: CallId, to: impl Into<String>, from: impl Into<String>) -> Self {
        DialRequest {
            call,
            to: to.into(),
            from: from.into(),
            timeout_secs: 25,
            machine_detection: true,
            command_id: Uuid::new_v4(),
        }
    }

    pub fn validate(&self) -> Result<(), CarrierError> {
        if self.timeout_secs < MIN_TIMEOUT_SECS {
            return Err(CarrierError::InvalidRequest(format!(
                "timeout_secs {} is below the {MIN_TIMEOUT_SECS}-s minimum ring time",
                self.timeout_secs
            )));
        }
        if self.timeout_secs > MAX_TIMEOUT_SECS {
            return Err(CarrierError::InvalidRequest(format!(
                "timeout_secs {} is above the carrier's {MAX_TIMEOUT_SECS}-s maximum",
                self.timeout_secs
            )));
        }
        for (field, number) in [("to", &self.to), ("from", &self.from)] {
            if !is_e164(number) {
                return Err(CarrierError::InvalidRequest(format!("{field} must be +E.164")));
            }
        }
        Ok(())
    }

    pub fn client_state(&self) -> ClientState {
        ClientState::customer(self.call)
    }
}

fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// The carrier's handle on a call we dialed, returned by [`Carrier::dial`] and stored with the call row.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CarrierCallRef {
    pub call: CallId,
    /// Opaque (Telnyx: `v3:…`); never parsed.
    pub call_control_id: String,
    pub call_session_id: String,
    pub call_leg_id: Option<String>,
}

/// Where an answered call goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentEndpoint {
    /// Transfer the call to the agent's SIP endpoint (`sip:agent7@pbx.example.com`) or number.
    Sip(String),
    /// Bridge to a leg we already hold (the agent's call_control_id).
    Leg(String),
}

/// The message an abandoned call hears (TSR safe harbor: seller, callback number, automated opt-out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeHarbor {
    pub seller_name: String,
    pub callback_number: String,
    /// Say how to opt out of further calls.
    pub opt_out: bool,
}

impl SafeHarbor {
    pub fn text(&self) -> String {
        let mut text = format!(
            "This call was from {}. To reach us, call {}.",
            self.seller_name,
            spoken_number(&self.callback_number)
        );
        if self.opt_out {
            text.push_str(
                " To stop further calls from us, call that number and ask to be put on our do-not-call list.",
            );
        }
        text
    }
}

fn spoken_number(number: &str) -> String {
    let digits: Vec<String> = number.chars().filter(char::is_ascii_digit).map(String::from).collect();
    digits.join(" ")
}

/// What the carrier knows of a call now (restart reconciliation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStatus {
    pub is_alive: bool,
    pub call_duration_secs: Option<i64>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdResult {
    Human,
    Machine,
    NotSure,
}

/// Telnyx's `hangup_cause` values; anything else reads as `Unspecified`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupCause {
    CallRejected,
    NormalClearing,
    OriginatorCancel,
    Timeout,
    TimeLimit,
    UserBusy,
    NotFound,
    NoAnswer,
    #[serde(other)]
    Unspecified,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CarrierEventKind {
    Initiated,
    Ringing,
    Answered,
    MachineDetectionEnded {
        result: AmdResult,
    },
    Bridged,
    /// The call ended (normal end, busy, no answer, cancel). Terminal.
    HungUp {
        cause: HangupCause,
        sip_code: Option<u16>,
    },
    /// The call never reached the far end through a fault of the number or the network (invalid number, SIT,
    /// channel limit, carrier error): a hang-up whose cause or SIP code says so. Terminal.
    Failed {
        cause: HangupCause,
        sip_code: Option<u16>,
    },
}

impl CarrierEventKind {
    pub fn is_terminal(&self) -> bool {
        matches!(self, CarrierEventKind::HungUp { .. } | CarrierEventKind::Failed { .. })
    }

    /// Position in a call's lifecycle; see [`webhook::CallProgress`].
    pub fn stage(&self) -> u8 {
        match self {
            CarrierEventKind::Initiated => 0,
            CarrierEventKind::Ringing => 1,
            CarrierEventKind::Answered => 2,
            CarrierEventKind::MachineDetectionEnded { .. } => 3,
            CarrierEventKind::Bridged => 4,
            CarrierEventKind::HungUp { .. } | CarrierEventKind::Failed { .. } => 5,
        }
    }

    /// A hang-up is a failure when its cause or SIP code is a fault rather than the callee's choice or no answer.
    pub fn from_hangup(cause: HangupCause, sip_code: Option<u16>) -> Self {
        let fault_code = matches!(sip_code, Some(403 | 404 | 410 | 484 | 488 | 500..=599));
        if cause == HangupCause::NotFound || fault_code {
            CarrierEventKind::Failed { cause, sip_code }
        } else {
            CarrierEventKind::HungUp { cause, sip_code }
        }
    }
}

/// One thing that happened to a call, in the same shape whichever carrier reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierEvent {
    /// The carrier's unique event id (Telnyx `data.id`): the key that makes storing an event idempotent.
    pub event_id: String,
    pub occurred_at: DateTime<Utc>,
    /// Our call, from `client_state`; `None` when the event carries no state of ours.
    pub call: Option<CallId>,
    pub leg: CallLeg,
    pub call_control_id: String,
    pub call_session_id: String,
    pub kind: CarrierEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier refused for rate (HTTP 429) and retries did not get through.
    #[error("carrier rate limit reached")]
    RateLimited,
    /// The carrier refused the request (4xx): its code and title, never our credentials.
    #[error("carrier rejected the request: {0}")]
    Rejected(String),
    /// The carrier failed (5xx, connection refused) and retries did not get through.
    #[error("carrier unavailable")]
    Unavailable,
    #[error("carrier did not answer in time")]
    Timeout,
    /// The command needs an answered call and this one is still ringing (Telnyx `90034`).
    #[error("the call has not been answered")]
    NotAnswered,
    /// We refused to send it (e.g. a ring timeout below the legal minimum).
    #[error("invalid carrier request: {0}")]
    InvalidRequest(String),
}

/// A carrier places and controls calls and reports their events. Object safe: held as `Arc<dyn Carrier>`.
#[async_trait]
pub trait Carrier: Send + Sync {
    /// The carrier's name as call rows keep it (`telnyx`, `simulated`).
    fn name(&self) -> &'static str;
    /// Places a call. Returns once the carrier accepted it; what happens next arrives as events.
    async fn dial(&self, request: DialRequest) -> Result<CarrierCallRef, CarrierError>;
    /// Connects an answered call to an agent.
    async fn bridge(&self, call: &CarrierCallRef, agent: &AgentEndpoint) -> Result<(), CarrierError>;
    /// Plays the safe-harbor message to an abandoned call, then hangs up.
    async fn play_safe_harbor(&self, call: &CarrierCallRef, message: &SafeHarbor) -> Result<(), CarrierError>;
    /// Ends the call. Hanging up a call that has already ended is not an error.
    async fn hangup(&self, call: &CarrierCallRef) -> Result<(), CarrierError>;
    async fn call_status(&self, call: &CarrierCallRef) -> Result<CallStatus, CarrierError>;
    /// Learns of an event of one of its calls that reached the app another way (Telnyx: the webhook route), once,
    /// after it was stored: a carrier that holds a channel per call frees it when the call ends.
    fn observe(&self, _event: &CarrierEvent) {}
    /// Channels free for new calls now, when the carrier limits them (the pacer starts no more than that).
    fn free_channels(&self) -> Option<u32> {
        None
    }
    /// Dials the carrier's rate limit takes now, when it has one. The limit is the account's, shared
    /// by every campaign: a campaign task starts no more than that in a step.
    fn free_dials(&self) -> Option<u32> {
        None
    }
    /// A new subscription to this carrier's events, from now on. A subscriber that falls behind gets
    /// `RecvError::Lagged` (bounded buffer), never unbounded memory.
    fn events(&self) -> broadcast::Receiver<CarrierEvent>;
}

/// The carrier the process runs with: Telnyx when it is configured, otherwise the simulated carrier.
pub fn choose_carrier(
    telnyx: Option<telnyx::TelnyxConfig>,
    simulation: simulated::SimulationConfig,
    clock: crate::clock::SharedClock,
) -> Result<std::sync::Arc<dyn Carrier>, CarrierError> {
    Ok(match telnyx {
        Some(config) => std::sync::Arc::new(telnyx::TelnyxCarrier::new(config)?),
        None => std::sync::Arc::new(simulated::SimulatedCarrier::new(simulation, clock)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_state_round_trips_through_base64() {
        let state = ClientState::customer(CallId(42));
        let encoded = state.encode();
        assert_eq!(BASE64.decode(&encoded).unwrap(), br#"{"call":42}"#);
        assert_eq!(ClientState::decode(&encoded), Some(state));
        assert_eq!(ClientState::decode(&ClientState::agent(CallId(7)).encode()), Some(ClientState::agent(CallId(7))));
        assert_eq!(ClientState::decode("not base64!"), None);
    }

    #[test]
    fn ring_timeout_below_fifteen_seconds_is_rejected() {
        let mut dial = DialRequest::new(CallId(1), "+13125550100", "+13125550199");
        assert_eq!(dial.validate(), Ok(()));
        dial.timeout_secs = 14;
        assert!(matches!(dial.validate(), Err(CarrierError::InvalidRequest(_))));
        dial.timeout_secs = 15;
        assert_eq!(dial.validate(), Ok(()));
        dial.to = "3125550100".into();
        assert!(matches!(dial.validate(), Err(CarrierError::InvalidRequest(_))));
    }

    #[test]
    fn hangups_with_fault_codes_are_failures() {
        let cases = [
            (HangupCause::UserBusy, Some(486), false),
            (HangupCause::Timeout, None, false),
            (HangupCause::NormalClearing, Some(200), false),
            (HangupCause::CallRejected, Some(603), false),
            (HangupCause::NotFound, Some(404), true),
            (HangupCause::Unspecified, Some(403), true),
            (HangupCause::Unspecified, Some(503), true),
        ];
        for (cause, sip, failed) in cases {
            let kind = CarrierEventKind::from_hangup(cause, sip);
            assert_eq!(matches!(kind, CarrierEventKind::Failed { .. }), failed, "{cause:?} {sip:?}");
            assert!(kind.is_terminal());
        }
    }
}
