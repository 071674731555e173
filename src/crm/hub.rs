//! The CRM shell of the service: connectors registered, changed, tested and removed (settings
//! validated, credentials sealed before they are stored), live connectors kept per connector
//! and rebuilt when their row changes, and the customer-record lookups by phone behind a cache
//! (screen pops and deliveries share it). A CRM that is slow or down costs a lookup its short
//! timeout and nothing else: lookups never fail a caller.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::crm_connector;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, OnceCell};

use super::secrets::{KEY_ENV, SecretBox};
use super::settings::{CrmKind, Settings};
use super::{CrmConnector, CrmError, CrmRecord, find_for_screen_pop, with_timeout};
use crate::auth::TenantId;
use crate::error::{DomainError, DomainResult};
use crate::store::Store;
use crate::store::crm::StoredSettings;
use crate::telemetry::Telemetry;

/// How long an agent's screen pop may wait for the CRM; past it the offer goes without.
pub const SCREEN_POP_TIMEOUT: Duration = Duration::from_millis(1_500);
/// How long a record found by phone (or its absence) is reused.
const RECORD_TTL: Duration = Duration::from_secs(10 * 60);
const RECORDS_KEPT: u64 = 100_000;
/// How long the list of a tenant's enabled connectors is reused by screen pops.
const ENABLED_TTL: Duration = Duration::from_secs(5);
/// A live connector unused this long is dropped (a later use builds it again).
const LIVE_IDLE: Duration = Duration::from_secs(30 * 60);

/// The key that seals credentials, found or made on first need (not at start, so a service
/// without CRM connectors never writes a key file).
struct Keyring {
    configured: Option<SecretString>,
    key_file: PathBuf,
    key: OnceCell<Arc<SecretBox>>,
}

impl Keyring {
    async fn get(&self) -> DomainResult<Arc<SecretBox>> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let configured = self.configured.as_ref().map(|s| s.expose_secret().to_owned());
                let path = self.key_file.clone();
                let opened = tokio::task::spawn_blocking(move || SecretBox::resolve(configured.as_deref(), &path))
                    .await
                    .map_err(|e| anyhow::anyhow!("opening the CRM credentials key: {e}"))?;
                opened.map(Arc::new).map_err(|e| {
                    DomainError::from(anyhow::anyhow!("the CRM credentials key ({KEY_ENV} or its key file): {e}"))
                })
            })
            .await?;
        Ok(key.clone())
    }
}

/// A live connector, built once per version of its row (so its token session and rate limiter
/// are shared by every task that uses it).
struct Live {
    connector: Arc<dyn CrmConnector>,
    timeout: Duration,
}

pub struct CrmHub {
    store: Store,
    telemetry: Telemetry,
    keys: Keyring,
    live: Cache<(i64, DateTime<Utc>), Arc<Live>>,
    enabled: Cache<String, Arc<Vec<crm_connector::Model>>>,
    records: Cache<(i64, String), Option<CrmRecord>>,
    outbox: Notify,
}

impl std::fmt::Debug for CrmHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrmHub").finish_non_exhaustive()
    }
}

