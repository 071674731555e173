//! Live-loop benchmark: the real `App` in-process (scheduler, campaign tasks, floor, gate, store,
//! simulated carrier at `sim_time_scale` 20) over a fresh database, a tenant seeded through the
//! store functions (contacts with written consent, agents AVAILABLE on predictive campaigns),
//! measured for a fixed time after a warm-up:
//!
//! - sustained dials per second (call rows created), carrier events stored per second and the
//!   event intake's delay (the carrier's event → its `CallUpdate` on the bus);
//! - live answer → agent offer: from the human AMD verdict (as the carrier sent it, and as the
//!   intake published it) to the `AgentUpdate` carrying the offer for that call; p50/p99/max,
//!   and how many live answers were abandoned instead;
//! - how many agents were AVAILABLE on average (idle agents while dials stay below the pacer's
//!   ceiling mean the system, not the pacer, is the limit), warnings logged, RSS.
//!
//! Rows, per backend: the dial path alone (hopper, gate, call row, carrier, event intake; no
//! pacer, no agents) as fast as it goes, which is the baseline; 100 agents on one campaign;
//! 1,000 agents on one campaign; 1,000 agents over 10 campaigns of 100 (each campaign task has
//! its own carrier rate window of 150 dials per 5 s, so this row lifts that cap); and the two
//! one-campaign rows again at scale 5, where calls outlast the 5-s rate window.
//!
//! Each row runs in its own child process (a fresh runtime, database and RSS).
//! `cargo bench --bench live_loop` (SQLite only) or
//! `scripts/with-postgres.sh cargo bench --bench live_loop` (both backends). Environment:
//! `OUTDIAL_BENCH_SECONDS` (measured, default 60), `OUTDIAL_BENCH_WARMUP` (default 10),
//! `OUTDIAL_BENCH_TIME_SCALE` (default 20), `OUTDIAL_BENCH_CONTACTS` (per campaign, default
//! 50,000; 135,000 numbers in all), `OUTDIAL_BENCH_ROWS` (row names, comma-separated:
//! `dial-path`, `live-<agents>x<campaigns>[@<scale>]`), `OUTDIAL_BENCH_LOG` (a log filter to
//! print the service's logs, e.g. `info`), `OUTDIAL_BENCH_TIMELINE` (print each row's
//! second-by-second dials, live answers, offers, abandons and AVAILABLE agents).

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use common::Backend;
use outdial::acd::CallId;
use outdial::acd::{StateChange, Status};
use outdial::app::App;
use outdial::auth::TenantId;
use outdial::campaign::{CampaignSettings, DialerMode, LifecycleAction};
use outdial::clock::{OffsetClock, SharedClock};
use outdial::compliance::consent::ConsentKind;
use outdial::config::Config;
use outdial::dialer::hopper::Hopper;
use outdial::dialer::scheduler::Shared;
use outdial::events::CallUpdate;
use outdial::graphql::ApiState;
use outdial::store::agents::AgentProfile;
use outdial::store::calls::NewCall;
use outdial::store::compliance::Purpose;
use outdial::store::contacts::NewContact;
use outdial::telephony::simulated::{SimulatedCarrier, SimulationConfig};
use outdial::telephony::{AgentEndpoint, AmdResult, Carrier, CarrierCallRef, CarrierEventKind, DialRequest};
use sea_orm::{EntityTrait, PaginatorTrait, Set};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

const TENANT: &str = "bench";
/// New York area codes (Eastern time, inside calling hours at the bench clock's 10:00).
const AREA_CODES: [&str; 15] =
    ["212", "315", "347", "516", "518", "585", "607", "631", "646", "716", "718", "845", "914", "917", "929"];
/// Lines 1000-9999 of the 555 exchange of each area code.
const LINES_PER_AREA: usize = 9_000;
/// The campaign task's carrier rate window (runner.rs: 150 dials per 5 s).
const WINDOW_CAP_PER_SECOND: f64 = 30.0;
/// Contacts per dial step in the dial-path baseline.
const BASELINE_BATCH: usize = 20;
/// After the window: live answers still waiting for an agent get their offer or their abandon.
const SETTLE: Duration = Duration::from_secs(3);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// Hopper, gate, call row, carrier and event intake as fast as they go; no pacer, no agents.
    DialPath,
    /// `agents` spread over `campaigns`; `time_scale` when the row sets its own (`name@scale`).
    Live { agents: usize, campaigns: usize, time_scale: Option<f64> },
}

