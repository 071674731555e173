//! HubSpot CRM v3 connector: bearer token (private app or OAuth access token), contact search
//! by phone/mobilephone, the call logged as a call object associated with the contact and keyed
//! by our call id, PATCH contact update, 429 handling and a client-side 10-second window limiter.
//! It must not refresh OAuth tokens (the token owner does) nor retry: backoff is the outbox's.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::http::{self, clip};
use super::{CallActivity, CrmConnector, CrmError, CrmRecord, ExternalId, FieldChanges, with_timeout};

/// Association type of a call → contact (HUBSPOT_DEFINED).
pub const CALL_TO_CONTACT: u32 = 194;
const CONTACT_PROPERTIES: [&str; 6] = ["firstname", "lastname", "phone", "mobilephone", "email", "hubspot_owner_id"];

/// HubSpot's default call outcomes: label → internal GUID (`hs_call_disposition`).
pub fn default_dispositions() -> BTreeMap<String, String> {
    [
        ("Busy", "9d9162e7-6cf3-4944-bf63-4dff82258764"),
        ("Connected", "f240bbac-87c9-4f6e-bf70-924b57d47db7"),
        ("Left live message", "a4c4c377-d246-4b32-a13b-75a56a4cd0ff"),
        ("Left voicemail", "b2cf5968-551e-4856-9783-52b3da59a7d0"),
        ("No answer", "73a0d17f-1163-4015-bdd5-ec830791da20"),
        ("Wrong number", "17b47fee-58de-441e-a44c-c6300d46f273"),
    ]
    .into_iter()
    .map(|(l, g)| (l.to_owned(), g.to_owned()))
    .collect()
}

#[derive(Clone)]
pub struct HubSpotConfig {
    /// `https://api.hubapi.com`.
    pub base_url: Url,
    /// Private-app token (`pat-…`) or an OAuth access token.
    pub token: SecretString,
    /// Objects path prefix: `/crm/v3/objects` (or a date-versioned `/crm/objects/2026-03`).
    pub objects_path: String,
    pub timeout: Duration,
    /// Client-side burst limit: at most `requests_per_window` per `window` (100 / 10 s).
    pub requests_per_window: usize,
    pub window: Duration,
    /// Call property holding our call id, searched before create: `hs_call_external_id`.
    pub call_id_property: String,
    /// Our disposition label → HubSpot outcome GUID; unmapped labels are sent as they are.
    pub dispositions: BTreeMap<String, String>,
}

impl HubSpotConfig {
    pub fn new(base_url: Url, token: SecretString) -> Self {
        Self {
            base_url,
            token,
            objects_path: "/crm/v3/objects".to_owned(),
            timeout: super::DEFAULT_TIMEOUT,
            requests_per_window: 100,
            window: Duration::from_secs(10),
            call_id_property: "hs_call_external_id".to_owned(),
            dispositions: default_dispositions(),
        }
    }
}

impl fmt::Debug for HubSpotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpotConfig")
            .field("base_url", &self.base_url.as_str())
            .field("objects_path", &self.objects_path)
            .field("timeout", &self.timeout)
            .field("requests_per_window", &self.requests_per_window)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Sliding-window limiter: at most `max` request starts in any `window`.
#[derive(Debug)]
pub struct WindowLimiter {
    max: usize,
    window: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl WindowLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self { max: max.max(1), window, starts: Mutex::new(VecDeque::new()) }
    }

    /// Waits until a request may start, and records it.
    pub async fn acquire(&self) {
        loop {
            let wait_until = {
                let mut starts = self.starts.lock().await;
                let now = Instant::now();
                while starts.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    starts.pop_front();
                }
                if starts.len() < self.max {
                    starts.push_back(now);
                    return;
                }
                starts.front().map(|t| *t + self.window)
            };
            if let Some(at) = wait_until {
                tokio::time::sleep_until(at).await;
            }
        }
    }
}

pub struct HubSpot {
    http: reqwest::Client,
    cfg: HubSpotConfig,
    limiter: WindowLimiter,
}

impl fmt::Debug for HubSpot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubSpot").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

