//! Campaigns in GraphQL: queries, create/update, and the lifecycle mutations.

use async_graphql::{
    ComplexObject, Context, ID, InputObject, MaybeUndefined, Object, SimpleObject, dataloader::DataLoader,
};
use chrono::{DateTime, Utc};
use entity::campaign;

use super::agents::Skill;
use super::connection::{IdConnection, connection, page_request, row_id};
use super::contacts::ContactList;
use super::loaders::{CampaignListIdsLoader, ContactListLoader};
use super::{ApiState, clearable};
use crate::acd::{SkillLevel, Strategy};
use crate::auth::{Access, caller};
use crate::campaign::{CampaignChanges, CampaignSettings, CampaignStatus, DialerMode, LifecycleAction};
use crate::error::{DomainError, DomainResult};
use crate::store::campaigns::settings_of;

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Campaign {
    id: ID,
    name: String,
    dialer_mode: DialerMode,
    script: Option<String>,
    /// Outcome tags an agent may choose from (free strings on top of `CallOutcome`).
    outcome_tags: Vec<String>,
    /// Call each contact only inside its own local calling window.
    timezone_based_calling: bool,
    dnc_check: bool,
    recording_enabled: bool,
    caller_id: Option<String>,
    /// Local time of the called party the campaign may call from (`HH:MM`).
    window_start: Option<String>,
    window_end: Option<String>,
    /// Days the campaign may call (`MON`..`SUN`); empty means every day the rules allow.
    window_days: Vec<String>,
    max_attempts: i32,
    retry_delay_minutes: i32,
    /// Share of live-answered calls that may be abandoned over 30 days (at most 0.03).
    abandon_rate_target: f64,
    /// Names of the skills an agent needs (see `requiredSkillLevels` for the levels).
    required_skills: Vec<String>,
    /// Skills an agent needs, each at or above its level (1 to 5).
    required_skill_levels: Vec<Skill>,
    /// The language an agent must speak (a contact's own language replaces it).
    language: Option<String>,
    /// The region an agent must serve.
    region: Option<String>,
    routing_strategy: Strategy,
    /// WRAP_UP ends by itself this many seconds after a call; null waits for the agent.
    wrap_up_timeout_seconds: Option<i32>,
    /// Higher is served first when campaigns share agents.
    priority: i32,
    cost_per_minute: f64,
    status: CampaignStatus,
    /// Why the status is what it is (e.g. why a campaign completed).
    status_reason: Option<String>,
    scheduled_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    paused_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[ComplexObject]
impl Campaign {
    /// The lists the campaign dials, in order.
    async fn contact_lists(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ContactList>> {
        let id = row_id(&self.id, "campaign")?;
        let ids = ctx.data_unchecked::<DataLoader<CampaignListIdsLoader>>().load_one(id).await?.unwrap_or_default();
        let lists = ctx.data_unchecked::<DataLoader<ContactListLoader>>().load_many(ids.iter().copied()).await?;
        Ok(ids.iter().filter_map(|id| lists.get(id).cloned()).map(ContactList::from).collect())
    }
}

impl TryFrom<campaign::Model> for Campaign {
    type Error = DomainError;

    fn try_from(row: campaign::Model) -> DomainResult<Self> {
        let s = settings_of(&row)?;
        let status = CampaignStatus::parse(&row.status)
            .ok_or_else(|| anyhow::anyhow!("campaign {} has unknown status {:?}", row.id, row.status))?;
        Ok(Campaign {
            id: ID::from(row.id),
            name: s.name,
            dialer_mode: s.dialer_mode,
            script: s.script,
            outcome_tags: s.outcome_tags,
            timezone_based_calling: s.timezone_based_calling,
            dnc_check: s.dnc_check,
            recording_enabled: s.recording_enabled,
            caller_id: s.caller_id,
            window_start: row.window_start,
            window_end: row.window_end,
            window_days: s.window_days.iter().map(|d| d.to_string().to_uppercase()).collect(),
            max_attempts: s.max_attempts,
            retry_delay_minutes: s.retry_delay_minutes,
            abandon_rate_target: s.abandon_rate_target,
            required_skills: s.required_skills.iter().map(|skill| skill.name.clone()).collect(),
            required_skill_levels: s.required_skills.into_iter().map(Skill::from).collect(),
            language: s.language,
            region: s.region,
            routing_strategy: s.routing_strategy,
            wrap_up_timeout_seconds: s.wrap_up_timeout_seconds,
            priority: s.priority,
            cost_per_minute: s.cost_per_minute,
            status,
            status_reason: row.status_reason,
            scheduled_at: row.scheduled_at,
            started_at: row.started_at,
            paused_at: row.paused_at,
            completed_at: row.completed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Settings shared by `createCampaign` and `updateCampaign`; on update, an omitted field stays
/// as it is and `null` clears an optional one.
#[derive(InputObject, Default)]
pub struct CampaignOptionsInput {
    script: MaybeUndefined<String>,
    outcome_tags: Option<Vec<String>>,
    timezone_based_calling: Option<bool>,
    dnc_check: Option<bool>,
    recording_enabled: Option<bool>,
    caller_id: MaybeUndefined<String>,
    /// `HH:MM`, local time of the called party.
    window_start: MaybeUndefined<String>,
    window_end: MaybeUndefined<String>,
    /// `MON`..`SUN`.
    window_days: Option<Vec<String>>,
    max_attempts: Option<i32>,
    retry_delay_minutes: Option<i32>,
    /// At most 0.03.
    abandon_rate_target: Option<f64>,
    /// Skill names an agent needs, at any level; or give `requiredSkillLevels`.
    required_skills: Option<Vec<String>>,
    /// Skills an agent needs with the lowest level (1 to 5) of each.
    required_skill_levels: Option<Vec<Skill>>,
    language: MaybeUndefined<String>,
    region: MaybeUndefined<String>,
    routing_strategy: Option<Strategy>,
    /// 5 to 3600 seconds; null waits for the agent to end wrap-up.
    wrap_up_timeout_seconds: MaybeUndefined<i32>,
    priority: Option<i32>,
    cost_per_minute: Option<f64>,
}

impl CampaignOptionsInput {
    fn into_changes(self, name: Option<String>, dialer_mode: Option<DialerMode>) -> DomainResult<CampaignChanges> {
        let required_skills = match (self.required_skills, self.required_skill_levels) {
            (Some(_), Some(_)) => {
                return Err(DomainError::bad_input(
                    "requiredSkills",
                    "give requiredSkills or requiredSkillLevels, not both",
                ));
            }
            (Some(names), None) => Some(names.into_iter().map(|name| SkillLevel { name, level: 1 }).collect()),
            (None, Some(levels)) => Some(levels.into_iter().map(Skill::into_level).collect::<DomainResult<_>>()?),
            (None, None) => None,
        };
        Ok(CampaignChanges {
            name,
            dialer_mode,
            script: clearable(self.script),
            outcome_tags: self.outcome_tags,
            timezone_based_calling: self.timezone_based_calling,
            dnc_check: self.dnc_check,
            recording_enabled: self.recording_enabled,
            caller_id: clearable(self.caller_id),
            window_start: clearable(self.window_start),
            window_end: clearable(self.window_end),
            window_days: self.window_days,
            max_attempts: self.max_attempts,
            retry_delay_minutes: self.retry_delay_minutes,
            abandon_rate_target: self.abandon_rate_target,
            required_skills,
            language: clearable(self.language),
            region: clearable(self.region),
            routing_strategy: self.routing_strategy,
            wrap_up_timeout_seconds: clearable(self.wrap_up_timeout_seconds),
            priority: self.priority,
            cost_per_minute: self.cost_per_minute,
        })
    }
}

#[derive(InputObject)]
pub struct CreateCampaignInput {
    name: String,
    contact_list_ids: Vec<ID>,
    dialer_mode: DialerMode,
    #[graphql(flatten)]
    options: CampaignOptionsInput,
}

#[derive(InputObject)]
pub struct UpdateCampaignInput {
    name: Option<String>,
    /// Replaces the lists the campaign dials.
    contact_list_ids: Option<Vec<ID>>,
    dialer_mode: Option<DialerMode>,
    #[graphql(flatten)]
    options: CampaignOptionsInput,
}

fn list_ids(ids: &[ID]) -> DomainResult<Vec<i64>> {
    ids.iter().map(|id| row_id(id, "contact list")).collect()
}

#[derive(Default)]
pub struct CampaignQuery;

#[Object]
impl CampaignQuery {
    #[graphql(guard = "Access::Staff")]
    async fn campaigns(
        &self,
        ctx: &Context<'_>,
        status: Option<CampaignStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<Campaign>> {
        let caller = caller(ctx)?;
        let request = page_request(ctx, first, after)?;
        let state = ctx.data_unchecked::<ApiState>();
        let page = state.store.campaigns().list(&caller.tenant, status, request).await?;
        connection(page, request.after.is_some(), |c| c.id, Campaign::try_from)
    }

    #[graphql(guard = "Access::Staff")]
    async fn campaign(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Campaign> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        state.store.campaigns().get(&caller.tenant, row_id(&id, "campaign")?).await?.try_into()
    }
}

#[derive(Default)]
pub struct CampaignMutation;

impl CampaignMutation {
    async fn lifecycle(
        ctx: &Context<'_>,
        id: &ID,
        action: LifecycleAction,
        at: Option<DateTime<Utc>>,
    ) -> DomainResult<Campaign> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let now = state.clock.now();
        let id = row_id(id, "campaign")?;
        let reason = (action == LifecycleAction::Complete).then_some("completed by a supervisor");
        let row = state.store.campaigns().apply_action(&caller.tenant, id, action, at, reason, now).await?;
        state.floor.campaign_changed(&caller.tenant, &row, now).await;
        row.try_into()
    }
}

#[Object]
impl CampaignMutation {
    /// Creates a campaign in DRAFT over the given lists.
    #[graphql(guard = "Access::Staff")]
    async fn create_campaign(&self, ctx: &Context<'_>, input: CreateCampaignInput) -> DomainResult<Campaign> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let lists = list_ids(&input.contact_list_ids)?;
        let settings = CampaignSettings::defaults(input.name.clone(), input.dialer_mode)
            .apply(input.options.into_changes(Some(input.name), Some(input.dialer_mode))?)?;
        let now = state.clock.now();
        let row = state.store.campaigns().create(&caller.tenant, &settings, &lists, now).await?;
        state.floor.campaign_changed(&caller.tenant, &row, now).await;
        row.try_into()
    }

    /// Changes a campaign's settings (not allowed once COMPLETED).
    #[graphql(guard = "Access::Staff")]
    async fn update_campaign(&self, ctx: &Context<'_>, id: ID, input: UpdateCampaignInput) -> DomainResult<Campaign> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let lists = input.contact_list_ids.as_deref().map(list_ids).transpose()?;
        let changes = input.options.into_changes(input.name, input.dialer_mode)?;
        let now = state.clock.now();
        let row = state
            .store
            .campaigns()
            .update(&caller.tenant, row_id(&id, "campaign")?, |s| s.apply(changes), lists.as_deref(), now)
            .await?;
        state.floor.campaign_changed(&caller.tenant, &row, now).await;
        row.try_into()
    }

    /// DRAFT → SCHEDULED, to start at `at` (default now).
    #[graphql(guard = "Access::Staff")]
    async fn schedule_campaign(&self, ctx: &Context<'_>, id: ID, at: Option<DateTime<Utc>>) -> DomainResult<Campaign> {
        Self::lifecycle(ctx, &id, LifecycleAction::Schedule, at).await
    }

    /// SCHEDULED → RUNNING.
    #[graphql(guard = "Access::Staff")]
    async fn start_campaign(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Campaign> {
        Self::lifecycle(ctx, &id, LifecycleAction::Start, None).await
    }

    /// RUNNING → PAUSED: no new dials; calls in flight finish.
    #[graphql(guard = "Access::Staff")]
    async fn pause_campaign(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Campaign> {
        Self::lifecycle(ctx, &id, LifecycleAction::Pause, None).await
    }

    /// PAUSED → RUNNING.
    #[graphql(guard = "Access::Staff")]
    async fn resume_campaign(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Campaign> {
        Self::lifecycle(ctx, &id, LifecycleAction::Resume, None).await
    }

    /// SCHEDULED, RUNNING or PAUSED → COMPLETED (final).
    #[graphql(guard = "Access::Staff")]
    async fn complete_campaign(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Campaign> {
        Self::lifecycle(ctx, &id, LifecycleAction::Complete, None).await
    }
}