impl CrmHub {
    /// `key` is `OUTDIAL_SECRET_KEY`; without it the key lives in `key_file`.
    pub fn new(store: Store, telemetry: Telemetry, key: Option<SecretString>, key_file: PathBuf) -> Self {
        CrmHub {
            store,
            telemetry,
            keys: Keyring { configured: key, key_file, key: OnceCell::new() },
            live: Cache::builder().time_to_idle(LIVE_IDLE).support_invalidation_closures().build(),
            enabled: Cache::builder().time_to_live(ENABLED_TTL).max_capacity(10_000).build(),
            records: Cache::builder()
                .time_to_live(RECORD_TTL)
                .max_capacity(RECORDS_KEPT)
                .support_invalidation_closures()
                .build(),
            outbox: Notify::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    async fn seal(&self, settings: &Settings) -> DomainResult<StoredSettings> {
        let key = self.keys.get().await?;
        Ok(StoredSettings {
            kind: settings.kind().as_str(),
            config: settings.public(),
            sealed: key.seal(&settings.credentials()).into_bytes(),
        })
    }

    fn checked(settings: Settings) -> DomainResult<Settings> {
        settings.validate().map_err(|e| DomainError::bad_input(e.field, e.to_string()))?;
        Ok(settings)
    }

    pub async fn register(
        &self,
        tenant: &TenantId,
        name: &str,
        settings: Settings,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> DomainResult<crm_connector::Model> {
        let name = checked_name(name)?;
        let stored = self.seal(&Self::checked(settings)?).await?;
        let row = self.store.crm().create_connector(tenant, &name, stored, enabled, now).await?;
        self.enabled.invalidate(tenant.as_str()).await;
        Ok(row)
    }

    pub async fn update(
        &self,
        tenant: &TenantId,
        id: i64,
        name: Option<&str>,
        enabled: Option<bool>,
        settings: Option<Settings>,
        now: DateTime<Utc>,
    ) -> DomainResult<crm_connector::Model> {
        let name = name.map(checked_name).transpose()?;
        let stored = match settings {
            Some(s) => Some(self.seal(&Self::checked(s)?).await?),
            None => None,
        };
        let row = self.store.crm().update_connector(tenant, id, name.as_deref(), enabled, stored, now).await?;
        self.forget(tenant, id).await;
        if row.enabled {
            self.outbox.notify_one();
        }
        Ok(row)
    }

    pub async fn remove(&self, tenant: &TenantId, id: i64) -> DomainResult<()> {
        self.store.crm().remove_connector(tenant, id).await?;
        self.forget(tenant, id).await;
        Ok(())
    }

    async fn forget(&self, tenant: &TenantId, id: i64) {
        self.enabled.invalidate(tenant.as_str()).await;
        // Both caches are built with invalidation closures, so these cannot fail.
        let _ = self.live.invalidate_entries_if(move |(connector, _), _| *connector == id);
        // Records found through the old settings may belong to another org now.
        let _ = self.records.invalidate_entries_if(move |(connector, _), _| *connector == id);
    }

    /// Tries the connector's credentials against its CRM.
    pub async fn test(&self, tenant: &TenantId, id: i64) -> DomainResult<Result<(), CrmError>> {
        let row = self.store.crm().connector(tenant, id).await?;
        let live = self.live(&row).await?;
        Ok(with_timeout(live.timeout, live.connector.test_credentials()).await)
    }

    /// The live connector of a row, built again when the row changed since; concurrent callers
    /// wait for one build.
    async fn live(&self, row: &crm_connector::Model) -> DomainResult<Arc<Live>> {
        self.live
            .try_get_with((row.id, row.updated_at), async {
                let settings = self.settings(row).await?;
                Ok(Arc::new(Live { connector: settings.connect(), timeout: settings.timeout }))
            })
            .await
            .map_err(|e: Arc<DomainError>| (*e).clone())
    }

    /// The stored settings of a row, credentials opened.
    async fn settings(&self, row: &crm_connector::Model) -> DomainResult<Settings> {
        let kind = CrmKind::parse(&row.kind)
            .ok_or_else(|| anyhow::anyhow!("CRM connector {} has an unknown kind {:?}", row.id, row.kind))?;
        let key = self.keys.get().await?;
        let sealed = std::str::from_utf8(&row.credentials_sealed).unwrap_or_default();
        let credentials = key.open(sealed).map_err(|e| {
            anyhow::anyhow!(
                "the credentials of CRM connector {} cannot be opened ({e}); was {KEY_ENV} changed?",
                row.id
            )
        })?;
        Settings::from_stored(kind, &row.config, &credentials)
            .map_err(|e| anyhow::anyhow!("the stored settings of CRM connector {} are unreadable: {e}", row.id).into())
    }

    /// The connector of a tenant's row by id, for the delivery worker.
    pub(crate) async fn connector(&self, tenant: &TenantId, id: i64) -> DomainResult<Arc<dyn CrmConnector>> {
        let row = self.store.crm().connector(tenant, id).await?;
        Ok(self.live(&row).await?.connector.clone())
    }

    /// The record whose phone is `e164` in the CRM of `connector`, from the cache when it was
    /// looked up lately. Concurrent lookups of one number ask the CRM once; errors are not kept.
    pub(crate) async fn find_by_phone(
        &self,
        connector_id: i64,
        connector: &Arc<dyn CrmConnector>,
        e164: &str,
        timeout: Duration,
    ) -> Result<Option<CrmRecord>, CrmError> {
        let key = (connector_id, e164.to_owned());
        let connector = connector.clone();
        let phone = e164.to_owned();
        self.records
            .try_get_with(key, async move { find_for_screen_pop(connector.as_ref(), &phone, timeout).await })
            .await
            .map_err(|e| (*e).clone())
    }

    /// The customer record for an agent's screen pop, from the tenant's first enabled connector;
    /// `None` when there is none, no match, or the CRM did not answer within `timeout`.
    pub async fn screen_pop(&self, tenant: &TenantId, e164: &str, timeout: Duration) -> Option<CrmRecord> {
        let enabled = self
            .enabled
            .try_get_with(tenant.as_str().to_owned(), async {
                self.store.crm().connectors(tenant, true).await.map(Arc::new)
            })
            .await;
        let row = match enabled {
            Ok(rows) => rows.first()?.clone(),
            Err(error) => {
                tracing::warn!(%tenant, %error, "CRM connectors could not be read for a screen pop");
                return None;
            }
        };
        let live = match self.live(&row).await {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%tenant, connector = row.id, %error, "CRM connector unusable for screen pops");
                return None;
            }
        };
        match self.find_by_phone(row.id, &live.connector, e164, timeout.min(live.timeout)).await {
            Ok(record) => record,
            Err(error) => {
                tracing::info!(%tenant, connector = row.id, %error, "screen pop went without the CRM record");
                None
            }
        }
    }

    /// Wakes the delivery worker (a disposition queued activity, a connector came back).
    pub fn outbox_ready(&self) {
        self.outbox.notify_one();
    }

    pub(crate) async fn outbox_woken(&self) {
        self.outbox.notified().await;
    }
}

/// A connector's name: 1 to 100 characters once trimmed.
fn checked_name(name: &str) -> DomainResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::bad_input("name", "a connector name has 1 to 100 characters"));
    }
    Ok(name.to_owned())
}
