//! The event bus: what happened to calls and agents, published after it is stored, for
//! subscriptions to stream. One in-process broadcast channel with a bounded buffer: a subscriber that falls
//! behind is told how many events it missed, and memory never grows with a slow client.
//! Carrier events reach it from the scheduler (`dialer::scheduler`), which stores each once first.

use chrono::{DateTime, Utc};
use entity::call;
use std::sync::Arc;
use tokio::sync::broadcast;

use crate::acd::{AgentId, Offer, PreviewOffer, ScreenPop, Status};
use crate::auth::TenantId;

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

/// An agent's state changed (the ACD's status, with the call it refers to). When the change
/// reserves the agent for an answered call, the offer and its screen pop come with it; when it
/// reserves the agent for a preview, the preview does.
#[derive(Clone, Debug)]
pub struct AgentUpdate {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub status: Status,
    pub since: DateTime<Utc>,
    pub offer: Option<Arc<CallOffer>>,
    pub preview: Option<Arc<ContactPreview>>,
}

/// A call offered to an agent: why this agent (the routing decision) and what it sees.
#[derive(Clone, Debug)]
pub struct CallOffer {
    pub decision: Offer,
    pub screen_pop: ScreenPop,
}

/// A contact offered to an agent before any dial (preview mode): why this agent, what it sees,
/// and when the offer lapses if the agent neither dials nor skips it.
#[derive(Clone, Debug)]
pub struct ContactPreview {
    pub decision: PreviewOffer,
    pub screen_pop: ScreenPop,
    pub expires_at: DateTime<Utc>,
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
