//! The Telnyx Call Control v2 client: dial, transfer/bridge, speak, hang up and call status over reqwest, with the
//! client-side dial-rate and channel limits and retries (same `command_id`, so Telnyx runs a command once). It must
//! never log the API key or put it in an error; it does not receive webhooks (that is `webhook.rs`), it is only told
//! of their events through [`TelnyxCarrier::publish`].

use super::{
    AgentEndpoint, CallStatus, Carrier, CarrierCallRef, CarrierError, CarrierEvent, ClientState, DialRequest,
    SafeHarbor,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};
use tokio::time::Instant;
use uuid::Uuid;

/// Telnyx's error code for "Call has already ended".
const CALL_ENDED: &str = "90018";
/// The error code of a command that needs an answered call, sent to one still ringing.
const NOT_ANSWERED: &str = "90034";

/// Everything the Telnyx carrier needs; build with [`TelnyxConfig::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct TelnyxConfig {
    /// `https://api.telnyx.com` in production; tests point it at a fake. Paths (`/v2/calls`) are appended.
    pub base_url: String,
    pub api_key: SecretString,
    /// The Call Control Application's id.
    pub connection_id: String,
    /// Overrides the application's webhook URL for our calls, when set.
    pub webhook_url: Option<String>,
    /// Client-side pacing of `POST /v2/calls`: at most this many dials in any one-second window. Telnyx's default
    /// account limit is 30 dials/s (as a 5-s rolling sum of 150); over it, HTTP 429 code 90103.
    pub dials_per_second: u32,
    /// How long a dial may wait for a dial-rate slot before it fails with `RateLimited`.
    pub max_dial_wait: Duration,
    /// Concurrent calls the account may hold (Telnyx: 2 at first, 10 after level-2 verification). A dial beyond it
    /// fails at once with `RateLimited` instead of ending as a SIP 403 "User channel limit exceeded".
    pub max_channels: u32,
    /// Time allowed for one HTTP attempt; past it the same command is sent again (Telnyx advises ~500 ms).
    pub request_timeout: Duration,
    /// Retries after the first attempt, for 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Voice for `speak`, `<Provider>.<Model>.<VoiceId>`.
    pub voice: String,
    pub language: String,
    /// Used to estimate when the safe-harbor message has been spoken, to hang up after it.
    pub speech_words_per_second: f64,
    /// Buffer of each event subscriber.
    pub event_buffer: usize,
}

impl TelnyxConfig {
    pub fn new(api_key: SecretString, connection_id: impl Into<String>) -> Self {
        TelnyxConfig {
            base_url: "https://api.telnyx.com".into(),
            api_key,
            connection_id: connection_id.into(),
            webhook_url: None,
            dials_per_second: 30,
            max_dial_wait: Duration::from_secs(1),
            max_channels: 10,
            request_timeout: Duration::from_secs(2),
            max_retries: 4,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            voice: "AWS.Polly.Joanna-Neural".into(),
            language: "en-US".into(),
            speech_words_per_second: 2.5,
            event_buffer: 1024,
        }
    }
}

/// The Telnyx Call Control v2 carrier. Cheap to clone (shared state).
#[derive(Clone)]
pub struct TelnyxCarrier {
    inner: Arc<Inner>,
}

struct Inner {
    config: TelnyxConfig,
    http: reqwest::Client,
    dial_rate: DialRate,
    channels: Arc<Semaphore>,
    held: Mutex<HashMap<String, OwnedSemaphorePermit>>,
    events: broadcast::Sender<CarrierEvent>,
}

