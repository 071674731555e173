//! Subscriptions that run once for everyone who asks the same thing. A subscription whose root
//! fields are all in [`SHARED_FIELDS`] (their answer depends only on the tenant, the caller's
//! access and the arguments, and a subscriber only wants the latest) is executed once per
//! distinct (tenant, roles, agent, document, operation, variables) through a feed
//! (`super::feeds`); each subscriber gets a copy of every response. At 10,000 subscribers of
//! one campaign's figures each update is resolved once instead of 10,000 times
//! (benches/README.md, `ws_fanout`). Each subscriber's stream still ends when its own token
//! expires.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
use async_graphql::{Data, Request, Response};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use std::sync::Arc;

use super::feeds::{Feed, Feeds, updates};
use super::session::until_expiry;
use super::{ApiState, OutdialSchema, attach_caller, ensure_error_codes};
use crate::auth::{Caller, Role, TenantId};
use crate::telemetry::Open;

/// Root subscription fields whose streams are shared.
pub const SHARED_FIELDS: &[&str] = &["campaignMetrics"];

/// What makes two subscriptions the same one.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShareKey {
    tenant: TenantId,
    roles: Vec<Role>,
    agent_id: Option<i64>,
    query: String,
    operation_name: Option<String>,
    variables: String,
}

/// The key of a request that may be shared; `None` for any other (it runs on its own).
pub fn share_key(request: &mut Request, caller: &Caller) -> Option<ShareKey> {
    let operation_name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    let operation = match (&document.operations, &operation_name) {
        (DocumentOperations::Single(operation), _) => operation,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name.as_str())?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    let operation = &operation.node;
    let shared = operation.ty == OperationType::Subscription
        && operation.selection_set.node.items.iter().all(|item| match &item.node {
            Selection::Field(field) => SHARED_FIELDS.contains(&field.node.name.node.as_str()),
            Selection::FragmentSpread(_) | Selection::InlineFragment(_) => false,
        });
    if !shared {
        return None;
    }
    Some(ShareKey {
        tenant: caller.tenant.clone(),
        roles: caller.roles.clone(),
        agent_id: caller.agent_id,
        query: request.query.clone(),
        operation_name,
        variables: serde_json::to_string(&request.variables).ok()?,
    })
}

/// The running shared subscriptions. Clones share them.
#[derive(Clone)]
pub struct SharedSubscriptions {
    feeds: Feeds<ShareKey, Arc<Response>>,
    state: ApiState,
}

impl SharedSubscriptions {
    pub fn new(state: ApiState) -> Self {
        Self { feeds: Feeds::default(), state }
    }

    /// The responses of the subscription `key` names, for `caller`: joins the running one, or
    /// starts it. The shared execution runs as the first subscriber without an expiry (the
    /// others have the same tenant and access); each subscriber's stream ends at its own.
    pub fn subscribe(
        &self,
        schema: &OutdialSchema,
        key: ShareKey,
        request: Request,
        caller: &Caller,
    ) -> impl Stream<Item = Response> + Send + 'static {
        let schema = schema.clone();
        let state = self.state.clone();
        let runner = Caller { expires_at: DateTime::<Utc>::MAX_UTC, ..caller.clone() };
        let latest = self.feeds.follow(key, move |feed| {
            let counted = state.telemetry.shared_subscription_open();
            let mut data = Data::default();
            attach_caller(&mut data, &state, runner);
            execute(schema, request, data, feed, counted)
        });
        let responses = updates(latest).map(|response| copy(&response));
        until_expiry(caller, self.state.clock.now(), responses)
    }
}

/// The one execution of a shared subscription, until its last subscriber leaves or it ends.
async fn execute(
    schema: OutdialSchema,
    request: Request,
    data: Data,
    feed: Feed<ShareKey, Arc<Response>>,
    _counted: Open,
) {
    let mut responses = schema.execute_stream_with_session_data(request, Arc::new(data));
    loop {
        tokio::select! {
            biased;
            () = feed.abandoned() => break,
            response = responses.next() => match response {
                Some(response) => feed.publish(Arc::new(ensure_error_codes(response))),
                None => break,
            },
        }
    }
}

/// A subscriber's own copy of a shared response (`Response` is not `Clone`).
fn copy(response: &Response) -> Response {
    let mut copy = Response::new(response.data.clone())
        .cache_control(response.cache_control)
        .http_headers(response.http_headers.clone());
    copy.extensions = response.extensions.clone();
    copy.errors = response.errors.clone();
    copy
}
