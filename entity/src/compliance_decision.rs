//! Append-only audit of compliance verdicts: every verdict used to dial or asked for, with its
//! reasons and the rule versions used.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "compliance_decision")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    /// E.164, or the text as given when it did not parse.
    pub phone_number: String,
    pub campaign_id: Option<i64>,
    pub call_id: Option<i64>,
    /// DIAL (the dial path) or CHECK (asked for through the API).
    pub purpose: String,
    pub safe_to_call: bool,
    /// `[{"code": "...", "message": "..."}]`
    pub reasons: Json,
    pub timezones: Json,
    pub line_type: Option<String>,
    pub next_safe_call_time: Option<DateTimeUtc>,
    pub rules_version: String,
    /// The instant the verdict is about.
    pub evaluated_for: DateTimeUtc,
    pub decided_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