impl std::fmt::Debug for TelnyxCarrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelnyxCarrier").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl TelnyxCarrier {
    pub fn new(config: TelnyxConfig) -> Result<Self, CarrierError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|_| CarrierError::InvalidRequest("the HTTP client could not be built".into()))?;
        let (events, _) = broadcast::channel(config.event_buffer.max(1));
        let inner = Inner {
            dial_rate: DialRate::new(config.dials_per_second.max(1) as usize, Duration::from_secs(1)),
            channels: Arc::new(Semaphore::new(config.max_channels as usize)),
            held: Mutex::new(HashMap::new()),
            config,
            http,
            events,
        };
        Ok(TelnyxCarrier { inner: Arc::new(inner) })
    }

    /// Hands the carrier an event that arrived by webhook (once per event: deduplicate first). A terminal event of a
    /// customer leg frees its channel; every event goes to the subscribers of [`Carrier::events`].
    pub fn publish(&self, event: CarrierEvent) {
        if event.kind.is_terminal() {
            self.release_channel(&event.call_control_id);
        }
        // No subscriber is not an error: nobody is listening yet.
        let _ = self.inner.events.send(event);
    }

    /// Channels held by calls we dialed that have not ended yet.
    pub fn channels_in_use(&self) -> usize {
        self.inner.held.lock().map(|held| held.len()).unwrap_or(0)
    }

    fn release_channel(&self, call_control_id: &str) {
        if let Ok(mut held) = self.inner.held.lock() {
            held.remove(call_control_id);
        }
    }

    async fn action(&self, call: &CarrierCallRef, action: &str, body: Value) -> Result<Value, CarrierError> {
        let path = format!("/v2/calls/{}/actions/{action}", path_segment(&call.call_control_id));
        self.send(Method::POST, &path, Some(body)).await
    }

    /// Sends one command, retrying 429, 5xx, timeouts and connection failures with exponential backoff and jitter.
    /// The body (and so its `command_id`) is the same on every attempt.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, CarrierError> {
        let config = &self.inner.config;
        let url = format!("{}{path}", config.base_url.trim_end_matches('/'));
        let mut attempt = 0;
        loop {
            let failure = match self.attempt(method.clone(), &url, body.as_ref()).await {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retryable(error)) => error,
            };
            if attempt >= config.max_retries {
                return Err(failure);
            }
            let delay = backoff(config.backoff_base, config.backoff_max, attempt);
            tracing::warn!(%path, attempt, error = %failure, delay_ms = delay.as_millis() as u64, "retrying Telnyx command");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Value, Attempt> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.inner.config.api_key.expose_secret()))
            .map_err(|_| Attempt::Final(CarrierError::InvalidRequest("the API key is not a valid header".into())))?;
        auth.set_sensitive(true);
        let mut request =
            self.inner.http.request(method, url).header(AUTHORIZATION, auth).header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|error| {
            Attempt::Retryable(if error.is_timeout() { CarrierError::Timeout } else { CarrierError::Unavailable })
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|_| Attempt::Retryable(CarrierError::Unavailable))?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Err(classify(status, &text, self.inner.config.api_key.expose_secret()))
    }
}

enum Attempt {
    Retryable(CarrierError),
    Final(CarrierError),
}

/// 429 and 5xx are worth another try; any other 4xx is final. The summary of a refusal is scrubbed of the API key
/// in case a server (or a proxy) echoes the request back.
fn classify(status: StatusCode, body: &str, api_key: &str) -> Attempt {
    if status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retryable(CarrierError::RateLimited)
    } else if status.is_server_error() {
        Attempt::Retryable(CarrierError::Unavailable)
    } else {
        let mut summary = error_summary(status, body);
        if has_error_code(body, NOT_ANSWERED) {
            return Attempt::Final(CarrierError::NotAnswered);
        }
        if !api_key.is_empty() {
            summary = summary.replace(api_key, "[REDACTED]");
        }
        Attempt::Final(CarrierError::Rejected(summary))
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Value,
    title: Option<String>,
    detail: Option<String>,
}

/// `"422 90018 Call has already ended: …"` from Telnyx's error body (the code is a string in the spec; a number is
/// accepted too).
fn error_summary(status: StatusCode, body: &str) -> String {
    let Ok(parsed) = serde_json::from_str::<ErrorBody>(body) else {
        return status.as_u16().to_string();
    };
    let items: Vec<String> = parsed
        .errors
        .iter()
        .map(|item| {
            let code = item.code.as_str().map(str::to_owned).unwrap_or_else(|| item.code.to_string());
            let mut text = format!("{code} {}", item.title.as_deref().unwrap_or(""));
            if let Some(detail) = &item.detail {
                text.push_str(": ");
                text.push_str(detail);
            }
            text.trim().to_owned()
        })
        .collect();
    format!("{} {}", status.as_u16(), items.join("; "))
}

/// Whether a Telnyx error body carries `code` (a string of digits, or a number from a server that strays).
fn has_error_code(body: &str, code: &str) -> bool {
    serde_json::from_str::<ErrorBody>(body).is_ok_and(|parsed| {
        parsed
            .errors
            .iter()
            .any(|item| item.code == code || item.code.as_u64().map(|n| n.to_string()).as_deref() == Some(code))
    })
}

fn is_call_ended(error: &CarrierError) -> bool {
    matches!(error, CarrierError::Rejected(text) if text.contains(CALL_ENDED))
}

/// Exponential backoff with jitter: a random delay in [d/2, d] where d = base·2^attempt, capped.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.min(16)).min(max);
    let half = full / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter)
}