impl Scenario {
    /// The default rows. At scale 5 a call lasts longer than the campaign task's 5-s carrier
    /// rate window, so live answers meet its dial steps; 100 agents then meet the pacer's start.
    const ALL: [&str; 6] = ["dial-path", "live-100x1", "live-1000x1", "live-1000x10", "live-100x1@5", "live-1000x1@5"];

    fn parse(name: &str) -> Option<Scenario> {
        let (name, time_scale) = match name.split_once('@') {
            Some((name, scale)) => (name, Some(scale.parse().ok()?)),
            None => (name, None),
        };
        match name {
            "dial-path" => Some(Scenario::DialPath),
            live => {
                let (agents, campaigns) = live.strip_prefix("live-")?.split_once('x')?;
                Some(Scenario::Live { agents: agents.parse().ok()?, campaigns: campaigns.parse().ok()?, time_scale })
            }
        }
    }

    fn time_scale(self, default: f64) -> f64 {
        match self {
            Scenario::Live { time_scale: Some(scale), .. } => scale,
            _ => default,
        }
    }

    fn describe(self) -> String {
        let scale = |s: Option<f64>| s.map_or(String::new(), |s| format!(", scale {s}"));
        match self {
            Scenario::DialPath => "dial path alone (baseline)".into(),
            Scenario::Live { agents, campaigns: 1, time_scale } => {
                format!("{agents} agents, 1 campaign{}", scale(time_scale))
            }
            Scenario::Live { agents, campaigns, time_scale } => {
                format!("{agents} agents, {campaigns} campaigns{}", scale(time_scale))
            }
        }
    }
}

/// What one row measured (a child process prints it as JSON).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Figures {
    seed_seconds: f64,
    seconds: f64,
    dials: u64,
    events: u64,
    intake_ms: Quantiles,
    human: u64,
    offered: u64,
    abandoned: u64,
    unresolved: u64,
    /// Live answers abandoned from the start of the campaign (warm-up included).
    abandoned_in_run: u64,
    /// The human verdict published by the intake → the offer published by the floor.
    offer_ms: Quantiles,
    /// Of those: offers while no dial was started during the wait, and while dials were.
    offer_quiet_ms: Quantiles,
    offer_quiet: u64,
    offer_dialing_ms: Quantiles,
    offer_dialing: u64,
    /// The human verdict sent by the carrier → the offer published (what the caller waits).
    end_to_end_ms: Quantiles,
    agents: usize,
    available_avg: f64,
    reserved_avg: f64,
    on_call_avg: f64,
    wrap_up_avg: f64,
    probe_lagged: u64,
    missed_carrier_events: u64,
    warnings: BTreeMap<String, u64>,
    contacts_blocked: u64,
    rss_mb: f64,
    peak_rss_mb: f64,
}

#[derive(Debug, Default, Clone, Copy, Serialize, Deserialize)]
struct Quantiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Quantiles {
    fn of_micros(mut values: Vec<i64>) -> Quantiles {
        if values.is_empty() {
            return Quantiles::default();
        }
        values.sort_unstable();
        let at = |q: f64| values[((values.len() as f64 * q) as usize).min(values.len() - 1)] as f64 / 1e3;
        Quantiles { p50: at(0.5), p99: at(0.99), max: *values.last().expect("not empty") as f64 / 1e3 }
    }
}

// ---------------------------------------------------------------------------------------------
// Logs: warnings and errors are counted by message; `carrier events were missed` sums `missed`.

static WARNINGS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static MISSED: AtomicU64 = AtomicU64::new(0);

struct CountWarnings;

#[derive(Default)]
struct Fields {
    message: String,
    missed: u64,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        }
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "missed" {
            self.missed = value;
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() > tracing::Level::WARN {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        MISSED.fetch_add(fields.missed, Ordering::Relaxed);
        let key = format!("{} {}", event.metadata().level(), fields.message);
        *WARNINGS.lock().expect("warnings").entry(key).or_default() += 1;
    }
}

fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let printed = std::env::var("OUTDIAL_BENCH_LOG").ok().filter(|f| !f.is_empty());
    let filter = printed.clone().map_or_else(|| "warn".into(), |f| format!("warn,{f}"));
    tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(filter))
        .with(CountWarnings)
        .with(printed.map(|_| tracing_subscriber::fmt::layer().with_writer(std::io::stderr)))
        .init();
}

// ---------------------------------------------------------------------------------------------
// The service and its tenant.

/// A Tuesday at 15:00 UTC (10:00 in New York) a week ago, running on at the wall clock's pace.
fn weekday_morning_in_new_york() -> SharedClock {
    let mut day = Utc::now().date_naive() - TimeDelta::days(7);
    while day.weekday() != chrono::Weekday::Tue {
        day = day.pred_opt().expect("a day before");
    }
    let at = Utc.from_utc_datetime(&day.and_hms_opt(15, 0, 0).expect("15:00"));
    Arc::new(OffsetClock(at - Utc::now()))
}

