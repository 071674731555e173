//! Campaigns of a tenant: settings, the lists they dial, and lifecycle changes that are safe
//! under concurrency (a status changes only from the status it was read in).

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use entity::{campaign, campaign_contact_list};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use std::collections::HashMap;

use super::{Page, PageRequest, Store, TenantId, page, tenants};
use crate::acd::Strategy;
use crate::campaign::{CampaignSettings, CampaignStatus, DialerMode, LifecycleAction, transition};
use crate::error::{DomainError, DomainResult};

pub struct Campaigns<'a>(&'a Store);

impl Store {
    pub fn campaigns(&self) -> Campaigns<'_> {
        Campaigns(self)
    }
}

impl Campaigns<'_> {
    pub async fn create(
        &self,
        tenant: &TenantId,
        settings: &CampaignSettings,
        list_ids: &[i64],
        now: DateTime<Utc>,
    ) -> DomainResult<campaign::Model> {
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let mut row = campaign::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            status: Set(CampaignStatus::Draft.as_str().to_owned()),
            status_reason: Set(None),
            scheduled_at: Set(None),
            started_at: Set(None),
            paused_at: Set(None),
            completed_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        write_settings(&mut row, settings);
        let created = row.insert(&txn).await?;
        set_lists(&txn, tenant, created.id, list_ids).await?;
        txn.commit().await?;
        Ok(created)
    }

    /// Replaces the settings (and the lists, when given). A completed campaign is closed.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: i64,
        change: impl FnOnce(CampaignSettings) -> DomainResult<CampaignSettings>,
        list_ids: Option<&[i64]>,
        now: DateTime<Utc>,
    ) -> DomainResult<campaign::Model> {
        let txn = self.0.write().await?;
        let current = find(&txn, tenant, id).await?;
        if current.status == CampaignStatus::Completed.as_str() {
            return Err(DomainError::conflict("a COMPLETED campaign cannot be changed"));
        }
        let settings = change(settings_of(&current)?)?;
        let mut row: campaign::ActiveModel = current.into();
        write_settings(&mut row, &settings);
        row.updated_at = Set(now);
        let updated = row.update(&txn).await?;
        if let Some(list_ids) = list_ids {
            campaign_contact_list::Entity::delete_many()
                .filter(campaign_contact_list::Column::TenantId.eq(tenant.as_str()))
                .filter(campaign_contact_list::Column::CampaignId.eq(id))
                .exec(&txn)
                .await?;
            set_lists(&txn, tenant, id, list_ids).await?;
        }
        txn.commit().await?;
        Ok(updated)
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<campaign::Model> {
        find(&self.0.db, tenant, id).await
    }

    /// Every campaign of the tenant (the ACD board loads their routing settings).
    pub async fn all(&self, tenant: &TenantId) -> DomainResult<Vec<campaign::Model>> {
        Ok(campaign::Entity::find().filter(campaign::Column::TenantId.eq(tenant.as_str())).all(&self.0.db).await?)
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        status: Option<CampaignStatus>,
        request: PageRequest,
    ) -> DomainResult<Page<campaign::Model>> {
        let mut select = campaign::Entity::find().filter(campaign::Column::TenantId.eq(tenant.as_str()));
        if let Some(status) = status {
            select = select.filter(campaign::Column::Status.eq(status.as_str()));
        }
        page(&self.0.db, select, campaign::Column::Id, request).await
    }

    /// The list ids of several campaigns, in each campaign's order.
    pub async fn list_ids(&self, tenant: &TenantId, campaign_ids: &[i64]) -> DomainResult<HashMap<i64, Vec<i64>>> {
        let rows = campaign_contact_list::Entity::find()
            .filter(campaign_contact_list::Column::TenantId.eq(tenant.as_str()))
            .filter(campaign_contact_list::Column::CampaignId.is_in(campaign_ids.iter().copied()))
            .order_by_asc(campaign_contact_list::Column::Position)
            .all(&self.0.db)
            .await?;
        let mut by_campaign: HashMap<i64, Vec<i64>> = HashMap::new();
        for row in rows {
            by_campaign.entry(row.campaign_id).or_default().push(row.list_id);
        }
        Ok(by_campaign)
    }

    /// Running campaigns of every tenant (the scheduler's work list).
    pub async fn running(&self) -> DomainResult<Vec<campaign::Model>> {
        Ok(campaign::Entity::find()
            .filter(campaign::Column::Status.eq(CampaignStatus::Running.as_str()))
            .order_by_asc(campaign::Column::Id)
            .all(&self.0.db)
            .await?)
    }

    /// Scheduled campaigns of every tenant whose start time has come.
    pub async fn due_to_start(&self, now: DateTime<Utc>) -> DomainResult<Vec<campaign::Model>> {
        Ok(campaign::Entity::find()
            .filter(campaign::Column::Status.eq(CampaignStatus::Scheduled.as_str()))
            .filter(campaign::Column::ScheduledAt.lte(now))
            .order_by_asc(campaign::Column::Id)
            .all(&self.0.db)
            .await?)
    }

    /// Moves a campaign through its lifecycle. The update is conditional on the status read, so
    /// two supervisors racing get one success and one `CONFLICT`. `reason` says why (a
    /// supervisor completed it; the dialer paused it for want of a caller ID, or completed it
    /// when no callable contact was left); `None` clears the last one.
    pub async fn apply_action(
        &self,
        tenant: &TenantId,
        id: i64,
        action: LifecycleAction,
        scheduled_at: Option<DateTime<Utc>>,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> DomainResult<campaign::Model> {
        let current = find(&self.0.db, tenant, id).await?;
        let from = CampaignStatus::parse(&current.status)
            .ok_or_else(|| anyhow::anyhow!("campaign {id} has unknown status {:?}", current.status))?;
        let to = transition(from, action)?;
        let mut update = campaign::Entity::update_many()
            .col_expr(campaign::Column::Status, Expr::value(to.as_str()))
            .col_expr(campaign::Column::UpdatedAt, Expr::value(now));
        let stamp = match action {
            LifecycleAction::Schedule => Some((campaign::Column::ScheduledAt, scheduled_at.unwrap_or(now))),
            LifecycleAction::Start | LifecycleAction::Resume => Some((campaign::Column::StartedAt, now)),
            LifecycleAction::Pause => Some((campaign::Column::PausedAt, now)),
            LifecycleAction::Complete => Some((campaign::Column::CompletedAt, now)),
        };
        if let Some((column, at)) = stamp {
            update = update.col_expr(column, Expr::value(at));
        }
        update = update.col_expr(campaign::Column::StatusReason, Expr::value(reason));
        let result = update
            .filter(campaign::Column::Id.eq(id))
            .filter(campaign::Column::TenantId.eq(tenant.as_str()))
            .filter(campaign::Column::Status.eq(from.as_str()))
            .exec(&self.0.writer)
            .await?;
        if result.rows_affected == 0 {
            return Err(DomainError::conflict("the campaign changed status meanwhile; read it again"));
        }
        find(&self.0.db, tenant, id).await
    }
}

async fn find<C: ConnectionTrait>(db: &C, tenant: &TenantId, id: i64) -> DomainResult<campaign::Model> {
    campaign::Entity::find_by_id(id)
        .filter(campaign::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("campaign"))
}

/// Links lists to a campaign after checking that each is the tenant's.
async fn set_lists<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantId,
    campaign_id: i64,
    list_ids: &[i64],
) -> DomainResult<()> {
    let mut unique = list_ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    if unique.is_empty() {
        return Err(DomainError::bad_input("contactListIds", "a campaign dials at least one contact list"));
    }
    let found = entity::contact_list::Entity::find()
        .filter(entity::contact_list::Column::TenantId.eq(tenant.as_str()))
        .filter(entity::contact_list::Column::Id.is_in(unique.iter().copied()))
        .all(db)
        .await?;
    if found.len() != unique.len() {
        return Err(DomainError::NotFound("contact list"));
    }
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<_> = list_ids
        .iter()
        .filter(|id| seen.insert(**id))
        .zip(1..)
        .map(|(id, position)| campaign_contact_list::ActiveModel {
            campaign_id: Set(campaign_id),
            list_id: Set(*id),
            tenant_id: Set(tenant.as_str().to_owned()),
            position: Set(position),
        })
        .collect();
    campaign_contact_list::Entity::insert_many(rows).exec_without_returning(db).await?;
    Ok(())
}

