//! Routing strategies and the routing decision for one live answer. It owns the order in
//! which eligible agents are preferred, and nothing else: who is eligible is eligibility's,
//! how the fit is scored is the score's, where agents are kept is the board's.
//!
//! Orders (first is chosen), every tie broken by longest idle, then by lower agent id:
//! - `LONGEST_IDLE` (default): earliest `idle_since`.
//! - `FEWEST_CALLS`: fewest calls completed today.
//! - `LEAST_TALK_TIME`: least talk time today.
//! - `BEST_MATCH`: highest match score (skills, language, region, idle time).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::board::{AgentEntry, Board, CampaignEntry};
use super::eligibility::Wanted;
use super::score::{FIT_WEIGHT, Fit, IDLE_WEIGHT, MatchScore, SKILL_WEIGHT, idle_points, match_score};
use super::state::{AgentClock, AgentState};
use super::{AcdError, AgentId, Decision, LiveCall, Offer, PreviewContact, PreviewOffer};

/// A campaign's routing strategy (GraphQL `RoutingStrategy`; stored by the same names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[graphql(name = "RoutingStrategy")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Strategy {
    #[default]
    LongestIdle,
    FewestCalls,
    LeastTalkTime,
    BestMatch,
}

/// Why an offer went to its agent: the campaign's strategy on a live answer, or
/// `WAITING_QUEUE` when a freed agent took the first waiting call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoutingMethod {
    LongestIdle,
    FewestCalls,
    LeastTalkTime,
    BestMatch,
    WaitingQueue,
}

impl Strategy {
    pub const ALL: [Strategy; 4] =
        [Strategy::LongestIdle, Strategy::FewestCalls, Strategy::LeastTalkTime, Strategy::BestMatch];

    /// The stored and GraphQL name, e.g. `LONGEST_IDLE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "LONGEST_IDLE",
            Strategy::FewestCalls => "FEWEST_CALLS",
            Strategy::LeastTalkTime => "LEAST_TALK_TIME",
            Strategy::BestMatch => "BEST_MATCH",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|strategy| strategy.as_str() == text)
    }
}

impl From<Strategy> for RoutingMethod {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::LongestIdle => RoutingMethod::LongestIdle,
            Strategy::FewestCalls => RoutingMethod::FewestCalls,
            Strategy::LeastTalkTime => RoutingMethod::LeastTalkTime,
            Strategy::BestMatch => RoutingMethod::BestMatch,
        }
    }
}

/// An available agent's place in one campaign's order; the smallest key goes first.
/// `skill_points` rides along and never decides (agent ids are unique in a set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct RankKey {
    /// The strategy's measure; for best match, the skills part it cannot reach.
    primary: u64,
    idle_since: DateTime<Utc>,
    agent: AgentId,
    skill_points: u16,
}

impl Strategy {
    pub(super) fn rank_key(self, agent: AgentId, skill_points: u16, clock: &AgentClock) -> RankKey {
        let primary = match self {
            Strategy::LongestIdle => 0,
            Strategy::FewestCalls => u64::from(clock.calls_today()),
            Strategy::LeastTalkTime => clock.talk_today().num_milliseconds().max(0) as u64,
            Strategy::BestMatch => u64::from(SKILL_WEIGHT - skill_points),
        };
        RankKey { primary, idle_since: clock.idle_since(), agent, skill_points }
    }

    /// The full order of a scored candidate: best match replaces its key's skills part by
    /// what the whole score cannot reach.
    fn order(self, key: &RankKey, score: MatchScore) -> Order {
        let primary = match self {
            Strategy::BestMatch => u64::from(MatchScore::MAX.hundredths() - score.hundredths()),
            _ => key.primary,
        };
        (primary, key.idle_since, key.agent)
    }
}

/// Smaller is better.
type Order = (u64, DateTime<Utc>, AgentId);

/// What one call asks of agents beyond the campaign's fixed needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wants {
    pub language: Wanted,
    pub region: Wanted,
}

impl Wants {
    pub(super) fn of(call: &LiveCall, campaign: &CampaignEntry, board: &Board) -> Self {
        Wants::of_contact(call.language.as_deref(), call.region.as_deref(), campaign, board)
    }

    fn of_contact(language: Option<&str>, region: Option<&str>, campaign: &CampaignEntry, board: &Board) -> Self {
        let vocabulary = board.vocabulary();
        Wants {
            language: Wanted::resolve(language, campaign.needs.language, &vocabulary.languages),
            region: Wanted::resolve(region, campaign.needs.region, &vocabulary.regions),
        }
    }

    /// The agent's match score for this call, or `None` when it does not speak the language.
    pub(super) fn score(&self, agent: &AgentEntry, skill_points: u16, now: DateTime<Utc>) -> Option<MatchScore> {
        let language = agent.qualities.speaks(self.language)?;
        Some(match_score(Fit {
            skill_points,
            language,
            same_region: agent.qualities.serves(self.region),
            idle: now - agent.clock.idle_since(),
        }))
    }
}

/// Routes one live answer: the best free eligible agent by the campaign's strategy, `Wait`
/// when there is none, `Abandon` once `now` has reached the call's deadline. Allocation-free:
/// one lookup in the campaign's index, plus a bounded walk for best match.
pub fn route(board: &Board, call: &LiveCall, now: DateTime<Utc>) -> Result<Decision, AcdError> {
    let campaign = board.campaign_entry(call.campaign)?;
    if now >= call.deadline {
        return Ok(Decision::Abandon);
    }
    let chosen = choose(board, campaign, Wants::of(call, campaign, board), now);
    Ok(decision(call, campaign.routing.strategy, chosen))
}

