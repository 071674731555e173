//! A connector's settings: validated, split into what is shown back to admins (stored as JSON in
//! the clear) and the credentials (stored sealed, never shown), joined again from those two
//! halves, and turned into a live connector. It must not know the database or GraphQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;
use zeroize::Zeroizing;

use super::CrmConnector;
use super::hubspot::{HubSpot, HubSpotConfig};
use super::salesforce::{Salesforce, SalesforceConfig};
use super::webhook::{LookupMapping, Webhook, WebhookConfig, default_activity_template};

/// Salesforce production login (a sandbox uses `https://test.salesforce.com`, an org's My Domain
/// its own host).
pub const SALESFORCE_LOGIN: &str = "https://login.salesforce.com";
pub const HUBSPOT_API: &str = "https://api.hubapi.com";
/// Allowed per-call timeouts, in milliseconds.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 500..=30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CrmKind {
    Salesforce,
    Hubspot,
    Webhook,
}

impl CrmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrmKind::Salesforce => "SALESFORCE",
            CrmKind::Hubspot => "HUBSPOT",
            CrmKind::Webhook => "WEBHOOK",
        }
    }

    pub fn parse(text: &str) -> Option<CrmKind> {
        [CrmKind::Salesforce, CrmKind::Hubspot, CrmKind::Webhook].into_iter().find(|k| k.as_str() == text)
    }
}

/// What a connector needs to reach its CRM. Secrets print as `[REDACTED]`.
#[derive(Debug, Clone)]
pub enum ConnectorSettings {
    Salesforce {
        /// Where the OAuth token endpoint lives (`/services/oauth2/token` is appended).
        login_url: Url,
        client_id: String,
        client_secret: SecretString,
        refresh_token: SecretString,
        api_version: String,
        /// Task.Status picklist value for a finished call.
        task_status: String,
    },
    Hubspot {
        base_url: Url,
        token: SecretString,
        /// Client-side burst limit per 10 s (HubSpot's window).
        requests_per_window: usize,
        /// Our outcome tag → HubSpot call outcome GUID; unmapped tags go as written.
        dispositions: BTreeMap<String, String>,
    },
    Webhook {
        /// Sealed with the secret: a customer's URL may carry a key in its query.
        url: Url,
        secret: SecretString,
        mapping: LookupMapping,
        activity_template: Value,
    },
}

/// A connector's settings and the timeout of each of its calls.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub connector: ConnectorSettings,
}

/// Why settings are refused; the message never repeats a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { field, message: message.into() }
}

/// An endpoint URL: HTTPS, or plain HTTP to this machine only (local fakes and tests).
pub fn endpoint(field: &'static str, text: &str) -> Result<Url, Invalid> {
    let url = Url::parse(text.trim()).map_err(|_| invalid(field, "not a valid URL"))?;
    check_endpoint(field, &url)?;
    Ok(url)
}

fn check_endpoint(field: &'static str, url: &Url) -> Result<(), Invalid> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(invalid(field, "must be an https:// URL")),
    }
}

fn check_secret(field: &'static str, value: &SecretString) -> Result<(), Invalid> {
    if value.expose_secret().trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(())
}

impl Settings {
    /// Checks what a live connector cannot check itself (URLs, empty secrets, ranges).
    pub fn validate(&self) -> Result<(), Invalid> {
        let millis = self.timeout.as_millis() as u64;
        if !TIMEOUT_MS.contains(&millis) {
            return Err(invalid("timeoutMs", format!("must be {} to {} ms", TIMEOUT_MS.start(), TIMEOUT_MS.end())));
        }
        match &self.connector {
            ConnectorSettings::Salesforce {
                login_url, client_id, client_secret, refresh_token, api_version, ..
            } => {
                if client_id.trim().is_empty() {
                    return Err(invalid("clientId", "must not be empty"));
                }
                if api_version.strip_prefix('v').is_none_or(|v| v.parse::<f32>().is_err()) {
                    return Err(invalid("apiVersion", "must look like v62.0"));
                }
                check_endpoint("loginUrl", login_url)?;
                check_secret("clientSecret", client_secret)?;
                check_secret("refreshToken", refresh_token)
            }
            ConnectorSettings::Hubspot { base_url, token, requests_per_window, .. } => {
                // 250 per 10 s is HubSpot's largest burst allowance (with the API limit pack).
                if !(1..=250).contains(requests_per_window) {
                    return Err(invalid("requestsPerTenSeconds", "must be 1 to 250"));
                }
                check_endpoint("baseUrl", base_url)?;
                check_secret("token", token)
            }
            ConnectorSettings::Webhook { url, secret, activity_template, .. } => {
                if !activity_template.is_object() {
                    return Err(invalid("activityTemplate", "must be a JSON object"));
                }
                check_endpoint("url", url)?;
                check_secret("secret", secret)
            }
        }
    }

