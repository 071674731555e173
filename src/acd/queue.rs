//! Answered calls waiting for an agent: their order, their deadlines, and which one a freed
//! agent takes next. It never decides a live answer (that is `route`) and never changes an
//! agent's state (the shell reserves the agent named in the offer).
//!
//! Order: for an agent serving several campaigns, the campaign with the higher priority
//! first; then the call with the higher priority; then the older answer; then the lower
//! call id. Within a campaign, calls the agent cannot take (another language) are passed
//! over, not blocked on. A call whose deadline has come is never offered: `expire` hands
//! it back to be abandoned.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::strategy::{RoutingMethod, Wants};
use super::{AcdError, AgentId, AgentState, Board, CallId, CampaignId, LiveCall, Offer};

/// A call's place in its campaign's queue; the smallest goes first.
type Place = (Reverse<i32>, DateTime<Utc>, CallId);

fn place(call: &LiveCall) -> Place {
    (Reverse(call.priority), call.answered_at, call.id)
}

/// The answered calls waiting, by campaign and by deadline.
#[derive(Debug, Default)]
pub struct WaitingCalls {
    calls: HashMap<CallId, LiveCall>,
    by_campaign: HashMap<CampaignId, BTreeSet<Place>>,
    deadlines: BTreeSet<(DateTime<Utc>, CallId)>,
}

impl WaitingCalls {
    pub fn new() -> Self {
        WaitingCalls::default()
    }

    /// Puts a call in line; a call already waiting under the same id is replaced.
    pub fn enqueue(&mut self, call: LiveCall) {
        self.remove(call.id);
        self.by_campaign.entry(call.campaign).or_default().insert(place(&call));
        self.deadlines.insert((call.deadline, call.id));
        self.calls.insert(call.id, call);
    }

    /// Takes a call out of line (the caller hung up, or the shell routed it elsewhere).
    pub fn remove(&mut self, id: CallId) -> Option<LiveCall> {
        let call = self.calls.remove(&id)?;
        if let Some(queue) = self.by_campaign.get_mut(&call.campaign) {
            queue.remove(&place(&call));
            if queue.is_empty() {
                self.by_campaign.remove(&call.campaign);
            }
        }
        self.deadlines.remove(&(call.deadline, call.id));
        Some(call)
    }

    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The earliest deadline, for the shell's timer.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Takes out every call whose deadline has come (at or before `now`), earliest first:
    /// the dialer abandons them.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<LiveCall> {
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            match self.remove(id) {
                Some(call) => expired.push(call),
                None => {
                    self.deadlines.remove(&(deadline, id));
                }
            }
        }
        expired
    }

    /// The waiting call a freed agent takes next, taken out of line, as an offer; `None`
    /// when the agent is not AVAILABLE or no waiting call suits it.
    pub fn next_for(&mut self, board: &Board, agent: AgentId, now: DateTime<Utc>) -> Result<Option<Offer>, AcdError> {
        let entry = board.agent_entry(agent).ok_or(AcdError::UnknownAgent(agent))?;
        if entry.clock.state() != AgentState::Available {
            return Ok(None);
        }
        let mut best = None;
        for &(campaign_id, skill_points) in &entry.qualified {
            let Some(queue) = self.by_campaign.get(&campaign_id) else {
                continue;
            };
            let campaign = board.campaign_entry(campaign_id)?;
            let first_suitable = queue.iter().find_map(|p| {
                let call = self.calls.get(&p.2)?;
                if call.deadline <= now {
                    return None;
                }
                let score = Wants::of(call, campaign, board).score(entry, skill_points, now)?;
                Some(((Reverse(campaign.routing.priority), *p), score))
            });
            if let Some((order, score)) = first_suitable
                && best.is_none_or(|(b, _)| order < b)
            {
                best = Some((order, score));
            }
        }
        let Some(((_, (_, _, call_id)), match_score)) = best else {
            return Ok(None);
        };
        Ok(self.remove(call_id).map(|call| Offer {
            call: call.id,
            campaign: call.campaign,
            agent,
            match_score,
            routing_method: RoutingMethod::WaitingQueue,
        }))
    }
}
