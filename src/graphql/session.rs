//! Who am I (`me`) and a heartbeat subscription that proves the WebSocket path end to end; every
//! subscription stream ends when the caller's token expires.

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::time::Duration;

use super::ApiState;
use crate::auth::{Access, Caller, Role, caller};
use crate::error::{DomainError, DomainResult};

#[derive(SimpleObject)]
pub struct Me {
    /// The `sub` claim.
    user: String,
    tenant: String,
    roles: Vec<Role>,
    agent_id: Option<ID>,
    expires_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The caller as the server sees its token.
    #[graphql(guard = "Access::Authenticated")]
    async fn me(&self, ctx: &Context<'_>) -> DomainResult<Me> {
        let caller = caller(ctx)?;
        Ok(Me {
            user: caller.user.clone(),
            tenant: caller.tenant.to_string(),
            roles: caller.roles.clone(),
            agent_id: caller.agent_id.map(ID::from),
            expires_at: caller.expires_at,
        })
    }
}

#[derive(SimpleObject, Clone)]
pub struct Heartbeat {
    /// 1, 2, 3, ... since the subscription began.
    sequence: u64,
    at: DateTime<Utc>,
}

#[derive(Default)]
pub struct SessionSubscription;

/// A stream that ends when the caller's token expires (guards only run at subscribe time).
pub fn until_expiry<S: Stream + Send + 'static>(
    caller: &Caller,
    now: DateTime<Utc>,
    stream: S,
) -> impl Stream<Item = S::Item> + use<S> {
    use futures_util::StreamExt;
    let left = (caller.expires_at - now).to_std().unwrap_or(Duration::ZERO);
    stream.take_until(tokio::time::sleep(left))
}

#[Subscription]
impl SessionSubscription {
    /// A tick every `intervalMs` (100 to 60000) until the token expires.
    #[graphql(guard = "Access::Authenticated")]
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> Result<impl Stream<Item = Heartbeat> + use<>, async_graphql::Error> {
        if !(100..=60_000).contains(&interval_ms) {
            return Err(DomainError::bad_input("intervalMs", "intervalMs must be 100 to 60000").into());
        }
        let caller = caller(ctx)?;
        let clock = ctx.data_unchecked::<ApiState>().clock.clone();
        let period = Duration::from_millis(interval_ms as u64);
        let ticks = futures_util::stream::unfold(0u64, move |sequence| {
            let clock = clock.clone();
            async move {
                tokio::time::sleep(period).await;
                let next = sequence + 1;
                Some((Heartbeat { sequence: next, at: clock.now() }, next))
            }
        });
        let now = ctx.data_unchecked::<ApiState>().clock.now();
        Ok(until_expiry(caller, now, ticks))
    }
}
