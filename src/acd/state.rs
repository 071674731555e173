//! The agent state machine: which transitions are allowed, and one agent's timestamped
//! history reduced to what routing and the agent board need (time in state, idle time,
//! occupancy, calls and talk time today). It knows nothing of campaigns' indexes.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{AcdError, AgentId, CallId, CampaignId};

/// The fixed GraphQL enum `AgentState`; stored by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentState {
    Offline,
    Available,
    /// Offered a call, not yet connected.
    Reserved,
    OnCall,
    WrapUp,
    Paused,
}

impl AgentState {
    pub const ALL: [AgentState; 6] = [
        AgentState::Offline,
        AgentState::Available,
        AgentState::Reserved,
        AgentState::OnCall,
        AgentState::WrapUp,
        AgentState::Paused,
    ];

    /// Whether the state machine allows `self -> to`. Every other pair, and every
    /// self-transition except a paused agent changing its reason, is rejected.
    pub fn allows(self, to: AgentState) -> bool {
        use AgentState::*;
        matches!(
            (self, to),
            (Offline, Available | Paused)
                | (Available, Reserved | Paused | Offline)
                // An offer that never connected frees the agent, or the agent steps away.
                | (Reserved, OnCall | Available | Paused | Offline)
                // A connected call ends only in wrap-up: the call must be dispositioned.
                | (OnCall, WrapUp)
                | (WrapUp, Available | Paused | Offline)
                | (Paused, Available | Offline | Paused)
        )
    }

    /// The stored and GraphQL name, e.g. `ON_CALL`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Offline => "OFFLINE",
            AgentState::Available => "AVAILABLE",
            AgentState::Reserved => "RESERVED",
            AgentState::OnCall => "ON_CALL",
            AgentState::WrapUp => "WRAP_UP",
            AgentState::Paused => "PAUSED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// A state with what it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Offline,
    Available,
    Reserved {
        call: CallId,
        campaign: CampaignId,
    },
    /// RESERVED for a preview: a contact of `campaign` is offered to the agent, who dials or
    /// skips it; no call exists yet. Dialing it turns this into `Reserved` with the new call.
    Previewing {
        contact: i64,
        campaign: CampaignId,
    },
    OnCall {
        call: CallId,
        campaign: CampaignId,
    },
    /// `until` is the campaign's wrap-up timeout, when it has one.
    WrapUp {
        call: CallId,
        campaign: CampaignId,
        until: Option<DateTime<Utc>>,
    },
    Paused {
        reason: Option<String>,
    },
}

impl Status {
    pub fn state(&self) -> AgentState {
        match self {
            Status::Offline => AgentState::Offline,
            Status::Available => AgentState::Available,
            Status::Reserved { .. } | Status::Previewing { .. } => AgentState::Reserved,
            Status::OnCall { .. } => AgentState::OnCall,
            Status::WrapUp { .. } => AgentState::WrapUp,
            Status::Paused { .. } => AgentState::Paused,
        }
    }
}

/// What the shell asks for. `OnCall` names the call so a late or stray bridge event for
/// another call is refused; `WrapUp` takes its call and campaign from the current call.
/// `Preview` reserves an AVAILABLE agent for a contact; `Reserved` from a preview of the same
/// campaign is the preview being dialed (the one RESERVED -> RESERVED change allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    Offline,
    Available,
    Reserved { call: CallId, campaign: CampaignId },
    Preview { contact: i64, campaign: CampaignId },
    OnCall { call: CallId },
    WrapUp,
    Paused { reason: Option<String> },
}

impl StateChange {
    pub fn target(&self) -> AgentState {
        match self {
            StateChange::Offline => AgentState::Offline,
            StateChange::Available => AgentState::Available,
            StateChange::Reserved { .. } | StateChange::Preview { .. } => AgentState::Reserved,
            StateChange::OnCall { .. } => AgentState::OnCall,
            StateChange::WrapUp => AgentState::WrapUp,
            StateChange::Paused { .. } => AgentState::Paused,
        }
    }
}

/// One accepted transition, for the shell to store and publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub agent: AgentId,
    pub from: AgentState,
    pub to: AgentState,
    pub at: DateTime<Utc>,
    /// How long the agent was in `from`.
    pub lasted: TimeDelta,
}

