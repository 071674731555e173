//! One running campaign's owner task: it keeps the hopper, follows the campaign's calls through
//! their carrier events, asks the pacing core how many calls to start (every tick and after every
//! event), dials through the one dial path, routes each live answer to an agent within the 2-s
//! budget or abandons it by the rules, and moves agents through ON_CALL and WRAP_UP.
//!
//! The dial path: the gate checks the contacts again for the dial instant (`DIAL`), the call
//! rows, their audited verdicts and the contacts' attempts of a step are written together
//! (`store::calls::create_dialed_many`), and only then is the carrier asked. A paced step's
//! writes (with its hopper refill) and the carrier commands run in their own tasks and report
//! back, so neither the database nor a slow carrier stalls routing.
//!
//! Preview mode dials nothing by itself: each AVAILABLE agent of the campaign (the ACD's choice
//! and order) is reserved and shown the next hopper contact (`Floor::offer_preview`). The agent
//! dials it (the same dial path, with the agent already reserved for the call, so the answer is
//! bridged to that agent with no routing race) or skips it; a skip, a lapsed offer, the agent
//! leaving, or the campaign pausing puts the contact back in the hopper, not dialed and with no
//! attempt counted, and frees the agent.
//!
//! A paused campaign starts no new call and lets the calls in flight finish; the task ends when
//! the campaign is no longer running and nothing is in flight.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{campaign, contact};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::hopper::{Hopper, retry_after_refusal};
use super::pacing::{
    AbandonmentSoFar, AbandonmentTarget, AgentActivity, AgentObs, CallObs, CallStage, Constraints, DialResult,
    DialerMode, Estimator, Observation, PacerConfig, PacingSnapshot, decide,
};
use super::scheduler::Shared;
use crate::acd::{
    AgentId, CallId, CampaignId, ContactCard, Decision, LiveCall, PreviewContact, PreviousAttempt, ScreenPop,
    ScreenPopSource, StateChange, Status,
};
use crate::auth::TenantId;
use crate::campaign::{CampaignSettings, CampaignStatus, LifecycleAction};
use crate::clock::local_day_start;
use crate::compliance::verdict::{AbandonmentFigures, Verdict};
use crate::crm::hub::SCREEN_POP_TIMEOUT;
use crate::error::{DomainError, DomainResult};
use crate::events::AgentUpdate;
use crate::store::calls::{CallState, NewCall, carrier_ref};
use crate::store::campaigns::settings_of;
use crate::telephony::simulated;
use crate::telephony::{
    AgentEndpoint, AmdResult, CallLeg, CarrierCallRef, CarrierError, CarrierEvent, CarrierEventKind, DialRequest,
    HangupCause, SafeHarbor,
};

/// How often the task wakes when nothing happens.
const TICK: Duration = Duration::from_millis(100);
/// How often the campaign row, the abandonment figures and wrap-up timeouts are read again.
const REFRESH_EVERY: TimeDelta = TimeDelta::seconds(1);
/// A live answer that finds no agent within this time of the greeting is abandoned.
const ROUTING_BUDGET: TimeDelta = TimeDelta::seconds(2);
/// The carrier's rolling rate window the pacer's dials-per-window cap counts in.
const RATE_WINDOW: TimeDelta = TimeDelta::seconds(5);
/// Most calls started in one step.
const MAX_DIALS_PER_STEP: u32 = 100;
/// The daily guard on abandonment (the rules cap 30 days; a bad day must not spend it all).
const DAILY_ABANDON_CAP: f64 = 0.04;

/// What reaches a campaign's task from outside.
#[derive(Debug)]
pub enum Message {
    /// A carrier event of one of the campaign's calls, already stored.
    Event(CarrierEvent),
    /// The carrier's answer to a dial, with the screen pop prepared meanwhile.
    Dialed { call: i64, result: Result<CarrierCallRef, CarrierError>, screen_pop: Box<ScreenPop> },
    /// A bridge, safe-harbor message or hang-up the carrier refused.
    CommandFailed { call: i64, error: CarrierError },
    /// The CRM's record of the person called, found while the call rang.
    CrmRecord { call: i64, record: serde_json::Value },
    /// A paced dial step's rows are written (or it failed), with the hopper it took.
    Placed(Box<StepPlaced>),
    /// An agent's choice on its preview of `contact`; the answer is the call placed, if any.
    Preview { agent: AgentId, contact: i64, choice: PreviewChoice, reply: oneshot::Sender<DomainResult<Option<i64>>> },
}

/// What an agent does with the contact it previews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewChoice {
    Dial,
    Skip { reason: Option<String> },
}

/// A contact on an agent's screen, not dialed yet.
struct Preview {
    contact: contact::Model,
    /// When the hopper's gate check passed it (the hopper's freshness rule goes on counting).
    checked_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// What the dial path did with one contact.
enum Placed {
    Dialed(i64),
    /// The gate refused it at the dial instant; it is deferred like the hopper defers.
    Refused(Box<Verdict>),
    /// Not dialed for another reason (an attempt already placed, the agent gone).
    Skipped(DomainError),
}

/// Where one of the campaign's calls is, as this task follows it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Dialing,
    Ringing,
    /// Answered; the machine detector has not spoken yet.
    Screening,
    /// A person is on the line and no agent is free yet.
    Waiting {
        deadline: DateTime<Utc>,
    },
    /// An agent is reserved; the bridge is on its way.
    Offered {
        agent: AgentId,
    },
    Bridged {
        agent: AgentId,
    },
    /// We hung up or played the safe-harbor message; the hang-up event closes it.
    Ending,
}

struct Flight {
    contact: contact::Model,
    handle: Option<CarrierCallRef>,
    stage: Stage,
    dialed_at: DateTime<Utc>,
    stage_since: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    /// When the call was ready for an agent (the carrier's time of the human answer or verdict).
    ready_at: Option<DateTime<Utc>>,
    /// When the call last gave news (an event) or was asked about.
    heard_at: DateTime<Utc>,
    /// The pacer has learned this dial's outcome.
    resolved: bool,
    screen_pop: Option<ScreenPop>,
    /// The CRM record for the screen pop, when the CRM answered in time.
    crm_record: Option<serde_json::Value>,
    /// The agent reserved for this call before it was dialed (preview): its answer goes there.
    agent: Option<AgentId>,
}

impl Flight {
    fn enter(&mut self, stage: Stage, now: DateTime<Utc>) {
        self.stage = stage;
        self.stage_since = now;
    }
}

