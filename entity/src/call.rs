//! One outbound call attempt: who was dialed for which campaign, by which carrier call, what happened when, and what it cost.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "call")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub campaign_id: i64,
    pub contact_id: i64,
    pub agent_id: Option<i64>,
    /// The contact attempt this call is (1-based); unique per contact.
    pub attempt: i32,
    /// `simulated` or `telnyx`.
    pub carrier: String,
    /// Carrier handle of the call leg (Telnyx `call_control_id`).
    pub carrier_call_id: Option<String>,
    /// Carrier session (Telnyx `call_session_id`).
    pub carrier_session_id: Option<String>,
    pub from_number: String,
    pub to_number: String,
    /// DIALING, RINGING, ANSWERED, BRIDGED, ENDED, FAILED.
    pub state: String,
    pub dialed_at: DateTimeUtc,
    pub answered_at: Option<DateTimeUtc>,
    pub bridged_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    /// One of the CallOutcome values.
    pub outcome: Option<String>,
    /// The campaign outcome tag the agent chose.
    pub disposition: Option<String>,
    pub notes: Option<String>,
    pub callback_at: Option<DateTimeUtc>,
    /// Answering machine detection: human, machine, not_sure, ...
    pub amd_result: Option<String>,
    pub duration_seconds: Option<i32>,
    pub cost: Option<f64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
