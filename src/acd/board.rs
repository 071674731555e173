//! The agent board: every agent's profile and state, every campaign's routing settings, and
//! the index that makes a routing decision a lookup instead of a scan. For each campaign it
//! keeps the AVAILABLE agents who meet the campaign's skills and region, in the campaign
//! strategy's order, once for all of them and once per language they speak.
//!
//! Every change that moves an agent's place in that order (state, profile, campaign
//! settings, daily totals) takes the agent out of the index before the change and puts it
//! back after, so the index never holds a stale key. The board decides nothing about calls.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};

use super::eligibility::{AgentProfile, CampaignRouting, Qualities, Requirement, Vocabulary, Wanted};
use super::state::{AgentClock, StateChange, Status, Transition};
use super::strategy::RankKey;
use super::{AcdError, AgentId, AgentState, CampaignId};

/// One agent on the board.
#[derive(Debug)]
pub(super) struct AgentEntry {
    pub qualities: Qualities,
    pub campaigns: Vec<CampaignId>,
    /// The assigned campaigns on the board whose skills and region the agent meets, with
    /// the skills part of its match score there.
    pub qualified: Vec<(CampaignId, u16)>,
    pub clock: AgentClock,
}

/// One campaign on the board.
#[derive(Debug)]
pub(super) struct CampaignEntry {
    pub routing: CampaignRouting,
    pub needs: Requirement,
    /// AVAILABLE qualified agents in routing order: `[0]` all of them, `[l + 1]` those who
    /// speak language `l`.
    available: Vec<BTreeSet<RankKey>>,
}

impl CampaignEntry {
    /// The AVAILABLE qualified agents who speak `language`, in routing order.
    pub(super) fn available_speaking(&self, language: Wanted) -> Option<&BTreeSet<RankKey>> {
        match language {
            Wanted::Any => self.available.first(),
            Wanted::Known(id) => self.available.get(id as usize + 1),
            Wanted::Unknown => None,
        }
    }
}

/// What the `agentBoard` query shows for one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub agent: AgentId,
    pub status: Status,
    pub since: DateTime<Utc>,
    pub time_in_state: TimeDelta,
    /// Time since the agent became free, when AVAILABLE.
    pub idle: Option<TimeDelta>,
    pub calls_today: u32,
    pub talk_today: TimeDelta,
    /// Handling time over ready time today; `None` before the agent was ready.
    pub occupancy: Option<f64>,
}

/// Agents and campaigns with their routing index. One owner task mutates it; `route` reads it.
#[derive(Debug, Default)]
pub struct Board {
    vocabulary: Vocabulary,
    agents: HashMap<AgentId, AgentEntry>,
    campaigns: HashMap<CampaignId, CampaignEntry>,
    /// WRAP_UP agents with a timeout, by when it ends.
    wrap_up_ends: BTreeSet<(DateTime<Utc>, AgentId)>,
}

impl Board {
    pub fn new() -> Self {
        Board::default()
    }

    /// Adds a campaign or replaces its routing settings; agents assigned to it are re-indexed.
    pub fn upsert_campaign(&mut self, routing: CampaignRouting) -> Result<(), AcdError> {
        let needs = Requirement::new(&routing, &mut self.vocabulary)?;
        let id = routing.id;
        let entry = CampaignEntry { routing, needs, available: Vec::new() };
        self.campaigns.insert(id, entry);
        let assigned: Vec<AgentId> =
            self.agents.iter().filter(|(_, a)| a.campaigns.contains(&id)).map(|(agent, _)| *agent).collect();
        for agent in assigned {
            self.reindex(agent, |_, _| Ok(()))?;
        }
        Ok(())
    }

    /// Takes a campaign off the board; its agents stay.
    pub fn remove_campaign(&mut self, id: CampaignId) -> Result<(), AcdError> {
        self.campaigns.remove(&id).ok_or(AcdError::UnknownCampaign(id))?;
        for agent in self.agents.values_mut() {
            agent.qualified.retain(|(c, _)| *c != id);
        }
        Ok(())
    }

    /// Adds an agent (OFFLINE since `now`) or replaces its profile, keeping its state.
    pub fn upsert_agent(&mut self, profile: AgentProfile, now: DateTime<Utc>) -> Result<(), AcdError> {
        let qualities = Qualities::new(&profile, &mut self.vocabulary)?;
        if self.agents.contains_key(&profile.id) {
            return self.reindex(profile.id, |agent, _| {
                agent.qualities = qualities;
                agent.campaigns = profile.campaigns;
                Ok(())
            });
        }
        let agent =
            AgentEntry { qualities, campaigns: profile.campaigns, qualified: Vec::new(), clock: AgentClock::new(now) };
        self.agents.insert(profile.id, agent);
        self.reindex(profile.id, |_, _| Ok(()))
    }

