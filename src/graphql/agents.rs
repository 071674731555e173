//! Agents in GraphQL: profiles (skills, languages, region, the campaigns they serve), state
//! changes through the ACD's state machine, and the live agent board.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, ID, InputObject, MaybeUndefined, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::agent;
use futures_util::future::Either;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::connection::{IdConnection, connection, page_request, row_id};
use super::loaders::{AgentCampaignIdsLoader, AgentLoader};
use super::previews::PreviewOffer;
use super::session::until_expiry;
use super::{ApiState, clearable};
use crate::acd::{AgentState, AgentView, RoutingMethod, SkillLevel, StateChange, Status};
use crate::auth::{Access, caller};
use crate::error::{DomainError, DomainResult};
use crate::events::AgentUpdate;
use crate::store::agents::AgentProfile;
use crate::store::campaigns::settings_of;

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "SkillInput")]
pub struct Skill {
    name: String,
    /// 1 (novice) to 5 (expert).
    level: i32,
}

impl Skill {
    pub(super) fn into_level(self) -> DomainResult<SkillLevel> {
        let level = u8::try_from(self.level)
            .map_err(|_| DomainError::bad_input("skills", format!("skill {:?}: level must be 1 to 5", self.name)))?;
        Ok(SkillLevel { name: self.name, level })
    }
}

