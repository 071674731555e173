//! Custom HTTPS webhook connector for any other CRM: every request is a JSON POST signed with
//! HMAC-SHA256 over `timestamp + "." + body`; lookup responses are read through configured JSON
//! pointers and activities are rendered from a JSON template. It must not retry (the outbox
//! does) nor put the URL or secret into errors.
//!
//! Contract (paths relative to `base_url`), each answering 2xx JSON, 404 for "no such record":
//! `POST lookup {"phone"}`, `POST get {"id"}`, `POST search {"query"}` (records at
//! `mapping.records`), `POST activities <template>` (id at `mapping.activity_id`; the receiver
//! dedupes on the `Idempotency-Key` header = our call id), `POST update {"id","changes"}`,
//! `POST test {}`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sha2::Sha256;
use url::Url;

use super::http::{self, clip};
use super::{CallActivity, CrmConnector, CrmError, CrmRecord, ExternalId, FieldChanges, with_timeout};

pub const TIMESTAMP_HEADER: &str = "X-Outdial-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Outdial-Signature";

type HmacSha256 = Hmac<Sha256>;

/// Where the fields of a record sit in the CRM's JSON (RFC 6901 pointers). As JSON, a missing
/// key takes its default.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LookupMapping {
    /// Pointer to the record inside a lookup/get response (`""` = the whole body).
    pub record: String,
    /// Pointer to the array of records inside a search response.
    pub records: String,
    pub id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Our field name → pointer inside the record.
    pub fields: BTreeMap<String, String>,
    /// Pointer to the created activity's id in the activities response.
    pub activity_id: String,
}

impl Default for LookupMapping {
    fn default() -> Self {
        Self {
            record: String::new(),
            records: "/records".to_owned(),
            id: "/id".to_owned(),
            name: Some("/name".to_owned()),
            phone: Some("/phone".to_owned()),
            fields: BTreeMap::new(),
            activity_id: "/id".to_owned(),
        }
    }
}

#[derive(Clone)]
pub struct WebhookConfig {
    /// HTTPS base URL of the customer's endpoint (plain http only for local tests).
    pub base_url: Url,
    pub secret: SecretString,
    pub timeout: Duration,
    pub mapping: LookupMapping,
    /// The activity body; string leaves `{{name}}` are filled in (see `render_activity`).
    pub activity_template: Value,
}

impl WebhookConfig {
    pub fn new(base_url: Url, secret: SecretString) -> Self {
        Self {
            base_url,
            secret,
            timeout: super::DEFAULT_TIMEOUT,
            mapping: LookupMapping::default(),
            activity_template: default_activity_template(),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a key in its query, so only the host is shown.
        f.debug_struct("WebhookConfig")
            .field("host", &self.base_url.host_str())
            .field("timeout", &self.timeout)
            .field("mapping", &self.mapping)
            .finish_non_exhaustive()
    }
}

pub fn default_activity_template() -> Value {
    json!({
        "call_id": "{{call_id}}", "who_id": "{{who_id}}", "started_at": "{{started_at}}",
        "duration_seconds": "{{duration_seconds}}", "disposition": "{{disposition}}",
        "subject": "{{subject}}", "notes": "{{notes}}",
        "from_number": "{{from_number}}", "to_number": "{{to_number}}",
    })
}

/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Receiver-side check (also for customers' docs and tests): constant-time comparison and a
/// timestamp within `tolerance` of `now` (unix seconds) against replays.
pub fn verify(secret: &[u8], timestamp: &str, signature: &str, body: &[u8], now: i64, tolerance: Duration) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if now.abs_diff(ts) > tolerance.as_secs() {
        return false;
    }
    let Some(Ok(sig)) = signature.strip_prefix("v1=").map(hex::decode) else { return false };
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// Fills the template: a leaf that is exactly `{{name}}` takes the typed value (a number for
/// `duration_seconds`, null for an absent `who_id`); `{{name}}` inside longer text is replaced
/// as text. Unknown names are left as they are.
pub fn render_activity(template: &Value, a: &CallActivity) -> Value {
    let values: BTreeMap<&str, Value> = BTreeMap::from([
        ("call_id", json!(a.call_id)),
        ("who_id", json!(a.who.as_ref().map(ExternalId::as_str))),
        ("started_at", json!(a.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
        ("duration_seconds", json!(a.duration.as_secs())),
        ("disposition", json!(a.disposition)),
        ("subject", json!(a.subject)),
        ("notes", json!(a.notes)),
        ("from_number", json!(a.from_number)),
        ("to_number", json!(a.to_number)),
    ]);
    render(template, &values)
}

fn render(v: &Value, values: &BTreeMap<&str, Value>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}"))
                && let Some(val) = values.get(name.trim())
            {
                return val.clone();
            }
            let mut out = s.clone();
            for (name, val) in values {
                let text = match val {
                    Value::String(t) => t.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out = out.replace(&format!("{{{{{name}}}}}"), &text);
            }
            Value::String(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| render(i, values)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, i)| (k.clone(), render(i, values))).collect()),
        other => other.clone(),
    }
}

pub struct Webhook {
    http: reqwest::Client,
    cfg: WebhookConfig,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(cfg: WebhookConfig) -> Self {
        Self { http: http::client(), cfg }
    }

