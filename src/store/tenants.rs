//! Tenants: created on first use from the `tenant` claim of a token, with product defaults.

use chrono::{DateTime, Utc};
use entity::tenant;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::TenantId;
use crate::error::DomainResult;

/// The zone of a new tenant until it sets its own.
pub const DEFAULT_TIME_ZONE: &str = "America/New_York";

/// Makes sure the tenant row exists (rows of other tables reference it).
pub(crate) async fn ensure<C: ConnectionTrait>(db: &C, tenant: &TenantId, now: DateTime<Utc>) -> DomainResult<()> {
    let row = tenant::ActiveModel {
        id: Set(tenant.as_str().to_owned()),
        name: Set(tenant.as_str().to_owned()),
        default_caller_id: Set(None),
        time_zone: Set(DEFAULT_TIME_ZONE.to_owned()),
        carrier_settings: Set(serde_json::json!({})),
        settings: Set(serde_json::json!({})),
        created_at: Set(now),
    };
    tenant::Entity::insert(row).on_conflict_do_nothing_on([tenant::Column::Id]).exec(db).await?;
    Ok(())
}

impl super::Store {
    /// Sets keys of the tenant's product settings (others stay) and returns them all.
    pub async fn update_tenant_settings(
        &self,
        tenant: &TenantId,
        changes: serde_json::Map<String, serde_json::Value>,
        now: DateTime<Utc>,
    ) -> DomainResult<serde_json::Value> {
        let txn = self.write().await?;
        ensure(&txn, tenant, now).await?;
        let row = tenant::Entity::find_by_id(tenant.as_str())
            .one(&txn)
            .await?
            .ok_or_else(|| anyhow::anyhow!("tenant row vanished inside its transaction"))?;
        let mut settings = row.settings.as_object().cloned().unwrap_or_default();
        settings.extend(changes);
        let mut row: tenant::ActiveModel = row.into();
        row.settings = Set(serde_json::Value::Object(settings));
        let updated = row.update(&txn).await?;
        txn.commit().await?;
        Ok(updated.settings)
    }

    /// The tenant's row, when it has one.
    pub async fn tenant(&self, tenant: &TenantId) -> DomainResult<Option<tenant::Model>> {
        Ok(tenant::Entity::find_by_id(tenant.as_str()).one(&self.db).await?)
    }

    /// The tenant's product settings (`{}` for a tenant with no row yet).
    pub async fn tenant_settings(&self, tenant: &TenantId) -> DomainResult<serde_json::Value> {
        let row = tenant::Entity::find_by_id(tenant.as_str()).one(&self.db).await?;
        Ok(row.map(|r| r.settings).unwrap_or_else(|| serde_json::json!({})))
    }

    /// The call centre's own zone ("today" for agent totals); a tenant with no row yet has the
    /// default zone.
    pub async fn tenant_time_zone(&self, tenant: &TenantId) -> DomainResult<chrono_tz::Tz> {
        let row = tenant::Entity::find_by_id(tenant.as_str()).one(&self.db).await?;
        let name = row.map(|r| r.time_zone).unwrap_or_else(|| DEFAULT_TIME_ZONE.to_owned());
        name.parse().map_err(|_| anyhow::anyhow!("tenant {} has an unknown time zone {name:?}", tenant.as_str()).into())
    }
}
