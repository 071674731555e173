//! Salesforce REST connector: OAuth 2.0 refresh-token flow (instance_url from the token
//! response, refreshed once on 401), SOSL phone lookup over Contact and Lead, the call logged
//! as a Task keyed by CallObject, PATCH updates. It must not persist tokens or retry beyond
//! the single post-refresh retry: backoff belongs to the outbox (`delivery`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use url::Url;

use super::http::{self, clip};
use super::{CallActivity, CrmConnector, CrmError, CrmRecord, ExternalId, FieldChanges, with_timeout};

const CONTACT_FIELDS: &str = "Id, Name, Phone, MobilePhone, AccountId, DoNotCall, OwnerId";
const LEAD_FIELDS: &str = "Id, Name, Phone, MobilePhone, Company, Status, DoNotCall, OwnerId";

/// How to reach one org. Secrets print as `[REDACTED]`.
#[derive(Clone)]
pub struct SalesforceConfig {
    /// `https://login.salesforce.com/services/oauth2/token`, the sandbox or My Domain one.
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    /// REST version path segment, e.g. `v62.0`.
    pub api_version: String,
    pub timeout: Duration,
    /// Task.Status picklist value for a finished call (org-specific).
    pub task_status: String,
}

impl SalesforceConfig {
    pub fn new(token_url: Url, client_id: &str, client_secret: SecretString, refresh_token: SecretString) -> Self {
        Self {
            token_url,
            client_id: client_id.to_owned(),
            client_secret,
            refresh_token,
            api_version: "v62.0".to_owned(),
            timeout: super::DEFAULT_TIMEOUT,
            task_status: "Completed".to_owned(),
        }
    }
}

impl fmt::Debug for SalesforceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceConfig")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field("api_version", &self.api_version)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A cached access token and the instance it is valid for.
struct Session {
    access_token: SecretString,
    instance_url: Url,
    /// Bumped on every refresh, so concurrent 401s refresh once.
    generation: u64,
}

pub struct Salesforce {
    http: reqwest::Client,
    cfg: SalesforceConfig,
    /// The refresh token in use (rotated when the token response carries a new one).
    refresh_token: Mutex<SecretString>,
    session: Mutex<Option<Session>>,
}

impl fmt::Debug for Salesforce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Salesforce").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: String,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct SfError {
    #[serde(default, rename = "errorCode")]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// Escapes SOSL reserved characters inside `FIND {…}`.