/// Percent-encodes a call_control_id for a path segment (it may hold `/`, `+` or `=`); `:` stays as it is.
fn path_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// At most `limit` dials in any `window`: a sliding log of recent dial instants.
struct DialRate {
    limit: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl DialRate {
    fn new(limit: usize, window: Duration) -> Self {
        DialRate { limit, window, sent: Mutex::new(VecDeque::with_capacity(limit)) }
    }

    /// The dials of the last window, oldest first (older ones forgotten).
    fn recent(&self, now: Instant) -> Option<std::sync::MutexGuard<'_, VecDeque<Instant>>> {
        let mut sent = self.sent.lock().ok()?;
        while sent.front().is_some_and(|at| *at + self.window <= now) {
            sent.pop_front();
        }
        Some(sent)
    }

    /// Slots free now.
    fn free(&self) -> usize {
        self.recent(Instant::now()).map_or(0, |sent| self.limit.saturating_sub(sent.len()))
    }

    /// Takes a slot, waiting for one up to `max_wait`; `false` when none frees up in time.
    async fn acquire(&self, max_wait: Duration) -> bool {
        let deadline = Instant::now() + max_wait;
        loop {
            let wait_until = {
                let now = Instant::now();
                let Some(mut sent) = self.recent(now) else { return false };
                if sent.len() < self.limit {
                    sent.push_back(now);
                    return true;
                }
                sent.front().map(|oldest| *oldest + self.window).unwrap_or(now)
            };
            if wait_until > deadline {
                return false;
            }
            tokio::time::sleep_until(wait_until).await;
        }
    }
}

#[derive(Deserialize)]
struct DataEnvelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct DialData {
    call_control_id: String,
    call_session_id: String,
    call_leg_id: Option<String>,
}

#[derive(Deserialize)]
struct CallData {
    is_alive: bool,
    call_duration: Option<i64>,
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
}

