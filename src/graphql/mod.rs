//! The GraphQL API: one Query, Mutation and Subscription part per domain, merged into one schema
//! with depth, complexity, directive and alias limits. Per-request data (the caller, DataLoaders)
//! is attached by the HTTP and WebSocket handlers, never shared across requests or tenants.

mod agents;
mod calls;
mod campaigns;
mod compliance;
mod connection;
mod contacts;
mod crm;
mod feeds;
mod limits;
mod loaders;
mod metrics;
mod previews;
mod session;
mod shared;

use async_graphql::{Data, Executor, MaybeUndefined, MergedObject, MergedSubscription, Request, Schema, SchemaBuilder};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::any::TypeId;
use std::sync::Arc;

use crate::auth::Caller;
use crate::clock::SharedClock;
use crate::crm::hub::CrmHub;
use crate::dialer::scheduler::Dialer;
use crate::error::DomainError;
use crate::events::EventBus;
use crate::floor::Floor;
use crate::gate::Gate;
use crate::store::Store;
use crate::telemetry::Telemetry;

#[derive(MergedObject, Default)]
pub struct Query(
    session::SessionQuery,
    campaigns::CampaignQuery,
    contacts::ContactQuery,
    agents::AgentQuery,
    compliance::ComplianceQuery,
    calls::CallQuery,
    metrics::MetricsQuery,
    crm::CrmQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    campaigns::CampaignMutation,
    contacts::ContactMutation,
    agents::AgentMutation,
    compliance::ComplianceMutation,
    calls::CallMutation,
    crm::CrmMutation,
    previews::PreviewMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    session::SessionSubscription,
    calls::CallSubscription,
    agents::AgentSubscription,
    metrics::MetricsSubscription,
);

pub type OutdialSchema = Schema<Query, Mutation, Subscription>;

/// What every resolver may use: the store, the clock, the live floor (the ACD boards), the
/// compliance gate, the event bus, the operator's figures and the CRM connectors.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub clock: SharedClock,
    pub floor: Arc<Floor>,
    pub gate: Arc<Gate>,
    pub bus: EventBus,
    pub telemetry: Telemetry,
    pub crm: Arc<CrmHub>,
    /// The campaigns' tasks, for agents' answers to their previews.
    pub dialer: Arc<Dialer>,
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription::default())
        .limit_depth(limits::MAX_DEPTH)
        .limit_complexity(limits::MAX_COMPLEXITY)
        .limit_directives(limits::MAX_DIRECTIVES)
        .limit_recursive_depth(limits::MAX_RECURSIVE_DEPTH)
}

pub fn build_schema(state: ApiState) -> Api {
    Api {
        telemetry: state.telemetry.clone(),
        shared: shared::SharedSubscriptions::new(state.clone()),
        schema: builder().data(state).data(metrics::MetricsHub::default()).finish(),
    }
}

/// The SDL, sorted so that `schema.graphql` diffs stay small (`outdial schema` prints it).
pub fn sdl() -> String {
    use async_graphql::SDLExportOptions;
    builder().finish().sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_arguments().sorted_enum_items())
}

/// The schema as the HTTP and WebSocket handlers run it: the alias limit is checked on the
/// parsed query (parsed once; the schema reuses it), and every error gets a code. These live
/// here rather than in schema extensions because any extension sends every field of every
/// response through async-graphql's slow resolve path. Streams (subscriptions over WebSocket)
/// are counted while open; those every subscriber with the same access shares run once
/// (`shared`).
#[derive(Clone)]
pub struct Api {
    pub schema: OutdialSchema,
    telemetry: Telemetry,
    shared: shared::SharedSubscriptions,
}

/// Errors from resolvers carry their code; what async-graphql itself reports (a syntax error,
/// an unknown field, a bad argument type, a limit) is the client's input.
fn ensure_error_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

impl Executor for Api {
    async fn execute(&self, mut request: Request) -> async_graphql::Response {
        if let Err(error) = limits::check_aliases(&mut request) {
            return ensure_error_codes(async_graphql::Response::from_errors(vec![error]));
        }
        ensure_error_codes(self.schema.execute(request).await)
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        if let Err(error) = limits::check_aliases(&mut request) {
            let refused = ensure_error_codes(async_graphql::Response::from_errors(vec![error]));
            return futures_util::stream::once(async move { refused }).boxed();
        }
        let open = self.telemetry.subscription_open();
        let caller =
            session_data.as_deref().and_then(|data| data.get(&TypeId::of::<Caller>())?.downcast_ref::<Caller>());
        let responses = match caller.and_then(|caller| Some((shared::share_key(&mut request, caller)?, caller))) {
            Some((key, caller)) => self.shared.subscribe(&self.schema, key, request, caller).boxed(),
            None => self
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(ensure_error_codes)
                .boxed(),
        };
        responses
            .map(move |response| {
                let _counted = &open;
                response
            })
            .boxed()
    }
}

/// Builds a request's error response with a code (used before the schema runs, e.g. a bad token).
pub fn error_response(error: DomainError) -> async_graphql::Response {
    let mut error = async_graphql::Error::from(error).into_server_error(Default::default());
    error.locations.clear();
    async_graphql::Response::from_errors(vec![error])
}

/// Attaches the caller and fresh DataLoaders to one request or one WebSocket connection.
pub fn attach_caller(data: &mut async_graphql::Data, state: &ApiState, caller: Caller) {
    loaders::attach(data, state, &caller);
    data.insert(caller);
}

/// An optional input that `null` clears: `None` leaves it, `Some(None)` clears it.
pub(crate) fn clearable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}
