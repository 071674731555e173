//! A campaign: what to dial (lists), how (dialer mode, pacing target, schedule window, retries), whom to route to (skills, language, region, strategy) and where it is in its lifecycle.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "campaign")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
    /// PREDICTIVE, PROGRESSIVE or PREVIEW.
    pub dialer_mode: String,
    pub script: Option<String>,
    /// `["sale", "not_interested", "do_not_call", ...]`
    pub outcome_tags: Json,
    pub timezone_based_calling: bool,
    pub dnc_check: bool,
    pub recording_enabled: bool,
    pub caller_id: Option<String>,
    /// Local (called-party) time of day the campaign may call from, `HH:MM`.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// Days of week the campaign may call, `["MON", ...]`; empty means every day.
    pub window_days: Json,
    pub max_attempts: i32,
    pub retry_delay_minutes: i32,
    pub abandon_rate_target: f64,
    /// `[{"name": "sales", "level": 3}]`
    pub required_skills: Json,
    pub language: Option<String>,
    pub region: Option<String>,
    /// LONGEST_IDLE, FEWEST_CALLS, LEAST_TALK_TIME or BEST_MATCH.
    pub routing_strategy: String,
    /// WRAP_UP ends by itself this long after a call; null waits for the agent.
    pub wrap_up_timeout_seconds: Option<i32>,
    pub priority: i32,
    pub cost_per_minute: f64,
    /// DRAFT, SCHEDULED, RUNNING, PAUSED, COMPLETED.
    pub status: String,
    pub status_reason: Option<String>,
    pub scheduled_at: Option<DateTimeUtc>,
    pub started_at: Option<DateTimeUtc>,
    pub paused_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
