//! A CRM connection of a tenant (Salesforce, HubSpot or a signed webhook); credentials are stored
//! sealed and never returned.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "crm_connector")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    /// SALESFORCE, HUBSPOT or WEBHOOK.
    pub kind: String,
    pub name: String,
    /// Non-secret settings (instance URL, field mapping, ...).
    pub config: Json,
    /// AES-256-GCM sealed credentials (nonce and ciphertext).
    pub credentials_sealed: Vec<u8>,
    pub enabled: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