pub fn escape_sosl(term: &str) -> String {
    const RESERVED: &str = "?&|!{}[]()^~*:\\\"'+-";
    let mut out = String::with_capacity(term.len() * 2);
    for c in term.chars() {
        if RESERVED.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a SOQL string literal body (inside single quotes).
pub fn escape_soql(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

/// The sObject type of an id, by its key prefix (`003` Contact, `00Q` Lead).
fn sobject_of(id: &ExternalId) -> Result<&'static str, CrmError> {
    match id.as_str().get(..3) {
        Some("003") => Ok("Contact"),
        Some("00Q") => Ok("Lead"),
        _ => Err(CrmError::BadRequest("id is neither a Contact (003) nor a Lead (00Q)".to_owned())),
    }
}

/// Maps a failed response: arrays of `{errorCode, message}`; limits come as 403.
fn classify(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> CrmError {
    let first = serde_json::from_str::<Vec<SfError>>(body).ok().and_then(|v| v.into_iter().next());
    let (code, message) = first.map(|e| (e.error_code, e.message)).unwrap_or_default();
    if code == "REQUEST_LIMIT_EXCEEDED" {
        return CrmError::RateLimited { retry_after: http::retry_after(headers) };
    }
    let text = if code.is_empty() { clip(body) } else { clip(&format!("{code}: {message}")) };
    http::by_status(status.as_u16(), headers, text)
}

fn record_from(v: Value) -> Result<CrmRecord, CrmError> {
    let Value::Object(mut map) = v else {
        return Err(CrmError::Unavailable("malformed record".to_owned()));
    };
    let kind = map.remove("attributes").and_then(|a| a.get("type").and_then(Value::as_str).map(str::to_owned));
    let id = map.remove("Id").and_then(|v| v.as_str().map(str::to_owned));
    let Some(id) = id else {
        return Err(CrmError::Unavailable("record without Id".to_owned()));
    };
    let kind = kind.unwrap_or_else(|| sobject_of(&ExternalId(id.clone())).unwrap_or("Unknown").to_owned());
    let name = map.get("Name").and_then(Value::as_str).map(str::to_owned);
    let phone = ["Phone", "MobilePhone"].iter().find_map(|k| map.get(*k).and_then(Value::as_str)).map(str::to_owned);
    Ok(CrmRecord { id: ExternalId(id), kind, name, phone, fields: map.into_iter().collect() })
}

fn search_records(v: Value) -> Result<Vec<CrmRecord>, CrmError> {
    let records = match v {
        Value::Object(mut o) => o.remove("searchRecords"),
        arr @ Value::Array(_) => Some(arr), // API < v37 answered a bare array
        _ => None,
    };
    match records {
        Some(Value::Array(items)) => items.into_iter().map(record_from).collect(),
        _ => Err(CrmError::Unavailable("malformed search response".to_owned())),
    }
}

impl Salesforce {
    pub fn new(cfg: SalesforceConfig) -> Self {
        let refresh_token = Mutex::new(cfg.refresh_token.clone());
        Self { http: http::client(), cfg, refresh_token, session: Mutex::new(None) }
    }

    fn data_path(&self, rest: &str) -> String {
        format!("/services/data/{}/{}", self.cfg.api_version, rest)
    }

    /// Gets a new access token unless another task already did since `seen_generation`.
    async fn refresh(&self, seen_generation: Option<u64>) -> Result<(), CrmError> {
        let mut session = self.session.lock().await;
        if let (Some(s), Some(seen)) = (session.as_ref(), seen_generation)
            && s.generation != seen
        {
            return Ok(());
        }
        let mut refresh_token = self.refresh_token.lock().await;
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", self.cfg.client_id.as_str()),
            ("client_secret", self.cfg.client_secret.expose_secret()),
            ("format", "json"),
        ];
        let resp = self.http.post(self.cfg.token_url.clone()).form(&form).send().await.map_err(http::transport)?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(CrmError::Unavailable(format!("token endpoint HTTP {status}")));
        }
        if !status.is_success() {
            // invalid_grant / invalid_client: the grant is gone; a human must re-authorize.
            return Err(CrmError::Auth);
        }
        let token: TokenResponse =
            resp.json().await.map_err(|_| CrmError::Unavailable("malformed token response".to_owned()))?;
        let instance_url = Url::parse(&token.instance_url)
            .map_err(|_| CrmError::Unavailable("token response has no valid instance_url".to_owned()))?;
        if let Some(rotated) = token.refresh_token {
            *refresh_token = SecretString::from(rotated);
        }
        let generation = session.as_ref().map_or(0, |s| s.generation + 1);
        *session = Some(Session { access_token: SecretString::from(token.access_token), instance_url, generation });
        Ok(())
    }

    /// The current token, instance and generation, refreshing first when there is none.
    async fn current(&self) -> Result<(SecretString, Url, u64), CrmError> {
        if let Some(s) = self.session.lock().await.as_ref() {
            return Ok((s.access_token.clone(), s.instance_url.clone(), s.generation));
        }
        self.refresh(None).await?;
        let guard = self.session.lock().await;
        let s = guard.as_ref().ok_or(CrmError::Auth)?;
        Ok((s.access_token.clone(), s.instance_url.clone(), s.generation))
    }

    /// One API call: refreshes once on 401 and retries once. Returns the body (`Null` on 204).
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CrmError> {
        let mut refreshed = false;
        loop {
            let (token, instance, generation) = self.current().await?;
            let url = instance.join(path).map_err(|_| CrmError::BadRequest("invalid path".to_owned()))?;
            let mut req = self.http.request(method.clone(), url).bearer_auth(token.expose_secret()).query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(http::transport)?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                self.refresh(Some(generation)).await?;
                continue;
            }
            let headers = resp.headers().clone();
            let text = resp.text().await.map_err(http::transport)?;
            if !status.is_success() {
                let refresh = self.refresh_token.lock().await;
                let secrets = [token.expose_secret(), refresh.expose_secret(), self.cfg.client_secret.expose_secret()];
                return Err(classify(status, &headers, &super::redact(&text, &secrets)));
            }
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .map_err(|_| CrmError::Unavailable("malformed JSON response".to_owned()));
        }
    }

    async fn sosl(&self, sosl: &str) -> Result<Vec<CrmRecord>, CrmError> {
        let v = self.call(Method::GET, &self.data_path("search/"), &[("q", sosl)], None).await?;
        search_records(v)
    }

    async fn find_task_by_call_object(&self, call_id: &str) -> Result<Option<ExternalId>, CrmError> {
        let soql = format!("SELECT Id FROM Task WHERE CallObject = '{}' LIMIT 1", escape_soql(call_id));
        let v = self.call(Method::GET, &self.data_path("query/"), &[("q", &soql)], None).await?;
        let id = v.get("records").and_then(|r| r.get(0)).and_then(|r| r.get("Id")).and_then(Value::as_str);
        Ok(id.map(ExternalId::from))
    }

    fn task_body(&self, a: &CallActivity) -> Value {
        json!({
            "Subject": a.subject,
            "WhoId": a.who.as_ref().map(ExternalId::as_str),
            "ActivityDate": a.started_at.format("%Y-%m-%d").to_string(),
            "Status": self.cfg.task_status,
            "TaskSubtype": "Call",
            "CallType": "Outbound",
            "CallDurationInSeconds": a.duration.as_secs(),
            "CallDisposition": a.disposition,
            "CallObject": a.call_id,
            "Description": a.notes,
        })
    }
}

