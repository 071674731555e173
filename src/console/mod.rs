//! The web console's files: the HTML, CSS and JavaScript modules of `assets/`, embedded in the
//! binary and served at `/` and `/console/...` with their content types, an ETag, revalidation
//! on every load (`no-cache`: the files change with the binary) and a strict content security
//! policy. It serves files only; the page speaks to the API like any other client and holds no
//! privilege of its own.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset { name: $name, content_type: $content_type, body: include_str!(concat!("assets/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: [Asset; 11] = [
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
    asset!("main.mjs", JS),
    asset!("session.mjs", JS),
    asset!("graphql.mjs", JS),
    asset!("widgets.mjs", JS),
    asset!("wallboard.mjs", JS),
    asset!("agent_board.mjs", JS),
    asset!("check.mjs", JS),
    asset!("desk.mjs", JS),
];

/// Scripts, styles and connections from this origin only (`'self'` covers the same-origin
/// WebSocket); no inline code, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Each file's ETag: the first 16 hex digits of its SHA-256.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS.iter().map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body.as_bytes()))[..16])).collect()
});

/// `GET /` (the page) and `GET /console/{file}` (what it loads).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) })).route(
        "/console/{file}",
        get(|Path(file): Path<String>, headers: HeaderMap| async move { serve(&file, &headers) }),
    )
}

fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such console file").into_response();
    };
    let (asset, etag) = (&ASSETS[index], &ETAGS[index]);
    let fresh = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let set = response.headers_mut();
    set.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    set.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    if let Ok(value) = HeaderValue::from_str(etag) {
        set.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_named_once_and_the_page_loads_only_embedded_files() {
        let mut names: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        // Every `/console/x` a file refers to and every module it imports is embedded.
        for asset in &ASSETS {
            for part in asset.body.split("/console/").skip(1).chain(asset.body.split("from './").skip(1)) {
                let name: String =
                    part.chars().take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{} refers to {name:?}, which is not embedded",
                    asset.name
                );
            }
        }
    }
}
