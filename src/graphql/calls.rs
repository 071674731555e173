//! Calls in GraphQL: a campaign's calls, one call with its carrier events, an agent's
//! disposition, and the `callEvents(campaignId)` subscription fed by the event bus.

use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use entity::call;
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::ApiState;
use super::connection::{IdConnection, connection, page_request, row_id};
use super::session::until_expiry;
use crate::auth::{Access, caller};
use crate::disposition::{Chosen, dispose};
use crate::error::{DomainError, DomainResult};

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Call {
    id: ID,
    campaign_id: ID,
    contact_id: ID,
    agent_id: Option<ID>,
    /// 1 for the contact's first call, and so on.
    attempt: i32,
    /// DIALING, RINGING, ANSWERED, BRIDGED or ENDED.
    state: String,
    from_number: String,
    to_number: String,
    dialed_at: DateTime<Utc>,
    answered_at: Option<DateTime<Utc>>,
    bridged_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    /// A `CallOutcome` name (ANSWERED, VOICEMAIL, NO_ANSWER, BUSY, CALLBACK, ABANDONED, FAILED).
    outcome: Option<String>,
    /// The agent's outcome tag.
    disposition: Option<String>,
    /// human, machine or not_sure.
    amd_result: Option<String>,
    duration_seconds: Option<i32>,
    cost: Option<f64>,
}

impl From<call::Model> for Call {
    fn from(row: call::Model) -> Self {
        Call {
            id: ID::from(row.id),
            campaign_id: ID::from(row.campaign_id),
            contact_id: ID::from(row.contact_id),
            agent_id: row.agent_id.map(ID::from),
            attempt: row.attempt,
            state: row.state,
            from_number: row.from_number,
            to_number: row.to_number,
            dialed_at: row.dialed_at,
            answered_at: row.answered_at,
            bridged_at: row.bridged_at,
            ended_at: row.ended_at,
            outcome: row.outcome,
            disposition: row.disposition,
            amd_result: row.amd_result,
            duration_seconds: row.duration_seconds,
            cost: row.cost,
        }
    }
}

#[derive(SimpleObject)]
pub struct CallEventRecord {
    /// `call.answered`, `call.hangup`, ...
    kind: String,
    occurred_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
}

#[ComplexObject]
impl Call {
    /// The carrier's events for this call, in the order they happened (late ones included).
    async fn events(&self, ctx: &Context<'_>) -> DomainResult<Vec<CallEventRecord>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let events = api.store.calls().events(&caller.tenant, row_id(&self.id, "call")?).await?;
        Ok(events
            .into_iter()
            .map(|e| CallEventRecord { kind: e.kind, occurred_at: e.occurred_at, received_at: e.received_at })
            .collect())
    }
}

/// One item of `callEvents`: a call that changed, or a notice that this subscriber fell behind.
#[derive(SimpleObject)]
pub struct CallEventNotice {
    /// The event's kind, or `LAGGED` when events were missed.
    kind: String,
    occurred_at: Option<DateTime<Utc>>,
    call: Option<Call>,
    /// Events this subscriber missed (a slow client is told, never buffered without bound).
    missed: i32,
}

#[derive(Default)]
pub struct CallQuery;

#[Object]
impl CallQuery {
    /// A campaign's calls, oldest first.
    #[graphql(guard = "Access::Staff")]
    async fn calls(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<Call>> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let campaign = api.store.campaigns().get(&caller.tenant, row_id(&campaign_id, "campaign")?).await?;
        let request = page_request(ctx, first, after)?;
        let page = api.store.calls().list(&caller.tenant, campaign.id, request).await?;
        connection(page, request.after.is_some(), |c| c.id, |row| Ok(Call::from(row)))
    }

    /// A call; an agent token reads only the calls it took.
    #[graphql(guard = "Access::Authenticated")]
    async fn call(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Call> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let row = api.store.calls().get(&caller.tenant, row_id(&id, "call")?).await?;
        if !caller.is_staff() && (caller.agent_id.is_none() || row.agent_id != caller.agent_id) {
            return Err(DomainError::NotFound("call"));
        }
        Ok(row.into())
    }
}

#[derive(Default)]
pub struct CallMutation;

#[Object]
impl CallMutation {
    /// An agent's disposition of a call it took, once the call has ended: `outcome` is one of
    /// the campaign's outcome tags; `callback` needs `callbackAt` (the contact is called again
    /// then), `do_not_call` puts the number on the internal DNC list, any other tag finishes
    /// the contact. The agent leaves wrap-up. Supervisors may disposition any call.
    #[graphql(guard = "Access::Authenticated")]
    async fn disposition_call(
        &self,
        ctx: &Context<'_>,
        call_id: ID,
        outcome: String,
        notes: Option<String>,
        callback_at: Option<DateTime<Utc>>,
    ) -> DomainResult<Call> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let now = api.clock.now();
        let call = api.store.calls().get(&caller.tenant, row_id(&call_id, "call")?).await?;
        if !caller.is_staff() && (caller.agent_id.is_none() || call.agent_id != caller.agent_id) {
            return Err(DomainError::NotFound("call"));
        }
        let chosen = Chosen { outcome, notes, callback_at };
        let updated = dispose(&api.store, &api.floor, &caller.tenant, &call, chosen, &caller.user, now).await?;
        Ok(updated.into())
    }
}

#[derive(Default)]
pub struct CallSubscription;

#[Subscription]
impl CallSubscription {
    /// Every change to a campaign's calls as the carrier reports it, until the token expires.
    #[graphql(guard = "Access::Staff")]
    async fn call_events(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
    ) -> Result<impl Stream<Item = CallEventNotice> + use<>, async_graphql::Error> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let campaign = api.store.campaigns().get(&caller.tenant, row_id(&campaign_id, "campaign")?).await?;
        let tenant = caller.tenant.clone();
        let updates = BroadcastStream::new(api.bus.subscribe_calls()).filter_map(move |item| {
            let notice = match item {
                Ok(update) if update.tenant == tenant && update.call.campaign_id == campaign.id => {
                    Some(CallEventNotice {
                        kind: update.kind.clone(),
                        occurred_at: Some(update.occurred_at),
                        call: Some(update.call.clone().into()),
                        missed: 0,
                    })
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(CallEventNotice {
                    kind: "LAGGED".into(),
                    occurred_at: None,
                    call: None,
                    missed: i32::try_from(missed).unwrap_or(i32::MAX),
                }),
            };
            std::future::ready(notice)
        });
        Ok(until_expiry(caller, api.clock.now(), updates))
    }
}
