//! Append-only log of what happened to a call, one row per carrier event (unique event id, so a redelivered webhook is stored once).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "call_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub call_id: i64,
    #[sea_orm(unique)]
    pub carrier_event_id: String,
    /// e.g. `call.initiated`, `call.answered`, `call.machine.detection.ended`, `call.hangup`.
    pub kind: String,
    pub payload: Json,
    pub occurred_at: DateTimeUtc,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