    pub fn kind(&self) -> CrmKind {
        match self.connector {
            ConnectorSettings::Salesforce { .. } => CrmKind::Salesforce,
            ConnectorSettings::Hubspot { .. } => CrmKind::Hubspot,
            ConnectorSettings::Webhook { .. } => CrmKind::Webhook,
        }
    }

    /// The part shown back to admins (no secret, no webhook URL beyond its host).
    pub fn public(&self) -> Value {
        let timeout_ms = self.timeout.as_millis() as u64;
        match &self.connector {
            ConnectorSettings::Salesforce { login_url, client_id, api_version, task_status, .. } => json!({
                "timeoutMs": timeout_ms, "loginUrl": login_url.as_str(), "clientId": client_id,
                "apiVersion": api_version, "taskStatus": task_status,
            }),
            ConnectorSettings::Hubspot { base_url, requests_per_window, dispositions, .. } => json!({
                "timeoutMs": timeout_ms, "baseUrl": base_url.as_str(), "requestsPerTenSeconds": requests_per_window,
                "dispositions": dispositions,
            }),
            ConnectorSettings::Webhook { url, mapping, activity_template, .. } => json!({
                "timeoutMs": timeout_ms, "host": url.host_str(), "mapping": mapping,
                "activityTemplate": activity_template,
            }),
        }
    }

    /// The credentials as JSON bytes, to be sealed.
    pub fn credentials(&self) -> Zeroizing<Vec<u8>> {
        let value = match &self.connector {
            ConnectorSettings::Salesforce { client_secret, refresh_token, .. } => json!({
                "clientSecret": client_secret.expose_secret(), "refreshToken": refresh_token.expose_secret(),
            }),
            ConnectorSettings::Hubspot { token, .. } => json!({ "token": token.expose_secret() }),
            ConnectorSettings::Webhook { url, secret, .. } => json!({
                "url": url.as_str(), "secret": secret.expose_secret(),
            }),
        };
        Zeroizing::new(serde_json::to_vec(&value).unwrap_or_default())
    }

    /// Joins the two stored halves again.
    pub fn from_stored(kind: CrmKind, public: &Value, credentials: &[u8]) -> Result<Settings, Invalid> {
        let creds: Value = serde_json::from_slice(credentials).map_err(|_| invalid("credentials", "unreadable"))?;
        let text = |v: &Value, key: &'static str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let need = |v: &Value, key: &'static str| text(v, key).ok_or_else(|| invalid(key, "missing"));
        let hidden = |key: &'static str| need(&creds, key).map(SecretString::from);
        let url = |key: &'static str| endpoint(key, &need(public, key)?);
        let timeout = Duration::from_millis(public.get("timeoutMs").and_then(Value::as_u64).unwrap_or(5_000));
        let connector = match kind {
            CrmKind::Salesforce => ConnectorSettings::Salesforce {
                login_url: url("loginUrl")?,
                client_id: need(public, "clientId")?,
                client_secret: hidden("clientSecret")?,
                refresh_token: hidden("refreshToken")?,
                api_version: need(public, "apiVersion")?,
                task_status: need(public, "taskStatus")?,
            },
            CrmKind::Hubspot => ConnectorSettings::Hubspot {
                base_url: url("baseUrl")?,
                token: hidden("token")?,
                requests_per_window: public.get("requestsPerTenSeconds").and_then(Value::as_u64).unwrap_or(100)
                    as usize,
                dispositions: serde_json::from_value(public.get("dispositions").cloned().unwrap_or_default())
                    .unwrap_or_default(),
            },
            CrmKind::Webhook => ConnectorSettings::Webhook {
                url: endpoint("url", &need(&creds, "url")?)?,
                secret: hidden("secret")?,
                mapping: serde_json::from_value(public.get("mapping").cloned().unwrap_or_default())
                    .map_err(|e| invalid("mapping", e.to_string()))?,
                activity_template: public.get("activityTemplate").cloned().unwrap_or_else(default_activity_template),
            },
        };
        Ok(Settings { timeout, connector })
    }

