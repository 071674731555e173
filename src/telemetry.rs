//! The operator's figures for `GET /metrics` (names prefixed `outdial_`, API.md): counters the
//! dialer, the carrier-event path and the CRM outbox move as things happen, gauges the API keeps (WebSocket
//! connections and subscriptions open, campaigns with a live metrics task), and, read at scrape
//! time with two queries, each running or paused campaign's 30-day abandonment rate and calls in
//! flight. Encoded by `prometheus-client` in the OpenMetrics text format.
//!
//! It must not decide anything: nothing reads these figures back to pace, route or gate calls.

use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::error::DomainResult;
use crate::store::Store;

/// The content type of the scrape answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Live answer to agent offer, in seconds: the rules abandon a call not connected within two.
const ANSWER_TO_OFFER_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0];

/// The window of the scraped abandonment rate (the rules' 30 days).
const ABANDONMENT_WINDOW_DAYS: i64 = 30;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CampaignLabels {
    tenant: String,
    campaign: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    tenant: String,
    result: &'static str,
}

struct Figures {
    registry: Registry,
    dials_placed: Family<CampaignLabels, Counter>,
    dials_refused: Family<CampaignLabels, Counter>,
    carrier_errors: Family<CampaignLabels, Counter>,
    calls_abandoned: Family<CampaignLabels, Counter>,
    answer_to_offer: Histogram,
    events_stored: Family<KindLabels, Counter>,
    crm_deliveries: Family<DeliveryLabels, Counter>,
    websocket_connections: Gauge,
    subscriptions: Gauge,
    shared_subscriptions: Gauge,
    metrics_feeds: Gauge,
}

/// The service's operator figures; clones share them.
#[derive(Clone)]
pub struct Telemetry(Arc<Figures>);

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("outdial");
        let dials_placed = Family::default();
        registry.register("dials_placed", "Calls handed to the carrier", dials_placed.clone());
        let dials_refused = Family::default();
        registry.register(
            "dials_refused",
            "Dials the compliance gate refused at the dial instant",
            dials_refused.clone(),
        );
        let carrier_errors = Family::default();
        registry.register("carrier_errors", "Dials the carrier failed to place", carrier_errors.clone());
        let calls_abandoned = Family::default();
        registry.register("calls_abandoned", "Live answers that reached no agent", calls_abandoned.clone());
        let answer_to_offer = Histogram::new(ANSWER_TO_OFFER_BUCKETS);
        registry.register_with_unit(
            "answer_to_offer",
            "From a live answer to the offer of the call to an agent",
            Unit::Seconds,
            answer_to_offer.clone(),
        );
        let events_stored = Family::default();
        registry.register("carrier_events_stored", "Carrier events stored, by kind", events_stored.clone());
        let crm_deliveries = Family::default();
        registry.register(
            "crm_deliveries",
            "CRM outbox attempts by result: delivered, retried or dead (dead letters wait for a person)",
            crm_deliveries.clone(),
        );
        let websocket_connections = Gauge::default();
        registry.register("websocket_connections", "GraphQL WebSocket connections open", websocket_connections.clone());
        let subscriptions = Gauge::default();
        registry.register("subscriptions", "GraphQL operations streaming over WebSocket", subscriptions.clone());
        let shared_subscriptions = Gauge::default();
        registry.register(
            "shared_subscriptions",
            "Shared subscription executions (one per distinct document and access, whatever the subscribers)",
            shared_subscriptions.clone(),
        );
        let metrics_feeds = Gauge::default();
        registry.register(
            "campaign_metrics_feeds",
            "Campaigns whose campaignMetrics figures are being computed for subscribers",
            metrics_feeds.clone(),
        );
        Telemetry(Arc::new(Figures {
            registry,
            dials_placed,
            dials_refused,
            carrier_errors,
            calls_abandoned,
            answer_to_offer,
            events_stored,
            crm_deliveries,
            websocket_connections,
            subscriptions,
            shared_subscriptions,
            metrics_feeds,
        }))
    }
}

fn campaign_labels(tenant: &str, campaign: i64) -> CampaignLabels {
    CampaignLabels { tenant: tenant.to_owned(), campaign }
}

