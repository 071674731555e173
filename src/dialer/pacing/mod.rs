//! The pacing core: given what a live dialer can observe about one campaign, decide how
//! many calls to start now.
//!
//! Owns the observable snapshot types ([`PacingSnapshot`]), the online [`Estimator`]
//! (outcome shares, ring/answer/screening, talk and wrap durations, recent abandonment),
//! the abandonment budget ([`budget`]) and the decision itself ([`decide`]).
//! It must not do I/O, read a clock or hold hidden truth: time comes in as `now` and as
//! ages; everything else comes from observed events.
//!
//! **Time.** Instants are `f64` seconds since an arbitrary epoch chosen by the caller
//! (the production shell uses seconds since the campaign's start, converted from chrono;
//! the simulator uses its virtual clock). Ages and elapsed times inside the snapshot are
//! [`std::time::Duration`]s measured back from that same `now`.

pub mod budget;
pub mod distribution;
pub mod estimate;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use budget::{RiskBudget, risk_budget};
pub use estimate::{DialResult, Estimator, EstimatorConfig, Observation, PacerConfig, PacerTuning};

/// How a campaign dials: the campaign's own setting (API.md `DialerMode`).
pub use crate::campaign::DialerMode;

/// What an agent is doing, as the ACD sees it. Logged-out agents are not in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentActivity {
    /// Idle, ready for the next answered call.
    Available,
    /// Picked for an answered call that is being bridged.
    Reserved,
    /// Talking on a bridged call.
    OnCall,
    /// After-call work (disposition, notes).
    WrapUp,
    /// Logged in but not taking calls (break, training).
    Paused,
}

/// One logged-in agent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AgentObs {
    pub activity: AgentActivity,
    /// Time since the agent entered `activity` (elapsed talk while `OnCall`, elapsed wrap
    /// while `WrapUp`, idle time while `Available`).
    pub in_state: Duration,
}

/// Where an unbridged call is, as carrier events report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallStage {
    /// Originated, no progress event yet (post-dial delay).
    Dialing,
    /// The far end is ringing.
    Ringing,
    /// Answered; answering-machine detection has not given its verdict yet.
    Screening,
    /// A person answered and the call waits for an agent (the 2-s clock is running).
    AwaitingAgent,
}

/// One call in flight that is not bridged to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CallObs {
    pub stage: CallStage,
    /// Time since the call was originated.
    pub age: Duration,
    /// Time since the call entered `stage`.
    pub in_stage: Duration,
}

/// Abandonment counted so far, as the dialer observed it (humans the answering-machine
/// detector mistook for machines are not observable and are budgeted through
/// [`AbandonmentTarget::amd_false_positive_rate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbandonmentSoFar {
    /// Live answers in the current regulatory window (30 days per campaign).
    pub window_live_answers: u64,
    /// Of those, abandoned (not bridged within 2 s of the completed greeting).
    pub window_abandoned: u64,
    pub today_live_answers: u64,
    pub today_abandoned: u64,
}

/// The abandonment the campaign may spend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AbandonmentTarget {
    /// Maximum share of live answers abandoned over the window (0.03 under TSR/TCPA).
    pub max_rate: f64,
    /// Guard on any single day's rate.
    pub daily_cap: f64,
    /// Share of human answers the answering-machine detector classifies as machines
    /// (from the operator's calibration). Each one is an abandoned call the dialer cannot
    /// see, so it is taken off the budget up front.
    pub amd_false_positive_rate: f64,
}

impl AbandonmentTarget {
    /// Whether answering-machine detection may screen calls: each human it hangs up on is
    /// an abandoned call, so a detector whose false positives would take half the budget
    /// or more must be switched off (machines then reach agents).
    pub fn detector_affordable(&self) -> bool {
        self.amd_false_positive_rate < self.max_rate / 2.0
    }
}

impl Default for AbandonmentTarget {
    fn default() -> Self {
        AbandonmentTarget { max_rate: 0.03, daily_cap: 0.04, amd_false_positive_rate: 0.0 }
    }
}

/// Carrier and account limits the decision never exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    /// Lines (in flight + bridged) per logged-in, unpaused agent.
    pub max_lines_per_agent: f64,
    /// Concurrent channels on the account, if limited.
    pub max_channels: Option<u32>,
    /// Originations allowed per rolling rate window (Telnyx: 150 per 5 s), if limited.
    pub max_dials_per_window: Option<u32>,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints { max_lines_per_agent: 15.0, max_channels: None, max_dials_per_window: Some(150) }
    }
}

/// Everything the pacer may know about one campaign at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PacingSnapshot {
    pub mode: DialerMode,
    /// Logged-in agents.
    pub agents: Vec<AgentObs>,
    /// Unbridged calls in flight.
    pub calls_in_flight: Vec<CallObs>,
    /// Calls bridged to agents (they hold a line too).
    pub bridged_lines: u32,
    /// Originations in the carrier's current rate window.
    pub dials_in_window: u32,
    pub abandonment: AbandonmentSoFar,
    pub target: AbandonmentTarget,
    pub constraints: Constraints,
}

