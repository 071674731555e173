//! Live campaign metrics (`campaignMetrics`, names fixed by API.md): dials and their outcomes,
//! the rules' abandonment rate over 30 days and today, pace, agents, what is left, and cost.
//! Computed from the call rows and the agent board at the instant asked.
//!
//! Subscribers do not compute anything: the [`MetricsHub`] runs one feed (`super::feeds`) per
//! (tenant, campaign) that has subscribers, which computes the figures on a change of the
//! campaign's calls (coalesced) and at least once a second; each subscriber sends the latest
//! figures (a slow one skips to the newest, nothing piles up). The feed ends when the
//! campaign's last subscriber leaves.

use async_graphql::{Context, ID, Object, SimpleObject, Subscription};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::Stream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::ApiState;
use super::connection::row_id;
use super::feeds::{Feed, Feeds, updates};
use super::session::until_expiry;
use crate::acd::AgentState;
use crate::auth::{Access, TenantId, caller};
use crate::campaign::DialerMode;
use crate::clock::local_day_start;
use crate::compliance::verdict::AbandonmentFigures;
use crate::error::DomainResult;
use crate::store::campaigns::settings_of;

/// The longest a `campaignMetrics` subscriber waits for new figures.
const EVERY: Duration = Duration::from_secs(1);

/// The shortest time between two computations of a campaign's figures: changes closer together
/// than this are reflected by one computation.
const COALESCE: Duration = Duration::from_millis(150);

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
    /// How the dialer paces the campaign now: its dialer mode, except that a predictive campaign
    /// whose 30-day abandonment has reached its target is dialed PROGRESSIVE until it is under.
    pacing_mode: DialerMode,
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
        pacing_mode: AbandonmentFigures {
            abandoned: month.abandoned,
            live_answered: month.human_answered,
            target: settings.abandon_rate_target,
        }
        .dialing_mode(settings.dialer_mode),
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

type FeedKey = (TenantId, i64);

/// The feed tasks of the campaigns that have `campaignMetrics` subscribers, one per tenant and
/// campaign.
#[derive(Clone, Default)]
pub struct MetricsHub(Feeds<FeedKey, Arc<CampaignMetrics>>);

impl MetricsHub {
    /// The campaign's figures as they are computed, starting the campaign's feed task when it
    /// has none. The caller must have checked the campaign belongs to `tenant`.
    fn follow(
        &self,
        api: &ApiState,
        tenant: &TenantId,
        campaign: i64,
    ) -> impl Stream<Item = Arc<CampaignMetrics>> + use<> {
        let api = api.clone();
        updates(self.0.follow((tenant.clone(), campaign), move |feed| compute(api, feed)))
    }
}

/// One campaign's feed: computes the figures at once, then on a change of the campaign's calls
/// and at least every [`EVERY`], until its last follower leaves. A change is computed at once
/// unless the last computation for a change began less than [`COALESCE`] ago; then at the end
/// of that gap, once for all the changes in it.
async fn compute(api: ApiState, feed: Feed<FeedKey, Arc<CampaignMetrics>>) {
    let _counted = api.telemetry.metrics_feed_open();
    let (tenant, campaign) = feed.key().clone();
    let mut changes = api.bus.subscribe_calls();
    let mut next = Instant::now();
    // A change not yet reflected, and the earliest a computation for a change may begin.
    let mut changed = false;
    let mut gap_until = next;
    loop {
        tokio::select! {
            biased;
            () = feed.abandoned() => break,
            () = tokio::time::sleep_until(next) => {
                let now = Instant::now();
                if std::mem::take(&mut changed) {
                    gap_until = now + COALESCE;
                }
                next = now + EVERY;
                match measure(&api, &tenant, campaign, api.clock.now()).await {
                    Ok(figures) => feed.publish(Arc::new(figures)),
                    // Kept going: the next second may succeed (a busy database), and the
                    // followers keep the figures they have.
                    Err(error) => tracing::warn!(%error, %tenant, campaign, "campaign metrics not computed"),
                }
            }
            change = changes.recv() => {
                let ours = match change {
                    Ok(update) => update.tenant == tenant && update.call.campaign_id == campaign,
                    // One of the missed events may have been this campaign's.
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => {
                        // The bus lives as long as the API state this task holds: not expected.
                        // The feed ends, and its followers' streams with it.
                        tracing::error!(%tenant, campaign, "call events closed; campaign metrics feed ends");
                        break;
                    }
                };
                if ours {
                    changed = true;
                    next = next.min(gap_until);
                }
            }
        }
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
    ) -> Result<impl Stream<Item = Arc<CampaignMetrics>> + use<>, async_graphql::Error> {
        let caller = caller(ctx)?;
        let api = ctx.data_unchecked::<ApiState>();
        let campaign = api.store.campaigns().get(&caller.tenant, row_id(&campaign_id, "campaign")?).await?.id;
        let figures = ctx.data_unchecked::<MetricsHub>().follow(api, &caller.tenant, campaign);
        Ok(until_expiry(caller, api.clock.now(), figures))
    }
}
