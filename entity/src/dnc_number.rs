//! The tenant's internal do-not-call list (47 CFR 64.1200(d)): who added a number, when and why.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "dnc_number")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    /// E.164.
    pub phone_number: String,
    pub reason: Option<String>,
    /// `sub` of the user, or `disposition:<call id>`.
    pub added_by: String,
    pub created_at: DateTimeUtc,
    /// Set when an admin took the number off the list; the entry stays on record.
    pub removed_at: Option<DateTimeUtc>,
    pub removed_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