/// Why the decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecisionReason {
    /// Preview mode: agents pick contacts themselves.
    Preview,
    /// No agent is logged in and unpaused.
    NoAgents,
    /// One call per idle agent (progressive mode, or predictive's floor).
    Progressive,
    /// The predictive model's marginal-risk rule set the count.
    Predictive,
    /// A line, channel or dials-per-second cap cut the count.
    Capped,
}

/// The decision and the figures behind it (for the audit trail and live metrics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub calls_to_start: u32,
    pub reason: DecisionReason,
    /// Lines (in flight + bridged + to start) per unpaused agent after this decision.
    pub dial_level: f64,
    /// Estimated chance that the last call started would be abandoned if answered live.
    pub marginal_abandon_risk: f64,
    /// The largest marginal risk the abandonment budget allows right now.
    pub risk_threshold: f64,
    /// The `now` the decision was taken at.
    pub decided_at: f64,
}

/// Counts derived from a snapshot that every mode needs.
struct Occupancy {
    staffed: usize,
    available: usize,
    unbridged: usize,
    headroom: u32,
}

fn occupancy(snapshot: &PacingSnapshot) -> Occupancy {
    let staffed = snapshot.agents.iter().filter(|a| a.activity != AgentActivity::Paused).count();
    let available = snapshot.agents.iter().filter(|a| a.activity == AgentActivity::Available).count();
    let unbridged = snapshot.calls_in_flight.len();
    let lines = unbridged as u64 + u64::from(snapshot.bridged_lines);
    let c = &snapshot.constraints;
    let per_agent = (c.max_lines_per_agent.max(0.0) * staffed as f64).floor() as u64;
    let mut headroom = per_agent.saturating_sub(lines);
    if let Some(channels) = c.max_channels {
        headroom = headroom.min(u64::from(channels).saturating_sub(lines));
    }
    if let Some(dials) = c.max_dials_per_window {
        headroom = headroom.min(u64::from(dials.saturating_sub(snapshot.dials_in_window)));
    }
    Occupancy { staffed, available, unbridged, headroom: u32::try_from(headroom).unwrap_or(u32::MAX) }
}

/// How many more calls the line, channel and dials-per-window caps allow right now.
pub fn line_headroom(snapshot: &PacingSnapshot) -> u32 {
    occupancy(snapshot).headroom
}

/// Decide how many calls to start at `now` (seconds since the caller's epoch).
///
/// Preview never dials. Progressive keeps one unbridged line per idle agent. Predictive
/// starts calls one at a time while the estimated chance that the next call, if a person
/// answers it, finds no agent within the grace stays under the threshold the abandonment
/// budget allows; it never dials fewer than progressive would. Every mode respects the
/// line, channel and dials-per-window caps.
pub fn decide(estimator: &Estimator, snapshot: &PacingSnapshot, now: f64) -> Decision {
    let occ = occupancy(snapshot);
    let level = |n: u32| {
        if occ.staffed == 0 {
            0.0
        } else {
            (occ.unbridged as f64 + f64::from(snapshot.bridged_lines) + f64::from(n)) / occ.staffed as f64
        }
    };
    let finish = |wanted: u32, reason: DecisionReason, risk: f64, threshold: f64| {
        let calls = wanted.min(occ.headroom);
        Decision {
            calls_to_start: calls,
            reason: if calls < wanted { DecisionReason::Capped } else { reason },
            dial_level: level(calls),
            marginal_abandon_risk: risk,
            risk_threshold: threshold,
            decided_at: now,
        }
    };
    if snapshot.mode == DialerMode::Preview {
        return finish(0, DecisionReason::Preview, 0.0, 0.0);
    }
    if occ.staffed == 0 {
        return finish(0, DecisionReason::NoAgents, 0.0, 0.0);
    }
    let progressive = u32::try_from(occ.available.saturating_sub(occ.unbridged)).unwrap_or(0);
    if snapshot.mode == DialerMode::Progressive {
        return finish(progressive, DecisionReason::Progressive, 0.0, 0.0);
    }
    let budget = risk_budget(
        &estimator.config().tuning,
        &snapshot.target,
        &snapshot.abandonment,
        estimator.recent_abandonment(),
        occ.staffed,
    );
    let forecast = estimator.forecast(snapshot);
    let (predictive, risk) = forecast.calls_within(budget.threshold, occ.headroom);
    // A tie is predictive's floor: with no budget left only risk-free calls pass, which
    // is about one per idle agent.
    if predictive > progressive {
        finish(predictive, DecisionReason::Predictive, risk, budget.threshold)
    } else {
        finish(progressive, DecisionReason::Progressive, risk, budget.threshold)
    }
}

#[cfg(test)]
mod tests;