/// One agent's state and its timestamped history, reduced.
#[derive(Debug, Clone)]
pub(super) struct AgentClock {
    status: Status,
    /// When the current state was entered.
    since: DateTime<Utc>,
    /// When the agent last became free. An offer that never connected (RESERVED ->
    /// AVAILABLE) keeps it, so a missed offer does not send the agent to the back of the line.
    idle_since: DateTime<Utc>,
    /// Start of the part of the current state not yet added to `per_state`.
    counted_from: DateTime<Utc>,
    /// Time spent in each state since the day began (index: `AgentState::slot`).
    per_state: [TimeDelta; 6],
    calls_today: u32,
    talk_today: TimeDelta,
    /// When the current call connected.
    connected_at: Option<DateTime<Utc>>,
}

impl AgentClock {
    pub(super) fn new(now: DateTime<Utc>) -> Self {
        AgentClock {
            status: Status::Offline,
            since: now,
            idle_since: now,
            counted_from: now,
            per_state: [TimeDelta::zero(); 6],
            calls_today: 0,
            talk_today: TimeDelta::zero(),
            connected_at: None,
        }
    }

    pub(super) fn status(&self) -> &Status {
        &self.status
    }

    pub(super) fn state(&self) -> AgentState {
        self.status.state()
    }

    pub(super) fn since(&self) -> DateTime<Utc> {
        self.since
    }

    pub(super) fn idle_since(&self) -> DateTime<Utc> {
        self.idle_since
    }

    pub(super) fn calls_today(&self) -> u32 {
        self.calls_today
    }

    pub(super) fn talk_today(&self) -> TimeDelta {
        self.talk_today
    }

    /// How long the agent has been free, when AVAILABLE.
    pub(super) fn idle(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        (self.state() == AgentState::Available).then(|| non_negative(now - self.idle_since))
    }

    /// Handling time (RESERVED, ON_CALL, WRAP_UP) over time ready or handling (those and
    /// AVAILABLE) since the day began; PAUSED and OFFLINE do not count. `None` before the
    /// agent has been ready at all.
    pub(super) fn occupancy(&self, now: DateTime<Utc>) -> Option<f64> {
        let mut per_state = self.per_state;
        per_state[self.state().slot()] += non_negative(now - self.counted_from);
        let busy = [AgentState::Reserved, AgentState::OnCall, AgentState::WrapUp]
            .map(|s| per_state[s.slot()])
            .into_iter()
            .fold(TimeDelta::zero(), |sum, t| sum + t);
        let ready = busy + per_state[AgentState::Available.slot()];
        (ready > TimeDelta::zero()).then(|| busy.num_milliseconds() as f64 / ready.num_milliseconds() as f64)
    }

    /// Applies `change` at `now`. `wrap_up_timeout` is the current call's campaign's.
    pub(super) fn apply(
        &mut self,
        agent: AgentId,
        change: StateChange,
        wrap_up_timeout: Option<TimeDelta>,
        now: DateTime<Utc>,
    ) -> Result<Transition, AcdError> {
        let from = self.state();
        let to = change.target();
        let dials_preview = matches!(
            (&self.status, &change),
            (Status::Previewing { campaign: previewed, .. }, StateChange::Reserved { campaign, .. }) if previewed == campaign
        );
        if !from.allows(to) && !dials_preview {
            return Err(AcdError::InvalidTransition { agent, from, to });
        }
        let status = self.next_status(agent, change, wrap_up_timeout, now)?;
        let lasted = non_negative(now - self.since);
        self.per_state[from.slot()] += non_negative(now - self.counted_from);
        match (from, to) {
            (AgentState::Reserved, AgentState::Available) => {}
            (_, AgentState::Available) => self.idle_since = now,
            (_, AgentState::OnCall) => self.connected_at = Some(now),
            (AgentState::OnCall, _) => {
                self.calls_today += 1;
                if let Some(connected) = self.connected_at.take() {
                    self.talk_today += non_negative(now - connected);
                }
            }
            _ => {}
        }
        self.status = status;
        self.since = now;
        self.counted_from = now;
        Ok(Transition { agent, from, to, at: now, lasted })
    }

    fn next_status(
        &self,
        agent: AgentId,
        change: StateChange,
        wrap_up_timeout: Option<TimeDelta>,
        now: DateTime<Utc>,
    ) -> Result<Status, AcdError> {
        Ok(match change {
            StateChange::Offline => Status::Offline,
            StateChange::Available => Status::Available,
            StateChange::Reserved { call, campaign } => Status::Reserved { call, campaign },
            StateChange::Preview { contact, campaign } => Status::Previewing { contact, campaign },
            StateChange::OnCall { call } => match self.status {
                Status::Reserved { call: reserved, campaign } if reserved == call => Status::OnCall { call, campaign },
                _ => return Err(AcdError::NotReservedFor { agent, call }),
            },
            StateChange::WrapUp => match self.status {
                Status::OnCall { call, campaign } => {
                    Status::WrapUp { call, campaign, until: wrap_up_timeout.map(|t| now + t) }
                }
                // `allows` admits WRAP_UP only from ON_CALL.
                _ => {
                    return Err(AcdError::InvalidTransition { agent, from: self.state(), to: AgentState::WrapUp });
                }
            },
            StateChange::Paused { reason } => Status::Paused { reason },
        })
    }