impl Telemetry {
    pub fn dial_placed(&self, tenant: &str, campaign: i64) {
        self.0.dials_placed.get_or_create(&campaign_labels(tenant, campaign)).inc();
    }

    /// The compliance gate refused at the dial instant.
    pub fn dial_refused(&self, tenant: &str, campaign: i64) {
        self.0.dials_refused.get_or_create(&campaign_labels(tenant, campaign)).inc();
    }

    pub fn carrier_error(&self, tenant: &str, campaign: i64) {
        self.0.carrier_errors.get_or_create(&campaign_labels(tenant, campaign)).inc();
    }

    pub fn call_abandoned(&self, tenant: &str, campaign: i64) {
        self.0.calls_abandoned.get_or_create(&campaign_labels(tenant, campaign)).inc();
    }

    /// From a live answer to the agent offer.
    pub fn answer_to_offer(&self, seconds: f64) {
        self.0.answer_to_offer.observe(seconds);
    }

    /// A carrier event stored (`kind` like `call.answered`).
    pub fn event_stored(&self, kind: &str) {
        self.0.events_stored.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }

    /// A CRM outbox attempt ended: `delivered`, `retried` or `dead`.
    pub fn crm_delivery(&self, tenant: &str, result: &'static str) {
        self.0.crm_deliveries.get_or_create(&DeliveryLabels { tenant: tenant.to_owned(), result }).inc();
    }

    /// Counts a WebSocket connection open until the guard drops.
    pub fn websocket_open(&self) -> Open {
        Open::new(self.0.websocket_connections.clone())
    }

    /// Counts a streaming GraphQL operation open until the guard drops.
    pub fn subscription_open(&self) -> Open {
        Open::new(self.0.subscriptions.clone())
    }

    /// Counts a shared subscription's execution running until the guard drops.
    pub fn shared_subscription_open(&self) -> Open {
        Open::new(self.0.shared_subscriptions.clone())
    }

    /// Counts a campaign's metrics task running until the guard drops.
    pub fn metrics_feed_open(&self) -> Open {
        Open::new(self.0.metrics_feeds.clone())
    }

    /// The scrape: every figure above, then each RUNNING or PAUSED campaign's abandonment rate
    /// over 30 days and its calls in flight (two queries, whatever the number of campaigns).
    pub async fn scrape(&self, store: &Store, now: DateTime<Utc>) -> DomainResult<String> {
        let live = store.calls().live_campaign_totals(now - TimeDelta::days(ABANDONMENT_WINDOW_DAYS)).await?;
        let mut campaigns = Registry::with_prefix("outdial_campaign");
        let abandonment = Family::<CampaignLabels, Gauge<f64, AtomicU64>>::default();
        campaigns.register(
            "abandonment_rate",
            "Abandoned over answered by a live person, last 30 days (running and paused campaigns)",
            abandonment.clone(),
        );
        let in_flight = Family::<CampaignLabels, Gauge>::default();
        campaigns.register("calls_in_flight", "Calls not ended (running and paused campaigns)", in_flight.clone());
        for campaign in &live {
            let labels = campaign_labels(campaign.tenant.as_str(), campaign.campaign);
            let rate = if campaign.human_answered == 0 {
                0.0
            } else {
                campaign.abandoned as f64 / campaign.human_answered as f64
            };
            abandonment.get_or_create(&labels).set(rate);
            in_flight.get_or_create(&labels).set(i64::try_from(campaign.in_flight).unwrap_or(i64::MAX));
        }
        let mut text = String::with_capacity(4_096);
        let written = encode_registry(&mut text, &self.0.registry)
            .and_then(|()| encode_registry(&mut text, &campaigns))
            .and_then(|()| encode_eof(&mut text));
        // Writing to a String cannot fail; a metric that failed to encode would be a bug here.
        written.map_err(|error| anyhow::anyhow!("encoding the metrics: {error}"))?;
        Ok(text)
    }
}

/// Holds one unit of a gauge (a connection, a stream, a task) and gives it back when dropped.
pub struct Open(Gauge);

impl Open {
    fn new(gauge: Gauge) -> Self {
        gauge.inc();
        Open(gauge)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}
