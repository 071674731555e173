//! Agents of a tenant: profile (skills with levels, languages, region), the campaigns each
//! serves, the current state as the ACD last set it, and today's call totals.

use chrono::{DateTime, Utc};
use entity::{agent, call, campaign, campaign_agent};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Set,
};
use std::collections::HashMap;

use super::agent_states::StateRow;
use super::{Page, PageRequest, Store, TenantId, page, tenants};
use crate::acd::SkillLevel;
use crate::error::{DomainError, DomainResult};

/// An agent's profile as set by a supervisor; `None` fields stay unchanged on update.
#[derive(Clone, Debug, Default)]
pub struct AgentProfile {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub skills: Option<Vec<SkillLevel>>,
    pub languages: Option<Vec<String>>,
    pub region: Option<Option<String>>,
    /// A SIP URI or an E.164 number.
    pub endpoint: Option<Option<String>>,
    /// The campaigns the agent serves (replaces the set).
    pub campaign_ids: Option<Vec<i64>>,
}

impl AgentProfile {
    /// Trims names and drops repeated campaign ids, so checks and storage see one form.
    fn normalized(mut self) -> Self {
        if let Some(skills) = &mut self.skills {
            skills.iter_mut().for_each(|s| s.name = s.name.trim().to_owned());
        }
        if let Some(ids) = &mut self.campaign_ids {
            ids.sort_unstable();
            ids.dedup();
        }
        self
    }

    fn check(&self) -> DomainResult<()> {
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.chars().count() > 200)
        {
            return Err(DomainError::bad_input("name", "name must have 1 to 200 characters"));
        }
        if let Some(skills) = &self.skills {
            SkillLevel::check_all(skills).map_err(|m| DomainError::bad_input("skills", m))?;
        }
        if let Some(languages) = &self.languages
            && languages.iter().any(|l| !(2..=8).contains(&l.trim().len()))
        {
            return Err(DomainError::bad_input("languages", "a language is a tag such as \"en\" or \"es-MX\""));
        }
        if let Some(Some(endpoint)) = &self.endpoint
            && !valid_endpoint(endpoint.trim())
        {
            return Err(DomainError::bad_input(
                "endpoint",
                "an endpoint is a SIP URI (sip:name@host) or a number in E.164 form (+12125550123)",
            ));
        }
        Ok(())
    }

    fn write(&mut self, row: &mut agent::ActiveModel) {
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(name) = self.name.take() {
            row.name = Set(name.trim().to_owned());
        }
        if let Some(email) = self.email.take() {
            row.email = Set(text(email));
        }
        if let Some(skills) = self.skills.take() {
            row.skills = Set(serde_json::json!(skills));
        }
        if let Some(languages) = self.languages.take() {
            let languages: Vec<String> = languages.iter().map(|l| l.trim().to_owned()).collect();
            row.languages = Set(serde_json::json!(languages));
        }
        if let Some(region) = self.region.take() {
            row.region = Set(text(region));
        }
        if let Some(endpoint) = self.endpoint.take() {
            row.endpoint = Set(text(endpoint));
        }
    }
}

fn valid_endpoint(endpoint: &str) -> bool {
    let sip = endpoint
        .strip_prefix("sip:")
        .or_else(|| endpoint.strip_prefix("sips:"))
        .and_then(|rest| rest.split_once('@'))
        .is_some_and(|(user, host)| !user.is_empty() && !host.is_empty() && !endpoint.contains(char::is_whitespace));
    let digits = endpoint.strip_prefix('+').unwrap_or("");
    let e164 = (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    sip || e164
}

pub struct Agents<'a>(&'a Store);

impl Store {
    pub fn agents(&self) -> Agents<'_> {
        Agents(self)
    }
}