struct Service {
    api: ApiState,
    config: Config,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start_service(backend: Backend, time_scale: f64, clock: SharedClock) -> Service {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_database(common::fresh_database(backend, dir.path()).await);
    config.jwt_secret = Some(SecretString::from(common::SECRET.to_owned()));
    config.sim_time_scale = time_scale;
    let app = App::build(&config, clock).await.expect("build the app");
    let api = app.api().clone();
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(app.run_until_stopped());
    Service { api, config, shutdown, task, _dir: dir }
}

fn phone(n: usize) -> String {
    let area = AREA_CODES[n / LINES_PER_AREA];
    format!("+1{area}555{:04}", 1000 + n % LINES_PER_AREA)
}

struct Seeded {
    campaigns: Vec<entity::campaign::Model>,
    agents: Vec<i64>,
}

/// The tenant: `campaigns` predictive campaigns, each over its own list of `contacts` numbers
/// with written consent on record, and `agents` agents spread evenly over them, AVAILABLE.
async fn seed(api: &ApiState, config: &Config, campaigns: usize, agents: usize, contacts: usize) -> Seeded {
    // The baseline bridges no agent and has no pacer to keep its abandonment down: progressive
    // mode, so that the gate's abandonment cap (predictive only) does not refuse every number.
    let mode = if agents == 0 { DialerMode::Progressive } else { DialerMode::Predictive };
    let (store, now, tenant) = (&api.store, api.clock.now(), TenantId::new(TENANT));
    // 135,000 bench numbers in all: campaigns share them out.
    let contacts = contacts.min(AREA_CODES.len() * LINES_PER_AREA / campaigns);
    // No National DNC copy here: warn about it instead of refusing every number.
    let settings = serde_json::json!({"staleRegistry": "WARN"}).as_object().cloned().expect("object");
    store.update_tenant_settings(&tenant, settings, now).await.expect("tenant settings");
    // Consents in bulk: the store records them one per transaction (a form submission each).
    let db = sea_orm::Database::connect(&config.database_url).await.expect("connect");
    let numbers: Vec<String> = (0..campaigns * contacts).map(phone).collect();
    for chunk in numbers.chunks(1_000) {
        let rows = chunk.iter().map(|number| entity::consent::ActiveModel {
            tenant_id: Set(TENANT.into()),
            phone_number: Set(number.clone()),
            kind: Set(ConsentKind::PriorExpressWritten.as_str().into()),
            source: Set(Some("bench web form".into())),
            captured_at: Set(now - TimeDelta::days(30)),
            expires_at: Set(None),
            revoked_at: Set(None),
            revoked_via: Set(None),
            recorded_by: Set("bench".into()),
            ebr_basis: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        entity::consent::Entity::insert_many(rows).exec_without_returning(&db).await.expect("consents");
    }
    db.close().await.ok();
    let mut seeded = Seeded { campaigns: Vec::new(), agents: Vec::new() };
    for (c, numbers) in numbers.chunks(contacts).enumerate() {
        let list = store.contact_lists().create(&tenant, &format!("bench leads {c}"), now).await.expect("list");
        for (b, batch) in numbers.chunks(1_000).enumerate() {
            let batch = batch.iter().enumerate().map(|(i, number)| NewContact {
                phone_number: number.clone(),
                first_name: Some("Ava".into()),
                last_name: Some("Nguyen".into()),
                email: None,
                state: Some("NY".into()),
                zip: None,
                timezone: None,
                external_id: None,
                custom_fields: serde_json::json!({"policy": format!("HO-{b}-{i}")}),
                source_row: b * 1_000 + i + 1,
            });
            store.contacts().insert_batch(&tenant, list.id, batch.collect(), now).await.expect("contacts");
        }
        let mut settings = CampaignSettings::defaults(format!("bench {c}"), mode);
        settings.caller_id = Some("+12125550150".into());
        settings.script = Some("Hello {{first_name}}, about your policy {{policy}}".into());
        settings.max_attempts = 1;
        settings.wrap_up_timeout_seconds = Some(2);
        settings.cost_per_minute = 0.02;
        let campaign = store.campaigns().create(&tenant, &settings, &[list.id], now).await.expect("campaign");
        seeded.campaigns.push(campaign);
    }
    for n in 0..agents {
        let campaign = seeded.campaigns[n * campaigns / agents.max(1)].id;
        let profile = AgentProfile {
            name: Some(format!("agent {n}")),
            languages: Some(vec!["en".into()]),
            campaign_ids: Some(vec![campaign]),
            ..AgentProfile::default()
        };
        seeded.agents.push(store.agents().create(&tenant, profile, now).await.expect("agent").id);
    }
    for &agent in &seeded.agents {
        api.floor.set_agent_state(&tenant, agent, StateChange::Available, api.clock.now()).await.expect("available");
    }
    seeded
}

async fn start_campaigns(api: &ApiState, campaigns: &[entity::campaign::Model]) {
    let tenant = TenantId::new(TENANT);
    for campaign in campaigns {
        let mut row = campaign.clone();
        for action in [LifecycleAction::Schedule, LifecycleAction::Start] {
            let now = api.clock.now();
            row = api.store.campaigns().apply_action(&tenant, row.id, action, None, None, now).await.expect("start");
        }
        api.floor.campaign_changed(&tenant, &row, api.clock.now()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The probe: an in-process subscriber of the bus.

#[derive(Default)]
struct LiveAnswer {
    published: Option<Instant>,
    sent_by_carrier: Option<DateTime<Utc>>,
    in_window: bool,
    offered: bool,
    ended: bool,
}

#[derive(Default)]
struct Probe {
    events: u64,
    intake_us: Vec<i64>,
    answers: HashMap<i64, LiveAnswer>,
    offer_us: Vec<i64>,
    end_to_end_us: Vec<i64>,
    /// Of `offer_us`: offers whose wait saw no new dial, and those whose wait saw some.
    offer_quiet_us: Vec<i64>,
    offer_dialing_us: Vec<i64>,
    /// When the last `call.initiated` events were received (the last 3 s).
    dials: VecDeque<Instant>,
    agents: HashMap<i64, u8>,
    /// Sums over samples of agents AVAILABLE, RESERVED, ON_CALL, WRAP_UP; and the sample count.
    states: [u64; 4],
    samples: u64,
    lagged: u64,
    /// Per second since the probe started, warm-up included.
    timeline: Vec<Second>,
    started: Option<Instant>,
}

/// One second of the run: dials, live answers, offers and abandons; agents AVAILABLE at its end.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    dials: u32,
    live: u32,
    offers: u32,
    abandoned: u32,
    available: usize,
}

fn state_index(status: &Status) -> Option<u8> {
    match status {
        Status::Available => Some(0),
        Status::Reserved { .. } | Status::Previewing { .. } => Some(1),
        Status::OnCall { .. } => Some(2),
        Status::WrapUp { .. } => Some(3),
        Status::Offline | Status::Paused { .. } => None,
    }
}

impl Probe {
    fn second(&mut self) -> &mut Second {
        let at = self.started.get_or_insert_with(Instant::now).elapsed().as_secs() as usize;
        if self.timeline.len() <= at {
            self.timeline.resize(at + 1, Second::default());
        }
        &mut self.timeline[at]
    }

    fn call(&mut self, update: &CallUpdate, clock: &SharedClock, measuring: bool) {
        if measuring {
            self.events += 1;
            self.intake_us.push((clock.now() - update.occurred_at).num_microseconds().unwrap_or(i64::MAX));
        }
        match update.kind.as_str() {
            "call.initiated" => {
                self.second().dials += 1;
                let now = Instant::now();
                self.dials.push_back(now);
                while self.dials.front().is_some_and(|at| now - *at > Duration::from_secs(3)) {
                    self.dials.pop_front();
                }
            }
            "call.machine.detection.ended" if update.call.amd_result.as_deref() != Some("machine") => {
                let answer = self.answers.entry(update.call.id).or_default();
                answer.published = Some(Instant::now());
                answer.sent_by_carrier = Some(update.occurred_at);
                answer.in_window = measuring;
                self.second().live += 1;
            }
            "call.hangup" | "call.failed" => {
                if let Some(answer) = self.answers.get_mut(&update.call.id) {
                    answer.ended = true;
                    if !answer.offered {
                        self.second().abandoned += 1;
                    }
                }
            }
            _ => {}
        }
    }

    fn offered(&mut self, call: i64, clock: &SharedClock) {
        let Some(answer) = self.answers.get_mut(&call) else { return };
        answer.offered = true;
        self.second().offers += 1;
        let Some(answer) = self.answers.get(&call) else { return };
        if let (true, Some(published), Some(sent)) = (answer.in_window, answer.published, answer.sent_by_carrier) {
            let waited = published.elapsed().as_micros() as i64;
            self.offer_us.push(waited);
            if self.dials.back().is_some_and(|at| *at >= published) {
                self.offer_dialing_us.push(waited);
            } else {
                self.offer_quiet_us.push(waited);
            }
            self.end_to_end_us.push((clock.now() - sent).num_microseconds().unwrap_or(i64::MAX));
        }
    }

    fn sample(&mut self, measuring: bool) {
        let available = self.agents.values().filter(|&&s| s == 0).count();
        self.second().available = available;
        if !measuring {
            return;
        }
        self.samples += 1;
        for &state in self.agents.values() {
            self.states[usize::from(state)] += 1;
        }
    }
}

/// Follows the bus until `stop`; counts what happens between `from` and `until`.
async fn probe(api: ApiState, agents: Vec<i64>, from: Instant, until: Instant, stop: CancellationToken) -> Probe {
    let mut calls = api.bus.subscribe_calls();
    let mut updates = api.bus.subscribe_agents();
    let mut probe = Probe {
        agents: agents.into_iter().map(|a| (a, 0)).collect(),
        started: Some(Instant::now()),
        ..Probe::default()
    };
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let clock = api.clock.clone();
    loop {
        let measuring = (from..until).contains(&Instant::now());
        // Calls first: a verdict is always published before its offer.
        tokio::select! {
            biased;
            _ = stop.cancelled() => return probe,
            update = calls.recv() => match update {
                Ok(update) => probe.call(&update, &clock, measuring),
                Err(RecvError::Lagged(n)) => probe.lagged += n,
                Err(RecvError::Closed) => return probe,
            },
            update = updates.recv() => match update {
                Ok(update) => {
                    if let Some(state) = state_index(&update.status) {
                        probe.agents.insert(update.agent.0, state);
                    } else {
                        probe.agents.remove(&update.agent.0);
                    }
                    if let Some(offer) = &update.offer {
                        probe.offered(offer.decision.call.0, &clock);
                    }
                }
                Err(RecvError::Lagged(n)) => probe.lagged += n,
                Err(RecvError::Closed) => return probe,
            },
            _ = every.tick() => probe.sample(measuring),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: the dial path without the campaign task.

/// The runner's dial path in a loop (hopper refill with the gate, gate at the dial instant, the
/// call row with its audit, the carrier in its own task with the screen-pop read and the carrier
/// id written), and the scheduler's intake (each event stored, then published), until `until`.
async fn dial_path(service: &Service, campaign: &entity::campaign::Model, time_scale: f64, until: Instant) {
    let api = &service.api;
    let simulation = SimulationConfig { time_scale, ..SimulationConfig::default() };
    let carrier: Arc<dyn Carrier> = Arc::new(SimulatedCarrier::new(simulation, api.clock.clone()));
    let shared = Arc::new(Shared {
        store: api.store.clone(),
        gate: api.gate.clone(),
        floor: api.floor.clone(),
        bus: api.bus.clone(),
        carrier: carrier.clone(),
        clock: api.clock.clone(),
        settings: Default::default(),
        telemetry: api.telemetry.clone(),
        commands: Default::default(),
        crm: api.crm.clone(),
    });
    let intake = tokio::spawn(intake(shared.clone()));
    let tenant = TenantId::new(TENANT);
    let lists = api.store.campaigns().list_ids(&tenant, &[campaign.id]).await.expect("lists").remove(&campaign.id);
    let lists = lists.expect("the campaign's lists");
    let mut hopper = Hopper::default();
    while Instant::now() < until {
        let now = api.clock.now();
        if hopper.len() < BASELINE_BATCH * 2 {
            hopper
                .refill(&shared, &tenant, (campaign, DialerMode::Progressive), &lists, BASELINE_BATCH * 4, now)
                .await
                .expect("refill");
        }
        let contacts = hopper.take(BASELINE_BATCH, now);
        let judgement = shared.gate.judgement(&tenant, now, Some(campaign)).await.expect("judgement");
        let numbers: Vec<String> = contacts.iter().map(|c| c.phone_number.clone()).collect();
        let verdicts = shared.gate.check_with(&judgement, &numbers, Purpose::Dial, now).await.expect("gate");
        let dials = contacts
            .iter()
            .zip(&verdicts)
            .map(|(contact, verdict)| {
                let new = NewCall {
                    campaign_id: campaign.id,
                    contact_id: contact.id,
                    attempt: contact.attempts + 1,
                    carrier: carrier.name(),
                    from_number: "+12125550150".into(),
                    to_number: contact.phone_number.clone(),
                };
                (new, verdict)
            })
            .collect();
        let rows = shared.store.calls().create_dialed_many(&tenant, dials, now).await.expect("dial step");
        for (contact, row) in contacts.into_iter().zip(rows) {
            let Ok(row) = row else { continue };
            let request = DialRequest::new(CallId(row.id), contact.phone_number.clone(), "+12125550150");
            let (shared, tenant) = (shared.clone(), tenant.clone());
            tokio::spawn(async move {
                let calls = shared.store.calls();
                let (result, _) = tokio::join!(shared.carrier.dial(request), calls.of_contact(&tenant, contact.id, 11));
                if let Ok(handle) = result {
                    let _ =
                        calls.set_carrier_ref(&tenant, row.id, &handle.call_control_id, &handle.call_session_id).await;
                }
            });
        }
    }
    intake.abort();
}

/// The scheduler's event intake without a campaign task to hand events to: the events that
/// arrived together stored in one transaction, then published; a human verdict is bridged at
/// once (no agent, no floor) and a machine hung up, as the campaign task would, so the
/// campaign's abandonment stays as low as it can.
async fn intake(shared: Arc<Shared>) {
    let mut events = shared.carrier.events();
    loop {
        match events.recv().await {
            Ok(event) => {
                let mut batch = vec![event];
                while let Ok(event) = events.try_recv() {
                    batch.push(event);
                }
                let _ = shared.record_all(&batch).await;
                for event in batch {
                    let CarrierEventKind::MachineDetectionEnded { result } = event.kind else { continue };
                    let handle = CarrierCallRef {
                        call: event.call.unwrap_or(CallId(0)),
                        call_control_id: event.call_control_id,
                        call_session_id: event.call_session_id,
                        call_leg_id: None,
                    };
                    let carrier = shared.carrier.clone();
                    tokio::spawn(async move {
                        let _ = match result {
                            AmdResult::Machine => carrier.hangup(&handle).await,
                            _ => carrier.bridge(&handle, &AgentEndpoint::Sip("sip:bench@bench.agents".into())).await,
                        };
                    });
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::error!(missed, "carrier events were missed: the intake fell behind")
            }
            Err(RecvError::Closed) => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One row (in a child process).

struct Settings {
    seconds: u64,
    warm_up: u64,
    time_scale: f64,
    contacts: usize,
}

impl Settings {
    fn from_env() -> Settings {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        }
        Settings {
            seconds: var("OUTDIAL_BENCH_SECONDS", 60),
            warm_up: var("OUTDIAL_BENCH_WARMUP", 10),
            time_scale: var("OUTDIAL_BENCH_TIME_SCALE", 20.0),
            contacts: var("OUTDIAL_BENCH_CONTACTS", 50_000),
        }
    }
}

async fn count_calls(config: &Config) -> u64 {
    let db = sea_orm::Database::connect(&config.database_url).await.expect("connect");
    let count = entity::call::Entity::find().count(&db).await.expect("count calls");
    db.close().await.ok();
    count
}

async fn blocked_contacts(config: &Config) -> u64 {
    use sea_orm::{ColumnTrait, QueryFilter};
    let db = sea_orm::Database::connect(&config.database_url).await.expect("connect");
    let blocked = entity::contact::Entity::find()
        .filter(entity::contact::Column::Status.eq("BLOCKED"))
        .count(&db)
        .await
        .expect("count contacts");
    db.close().await.ok();
    blocked
}

fn memory_mb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.split_whitespace().next()?.parse().ok());
    kb.unwrap_or(0.0_f64) / 1024.0
}

async fn run_row(backend: Backend, scenario: Scenario, settings: &Settings) -> Figures {
    let clock = weekday_morning_in_new_york();
    let time_scale = scenario.time_scale(settings.time_scale);
    let service = start_service(backend, time_scale, clock).await;
    let seeding = Instant::now();
    let (agents, campaigns) = match scenario {
        Scenario::DialPath => (0, 1),
        Scenario::Live { agents, campaigns, .. } => (agents, campaigns),
    };
    let seeded = seed(&service.api, &service.config, campaigns, agents, settings.contacts).await;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let from = Instant::now() + Duration::from_secs(settings.warm_up);
    let until = from + Duration::from_secs(settings.seconds);
    let stop = CancellationToken::new();
    let probe = tokio::spawn(probe(service.api.clone(), seeded.agents.clone(), from, until, stop.clone()));
    let count = async {
        tokio::time::sleep_until(from.into()).await;
        let before = count_calls(&service.config).await;
        tokio::time::sleep_until(until.into()).await;
        count_calls(&service.config).await - before
    };
    let dials = match scenario {
        Scenario::DialPath => tokio::join!(count, dial_path(&service, &seeded.campaigns[0], time_scale, until)).0,
        Scenario::Live { .. } => {
            start_campaigns(&service.api, &seeded.campaigns).await;
            count.await
        }
    };
    let (rss_mb, peak_rss_mb) = (memory_mb("VmRSS:"), memory_mb("VmHWM:"));
    tokio::time::sleep(SETTLE).await;
    stop.cancel();
    let probe = probe.await.expect("probe");
    if std::env::var_os("OUTDIAL_BENCH_TIMELINE").is_some() {
        eprintln!("second: dials live offers abandoned available");
        for (at, second) in probe.timeline.iter().enumerate() {
            let Second { dials, live, offers, abandoned, available } = second;
            eprintln!("{at:>4}: {dials:>5} {live:>5} {offers:>5} {abandoned:>5} {available:>6}");
        }
    }
    let in_window = || probe.answers.values().filter(|a| a.in_window);
    let samples = probe.samples.max(1) as f64;
    let contacts_blocked = blocked_contacts(&service.config).await;
    let figures = Figures {
        seed_seconds,
        seconds: settings.seconds as f64,
        dials,
        events: probe.events,
        intake_ms: Quantiles::of_micros(probe.intake_us.clone()),
        human: in_window().count() as u64,
        offered: in_window().filter(|a| a.offered).count() as u64,
        abandoned: in_window().filter(|a| !a.offered && a.ended).count() as u64,
        unresolved: in_window().filter(|a| !a.offered && !a.ended).count() as u64,
        abandoned_in_run: probe.answers.values().filter(|a| !a.offered && a.ended).count() as u64,
        offer_ms: Quantiles::of_micros(probe.offer_us.clone()),
        offer_quiet_ms: Quantiles::of_micros(probe.offer_quiet_us.clone()),
        offer_quiet: probe.offer_quiet_us.len() as u64,
        offer_dialing_ms: Quantiles::of_micros(probe.offer_dialing_us.clone()),
        offer_dialing: probe.offer_dialing_us.len() as u64,
        end_to_end_ms: Quantiles::of_micros(probe.end_to_end_us.clone()),
        agents,
        available_avg: probe.states[0] as f64 / samples,
        reserved_avg: probe.states[1] as f64 / samples,
        on_call_avg: probe.states[2] as f64 / samples,
        wrap_up_avg: probe.states[3] as f64 / samples,
        probe_lagged: probe.lagged,
        missed_carrier_events: MISSED.load(Ordering::Relaxed),
        warnings: WARNINGS.lock().expect("warnings").clone(),
        contacts_blocked,
        rss_mb,
        peak_rss_mb,
    };
    service.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), service.task).await;
    figures
}

// ---------------------------------------------------------------------------------------------
// The parent: one child per row, then the tables.

const ROW_MARK: &str = "LIVE_LOOP_ROW ";

fn run_child(backend: &str, row: &str) -> Option<Figures> {
    let exe = std::env::current_exe().expect("own path");
    let output = std::process::Command::new(exe)
        .env("OUTDIAL_BENCH_CHILD", format!("{backend}:{row}"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run a row");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix(ROW_MARK));
    match line.map(serde_json::from_str::<Figures>) {
        Some(Ok(figures)) => Some(figures),
        _ => {
            eprintln!("row {backend}:{row} failed ({}): {stdout}", output.status);
            None
        }
    }
}

fn print_tables(rows: &[(String, Scenario, Figures)]) {
    println!();
    println!("Throughput (per second of the measured window) and the floor:");
    println!(
        "| backend    | scenario                         | dials/s | vs base | events/s | intake p50 ms | p99 ms | max ms | live/s | \
         agents avail. | resv. | on call | wrap | RSS MB |"
    );
    println!(
        "| ---------- | -------------------------------- | ------: | ------: | -------: | ------------: | -----: | -----: | -----: | \
         ------------: | ----: | ------: | ---: | -----: |"
    );
    let mut base = HashMap::new();
    for (backend, scenario, f) in rows {
        let per_second = f.dials as f64 / f.seconds;
        if *scenario == Scenario::DialPath {
            base.insert(backend.clone(), per_second);
        }
        let ratio = base.get(backend).map_or("-".into(), |b| format!("{:.2}", per_second / b));
        let floor = if f.agents == 0 {
            "| - | - | - | - |".to_owned()
        } else {
            format!(
                "| {:.0} of {} | {:.1} | {:.1} | {:.1} |",
                f.available_avg, f.agents, f.reserved_avg, f.on_call_avg, f.wrap_up_avg
            )
        };
        println!(
            "| {:<10} | {:<32} | {:>7.1} | {:>7} | {:>8.0} | {:>13.2} | {:>6.2} | {:>6.1} | {:>6.1} {} {:>6.0} |",
            backend,
            scenario.describe(),
            per_second,
            ratio,
            f.events as f64 / f.seconds,
            f.intake_ms.p50,
            f.intake_ms.p99,
            f.intake_ms.max,
            f.human as f64 / f.seconds,
            floor,
            f.rss_mb
        );
    }
    println!();
    println!("Live answer -> agent offer (ms), live answers of the window:");
    println!(
        "| backend    | scenario                         | live | offered | abandoned | open | bus->offer p50 | p99 | max | \
         carrier->offer p50 | p99 | max |"
    );
    println!(
        "| ---------- | -------------------------------- | ---: | ------: | --------: | ---: | -------------: | --: | --: | \
         -----------------: | --: | --: |"
    );
    for (backend, scenario, f) in rows.iter().filter(|(_, s, _)| *s != Scenario::DialPath) {
        println!(
            "| {:<10} | {:<32} | {:>4} | {:>7} | {:>9} | {:>4} | {:>14.2} | {:>.2} | {:>.1} | {:>18.2} | {:>.2} | {:>.1} |",
            backend,
            scenario.describe(),
            f.human,
            f.offered,
            f.abandoned,
            f.unresolved,
            f.offer_ms.p50,
            f.offer_ms.p99,
            f.offer_ms.max,
            f.end_to_end_ms.p50,
            f.end_to_end_ms.p99,
            f.end_to_end_ms.max
        );
    }
    println!();
    for (backend, scenario, f) in rows {
        println!(
            "{backend}, {}: seeded in {:.1} s; abandoned since the start {}; peak RSS {:.0} MB; probe lagged {}; \
             carrier events missed {}; contacts blocked {}",
            scenario.describe(),
            f.seed_seconds,
            // The baseline bridges without agents: there are no offers to count abandons by.
            if f.agents > 0 { f.abandoned_in_run.to_string() } else { "-".into() },
            f.peak_rss_mb,
            f.probe_lagged,
            f.missed_carrier_events,
            f.contacts_blocked
        );
        if f.agents > 0 {
            let (quiet, dialing) = (f.offer_quiet_ms, f.offer_dialing_ms);
            println!(
                "    bus->offer with no dial started during the wait: {} offers, p50 {:.2} p99 {:.2} max {:.1} ms; \
                 with dials started: {} offers, p50 {:.2} p99 {:.2} max {:.1} ms",
                f.offer_quiet, quiet.p50, quiet.p99, quiet.max, f.offer_dialing, dialing.p50, dialing.p99, dialing.max
            );
        }
        for (message, count) in &f.warnings {
            println!("    {count} x {message}");
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let settings = Settings::from_env();
    if let Ok(child) = std::env::var("OUTDIAL_BENCH_CHILD") {
        init_logs();
        let (backend, row) = child.split_once(':').expect("backend:row");
        let backend = if backend == "PostgreSQL" { Backend::Postgres } else { Backend::Sqlite };
        let scenario = Scenario::parse(row).expect("a row name");
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        let figures = runtime.block_on(run_row(backend, scenario, &settings));
        println!("{ROW_MARK}{}", serde_json::to_string(&figures).expect("JSON"));
        // Tasks of the stopped service (simulated calls) need not finish.
        runtime.shutdown_timeout(Duration::from_secs(1));
        return;
    }
    let rows: Vec<String> = std::env::var("OUTDIAL_BENCH_ROWS")
        .map(|r| r.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| Scenario::ALL.iter().map(|s| s.to_string()).collect());
    let mut backends = vec!["SQLite"];
    if std::env::var_os("OUTDIAL_TEST_PG_URL").is_some() {
        backends.push("PostgreSQL");
    }
    println!(
        "live loop: {} s measured after {} s of warm-up, sim_time_scale {}, {} contacts per campaign, {} worker threads{}",
        settings.seconds,
        settings.warm_up,
        settings.time_scale,
        settings.contacts,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if backends.len() == 1 { "; PostgreSQL not measured: OUTDIAL_TEST_PG_URL is unset" } else { "" }
    );
    let mut results = Vec::new();
    for backend in backends {
        for row in &rows {
            let scenario = Scenario::parse(row).unwrap_or_else(|| panic!("unknown row {row}: {:?}", Scenario::ALL));
            eprintln!("running {backend}: {}", scenario.describe());
            if let Some(figures) = run_child(backend, row) {
                results.push((backend.to_owned(), scenario, figures));
            }
        }
    }
    print_tables(&results);
    println!("(ceiling of one campaign task: {WINDOW_CAP_PER_SECOND} dials/s, its carrier rate window)");
}