    /// Signed POST; `Ok(None)` on 404.
    async fn post(&self, action: &str, body: &Value, idempotency_key: Option<&str>) -> Result<Option<Value>, CrmError> {
        let mut base = self.cfg.base_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let url = base.join(action).map_err(|_| CrmError::BadRequest("invalid webhook URL".to_owned()))?;
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let ts = chrono::Utc::now().timestamp();
        let signature = sign(self.cfg.secret.expose_secret().as_bytes(), ts, &bytes);
        let mut req = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(bytes);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let resp = req.send().await.map_err(http::transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(http::transport)?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let secret = self.cfg.secret.expose_secret();
            return Err(http::by_status(status.as_u16(), &headers, clip(&super::redact(&text, &[secret]))));
        }
        if text.trim().is_empty() {
            return Ok(Some(Value::Null));
        }
        serde_json::from_str(&text).map(Some).map_err(|_| CrmError::Unavailable("malformed JSON response".to_owned()))
    }

    fn record_from(&self, v: &Value) -> Result<Option<CrmRecord>, CrmError> {
        let m = &self.cfg.mapping;
        let Some(rec) = v.pointer(&m.record).filter(|r| !r.is_null()) else { return Ok(None) };
        let text = |p: &str| {
            rec.pointer(p).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
        };
        let id =
            text(&m.id).ok_or_else(|| CrmError::Unavailable("record without id at the mapped pointer".to_owned()))?;
        let fields = m.fields.iter().filter_map(|(k, p)| rec.pointer(p).map(|v| (k.clone(), v.clone()))).collect();
        Ok(Some(CrmRecord {
            id: ExternalId(id),
            kind: "record".to_owned(),
            name: m.name.as_deref().and_then(text),
            phone: m.phone.as_deref().and_then(text),
            fields,
        }))
    }
}

#[async_trait]
impl CrmConnector for Webhook {
    async fn find_by_phone(&self, e164: &str) -> Result<Option<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            match self.post("lookup", &json!({"phone": e164}), None).await? {
                Some(v) => self.record_from(&v),
                None => Ok(None),
            }
        })
        .await
    }

    async fn get(&self, id: &ExternalId) -> Result<CrmRecord, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let v = self.post("get", &json!({"id": id}), None).await?.ok_or(CrmError::NotFound)?;
            self.record_from(&v)?.ok_or(CrmError::NotFound)
        })
        .await
    }

    async fn log_call(&self, activity: &CallActivity) -> Result<ExternalId, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let body = render_activity(&self.cfg.activity_template, activity);
            let v = self.post("activities", &body, Some(&activity.call_id)).await?.ok_or(CrmError::NotFound)?;
            match v.pointer(&self.cfg.mapping.activity_id) {
                Some(Value::String(s)) => Ok(ExternalId(s.clone())),
                Some(Value::Number(n)) => Ok(ExternalId(n.to_string())),
                _ => Err(CrmError::Unavailable("activity response without id at the mapped pointer".to_owned())),
            }
        })
        .await
    }

    async fn update(&self, id: &ExternalId, changes: &FieldChanges) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            self.post("update", &json!({"id": id, "changes": changes}), None)
                .await?
                .ok_or(CrmError::NotFound)
                .map(|_| ())
        })
        .await
    }

    async fn search(&self, query: &str) -> Result<Vec<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let Some(v) = self.post("search", &json!({"query": query}), None).await? else { return Ok(Vec::new()) };
            let items = v.pointer(&self.cfg.mapping.records).and_then(Value::as_array).cloned().unwrap_or_default();
            let mut out = Vec::with_capacity(items.len());
            for item in &items {
                out.extend(self.record_from(item)?);
            }
            Ok(out)
        })
        .await
    }

    async fn test_credentials(&self) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            self.post("test", &json!({}), None).await?.ok_or(CrmError::NotFound).map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_rejects_changes() {
        let body = br#"{"phone":"+14155551212"}"#;
        let sig = sign(b"shh", 1_700_000_000, body);
        let tol = Duration::from_secs(300);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64);
        assert!(verify(b"shh", "1700000000", &sig, body, 1_700_000_010, tol));
        assert!(!verify(b"other", "1700000000", &sig, body, 1_700_000_010, tol));
        assert!(!verify(b"shh", "1700000001", &sig, body, 1_700_000_010, tol));
        assert!(!verify(b"shh", "1700000000", &sig, b"{}", 1_700_000_010, tol));
        assert!(!verify(b"shh", "1700000000", &sig, body, 1_700_001_000, tol), "stale timestamp");
    }

    #[test]
    fn template_fills_typed_and_inline_values() {
        let a = CallActivity {
            call_id: "c-1".into(),
            who: None,
            started_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            duration: Duration::from_secs(125),
            disposition: "Connected".into(),
            subject: "Outbound call".into(),
            notes: "n".into(),
            from_number: None,
            to_number: "+14155551212".into(),
        };
        let t = json!({"ext": "{{call_id}}", "secs": "{{duration_seconds}}", "who": "{{who_id}}",
                       "title": "Call {{call_id}} ({{disposition}})", "fixed": 3, "unknown": "{{nope}}"});
        let v = render_activity(&t, &a);
        assert_eq!(
            v,
            json!({"ext": "c-1", "secs": 125, "who": null, "title": "Call c-1 (Connected)", "fixed": 3, "unknown": "{{nope}}"})
        );
    }
}