#[derive(Deserialize, Default)]
struct HsError {
    #[serde(default)]
    category: String,
    #[serde(default, rename = "policyName")]
    policy_name: String,
    #[serde(default)]
    message: String,
}

fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> CrmError {
    let e: HsError = serde_json::from_str(body).unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let interval = headers
            .get("x-hubspot-ratelimit-interval-milliseconds")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map(Duration::from_millis);
        let retry_after = http::retry_after(headers).or(match e.policy_name.as_str() {
            // The daily quota resets at the portal's midnight, which we do not know: wait an hour.
            "DAILY" => Some(Duration::from_secs(3600)),
            _ => interval.or(Some(Duration::from_secs(10))),
        });
        return CrmError::RateLimited { retry_after };
    }
    let text = if e.category.is_empty() { clip(body) } else { clip(&format!("{}: {}", e.category, e.message)) };
    http::by_status(status.as_u16(), headers, text)
}

fn record_from(v: &Value) -> Result<CrmRecord, CrmError> {
    let id =
        v.get("id").and_then(Value::as_str).ok_or_else(|| CrmError::Unavailable("object without id".to_owned()))?;
    let props: BTreeMap<String, Value> =
        v.get("properties").and_then(Value::as_object).map(|m| m.clone().into_iter().collect()).unwrap_or_default();
    let s = |k: &str| props.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let name = match (s("firstname"), s("lastname")) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.or(l),
    };
    let phone = s("phone").or_else(|| s("mobilephone"));
    Ok(CrmRecord { id: ExternalId(id.to_owned()), kind: "contact".to_owned(), name, phone, fields: props })
}

fn results(v: &Value) -> Result<Vec<CrmRecord>, CrmError> {
    let items = v.get("results").and_then(Value::as_array);
    let items = items.ok_or_else(|| CrmError::Unavailable("malformed search response".to_owned()))?;
    items.iter().map(record_from).collect()
}

/// The contact search body: `phone` OR `mobilephone` equal to the E.164 text, plus the
/// digit-normalized calculated copies for NANP numbers (4 groups ≤ HubSpot's 5).
pub fn phone_search_body(e164: &str) -> Value {
    let eq = |p: &str, v: &str| json!({"filters": [{"propertyName": p, "operator": "EQ", "value": v}]});
    let mut groups = vec![eq("phone", e164), eq("mobilephone", e164)];
    let national = super::national_digits(e164);
    if national.len() == 10 && e164.starts_with("+1") {
        groups.push(eq("hs_searchable_calculated_phone_number", &national));
        groups.push(eq("hs_searchable_calculated_mobile_number", &national));
    }
    json!({"filterGroups": groups, "properties": CONTACT_PROPERTIES, "limit": 10, "after": "0", "sorts": []})
}

impl HubSpot {
    pub fn new(cfg: HubSpotConfig) -> Self {
        let limiter = WindowLimiter::new(cfg.requests_per_window, cfg.window);
        Self { http: http::client(), cfg, limiter }
    }

