//! Shared HTTP plumbing of the connectors: transport-error mapping without URLs, Retry-After
//! parsing, message clipping. It must not know any vendor's error format.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::{CrmError, ExternalId};

/// Longest CRM message kept in an error.
const MAX_MESSAGE: usize = 300;

/// A reqwest client with the crate's defaults. The per-call deadline is applied around each
/// operation (`with_timeout`), so a token refresh and its retry share one budget.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// Maps a transport failure. The URL is dropped: a webhook URL may carry a key in its query.
pub(crate) fn transport(e: reqwest::Error) -> CrmError {
    if e.is_timeout() {
        return CrmError::Timeout;
    }
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_decode() || e.is_body() {
        "unreadable response body"
    } else {
        "request failed"
    };
    CrmError::Unavailable(kind.to_owned())
}

/// `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A CRM message, shortened to something fit for a log line.
pub(crate) fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(MAX_MESSAGE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The standard mapping of a non-success status whose body carries no special meaning.
pub(crate) fn by_status(status: u16, headers: &HeaderMap, message: String) -> CrmError {
    match status {
        401 | 403 => CrmError::Auth,
        404 => CrmError::NotFound,
        429 => CrmError::RateLimited { retry_after: retry_after(headers) },
        500..=599 => CrmError::Unavailable(format!("HTTP {status}: {message}")),
        _ => CrmError::BadRequest(format!("HTTP {status}: {message}")),
    }
}

/// The id of a record a create answered with (`{"id": ...}`), or `Unavailable` naming `what`.
pub(crate) fn created_id(answer: &serde_json::Value, what: &str) -> Result<ExternalId, CrmError> {
    answer
        .get("id")
        .and_then(serde_json::Value::as_str)
        .map(ExternalId::from)
        .ok_or_else(|| CrmError::Unavailable(format!("{what} create answered without id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn clip_shortens_long_messages() {
        let long = "x".repeat(1000);
        assert_eq!(clip(&long).chars().count(), MAX_MESSAGE + 1);
    }
}
