//! DataLoaders that batch the lookups of nested fields (a page of campaigns with their contact
//! lists is three queries, not one per campaign). They are built per request with the caller's
//! tenant inside, so nothing loaded for one tenant can be served to another.

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{agent, contact_list};
use std::collections::HashMap;

use super::ApiState;
use crate::auth::{Caller, TenantId};
use crate::store::Store;

pub struct ContactListLoader {
    store: Store,
    tenant: TenantId,
}

impl Loader<i64> for ContactListLoader {
    type Value = contact_list::Model;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let lists = self.store.contact_lists().by_ids(&self.tenant, ids).await?;
        Ok(lists.into_iter().map(|list| (list.id, list)).collect())
    }
}

/// The contact list ids of campaigns, in campaign order.
pub struct CampaignListIdsLoader {
    store: Store,
    tenant: TenantId,
}

impl Loader<i64> for CampaignListIdsLoader {
    type Value = Vec<i64>;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        Ok(self.store.campaigns().list_ids(&self.tenant, ids).await?)
    }
}

pub struct AgentLoader {
    store: Store,
    tenant: TenantId,
}

impl Loader<i64> for AgentLoader {
    type Value = agent::Model;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let agents = self.store.agents().by_ids(&self.tenant, ids).await?;
        Ok(agents.into_iter().map(|agent| (agent.id, agent)).collect())
    }
}

/// The campaign ids each agent serves.
pub struct AgentCampaignIdsLoader {
    store: Store,
    tenant: TenantId,
}

impl Loader<i64> for AgentCampaignIdsLoader {
    type Value = Vec<i64>;
    type Error = async_graphql::Error;

    async fn load(&self, ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let mut by_agent: HashMap<i64, Vec<i64>> = HashMap::new();
        for (agent, campaign) in self.store.agents().assignments_of(&self.tenant, ids).await? {
            by_agent.entry(agent).or_default().push(campaign);
        }
        Ok(by_agent)
    }
}

pub fn attach(data: &mut async_graphql::Data, state: &ApiState, caller: &Caller) {
    let (store, tenant) = (state.store.clone(), caller.tenant.clone());
    data.insert(DataLoader::new(ContactListLoader { store: store.clone(), tenant: tenant.clone() }, tokio::spawn));
    data.insert(DataLoader::new(CampaignListIdsLoader { store: store.clone(), tenant: tenant.clone() }, tokio::spawn));
    data.insert(DataLoader::new(AgentLoader { store: store.clone(), tenant: tenant.clone() }, tokio::spawn));
    data.insert(DataLoader::new(AgentCampaignIdsLoader { store, tenant }, tokio::spawn));
}