/// The SOSL that finds Contacts and Leads by phone: national digits (an E.164 `+` is reserved).
pub fn phone_sosl(e164: &str) -> String {
    format!(
        "FIND {{{}}} IN PHONE FIELDS RETURNING Contact({CONTACT_FIELDS}), Lead({LEAD_FIELDS}) LIMIT 10",
        escape_sosl(&super::national_digits(e164))
    )
}

#[async_trait]
impl CrmConnector for Salesforce {
    async fn find_by_phone(&self, e164: &str) -> Result<Option<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let records = self.sosl(&phone_sosl(e164)).await?;
            // SOSL tokenizes; keep only real matches, Contacts before Leads.
            let mut hits: Vec<_> = records
                .into_iter()
                .filter(|r| {
                    ["Phone", "MobilePhone"]
                        .iter()
                        .any(|f| r.fields.get(*f).and_then(Value::as_str).is_some_and(|p| super::phones_match(p, e164)))
                })
                .collect();
            hits.sort_by_key(|r| r.kind != "Contact");
            Ok(hits.into_iter().next())
        })
        .await
    }

    async fn get(&self, id: &ExternalId) -> Result<CrmRecord, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let path = self.data_path(&format!("sobjects/{}/{}", sobject_of(id)?, id));
            record_from(self.call(Method::GET, &path, &[], None).await?)
        })
        .await
    }

    async fn log_call(&self, activity: &CallActivity) -> Result<ExternalId, CrmError> {
        with_timeout(self.cfg.timeout, async {
            // No idempotency key in REST creates: look for our CallObject first.
            if let Some(existing) = self.find_task_by_call_object(&activity.call_id).await? {
                return Ok(existing);
            }
            let v = self
                .call(Method::POST, &self.data_path("sobjects/Task/"), &[], Some(&self.task_body(activity)))
                .await?;
            http::created_id(&v, "Task")
        })
        .await
    }

    async fn update(&self, id: &ExternalId, changes: &FieldChanges) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            let path = self.data_path(&format!("sobjects/{}/{}", sobject_of(id)?, id));
            let body = serde_json::to_value(changes).unwrap_or(Value::Null);
            self.call(Method::PATCH, &path, &[], Some(&body)).await.map(|_| ())
        })
        .await
    }

    async fn search(&self, query: &str) -> Result<Vec<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let sosl = format!(
                "FIND {{{}}} IN ALL FIELDS RETURNING Contact({CONTACT_FIELDS}), Lead({LEAD_FIELDS}) LIMIT 20",
                escape_sosl(query)
            );
            self.sosl(&sosl).await
        })
        .await
    }

    async fn test_credentials(&self) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            self.refresh(None).await?;
            self.call(Method::GET, &self.data_path("limits/"), &[], None).await.map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sosl_reserved_characters_are_escaped() {
        assert_eq!(escape_sosl("+1 (415) 555-1212"), r"\+1 \(415\) 555\-1212");
        assert_eq!(escape_sosl(r#"a?&|!{}[]^~*:\"'b"#), r#"a\?\&\|\!\{\}\[\]\^\~\*\:\\\"\'b"#);
    }

    #[test]
    fn phone_sosl_searches_national_digits_in_phone_fields() {
        let q = phone_sosl("+14155551212");
        assert!(q.starts_with("FIND {4155551212} IN PHONE FIELDS RETURNING Contact(Id, Name"), "{q}");
        assert!(q.contains("Lead(Id, Name, Phone, MobilePhone, Company"));
        assert!(phone_sosl("+442071838750").starts_with("FIND {442071838750}"));
    }

    #[test]
    fn soql_literals_are_escaped() {
        assert_eq!(escape_soql(r"a'b\c"), r"a\'b\\c");
    }

    #[test]
    fn request_limit_exceeded_is_rate_limited() {
        let body = r#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        let e = classify(StatusCode::FORBIDDEN, &Default::default(), body);
        assert_eq!(e, CrmError::RateLimited { retry_after: None });
    }
}
