//! Demo mode (`outdial serve --demo`): tenant `demo` with a synthetic contact list spread over
//! the U.S. time zones (some always inside calling hours, except the one hour a day when no U.S.
//! zone is), written consent on record for each, agents on a RUNNING predictive campaign, and
//! simulated agents who take their calls, wrap up, set dispositions and now and then take a
//! break. It runs only with the simulated carrier: demo numbers must never reach a real network.
//!
//! Besides the simulated agents, the demo keeps one agent for a person: the desk agent. No
//! simulated behaviour touches it (it takes no breaks and its calls are never dispositioned for
//! it); it starts OFFLINE, and whoever opens the agent desktop with its token takes its calls.
//!
//! Seeding is idempotent: a second start finds the demo campaign and only puts its simulated
//! agents back to work (a restart leaves them PAUSED) and the campaign back to RUNNING.

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::acd::{AgentState, StateChange, Status};
use crate::auth::TenantId;
use crate::campaign::{CALLBACK, CampaignSettings, CampaignStatus, DO_NOT_CALL, DialerMode, LifecycleAction};
use crate::clock::SharedClock;
use crate::compliance::consent::ConsentKind;
use crate::disposition::{Chosen, dispose};
use crate::error::DomainResult;
use crate::events::EventBus;
use crate::floor::Floor;
use crate::store::Store;
use crate::store::agents::AgentProfile;
use crate::store::compliance::NewConsent;
use crate::store::contacts::NewContact;

pub const TENANT: &str = "demo";
const CAMPAIGN_NAME: &str = "Demo: home insurance renewals";
const AGENTS: usize = 12;
/// The agent left to a person at the agent desktop (see the module's note).
pub const DESK_AGENT_NAME: &str = "Demo desk agent";
const CONTACTS_PER_AREA: usize = 250;
/// Area codes by zone, east to west and on to the Pacific territories, with their state.
const AREAS: [(&str, &str); 10] = [
    ("787", "PR"),
    ("212", "NY"),
    ("312", "IL"),
    ("303", "CO"),
    ("602", "AZ"),
    ("415", "CA"),
    ("907", "AK"),
    ("808", "HI"),
    ("684", "AS"),
    ("671", "GU"),
];
const FIRST_NAMES: [&str; 8] = ["Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro"];
const LAST_NAMES: [&str; 8] = ["Nguyen", "Smith", "Garcia", "Okafor", "Kowalski", "Chen", "Haddad", "Brown"];
/// Outcome tags the simulated agents choose, with their weights.
const OUTCOMES: [(&str, u32); 5] =
    [("not_interested", 50), ("sale", 20), (CALLBACK, 15), ("wrong_number", 10), (DO_NOT_CALL, 5)];

/// What the demo seeded: its campaign and the agent left to a person.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub campaign: i64,
    pub desk_agent: i64,
}

/// The demo tenant's campaign and agents, created on the first start.
pub async fn seed(store: &Store, floor: &Floor, clock: &SharedClock) -> DomainResult<Seeded> {
    let tenant = TenantId::new(TENANT);
    let now = clock.now();
    let existing = store.campaigns().all(&tenant).await?.into_iter().find(|c| c.name == CAMPAIGN_NAME);
    let campaign = match existing {
        Some(campaign) => campaign,
        None => create(store, &tenant, now).await?,
    };
    let campaign = match CampaignStatus::parse(&campaign.status) {
        Some(CampaignStatus::Paused) => {
            store.campaigns().apply_action(&tenant, campaign.id, LifecycleAction::Resume, None, None, now).await?
        }
        _ => campaign,
    };
    floor.campaign_changed(&tenant, &campaign, now).await;
    let agents = store.agents().all(&tenant).await?;
    let desk_agent = match agents.iter().find(|a| a.name == DESK_AGENT_NAME) {
        Some(agent) => agent.id,
        // Demo databases made before the desk agent existed get it on their next start.
        None => {
            let row = store.agents().create(&tenant, demo_agent(DESK_AGENT_NAME, campaign.id), now).await?;
            floor.agent_changed(&tenant, &row, now).await;
            row.id
        }
    };
    for agent in agents.iter().filter(|a| a.id != desk_agent) {
        if agent.state != AgentState::Available.as_str() {
            floor.set_agent_state(&tenant, agent.id, StateChange::Available, now).await?;
        }
    }
    Ok(Seeded { campaign: campaign.id, desk_agent })
}

fn demo_agent(name: &str, campaign: i64) -> AgentProfile {
    AgentProfile {
        name: Some(name.into()),
        languages: Some(vec!["en".into()]),
        campaign_ids: Some(vec![campaign]),
        ..AgentProfile::default()
    }
}

