//! The event bus: what happened to calls and agents, published after it is stored, for
//! subscriptions to stream. One in-process broadcast channel with a bounded buffer: a subscriber that falls
//! behind is told how many events it missed, and memory never grows with a slow client.
//! Also the carrier-event sink: a verified webhook event is stored once, applied to its call,
//! then published.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use entity::call;
use std::sync::Arc;
use tokio::sync::broadcast;

use crate::acd::{AgentId, Status};
use crate::auth::TenantId;
use crate::clock::SharedClock;
use crate::error::DomainError;
use crate::store::Store;
use crate::store::calls::Recorded;
use crate::telephony::CarrierEvent;
use crate::telephony::webhook::{Accepted, EventSink, SinkError};

/// Events held for subscribers before the slowest one starts missing them.
const BUFFER: usize = 4_096;

/// A call changed: the call as stored after the event, and what the event was.
#[derive(Clone, Debug)]
pub struct CallUpdate {
    pub tenant: TenantId,
    pub call: call::Model,
    /// `call.answered`, `call.hangup`, ...
    pub kind: String,
    pub occurred_at: DateTime<Utc>,
}

/// An agent's state changed (the ACD's status, with the call it refers to).
#[derive(Clone, Debug)]
pub struct AgentUpdate {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub status: Status,
    pub since: DateTime<Utc>,
}

#[derive(Clone)]
pub struct EventBus {
    calls: broadcast::Sender<Arc<CallUpdate>>,
    agents: broadcast::Sender<Arc<AgentUpdate>>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { calls: broadcast::channel(BUFFER).0, agents: broadcast::channel(BUFFER).0 }
    }
}

impl EventBus {
    pub fn publish_call(&self, update: CallUpdate) {
        // Nobody listening is not an error: the event is already stored.
        let _ = self.calls.send(Arc::new(update));
    }

    pub fn subscribe_calls(&self) -> broadcast::Receiver<Arc<CallUpdate>> {
        self.calls.subscribe()
    }

    pub fn publish_agent(&self, update: AgentUpdate) {
        let _ = self.agents.send(Arc::new(update));
    }

    pub fn subscribe_agents(&self) -> broadcast::Receiver<Arc<AgentUpdate>> {
        self.agents.subscribe()
    }
}

/// Stores verified carrier events and publishes the calls they changed.
pub struct CallEventSink {
    pub store: Store,
    pub bus: EventBus,
    pub clock: SharedClock,
}

#[async_trait]
impl EventSink for CallEventSink {
    async fn accept(&self, event: CarrierEvent) -> Result<Accepted, SinkError> {
        match self.store.calls().record_event(&event, self.clock.now()).await {
            Ok(Recorded::New(call)) => {
                let tenant = TenantId::new(call.tenant_id.clone());
                let kind = crate::store::calls::kind_name(&event.kind).to_owned();
                self.bus.publish_call(CallUpdate { tenant, call: *call, kind, occurred_at: event.occurred_at });
                Ok(Accepted::New)
            }
            Ok(Recorded::Duplicate) => Ok(Accepted::Duplicate),
            // An event of a call that is not ours (another application on the account): taken
            // and dropped, so the carrier does not retry it.
            Err(DomainError::NotFound(_)) => {
                tracing::warn!(event_id = %event.event_id, "carrier event for an unknown call dropped");
                Ok(Accepted::New)
            }
            Err(error) => Err(SinkError(error.to_string())),
        }
    }
}
