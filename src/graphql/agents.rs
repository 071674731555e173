//! Agents in GraphQL: queries and profile mutations. (State changes and the agent board come
//! with the ACD.)

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::agent;

use super::connection::{IdConnection, connection, page_request, row_id};
use super::{ApiState, clearable};
use crate::auth::{Access, caller};
use crate::error::{DomainError, DomainResult};
use crate::store::agents::{AgentProfile, Skill as StoredSkill};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    Offline,
    Available,
    Reserved,
    OnCall,
    WrapUp,
    Paused,
}

impl AgentState {
    fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "OFFLINE",
            AgentState::Available => "AVAILABLE",
            AgentState::Reserved => "RESERVED",
            AgentState::OnCall => "ON_CALL",
            AgentState::WrapUp => "WRAP_UP",
            AgentState::Paused => "PAUSED",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Offline, Self::Available, Self::Reserved, Self::OnCall, Self::WrapUp, Self::Paused]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "SkillInput")]
pub struct Skill {
    name: String,
    /// 1 (novice) to 10 (expert).
    level: i32,
}

#[derive(SimpleObject)]
pub struct Agent {
    id: ID,
    name: String,
    email: Option<String>,
    skills: Vec<Skill>,
    languages: Vec<String>,
    region: Option<String>,
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
        let skills: Vec<StoredSkill> = serde_json::from_value(row.skills.clone()).map_err(|_| corrupt("skills"))?;
        let languages: Vec<String> = serde_json::from_value(row.languages.clone()).map_err(|_| corrupt("languages"))?;
        Ok(Agent {
            id: ID::from(row.id),
            state: AgentState::parse(&row.state).ok_or_else(|| corrupt("state"))?,
            name: row.name,
            email: row.email,
            skills: skills.into_iter().map(|s| Skill { name: s.name, level: s.level }).collect(),
            languages,
            region: row.region,
            state_reason: row.state_reason,
            state_since: row.state_since,
            created_at: row.created_at,
        })
    }
}

#[derive(InputObject)]
pub struct CreateAgentInput {
    name: String,
    email: Option<String>,
    skills: Option<Vec<Skill>>,
    languages: Option<Vec<String>>,
    region: Option<String>,
}

/// Omitted fields stay as they are; `null` clears `email` or `region`.
#[derive(InputObject)]
pub struct UpdateAgentInput {
    name: Option<String>,
    email: MaybeUndefined<String>,
    skills: Option<Vec<Skill>>,
    languages: Option<Vec<String>>,
    region: MaybeUndefined<String>,
}

fn skills(input: Option<Vec<Skill>>) -> Option<Vec<StoredSkill>> {
    input.map(|v| v.into_iter().map(|s| StoredSkill { name: s.name, level: s.level }).collect())
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
            skills: skills(input.skills),
            languages: input.languages,
            region: Some(input.region),
        };
        api.store.agents().create(&caller.tenant, profile, api.clock.now()).await?.try_into()
    }

    #[graphql(guard = "Access::Staff")]
    async fn update_agent(&self, ctx: &Context<'_>, id: ID, input: UpdateAgentInput) -> DomainResult<Agent> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let profile = AgentProfile {
            name: input.name,
            email: clearable(input.email),
            skills: skills(input.skills),
            languages: input.languages,
            region: clearable(input.region),
        };
        api.store.agents().update(&caller.tenant, row_id(&id, "agent")?, profile, api.clock.now()).await?.try_into()
    }
}
