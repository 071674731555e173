//! The ACD routing core: who gets an answered call. It owns the agent state machine, the
//! indexed agent board, eligibility, the routing strategies with their match score, the
//! queues of answered calls that wait, and the screen-pop data an offer carries.
//!
//! It is pure: no I/O, no clock, no database. Time comes in as `now`; the shell (GraphQL
//! resolvers, the live loop) loads rows, calls these functions from one owner task, and
//! persists or publishes what they return.
//!
//! The flow of one live answer:
//! 1. `route(&board, &call, now)` returns [`Decision::Offer`], [`Decision::Wait`] or
//!    [`Decision::Abandon`] (its deadline has passed).
//! 2. On an offer the shell reserves the agent with
//!    `board.set_state(agent, StateChange::Reserved { call, campaign }, now)`.
//! 3. On `Wait` it puts the call in [`WaitingCalls`]; whenever an agent becomes AVAILABLE it
//!    asks `waiting.next_for(&board, agent, now)` before anything else, and on every timer
//!    tick `waiting.expire(now)` hands back the calls to abandon.
//!
//! Preview mode reserves before any dial: `route_preview(&board, &contact, now)` picks the agent
//! by the same eligibility and order, the shell reserves it with `StateChange::Preview`, and a
//! dial turns the reservation into `StateChange::Reserved` for the new call.

mod board;
mod eligibility;
mod queue;
mod score;
mod screen_pop;
mod state;
mod strategy;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use board::{AgentView, Board};
pub use eligibility::{AgentProfile, CampaignRouting, SkillLevel};
pub use queue::WaitingCalls;
pub use score::MatchScore;
pub use screen_pop::{ContactCard, PreviousAttempt, ScreenPop, ScreenPopSource};
pub use state::{AgentState, StateChange, Status, Transition};
pub use strategy::{RoutingMethod, Strategy, route, route_by_scan, route_preview};

/// An agent's primary key in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AgentId(pub i64);

/// A campaign's primary key in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CampaignId(pub i64);

/// A call's primary key in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId(pub i64);

/// An answered call that needs an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveCall {
    pub id: CallId,
    pub campaign: CampaignId,
    /// Higher waits less: callbacks and blended calls may carry more than plain dials.
    pub priority: i32,
    pub answered_at: DateTime<Utc>,
    /// The instant after which the call is abandoned (answer + 2 s for a live outbound answer).
    pub deadline: DateTime<Utc>,
    /// The contact's language; when set it replaces the campaign's as the language required.
    pub language: Option<String>,
    /// The contact's region: a preference in the match score, never a requirement.
    pub region: Option<String>,
}

/// What the router decided for one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Reserve this agent and offer the call.
    Offer(Offer),
    /// No eligible agent is free; queue the call until its deadline.
    Wait,
    /// The deadline has passed: hand the call back to the dialer as abandoned.
    Abandon,
}

/// A call offered to an agent, with the reason (`routing_method`, `match_score`) a
/// supervisor sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub call: CallId,
    pub campaign: CampaignId,
    pub agent: AgentId,
    pub match_score: MatchScore,
    pub routing_method: RoutingMethod,
}

/// A hopper contact of a preview campaign that needs an agent to look at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewContact {
    /// The contact's primary key.
    pub id: i64,
    pub campaign: CampaignId,
    /// As on [`LiveCall`]: the contact's language and region.
    pub language: Option<String>,
    pub region: Option<String>,
}

/// A contact reserved to an agent for preview, and why this agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviewOffer {
    pub contact: i64,
    pub campaign: CampaignId,
    pub agent: AgentId,
    pub match_score: MatchScore,
    pub routing_method: RoutingMethod,
}

/// Errors the shell maps to `extensions.code`: `UnknownAgent` and `UnknownCampaign` to
/// `NOT_FOUND`, `InvalidTransition` and `NotReservedFor` to `CONFLICT`, `InvalidSkillLevel`
/// to `BAD_USER_INPUT`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AcdError {
    #[error("agent {0:?} is not on the board")]
    UnknownAgent(AgentId),
    #[error("campaign {0:?} is not on the board")]
    UnknownCampaign(CampaignId),
    #[error("agent {agent:?} cannot go from {from:?} to {to:?}")]
    InvalidTransition { agent: AgentId, from: AgentState, to: AgentState },
    #[error("agent {agent:?} is not reserved for call {call:?}")]
    NotReservedFor { agent: AgentId, call: CallId },
    #[error("skill {skill:?} has level {level}; levels run from 1 to 5")]
    InvalidSkillLevel { skill: String, level: u8 },
}