    /// A live connector with these settings.
    pub fn connect(&self) -> Arc<dyn CrmConnector> {
        match &self.connector {
            ConnectorSettings::Salesforce {
                login_url,
                client_id,
                client_secret,
                refresh_token,
                api_version,
                task_status,
            } => {
                let mut token_url = login_url.clone();
                token_url.set_path("/services/oauth2/token");
                let mut cfg = SalesforceConfig::new(token_url, client_id, client_secret.clone(), refresh_token.clone());
                cfg.api_version = api_version.clone();
                cfg.task_status = task_status.clone();
                cfg.timeout = self.timeout;
                Arc::new(Salesforce::new(cfg))
            }
            ConnectorSettings::Hubspot { base_url, token, requests_per_window, dispositions } => {
                let mut cfg = HubSpotConfig::new(base_url.clone(), token.clone());
                cfg.requests_per_window = *requests_per_window;
                cfg.dispositions.extend(dispositions.clone());
                cfg.timeout = self.timeout;
                Arc::new(HubSpot::new(cfg))
            }
            ConnectorSettings::Webhook { url, secret, mapping, activity_template } => {
                let mut cfg = WebhookConfig::new(url.clone(), secret.clone());
                cfg.mapping = mapping.clone();
                cfg.activity_template = activity_template.clone();
                cfg.timeout = self.timeout;
                Arc::new(Webhook::new(cfg))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salesforce(login: &str) -> Settings {
        Settings {
            timeout: Duration::from_secs(5),
            connector: ConnectorSettings::Salesforce {
                login_url: Url::parse(login).unwrap(),
                client_id: "3MVG9".into(),
                client_secret: SecretString::from("cs-secret-value"),
                refresh_token: SecretString::from("rt-secret-value"),
                api_version: "v62.0".into(),
                task_status: "Completed".into(),
            },
        }
    }

    fn webhook(url: &str) -> Settings {
        Settings {
            timeout: Duration::from_secs(2),
            connector: ConnectorSettings::Webhook {
                url: Url::parse(url).unwrap(),
                secret: SecretString::from("hmac-secret-value"),
                mapping: LookupMapping::default(),
                activity_template: default_activity_template(),
            },
        }
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        let table = [
            ("https://login.salesforce.com", true),
            ("https://example.my.salesforce.com/x", true),
            ("http://127.0.0.1:8080", true),
            ("http://localhost:9", true),
            ("http://[::1]:9", true),
            ("http://crm.example.com", false),
            ("ftp://crm.example.com", false),
            ("not a url", false),
        ];
        for (url, ok) in table {
            assert_eq!(endpoint("url", url).is_ok(), ok, "{url}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = salesforce(SALESFORCE_LOGIN);
        s.timeout = Duration::from_millis(10);
        assert_eq!(s.validate().unwrap_err().field, "timeoutMs");
        let mut s = salesforce("http://crm.example.com");
        s.timeout = Duration::from_secs(1);
        assert_eq!(s.validate().unwrap_err().field, "loginUrl");
        let mut s = salesforce(SALESFORCE_LOGIN);
        if let ConnectorSettings::Salesforce { refresh_token, .. } = &mut s.connector {
            *refresh_token = SecretString::from("  ");
        }
        assert_eq!(s.validate().unwrap_err().field, "refreshToken");
    }

    #[test]
    fn public_half_has_no_secret_and_the_halves_join_again() {
        for settings in
            [salesforce("https://test.salesforce.com"), webhook("https://hooks.example.com/crm?key=k3y-value")]
        {
            let public = settings.public();
            let shown = public.to_string();
            for secret in ["cs-secret-value", "rt-secret-value", "hmac-secret-value", "k3y-value"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            let joined = Settings::from_stored(settings.kind(), &public, &settings.credentials()).unwrap();
            assert_eq!(joined.public(), public);
            assert_eq!(joined.credentials().as_slice(), settings.credentials().as_slice());
        }
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in [CrmKind::Salesforce, CrmKind::Hubspot, CrmKind::Webhook] {
            assert_eq!(CrmKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(CrmKind::parse("ZOHO"), None);
    }
}