impl From<SkillLevel> for Skill {
    fn from(skill: SkillLevel) -> Self {
        Skill { name: skill.name, level: i32::from(skill.level) }
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Agent {
    id: ID,
    name: String,
    email: Option<String>,
    skills: Vec<Skill>,
    languages: Vec<String>,
    region: Option<String>,
    /// Where answered calls are transferred (SIP URI or E.164 number).
    endpoint: Option<String>,
    state: AgentState,
    /// The pause reason code when PAUSED.
    state_reason: Option<String>,
    state_since: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl TryFrom<agent::Model> for Agent {
    type Error = DomainError;

    fn try_from(row: agent::Model) -> DomainResult<Self> {
        let corrupt = |what: &str| DomainError::from(anyhow::anyhow!("agent {} has a bad {what}", row.id));
        let skills: Vec<SkillLevel> = serde_json::from_value(row.skills.clone()).map_err(|_| corrupt("skills"))?;
        let languages: Vec<String> = serde_json::from_value(row.languages.clone()).map_err(|_| corrupt("languages"))?;
        Ok(Agent {
            id: ID::from(row.id),
            state: AgentState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            name: row.name,
            email: row.email,
            skills: skills.into_iter().map(Skill::from).collect(),
            languages,
            region: row.region,
            endpoint: row.endpoint,
            state_reason: row.state_reason,
            state_since: row.state_since,
            created_at: row.created_at,
        })
    }
}

#[ComplexObject]
impl Agent {
    /// The campaigns whose calls this agent may be offered.
    async fn campaign_ids(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ID>> {
        let id = row_id(&self.id, "agent")?;
        let ids = ctx.data_unchecked::<DataLoader<AgentCampaignIdsLoader>>().load_one(id).await?.unwrap_or_default();
        Ok(ids.into_iter().map(ID::from).collect())
    }
}

#[derive(InputObject)]
pub struct CreateAgentInput {
    name: String,
    email: Option<String>,
    /// Levels 1 (novice) to 5 (expert).
    skills: Option<Vec<Skill>>,
    /// The first is the agent's first language.
    languages: Option<Vec<String>>,
    region: Option<String>,
    /// Where answered calls are transferred: a SIP URI (`sip:ana@pbx.example.com`) or an E.164
    /// number. Needed with the Telnyx carrier.
    endpoint: Option<String>,
    /// The campaigns the agent serves.
    campaign_ids: Option<Vec<ID>>,
}

/// Omitted fields stay as they are; `null` clears `email`, `region` or `endpoint`; `campaignIds` replaces
/// the set.
#[derive(InputObject)]
pub struct UpdateAgentInput {
    name: Option<String>,
    email: MaybeUndefined<String>,
    skills: Option<Vec<Skill>>,
    languages: Option<Vec<String>>,
    region: MaybeUndefined<String>,
    endpoint: MaybeUndefined<String>,
    campaign_ids: Option<Vec<ID>>,
}

fn skills(input: Option<Vec<Skill>>) -> DomainResult<Option<Vec<SkillLevel>>> {
    input.map(|v| v.into_iter().map(Skill::into_level).collect()).transpose()
}

fn campaign_ids(input: Option<Vec<ID>>) -> DomainResult<Option<Vec<i64>>> {
    input.map(|ids| ids.iter().map(|id| row_id(id, "campaign")).collect()).transpose()
}

/// One agent on the live board: state and time in state, calls and talk time today.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct AgentBoardEntry {
    agent_id: ID,
    state: AgentState,
    /// When the current state began.
    since: DateTime<Utc>,
    time_in_state_seconds: i64,
    /// Seconds since the agent became free, when AVAILABLE.
    idle_seconds: Option<i64>,
    /// The pause reason code, when PAUSED.
    pause_reason: Option<String>,
    /// The call offered, connected or being wrapped up.
    call_id: Option<ID>,
    campaign_id: Option<ID>,
    /// When WRAP_UP ends by itself (the campaign's wrap-up timeout).
    wrap_up_ends_at: Option<DateTime<Utc>>,
    calls_today: i32,
    talk_time_today_seconds: i64,
    /// Time handling calls over time ready or handling, today; null before the agent was ready.
    occupancy: Option<f64>,
}

#[ComplexObject]
impl AgentBoardEntry {
    async fn agent(&self, ctx: &Context<'_>) -> async_graphql::Result<Agent> {
        let id = row_id(&self.agent_id, "agent")?;
        let row = ctx.data_unchecked::<DataLoader<AgentLoader>>().load_one(id).await?;
        Ok(row.ok_or(DomainError::NotFound("agent"))?.try_into()?)
    }
}

/// What a status refers to: the call and campaign, when wrap-up ends, the pause reason.
struct StatusParts {
    call: Option<ID>,
    campaign: Option<ID>,
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
}

impl From<&Status> for StatusParts {
    fn from(status: &Status) -> Self {
        let (call, campaign, until, reason) = match status {
            Status::Reserved { call, campaign } | Status::OnCall { call, campaign } => {
                (Some(call), Some(campaign), None, None)
            }
            Status::Previewing { campaign, .. } => (None, Some(campaign), None, None),
            Status::WrapUp { call, campaign, until } => (Some(call), Some(campaign), *until, None),
            Status::Paused { reason } => (None, None, None, reason.clone()),
            Status::Offline | Status::Available => (None, None, None, None),
        };
        StatusParts { call: call.map(|c| ID::from(c.0)), campaign: campaign.map(|c| ID::from(c.0)), until, reason }
    }
}

impl From<AgentView> for AgentBoardEntry {
    fn from(view: AgentView) -> Self {
        let StatusParts { call, campaign, until, reason } = StatusParts::from(&view.status);
        AgentBoardEntry {
            agent_id: ID::from(view.agent.0),
            state: view.status.state(),
            since: view.since,
            time_in_state_seconds: view.time_in_state.num_seconds(),
            idle_seconds: view.idle.map(|t| t.num_seconds()),
            pause_reason: reason,
            call_id: call,
            campaign_id: campaign,
            wrap_up_ends_at: until,
            calls_today: i32::try_from(view.calls_today).unwrap_or(i32::MAX),
            talk_time_today_seconds: view.talk_today.num_seconds(),
            occupancy: view.occupancy,
        }
    }
}

/// The change an API caller may ask for: the dialer alone offers, connects and ends calls.
fn requested_change(state: AgentState, reason: Option<String>) -> DomainResult<StateChange> {
    let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if let Some(reason) = &reason
        && (state != AgentState::Paused || reason.chars().count() > 64)
    {
        return Err(DomainError::bad_input("reason", "a reason code (up to 64 characters) goes with PAUSED only"));
    }
    match state {
        AgentState::Available => Ok(StateChange::Available),
        AgentState::Paused => Ok(StateChange::Paused { reason }),
        AgentState::Offline => Ok(StateChange::Offline),
        AgentState::Reserved | AgentState::OnCall | AgentState::WrapUp => Err(DomainError::bad_input(
            "state",
            format!("{} is set by the dialer when a call is offered, connected or ends", state.as_str()),
        )),
    }
}

#[derive(Default)]
pub struct AgentQuery;

#[Object]
impl AgentQuery {
    #[graphql(guard = "Access::Staff")]
    async fn agents(
        &self,
        ctx: &Context<'_>,
        state: Option<AgentState>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<Agent>> {
        let caller = caller(ctx)?;
        let request = page_request(ctx, first, after)?;
        let api = ctx.data_unchecked::<ApiState>();
        let page = api.store.agents().list(&caller.tenant, state.map(AgentState::as_str), request).await?;
        connection(page, request.after.is_some(), |a| a.id, Agent::try_from)
    }

    /// Every agent's live state, time in state, calls and talk time today (the call centre's
    /// local day), by agent id.
    #[graphql(guard = "Access::Staff")]
    async fn agent_board(&self, ctx: &Context<'_>) -> DomainResult<Vec<AgentBoardEntry>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let views = api.floor.board(&caller.tenant, api.clock.now()).await?;
        Ok(views.into_iter().map(AgentBoardEntry::from).collect())
    }

    /// An agent; an agent token may read only its own.
    #[graphql(guard = "Access::Authenticated")]
    async fn agent(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Agent> {
        let caller = caller(ctx)?;
        let id = row_id(&id, "agent")?;
        if !caller.is_staff() && caller.agent_id != Some(id) {
            return Err(DomainError::Forbidden("an agent token reads only its own agent".into()));
        }
        let api = ctx.data_unchecked::<ApiState>();
        api.store.agents().get(&caller.tenant, id).await?.try_into()
    }
}

#[derive(Default)]
pub struct AgentMutation;

#[Object]
impl AgentMutation {
    /// A new agent starts OFFLINE.
    #[graphql(guard = "Access::Staff")]
    async fn create_agent(&self, ctx: &Context<'_>, input: CreateAgentInput) -> DomainResult<Agent> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let profile = AgentProfile {
            name: Some(input.name),
            email: Some(input.email),
            skills: skills(input.skills)?,
            languages: input.languages,
            region: Some(input.region),
            endpoint: Some(input.endpoint),
            campaign_ids: campaign_ids(input.campaign_ids)?,
        };
        let now = api.clock.now();
        let row = api.store.agents().create(&caller.tenant, profile, now).await?;
        api.floor.agent_changed(&caller.tenant, &row, now).await;
        row.try_into()
    }

    #[graphql(guard = "Access::Staff")]
    async fn update_agent(&self, ctx: &Context<'_>, id: ID, input: UpdateAgentInput) -> DomainResult<Agent> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let profile = AgentProfile {
            name: input.name,
            email: clearable(input.email),
            skills: skills(input.skills)?,
            languages: input.languages,
            region: clearable(input.region),
            endpoint: clearable(input.endpoint),
            campaign_ids: campaign_ids(input.campaign_ids)?,
        };
        let now = api.clock.now();
        let row = api.store.agents().update(&caller.tenant, row_id(&id, "agent")?, profile, now).await?;
        api.floor.agent_changed(&caller.tenant, &row, now).await;
        row.try_into()
    }

    /// Sets an agent's state: AVAILABLE (ready), PAUSED with an optional reason code, or
    /// OFFLINE. Agents change their own state, supervisors anyone's; a transition the state
    /// machine does not allow (e.g. leaving ON_CALL) is a `CONFLICT`.
    #[graphql(guard = "Access::Authenticated")]
    async fn set_agent_state(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
        state: AgentState,
        reason: Option<String>,
    ) -> DomainResult<Agent> {
        let caller = caller(ctx)?;
        let id = row_id(&agent_id, "agent")?;
        if !caller.is_staff() && caller.agent_id != Some(id) {
            return Err(DomainError::Forbidden("an agent token changes only its own state".into()));
        }
        let change = requested_change(state, reason)?;
        let api = ctx.data_unchecked::<ApiState>();
        api.floor.set_agent_state(&caller.tenant, id, change, api.clock.now()).await?.try_into()
    }
}

/// One item of `agentEvents`: the agent's new state, or a notice that events were missed.
#[derive(SimpleObject)]
pub struct AgentEvent {
    agent_id: ID,
    /// Null only on a `missed` notice whose state could not be read.
    state: Option<AgentState>,
    since: Option<DateTime<Utc>>,
    pause_reason: Option<String>,
    /// The call offered (RESERVED), connected or being wrapped up.
    call_id: Option<ID>,
    campaign_id: Option<ID>,
    /// When the change reserves the agent for an answered call: the offer and its screen pop (and
    /// on the first item or a `missed` notice, while the agent is still on that call).
    offer: Option<CallOffer>,
    /// When the change reserves the agent for a preview (RESERVED, no call yet): the contact
    /// offered before any dial, with its screen pop (and on the first item or a `missed` notice,
    /// while the agent still previews it or is on its call).
    preview: Option<PreviewOffer>,
    /// Events this subscriber missed by falling behind.
    missed: i32,
}

/// An answered call offered to the agent (it is being connected), and why this agent.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CallOffer {
    call_id: ID,
    campaign_id: ID,
    routing_method: RoutingMethod,
    /// 0-100: skills, language and region fit, and idle time.
    match_score: f64,
    /// What the agent sees: `contact`, `script` (filled in), `previousAttempts`, `crmRecord`.
    screen_pop: async_graphql::Json<serde_json::Value>,
}

#[ComplexObject]
impl CallOffer {
    /// The campaign's outcome tags: what `dispositionCall` accepts for this call (agent tokens
    /// cannot read the campaign itself).
    async fn outcome_tags(&self, ctx: &Context<'_>) -> DomainResult<Vec<String>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let campaign = api.store.campaigns().get(&caller.tenant, row_id(&self.campaign_id, "campaign")?).await?;
        Ok(settings_of(&campaign)?.outcome_tags)
    }
}

impl From<&crate::events::CallOffer> for CallOffer {
    fn from(offer: &crate::events::CallOffer) -> Self {
        CallOffer {
            call_id: ID::from(offer.decision.call.0),
            campaign_id: ID::from(offer.decision.campaign.0),
            routing_method: offer.decision.routing_method,
            match_score: offer.decision.match_score.points(),
            screen_pop: async_graphql::Json(serde_json::to_value(&offer.screen_pop).unwrap_or_default()),
        }
    }
}

#[derive(Default)]
pub struct AgentSubscription;

#[Subscription]
impl AgentSubscription {
    /// An agent's state changes as they happen, until the token expires: agents their own,
    /// supervisors anyone's. The first item is the agent's state when the subscription starts,
    /// with the offer or preview (and screen pop) it is for: a desktop that reloads mid-call
    /// shows its customer again. A subscriber that fell behind gets a `missed` notice carrying
    /// the state as it is by then.
    #[graphql(guard = "Access::Authenticated")]
    async fn agent_events(
        &self,
        ctx: &Context<'_>,
        agent_id: ID,
    ) -> Result<impl Stream<Item = AgentEvent> + use<>, async_graphql::Error> {
        let caller = caller(ctx)?;
        let id = row_id(&agent_id, "agent")?;
        if !caller.is_staff() && caller.agent_id != Some(id) {
            return Err(DomainError::Forbidden("an agent token follows only its own agent".into()).into());
        }
        let api = ctx.data_unchecked::<ApiState>();
        api.store.agents().get(&caller.tenant, id).await?;
        let (tenant, agent) = (caller.tenant.clone(), crate::acd::AgentId(id));
        // Subscribed before the current state is read, so that no change falls between the two.
        let changes = BroadcastStream::new(api.bus.subscribe_agents());
        let first = api.floor.current(&tenant, agent, api.clock.now()).await?;
        let (floor, clock) = (api.floor.clone(), api.clock.clone());
        // A change is matched in place; only a lag notice reads the floor (in its own future).
        let events = changes.filter_map(move |item| match item {
            Ok(update) => {
                let ours = update.tenant == tenant && update.agent == agent;
                Either::Left(std::future::ready(ours.then(|| AgentEvent::of(&update, 0))))
            }
            Err(BroadcastStreamRecvError::Lagged(missed)) => {
                let (floor, clock, tenant) = (floor.clone(), clock.clone(), tenant.clone());
                let missed = i32::try_from(missed).unwrap_or(i32::MAX);
                Either::Right(async move {
                    Some(match floor.current(&tenant, agent, clock.now()).await {
                        Ok(now) => AgentEvent::of(&now, missed),
                        Err(_) => AgentEvent::missed_only(id, missed),
                    })
                })
            }
        });
        let events = futures_util::stream::once(std::future::ready(AgentEvent::of(&first, 0))).chain(events);
        Ok(until_expiry(caller, api.clock.now(), events))
    }
}

impl AgentEvent {
    fn of(update: &AgentUpdate, missed: i32) -> Self {
        let parts = StatusParts::from(&update.status);
        AgentEvent {
            agent_id: ID::from(update.agent.0),
            state: Some(update.status.state()),
            since: Some(update.since),
            pause_reason: parts.reason,
            call_id: parts.call,
            campaign_id: parts.campaign,
            offer: update.offer.as_deref().map(CallOffer::from),
            preview: update.preview.as_deref().map(PreviewOffer::from),
            missed,
        }
    }

    /// A notice of `missed` events without the state (it could not be read).
    fn missed_only(agent: i64, missed: i32) -> Self {
        AgentEvent {
            agent_id: ID::from(agent),
            state: None,
            since: None,
            pause_reason: None,
            call_id: None,
            campaign_id: None,
            offer: None,
            preview: None,
            missed,
        }
    }
}
