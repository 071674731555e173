//! Tenants: created on first use from the `tenant` claim of a token, with product defaults.

use chrono::{DateTime, Utc};
use entity::tenant;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::TenantId;
use crate::error::DomainResult;

/// Makes sure the tenant row exists (rows of other tables reference it).
pub(crate) async fn ensure<C: ConnectionTrait>(db: &C, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<()> {
    let row = tenant::ActiveModel {
        id: Set(tenant.as_str().to_owned()),
        name: Set(tenant.as_str().to_owned()),
        default_caller_id: Set(None),
        time_zone: Set("America/New_York".to_owned()),
        carrier_settings: Set(serde_json::json!({})),
        settings: Set(serde_json::json!({})),
        created_at: Set(now),
    };
    tenant::Entity::insert(row).on_conflict_do_nothing_on([tenant::Column::Id]).exec(db).await?;
    Ok(())
}