pub struct Runner {
    shared: Arc<Shared>,
    tenant: TenantId,
    campaign: campaign::Model,
    settings: CampaignSettings,
    lists: Vec<i64>,
    seller: String,
    caller_id: Option<String>,
    estimator: Estimator,
    epoch: DateTime<Utc>,
    hopper: Hopper,
    calls: HashMap<i64, Flight>,
    recent_dials: VecDeque<DateTime<Utc>>,
    abandonment: AbandonmentSoFar,
    /// Agents in WRAP_UP after one of this campaign's calls, since when.
    wrapping: HashMap<AgentId, DateTime<Utc>>,
    /// Contacts on agents' screens (preview mode), by agent.
    previews: HashMap<AgentId, Preview>,
    /// A paced dial step is being written off the task, with the hopper (it comes back in
    /// [`Message::Placed`]). Previews wait for it; preview mode never starts one.
    placing: bool,
    refreshed_at: DateTime<Utc>,
    inbox_tx: mpsc::Sender<Message>,
}

impl Runner {
    pub async fn start(
        shared: Arc<Shared>,
        tenant: TenantId,
        campaign_id: i64,
        inbox_tx: mpsc::Sender<Message>,
    ) -> DomainResult<Runner> {
        let now = shared.clock.now();
        let campaign = shared.store.campaigns().get(&tenant, campaign_id).await?;
        let tenant_row = shared.store.tenant(&tenant).await?;
        let seller = tenant_row.as_ref().map_or_else(|| tenant.as_str().to_owned(), |t| t.name.clone());
        let default_caller_id = tenant_row.and_then(|t| t.default_caller_id);
        let mut runner = Runner {
            settings: settings_of(&campaign)?,
            lists: Vec::new(),
            caller_id: None,
            seller,
            estimator: Estimator::new(PacerConfig::default(), 0.0),
            epoch: now,
            hopper: Hopper::default(),
            calls: HashMap::new(),
            recent_dials: VecDeque::new(),
            abandonment: AbandonmentSoFar::default(),
            wrapping: HashMap::new(),
            previews: HashMap::new(),
            placing: false,
            refreshed_at: now - REFRESH_EVERY,
            campaign,
            shared,
            tenant,
            inbox_tx,
        };
        runner.caller_id = runner.settings.caller_id.clone().or(default_caller_id);
        runner.refresh(now).await?;
        runner.adopt_left(now).await?;
        Ok(runner)
    }

    /// Takes over the calls with an agent that a previous process left to finish (the restart's
    /// reconciliation keeps those that are still up): each is followed again as bridged (or
    /// offered, while its transfer is under way), and its agent, whom the restart paused, is put
    /// back on it, so that the call's end brings the agent to wrap-up and then to AVAILABLE as
    /// usual instead of leaving it PAUSED.
    async fn adopt_left(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        let store = &self.shared.store;
        let left = store.calls().unfinished().await?.into_iter().filter(|call| {
            call.tenant_id == self.tenant.as_str() && call.campaign_id == self.campaign.id && call.agent_id.is_some()
        });
        for call in left {
            let (Some(agent), Some(handle)) = (call.agent_id.map(AgentId), carrier_ref(&call)) else { continue };
            let bridged = call.state == CallState::Bridged.as_str();
            let campaign = crate::acd::CampaignId(self.campaign.id);
            let resumed = self.shared.floor.resume_call(&self.tenant, agent, CallId(call.id), campaign, bridged, now);
            if !resumed.await? {
                continue;
            }
            let stage = if bridged { Stage::Bridged { agent } } else { Stage::Offered { agent } };
            let flight = Flight {
                contact: store.contacts().get(&self.tenant, call.contact_id).await?,
                handle: Some(handle),
                stage,
                dialed_at: call.dialed_at,
                stage_since: call.bridged_at.unwrap_or(now),
                answered_at: call.answered_at,
                ready_at: call.answered_at,
                heard_at: now,
                resolved: true,
                screen_pop: None,
                crm_record: None,
                agent: None,
            };
            tracing::info!(call = call.id, agent = agent.0, "call left by a restart taken over with its agent");
            self.calls.insert(call.id, flight);
        }
        Ok(())
    }