    fn objects(&self, rest: &str) -> String {
        format!("{}/{}", self.cfg.objects_path.trim_end_matches('/'), rest)
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, CrmError> {
        self.limiter.acquire().await;
        let url = self.cfg.base_url.join(path).map_err(|_| CrmError::BadRequest("invalid path".to_owned()))?;
        let mut req = self.http.request(method, url).bearer_auth(self.cfg.token.expose_secret()).query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(http::transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(http::transport)?;
        if !status.is_success() {
            return Err(classify(status, &headers, &super::redact(&text, &[self.cfg.token.expose_secret()])));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| CrmError::Unavailable("malformed JSON response".to_owned()))
    }

    async fn find_call(&self, call_id: &str) -> Result<Option<ExternalId>, CrmError> {
        let prop = &self.cfg.call_id_property;
        let body = json!({
            "filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": call_id}]}],
            "properties": [prop], "limit": 1, "after": "0", "sorts": [],
        });
        let v = self.call(Method::POST, &self.objects("calls/search"), &[], Some(&body)).await?;
        let id = v.get("results").and_then(|r| r.get(0)).and_then(|r| r.get("id")).and_then(Value::as_str);
        Ok(id.map(ExternalId::from))
    }

    fn call_body(&self, a: &CallActivity) -> Value {
        let disposition = self.cfg.dispositions.get(&a.disposition).unwrap_or(&a.disposition);
        let mut props = json!({
            "hs_timestamp": a.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "hs_call_title": a.subject,
            "hs_call_body": a.notes,
            "hs_call_duration": a.duration.as_millis().to_string(),
            "hs_call_direction": "OUTBOUND",
            "hs_call_disposition": disposition,
            "hs_call_status": "COMPLETED",
            "hs_call_to_number": a.to_number,
        });
        props[self.cfg.call_id_property.as_str()] = json!(a.call_id);
        if let Some(from) = &a.from_number {
            props["hs_call_from_number"] = json!(from);
        }
        let associations: Vec<Value> = a
            .who
            .iter()
            .map(|who| {
                json!({"to": {"id": who.as_str()},
                       "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT}]})
            })
            .collect();
        json!({"properties": props, "associations": associations})
    }
}

#[async_trait]
impl CrmConnector for HubSpot {
    async fn find_by_phone(&self, e164: &str) -> Result<Option<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let body = phone_search_body(e164);
            let v = self.call(Method::POST, &self.objects("contacts/search"), &[], Some(&body)).await?;
            Ok(results(&v)?.into_iter().next())
        })
        .await
    }

    async fn get(&self, id: &ExternalId) -> Result<CrmRecord, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let path = self.objects(&format!("contacts/{id}"));
            let props = CONTACT_PROPERTIES.join(",");
            record_from(&self.call(Method::GET, &path, &[("properties", &props)], None).await?)
        })
        .await
    }

    async fn log_call(&self, activity: &CallActivity) -> Result<ExternalId, CrmError> {
        with_timeout(self.cfg.timeout, async {
            // No idempotency key on create: search our call id first. The search index lags
            // writes by seconds, so the outbox's recorded external id stays the first guard.
            if let Some(existing) = self.find_call(&activity.call_id).await? {
                return Ok(existing);
            }
            let v = self.call(Method::POST, &self.objects("calls"), &[], Some(&self.call_body(activity))).await?;
            http::created_id(&v, "call")
        })
        .await
    }

    async fn update(&self, id: &ExternalId, changes: &FieldChanges) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            let body = json!({"properties": changes});
            self.call(Method::PATCH, &self.objects(&format!("contacts/{id}")), &[], Some(&body)).await.map(|_| ())
        })
        .await
    }

    async fn search(&self, query: &str) -> Result<Vec<CrmRecord>, CrmError> {
        with_timeout(self.cfg.timeout, async {
            let body =
                json!({"query": query, "properties": CONTACT_PROPERTIES, "limit": 20, "after": "0", "sorts": []});
            results(&self.call(Method::POST, &self.objects("contacts/search"), &[], Some(&body)).await?)
        })
        .await
    }

    async fn test_credentials(&self) -> Result<(), CrmError> {
        with_timeout(self.cfg.timeout, async {
            self.call(Method::GET, &self.objects("contacts"), &[("limit", "1")], None).await.map(|_| ())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_secondly_429_without_retry_after_waits_the_interval() {
        let mut h = HeaderMap::new();
        h.insert("x-hubspot-ratelimit-interval-milliseconds", "10000".parse().unwrap());
        let body = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#;
        let e = classify(StatusCode::TOO_MANY_REQUESTS, &h, body);
        assert_eq!(e, CrmError::RateLimited { retry_after: Some(Duration::from_secs(10)) });
    }

    #[test]
    fn phone_search_ors_phone_and_mobilephone() {
        let b = phone_search_body("+14155551212");
        let groups = b["filterGroups"].as_array().unwrap();
        assert_eq!(groups.len(), 4);
        assert_eq!(groups[0]["filters"][0]["propertyName"], "phone");
        assert_eq!(groups[1]["filters"][0]["propertyName"], "mobilephone");
        assert_eq!(groups[2]["filters"][0]["value"], "4155551212");
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_holds_the_burst_to_the_window() {
        let l = WindowLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
        l.acquire().await;
        assert!(t0.elapsed() >= Duration::from_secs(10));
    }
}
