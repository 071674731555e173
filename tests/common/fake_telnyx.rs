//! A fake Telnyx Call Control v2 for the tests: an axum server on a random port that follows the documented
//! contract (shared/research/apis.md §1), including its failures, and plays the far end of every call it places.
//! Once a test points it at the app ([`FakeTelnyx::deliver_to`]) it sends the webhooks a real call would, each with
//! the `client_state` the dial gave it, signed as Telnyx signs them ([`WebhookSigner`], an Ed25519 key pair made
//! here) at the app's clock, which is the clock the app checks timestamps against.
//!
//! The far end of a call: `call.initiated`; then, by the number ([`Settings::far_end`]), a busy signal
//! (`call.hangup` `user_busy`), no answer (`call.hangup` `timeout` after the ring-out), or `call.answered` and
//! `call.machine.detection.ended` (human or machine). A transfer makes the agent's leg, with the
//! `target_leg_client_state` it was given: its `call.initiated`, then, when the agent picks up, its `call.answered`
//! and `call.bridged` on both legs, and after the talk time `call.hangup` on both; an agent who does not pick up
//! gives the agent leg's `call.hangup` and leaves the customer's leg up (apis.md §1.3). A speak (the safe-harbor
//! message) or a hang-up gives `call.hangup`. A delivery the app does not take (no answer, not a 2xx) is tried again
//! a few times, as Telnyx does, then given up.

use super::TestApp;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey};
use outdial::clock::SharedClock;
use outdial::config::{CarrierKind, Config};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

pub const API_KEY: &str = "KEY0123456789SECRETabcdef";
pub const CONNECTION: &str = "1494404757140276705";
/// Tries of one webhook delivery, and the wait before the first retry (doubled after each).
const DELIVERY_TRIES: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// From a command to the webhook it causes.
const COMMAND_LATENCY: Duration = Duration::from_millis(30);

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: &'static str,
    /// `dial`, `status` or the action name.
    pub action: String,
    pub call_control_id: Option<String>,
    pub auth: Option<String>,
    pub body: Value,
}

/// Who answers a dialed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarEnd {
    Human,
    Machine,
    NoAnswer,
    Busy,
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long `POST /v2/calls` takes to answer (the call is placed at the end of it).
    pub dial_latency: Duration,
    /// From the dial to the answer or the busy signal.
    pub ring: Duration,
    /// From the answer to the machine detector's verdict.
    pub screening: Duration,
    /// How long an unanswered call rings before Telnyx gives up on it.
    pub ring_out: Duration,
    /// From a transfer to `call.bridged` (the agent's phone answering).
    pub connect: Duration,
    /// How long a transferred call talks before the callee hangs up.
    pub talk: Duration,
}

/// How the far end behaves; a test changes it with [`FakeTelnyx::settings`].
pub struct Settings {
    /// Who answers each number (`to`): a person, unless the test says otherwise.
    pub far_end: Arc<dyn Fn(&str) -> FarEnd + Send + Sync>,
    pub timing: Timing,
    /// Whether the agents' phones pick up transfers.
    pub agents_answer: bool,
    /// Deliver every webhook twice (Telnyx may), the second time freshly signed.
    pub redeliver: bool,
    /// Echo the Authorization header back in 401 errors (a misbehaving server).
    pub echo_auth: bool,
}

/// A call the fake placed, as its far end sees it.
#[derive(Debug, Clone)]
pub struct FakeCall {
    pub call_control_id: String,
    pub call_session_id: String,
    pub to: String,
    pub client_state: Option<String>,
    pub command_id: String,
    pub answered: bool,
    /// A transfer (or bridge) was accepted.
    pub transferred: bool,
    /// The agent's leg a transfer made.
    pub agent_leg: Option<String>,
    pub alive: bool,
    started: Instant,
    ended_at: Option<DateTime<Utc>>,
}

impl FakeCall {
    /// A new leg, ringing.
    fn ringing(call_control_id: String, call_session_id: String, to: &Value, client_state: &Value) -> FakeCall {
        FakeCall {
            call_control_id,
            call_session_id,
            to: to.as_str().unwrap_or_default().into(),
            client_state: client_state.as_str().map(str::to_owned),
            command_id: String::new(),
            answered: false,
            transferred: false,
            agent_leg: None,
            alive: true,
            started: Instant::now(),
            ended_at: None,
        }
    }
}

