//! The live call-centre floor: one ACD board per tenant, loaded from the database on first use
//! and changed only through here, so that the board and the agent rows agree. It applies agent
//! state changes (the pure state machine decides, the row records, the bus tells subscribers),
//! follows profile and
//! campaign edits, starts a new day at the tenant's local midnight, and answers the agent board.
//! Preview reservations live here too: an agent RESERVED for a contact before any dial, that
//! contact's dial moving the reservation to the new call, and the preview's end freeing the agent.
//! It keeps each agent's current offer or preview with its screen pop, for a desktop that
//! (re)connects or fell behind ([`Floor::current`]).
//!
//! After a restart, calls in flight are gone: an agent stored as RESERVED, ON_CALL or WRAP_UP
//! comes back PAUSED with the reason `RESTART` (never AVAILABLE: a person who left must not be
//! offered calls), until its campaign's task puts it back on a call the carrier still has
//! ([`Floor::resume_call`]); AVAILABLE and PAUSED agents keep their state and its start.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use entity::{agent, campaign};
use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};
use tokio::sync::Mutex;

use crate::acd::{
    AcdError, AgentId, AgentProfile, AgentState, AgentView, Board, CallId, CampaignId, CampaignRouting, Decision,
    LiveCall, PreviewContact, PreviewOffer, ScreenPop, SkillLevel, StateChange, Status, route, route_preview,
};
use crate::auth::TenantId;
use crate::campaign::CampaignStatus;
use crate::clock::{local_day_start, next_local_day_start};
use crate::error::{DomainError, DomainResult};
use crate::events::{AgentUpdate, CallOffer, ContactPreview, EventBus};
use crate::store::Store;
use crate::store::agent_states::{AgentStateRows, StateRow};
use crate::store::campaigns::settings_of;

/// The pause reason of agents whose call was cut by a restart.
pub const RESTART_REASON: &str = "RESTART";

impl From<AcdError> for DomainError {
    fn from(error: AcdError) -> Self {
        match error {
            AcdError::UnknownAgent(_) => DomainError::NotFound("agent"),
            AcdError::UnknownCampaign(_) => DomainError::NotFound("campaign"),
            AcdError::InvalidTransition { from, to, .. } => {
                DomainError::conflict(format!("an agent cannot go from {} to {}", from.as_str(), to.as_str()))
            }
            error @ AcdError::NotReservedFor { .. } => DomainError::conflict(error.to_string()),
            AcdError::InvalidSkillLevel { skill, level } => {
                DomainError::bad_input("skills", format!("skill {skill:?} has level {level}; levels run from 1 to 5"))
            }
        }
    }
}

/// One tenant's board and its day.
struct TenantFloor {
    board: Board,
    /// Each agent's last offer or preview, with the call it is for once there is one: it is the
    /// agent's current one while the agent's status is for that call or contact ([`Floor::current`]).
    shown: HashMap<AgentId, Shown>,
    zone: Tz,
    /// The next local midnight, when calls and talk time today start again from zero.
    day_ends: DateTime<Utc>,
}

impl TenantFloor {
    fn roll_day(&mut self, now: DateTime<Utc>) {
        while now >= self.day_ends {
            self.board.start_day(self.day_ends);
            self.day_ends = next_local_day_start(self.zone, self.day_ends);
        }
    }
}

pub struct Floor {
    store: Store,
    /// The agent rows, written behind the boards in their order.
    rows: AgentStateRows,
    bus: EventBus,
    tenants: SyncMutex<HashMap<TenantId, Arc<Mutex<Option<TenantFloor>>>>>,
    /// The campaigns pacing on each tenant's floor.
    pacing: SyncMutex<HashMap<TenantId, HashMap<CampaignId, Pacing>>>,
}

/// A campaign pacing on a floor: its priority, and when it last asked for its staff.
struct Pacing {
    priority: i32,
    at: DateTime<Utc>,
}

/// A campaign counts as pacing for this long after it last asked for its staff: a paused, ended
/// or crashed campaign's share goes back to the others without anyone having to say so.
const PACING_LEASE: TimeDelta = TimeDelta::seconds(5);