    pub fn remove_agent(&mut self, id: AgentId) -> Result<(), AcdError> {
        let agent = self.agents.remove(&id).ok_or(AcdError::UnknownAgent(id))?;
        index(id, &agent, &mut self.campaigns, &mut self.wrap_up_ends, Indexing::Remove);
        Ok(())
    }

    /// Applies a state change at `now`: the state machine decides, the index follows.
    pub fn set_state(&mut self, id: AgentId, change: StateChange, now: DateTime<Utc>) -> Result<Transition, AcdError> {
        if let StateChange::Reserved { campaign, .. } | StateChange::Preview { campaign, .. } = change
            && !self.campaigns.contains_key(&campaign)
        {
            return Err(AcdError::UnknownCampaign(campaign));
        }
        self.reindex(id, |agent, campaigns| {
            let timeout = match agent.clock.status() {
                Status::OnCall { campaign, .. } => campaigns.get(campaign).and_then(|c| c.routing.wrap_up_timeout),
                _ => None,
            };
            agent.clock.apply(id, change, timeout, now)
        })
    }

    /// Ends every wrap-up whose timeout has come (AVAILABLE), earliest first; the shell then
    /// offers each agent the waiting calls.
    pub fn expire_wrap_ups(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut done = Vec::new();
        while let Some(&(until, agent)) = self.wrap_up_ends.first() {
            if until > now {
                break;
            }
            match self.set_state(agent, StateChange::Available, now) {
                Ok(transition) => done.push(transition),
                // Not reachable while the index is kept by `reindex`; never loop on it.
                Err(_) => {
                    self.wrap_up_ends.remove(&(until, agent));
                }
            }
        }
        done
    }

    /// When the next wrap-up timeout falls, for the shell's timer.
    pub fn next_wrap_up_end(&self) -> Option<DateTime<Utc>> {
        self.wrap_up_ends.first().map(|(until, _)| *until)
    }

    /// Sets today's calls and talk time after a restart (from the call rows).
    pub fn restore_today(&mut self, id: AgentId, calls: u32, talk: TimeDelta) -> Result<(), AcdError> {
        self.reindex(id, |agent, _| {
            agent.clock.restore_today(calls, talk);
            Ok(())
        })
    }

    /// Starts a new day for every agent: time per state, calls and talk time count from `now`.
    pub fn start_day(&mut self, now: DateTime<Utc>) {
        let ids: Vec<AgentId> = self.agents.keys().copied().collect();
        for id in ids {
            // Every id comes from the board, so this cannot fail.
            let _ = self.reindex(id, |agent, _| {
                agent.clock.start_day(now);
                Ok(())
            });
        }
    }

    pub fn agent(&self, id: AgentId, now: DateTime<Utc>) -> Option<AgentView> {
        self.agents.get(&id).map(|a| view(id, a, now))
    }

