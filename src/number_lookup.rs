//! Telnyx Number Lookup (`GET /v2/number_lookup/{number}?type=carrier`): the line type of a
//! number, asked with a short timeout. The key never leaves the `Authorization` header; errors
//! say what failed, never with the key.

use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

use crate::compliance::line_type::LineType;

/// How long one lookup may take before the gate goes on without it.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct NumberLookup {
    http: reqwest::Client,
    base_url: String,
    authorization: HeaderValue,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub line_type: LineType,
    pub carrier: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("number lookup failed: HTTP {0}")]
    Status(u16),
    #[error("number lookup failed: {0}")]
    Transport(String),
}

#[derive(Deserialize)]
struct Answer {
    data: Record,
}

#[derive(Deserialize)]
struct Record {
    carrier: Option<Carrier>,
}

#[derive(Deserialize)]
struct Carrier {
    #[serde(rename = "type")]
    kind: Option<String>,
    normalized_carrier: Option<String>,
}

impl NumberLookup {
    pub fn new(base_url: &str, api_key: &SecretString) -> anyhow::Result<Self> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", api_key.expose_secret()))
            .map_err(|_| anyhow::anyhow!("OUTDIAL_TELNYX_API_KEY holds characters a header cannot carry"))?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder().timeout(TIMEOUT).build()?;
        Ok(NumberLookup { http, base_url: base_url.trim_end_matches('/').to_owned(), authorization })
    }

    /// The carrier data of an E.164 number.
    pub async fn line_type(&self, e164: &str) -> Result<Found, LookupError> {
        let url = format!("{}/v2/number_lookup/{}", self.base_url, e164.replace('+', "%2B"));
        let response = self
            .http
            .get(url)
            .query(&[("type", "carrier")])
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await
            .map_err(|e| LookupError::Transport(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(LookupError::Status(response.status().as_u16()));
        }
        let answer: Answer = response.json().await.map_err(|e| LookupError::Transport(e.without_url().to_string()))?;
        let carrier = answer.data.carrier;
        Ok(Found {
            line_type: carrier
                .as_ref()
                .and_then(|c| c.kind.as_deref())
                .map_or(LineType::Unknown, LineType::from_telnyx),
            carrier: carrier.and_then(|c| c.normalized_carrier),
        })
    }
}
