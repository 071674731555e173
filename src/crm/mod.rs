//! CRM integration: the `CrmConnector` trait, its domain types and typed errors, the Salesforce,
//! HubSpot and signed-webhook adapters and their settings (none of which know the database or
//! GraphQL), and the two shells that do: `hub` (registered connectors, screen-pop lookups) and
//! `outbox` (the delivery worker).

pub mod delivery;
mod http;
pub mod hub;
pub mod hubspot;
pub mod outbox;
pub mod salesforce;
pub mod secrets;
pub mod settings;
pub mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Default timeout of every connector call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The CRM's own id of a record or activity (Salesforce `003…`/`00Q…`/`00T…`, HubSpot `501`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalId(pub String);

impl ExternalId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for ExternalId {
    fn from(s: &str) -> Self {
        ExternalId(s.to_owned())
    }
}

/// A customer record as the agent sees it on screen pop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmRecord {
    pub id: ExternalId,
    /// The CRM's object type: `Contact`, `Lead`, `contact`, or whatever a webhook CRM says.
    pub kind: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Every other field the CRM returned, as JSON.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// One finished call, as it is written to the CRM (and to the outbox before that).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallActivity {
    /// Our call id (the Telnyx call_session_id): the idempotency key in every CRM.
    pub call_id: String,
    /// The person called (Salesforce WhoId, HubSpot contact id); looked up by phone when absent.
    pub who: Option<ExternalId>,
    pub started_at: DateTime<Utc>,
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    /// Our disposition label (`Connected`, `No answer`, …); connectors map it as configured.
    pub disposition: String,
    pub subject: String,
    pub notes: String,
    pub from_number: Option<String>,
    pub to_number: String,
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Fields to change on a record: CRM field name → new value (only the fields to change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldChanges(pub serde_json::Map<String, serde_json::Value>);

impl FieldChanges {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, field: &str, value: impl Into<serde_json::Value>) -> Self {
        self.0.insert(field.to_owned(), value.into());
        self
    }
}

/// What went wrong, by what the caller can do about it. No variant ever carries a token, a
/// secret or a header: messages are built from the CRM's error code and message only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// The credentials were rejected or lack permission; retrying will not help.
    #[error("CRM rejected the credentials")]
    Auth,
    /// The CRM asked us to slow down; wait at least `retry_after` when given.
    #[error("CRM rate limit reached (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    #[error("CRM record not found")]
    NotFound,
    /// The CRM refused the request itself (bad field, validation); retrying will not help.
    #[error("CRM refused the request: {0}")]
    BadRequest(String),
    /// The CRM is down, overloaded or answered something unreadable; retry later.
    #[error("CRM unavailable: {0}")]
    Unavailable(String),
    #[error("CRM call timed out")]
    Timeout,
}

/// Removes every occurrence of the given secrets from a body the CRM sent back, before any
/// of it reaches an error (some CRMs echo request headers in error bodies).
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(*s, "[REDACTED]");
    }
    out
}

/// One CRM, whatever its API. Object safe: held as `Arc<dyn CrmConnector>`.
/// Every method is bounded by the connector's configured timeout (default 5 s).
#[async_trait]
pub trait CrmConnector: Send + Sync + fmt::Debug {
    /// The record whose phone matches this E.164 number, if any.
    async fn find_by_phone(&self, e164: &str) -> Result<Option<CrmRecord>, CrmError>;
    async fn get(&self, id: &ExternalId) -> Result<CrmRecord, CrmError>;
    /// Logs the call idempotently: a second call with the same `call_id` returns the first id.
    async fn log_call(&self, activity: &CallActivity) -> Result<ExternalId, CrmError>;
    async fn update(&self, id: &ExternalId, changes: &FieldChanges) -> Result<(), CrmError>;
    async fn search(&self, query: &str) -> Result<Vec<CrmRecord>, CrmError>;
    /// Proves the credentials work (used by `testCrmConnector`).
    async fn test_credentials(&self) -> Result<(), CrmError>;
}

/// Screen-pop lookup with the caller's (short) timeout, on top of the connector's own.
pub async fn find_for_screen_pop(
    connector: &dyn CrmConnector,
    e164: &str,
    timeout: Duration,
) -> Result<Option<CrmRecord>, CrmError> {
    with_timeout(timeout, connector.find_by_phone(e164)).await
}

/// Bounds a CRM operation; an elapsed deadline is `CrmError::Timeout`.
pub async fn with_timeout<T>(timeout: Duration, fut: impl Future<Output = Result<T, CrmError>>) -> Result<T, CrmError> {
    tokio::time::timeout(timeout, fut).await.unwrap_or(Err(CrmError::Timeout))
}

/// Digits only, for phone comparisons.
pub(crate) fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// National significant number of a NANP (+1) number; other countries keep all their digits
/// because we carry no country-code table here.
pub(crate) fn national_digits(e164: &str) -> String {
    let d = digits(e164);
    match d.strip_prefix('1') {
        Some(rest) if e164.starts_with("+1") && rest.len() == 10 => rest.to_owned(),
        _ => d,
    }
}

/// True when two phone strings denote the same number: one digit string ends with the other,
/// and the shorter has at least 7 digits (stored numbers often lack the country code).
pub(crate) fn phones_match(a: &str, b: &str) -> bool {
    let (da, db) = (digits(a), digits(b));
    let (short, long) = if da.len() <= db.len() { (&da, &db) } else { (&db, &da) };
    short.len() >= 7 && long.ends_with(short.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_match_ignores_format_and_country_code() {
        assert!(phones_match("(415) 555-1212", "+14155551212"));
        assert!(phones_match("+14155551212", "+1 415 555 1212"));
        assert!(!phones_match("555-1212", "+14155551213"));
        assert!(!phones_match("12", "+14155551212"));
    }

    #[test]
    fn national_digits_strips_nanp_country_code_only() {
        assert_eq!(national_digits("+14155551212"), "4155551212");
        assert_eq!(national_digits("+442071838750"), "442071838750");
    }
}