#[async_trait]
impl Carrier for TelnyxCarrier {
    fn name(&self) -> &'static str {
        "telnyx"
    }

    async fn dial(&self, request: DialRequest) -> Result<CarrierCallRef, CarrierError> {
        request.validate()?;
        let config = &self.inner.config;
        let permit = self.inner.channels.clone().try_acquire_owned().map_err(|_| CarrierError::RateLimited)?;
        if !self.inner.dial_rate.acquire(config.max_dial_wait).await {
            return Err(CarrierError::RateLimited);
        }
        let mut body = json!({
            "connection_id": config.connection_id,
            "to": request.to,
            "from": request.from,
            "timeout_secs": request.timeout_secs,
            "answering_machine_detection": if request.machine_detection { "detect" } else { "disabled" },
            "client_state": request.client_state().encode(),
            "command_id": request.command_id.to_string(),
        });
        if let Some(url) = &config.webhook_url {
            body["webhook_url"] = json!(url);
        }
        let response = self.send(Method::POST, "/v2/calls", Some(body)).await?;
        let data = serde_json::from_value::<DataEnvelope<DialData>>(response)
            .map_err(|_| CarrierError::Rejected("the dial response had no call_control_id".into()))?
            .data;
        if let Ok(mut held) = self.inner.held.lock() {
            held.insert(data.call_control_id.clone(), permit);
        }
        Ok(CarrierCallRef {
            call: request.call,
            call_control_id: data.call_control_id,
            call_session_id: data.call_session_id,
            call_leg_id: data.call_leg_id,
        })
    }

    async fn bridge(&self, call: &CarrierCallRef, agent: &AgentEndpoint) -> Result<(), CarrierError> {
        let command_id = Uuid::new_v4().to_string();
        match agent {
            AgentEndpoint::Sip(to) => {
                let body = json!({
                    "to": to,
                    "target_leg_client_state": ClientState::agent(call.call).encode(),
                    "command_id": command_id,
                });
                self.action(call, "transfer", body).await?;
            }
            AgentEndpoint::Leg(other) => {
                let body = json!({ "call_control_id": other, "command_id": command_id });
                self.action(call, "bridge", body).await?;
            }
        }
        Ok(())
    }

    /// Speaks the message, then hangs up once it should have been spoken (estimated from its length: Telnyx has no
    /// "hang up after speak", and the `call.speak.ended` webhook is not a carrier event). If the callee hangs up
    /// first, the hang-up finds the call ended, which is fine.
    async fn play_safe_harbor(&self, call: &CarrierCallRef, message: &SafeHarbor) -> Result<(), CarrierError> {
        let config = &self.inner.config;
        let text = message.text();
        let body = json!({
            "payload": text,
            "payload_type": "text",
            "voice": config.voice,
            "language": config.language,
            "command_id": Uuid::new_v4().to_string(),
        });
        self.action(call, "speak", body).await?;
        let words = text.split_whitespace().count() as f64;
        let seconds = words / config.speech_words_per_second.max(0.1) + 1.0 / config.speech_words_per_second.max(0.1);
        let carrier = self.clone();
        let call = call.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(seconds.min(60.0))).await;
            if let Err(error) = carrier.hangup(&call).await {
                tracing::warn!(call = call.call.0, %error, "hang-up after the safe-harbor message failed");
            }
        });
        Ok(())
    }

    async fn hangup(&self, call: &CarrierCallRef) -> Result<(), CarrierError> {
        let body = json!({ "command_id": Uuid::new_v4().to_string() });
        match self.action(call, "hangup", body).await {
            Ok(_) => Ok(()),
            Err(error) if is_call_ended(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// A call Telnyx no longer knows (404; it keeps ended calls about 10 minutes) is reported as not alive.
    async fn call_status(&self, call: &CarrierCallRef) -> Result<CallStatus, CarrierError> {
        let path = format!("/v2/calls/{}", path_segment(&call.call_control_id));
        let status = match self.send(Method::GET, &path, None).await {
            Ok(value) => {
                let data = serde_json::from_value::<DataEnvelope<CallData>>(value)
                    .map_err(|_| CarrierError::Rejected("the call status response had no data".into()))?
                    .data;
                CallStatus {
                    is_alive: data.is_alive,
                    call_duration_secs: data.call_duration,
                    start_time: data.start_time,
                    end_time: data.end_time,
                }
            }
            Err(CarrierError::Rejected(text)) if text.starts_with("404") => {
                CallStatus { is_alive: false, call_duration_secs: None, start_time: None, end_time: None }
            }
            Err(error) => return Err(error),
        };
        if !status.is_alive {
            self.release_channel(&call.call_control_id);
        }
        Ok(status)
    }

    fn events(&self) -> broadcast::Receiver<CarrierEvent> {
        self.inner.events.subscribe()
    }

    fn observe(&self, event: &CarrierEvent) {
        if event.kind.is_terminal() {
            self.release_channel(&event.call_control_id);
        }
    }

    fn free_channels(&self) -> Option<u32> {
        Some(u32::try_from(self.inner.channels.available_permits()).unwrap_or(u32::MAX))
    }

    fn free_dials(&self) -> Option<u32> {
        Some(u32::try_from(self.inner.dial_rate.free()).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_control_ids_are_percent_encoded_in_paths() {
        assert_eq!(path_segment("v3:MdI91X4l-a_b"), "v3:MdI91X4l-a_b");
        assert_eq!(path_segment("ab/c+d=="), "ab%2Fc%2Bd%3D%3D");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 0..10 {
            let delay = backoff(base, max, attempt);
            let full = (base * 2u32.pow(attempt)).min(max);
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
    }

    #[test]
    fn telnyx_errors_are_summarised_with_their_code() {
        let body = r#"{"errors":[{"code":"90018","title":"Call has already ended","detail":"gone"}]}"#;
        let summary = error_summary(StatusCode::UNPROCESSABLE_ENTITY, body);
        assert_eq!(summary, "422 90018 Call has already ended: gone");
        assert!(is_call_ended(&CarrierError::Rejected(summary)));
        assert_eq!(error_summary(StatusCode::NOT_FOUND, "<html>"), "404");
    }

    #[test]
    fn a_command_to_a_ringing_call_is_refused_as_not_answered() {
        let body = r#"{"errors":[{"code":"90034","title":"Call not answered yet"}]}"#;
        let refused = classify(StatusCode::UNPROCESSABLE_ENTITY, body, "KEY");
        assert!(matches!(refused, Attempt::Final(CarrierError::NotAnswered)));
        let other = r#"{"errors":[{"code":"90018","title":"Call has already ended","detail":"90034"}]}"#;
        assert!(matches!(
            classify(StatusCode::UNPROCESSABLE_ENTITY, other, "KEY"),
            Attempt::Final(CarrierError::Rejected(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn dial_rate_allows_a_burst_then_waits_for_the_window() {
        let rate = DialRate::new(3, Duration::from_secs(1));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(rate.acquire(Duration::ZERO).await);
        }
        assert!(!rate.acquire(Duration::from_millis(500)).await);
        assert!(rate.acquire(Duration::from_secs(2)).await);
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }
}