impl Agents<'_> {
    /// A new agent starts OFFLINE.
    pub async fn create(
        &self,
        tenant: &TenantId,
        profile: AgentProfile,
        now: DateTime<Utc>,
    ) -> DomainResult<agent::Model> {
        if profile.name.is_none() {
            return Err(DomainError::bad_input("name", "an agent needs a name"));
        }
        let mut profile = profile.normalized();
        profile.check()?;
        let mut row = agent::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            email: Set(None),
            skills: Set(serde_json::json!([])),
            languages: Set(serde_json::json!([])),
            region: Set(None),
            endpoint: Set(None),
            state: Set("OFFLINE".to_owned()),
            state_reason: Set(None),
            state_since: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        profile.write(&mut row);
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let created = row.insert(&txn).await?;
        if let Some(campaign_ids) = &profile.campaign_ids {
            assign(&txn, tenant, created.id, campaign_ids).await?;
        }
        txn.commit().await?;
        Ok(created)
    }

    pub async fn update(
        &self,
        tenant: &TenantId,
        id: i64,
        profile: AgentProfile,
        now: DateTime<Utc>,
    ) -> DomainResult<agent::Model> {
        let mut profile = profile.normalized();
        profile.check()?;
        let txn = self.0.write().await?;
        let mut row: agent::ActiveModel = find(&txn, tenant, id).await?.into();
        profile.write(&mut row);
        row.updated_at = Set(now);
        let updated = row.update(&txn).await?;
        if let Some(campaign_ids) = &profile.campaign_ids {
            assign(&txn, tenant, id, campaign_ids).await?;
        }
        txn.commit().await?;
        Ok(updated)
    }

    /// Records the states the ACD accepted, in one transaction (see [`super::agent_states`]).
    pub async fn set_states(&self, rows: &[&StateRow]) -> DomainResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let txn = self.0.write().await?;
        for row in rows {
            agent::Entity::update_many()
                .col_expr(agent::Column::State, Expr::value(row.state.as_str()))
                .col_expr(agent::Column::StateReason, Expr::value(row.reason.clone()))
                .col_expr(agent::Column::StateSince, Expr::value(row.since))
                .col_expr(agent::Column::UpdatedAt, Expr::value(row.since))
                .filter(agent::Column::TenantId.eq(row.tenant.as_str()))
                .filter(agent::Column::Id.eq(row.agent))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Every agent of the tenant (the ACD board loads them all).
    pub async fn all(&self, tenant: &TenantId) -> DomainResult<Vec<agent::Model>> {
        Ok(agent::Entity::find().filter(agent::Column::TenantId.eq(tenant.as_str())).all(&self.0.db).await?)
    }

    pub async fn by_ids(&self, tenant: &TenantId, ids: &[i64]) -> DomainResult<Vec<agent::Model>> {
        Ok(agent::Entity::find()
            .filter(agent::Column::TenantId.eq(tenant.as_str()))
            .filter(agent::Column::Id.is_in(ids.iter().copied()))
            .all(&self.0.db)
            .await?)
    }

    /// Which campaigns each agent serves: `(agent id, campaign id)` pairs, for every agent.
    pub async fn assignments(&self, tenant: &TenantId) -> DomainResult<Vec<(i64, i64)>> {
        self.assignments_where(tenant, None).await
    }

    /// `(agent id, campaign id)` pairs of the given agents.
    pub async fn assignments_of(&self, tenant: &TenantId, agents: &[i64]) -> DomainResult<Vec<(i64, i64)>> {
        self.assignments_where(tenant, Some(agents)).await
    }

    async fn assignments_where(&self, tenant: &TenantId, agents: Option<&[i64]>) -> DomainResult<Vec<(i64, i64)>> {
        let mut select = campaign_agent::Entity::find().filter(campaign_agent::Column::TenantId.eq(tenant.as_str()));
        if let Some(agents) = agents {
            select = select.filter(campaign_agent::Column::AgentId.is_in(agents.iter().copied()));
        }
        Ok(select.all(&self.0.db).await?.into_iter().map(|row| (row.agent_id, row.campaign_id)).collect())
    }

    /// Calls bridged to each agent since `since`, with their talk time in seconds.
    pub async fn totals_since(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
    ) -> DomainResult<HashMap<i64, (u32, i64)>> {
        #[derive(FromQueryResult)]
        struct Totals {
            agent_id: i64,
            calls: i64,
            talk_seconds: Option<i64>,
        }
        let rows = call::Entity::find()
            .select_only()
            .column(call::Column::AgentId)
            .column_as(Expr::expr(Func::count(Expr::col(call::Column::Id))), "calls")
            .column_as(Expr::expr(Func::sum(Expr::col(call::Column::DurationSeconds))), "talk_seconds")
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::AgentId.is_not_null())
            .filter(call::Column::BridgedAt.gte(since))
            .group_by(call::Column::AgentId)
            .into_model::<Totals>()
            .all(&self.0.db)
            .await?;
        Ok(rows.into_iter().map(|t| (t.agent_id, (t.calls as u32, t.talk_seconds.unwrap_or(0)))).collect())
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<agent::Model> {
        find(&self.0.db, tenant, id).await
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        state: Option<&str>,
        request: PageRequest,
    ) -> DomainResult<Page<agent::Model>> {
        let mut select = agent::Entity::find().filter(agent::Column::TenantId.eq(tenant.as_str()));
        if let Some(state) = state {
            select = select.filter(agent::Column::State.eq(state));
        }
        page(&self.0.db, select, agent::Column::Id, request).await
    }
}

async fn find(db: &impl ConnectionTrait, tenant: &TenantId, id: i64) -> DomainResult<agent::Model> {
    agent::Entity::find_by_id(id)
        .filter(agent::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("agent"))
}

/// Replaces the campaigns an agent serves; each must be one of the tenant's.
async fn assign(db: &impl ConnectionTrait, tenant: &TenantId, agent: i64, campaign_ids: &[i64]) -> DomainResult<()> {
    let found = campaign::Entity::find()
        .filter(campaign::Column::TenantId.eq(tenant.as_str()))
        .filter(campaign::Column::Id.is_in(campaign_ids.iter().copied()))
        .all(db)
        .await?;
    if found.len() != campaign_ids.len() {
        return Err(DomainError::NotFound("campaign"));
    }
    campaign_agent::Entity::delete_many()
        .filter(campaign_agent::Column::TenantId.eq(tenant.as_str()))
        .filter(campaign_agent::Column::AgentId.eq(agent))
        .exec(db)
        .await?;
    if campaign_ids.is_empty() {
        return Ok(());
    }
    let rows = campaign_ids.iter().map(|&campaign_id| campaign_agent::ActiveModel {
        campaign_id: Set(campaign_id),
        agent_id: Set(agent),
        tenant_id: Set(tenant.as_str().to_owned()),
    });
    campaign_agent::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}