    /// The agents who serve `campaign` (assigned and meeting its skills and region), in no
    /// particular order: the staff the campaign's pacing counts on.
    pub fn serving(&self, campaign: CampaignId, now: DateTime<Utc>) -> impl Iterator<Item = AgentView> + '_ {
        self.agents
            .iter()
            .filter(move |(_, a)| a.qualified.iter().any(|(c, _)| *c == campaign))
            .map(move |(id, a)| view(*id, a, now))
    }

    /// The agents whose capacity `campaign`'s pacing counts on when the campaigns in `pacing`
    /// (by priority) dial from the same agents: each agent counts for exactly one of the pacing
    /// campaigns it serves, the highest-priority one, and among equals the one its id picks (so a
    /// shared team splits evenly and the same way at every step). Without this, every campaign
    /// would count every shared agent as its own and together they would over-dial.
    pub fn pacing_share<'a>(
        &'a self,
        campaign: CampaignId,
        pacing: &'a HashMap<CampaignId, i32>,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = AgentView> + 'a {
        self.agents
            .iter()
            .filter(move |(id, a)| {
                let serves = |c: &CampaignId| a.qualified.iter().any(|(q, _)| q == c);
                if !serves(&campaign) {
                    return false;
                }
                let Some(top) = pacing.iter().filter(|(c, _)| serves(c)).map(|(_, p)| *p).max() else { return true };
                if pacing.get(&campaign) != Some(&top) {
                    return false;
                }
                // The tied campaigns in id order; the agent's id picks one of them.
                let tied = || pacing.iter().filter(|(c, p)| **p == top && serves(c));
                let place = tied().filter(|(c, _)| c.0 < campaign.0).count() as i64;
                id.0.rem_euclid(tied().count() as i64) == place
            })
            .map(move |(id, a)| view(*id, a, now))
    }

    /// Every agent, in no particular order.
    pub fn agents(&self, now: DateTime<Utc>) -> impl Iterator<Item = AgentView> + '_ {
        self.agents.iter().map(move |(id, a)| view(*id, a, now))
    }

    pub(super) fn agent_entry(&self, id: AgentId) -> Option<&AgentEntry> {
        self.agents.get(&id)
    }

    pub(super) fn agent_entries(&self) -> impl Iterator<Item = (AgentId, &AgentEntry)> {
        self.agents.iter().map(|(id, a)| (*id, a))
    }

    pub(super) fn campaign_entry(&self, id: CampaignId) -> Result<&CampaignEntry, AcdError> {
        self.campaigns.get(&id).ok_or(AcdError::UnknownCampaign(id))
    }

    pub(super) fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// Takes agent `id` out of the index, runs `change`, recomputes its qualified campaigns
    /// and puts it back. The agent goes back as it now is, whether `change` failed or not.
    fn reindex<T>(
        &mut self,
        id: AgentId,
        change: impl FnOnce(&mut AgentEntry, &HashMap<CampaignId, CampaignEntry>) -> Result<T, AcdError>,
    ) -> Result<T, AcdError> {
        let agent = self.agents.get_mut(&id).ok_or(AcdError::UnknownAgent(id))?;
        index(id, agent, &mut self.campaigns, &mut self.wrap_up_ends, Indexing::Remove);
        let result = change(agent, &self.campaigns);
        agent.qualified = agent
            .campaigns
            .iter()
            .filter_map(|c| {
                let campaign = self.campaigns.get(c)?;
                Some((*c, agent.qualities.qualifies(&campaign.needs)?))
            })
            .collect();
        index(id, agent, &mut self.campaigns, &mut self.wrap_up_ends, Indexing::Insert);
        result
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Indexing {
    Insert,
    Remove,
}

/// Puts agent `id` into, or takes it out of, the campaigns' available sets (when AVAILABLE)
/// and the wrap-up timeouts (when WRAP_UP with one).
fn index(
    id: AgentId,
    agent: &AgentEntry,
    campaigns: &mut HashMap<CampaignId, CampaignEntry>,
    wrap_up_ends: &mut BTreeSet<(DateTime<Utc>, AgentId)>,
    how: Indexing,
) {
    if let Status::WrapUp { until: Some(until), .. } = agent.clock.status() {
        match how {
            Indexing::Insert => wrap_up_ends.insert((*until, id)),
            Indexing::Remove => wrap_up_ends.remove(&(*until, id)),
        };
    }
    if agent.clock.state() != AgentState::Available {
        return;
    }
    for &(campaign_id, skill_points) in &agent.qualified {
        let Some(campaign) = campaigns.get_mut(&campaign_id) else {
            continue;
        };
        let key = campaign.routing.strategy.rank_key(id, skill_points, &agent.clock);
        let slots = std::iter::once(0).chain(agent.qualities.languages.iter().map(|l| *l as usize + 1));
        for slot in slots {
            match how {
                Indexing::Insert => {
                    if campaign.available.len() <= slot {
                        campaign.available.resize_with(slot + 1, BTreeSet::new);
                    }
                    campaign.available[slot].insert(key);
                }
                Indexing::Remove => {
                    if let Some(set) = campaign.available.get_mut(slot) {
                        set.remove(&key);
                    }
                }
            }
        }
    }
}

fn view(id: AgentId, agent: &AgentEntry, now: DateTime<Utc>) -> AgentView {
    let clock = &agent.clock;
    AgentView {
        agent: id,
        status: clock.status().clone(),
        since: clock.since(),
        time_in_state: (now - clock.since()).max(TimeDelta::zero()),
        idle: clock.idle(now),
        calls_today: clock.calls_today(),
        talk_today: clock.talk_today(),
        occupancy: clock.occupancy(now),
    }
}