fn write_settings(row: &mut campaign::ActiveModel, s: &CampaignSettings) {
    let time = |t: Option<NaiveTime>| t.map(|t| t.format("%H:%M").to_string());
    row.name = Set(s.name.clone());
    row.dialer_mode = Set(s.dialer_mode.as_str().to_owned());
    row.script = Set(s.script.clone());
    row.outcome_tags = Set(json!(s.outcome_tags));
    row.timezone_based_calling = Set(s.timezone_based_calling);
    row.dnc_check = Set(s.dnc_check);
    row.recording_enabled = Set(s.recording_enabled);
    row.caller_id = Set(s.caller_id.clone());
    row.window_start = Set(time(s.window_start));
    row.window_end = Set(time(s.window_end));
    row.window_days = Set(json!(s.window_days.iter().map(|d| d.to_string().to_uppercase()).collect::<Vec<_>>()));
    row.max_attempts = Set(s.max_attempts);
    row.retry_delay_minutes = Set(s.retry_delay_minutes);
    row.abandon_rate_target = Set(s.abandon_rate_target);
    row.required_skills = Set(json!(s.required_skills));
    row.language = Set(s.language.clone());
    row.region = Set(s.region.clone());
    row.routing_strategy = Set(s.routing_strategy.as_str().to_owned());
    row.wrap_up_timeout_seconds = Set(s.wrap_up_timeout_seconds);
    row.priority = Set(s.priority);
    row.cost_per_minute = Set(s.cost_per_minute);
}

