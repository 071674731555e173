//! A tenant: one customer organisation. Every other table hangs off a tenant id, which is the opaque string of the JWT `tenant` claim.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tenant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub default_caller_id: Option<String>,
    /// IANA zone of the call centre itself (reports, "today").
    pub time_zone: String,
    /// Carrier account settings (connection id, caller ids, rate caps); never secrets.
    pub carrier_settings: Json,
    /// Compliance and product settings (DNC staleness policy, Caribbean dialing, ...).
    pub settings: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
