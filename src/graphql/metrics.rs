//! Live campaign metrics (`campaignMetrics`, names fixed by API.md): dials and their outcomes,
//! the rules' abandonment rate over 30 days and today, pace, agents, what is left, and cost.
//! Computed from the call rows and the agent board at the instant asked; the subscription
//! sends them on every change of the campaign's calls and at least once a second.

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::Stream;
use std::time::Duration;
use tokio::sync::broadcast;

use super::ApiState;
use super::connection::row_id;
use super::session::until_expiry;
use crate::acd::AgentState;
use crate::auth::{Access, TenantId, caller};
use crate::clock::local_day_start;
use crate::error::DomainResult;
use crate::store::campaigns::settings_of;

/// The longest a `campaignMetrics` subscriber waits for new figures.
const EVERY: Duration = Duration::from_secs(1);

/// The window of `callsPerMinute`.
const PACE_WINDOW_MINUTES: i64 = 5;

#[derive(SimpleObject)]
pub struct CampaignMetrics {
    campaign_id: ID,
    at: DateTime<Utc>,
    /// Calls placed in the last 30 days (the counts below cover the same days).
    total_dials: u64,
    answered: u64,
    /// Answered and not found to be a machine.
    human_answered: u64,
    machine_answered: u64,
    no_answer: u64,
    busy: u64,
    abandoned: u64,
    /// Answered over dialed.
    answer_rate: f64,
    /// Reached an agent over dialed.
    connection_rate: f64,
    /// The rules' definition over 30 days: abandoned over answered by a live person.
    abandonment_rate: f64,
    /// The same since the call centre's local midnight.
    abandonment_rate_today: f64,
    /// Dials per minute over the last 5 minutes.
    calls_per_minute: f64,
    agents_logged_in: i32,
    agents_available: i32,
    agents_on_call: i32,
    /// Mean occupancy today of the logged-in agents (handling over ready time).
    agent_utilization: f64,
    /// Calls in flight per logged-in agent not paused.
    dial_level: f64,
    calls_in_flight: u64,
    contacts_remaining: u64,
    /// At the current pace; null when nothing is being dialed.
    estimated_completion_time: Option<DateTime<Utc>>,
    /// Connected minutes times the campaign's cost per minute, over 30 days.
    cost_total: f64,
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// A campaign's figures at `now`.
async fn measure(
    api: &ApiState,
    tenant: &TenantId,
    campaign: i64,
    now: DateTime<Utc>,
) -> DomainResult<CampaignMetrics> {
    let campaign = api.store.campaigns().get(tenant, campaign).await?;
    let settings = settings_of(&campaign)?;
    let calls = api.store.calls();
    let recent = now - TimeDelta::minutes(PACE_WINDOW_MINUTES);
    let month = calls.totals(tenant, campaign.id, now - TimeDelta::days(30), recent).await?;
    let zone = api.store.tenant_time_zone(tenant).await?;
    let today = calls.totals(tenant, campaign.id, local_day_start(zone, now), recent).await?;
    let lists = api.store.campaigns().list_ids(tenant, &[campaign.id]).await?.remove(&campaign.id).unwrap_or_default();
    let remaining = api.store.contacts().remaining(tenant, &lists, settings.max_attempts).await?;

    let assigned: Vec<i64> = api
        .store
        .agents()
        .assignments(tenant)
        .await?
        .into_iter()
        .filter(|(_, c)| *c == campaign.id)
        .map(|(agent, _)| agent)
        .collect();
    let views: Vec<_> =
        api.floor.board(tenant, now).await?.into_iter().filter(|v| assigned.contains(&v.agent.0)).collect();
    let count = |states: &[AgentState]| views.iter().filter(|v| states.contains(&v.status.state())).count() as i32;
    let logged_in = views.iter().filter(|v| v.status.state() != AgentState::Offline).count();
    let working = count(&[AgentState::Available, AgentState::Reserved, AgentState::OnCall, AgentState::WrapUp]);
    let occupancies: Vec<f64> = views.iter().filter_map(|v| v.occupancy).collect();
    let calls_per_minute = month.recent_dials as f64 / PACE_WINDOW_MINUTES as f64;
    Ok(CampaignMetrics {
        campaign_id: ID::from(campaign.id),
        at: now,
        total_dials: month.dials,
        answered: month.answered,
        human_answered: month.human_answered,
        machine_answered: month.machine_answered,
        no_answer: month.no_answer,
        busy: month.busy,
        abandoned: month.abandoned,
        answer_rate: ratio(month.answered, month.dials),
        connection_rate: ratio(month.bridged, month.dials),
        abandonment_rate: ratio(month.abandoned, month.human_answered),
        abandonment_rate_today: ratio(today.abandoned, today.human_answered),
        calls_per_minute,
        agents_logged_in: logged_in as i32,
        agents_available: count(&[AgentState::Available]),
        agents_on_call: count(&[AgentState::OnCall]),
        agent_utilization: if occupancies.is_empty() {
            0.0
        } else {
            occupancies.iter().sum::<f64>() / occupancies.len() as f64
        },
        dial_level: if working == 0 { 0.0 } else { month.in_flight as f64 / f64::from(working) },
        calls_in_flight: month.in_flight,
        contacts_remaining: remaining,
        estimated_completion_time: (calls_per_minute > 0.0)
            .then(|| now + TimeDelta::seconds((remaining as f64 / calls_per_minute * 60.0) as i64)),
        cost_total: month.talk_seconds as f64 / 60.0 * settings.cost_per_minute,
    })
}

#[derive(Default)]
pub struct MetricsQuery;

#[Object]
impl MetricsQuery {
    /// A campaign's live figures.
    #[graphql(guard = "Access::Staff")]
    async fn campaign_metrics(&self, ctx: &Context<'_>, campaign_id: ID) -> DomainResult<CampaignMetrics> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        measure(api, &caller.tenant, row_id(&campaign_id, "campaign")?, api.clock.now()).await
    }
}

#[derive(Default)]
pub struct MetricsSubscription;

#[Subscription]
impl MetricsSubscription {
    /// A campaign's figures when one of its calls changes, and at least once a second, until
    /// the token expires.
    #[graphql(guard = "Access::Staff")]
    async fn campaign_metrics(
        &self,
        ctx: &Context<'_>,
        campaign_id: ID,
    ) -> Result<impl Stream<Item = CampaignMetrics> + use<>, async_graphql::Error> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>().clone();
        let campaign = api.store.campaigns().get(&caller.tenant, row_id(&campaign_id, "campaign")?).await?.id;
        let tenant = caller.tenant.clone();
        let changes = api.bus.subscribe_calls();
        let now = api.clock.now();
        let figures = futures_util::stream::unfold((api, changes, true), move |(api, mut changes, first)| {
            let tenant = tenant.clone();
            async move {
                if !first {
                    // Wait for a change of this campaign's calls, or a second, whichever is first.
                    let change = async {
                        loop {
                            match changes.recv().await {
                                Ok(update) if update.tenant == tenant && update.call.campaign_id == campaign => break,
                                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                            }
                        }
                    };
                    let _ = tokio::time::timeout(EVERY, change).await;
                }
                match measure(&api, &tenant, campaign, api.clock.now()).await {
                    Ok(metrics) => Some((metrics, (api, changes, false))),
                    Err(error) => {
                        tracing::warn!(%error, "campaign metrics stream ended");
                        None
                    }
                }
            }
        });
        Ok(until_expiry(caller, now, figures))
    }
}
