//! A cached Telnyx Number Lookup answer: the line type of a number and when it was looked up
//! (shared by every tenant: it is a fact about the number).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "number_lookup")]
pub struct Model {
    /// E.164.
    #[sea_orm(primary_key, auto_increment = false)]
    pub phone_number: String,
    /// WIRELESS, LANDLINE, VOIP, TOLL_FREE or UNKNOWN.
    pub line_type: String,
    /// The carrier's normalized name, as Telnyx gave it.
    pub carrier: Option<String>,
    pub looked_up_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
