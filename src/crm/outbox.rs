//! The outbox delivery worker: claims due activities tenant by tenant (under a lease, so a worker
//! killed mid-delivery loses nothing: the row comes due again and the connector's idempotent
//! `log_call` finds the activity it already created), delivers them a few at a time, and settles
//! each as delivered (with the CRM's id), retried later by the delivery policy, or dead-lettered.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::crm_outbox;
use futures_util::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_util::sync::CancellationToken;

use super::delivery::{DeliveryPolicy, Verdict};
use super::hub::CrmHub;
use super::{CallActivity, CrmError, ExternalId};
use crate::auth::TenantId;
use crate::clock::SharedClock;
use crate::error::DomainResult;
use crate::store::crm::Settlement;

/// Rows claimed per tenant per round.
const BATCH: u64 = 64;
/// Deliveries in flight at once per round.
const IN_FLIGHT: usize = 16;
/// A claimed row comes due again after this if its worker never settled it.
const LEASE: TimeDelta = TimeDelta::minutes(2);
/// How often the worker looks for due rows when nothing woke it.
const POLL: Duration = Duration::from_secs(1);

/// The worker's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxSettings {
    pub policy: DeliveryPolicy,
}

/// Runs until `shutdown`; a round that was busy is followed at once by another.
pub async fn run(hub: Arc<CrmHub>, clock: SharedClock, settings: OutboxSettings, shutdown: CancellationToken) {
    let mut rng = StdRng::from_os_rng();
    loop {
        // A stop abandons the deliveries in flight: their rows stay leased and come due again.
        let result = tokio::select! {
            result = round(&hub, &clock, &settings, &mut rng) => result,
            _ = shutdown.cancelled() => return,
        };
        let busy = match result {
            Ok(claimed) => claimed > 0,
            Err(error) => {
                tracing::error!(%error, "CRM outbox round failed");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = hub.outbox_woken() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// One pass over the tenants with connectors; returns how many rows it claimed.
pub async fn round(
    hub: &CrmHub,
    clock: &SharedClock,
    settings: &OutboxSettings,
    rng: &mut StdRng,
) -> DomainResult<usize> {
    let mut claimed = 0;
    for tenant in hub.store().crm().tenants_with_connectors().await? {
        let now = clock.now();
        let started = std::time::Instant::now();
        let rows = hub.store().crm().claim_due(&tenant, now, now + LEASE, BATCH).await?;
        let claim_took = started.elapsed();
        claimed += rows.len();
        let owner = &tenant;
        let outcomes: Vec<_> = futures_util::stream::iter(rows)
            .map(|row| async move {
                let result = attempt(hub, owner, &row).await;
                (row, result)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let now = clock.now();
        let settlements: Vec<Settlement> = outcomes
            .into_iter()
            .map(|(row, result)| settlement(hub, &tenant, &row, result, now, &settings.policy, rng))
            .collect();
        let delivery_took = started.elapsed() - claim_took;
        // Rows that cannot be settled now stay leased and come due again.
        if let Err(error) = hub.store().crm().settle(&tenant, &settlements, now).await {
            tracing::error!(%tenant, %error, rows = settlements.len(), "CRM deliveries could not be settled");
        }
        if !settlements.is_empty() {
            let settle_took = started.elapsed() - claim_took - delivery_took;
            tracing::debug!(%tenant, rows = settlements.len(), ?claim_took, ?delivery_took, ?settle_took, "CRM outbox round");
        }
    }
    Ok(claimed)
}

/// Why one attempt did not deliver.
enum Failure {
    /// The CRM said no or did not answer: the policy decides.
    Crm(CrmError),
    /// Ours: the payload or the connector's stored settings cannot be used.
    Unusable(String),
}

async fn attempt(hub: &CrmHub, tenant: &TenantId, row: &crm_outbox::Model) -> Result<ExternalId, Failure> {
    let activity: CallActivity = serde_json::from_value(row.payload.clone())
        .map_err(|e| Failure::Unusable(format!("unreadable activity payload: {e}")))?;
    let connector = hub.connector(tenant, row.connector_id).await.map_err(|e| Failure::Unusable(e.to_string()))?;
    let who = match activity.who {
        Some(who) => Some(who),
        None => hub
            .find_by_phone(row.connector_id, &connector, &activity.to_number, super::DEFAULT_TIMEOUT)
            .await
            .map_err(Failure::Crm)?
            .map(|record| record.id),
    };
    connector.log_call(&CallActivity { who, ..activity }).await.map_err(Failure::Crm)
}

/// What the policy makes of one attempt's result.
fn settlement(
    hub: &CrmHub,
    tenant: &TenantId,
    row: &crm_outbox::Model,
    result: Result<ExternalId, Failure>,
    now: DateTime<Utc>,
    policy: &DeliveryPolicy,
    rng: &mut StdRng,
) -> Settlement {
    let id = row.id;
    let error = match result {
        Ok(external) => {
            hub.telemetry().crm_delivery(tenant.as_str(), "delivered");
            return Settlement::Delivered { id, external: external.0 };
        }
        Err(Failure::Unusable(reason)) => {
            tracing::error!(%tenant, delivery = id, %reason, "CRM delivery dead-lettered");
            hub.telemetry().crm_delivery(tenant.as_str(), "dead");
            return Settlement::Dead { id, error: reason };
        }
        Err(Failure::Crm(error)) => error,
    };
    let attempts = row.attempts.max(1) as u32;
    match policy.next_step(attempts, &error, now, rng) {
        Verdict::RetryAt(at) => {
            tracing::info!(%tenant, delivery = id, attempts, %error, %at, "CRM delivery will be retried");
            hub.telemetry().crm_delivery(tenant.as_str(), "retried");
            Settlement::RetryAt { id, at, error: error.to_string() }
        }
        Verdict::DeadLetter(reason) => {
            tracing::warn!(%tenant, delivery = id, attempts, %error, ?reason, "CRM delivery dead-lettered");
            hub.telemetry().crm_delivery(tenant.as_str(), "dead");
            Settlement::Dead { id, error: format!("{reason:?}: {error}") }
        }
    }
}