    /// Starts a new day: time per state, calls and talk time count from `now`.
    pub(super) fn start_day(&mut self, now: DateTime<Utc>) {
        self.per_state = [TimeDelta::zero(); 6];
        self.counted_from = now;
        self.calls_today = 0;
        self.talk_today = TimeDelta::zero();
    }

    /// Restores today's totals after a restart (from the call rows).
    pub(super) fn restore_today(&mut self, calls: u32, talk: TimeDelta) {
        self.calls_today = calls;
        self.talk_today = talk;
    }
}

fn non_negative(t: TimeDelta) -> TimeDelta {
    t.max(TimeDelta::zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).single().expect("valid instant")
    }

    const AGENT: AgentId = AgentId(7);
    const CALL: CallId = CallId(70);
    const CAMPAIGN: CampaignId = CampaignId(3);

    fn change_to(state: AgentState) -> StateChange {
        match state {
            AgentState::Offline => StateChange::Offline,
            AgentState::Available => StateChange::Available,
            AgentState::Reserved => StateChange::Reserved { call: CALL, campaign: CAMPAIGN },
            AgentState::OnCall => StateChange::OnCall { call: CALL },
            AgentState::WrapUp => StateChange::WrapUp,
            AgentState::Paused => StateChange::Paused { reason: Some("LUNCH".into()) },
        }
    }

    /// Drives a fresh clock into `state` along valid transitions.
    fn clock_in(state: AgentState) -> AgentClock {
        use AgentState::*;
        let path: &[AgentState] = match state {
            Offline => &[],
            Available => &[Available],
            Reserved => &[Available, Reserved],
            OnCall => &[Available, Reserved, OnCall],
            WrapUp => &[Available, Reserved, OnCall, WrapUp],
            Paused => &[Paused],
        };
        let mut clock = AgentClock::new(at(0));
        for (i, s) in path.iter().enumerate() {
            clock.apply(AGENT, change_to(*s), None, at(i as i64 + 1)).expect("path is valid");
        }
        assert_eq!(clock.state(), state);
        clock
    }

    #[test]
    fn every_pair_of_states_is_accepted_or_rejected_as_the_table_says() {
        use AgentState::*;
        let valid = [
            (Offline, Available),
            (Offline, Paused),
            (Available, Reserved),
            (Available, Paused),
            (Available, Offline),
            (Reserved, OnCall),
            (Reserved, Available),
            (Reserved, Paused),
            (Reserved, Offline),
            (OnCall, WrapUp),
            (WrapUp, Available),
            (WrapUp, Paused),
            (WrapUp, Offline),
            (Paused, Available),
            (Paused, Offline),
            (Paused, Paused),
        ];
        let mut accepted = 0;
        for from in AgentState::ALL {
            for to in AgentState::ALL {
                let mut clock = clock_in(from);
                let result = clock.apply(AGENT, change_to(to), None, at(100));
                if valid.contains(&(from, to)) {
                    let t = result.unwrap_or_else(|e| panic!("{from:?} -> {to:?}: {e}"));
                    assert_eq!((t.from, t.to, t.at), (from, to, at(100)));
                    assert_eq!(clock.state(), to);
                    assert_eq!(clock.since(), at(100));
                    accepted += 1;
                } else {
                    assert_eq!(
                        result,
                        Err(AcdError::InvalidTransition { agent: AGENT, from, to }),
                        "{from:?} -> {to:?} must be rejected"
                    );
                    assert_eq!(clock.state(), from, "a rejected change leaves the state");
                }
            }
        }
        assert_eq!(accepted, valid.len());
    }

    #[test]
    fn connecting_another_call_than_the_reserved_one_is_refused() {
        let mut clock = clock_in(AgentState::Reserved);
        let stray = StateChange::OnCall { call: CallId(71) };
        assert_eq!(
            clock.apply(AGENT, stray, None, at(50)),
            Err(AcdError::NotReservedFor { agent: AGENT, call: CallId(71) })
        );
        assert_eq!(clock.state(), AgentState::Reserved);
    }

    #[test]
    fn a_call_counts_its_talk_time_and_wrap_up_gets_the_campaign_timeout() {
        let mut clock = clock_in(AgentState::Available);
        let reserve = change_to(AgentState::Reserved);
        clock.apply(AGENT, reserve, None, at(10)).expect("reserve");
        let connect = StateChange::OnCall { call: CALL };
        clock.apply(AGENT, connect, None, at(12)).expect("connect");
        let timeout = TimeDelta::seconds(30);
        let t = clock.apply(AGENT, StateChange::WrapUp, Some(timeout), at(72)).expect("wrap up");
        assert_eq!(t.lasted, TimeDelta::seconds(60));
        assert_eq!(clock.calls_today(), 1);
        assert_eq!(clock.talk_today(), TimeDelta::seconds(60));
        assert_eq!(clock.status(), &Status::WrapUp { call: CALL, campaign: CAMPAIGN, until: Some(at(102)) });
    }

    #[test]
    fn a_dialed_preview_becomes_a_reservation_for_its_call_and_connects() {
        let mut clock = clock_in(AgentState::Available);
        let preview = StateChange::Preview { contact: 5, campaign: CAMPAIGN };
        clock.apply(AGENT, preview.clone(), None, at(10)).expect("preview");
        assert_eq!(clock.status(), &Status::Previewing { contact: 5, campaign: CAMPAIGN });
        assert_eq!(clock.state(), AgentState::Reserved);
        // Another campaign's call, a second preview or a connect without a call are refused.
        let other = StateChange::Reserved { call: CALL, campaign: CampaignId(4) };
        assert!(clock.apply(AGENT, other, None, at(11)).is_err());
        assert!(clock.apply(AGENT, preview, None, at(11)).is_err());
        assert!(clock.apply(AGENT, StateChange::OnCall { call: CALL }, None, at(11)).is_err());
        let t = clock.apply(AGENT, change_to(AgentState::Reserved), None, at(12)).expect("dialed");
        assert_eq!((t.from, t.to), (AgentState::Reserved, AgentState::Reserved));
        // Once dialed it is an ordinary reservation: no second dial of the same reservation.
        assert!(clock.apply(AGENT, change_to(AgentState::Reserved), None, at(13)).is_err());
        clock.apply(AGENT, StateChange::OnCall { call: CALL }, None, at(20)).expect("connect");
        assert_eq!(clock.status(), &Status::OnCall { call: CALL, campaign: CAMPAIGN });
    }

    #[test]
    fn a_skipped_preview_frees_the_agent_in_its_place() {
        let mut clock = clock_in(AgentState::Available);
        let idle_since = clock.idle_since();
        clock.apply(AGENT, StateChange::Preview { contact: 5, campaign: CAMPAIGN }, None, at(20)).expect("preview");
        clock.apply(AGENT, StateChange::Available, None, at(25)).expect("skip");
        assert_eq!(clock.idle_since(), idle_since);
    }

    #[test]
    fn a_missed_offer_keeps_the_agents_place_in_the_idle_line() {
        let mut clock = clock_in(AgentState::Available);
        let idle_since = clock.idle_since();
        clock.apply(AGENT, change_to(AgentState::Reserved), None, at(20)).expect("reserve");
        clock.apply(AGENT, StateChange::Available, None, at(25)).expect("release");
        assert_eq!(clock.idle_since(), idle_since);
        assert_eq!(clock.idle(at(30)), Some(at(30) - idle_since));
    }

    #[test]
    fn idle_restarts_after_a_pause_and_is_none_when_not_available() {
        let mut clock = clock_in(AgentState::Available);
        clock.apply(AGENT, change_to(AgentState::Paused), None, at(20)).expect("pause");
        assert_eq!(clock.idle(at(30)), None);
        clock.apply(AGENT, StateChange::Available, None, at(40)).expect("back");
        assert_eq!(clock.idle(at(45)), Some(TimeDelta::seconds(5)));
    }

    #[test]
    fn occupancy_is_handling_time_over_ready_time_without_pauses() {
        let mut clock = AgentClock::new(at(0));
        let steps = [
            (StateChange::Available, 0),
            (change_to(AgentState::Reserved), 30),
            (StateChange::OnCall { call: CALL }, 40),
            (StateChange::WrapUp, 70),
            (change_to(AgentState::Paused), 90),
        ];
        for (change, secs) in steps {
            clock.apply(AGENT, change, None, at(secs)).expect("valid");
        }
        // Ready 30 s, handling 10 + 30 + 20 = 60 s; the pause after 90 s does not count.
        let occupancy = clock.occupancy(at(500)).expect("was ready");
        assert!((occupancy - 60.0 / 90.0).abs() < 1e-9, "{occupancy}");
        clock.start_day(at(500));
        assert_eq!(clock.occupancy(at(600)), None);
        assert_eq!(clock.calls_today(), 0);
    }
}
