//! An agent: a person who takes calls, with the skills, languages and region the ACD routes on, and the current state with when it began.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "agent")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub name: String,
    pub email: Option<String>,
    /// `[{"name": "spanish_sales", "level": 4}, ...]`
    pub skills: Json,
    /// `["en", "es"]`
    pub languages: Json,
    pub region: Option<String>,
    /// Where answered calls are transferred: a SIP URI (`sip:ana@pbx.example.com`) or an E.164 number.
    pub endpoint: Option<String>,
    /// One of OFFLINE AVAILABLE RESERVED ON_CALL WRAP_UP PAUSED.
    pub state: String,
    /// The pause reason code when PAUSED.
    pub state_reason: Option<String>,
    pub state_since: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
