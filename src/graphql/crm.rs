//! CRM in GraphQL: connectors (`registerCrmConnector`, update, remove, `testCrmConnector`; admins
//! only, credentials write-only) and the outbox's deliveries (`crmDeliveries`, retry of
//! dead-lettered ones).

use std::collections::BTreeMap;
use std::time::Duration;

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, OneofObject, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{crm_connector, crm_outbox};
use secrecy::SecretString;
use serde_json::Value;

use super::ApiState;
use super::connection::{IdConnection, connection, page_request, row_id};
use crate::auth::{Access, caller};
use crate::crm::CrmError;
use crate::crm::settings::{ConnectorSettings, CrmKind, HUBSPOT_API, SALESFORCE_LOGIN, Settings, endpoint};
use crate::crm::webhook::{LookupMapping, default_activity_template};
use crate::error::{DomainError, DomainResult};
use crate::store::crm::{DeliveryFilter, DeliveryStatus};

const DEFAULT_TIMEOUT_MS: i32 = 5_000;

/// A CRM connection of the tenant. Credentials are never returned.
#[derive(SimpleObject)]
pub struct CrmConnector {
    id: ID,
    name: String,
    kind: CrmKind,
    /// Deliveries and screen pops use it only when enabled.
    enabled: bool,
    /// The settings other than credentials (URLs, client id, limits, mappings, `timeoutMs`).
    settings: Json<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<crm_connector::Model> for CrmConnector {
    type Error = DomainError;

    fn try_from(row: crm_connector::Model) -> DomainResult<Self> {
        let kind = CrmKind::parse(&row.kind).ok_or_else(|| anyhow::anyhow!("unknown CRM kind {:?}", row.kind))?;
        Ok(CrmConnector {
            id: ID::from(row.id),
            name: row.name,
            kind,
            enabled: row.enabled,
            settings: Json(row.config),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum CrmDeliveryStatus {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// In the CRM; `externalId` is the CRM's id of the activity.
    Delivered,
    /// Given up on: `lastError` says why; `retryCrmDelivery` queues it again.
    Dead,
}

impl From<CrmDeliveryStatus> for DeliveryStatus {
    fn from(status: CrmDeliveryStatus) -> Self {
        match status {
            CrmDeliveryStatus::Pending => DeliveryStatus::Pending,
            CrmDeliveryStatus::Delivered => DeliveryStatus::Delivered,
            CrmDeliveryStatus::Dead => DeliveryStatus::Dead,
        }
    }
}

/// One call's activity on its way to one connector's CRM.
#[derive(SimpleObject)]
pub struct CrmDelivery {
    id: ID,
    connector_id: ID,
    call_id: ID,
    /// LOG_CALL.
    action: String,
    status: CrmDeliveryStatus,
    /// Attempts so far (a retry by hand starts again from 0).
    attempts: i32,
    /// When a pending delivery is tried next.
    next_attempt_at: DateTime<Utc>,
    last_error: Option<String>,
    /// The CRM's id of the activity once delivered (a Salesforce Task, a HubSpot call).
    external_id: Option<String>,
    /// What is sent: the call, its disposition, notes and numbers.
    activity: Json<Value>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
}

impl TryFrom<crm_outbox::Model> for CrmDelivery {
    type Error = DomainError;

    fn try_from(row: crm_outbox::Model) -> DomainResult<Self> {
        let status = match DeliveryStatus::parse(&row.status) {
            Some(DeliveryStatus::Pending) => CrmDeliveryStatus::Pending,
            Some(DeliveryStatus::Delivered) => CrmDeliveryStatus::Delivered,
            Some(DeliveryStatus::Dead) => CrmDeliveryStatus::Dead,
            None => return Err(anyhow::anyhow!("unknown outbox status {:?}", row.status).into()),
        };
        Ok(CrmDelivery {
            id: ID::from(row.id),
            connector_id: ID::from(row.connector_id),
            call_id: ID::from(row.call_id),
            action: row.action,
            status,
            attempts: row.attempts,
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
            external_id: row.external_id,
            activity: Json(row.payload),
            created_at: row.created_at,
            delivered_at: row.delivered_at,
        })
    }
}

/// What `testCrmConnector` found.
#[derive(SimpleObject)]
pub struct CrmTestResult {
    ok: bool,
    /// AUTH, RATE_LIMITED, NOT_FOUND, BAD_REQUEST, UNAVAILABLE or TIMEOUT when not ok.
    code: Option<String>,
    message: Option<String>,
}

impl From<Result<(), CrmError>> for CrmTestResult {
    fn from(result: Result<(), CrmError>) -> Self {
        let Err(error) = result else { return CrmTestResult { ok: true, code: None, message: None } };
        let code = match error {
            CrmError::Auth => "AUTH",
            CrmError::RateLimited { .. } => "RATE_LIMITED",
            CrmError::NotFound => "NOT_FOUND",
            CrmError::BadRequest(_) => "BAD_REQUEST",
            CrmError::Unavailable(_) => "UNAVAILABLE",
            CrmError::Timeout => "TIMEOUT",
        };
        CrmTestResult { ok: false, code: Some(code.to_owned()), message: Some(error.to_string()) }
    }
}

/// Salesforce: a connected app's OAuth 2.0 refresh-token flow.
#[derive(InputObject)]
pub struct SalesforceSettingsInput {
    /// Default `https://login.salesforce.com`; a sandbox's or My Domain's login host otherwise.
    login_url: Option<String>,
    client_id: String,
    client_secret: String,
    refresh_token: String,
    /// Default `v62.0`.
    api_version: Option<String>,
    /// Task.Status of a logged call; default `Completed`.
    task_status: Option<String>,
}

/// HubSpot: a private-app token or an OAuth access token.
#[derive(InputObject)]
pub struct HubspotSettingsInput {
    token: String,
    /// Default `https://api.hubapi.com`.
    base_url: Option<String>,
    /// Requests started per 10 s (default 100; HubSpot allows 100 to 250 by plan).
    requests_per_ten_seconds: Option<i32>,
    /// Outcome tag → HubSpot call outcome GUID, on top of HubSpot's default outcomes.
    dispositions: Option<Json<BTreeMap<String, String>>>,
}

/// Any other CRM: signed HTTPS requests (HMAC-SHA256 over timestamp and body).
#[derive(InputObject)]
pub struct WebhookSettingsInput {
    /// The CRM endpoint's base URL; lookups go to `lookup`, `get`, `search`, activities to
    /// `activities` under it. Kept sealed with the secret.
    url: String,
    secret: String,
    /// JSON pointers to the record's fields in the CRM's answers (`record`, `records`, `id`,
    /// `name`, `phone`, `fields`, `activityId`).
    mapping: Option<Json<Value>>,
    /// The activity body; string leaves like `{{call_id}}` are filled in.
    activity_template: Option<Json<Value>>,
}

#[derive(OneofObject)]
pub enum CrmSettingsInput {
    Salesforce(SalesforceSettingsInput),
    Hubspot(HubspotSettingsInput),
    Webhook(WebhookSettingsInput),
}

#[derive(InputObject)]
pub struct RegisterCrmConnectorInput {
    name: String,
    settings: CrmSettingsInput,
    #[graphql(default = true)]
    enabled: bool,
    /// Timeout of each CRM call, 500 to 30000 ms (default 5000).
    timeout_ms: Option<i32>,
}

/// What to change; `settings` replace the old ones whole, credentials included.
#[derive(InputObject)]
pub struct UpdateCrmConnectorInput {
    name: Option<String>,
    enabled: Option<bool>,
    settings: Option<CrmSettingsInput>,
    /// Goes with `settings`.
    timeout_ms: Option<i32>,
}

fn url(field: &'static str, given: Option<String>, default: &str) -> DomainResult<url::Url> {
    endpoint(field, given.as_deref().unwrap_or(default)).map_err(|e| DomainError::bad_input(field, e.to_string()))
}

fn settings(input: CrmSettingsInput, timeout_ms: Option<i32>) -> DomainResult<Settings> {
    let millis = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    let timeout = Duration::from_millis(u64::try_from(millis).unwrap_or(0));
    let connector = match input {
        CrmSettingsInput::Salesforce(s) => ConnectorSettings::Salesforce {
            login_url: url("loginUrl", s.login_url, SALESFORCE_LOGIN)?,
            client_id: s.client_id.trim().to_owned(),
            client_secret: SecretString::from(s.client_secret),
            refresh_token: SecretString::from(s.refresh_token),
            api_version: s.api_version.unwrap_or_else(|| "v62.0".to_owned()),
            task_status: s.task_status.unwrap_or_else(|| "Completed".to_owned()),
        },
        CrmSettingsInput::Hubspot(h) => ConnectorSettings::Hubspot {
            base_url: url("baseUrl", h.base_url, HUBSPOT_API)?,
            token: SecretString::from(h.token),
            requests_per_window: usize::try_from(h.requests_per_ten_seconds.unwrap_or(100)).unwrap_or(0),
            dispositions: h.dispositions.map(|d| d.0).unwrap_or_default(),
        },
        CrmSettingsInput::Webhook(w) => ConnectorSettings::Webhook {
            url: url("url", Some(w.url), "")?,
            secret: SecretString::from(w.secret),
            mapping: match w.mapping {
                Some(Json(m)) => serde_json::from_value::<LookupMapping>(m)
                    .map_err(|e| DomainError::bad_input("mapping", format!("mapping: {e}")))?,
                None => LookupMapping::default(),
            },
            activity_template: w.activity_template.map(|t| t.0).unwrap_or_else(default_activity_template),
        },
    };
    Ok(Settings { timeout, connector })
}

#[derive(Default)]
pub struct CrmQuery;

#[Object]
impl CrmQuery {
    /// The tenant's CRM connectors, oldest first (the first enabled one fills screen pops).
    #[graphql(guard = "Access::Staff")]
    async fn crm_connectors(&self, ctx: &Context<'_>) -> DomainResult<Vec<CrmConnector>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        api.store.crm().connectors(&caller.tenant, false).await?.into_iter().map(CrmConnector::try_from).collect()
    }

    #[graphql(guard = "Access::Staff")]
    async fn crm_connector(&self, ctx: &Context<'_>, id: ID) -> DomainResult<CrmConnector> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        api.store.crm().connector(&caller.tenant, row_id(&id, "CRM connector")?).await?.try_into()
    }

    /// Call activities on their way to the CRMs, oldest first; filter by status, connector or call.
    #[graphql(guard = "Access::Staff")]
    #[allow(clippy::too_many_arguments)]
    async fn crm_deliveries(
        &self,
        ctx: &Context<'_>,
        status: Option<CrmDeliveryStatus>,
        connector_id: Option<ID>,
        call_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<CrmDelivery>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let request = page_request(ctx, first, after)?;
        let filter = DeliveryFilter {
            status: status.map(Into::into),
            connector: connector_id.map(|id| row_id(&id, "CRM connector")).transpose()?,
            call: call_id.map(|id| row_id(&id, "call")).transpose()?,
        };
        let page = api.store.crm().deliveries(&caller.tenant, &filter, request).await?;
        connection(page, request.after.is_some(), |d| d.id, CrmDelivery::try_from)
    }
}

#[derive(Default)]
pub struct CrmMutation;

#[Object]
impl CrmMutation {
    /// Connects a CRM: settings are checked, credentials sealed (AES-256-GCM) and never shown
    /// again. Every later disposition is queued for each enabled connector.
    #[graphql(guard = "Access::Admin")]
    async fn register_crm_connector(
        &self,
        ctx: &Context<'_>,
        input: RegisterCrmConnectorInput,
    ) -> DomainResult<CrmConnector> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let settings = settings(input.settings, input.timeout_ms)?;
        let row = api.crm.register(&caller.tenant, &input.name, settings, input.enabled, api.clock.now()).await?;
        row.try_into()
    }

    #[graphql(guard = "Access::Admin")]
    async fn update_crm_connector(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCrmConnectorInput,
    ) -> DomainResult<CrmConnector> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let settings = match (input.settings, input.timeout_ms) {
            (Some(s), timeout) => Some(settings(s, timeout)?),
            (None, Some(_)) => return Err(DomainError::bad_input("timeoutMs", "timeoutMs goes with settings")),
            (None, None) => None,
        };
        let id = row_id(&id, "CRM connector")?;
        let now = api.clock.now();
        let row = api.crm.update(&caller.tenant, id, input.name.as_deref(), input.enabled, settings, now).await?;
        row.try_into()
    }

    /// Removes a connector and its delivery history (refused while deliveries are pending).
    #[graphql(guard = "Access::Admin")]
    async fn remove_crm_connector(&self, ctx: &Context<'_>, id: ID) -> DomainResult<ID> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        api.crm.remove(&caller.tenant, row_id(&id, "CRM connector")?).await?;
        Ok(id)
    }

    /// Tries the connector's credentials against its CRM now.
    #[graphql(guard = "Access::Admin")]
    async fn test_crm_connector(&self, ctx: &Context<'_>, id: ID) -> DomainResult<CrmTestResult> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        Ok(api.crm.test(&caller.tenant, row_id(&id, "CRM connector")?).await?.into())
    }

    /// Queues a dead-lettered delivery again, with a fresh count of attempts.
    #[graphql(guard = "Access::Staff")]
    async fn retry_crm_delivery(&self, ctx: &Context<'_>, id: ID) -> DomainResult<CrmDelivery> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let row = api.store.crm().requeue(&caller.tenant, row_id(&id, "CRM delivery")?, api.clock.now()).await?;
        api.crm.outbox_ready();
        row.try_into()
    }

    /// Queues every dead-lettered delivery of a connector again (after its credentials are
    /// fixed); returns how many.
    #[graphql(guard = "Access::Staff")]
    async fn retry_dead_crm_deliveries(&self, ctx: &Context<'_>, connector_id: ID) -> DomainResult<i32> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let id = row_id(&connector_id, "CRM connector")?;
        let count = api.store.crm().requeue_dead(&caller.tenant, id, api.clock.now()).await?;
        api.crm.outbox_ready();
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}