impl Floor {
    pub fn new(store: Store, bus: EventBus) -> Self {
        let rows = AgentStateRows::start(store.clone());
        Floor { store, rows, bus, tenants: SyncMutex::new(HashMap::new()), pacing: SyncMutex::new(HashMap::new()) }
    }

    fn slot(&self, tenant: &TenantId) -> Arc<Mutex<Option<TenantFloor>>> {
        let mut tenants = self.tenants.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tenants.entry(tenant.clone()).or_default().clone()
    }

    /// Runs `f` on the tenant's loaded board. When `f` fails after the board may have changed
    /// (a failed read of what it needed), the board is dropped so the next use reloads it from
    /// the rows.
    async fn with_board<T>(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
        f: impl AsyncFnOnce(&mut TenantFloor) -> DomainResult<T>,
    ) -> DomainResult<T> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        if guard.is_none() {
            *guard = Some(self.load(tenant, now).await?);
        }
        let floor = guard.as_mut().expect("loaded above");
        floor.roll_day(now);
        let result = f(floor).await;
        if matches!(result, Err(DomainError::Internal(_))) {
            *guard = None;
        }
        result
    }

    async fn load(&self, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<TenantFloor> {
        // A board dropped after an error may have left changes to write: the rows come first.
        self.rows.flush().await;
        let zone = self.store.tenant_time_zone(tenant).await?;
        let day_starts = local_day_start(zone, now);
        let mut board = Board::new();
        for campaign in self.store.campaigns().all(tenant).await? {
            if campaign.status != CampaignStatus::Completed.as_str() {
                board.upsert_campaign(routing_of(&campaign)?)?;
            }
        }
        let assignments = self.store.agents().assignments(tenant).await?;
        let totals = self.store.agents().totals_since(tenant, day_starts).await?;
        for row in self.store.agents().all(tenant).await? {
            board.upsert_agent(profile_of(&row, &assignments)?, row.state_since)?;
            let id = AgentId(row.id);
            match AgentState::parse(&row.state) {
                Some(AgentState::Available) => {
                    board.set_state(id, StateChange::Available, row.state_since)?;
                }
                Some(AgentState::Paused) => {
                    board.set_state(id, StateChange::Paused { reason: row.state_reason.clone() }, row.state_since)?;
                }
                Some(AgentState::Offline) => {}
                Some(AgentState::Reserved | AgentState::OnCall | AgentState::WrapUp) | None => {
                    board.set_state(id, StateChange::Paused { reason: Some(RESTART_REASON.into()) }, now)?;
                    self.record(tenant, id, AgentState::Paused, Some(RESTART_REASON.into()), now);
                }
            }
            if let Some(&(calls, talk_seconds)) = totals.get(&row.id) {
                board.restore_today(id, calls, TimeDelta::seconds(talk_seconds))?;
            }
        }
        Ok(TenantFloor { board, shown: HashMap::new(), zone, day_ends: next_local_day_start(zone, day_starts) })
    }

    /// An agent's or a supervisor's state change: applied (the state machine refuses invalid
    /// transitions, `CONFLICT`), written, and the agent's row read back.
    pub async fn set_agent_state(
        &self,
        tenant: &TenantId,
        agent: i64,
        change: StateChange,
        now: DateTime<Utc>,
    ) -> DomainResult<agent::Model> {
        self.change_agent_state(tenant, agent, change, now).await?;
        self.rows.flush().await;
        self.store.agents().get(tenant, agent).await
    }

    /// A state change the live loop makes: applied and told to subscribers at once, its row
    /// written behind (the state machine refuses invalid transitions, `CONFLICT`).
    pub async fn change_agent_state(
        &self,
        tenant: &TenantId,
        agent: i64,
        change: StateChange,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        // Ids the board does not hold are another tenant's or do not exist.
        self.with_board(tenant, now, async |floor| self.apply(floor, tenant, AgentId(agent), change, now)).await
    }

    /// Waits until the agent rows say what the boards said when it was called (before a stop,
    /// or before reading the rows).
    pub async fn flush(&self) {
        self.rows.flush().await;
    }

    /// Routes an answered call and, on an offer, reserves the agent in the same step, so two
    /// calls can never be offered the same agent; the agent's subscribers get the offer with
    /// `screen_pop`. The caller (the live loop) bridges an offer, retries a `Wait` until its
    /// deadline, and abandons an `Abandon` by the rules.
    pub async fn offer(
        &self,
        tenant: &TenantId,
        call: &LiveCall,
        screen_pop: &ScreenPop,
        now: DateTime<Utc>,
    ) -> DomainResult<Decision> {
        self.with_board(tenant, now, async |floor| {
            let decision = route(&floor.board, call, now)?;
            if let Decision::Offer(offer) = &decision {
                let change = StateChange::Reserved { call: offer.call, campaign: offer.campaign };
                let call_offer = Arc::new(CallOffer { decision: *offer, screen_pop: screen_pop.clone() });
                let attached = Attached { offer: Some(call_offer), preview: None };
                self.apply_with(floor, tenant, offer.agent, change, attached, now)?;
            }
            Ok(decision)
        })
        .await
    }

    /// Reserves the best AVAILABLE agent of the contact's campaign (the ACD's eligibility and
    /// order) for a preview of it, in one step like [`Floor::offer`]; the agent's subscribers get
    /// the preview with `screen_pop`. `None` when no eligible agent is free.
    pub async fn offer_preview(
        &self,
        tenant: &TenantId,
        contact: &PreviewContact,
        screen_pop: &ScreenPop,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<PreviewOffer>> {
        self.with_board(tenant, now, async |floor| {
            let Some(offer) = route_preview(&floor.board, contact, now)? else { return Ok(None) };
            let change = StateChange::Preview { contact: offer.contact, campaign: offer.campaign };
            let preview = ContactPreview { decision: offer, screen_pop: screen_pop.clone(), expires_at };
            let attached = Attached { offer: None, preview: Some(Arc::new(preview)) };
            self.apply_with(floor, tenant, offer.agent, change, attached, now)?;
            Ok(Some(offer))
        })
        .await
    }

    /// The agent previewing `contact` and its campaign, if one is.
    pub async fn previewer(
        &self,
        tenant: &TenantId,
        contact: i64,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<(AgentId, CampaignId)>> {
        self.with_board(tenant, now, async |floor| {
            Ok(floor.board.agents(now).find_map(|view| match view.status {
                Status::Previewing { contact: previewed, campaign } if previewed == contact => {
                    Some((view.agent, campaign))
                }
                _ => None,
            }))
        })
        .await
    }

    /// Moves an agent's preview of `contact` to the call just placed for it (still RESERVED, now
    /// for that call, so its answer connects to this agent). `CONFLICT` when the agent no longer
    /// previews that contact (it paused, or the preview was withdrawn).
    pub async fn dial_preview(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        contact: i64,
        call: CallId,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        self.with_board(tenant, now, async |floor| {
            let Some(campaign) = previewed_campaign(floor, agent, contact, now) else {
                return Err(DomainError::conflict("the agent no longer previews this contact"));
            };
            self.apply(floor, tenant, agent, StateChange::Reserved { call, campaign }, now)?;
            if let Some(shown) = floor.shown.get_mut(&agent) {
                shown.call = Some(call);
            }
            Ok(())
        })
        .await
    }

    /// Ends an agent's preview of `contact` without a dial (skipped, timed out, withdrawn): the
    /// agent is AVAILABLE again. An agent not previewing that contact is left as it is; returns
    /// whether it was.
    pub async fn end_preview(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        contact: i64,
        now: DateTime<Utc>,
    ) -> DomainResult<bool> {
        let previewing = |status: &Status| matches!(status, Status::Previewing { contact: c, .. } if *c == contact);
        self.free_if(tenant, agent, previewing, now).await
    }

    /// The agents who serve a campaign, as they are now (for its pacing).
    pub async fn serving(&self, tenant: &TenantId, campaign: i64, now: DateTime<Utc>) -> DomainResult<Vec<AgentView>> {
        self.with_board(tenant, now, async |floor| Ok(floor.board.serving(CampaignId(campaign), now).collect())).await
    }

    /// The agents whose capacity a predictive or progressive campaign's pacing counts on, as they
    /// are now; the campaign counts as pacing (with `priority`) for [`PACING_LEASE`]. Campaigns
    /// pacing on the same agents share them (`Board::pacing_share`).
    pub async fn pacing_staff(
        &self,
        tenant: &TenantId,
        campaign: i64,
        priority: i32,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<AgentView>> {
        let pacing: HashMap<CampaignId, i32> = {
            let mut tenants = self.pacing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let campaigns = tenants.entry(tenant.clone()).or_default();
            campaigns.insert(CampaignId(campaign), Pacing { priority, at: now });
            campaigns.retain(|_, pacing| now - pacing.at <= PACING_LEASE);
            campaigns.iter().map(|(id, pacing)| (*id, pacing.priority)).collect()
        };
        self.with_board(tenant, now, async |floor| {
            Ok(floor.board.pacing_share(CampaignId(campaign), &pacing, now).collect())
        })
        .await
    }

    /// Puts an agent whom a restart paused back on the call a previous process left to finish:
    /// RESERVED for it while its transfer is under way, ON_CALL once bridged. An agent who has
    /// moved on since (resumed, logged off) is left as it is; returns whether it was put back.
    pub async fn resume_call(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        call: CallId,
        campaign: CampaignId,
        bridged: bool,
        now: DateTime<Utc>,
    ) -> DomainResult<bool> {
        self.with_board(tenant, now, async |floor| {
            let paused_by_restart = floor.board.agent(agent, now).is_some_and(
                |view| matches!(&view.status, Status::Paused { reason: Some(reason) } if reason == RESTART_REASON),
            );
            if !paused_by_restart {
                return Ok(false);
            }
            // Through the state machine's own path; only the last step is recorded and told.
            floor.board.set_state(agent, StateChange::Available, now)?;
            let reserved = StateChange::Reserved { call, campaign };
            if bridged {
                floor.board.set_state(agent, reserved, now)?;
                self.apply(floor, tenant, agent, StateChange::OnCall { call }, now)?;
            } else {
                self.apply(floor, tenant, agent, reserved, now)?;
            }
            Ok(true)
        })
        .await
    }

    /// Ends the wrap-ups whose campaign timeout has come: those agents are AVAILABLE again.
    pub async fn expire_wrap_ups(&self, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<()> {
        self.with_board(tenant, now, async |floor| {
            if floor.board.next_wrap_up_end().is_none_or(|end| end > now) {
                return Ok(());
            }
            for transition in floor.board.expire_wrap_ups(now) {
                self.record(tenant, transition.agent, transition.to, None, now);
                self.publish(floor, tenant, transition.agent, Attached::default(), now);
            }
            Ok(())
        })
        .await
    }

    /// Ends an agent's wrap-up of `call` (its disposition is in): AVAILABLE again. An agent not
    /// wrapping up that call (the timeout already ended it, or it went away) is left as it is.
    pub async fn end_wrap_up(&self, tenant: &TenantId, agent: i64, call: i64, now: DateTime<Utc>) -> DomainResult<()> {
        let wrapping = |status: &Status| matches!(status, Status::WrapUp { call: c, .. } if c.0 == call);
        self.free_if(tenant, AgentId(agent), wrapping, now).await.map(drop)
    }

    /// Frees an agent still RESERVED for `call` (a preview's call that reached nobody); an agent
    /// that moved on is left as it is.
    pub async fn release(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        call: CallId,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let reserved = |status: &Status| matches!(status, Status::Reserved { call: c, .. } if *c == call);
        self.free_if(tenant, agent, reserved, now).await.map(drop)
    }

    /// Makes the agent AVAILABLE when its status is what `is` asks for; returns whether it was.
    async fn free_if(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        is: impl Fn(&Status) -> bool,
        now: DateTime<Utc>,
    ) -> DomainResult<bool> {
        self.with_board(tenant, now, async |floor| {
            if !floor.board.agent(agent, now).is_some_and(|view| is(&view.status)) {
                return Ok(false);
            }
            self.apply(floor, tenant, agent, StateChange::Available, now)?;
            Ok(true)
        })
        .await
    }

    /// One agent's live view; `None` for an id the board does not hold.
    pub async fn agent(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        now: DateTime<Utc>,
    ) -> DomainResult<Option<AgentView>> {
        self.with_board(tenant, now, async |floor| Ok(floor.board.agent(agent, now))).await
    }

    /// Applies a change on the board (the state machine decides), queues it for the agent's row,
    /// and tells the agent's subscribers.
    fn apply(
        &self,
        floor: &mut TenantFloor,
        tenant: &TenantId,
        agent: AgentId,
        change: StateChange,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        self.apply_with(floor, tenant, agent, change, Attached::default(), now)
    }

    /// [`Floor::apply`] with the offer or preview that the change carries to the agent's subscribers.
    fn apply_with(
        &self,
        floor: &mut TenantFloor,
        tenant: &TenantId,
        agent: AgentId,
        change: StateChange,
        attached: Attached,
        now: DateTime<Utc>,
    ) -> DomainResult<()> {
        let reason = match &change {
            StateChange::Paused { reason } => reason.clone(),
            _ => None,
        };
        let transition = floor.board.set_state(agent, change, now)?;
        self.record(tenant, agent, transition.to, reason, now);
        if attached.offer.is_some() || attached.preview.is_some() {
            let call = attached.offer.as_ref().map(|offer| offer.decision.call);
            floor.shown.insert(agent, Shown { call, offer: attached.offer.clone(), preview: attached.preview.clone() });
        }
        self.publish(floor, tenant, agent, attached, now);
        Ok(())
    }

    fn record(
        &self,
        tenant: &TenantId,
        agent: AgentId,
        state: AgentState,
        reason: Option<String>,
        since: DateTime<Utc>,
    ) {
        self.rows.record(StateRow { tenant: tenant.clone(), agent: agent.0, state, reason, since });
    }

    fn publish(&self, floor: &TenantFloor, tenant: &TenantId, agent: AgentId, attached: Attached, now: DateTime<Utc>) {
        if let Some(view) = floor.board.agent(agent, now) {
            self.bus.publish_agent(AgentUpdate {
                tenant: tenant.clone(),
                status: view.status,
                since: view.since,
                agent,
                offer: attached.offer,
                preview: attached.preview,
            });
        }
    }

    /// An agent's status now, with the offer or preview (and its screen pop) it is for, as its
    /// subscribers got them: what a desktop that (re)connects or fell behind shows. `NOT_FOUND`
    /// for an id the board does not hold.
    pub async fn current(&self, tenant: &TenantId, agent: AgentId, now: DateTime<Utc>) -> DomainResult<AgentUpdate> {
        self.with_board(tenant, now, async |floor| {
            let view = floor.board.agent(agent, now).ok_or(DomainError::NotFound("agent"))?;
            let shown = floor.shown.get(&agent);
            let (offer, preview) = match (&view.status, shown) {
                (Status::Previewing { contact, .. }, Some(shown)) => {
                    (None, shown.preview.clone().filter(|p| p.decision.contact == *contact))
                }
                (
                    Status::Reserved { call, .. } | Status::OnCall { call, .. } | Status::WrapUp { call, .. },
                    Some(shown),
                ) if shown.call == Some(*call) => (shown.offer.clone(), shown.preview.clone()),
                _ => (None, None),
            };
            Ok(AgentUpdate { tenant: tenant.clone(), status: view.status, since: view.since, agent, offer, preview })
        })
        .await
    }

    /// Every agent's live view, by agent id.
    pub async fn board(&self, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<Vec<AgentView>> {
        self.with_board(tenant, now, async |floor| {
            let mut views: Vec<AgentView> = floor.board.agents(now).collect();
            views.sort_by_key(|view| view.agent);
            Ok(views)
        })
        .await
    }

    /// Follows a created or edited agent profile (skills, languages, region, campaigns). The
    /// row is already saved: a failure here is logged and the board reloads on its next use.
    pub async fn agent_changed(&self, tenant: &TenantId, row: &agent::Model, now: DateTime<Utc>) {
        let followed = async {
            let assignments = self.store.agents().assignments_of(tenant, &[row.id]).await?;
            let profile = profile_of(row, &assignments)?;
            self.with_board(tenant, now, async |floor| Ok(floor.board.upsert_agent(profile, now)?)).await
        };
        self.forget_on_error(tenant, followed.await).await;
    }

    /// Follows a created or edited campaign: its routing settings, or its removal once
    /// COMPLETED. Failures are handled as in [`Floor::agent_changed`].
    pub async fn campaign_changed(&self, tenant: &TenantId, row: &campaign::Model, now: DateTime<Utc>) {
        let completed = row.status == CampaignStatus::Completed.as_str();
        let followed = async {
            let routing = routing_of(row)?;
            self.with_board(tenant, now, async |floor| {
                if completed {
                    floor.board.remove_campaign(routing.id).or_else(|e| match e {
                        AcdError::UnknownCampaign(_) => Ok(()),
                        other => Err(other),
                    })?;
                } else {
                    floor.board.upsert_campaign(routing)?;
                }
                Ok(())
            })
            .await
        };
        self.forget_on_error(tenant, followed.await).await;
    }

    async fn forget_on_error(&self, tenant: &TenantId, result: DomainResult<()>) {
        if let Err(error) = result {
            tracing::warn!(tenant = tenant.as_str(), %error, "the ACD board will reload from the database");
            *self.slot(tenant).lock().await = None;
        }
    }
}

/// What a change carries to the agent's subscribers besides the new state.
#[derive(Default)]
struct Attached {
    offer: Option<Arc<CallOffer>>,
    preview: Option<Arc<ContactPreview>>,
}

/// An agent's last offer or preview; `call` is the call it is for (a preview has one once dialed).
struct Shown {
    call: Option<CallId>,
    offer: Option<Arc<CallOffer>>,
    preview: Option<Arc<ContactPreview>>,
}

/// The campaign of the agent's preview of `contact`, when it previews that contact.
fn previewed_campaign(floor: &TenantFloor, agent: AgentId, contact: i64, now: DateTime<Utc>) -> Option<CampaignId> {
    match floor.board.agent(agent, now)?.status {
        Status::Previewing { contact: previewed, campaign } if previewed == contact => Some(campaign),
        _ => None,
    }
}

fn profile_of(row: &agent::Model, assignments: &[(i64, i64)]) -> DomainResult<AgentProfile> {
    let corrupt = |what: &str| DomainError::from(anyhow::anyhow!("agent {} has bad {what}", row.id));
    Ok(AgentProfile {
        id: AgentId(row.id),
        skills: serde_json::from_value::<Vec<SkillLevel>>(row.skills.clone()).map_err(|_| corrupt("skills"))?,
        languages: serde_json::from_value(row.languages.clone()).map_err(|_| corrupt("languages"))?,
        region: row.region.clone(),
        campaigns: assignments.iter().filter(|(a, _)| *a == row.id).map(|(_, c)| CampaignId(*c)).collect(),
    })
}

fn routing_of(row: &campaign::Model) -> DomainResult<CampaignRouting> {
    let settings = settings_of(row)?;
    Ok(CampaignRouting {
        id: CampaignId(row.id),
        priority: settings.priority,
        strategy: settings.routing_strategy,
        required_skills: settings.required_skills,
        language: settings.language,
        region: settings.region,
        wrap_up_timeout: settings.wrap_up_timeout_seconds.map(|s| TimeDelta::seconds(i64::from(s))),
    })
}