/// One try at delivering a webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub call_control_id: String,
    pub event_type: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    /// The app's answer; `None` when nobody answered.
    pub status: Option<u16>,
}

/// Where webhooks go: the app's endpoint, signed at the app's clock.
struct Target {
    signer: WebhookSigner,
    clock: SharedClock,
}

struct Fake {
    settings: Settings,
    requests: Vec<Recorded>,
    /// Canned answers per action, used before the normal behaviour.
    script: HashMap<String, VecDeque<(u16, Value)>>,
    /// Commands already carried out, by (call_control_id or "dial", command_id): Telnyx runs each once.
    done: HashSet<(String, String)>,
    calls: HashMap<String, FakeCall>,
    /// call_control_ids in the order the calls were placed.
    placed: Vec<String>,
    target: Option<Target>,
    deliveries: Vec<Delivery>,
    /// Deliveries being tried now.
    sending: usize,
}

impl Fake {
    fn now(&self) -> DateTime<Utc> {
        self.target.as_ref().map_or_else(Utc::now, |target| target.clock.now())
    }

    /// Ends a live call and its agent leg; the legs that were up.
    fn end_with_agent_leg(&mut self, id: &str) -> Vec<String> {
        let agent_leg = self.calls.get(id).and_then(|call| call.agent_leg.clone());
        [Some(id.to_owned()), agent_leg].into_iter().flatten().filter(|leg| self.end(leg)).collect()
    }

