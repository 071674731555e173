//! The HTTP face of outdial (paths fixed by API.md): GraphQL over POST, GraphiQL on GET,
//! subscriptions over `graphql-transport-ws`, health, readiness, the Prometheus scrape, and the
//! web console's files (`crate::console`) at `/`.
//! Request ids are set (or kept from `x-request-id`) and traced.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderName, Request, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::{AuthError, Caller, Verifier};
use crate::error::DomainError;
use crate::graphql::{Api, ApiState, attach_caller, error_response};
use crate::telephony::webhook::WebhookState;

/// Requests carry up to 16 MiB (10,000 contacts in one `addContacts`).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The read buffer of a WebSocket connection. Clients send small messages (`connection_init`,
/// `subscribe`, pings; a larger one takes several reads), and tungstenite zeroes the whole
/// buffer before every read: its 128 KiB default cost 128 KiB of memory per connection and most
/// of the CPU of sending metrics to 2,000 subscribers (benches/README.md, `ws_fanout`).
const WS_READ_BUFFER: usize = 4 * 1024;

#[derive(Clone)]
pub struct HttpState {
    pub schema: Api,
    pub api: ApiState,
    pub verifier: Arc<Verifier>,
    /// `POST /webhooks/telnyx`, when the Telnyx public key is configured.
    pub webhooks: Option<WebhookState>,
}

pub fn router(state: HttpState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let webhooks = state.webhooks.clone().map(crate::telephony::webhook::router).unwrap_or_default();
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(webhooks)
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql/ws").finish())
}

/// The bearer token of a request, if any; a malformed header counts as a bad token.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(None),
        Some(value) => {
            let text = value.to_str().map_err(|_| AuthError::Invalid)?;
            let token =
                text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).ok_or(AuthError::Invalid)?;
            Ok(Some(token.trim()))
        }
    }
}

async fn authenticate(verifier: &Verifier, token: Option<&str>) -> Result<Option<Caller>, DomainError> {
    match token {
        None => Ok(None),
        Some(token) => verifier.verify(token).await.map(Some).map_err(|e| DomainError::Unauthenticated(e.to_string())),
    }
}

async fn graphql(State(state): State<HttpState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let token = match bearer(&headers) {
        Ok(token) => token,
        Err(error) => return unauthenticated(error.to_string()),
    };
    let caller = match authenticate(&state.verifier, token).await {
        Ok(caller) => caller,
        Err(DomainError::Unauthenticated(message)) => return unauthenticated(message),
        Err(error) => return GraphQLResponse::from(error_response(error)).into_response(),
    };
    let mut request = request.into_inner();
    if let Some(caller) = caller {
        attach_caller(&mut request.data, &state.api, caller);
    }
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

fn unauthenticated(message: String) -> Response {
    let body = GraphQLResponse::from(error_response(DomainError::Unauthenticated(message)));
    (StatusCode::UNAUTHORIZED, body).into_response()
}

async fn graphql_ws(State(state): State<HttpState>, protocol: GraphQLProtocol, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _counted = state.api.telemetry.websocket_open();
            let schema = state.schema.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| connection_init(state, payload))
                .serve()
                .await
        })
        .into_response()
}

/// Verifies the token of `connection_init` (`{"authorization": "Bearer <jwt>"}`); the caller is
/// attached to every subscription of the connection.
async fn connection_init(state: HttpState, payload: serde_json::Value) -> async_graphql::Result<Data> {
    let value = ["authorization", "Authorization"].iter().find_map(|key| payload.get(*key)?.as_str());
    let token = value.map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
    let Some(token) = token else {
        return Err(DomainError::Unauthenticated(
            "send {\"authorization\": \"Bearer <jwt>\"} in connection_init".into(),
        )
        .into());
    };
    let caller = state.verifier.verify(token).await.map_err(|e| DomainError::Unauthenticated(e.to_string()))?;
    let mut data = Data::default();
    attach_caller(&mut data, &state.api, caller);
    Ok(data)
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.api.store.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

/// `GET /metrics`: the operator's figures in the OpenMetrics text format (names prefixed
/// `outdial_`). Unauthenticated, like `/healthz`: it is meant to be scraped from inside the
/// network, so do not expose it to the internet. It names tenants and campaign ids but no
/// contact, number or call.
async fn metrics(State(state): State<HttpState>) -> Response {
    match state.api.telemetry.scrape(&state.api.store, state.api.clock.now()).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::telemetry::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::warn!(%error, "metrics scrape failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response()
        }
    }
}