/// The settings held in a stored row.
pub fn settings_of(row: &campaign::Model) -> DomainResult<CampaignSettings> {
    let corrupt = |what: &str| DomainError::from(anyhow::anyhow!("campaign {} has a bad {what}", row.id));
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let time = |t: &Option<String>| t.as_deref().and_then(|t| NaiveTime::parse_from_str(t, "%H:%M").ok());
    Ok(CampaignSettings {
        name: row.name.clone(),
        dialer_mode: DialerMode::parse(&row.dialer_mode).ok_or_else(|| corrupt("dialer mode"))?,
        script: row.script.clone(),
        outcome_tags: strings(&row.outcome_tags),
        timezone_based_calling: row.timezone_based_calling,
        dnc_check: row.dnc_check,
        recording_enabled: row.recording_enabled,
        caller_id: row.caller_id.clone(),
        window_start: time(&row.window_start),
        window_end: time(&row.window_end),
        window_days: strings(&row.window_days).iter().filter_map(|d| d.parse::<Weekday>().ok()).collect(),
        max_attempts: row.max_attempts,
        retry_delay_minutes: row.retry_delay_minutes,
        abandon_rate_target: row.abandon_rate_target,
        required_skills: serde_json::from_value(row.required_skills.clone()).map_err(|_| corrupt("required skills"))?,
        language: row.language.clone(),
        region: row.region.clone(),
        routing_strategy: Strategy::parse(&row.routing_strategy).ok_or_else(|| corrupt("routing strategy"))?,
        wrap_up_timeout_seconds: row.wrap_up_timeout_seconds,
        priority: row.priority,
        cost_per_minute: row.cost_per_minute,
    })
}
