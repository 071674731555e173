//! The scheduler: it gives every running campaign one owner task ([`Runner`]), takes every
//! carrier event in (stored once by its event id, then published on the bus, then handed to the
//! campaign's task), and on start reconciles the calls a previous process left unfinished.
//!
//! Ownership is in-process: the map of campaign tasks is the lease. With several instances, the
//! claim in [`Dialer::adopt`] is where a PostgreSQL advisory lock (`pg_try_advisory_lock` on the
//! campaign id) or a lease row with an expiry takes its place; nothing else assumes one process.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::runner::{Message, PreviewChoice, Runner};
use crate::acd::AgentId;
use crate::auth::TenantId;
use crate::campaign::LifecycleAction;
use crate::clock::SharedClock;
use crate::crm::hub::CrmHub;
use crate::error::{DomainError, DomainResult};
use crate::events::{CallUpdate, EventBus};
use crate::floor::Floor;
use crate::gate::Gate;
use crate::store::Store;
use crate::store::calls::{CallState, Recorded, carrier_ref, kind_name};
use crate::telemetry::Telemetry;
use crate::telephony::webhook::{Accepted, EventSink, SinkError};
use crate::telephony::{Carrier, CarrierCallRef, CarrierError, CarrierEvent, SafeHarbor, simulated};

/// How often running campaigns without a task are looked for.
const ADOPT_EVERY: Duration = Duration::from_secs(1);
/// Messages held for one campaign's task before the event intake waits for it.
const INBOX: usize = 4_096;
/// Most carrier events stored in one transaction.
const INTAKE_BATCH: usize = 16;

/// What every campaign task shares.
pub struct Shared {
    pub store: Store,
    pub gate: Arc<Gate>,
    pub floor: Arc<Floor>,
    pub bus: EventBus,
    pub carrier: Arc<dyn Carrier>,
    pub clock: SharedClock,
    pub settings: DialerSettings,
    pub telemetry: Telemetry,
    /// Carrier commands in flight (dials, transfers, hang-ups). A stop waits for them, so that a
    /// call the carrier placed has its id recorded before the store closes (the next process can
    /// then find it and hang it up).
    pub commands: TaskTracker,
    /// CRM lookups for screen pops.
    pub crm: Arc<CrmHub>,
}

/// How the dialer dials and how patient it is with a carrier.
#[derive(Debug, Clone, Copy)]
pub struct DialerSettings {
    /// The ring timeout of every dial (at least the 15 s the rules require).
    pub ring_timeout_secs: u32,
    /// Whether dials ask for answering-machine detection (live answers wait for its verdict).
    pub machine_detection: bool,
    /// How long a call may go without news before the carrier is asked about it (ringing calls
    /// get their ring timeout on top, bridged ones ten times this).
    pub quiet_allowed: chrono::TimeDelta,
    /// How long a preview waits for its agent to dial or skip it before the contact goes back
    /// to the hopper and the agent is free for the next one.
    pub preview_timeout: chrono::TimeDelta,
}

impl Default for DialerSettings {
    fn default() -> Self {
        DialerSettings {
            ring_timeout_secs: 25,
            machine_detection: true,
            quiet_allowed: chrono::TimeDelta::seconds(30),
            preview_timeout: chrono::TimeDelta::seconds(60),
        }
    }
}

pub struct Dialer {
    shared: Arc<Shared>,
    /// Each running campaign's task, by campaign id.
    runners: Arc<Mutex<HashMap<i64, mpsc::Sender<Message>>>>,
}

impl Dialer {
    pub fn new(shared: Shared) -> Arc<Dialer> {
        Arc::new(Dialer { shared: Arc::new(shared), runners: Arc::default() })
    }