    /// Ends a live call leg; false when it had ended already.
    fn end(&mut self, id: &str) -> bool {
        let now = self.now();
        match self.calls.get_mut(id) {
            Some(call) if call.alive => {
                call.alive = false;
                call.ended_at = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// The fake server and the far end of its calls. Cheap to clone.
#[derive(Clone)]
pub struct FakeTelnyx {
    /// Base URL (`telnyx_api_url`).
    pub url: String,
    signer: WebhookSigner,
    state: Arc<Mutex<Fake>>,
}

impl FakeTelnyx {
    pub async fn spawn() -> FakeTelnyx {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Telnyx");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let settings = Settings {
            far_end: Arc::new(|_| FarEnd::Human),
            timing: Timing {
                dial_latency: Duration::ZERO,
                ring: Duration::from_millis(100),
                screening: Duration::from_millis(100),
                ring_out: Duration::from_secs(1),
                connect: COMMAND_LATENCY,
                talk: Duration::from_secs(1),
            },
            agents_answer: true,
            redeliver: false,
            echo_auth: false,
        };
        let state = Fake {
            settings,
            requests: Vec::new(),
            script: HashMap::new(),
            done: HashSet::new(),
            calls: HashMap::new(),
            placed: Vec::new(),
            target: None,
            deliveries: Vec::new(),
            sending: 0,
        };
        let fake = FakeTelnyx { url, signer: WebhookSigner::generate(""), state: Arc::new(Mutex::new(state)) };
        let app = axum::Router::new()
            .route("/v2/calls", post(dial))
            .route("/v2/calls/{id}", get(status))
            .route("/v2/calls/{id}/actions/{action}", post(action))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake Telnyx serves") });
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Fake> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The public half of the webhook key, base64, as the Telnyx portal shows it.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    /// Makes the app place its calls here and trust this fake's webhooks.
    pub fn configure(&self, config: &mut Config) {
        config.carrier = CarrierKind::Telnyx;
        config.telnyx_api_key = Some(SecretString::from(API_KEY));
        config.telnyx_connection_id = Some(CONNECTION.into());
        config.telnyx_api_url = self.url.clone();
        config.telnyx_public_key = Some(self.public_key());
    }

    /// Sends the webhooks from now on to `app`, signed at its clock.
    pub fn deliver_to(&self, app: &TestApp) {
        let signer = self.signer.aimed_at(format!("{}/webhooks/telnyx", app.address));
        self.lock().target = Some(Target { signer, clock: app.clock.clone() });
    }

    /// The signer aimed at the app (after [`deliver_to`](Self::deliver_to)), and the app's time now.
    pub fn signer(&self) -> (WebhookSigner, DateTime<Utc>) {
        let fake = self.lock();
        let target = fake.target.as_ref().expect("deliver_to first");
        (target.signer.clone(), target.clock.now())
    }

    pub fn settings(&self, change: impl FnOnce(&mut Settings)) {
        change(&mut self.lock().settings);
    }

    pub fn requests(&self, action: &str) -> Vec<Recorded> {
        self.lock().requests.iter().filter(|r| r.action == action).cloned().collect()
    }

    pub fn script(&self, action: &str, answers: impl IntoIterator<Item = (u16, Value)>) {
        self.lock().script.entry(action.into()).or_default().extend(answers);
    }

    /// A live, answered call the fake knows without a dial (to send commands to).
    pub fn place(&self, call_control_id: &str) {
        let to = json!("+13125550100");
        let call = FakeCall {
            answered: true,
            ..FakeCall::ringing(call_control_id.into(), "session-1".into(), &to, &Value::Null)
        };
        let mut fake = self.lock();
        fake.placed.push(call_control_id.into());
        fake.calls.insert(call_control_id.into(), call);
    }

    /// Every call placed, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        let fake = self.lock();
        fake.placed.iter().map(|id| fake.calls[id].clone()).collect()
    }

    /// A ringing call is picked up now, by a person.
    pub async fn answer_far_end(&self, id: &str) {
        self.pick_up(id, FarEnd::Human).await;
    }

    /// The callee hangs up now (and so the agent's leg ends too).
    pub async fn hang_up_far_end(&self, id: &str) {
        let ended = self.lock().end_with_agent_leg(id);
        for leg in ended {
            self.hangup_event(&leg, "normal_clearing", "callee").await;
        }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().deliveries.clone()
    }

    /// Waits until no delivery is being tried (given up or taken).
    pub async fn settled(&self) {
        while self.lock().sending > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A webhook body of one of the fake's calls, at the app's time (or the wall clock's, before
    /// [`deliver_to`](Self::deliver_to)).
    pub fn event(&self, id: &str, event_type: &str, event_id: &str, extra: Value) -> Option<String> {
        let fake = self.lock();
        let call = fake.calls.get(id)?;
        let mut payload = json!({
            "call_control_id": call.call_control_id, "call_leg_id": format!("leg-{}", call.call_session_id),
            "call_session_id": call.call_session_id, "connection_id": CONNECTION, "client_state": call.client_state,
            "from": "+12125550150", "to": call.to, "direction": "outgoing",
        });
        extend(&mut payload, extra);
        Some(event_body(event_type, event_id, fake.now(), payload))
    }

    /// Sends an event of a call that is still up.
    async fn send(&self, id: &str, event_type: &str, extra: Value) {
        if !self.lock().calls.get(id).is_some_and(|call| call.alive) {
            return;
        }
        self.deliver_event(id, event_type, extra).await;
    }

    async fn hangup_event(&self, id: &str, cause: &str, source: &str) {
        let sip = if cause == "user_busy" { "486" } else { "unspecified" };
        let extra = json!({"state": "hangup", "hangup_cause": cause, "hangup_source": source, "sip_hangup_cause": sip});
        self.deliver_event(id, "call.hangup", extra).await;
    }

    async fn deliver_event(&self, id: &str, event_type: &str, extra: Value) {
        let Some(body) = self.event(id, event_type, &uuid::Uuid::new_v4().to_string(), extra) else { return };
        let times = if self.lock().settings.redeliver { 2 } else { 1 };
        for _ in 0..times {
            self.deliver(id, event_type, &body).await;
        }
    }

    /// Tries a delivery until the app takes it (a 2xx) or the tries run out.
    async fn deliver(&self, id: &str, event_type: &str, body: &str) {
        self.lock().sending += 1;
        let mut wait = FIRST_RETRY;
        for attempt in 1..=DELIVERY_TRIES {
            let aim = self.lock().target.as_ref().map(|t| (t.signer.clone(), t.clock.now().timestamp()));
            let Some((signer, timestamp)) = aim else { break };
            let signature = signer.sign(timestamp, body);
            let status = signer.try_post(timestamp, &signature, body).await;
            self.lock().deliveries.push(Delivery {
                call_control_id: id.into(),
                event_type: event_type.into(),
                timestamp,
                signature,
                body: body.into(),
                status,
            });
            if status.is_some_and(|code| (200..300).contains(&code)) || attempt == DELIVERY_TRIES {
                break;
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        self.lock().sending -= 1;
    }

    /// The far end of a new call, from `call.initiated` to the detector's verdict (or the end).
    async fn play(self, id: String) {
        let (far_end, timing) = {
            let fake = self.lock();
            ((fake.settings.far_end)(&fake.calls[&id].to), fake.settings.timing)
        };
        self.send(&id, "call.initiated", json!({"state": "bridging"})).await;
        match far_end {
            FarEnd::Busy => {
                tokio::time::sleep(timing.ring).await;
                if self.lock().end(&id) {
                    self.hangup_event(&id, "user_busy", "callee").await;
                }
            }
            FarEnd::NoAnswer => {
                tokio::time::sleep(timing.ring_out).await;
                let unanswered = {
                    let mut fake = self.lock();
                    fake.calls.get(&id).is_some_and(|call| !call.answered) && fake.end(&id)
                };
                if unanswered {
                    self.hangup_event(&id, "timeout", "unknown").await;
                }
            }
            FarEnd::Human | FarEnd::Machine => {
                tokio::time::sleep(timing.ring).await;
                self.pick_up(&id, far_end).await;
            }
        }
    }

    /// A person or a machine answers a ringing call: `call.answered`, then the detector's verdict.
    async fn pick_up(&self, id: &str, who: FarEnd) {
        let (answered, screening) = {
            let mut fake = self.lock();
            let screening = fake.settings.timing.screening;
            let call = fake.calls.get_mut(id).filter(|call| call.alive && !call.answered);
            (call.map(|call| call.answered = true).is_some(), screening)
        };
        if !answered {
            return;
        }
        self.send(id, "call.answered", json!({"state": "answered"})).await;
        tokio::time::sleep(screening).await;
        let result = if who == FarEnd::Machine { "machine" } else { "human" };
        self.send(id, "call.machine.detection.ended", json!({"result": result})).await;
    }

    /// What a carried-out command makes the far end do.
    fn after_command(&self, id: String, action: &str) {
        let fake = self.clone();
        let (timing, agents_answer) = {
            let fake = self.lock();
            (fake.settings.timing, fake.settings.agents_answer)
        };
        match action {
            "transfer" => tokio::spawn(async move { fake.connect_agent(&id, timing, agents_answer).await }),
            "bridge" => tokio::spawn(async move {
                tokio::time::sleep(timing.connect).await;
                fake.send(&id, "call.bridged", json!({})).await;
                tokio::time::sleep(timing.talk).await;
                fake.hang_up_far_end(&id).await;
            }),
            // The callee hears the message and hangs up.
            "speak" => tokio::spawn(async move {
                tokio::time::sleep(COMMAND_LATENCY).await;
                fake.hang_up_far_end(&id).await;
            }),
            // Ended in the handler (with its agent leg), so that a status read right after says so.
            "hangup" => tokio::spawn(async move {
                tokio::time::sleep(COMMAND_LATENCY).await;
                fake.hangup_event(&id, "normal_clearing", "caller").await;
                let agent_leg = fake.lock().calls.get(&id).and_then(|call| call.agent_leg.clone());
                if let Some(leg) = agent_leg {
                    fake.hangup_event(&leg, "normal_clearing", "caller").await;
                }
            }),
            _ => return,
        };
    }

    /// A transfer's agent leg: it rings, and the agent picks up (both legs bridged, then talk and hang-up) or not
    /// (the agent leg ends; the customer's stays up).
    async fn connect_agent(&self, id: &str, timing: Timing, agents_answer: bool) {
        let Some(leg) = self.lock().calls.get(id).and_then(|call| call.agent_leg.clone()) else { return };
        tokio::time::sleep(COMMAND_LATENCY).await;
        self.send(&leg, "call.initiated", json!({"state": "bridging"})).await;
        tokio::time::sleep(timing.connect).await;
        if !agents_answer {
            if self.lock().end(&leg) {
                self.hangup_event(&leg, "timeout", "callee").await;
            }
            return;
        }
        if let Some(call) = self.lock().calls.get_mut(&leg) {
            call.answered = true;
        }
        self.send(&leg, "call.answered", json!({"state": "answered"})).await;
        self.send(id, "call.bridged", json!({})).await;
        self.send(&leg, "call.bridged", json!({})).await;
        tokio::time::sleep(timing.talk).await;
        self.hang_up_far_end(id).await;
    }
}

fn extend(value: &mut Value, extra: Value) {
    if let (Value::Object(value), Value::Object(extra)) = (value, extra) {
        value.extend(extra);
    }
}

pub fn telnyx_error(status: u16, code: &str, title: &str) -> (u16, Value) {
    (status, json!({"errors": [{"code": code, "title": title, "detail": title}]}))
}

fn reply((status, body): (u16, Value)) -> (StatusCode, Json<Value>) {
    (StatusCode::from_u16(status).expect("a status code"), Json(body))
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> Result<(), (u16, Value)> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let echo = fake.settings.echo_auth;
    if auth == format!("Bearer {API_KEY}") && !echo {
        return Ok(());
    }
    let detail = if echo { format!("bad header {auth}") } else { "Authentication failed".into() };
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

fn call_data(call: &FakeCall) -> Value {
    json!({"call_control_id": call.call_control_id, "call_leg_id": format!("leg-{}", call.call_session_id),
           "call_session_id": call.call_session_id, "is_alive": false, "record_type": "call"})
}

async fn dial(
    State(fake): State<FakeTelnyx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let latency = {
        let mut state = fake.lock();
        record(&mut state, "POST", "dial", None, &headers, &body);
        state.settings.timing.dial_latency
    };
    tokio::time::sleep(latency).await;
    let mut state = fake.lock();
    if let Err(error) = authorized(&state, &headers) {
        return reply(error);
    }
    if let Some(canned) = state.script.get_mut("dial").and_then(VecDeque::pop_front) {
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
    let command_id = body["command_id"].as_str().unwrap_or_default().to_owned();
    // A repeated command_id places no second call: the first one's data comes back.
    if let Some(call) = state.calls.values().find(|call| !command_id.is_empty() && call.command_id == command_id) {
        return reply((200, json!({"data": call_data(call)})));
    }
    let n = state.placed.len() + 1;
    // Holds a `/`, a `+` and `=`, so the client must percent-encode it in paths.
    let id = format!("v3:{n:04}/Md+I9x4l==");
    let call = FakeCall {
        command_id,
        ..FakeCall::ringing(id.clone(), format!("session-{n}"), &body["to"], &body["client_state"])
    };
    let data = call_data(&call);
    state.placed.push(id.clone());
    state.calls.insert(id.clone(), call);
    drop(state);
    tokio::spawn(fake.clone().play(id));
    reply((200, json!({ "data": data })))
}

async fn action(
    State(fake): State<FakeTelnyx>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut state = fake.lock();
    record(&mut state, "POST", &action, Some(&id), &headers, &body);
    if let Err(error) = authorized(&state, &headers) {
        return reply(error);
    }
    if let Some(canned) = state.script.get_mut(&action).and_then(VecDeque::pop_front) {
        return reply(canned);
    }
    let ok = (200, json!({"data": {"result": "ok"}}));
    let command = body["command_id"].as_str().unwrap_or_default().to_owned();
    if state.done.contains(&(id.clone(), command.clone())) {
        return reply(ok); // a repeated command_id is not run again
    }
    let Some(call) = state.calls.get(&id) else {
        return reply(telnyx_error(422, "90015", "Invalid call_control_id"));
    };
    if !call.alive {
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
    if action != "hangup" && !call.answered {
        return reply(telnyx_error(422, "90034", "Call not answered yet"));
    }
    match action.as_str() {
        "hangup" => {
            state.end_with_agent_leg(&id);
        }
        "transfer" => {
            let leg = format!("{id}~agent");
            let session = call.call_session_id.clone();
            let agent = FakeCall::ringing(leg.clone(), session, &body["to"], &body["target_leg_client_state"]);
            state.calls.insert(leg.clone(), agent);
            if let Some(call) = state.calls.get_mut(&id) {
                call.transferred = true;
                call.agent_leg = Some(leg);
            }
        }
        "bridge" => {
            if let Some(call) = state.calls.get_mut(&id) {
                call.transferred = true;
            }
        }
        _ => {}
    }
    state.done.insert((id.clone(), command));
    drop(state);
    fake.after_command(id, &action);
    reply(ok)
}

async fn status(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    let mut state = fake.lock();
    record(&mut state, "GET", "status", Some(&id), &headers, &Value::Null);
    if let Err(error) = authorized(&state, &headers) {
        return reply(error);
    }
    let Some(call) = state.calls.get(&id) else {
        return reply(telnyx_error(404, "10005", "Resource not found"));
    };
    let mut data = call_data(call);
    let end_time = call.ended_at.map(|at| at.to_rfc3339_opts(SecondsFormat::Micros, true));
    let duration = call.started.elapsed().as_secs();
    extend(
        &mut data,
        json!({"is_alive": call.alive, "client_state": call.client_state, "call_duration": duration,
               "start_time": null, "end_time": end_time}),
    );
    reply((200, json!({ "data": data })))
}

/// A Call Control v2 webhook body (the envelope of apis.md §1.4).
pub fn event_body(event_type: &str, id: &str, occurred_at: DateTime<Utc>, payload: Value) -> String {
    json!({
        "data": {"record_type": "event", "event_type": event_type, "id": id,
                 "occurred_at": occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true), "payload": payload},
        "meta": {"attempt": 1, "delivered_to": "http://example.invalid/webhooks/telnyx"}
    })
    .to_string()
}

/// Signs and posts webhooks as Telnyx does: `telnyx-signature-ed25519` is the base64 Ed25519 signature of
/// `"{timestamp}|{body}"`, `telnyx-timestamp` the Unix seconds. Cheap to clone (the key is shared).
#[derive(Clone)]
pub struct WebhookSigner {
    key: Arc<SigningKey>,
    /// The app's `POST /webhooks/telnyx`.
    pub url: String,
    http: reqwest::Client,
}

impl WebhookSigner {
    /// A new key pair, aimed at `url`.
    pub fn generate(url: impl Into<String>) -> Self {
        let key = Arc::new(SigningKey::generate(&mut rand_core::OsRng));
        WebhookSigner { key, url: url.into(), http: reqwest::Client::new() }
    }

    /// The same key, aimed elsewhere.
    pub fn aimed_at(&self, url: impl Into<String>) -> Self {
        WebhookSigner { url: url.into(), ..self.clone() }
    }

    pub fn public_key(&self) -> String {
        BASE64.encode(self.key.verifying_key().to_bytes())
    }

    pub fn sign(&self, timestamp: i64, body: &str) -> String {
        BASE64.encode(self.key.sign(format!("{timestamp}|{body}").as_bytes()).to_bytes())
    }

    /// Posts `body` with these headers; `None` when nobody answers.
    pub async fn try_post(&self, timestamp: i64, signature: &str, body: &str) -> Option<u16> {
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("telnyx-timestamp", timestamp.to_string())
            .header("telnyx-signature-ed25519", signature)
            .body(body.to_owned())
            .send()
            .await
            .ok()?;
        Some(response.status().as_u16())
    }

    pub async fn post(&self, timestamp: i64, signature: &str, body: &str) -> u16 {
        self.try_post(timestamp, signature, body).await.expect("the webhook endpoint answers")
    }

    /// Signs `body` at `timestamp` and posts it.
    pub async fn deliver(&self, timestamp: i64, body: &str) -> u16 {
        self.post(timestamp, &self.sign(timestamp, body), body).await
    }
}

/// Serves `app` on a random local port; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{address}")
}
