//! The CRM outbox: call activity written in the disposition's transaction and delivered later,
//! idempotently, with retries and a dead letter.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "crm_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub connector_id: i64,
    pub call_id: i64,
    /// LOG_CALL or UPDATE_RECORD.
    pub action: String,
    pub payload: Json,
    /// PENDING, DELIVERED or DEAD.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    /// The id the CRM gave the created activity (so a retry never creates a second one).
    pub external_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