    /// Reconciles what a previous process left, then takes carrier events in and runs every
    /// running campaign until `shutdown`. A campaign that is not running but has calls a
    /// previous process left to finish gets a task too, once, which takes those calls over and
    /// ends with them (so their agents, paused by the restart, go back on them).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut left = self.reconcile().await.unwrap_or_else(|error| {
            tracing::error!(%error, "restart reconciliation failed");
            Vec::new()
        });
        let intake = tokio::spawn(self.clone().take_carrier_events(shutdown.clone()));
        let mut every = tokio::time::interval(ADOPT_EVERY);
        while tokio::select! { _ = every.tick() => true, _ = shutdown.cancelled() => false } {
            if let Err(error) = self.adopt(std::mem::take(&mut left), &shutdown).await {
                tracing::warn!(%error, "could not look for running campaigns");
            }
        }
        intake.abort();
        self.shared.commands.close();
        self.shared.commands.wait().await;
    }

    /// Starts the scheduled campaigns whose time has come, then a task for each running
    /// campaign, and each of `left` (campaigns with calls to take over), that has none.
    async fn adopt(&self, left: Vec<(TenantId, i64)>, shutdown: &CancellationToken) -> DomainResult<()> {
        let (campaigns, now) = (self.shared.store.campaigns(), self.shared.clock.now());
        for due in campaigns.due_to_start(now).await? {
            let tenant = TenantId::new(due.tenant_id.clone());
            // A supervisor acting at the same instant wins; the conflict is theirs to see, not an error here.
            match campaigns.apply_action(&tenant, due.id, LifecycleAction::Start, None, None, now).await {
                Ok(started) => tracing::info!(campaign = started.id, "scheduled campaign started"),
                Err(DomainError::Conflict(_)) => {}
                Err(error) => return Err(error),
            }
        }
        let mut owned = campaigns.running().await?;
        for (tenant, id) in left {
            if !owned.iter().any(|campaign| campaign.id == id) {
                owned.push(campaigns.get(&tenant, id).await?);
            }
        }
        for campaign in owned {
            let (inbox_tx, inbox) = mpsc::channel(INBOX);
            {
                let mut runners = self.runners.lock().unwrap_or_else(|p| p.into_inner());
                if runners.contains_key(&campaign.id) {
                    continue;
                }
                runners.insert(campaign.id, inbox_tx.clone());
            }
            let tenant = TenantId::new(campaign.tenant_id.clone());
            match Runner::start(self.shared.clone(), tenant, campaign.id, inbox_tx.clone()).await {
                Ok(runner) => {
                    tracing::info!(campaign = campaign.id, tenant = %campaign.tenant_id, "campaign task started");
                    let (shutdown, runners) = (shutdown.clone(), self.runners.clone());
                    tokio::spawn(async move {
                        runner.run(inbox, shutdown).await;
                        // Forgotten once ended, so a resumed campaign gets a new task.
                        let mut runners = runners.lock().unwrap_or_else(|p| p.into_inner());
                        if runners.get(&campaign.id).is_some_and(|tx| tx.same_channel(&inbox_tx)) {
                            runners.remove(&campaign.id);
                        }
                    });
                }
                Err(error) => {
                    self.runners.lock().unwrap_or_else(|p| p.into_inner()).remove(&campaign.id);
                    tracing::warn!(campaign = campaign.id, %error, "campaign task could not start");
                }
            }
        }
        Ok(())
    }

    /// Hands an agent's choice on its preview of `contact` to the campaign's task and waits for
    /// its answer: the call placed (dial) or `None` (skip). `NOT_FOUND` when the campaign has no
    /// task (it stopped meanwhile) or the task holds no such preview.
    pub async fn preview(
        &self,
        campaign: i64,
        agent: AgentId,
        contact: i64,
        choice: PreviewChoice,
    ) -> DomainResult<Option<i64>> {
        let gone = || DomainError::NotFound("preview");
        let runner = self.runners.lock().unwrap_or_else(|p| p.into_inner()).get(&campaign).cloned().ok_or_else(gone)?;
        let (reply, answer) = oneshot::channel();
        runner.send(Message::Preview { agent, contact, choice, reply }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// The simulated carrier's events (and any carrier that reports through its channel): what
    /// has arrived together (up to [`INTAKE_BATCH`]) is stored in one transaction, then each
    /// event is published and handed to its campaign's task in order.
    async fn take_carrier_events(self: Arc<Self>, shutdown: CancellationToken) {
        let mut events = self.shared.carrier.events();
        let mut batch = Vec::with_capacity(INTAKE_BATCH);
        loop {
            let first = tokio::select! {
                event = events.recv() => event,
                _ = shutdown.cancelled() => return,
            };
            match first {
                Ok(event) => batch.push(event),
                Err(RecvError::Lagged(missed)) => fell_behind(missed),
                Err(RecvError::Closed) => return,
            }
            while batch.len() < INTAKE_BATCH {
                match events.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(TryRecvError::Lagged(missed)) => fell_behind(missed),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            if batch.is_empty() {
                continue;
            }
            match self.shared.record_all(&batch).await {
                Ok(calls) => {
                    for (event, call) in batch.drain(..).zip(calls) {
                        if let Some(call) = call {
                            self.hand_over(call.campaign_id, event).await;
                        }
                    }
                }
                // One bad event must not cost the others: each is stored on its own.
                Err(error) => {
                    tracing::warn!(%error, events = batch.len(), "carrier events not stored together; one by one");
                    for event in batch.drain(..) {
                        if let Err(error) = self.accept(event).await {
                            tracing::error!(%error, "a carrier event could not be stored");
                        }
                    }
                }
            }
        }
    }

    /// Gives a stored event to its campaign's task. A task that has ended has no call left to
    /// follow: nothing is lost.
    async fn hand_over(&self, campaign: i64, event: CarrierEvent) {
        let runner = self.runners.lock().unwrap_or_else(|p| p.into_inner()).get(&campaign).cloned();
        if let Some(runner) = runner {
            let _ = runner.send(Message::Event(event)).await;
        }
    }

    /// Settles the calls a previous process left unfinished: a simulated call (or one of another
    /// carrier) is gone with its process and is marked failed; a Telnyx call is asked for: ended
    /// ones are closed, live ones not yet with an agent are abandoned by the rules
    /// ([`Self::abandon_left_behind`]; their hang-up event closes them), ones with an agent
    /// (bridged, or assigned one: the transfer was sent, and its `call.bridged` may have been lost
    /// with the old process) are left to finish; their campaigns are returned. The contact of a
    /// closed call is retried by the campaign's rules; its attempt is never dialed again.
    async fn reconcile(&self) -> DomainResult<Vec<(TenantId, i64)>> {
        let store = &self.shared.store;
        let carrier = &self.shared.carrier;
        let now = self.shared.clock.now();
        let mut sellers = HashMap::new();
        let mut left: Vec<(TenantId, i64)> = Vec::new();
        for call in store.calls().unfinished().await? {
            let tenant = TenantId::new(call.tenant_id.clone());
            let ours = call.carrier == carrier.name() && carrier.name() != simulated::NAME;
            let Some(handle) = carrier_ref(&call).filter(|_| ours) else {
                store.calls().fail(&tenant, call.id, now).await?;
                continue;
            };
            match carrier.call_status(&handle).await {
                Ok(status) if !status.is_alive => {
                    store.calls().fail(&tenant, call.id, status.end_time.unwrap_or(now)).await?;
                }
                Ok(_) if call.state != CallState::Bridged.as_str() && call.agent_id.is_none() => {
                    if !sellers.contains_key(&call.tenant_id) {
                        let name = store.tenant(&tenant).await?.map_or_else(|| call.tenant_id.clone(), |row| row.name);
                        sellers.insert(call.tenant_id.clone(), name);
                    }
                    self.abandon_left_behind(&tenant, &call, &handle, &sellers[&call.tenant_id], now).await?;
                }
                Ok(_) => {
                    if !left.iter().any(|(_, campaign)| *campaign == call.campaign_id) {
                        left.push((tenant, call.campaign_id));
                    }
                }
                Err(error) => tracing::warn!(call = call.id, %error, "could not ask the carrier about a call"),
            }
        }
        Ok(left)
    }

    /// A live call a previous process left without an agent. Whoever answered it has waited past
    /// the 2-s budget, so by the rules it is abandoned: the safe-harbor message, then hang-up
    /// (a machine's call is just hung up). Its answer may have been lost with the old process, so
    /// the message is tried on every such call; one the carrier says is still ringing is hung up,
    /// and one that took the message is recorded as answered, so that it counts as abandoned.
    async fn abandon_left_behind(
        &self,
        tenant: &TenantId,
        call: &entity::call::Model,
        handle: &CarrierCallRef,
        seller: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DomainResult<()> {
        let carrier = &self.shared.carrier;
        let message =
            SafeHarbor { seller_name: seller.to_owned(), callback_number: call.from_number.clone(), opt_out: true };
        if call.amd_result.as_deref() != Some("machine") {
            match carrier.play_safe_harbor(handle, &message).await {
                Ok(()) => return self.shared.store.calls().answered_unseen(tenant, call.id, now).await,
                Err(CarrierError::NotAnswered) => {}
                Err(error) => {
                    tracing::warn!(call = call.id, %error, "could not abandon a call left by a restart");
                    return Ok(());
                }
            }
        }
        if let Err(error) = carrier.hangup(handle).await {
            tracing::warn!(call = call.id, %error, "could not hang up a call left by a restart");
        }
        Ok(())
    }
}

fn fell_behind(missed: u64) {
    tracing::error!(missed, "carrier events were missed: the intake fell behind");
}

impl Shared {
    /// Stores a carrier event once, tells the carrier (a call's end frees its channel) and publishes
    /// the call it changed: `None` for a duplicate.
    pub async fn record(&self, event: &CarrierEvent) -> DomainResult<Option<entity::call::Model>> {
        let recorded = self.store.calls().record_event(event, self.clock.now()).await?;
        Ok(self.recorded(event, recorded))
    }

    /// [`Self::record`] for events that arrived together, stored in one transaction: one answer
    /// per event, `None` for a duplicate or an event of a call that is not ours (dropped, so that
    /// the carrier does not send it again).
    pub async fn record_all(&self, events: &[CarrierEvent]) -> DomainResult<Vec<Option<entity::call::Model>>> {
        let recorded = self.store.calls().record_events(events, self.clock.now()).await?;
        Ok(events
            .iter()
            .zip(recorded)
            .map(|(event, recorded)| match recorded {
                Ok(recorded) => self.recorded(event, recorded),
                Err(_) => {
                    tracing::warn!(event_id = %event.event_id, "carrier event for an unknown call dropped");
                    None
                }
            })
            .collect())
    }

    /// What follows the storing of an event: the carrier is told and the changed call published.
    fn recorded(&self, event: &CarrierEvent, recorded: Recorded) -> Option<entity::call::Model> {
        let Recorded::New(call) = recorded else { return None };
        self.carrier.observe(event);
        let tenant = TenantId::new(call.tenant_id.clone());
        let kind = kind_name(&event.kind).to_owned();
        self.telemetry.event_stored(&kind);
        self.bus.publish_call(CallUpdate { tenant, call: (*call).clone(), kind, occurred_at: event.occurred_at });
        Some(*call)
    }
}

#[async_trait]
impl EventSink for Dialer {
    /// Stores the event once, publishes the call it changed, then hands it to its campaign's task.
    async fn accept(&self, event: CarrierEvent) -> Result<Accepted, SinkError> {
        let call = match self.shared.record(&event).await {
            Ok(Some(call)) => call,
            Ok(None) => return Ok(Accepted::Duplicate),
            // An event of a call that is not ours (another application on the account): taken
            // and dropped, so the carrier does not retry it.
            Err(DomainError::NotFound(_)) => {
                tracing::warn!(event_id = %event.event_id, "carrier event for an unknown call dropped");
                return Ok(Accepted::New);
            }
            Err(error) => return Err(SinkError(error.to_string())),
        };
        self.hand_over(call.campaign_id, event).await;
        Ok(Accepted::New)
    }
}
