//! Contact lists of a tenant.

use chrono::{DateTime, Utc};
use entity::{contact, contact_list};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::{Page, PageRequest, Store, TenantId, page, tenants};
use crate::error::{DomainError, DomainResult};

pub struct ContactLists<'a>(&'a Store);

impl Store {
    pub fn contact_lists(&self) -> ContactLists<'_> {
        ContactLists(self)
    }
}

impl ContactLists<'_> {
    pub async fn create(&self, tenant: &TenantId, name: &str, now: DateTime<Utc>) -> DomainResult<contact_list::Model> {
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let list = contact_list::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            name: Set(name.to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(list)
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<contact_list::Model> {
        contact_list::Entity::find_by_id(id)
            .filter(contact_list::Column::TenantId.eq(tenant.as_str()))
            .one(&self.0.db)
            .await?
            .ok_or(DomainError::NotFound("contact list"))
    }

    pub async fn by_ids(&self, tenant: &TenantId, ids: &[i64]) -> DomainResult<Vec<contact_list::Model>> {
        Ok(contact_list::Entity::find()
            .filter(contact_list::Column::TenantId.eq(tenant.as_str()))
            .filter(contact_list::Column::Id.is_in(ids.iter().copied()))
            .all(&self.0.db)
            .await?)
    }

    pub async fn list(&self, tenant: &TenantId, request: PageRequest) -> DomainResult<Page<contact_list::Model>> {
        let select = contact_list::Entity::find().filter(contact_list::Column::TenantId.eq(tenant.as_str()));
        page(&self.0.db, select, contact_list::Column::Id, request).await
    }

    /// The tenant owning a list. Only for operator tools that run with direct database access
    /// (`outdial import-contacts`); API paths always know the tenant from the token.
    pub async fn owner_for_operator(&self, list_id: i64) -> DomainResult<TenantId> {
        contact_list::Entity::find_by_id(list_id)
            .one(&self.0.db)
            .await?
            .map(|list| TenantId::new(list.tenant_id))
            .ok_or(DomainError::NotFound("contact list"))
    }

    pub async fn contact_count(&self, tenant: &TenantId, list_id: i64) -> DomainResult<u64> {
        Ok(contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::ListId.eq(list_id))
            .count(&self.0.db)
            .await?)
    }
}