async fn create(store: &Store, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<entity::campaign::Model> {
    // The demo has no National DNC copy: warn about it instead of refusing every number.
    let settings = serde_json::json!({"staleRegistry": "WARN"});
    store.update_tenant_settings(tenant, settings.as_object().cloned().unwrap_or_default(), now).await?;
    let list = store.contact_lists().create(tenant, "Demo leads", now).await?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut contacts = Vec::new();
    for (area, state) in AREAS {
        for line in 0..CONTACTS_PER_AREA {
            // 555 exchange numbers outside 555-01XX: not anyone's phone.
            let phone_number = format!("+1{area}555{:04}", 2000 + line);
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            contacts.push(NewContact {
                phone_number,
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                email: Some(format!("{}.{}{line}@example.com", first.to_lowercase(), last.to_lowercase())),
                state: Some(state.into()),
                zip: None,
                timezone: None,
                external_id: None,
                custom_fields: serde_json::json!({"policy": format!("HO-{}", rng.random_range(10_000..99_999)),
                    "renewal": "next month"}),
                source_row: contacts.len() + 1,
            });
        }
    }
    for contact in &contacts {
        let consent = NewConsent {
            phone_number: contact.phone_number.clone(),
            kind: ConsentKind::PriorExpressWritten,
            source: Some("demo web form".into()),
            captured_at: now - TimeDelta::days(30),
            expires_at: None,
            ebr_basis: None,
        };
        store.compliance().record_consent(tenant, consent, "demo", now).await?;
    }
    for batch in contacts.chunks(200) {
        store.contacts().insert_batch(tenant, list.id, batch.to_vec(), now).await?;
    }
    let mut settings = CampaignSettings::defaults(CAMPAIGN_NAME.into(), DialerMode::Predictive);
    settings.caller_id = Some("+12125550150".into());
    settings.script = Some(
        "Hi {{first_name}}, this is Jordan from Demo Insurance about your policy {{policy}}, which renews \
         {{renewal}}. Do you have two minutes?"
            .into(),
    );
    settings.wrap_up_timeout_seconds = Some(30);
    settings.cost_per_minute = 0.012;
    settings.max_attempts = 3;
    settings.retry_delay_minutes = 30;
    let campaign = store.campaigns().create(tenant, &settings, &[list.id], now).await?;
    for n in 1..=AGENTS {
        store.agents().create(tenant, demo_agent(&format!("Demo agent {n}"), campaign.id), now).await?;
    }
    for action in [LifecycleAction::Schedule, LifecycleAction::Start] {
        store.campaigns().apply_action(tenant, campaign.id, action, None, None, now).await?;
    }
    store.campaigns().get(tenant, campaign.id).await
}

/// The simulated agents: each wraps up for a few seconds after a call and sets a disposition;
/// now and then one takes a short break. The desk agent is left alone. Runs until `shutdown`.
pub async fn run_agents(
    store: Store,
    floor: Arc<Floor>,
    bus: EventBus,
    clock: SharedClock,
    desk_agent: i64,
    shutdown: CancellationToken,
) {
    let tenant = TenantId::new(TENANT);
    let mut updates = bus.subscribe_agents();
    let mut rng = StdRng::from_os_rng();
    let mut breaks = tokio::time::interval(Duration::from_secs(45));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            update = updates.recv() => match update {
                Ok(update) if update.tenant == tenant && update.agent.0 != desk_agent => {
                    if let Status::WrapUp { call, .. } = update.status {
                        let wrap = Duration::from_millis(rng.random_range(2_000..8_000));
                        let outcome = pick_outcome(&mut rng);
                        let (store, floor, clock, tenant) = (store.clone(), floor.clone(), clock.clone(), tenant.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(wrap).await;
                            if let Err(error) = disposition(&store, &floor, &clock, &tenant, call.0, outcome).await {
                                tracing::debug!(call = call.0, %error, "demo agent: no disposition");
                            }
                        });
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = breaks.tick() => take_a_break(&floor, &clock, &tenant, desk_agent, &mut rng).await,
        }
    }
}

fn pick_outcome(rng: &mut StdRng) -> &'static str {
    let total: u32 = OUTCOMES.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (tag, weight) in OUTCOMES {
        if roll < weight {
            return tag;
        }
        roll -= weight;
    }
    OUTCOMES[0].0
}

async fn disposition(
    store: &Store,
    floor: &Floor,
    clock: &SharedClock,
    tenant: &TenantId,
    call: i64,
    outcome: &str,
) -> DomainResult<()> {
    let now = clock.now();
    let row = store.calls().get(tenant, call).await?;
    let chosen = Chosen {
        outcome: outcome.into(),
        notes: Some(format!("demo: {outcome}")),
        callback_at: (outcome == CALLBACK).then(|| now + TimeDelta::days(1)),
    };
    dispose(store, floor, tenant, &row, chosen, "demo-agent", now).await.map(|_| ())
}

/// One available simulated agent pauses for 20 to 60 s, then comes back.
async fn take_a_break(floor: &Arc<Floor>, clock: &SharedClock, tenant: &TenantId, desk_agent: i64, rng: &mut StdRng) {
    let Ok(board) = floor.board(tenant, clock.now()).await else { return };
    let available: Vec<i64> =
        board.iter().filter(|v| v.status == Status::Available && v.agent.0 != desk_agent).map(|v| v.agent.0).collect();
    if available.is_empty() {
        return;
    }
    let agent = available[rng.random_range(0..available.len())];
    let reason = Some("break".to_owned());
    if floor.change_agent_state(tenant, agent, StateChange::Paused { reason }, clock.now()).await.is_err() {
        return;
    }
    let pause = Duration::from_secs(rng.random_range(20..60));
    let (floor, clock, tenant) = (floor.clone(), clock.clone(), tenant.clone());
    tokio::spawn(async move {
        tokio::time::sleep(pause).await;
        let _ = floor.change_agent_state(&tenant, agent, StateChange::Available, clock.now()).await;
    });
}
