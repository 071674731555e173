//! A contact: one person to call, on one list, with the facts the compliance gate needs (number, address state and ZIP, time zone) and the dialing bookkeeping (attempts, next attempt, status).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "contact")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    pub list_id: i64,
    /// E.164, e.g. `+12015550123`; unique within a list.
    pub phone_number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// Two-letter US state of the postal address.
    pub state: Option<String>,
    pub zip: Option<String>,
    /// Explicit IANA zone, overriding what the number and address suggest.
    pub timezone: Option<String>,
    /// Free custom fields from the import.
    pub custom_fields: Json,
    /// The id in the tenant's own system.
    pub external_id: Option<String>,
    /// Ids in connected CRMs: `{"salesforce": "003...", "hubspot": "123"}`.
    pub crm_ids: Json,
    pub attempts: i32,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// NEW, CALLBACK, RETRY, DONE, DNC.
    pub status: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