    /// Runs until the campaign stops running and its last call has ended, or `shutdown`.
    pub async fn run(mut self, mut inbox: mpsc::Receiver<Message>, shutdown: CancellationToken) {
        let mut agents = self.shared.bus.subscribe_agents();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                message = inbox.recv() => match message {
                    Some(message) => self.handle(message).await,
                    None => break,
                },
                update = agents.recv() => match update {
                    Ok(update) => self.agent_changed(&update).await,
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => {}
            }
            let now = self.shared.clock.now();
            if let Err(error) = self.step(now).await {
                tracing::warn!(campaign = self.campaign.id, %error, "dialer step failed; trying again");
            }
            if !self.running() && self.calls.is_empty() && !self.placing {
                break;
            }
        }
        tracing::info!(campaign = self.campaign.id, status = %self.campaign.status, "campaign task stopped");
    }

    /// How calls are paced now: a predictive campaign whose 30-day abandonment has reached its
    /// target dials progressively (one call per idle agent) until the rate is under it again.
    fn pacing_mode(&self) -> DialerMode {
        let figures = AbandonmentFigures {
            abandoned: self.abandonment.window_abandoned,
            live_answered: self.abandonment.window_live_answers,
            target: self.settings.abandon_rate_target,
        };
        figures.dialing_mode(self.settings.dialer_mode)
    }

    fn running(&self) -> bool {
        self.campaign.status == CampaignStatus::Running.as_str()
    }

    fn secs(&self, at: DateTime<Utc>) -> f64 {
        (at - self.epoch).as_seconds_f64()
    }

    /// One step: refresh what is read periodically, abandon waiting calls past their deadline,
    /// retry the others, then dial what the pacer asks for.
    async fn step(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        if now - self.refreshed_at >= REFRESH_EVERY {
            self.refresh(now).await?;
        }
        self.route_waiting(now).await;
        let previewing = self.running() && self.settings.dialer_mode == DialerMode::Preview;
        if !previewing && !self.previews.is_empty() {
            self.withdraw_previews(now).await;
        }
        if previewing {
            self.offer_previews(now).await?;
        } else if self.running() {
            self.pace(now).await?;
        }
        Ok(())
    }

    /// Reads the campaign again (status, settings), the abandonment figures the budget spends,
    /// and ends timed-out wrap-ups.
    async fn refresh(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        self.refreshed_at = now;
        let store = &self.shared.store;
        let campaign = store.campaigns().get(&self.tenant, self.campaign.id).await?;
        if campaign.updated_at != self.campaign.updated_at || self.lists.is_empty() {
            self.settings = settings_of(&campaign)?;
            self.lists = store
                .campaigns()
                .list_ids(&self.tenant, &[campaign.id])
                .await?
                .remove(&campaign.id)
                .unwrap_or_default();
        }
        self.campaign = campaign;
        let zone = store.tenant_time_zone(&self.tenant).await?;
        let calls = store.calls();
        let month = calls.totals(&self.tenant, self.campaign.id, now - TimeDelta::days(30), now).await?;
        let today = calls.totals(&self.tenant, self.campaign.id, local_day_start(zone, now), now).await?;
        let paced_as = self.pacing_mode();
        self.abandonment = AbandonmentSoFar {
            window_live_answers: month.human_answered,
            window_abandoned: month.abandoned,
            today_live_answers: today.human_answered,
            today_abandoned: today.abandoned,
        };
        if self.pacing_mode() != paced_as {
            let (abandoned, answered) = (month.abandoned, month.human_answered);
            let mode = self.pacing_mode().as_str();
            tracing::warn!(
                campaign = self.campaign.id,
                abandoned,
                answered,
                mode,
                "30-day abandonment: pacing changed"
            );
        }
        self.shared.floor.expire_wrap_ups(&self.tenant, now).await?;
        self.sweep(now).await
    }

    /// Asks the carrier about calls that went quiet for longer than their stage allows (a lost
    /// webhook, an intake that fell behind): one the carrier no longer has is closed with a
    /// hang-up of our own (stored and published like any event), so no line, agent or contact
    /// stays held by a call that has ended.
    async fn sweep(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        let ring = TimeDelta::seconds(i64::from(self.shared.settings.ring_timeout_secs));
        let quiet = self.shared.settings.quiet_allowed;
        let quiet: Vec<(i64, CarrierCallRef)> = self
            .calls
            .iter()
            .filter(|(_, f)| {
                let allowed = match f.stage {
                    Stage::Dialing | Stage::Ringing => ring + quiet,
                    Stage::Screening | Stage::Offered { .. } | Stage::Ending => quiet,
                    Stage::Waiting { .. } => TimeDelta::MAX,
                    Stage::Bridged { .. } => quiet * 10,
                };
                now - f.heard_at > allowed
            })
            .filter_map(|(id, f)| f.handle.clone().map(|h| (*id, h)))
            .collect();
        for (call, handle) in quiet {
            if let Some(flight) = self.calls.get_mut(&call) {
                flight.heard_at = now;
            }
            match self.shared.carrier.call_status(&handle).await {
                Ok(status) if !status.is_alive => {
                    tracing::warn!(call, "no hang-up event came for an ended call; closing it");
                    let event = CarrierEvent {
                        event_id: format!("outdial-sweep-{call}"),
                        occurred_at: status.end_time.unwrap_or(now),
                        call: Some(CallId(call)),
                        leg: Default::default(),
                        call_control_id: handle.call_control_id,
                        call_session_id: handle.call_session_id,
                        kind: CarrierEventKind::HungUp { cause: HangupCause::Unspecified, sip_code: None },
                    };
                    if self.shared.record(&event).await?.is_some() {
                        self.on_event(event, now).await?;
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(call, %error, "could not ask the carrier about a quiet call"),
            }
        }
        Ok(())
    }

    /// Asks the pacing core how many calls to start and starts them.
    async fn pace(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        if self.placing {
            return Ok(());
        }
        while self.recent_dials.front().is_some_and(|at| now - *at >= RATE_WINDOW) {
            self.recent_dials.pop_front();
        }
        let snapshot = self.snapshot(now).await?;
        let decision = decide(&self.estimator, &snapshot, self.secs(now));
        // The carrier's rate limit is the account's: what other campaigns dialed counts too.
        let carrier_takes = self.shared.carrier.free_dials().unwrap_or(u32::MAX);
        let wanted = decision.calls_to_start.min(MAX_DIALS_PER_STEP).min(carrier_takes) as usize;
        if wanted == 0 || !self.has_caller_id(now).await? {
            return Ok(());
        }
        self.start_dial_step(wanted, now);
        Ok(())
    }

    /// Whether calls can show a number the called party can call back (16 CFR 310.4(a)(8));
    /// without one the campaign is paused with the reason.
    async fn has_caller_id(&mut self, now: DateTime<Utc>) -> DomainResult<bool> {
        if self.caller_id.is_some() {
            return Ok(true);
        }
        let reason = "no caller ID: set the campaign's callerId or the tenant's default caller ID";
        self.campaign = self
            .shared
            .store
            .campaigns()
            .apply_action(&self.tenant, self.campaign.id, LifecycleAction::Pause, None, Some(reason), now)
            .await?;
        tracing::warn!(campaign = self.campaign.id, "campaign paused: {reason}");
        Ok(false)
    }

    /// Tops the hopper up by `wanted`; `false` when nothing is left to queue.
    async fn refill(&mut self, wanted: usize, now: DateTime<Utc>) -> DomainResult<bool> {
        let campaign = (&self.campaign, self.pacing_mode());
        let due = self.hopper.refill(&self.shared, &self.tenant, campaign, &self.lists, wanted, now).await?;
        self.anything_left(due, now).await
    }

    /// Whether anything is left to queue after a refill found `due` contacts; the campaign is
    /// completed when none of its contacts has a call to come.
    async fn anything_left(&mut self, due: usize, now: DateTime<Utc>) -> DomainResult<bool> {
        if self.hopper.is_empty() && due == 0 && self.calls.is_empty() && self.previews.is_empty() {
            self.complete_if_exhausted(now).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Preview mode: ends the previews whose time is up, then shows each AVAILABLE agent of the
    /// campaign the next hopper contact (the floor reserves the agent the ACD picks).
    async fn offer_previews(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        let lapsed: Vec<AgentId> =
            self.previews.iter().filter(|(_, p)| p.expires_at <= now).map(|(agent, _)| *agent).collect();
        for agent in lapsed {
            tracing::info!(campaign = self.campaign.id, agent = agent.0, "preview not taken in time");
            self.end_preview(agent, now).await;
        }
        if self.placing {
            // The hopper is out with the last paced dial step (the campaign just left that mode).
            return Ok(());
        }
        let serving = self.shared.floor.serving(&self.tenant, self.campaign.id, now).await?;
        let free = serving.iter().filter(|view| view.status == Status::Available).count();
        if free == 0 || !self.has_caller_id(now).await? {
            return Ok(());
        }
        if self.hopper.len() < free && !self.refill(free * 2, now).await? {
            return Ok(());
        }
        for _ in 0..free {
            let Some((contact, checked_at)) = self.hopper.lend(now) else { break };
            let wanted = PreviewContact {
                id: contact.id,
                campaign: CampaignId(self.campaign.id),
                language: None,
                region: contact.state.clone(),
            };
            let screen_pop = self.preview_screen_pop(&contact).await;
            let expires_at = now + self.shared.settings.preview_timeout;
            let offered = self.shared.floor.offer_preview(&self.tenant, &wanted, &screen_pop, expires_at, now).await;
            match offered {
                Ok(Some(offer)) => {
                    self.previews.insert(offer.agent, Preview { contact, checked_at, expires_at });
                }
                Ok(None) => {
                    self.hopper.put_back(contact, checked_at, true);
                    break;
                }
                Err(error) => {
                    self.hopper.put_back(contact, checked_at, true);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// What the agent sees on a preview: the contact, the script, the earlier attempts. The CRM
    /// record is not waited for here (the campaign's task must not stall on a slow CRM).
    async fn preview_screen_pop(&self, contact: &contact::Model) -> ScreenPop {
        let earlier = self.shared.store.calls().of_contact(&self.tenant, contact.id, 10).await;
        let attempts = earlier.unwrap_or_default().into_iter().map(previous_attempt).collect();
        let source = ScreenPopSource {
            contact: card(contact),
            script: self.settings.script.clone(),
            attempts,
            crm_record: None,
        };
        ScreenPop::preview(CampaignId(self.campaign.id), source)
    }

    /// Ends an agent's preview without a dial: the contact goes back to the hopper (last in
    /// line), the agent is AVAILABLE again if it still previews it.
    async fn end_preview(&mut self, agent: AgentId, now: DateTime<Utc>) {
        let Some(preview) = self.previews.remove(&agent) else { return };
        self.free_previewer(agent, preview.contact.id, now).await;
        self.hopper.put_back(preview.contact, preview.checked_at, false);
    }

    /// Every outstanding preview ends (the campaign paused, completed or left preview mode).
    async fn withdraw_previews(&mut self, now: DateTime<Utc>) {
        let agents: Vec<AgentId> = self.previews.keys().copied().collect();
        for agent in agents {
            self.end_preview(agent, now).await;
        }
    }

    /// An agent's dial or skip of its preview.
    async fn preview_chosen(
        &mut self,
        agent: AgentId,
        contact: i64,
        choice: PreviewChoice,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<i64>> {
        if self.previews.get(&agent).is_none_or(|p| p.contact.id != contact) {
            return Err(DomainError::NotFound("preview"));
        }
        if let PreviewChoice::Skip { reason } = choice {
            tracing::info!(campaign = self.campaign.id, agent = agent.0, contact, ?reason, "preview skipped");
            self.end_preview(agent, now).await;
            return Ok(None);
        }
        let Some(preview) = self.previews.remove(&agent) else { return Err(DomainError::NotFound("preview")) };
        self.hopper.settled(contact);
        let error = match self.place_preview(preview.contact, agent, now).await {
            Placed::Dialed(call) => return Ok(Some(call)),
            Placed::Refused(verdict) => {
                let reasons: Vec<&str> = verdict.codes().iter().map(|code| code.as_str()).collect();
                let next = verdict.next_safe_call_time.map_or_else(|| "never".to_owned(), |at| at.to_rfc3339());
                DomainError::conflict(format!(
                    "the compliance gate refused this contact at the dial instant ({}): not dialed; next safe call time: {next}",
                    reasons.join(", ")
                ))
            }
            Placed::Skipped(error) => error,
        };
        self.free_previewer(agent, contact, now).await;
        Err(error)
    }

    /// Frees an agent from its preview of `contact` (if it still has it).
    async fn free_previewer(&self, agent: AgentId, contact: i64, now: DateTime<Utc>) {
        if let Err(error) = self.shared.floor.end_preview(&self.tenant, agent, contact, now).await {
            tracing::warn!(agent = agent.0, %error, "could not free an agent from its preview");
        }
    }

    /// Completes the campaign when none of its contacts has a call to come.
    async fn complete_if_exhausted(&mut self, now: DateTime<Utc>) -> DomainResult<()> {
        let remaining =
            self.shared.store.contacts().remaining(&self.tenant, &self.lists, self.settings.max_attempts).await?;
        if remaining > 0 {
            return Ok(());
        }
        let reason = "no callable contact left";
        let row = self
            .shared
            .store
            .campaigns()
            .apply_action(&self.tenant, self.campaign.id, LifecycleAction::Complete, None, Some(reason), now)
            .await?;
        self.shared.floor.campaign_changed(&self.tenant, &row, now).await;
        tracing::info!(campaign = row.id, "campaign completed: {reason}");
        self.campaign = row;
        Ok(())
    }

    /// What the pacer may know now.
    async fn snapshot(&self, now: DateTime<Utc>) -> DomainResult<PacingSnapshot> {
        let agents = self
            .shared
            .floor
            .pacing_staff(&self.tenant, self.campaign.id, self.settings.priority, now)
            .await?
            .into_iter()
            .filter_map(|view| {
                let activity = match view.status {
                    Status::Offline => return None,
                    Status::Available => AgentActivity::Available,
                    Status::Reserved { .. } | Status::Previewing { .. } => AgentActivity::Reserved,
                    Status::OnCall { .. } => AgentActivity::OnCall,
                    Status::WrapUp { .. } => AgentActivity::WrapUp,
                    Status::Paused { .. } => AgentActivity::Paused,
                };
                Some(AgentObs { activity, in_state: view.time_in_state.to_std().unwrap_or_default() })
            })
            .collect();
        let mut calls_in_flight = Vec::new();
        let mut bridged_lines = 0;
        for flight in self.calls.values() {
            let stage = match flight.stage {
                Stage::Dialing => CallStage::Dialing,
                Stage::Ringing => CallStage::Ringing,
                Stage::Screening => CallStage::Screening,
                Stage::Waiting { .. } => CallStage::AwaitingAgent,
                Stage::Offered { .. } | Stage::Bridged { .. } => {
                    bridged_lines += 1;
                    continue;
                }
                Stage::Ending => continue,
            };
            let age = |since: DateTime<Utc>| (now - since).to_std().unwrap_or_default();
            calls_in_flight.push(CallObs { stage, age: age(flight.dialed_at), in_stage: age(flight.stage_since) });
        }
        // The carrier's free channels are the most this campaign may add to the lines it holds.
        let lines = calls_in_flight.len() as u32 + bridged_lines;
        let max_channels = self.shared.carrier.free_channels().map(|free| free.saturating_add(lines));
        Ok(PacingSnapshot {
            mode: self.pacing_mode(),
            agents,
            calls_in_flight,
            bridged_lines,
            dials_in_window: self.recent_dials.len() as u32,
            abandonment: self.abandonment,
            target: AbandonmentTarget {
                max_rate: self.settings.abandon_rate_target,
                daily_cap: DAILY_ABANDON_CAP.max(self.settings.abandon_rate_target),
                amd_false_positive_rate: 0.0,
            },
            constraints: Constraints { max_channels, ..Constraints::default() },
        })
    }

    /// An agent's dial of its preview through the dial path: gate at the dial instant, call row
    /// with its audit, the agent's reservation moved to the new call, then the carrier.
    async fn place_preview(&mut self, contact: contact::Model, agent: AgentId, now: DateTime<Utc>) -> Placed {
        let Some(from) = self.caller_id.clone() else {
            return Placed::Skipped(DomainError::conflict("the campaign has no caller ID to dial with"));
        };
        let dial = DialStep::new(self, from.clone());
        let placed = match dial.write(std::slice::from_ref(&contact), now).await {
            Ok(mut placed) => placed.pop().unwrap_or(Placed::Skipped(DomainError::NotFound("preview"))),
            Err(error) => Placed::Skipped(error),
        };
        let Placed::Dialed(call) = placed else { return placed };
        if let Err(error) = self.shared.floor.dial_preview(&self.tenant, agent, contact.id, CallId(call), now).await {
            // The agent left between its choice and the dial: nobody would take the answer.
            tracing::warn!(call, agent = agent.0, %error, "preview not dialed: its agent is gone");
            if let Err(error) = self.shared.store.calls().fail(&self.tenant, call, now).await {
                tracing::error!(call, %error, "could not record a dial not placed");
            }
            return Placed::Skipped(error);
        }
        self.launch(call, contact, Some(agent), &from, now);
        placed
    }

    /// Starts a paced dial step off the task: the hopper goes with it and comes back in
    /// [`Message::Placed`]; until then no other step starts (the pacer is asked again once the
    /// step's calls are followed).
    fn start_dial_step(&mut self, wanted: usize, now: DateTime<Utc>) {
        let Some(from) = self.caller_id.clone() else { return };
        let dial = DialStep::new(self, from);
        let hopper = std::mem::take(&mut self.hopper);
        let (lists, inbox) = (self.lists.clone(), self.inbox_tx.clone());
        self.placing = true;
        self.shared.commands.spawn(async move {
            let placed = dial.run(hopper, &lists, wanted, now).await;
            let _ = inbox.send(Message::Placed(Box::new(placed))).await;
        });
    }

    /// A dial step's rows are written: the hopper is back, each dialed contact goes to the
    /// carrier, and a campaign none of whose contacts has a call to come is completed.
    async fn dial_step_done(&mut self, step: StepPlaced, now: DateTime<Utc>) {
        self.placing = false;
        self.hopper = step.hopper;
        match step.dialed {
            Ok(dialed) => {
                for (contact, call) in dialed {
                    self.launch(call, contact, None, &step.from, now);
                }
            }
            Err(error) => tracing::warn!(campaign = self.campaign.id, %error, "dial step failed; trying again"),
        }
        if let Some(due) = step.due
            && let Err(error) = self.anything_left(due, now).await
        {
            tracing::warn!(campaign = self.campaign.id, %error, "could not complete the campaign");
        }
    }

    /// Follows a call whose row is written: the carrier is asked in its own task.
    fn launch(&mut self, call: i64, contact: contact::Model, agent: Option<AgentId>, from: &str, now: DateTime<Utc>) {
        self.recent_dials.push_back(now);
        self.shared.telemetry.dial_placed(self.tenant.as_str(), self.campaign.id);
        let mut request = DialRequest::new(CallId(call), contact.phone_number.clone(), from.to_owned());
        request.timeout_secs = self.shared.settings.ring_timeout_secs;
        self.spawn_dial(request, &contact);
        let flight = Flight {
            contact,
            handle: None,
            stage: Stage::Dialing,
            dialed_at: now,
            stage_since: now,
            answered_at: None,
            heard_at: now,
            ready_at: None,
            resolved: false,
            screen_pop: None,
            crm_record: None,
            agent,
        };
        self.calls.insert(call, flight);
    }

    /// Places the call in its own task, preparing the screen pop meanwhile; the CRM lookup runs
    /// on its own, so a slow or failing CRM never holds the dial or the offer.
    fn spawn_dial(&self, request: DialRequest, contact: &contact::Model) {
        let (crm, tenant, inbox) = (self.shared.crm.clone(), self.tenant.clone(), self.inbox_tx.clone());
        let (call, phone) = (request.call.0, contact.phone_number.clone());
        tokio::spawn(async move {
            let Some(record) = crm.screen_pop(&tenant, &phone, SCREEN_POP_TIMEOUT).await else { return };
            let record = serde_json::to_value(record).unwrap_or_default();
            let _ = inbox.send(Message::CrmRecord { call, record }).await;
        });
        let shared = self.shared.clone();
        let tenant = self.tenant.clone();
        let inbox = self.inbox_tx.clone();
        let source = ScreenPopSource {
            contact: card(contact),
            script: self.settings.script.clone(),
            attempts: Vec::new(),
            crm_record: None,
        };
        let (campaign, contact_id) = (CampaignId(self.campaign.id), contact.id);
        self.shared.commands.spawn(async move {
            let call = request.call.0;
            let calls = shared.store.calls();
            let (result, earlier) =
                tokio::join!(shared.carrier.dial(request), calls.of_contact(&tenant, contact_id, 11));
            let attempts =
                earlier.unwrap_or_default().into_iter().filter(|c| c.id != call).map(previous_attempt).collect();
            let screen_pop =
                Box::new(ScreenPop::prepare(CallId(call), campaign, ScreenPopSource { attempts, ..source }));
            if let Ok(handle) = &result {
                let stored = calls.set_carrier_ref(&tenant, call, &handle.call_control_id, &handle.call_session_id);
                if let Err(error) = stored.await {
                    tracing::warn!(call, %error, "could not keep the carrier's call id");
                }
            }
            let _ = inbox.send(Message::Dialed { call, result, screen_pop }).await;
        });
    }

    async fn handle(&mut self, message: Message) {
        let now = self.shared.clock.now();
        match message {
            Message::Dialed { call, result, screen_pop } => {
                let Some(flight) = self.calls.get_mut(&call) else { return };
                flight.screen_pop = Some(*screen_pop);
                match result {
                    Ok(handle) => {
                        flight.handle.get_or_insert(handle);
                    }
                    Err(error) => {
                        self.shared.telemetry.carrier_error(self.tenant.as_str(), self.campaign.id);
                        tracing::warn!(call, %error, "the carrier did not place the call");
                        if let Some(agent) = self.calls.remove(&call).and_then(|f| f.agent) {
                            self.release(agent, call, now).await;
                        }
                        if let Err(error) = self.shared.store.calls().fail(&self.tenant, call, now).await {
                            tracing::error!(call, %error, "could not record a failed dial");
                        }
                    }
                }
            }
            Message::CrmRecord { call, record } => {
                if let Some(flight) = self.calls.get_mut(&call) {
                    flight.crm_record = Some(record);
                }
            }
            Message::CommandFailed { call, error } => {
                self.shared.telemetry.carrier_error(self.tenant.as_str(), self.campaign.id);
                tracing::warn!(call, %error, "a carrier command failed");
                self.transfer_failed(call, now).await;
            }
            Message::Event(event) => {
                if let Err(error) = self.on_event(event, now).await {
                    tracing::warn!(campaign = self.campaign.id, %error, "a call event could not be applied");
                }
            }
            Message::Placed(step) => self.dial_step_done(*step, now).await,
            Message::Preview { agent, contact, choice, reply } => {
                let answer = self.preview_chosen(agent, contact, choice, now).await;
                let _ = reply.send(answer);
            }
        }
    }

    async fn on_event(&mut self, event: CarrierEvent, now: DateTime<Utc>) -> DomainResult<()> {
        let Some(call) = event.call.map(|c| c.0) else { return Ok(()) };
        let amd = self.shared.settings.machine_detection;
        let at = event.occurred_at;
        let t = self.secs(now);
        let Some(flight) = self.calls.get_mut(&call) else { return Ok(()) };
        flight.heard_at = now;
        if event.leg == CallLeg::Agent && event.kind != CarrierEventKind::Bridged {
            // The agent's leg of a transfer: its end before the bridge means the agent never picked up.
            if event.kind.is_terminal() {
                self.transfer_failed(call, now).await;
            }
            return Ok(());
        }
        if flight.handle.is_none() && event.leg == CallLeg::Customer && !event.call_control_id.is_empty() {
            flight.handle = Some(CarrierCallRef {
                call: CallId(call),
                call_control_id: event.call_control_id.clone(),
                call_session_id: event.call_session_id.clone(),
                call_leg_id: None,
            });
        }
        let ringing =
            |flight: &Flight| (flight.answered_at.unwrap_or(at) - flight.dialed_at).to_std().unwrap_or_default();
        match event.kind {
            CarrierEventKind::Initiated => {}
            CarrierEventKind::Ringing => {
                if flight.stage == Stage::Dialing {
                    flight.enter(Stage::Ringing, now);
                }
            }
            CarrierEventKind::Answered => {
                if matches!(flight.stage, Stage::Dialing | Stage::Ringing) {
                    flight.answered_at = Some(at);
                    flight.enter(Stage::Screening, now);
                    if !amd {
                        let observed =
                            DialResult::Answered { human: true, ringing: ringing(flight), screening: Duration::ZERO };
                        flight.resolved = true;
                        flight.ready_at = Some(at);
                        self.estimator.observe(Observation::CallResolved(observed), t);
                        self.route(call, now).await;
                    }
                }
            }
            CarrierEventKind::MachineDetectionEnded { result } => {
                if flight.stage == Stage::Screening {
                    let human = result != AmdResult::Machine;
                    let screening = (at - flight.answered_at.unwrap_or(at)).to_std().unwrap_or_default();
                    let observed = DialResult::Answered { human, ringing: ringing(flight), screening };
                    flight.resolved = true;
                    flight.ready_at = Some(at);
                    self.estimator.observe(Observation::CallResolved(observed), t);
                    if human {
                        self.route(call, now).await;
                    } else {
                        self.hang_up(call);
                    }
                }
            }
            CarrierEventKind::Bridged => {
                if let Stage::Offered { agent } = flight.stage {
                    flight.enter(Stage::Bridged { agent }, now);
                    self.estimator.observe(Observation::LiveAnswerEnded { abandoned: false }, t);
                    let change = StateChange::OnCall { call: CallId(call) };
                    self.shared.floor.change_agent_state(&self.tenant, agent.0, change, now).await?;
                }
            }
            CarrierEventKind::HungUp { cause, .. } | CarrierEventKind::Failed { cause, .. } => {
                let failed = matches!(event.kind, CarrierEventKind::Failed { .. }) || cause == HangupCause::UserBusy;
                let Some(flight) = self.calls.remove(&call) else { return Ok(()) };
                self.ended(call, flight, failed, now).await?;
            }
        }
        Ok(())
    }

    /// What the end of a call means for the pacer and the agent who had it.
    async fn ended(&mut self, call: i64, flight: Flight, failed: bool, now: DateTime<Utc>) -> DomainResult<()> {
        let at = self.secs(now);
        let after = (now - flight.dialed_at).to_std().unwrap_or_default();
        if !flight.resolved && flight.answered_at.is_none() {
            let result = if failed { DialResult::Failed { after } } else { DialResult::NoAnswer { after } };
            self.estimator.observe(Observation::CallResolved(result), at);
        }
        match flight.stage {
            Stage::Bridged { agent } => {
                let talk = (now - flight.stage_since).to_std().unwrap_or_default();
                self.estimator.observe(Observation::TalkEnded { talk }, at);
                self.wrapping.insert(agent, now);
                self.shared.floor.change_agent_state(&self.tenant, agent.0, StateChange::WrapUp, now).await?;
            }
            Stage::Offered { agent } => {
                self.estimator.observe(Observation::LiveAnswerEnded { abandoned: true }, at);
                self.shared.floor.change_agent_state(&self.tenant, agent.0, StateChange::Available, now).await?;
            }
            Stage::Waiting { .. } => {
                self.estimator.observe(Observation::LiveAnswerEnded { abandoned: true }, at);
            }
            Stage::Dialing | Stage::Ringing | Stage::Screening | Stage::Ending => {}
        }
        if let (
            Some(agent),
            Stage::Dialing | Stage::Ringing | Stage::Screening | Stage::Waiting { .. } | Stage::Ending,
        ) = (flight.agent, flight.stage)
        {
            // A preview that reached nobody (no answer, busy, a machine): its agent is free again.
            self.release(agent, call, now).await;
        }
        Ok(())
    }

    /// Frees an agent reserved for `call` that never connected; an agent that moved on (paused,
    /// went offline) is left as it is.
    async fn release(&self, agent: AgentId, call: i64, now: DateTime<Utc>) {
        if let Err(error) = self.shared.floor.release(&self.tenant, agent, CallId(call), now).await {
            tracing::warn!(call, agent = agent.0, %error, "could not free the agent of a preview call");
        }
    }

    /// Offers a live answer to the best free agent, or lets it wait until its deadline. A preview's
    /// answer goes straight to the agent reserved for it, while that agent still is.
    async fn route(&mut self, call: i64, now: DateTime<Utc>) {
        let reserved = self.calls.get(&call).and_then(|f| f.agent);
        if let Some(agent) = reserved {
            match self.shared.floor.agent(&self.tenant, agent, now).await {
                Ok(Some(view)) if matches!(view.status, Status::Reserved { call: held, .. } if held.0 == call) => {
                    let Some(flight) = self.calls.get_mut(&call) else { return };
                    flight.enter(Stage::Offered { agent }, now);
                    let handle = flight.handle.clone();
                    self.spawn_bridge(call, agent, handle);
                    return;
                }
                _ => {
                    tracing::warn!(call, agent = agent.0, "the preview's agent left before the answer; routing it");
                    if let Some(flight) = self.calls.get_mut(&call) {
                        flight.agent = None;
                    }
                }
            }
        }
        let Some(flight) = self.calls.get_mut(&call) else { return };
        let deadline = match flight.stage {
            Stage::Waiting { deadline } => deadline,
            _ => now + ROUTING_BUDGET,
        };
        let live = LiveCall {
            id: CallId(call),
            campaign: CampaignId(self.campaign.id),
            priority: self.settings.priority,
            answered_at: flight.answered_at.unwrap_or(now),
            deadline,
            language: None,
            region: flight.contact.state.clone(),
        };
        let mut screen_pop = flight.screen_pop.clone().unwrap_or_else(|| {
            let source = ScreenPopSource {
                contact: card(&flight.contact),
                script: self.settings.script.clone(),
                attempts: Vec::new(),
                crm_record: None,
            };
            ScreenPop::prepare(CallId(call), CampaignId(self.campaign.id), source)
        });
        screen_pop.crm_record = flight.crm_record.clone();
        match self.shared.floor.offer(&self.tenant, &live, &screen_pop, now).await {
            Ok(Decision::Offer(offer)) => {
                flight.enter(Stage::Offered { agent: offer.agent }, now);
                // From the carrier's report of a person on the line to the offer.
                let ready = flight.ready_at.unwrap_or(now);
                self.shared.telemetry.answer_to_offer((self.shared.clock.now() - ready).as_seconds_f64().max(0.0));
                let handle = flight.handle.clone();
                self.spawn_bridge(call, offer.agent, handle);
            }
            Ok(Decision::Wait) => flight.enter(Stage::Waiting { deadline }, now),
            Ok(Decision::Abandon) => self.abandon(call),
            Err(error) => {
                tracing::warn!(call, %error, "routing failed; the call waits");
                flight.enter(Stage::Waiting { deadline }, now);
            }
        }
    }

    /// Tries the waiting calls again, soonest deadline first; abandons those past it.
    async fn route_waiting(&mut self, now: DateTime<Utc>) {
        let mut waiting: Vec<(DateTime<Utc>, i64)> = self
            .calls
            .iter()
            .filter_map(|(id, f)| match f.stage {
                Stage::Waiting { deadline } => Some((deadline, *id)),
                _ => None,
            })
            .collect();
        waiting.sort_unstable();
        for (deadline, call) in waiting {
            if now > deadline {
                self.abandon(call);
            } else {
                self.route(call, now).await;
            }
        }
    }

    /// Abandons a live answer by the rules: the safe-harbor message, then hang-up.
    fn abandon(&mut self, call: i64) {
        let now = self.shared.clock.now();
        let at = self.secs(now);
        let Some(flight) = self.calls.get_mut(&call) else { return };
        flight.enter(Stage::Ending, now);
        self.estimator.observe(Observation::LiveAnswerEnded { abandoned: true }, at);
        self.shared.telemetry.call_abandoned(self.tenant.as_str(), self.campaign.id);
        let Some(handle) = flight.handle.clone() else { return };
        let message = SafeHarbor {
            seller_name: self.seller.clone(),
            callback_number: self.caller_id.clone().unwrap_or_default(),
            opt_out: true,
        };
        let (shared, inbox) = (self.shared.clone(), self.inbox_tx.clone());
        self.shared.commands.spawn(async move {
            if let Err(error) = shared.carrier.play_safe_harbor(&handle, &message).await {
                let _ = inbox.send(Message::CommandFailed { call, error }).await;
            }
        });
    }

    /// A transfer that did not reach its agent (the carrier refused it, or the agent's phone was
    /// not picked up) leaves a person waiting and an agent reserved: free the agent and abandon the
    /// call by the rules (safe-harbor message, then hang-up).
    async fn transfer_failed(&mut self, call: i64, now: DateTime<Utc>) {
        let Some(Stage::Offered { agent }) = self.calls.get(&call).map(|f| f.stage) else { return };
        let freed = self.shared.floor.change_agent_state(&self.tenant, agent.0, StateChange::Available, now);
        if let Err(error) = freed.await {
            tracing::warn!(call, agent = agent.0, %error, "could not free the agent of a failed transfer");
        }
        self.abandon(call);
    }

    /// Hangs up a call (a machine, or a person we could not connect).
    fn hang_up(&mut self, call: i64) {
        let now = self.shared.clock.now();
        let Some(flight) = self.calls.get_mut(&call) else { return };
        flight.enter(Stage::Ending, now);
        let Some(handle) = flight.handle.clone() else { return };
        let shared = self.shared.clone();
        self.shared.commands.spawn(async move {
            if let Err(error) = shared.carrier.hangup(&handle).await {
                tracing::warn!(call, %error, "hang-up failed");
            }
        });
    }

    fn spawn_bridge(&self, call: i64, agent: AgentId, handle: Option<CarrierCallRef>) {
        let (shared, inbox, tenant) = (self.shared.clone(), self.inbox_tx.clone(), self.tenant.clone());
        self.shared.commands.spawn(async move {
            let result = async {
                shared.store.calls().assign_agent(&tenant, call, agent.0).await.map_err(internal)?;
                let row = shared.store.agents().get(&tenant, agent.0).await.map_err(internal)?;
                let endpoint = match row.endpoint {
                    Some(endpoint) => AgentEndpoint::Sip(endpoint),
                    // The simulated far end does not care where the agent sits.
                    None if shared.carrier.name() == simulated::NAME => {
                        AgentEndpoint::Sip(format!("sip:agent-{}@simulated", agent.0))
                    }
                    None => {
                        return Err(CarrierError::InvalidRequest(format!(
                            "agent {} has no endpoint to take calls on",
                            agent.0
                        )));
                    }
                };
                let handle =
                    handle.ok_or_else(|| CarrierError::InvalidRequest("no carrier id for the call yet".into()))?;
                shared.carrier.bridge(&handle, &endpoint).await
            }
            .await;
            if let Err(error) = result {
                let _ = inbox.send(Message::CommandFailed { call, error }).await;
            }
        });
    }

    /// Follows agents of this tenant: the end of a wrap-up teaches the pacer; a free agent may
    /// take a waiting call at once.
    async fn agent_changed(&mut self, update: &AgentUpdate) {
        if update.tenant != self.tenant {
            return;
        }
        if self.previews.contains_key(&update.agent) {
            self.preview_agent_changed(update.agent).await;
        }
        if !matches!(update.status, Status::WrapUp { .. })
            && let Some(since) = self.wrapping.remove(&update.agent)
        {
            let wrap = (update.since - since).to_std().unwrap_or_default();
            self.estimator.observe(Observation::WrapEnded { wrap }, self.secs(update.since));
        }
        if matches!(update.status, Status::Available) {
            self.route_waiting(self.shared.clock.now()).await;
        }
    }
}

impl Runner {
    /// An agent with a preview changed state: unless it still previews that contact (the floor
    /// says; the bus may bring older news), the preview ended elsewhere (the agent paused, went
    /// offline) and its contact goes back to the hopper.
    async fn preview_agent_changed(&mut self, agent: AgentId) {
        let now = self.shared.clock.now();
        let Some(contact) = self.previews.get(&agent).map(|p| p.contact.id) else { return };
        let status = match self.shared.floor.agent(&self.tenant, agent, now).await {
            Ok(view) => view.map(|v| v.status),
            Err(error) => {
                tracing::warn!(agent = agent.0, %error, "could not read a previewing agent");
                return;
            }
        };
        if !matches!(status, Some(Status::Previewing { contact: previewed, .. }) if previewed == contact) {
            tracing::info!(campaign = self.campaign.id, agent = agent.0, "preview withdrawn: its agent left");
            self.end_preview(agent, now).await;
        }
    }
}

/// What a dial step writes with, taken from the campaign's task so that it can run off it.
struct DialStep {
    shared: Arc<Shared>,
    tenant: TenantId,
    campaign: campaign::Model,
    mode: DialerMode,
    from: String,
}

/// What a paced dial step hands back to the campaign's task.
pub struct StepPlaced {
    hopper: Hopper,
    /// How many contacts were due when the step had to refill the hopper.
    due: Option<usize>,
    /// The contacts dialed, with their call rows' ids.
    dialed: DomainResult<Vec<(contact::Model, i64)>>,
    from: String,
}

impl std::fmt::Debug for StepPlaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepPlaced").field("due", &self.due).field("hopper", &self.hopper.len()).finish()
    }
}

impl DialStep {
    fn new(runner: &Runner, from: String) -> DialStep {
        DialStep {
            shared: runner.shared.clone(),
            tenant: runner.tenant.clone(),
            campaign: runner.campaign.clone(),
            mode: runner.pacing_mode(),
            from,
        }
    }

    /// Tops the hopper up when it runs low, takes `wanted` contacts from it and writes their dials.
    async fn run(self, mut hopper: Hopper, lists: &[i64], wanted: usize, now: DateTime<Utc>) -> StepPlaced {
        let mut due = None;
        let dialed = async {
            if hopper.len() < wanted * 2 {
                let campaign = (&self.campaign, self.mode);
                due = Some(hopper.refill(&self.shared, &self.tenant, campaign, lists, wanted * 4, now).await?);
            }
            let contacts = hopper.take(wanted, now);
            let placed = self.write(&contacts, now).await?;
            let dialed = contacts.into_iter().zip(placed).filter_map(|(contact, placed)| match placed {
                Placed::Dialed(call) => Some((contact, call)),
                Placed::Refused(_) | Placed::Skipped(_) => None,
            });
            Ok(dialed.collect())
        }
        .await;
        StepPlaced { hopper, due, dialed, from: self.from }
    }

    /// The dial path's writes, the only ones: the gate at the dial instant, then the call rows of
    /// the contacts it passes with their audit and attempts (one transaction); the refused are
    /// deferred like the hopper defers them. One answer per contact, in order.
    async fn write(&self, contacts: &[contact::Model], now: DateTime<Utc>) -> DomainResult<Vec<Placed>> {
        if contacts.is_empty() {
            return Ok(Vec::new());
        }
        let shared = &self.shared;
        let judgement = shared.gate.judgement(&self.tenant, now, Some(&self.campaign)).await?.placed_as(self.mode);
        let numbers: Vec<String> = contacts.iter().map(|c| c.phone_number.clone()).collect();
        let verdicts =
            shared.gate.check_with(&judgement, &numbers, crate::store::compliance::Purpose::Dial, now).await?;
        let (tenant, campaign) = (self.tenant.as_str(), self.campaign.id);
        let dials: Vec<(NewCall, &Verdict)> = contacts
            .iter()
            .zip(&verdicts)
            .filter(|(_, verdict)| verdict.safe_to_call)
            .map(|(contact, verdict)| {
                let new = NewCall {
                    campaign_id: campaign,
                    contact_id: contact.id,
                    attempt: contact.attempts + 1,
                    carrier: shared.carrier.name(),
                    from_number: self.from.clone(),
                    to_number: contact.phone_number.clone(),
                };
                (new, verdict)
            })
            .collect();
        let mut rows = shared.store.calls().create_dialed_many(&self.tenant, dials, now).await?.into_iter();
        let mut refused = Vec::new();
        let mut placed = Vec::with_capacity(contacts.len());
        for (contact, verdict) in contacts.iter().zip(verdicts) {
            if !verdict.safe_to_call {
                shared.telemetry.dial_refused(tenant, campaign);
                refused.push((contact.id, retry_after_refusal(&verdict, now)));
                placed.push(Placed::Refused(Box::new(verdict)));
                continue;
            }
            // One answer per safe dial, in order.
            match rows.next().unwrap_or_else(|| Err(DomainError::conflict("not written"))) {
                Ok(row) => placed.push(Placed::Dialed(row.id)),
                Err(error) => {
                    tracing::warn!(contact = contact.id, %error, "not dialed");
                    placed.push(Placed::Skipped(error));
                }
            }
        }
        shared.store.contacts().defer(&self.tenant, &refused).await?;
        Ok(placed)
    }
}

fn previous_attempt(call: entity::call::Model) -> PreviousAttempt {
    PreviousAttempt {
        call: CallId(call.id),
        at: call.dialed_at,
        outcome: call.disposition.or(call.outcome).unwrap_or_else(|| call.state.clone()),
        agent: call.agent_id.map(AgentId),
        notes: call.notes,
    }
}

fn internal(error: DomainError) -> CarrierError {
    CarrierError::Rejected(format!("the call's agent could not be read or recorded: {error}"))
}

fn card(contact: &contact::Model) -> ContactCard {
    ContactCard {
        id: contact.id,
        phone_number: contact.phone_number.clone(),
        first_name: contact.first_name.clone(),
        last_name: contact.last_name.clone(),
        email: contact.email.clone(),
        state: contact.state.clone(),
        timezone: contact.timezone.clone(),
        fields: contact.custom_fields.clone(),
    }
}
