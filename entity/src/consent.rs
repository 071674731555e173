//! The consent ledger: a called party's consent of a kind, from a source, valid from capture until
//! expiry or revocation.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "consent")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    /// E.164.
    pub phone_number: String,
    /// PRIOR_EXPRESS_WRITTEN, PRIOR_EXPRESS or ESTABLISHED_BUSINESS.
    pub kind: String,
    pub source: Option<String>,
    pub captured_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// How the revocation reached the seller (call, text, email, ...).
    pub revoked_via: Option<String>,
    pub recorded_by: String,
    /// PURCHASE or INQUIRY, for ESTABLISHED_BUSINESS (unknown counts as an inquiry).
    pub ebr_basis: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