/// Picks the agent to reserve for a preview of `contact`: the same eligibility and order as a
/// live answer of the campaign gets, without a deadline (nobody is on the line yet). `None` when
/// no eligible agent is AVAILABLE.
pub fn route_preview(
    board: &Board,
    contact: &PreviewContact,
    now: DateTime<Utc>,
) -> Result<Option<PreviewOffer>, AcdError> {
    let campaign = board.campaign_entry(contact.campaign)?;
    let wants = Wants::of_contact(contact.language.as_deref(), contact.region.as_deref(), campaign, board);
    Ok(choose(board, campaign, wants, now).map(|(agent, match_score)| PreviewOffer {
        contact: contact.id,
        campaign: contact.campaign,
        agent,
        match_score,
        routing_method: campaign.routing.strategy.into(),
    }))
}

/// The best AVAILABLE agent of `campaign`'s index for `wants`, by the campaign's strategy.
fn choose(board: &Board, campaign: &CampaignEntry, wants: Wants, now: DateTime<Utc>) -> Option<(AgentId, MatchScore)> {
    let available = campaign.available_speaking(wants.language)?;
    match campaign.routing.strategy {
        Strategy::BestMatch => best_match(board, available, wants, now),
        _ => available.first().and_then(|key| {
            let agent = board.agent_entry(key.agent)?;
            Some((key.agent, wants.score(agent, key.skill_points, now)?))
        }),
    }
}

/// The same decision as [`route`] by a plain scan over every agent on the board, without
/// the index. The reference the property tests hold `route` to, and the benchmark's baseline.
pub fn route_by_scan(board: &Board, call: &LiveCall, now: DateTime<Utc>) -> Result<Decision, AcdError> {
    let campaign = board.campaign_entry(call.campaign)?;
    if now >= call.deadline {
        return Ok(Decision::Abandon);
    }
    let wants = Wants::of(call, campaign, board);
    let strategy = campaign.routing.strategy;
    let mut best: Option<(Order, AgentId, MatchScore)> = None;
    for (id, agent) in board.agent_entries() {
        if agent.clock.state() != AgentState::Available || !agent.campaigns.contains(&call.campaign) {
            continue;
        }
        let Some(skill_points) = agent.qualities.qualifies(&campaign.needs) else {
            continue;
        };
        let Some(score) = wants.score(agent, skill_points, now) else {
            continue;
        };
        let order = strategy.order(&strategy.rank_key(id, skill_points, &agent.clock), score);
        if best.is_none_or(|(b, _, _)| order < b) {
            best = Some((order, id, score));
        }
    }
    Ok(decision(call, strategy, best.map(|(_, id, score)| (id, score))))
}

fn decision(call: &LiveCall, strategy: Strategy, chosen: Option<(AgentId, MatchScore)>) -> Decision {
    match chosen {
        Some((agent, match_score)) => Decision::Offer(Offer {
            call: call.id,
            campaign: call.campaign,
            agent,
            match_score,
            routing_method: strategy.into(),
        }),
        None => Decision::Wait,
    }
}

/// Best match over a best-match campaign's set, ordered by skills part (best first), then
/// longest idle. Within one skills part the bound (skills + full language and region fit +
/// idle) only falls along the set, so the walk leaves a group as soon as its bound cannot
/// beat the best so far, and stops when no later group can.
fn best_match(
    board: &Board,
    available: &BTreeSet<RankKey>,
    wants: Wants,
    now: DateTime<Utc>,
) -> Option<(AgentId, MatchScore)> {
    let mut best: Option<(Order, AgentId, MatchScore)> = None;
    let mut group_start = available.first();
    while let Some(first) = group_start {
        let group = first.primary;
        let reach = first.skill_points + FIT_WEIGHT + IDLE_WEIGHT;
        let ceiling = (u64::from(MatchScore::MAX.hundredths() - reach), DateTime::<Utc>::MIN_UTC, AgentId(i64::MIN));
        if best.is_some_and(|(b, _, _)| b < ceiling) {
            break;
        }
        for key in available.range(first..).take_while(|k| k.primary == group) {
            let bound = key.skill_points + FIT_WEIGHT + idle_points(now - key.idle_since);
            let bound_order = (u64::from(MatchScore::MAX.hundredths() - bound), key.idle_since, key.agent);
            if best.is_some_and(|(b, _, _)| b <= bound_order) {
                break;
            }
            let Some(score) = board.agent_entry(key.agent).and_then(|a| wants.score(a, key.skill_points, now)) else {
                continue;
            };
            let order = Strategy::BestMatch.order(key, score);
            if best.is_none_or(|(b, _, _)| order < b) {
                best = Some((order, key.agent, score));
            }
        }
        group_start = available.range(next_group(group)..).next();
    }
    best.map(|(_, agent, score)| (agent, score))
}

/// The smallest key after every key of skills group `group`.
fn next_group(group: u64) -> RankKey {
    RankKey { primary: group + 1, idle_since: DateTime::<Utc>::MIN_UTC, agent: AgentId(i64::MIN), skill_points: 0 }
}
