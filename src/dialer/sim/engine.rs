//! The discrete-event call centre: virtual time, seeded randomness, dials with post-dial
//! delay, live / machine / ring-out / fast-fail outcomes, answering-machine detection
//! with errors, routing latency inside the 2-s budget, agents who talk, wrap, pause and
//! log in or out, and step changes. Each pacing decision sees only a [`PacingSnapshot`]
//! built from observable state; hidden truth (outcomes drawn at dial time, remaining talk
//! time) stays here.
//!
//! Hard rules it enforces and audits: calls ring out at the ring timeout (never below the
//! 15-s minimum, and never hung up early); a person not bridged within the deadline after
//! the completed greeting is abandoned; a person the detector hangs up on is abandoned.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

use super::report::{DayTally, RunReport, Tally};
use super::scenario::{Scenario, ScenarioError};
use super::strategy::{Controller, Strategy};
use crate::dialer::pacing::{
    AbandonmentSoFar, AbandonmentTarget, AgentActivity, AgentObs, CallObs, CallStage, Constraints, DialResult,
    DialerMode, Estimator, Observation, PacerConfig, PacingSnapshot,
};

/// Seconds between day starts on the pacer's clock.
const DAY: f64 = 86_400.0;
/// The carrier's rolling window for the dials-per-second cap.
const DIAL_WINDOW: f64 = 5.0;
/// The regulatory window, in days.
const WINDOW_DAYS: usize = 30;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Person { answered_at: f64, greeting_end: f64, verdict_at: f64, hung_up_as_machine: bool },
    Machine { answered_at: f64, verdict_at: f64, passed_as_person: bool },
    RingOut { end: f64 },
    Fail { end: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Call {
    dialed_at: f64,
    ring_at: f64,
    fate: Fate,
    /// Latest bridge time allowed by the 2-s rule (for calls routed to agents).
    deadline: f64,
    waiting_since: Option<f64>,
    bridge_at: f64,
    /// Still unbridged and unresolved (counted in flight).
    open: bool,
}

impl Call {
    fn is_person(&self) -> bool {
        matches!(self.fate, Fate::Person { .. })
    }

    fn observed(&self, now: f64) -> CallObs {
        let age = now - self.dialed_at;
        let (stage, since) = match (self.waiting_since, self.fate) {
            (Some(w), _) => (CallStage::AwaitingAgent, w),
            (None, Fate::Fail { .. }) => (CallStage::Dialing, self.dialed_at),
            (None, _) if now < self.ring_at => (CallStage::Dialing, self.dialed_at),
            (None, Fate::Person { answered_at, .. } | Fate::Machine { answered_at, .. }) if now >= answered_at => {
                (CallStage::Screening, answered_at)
            }
            _ => (CallStage::Ringing, self.ring_at),
        };
        CallObs { stage, age: secs(age), in_stage: secs(now - since) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AgentState {
    Offline,
    Idle,
    Reserved,
    Talking,
    Wrap,
    Paused,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Agent {
    state: AgentState,
    since: f64,
    logged_in_at: f64,
    leaving: bool,
    /// The call being bridged or talked on.
    call: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Event {
    Decide,
    Resolve(usize),
    Bridge { call: usize, agent: usize },
    Deadline(usize),
    TalkEnd(usize),
    WrapEnd(usize),
    PauseEnd(usize),
    Step(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Scheduled {
    at: f64,
    seq: u64,
    event: Event,
}

impl Eq for Scheduled {}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: earliest time (then earliest scheduled) first.
        other.at.total_cmp(&self.at).then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Seconds as a `Duration` (nanosecond resolution; negative values clamp to zero).
/// Cheaper than `Duration::from_secs_f64`, which matters at ~1000 conversions a decision.
fn secs(s: f64) -> Duration {
    Duration::from_nanos((s.max(0.0) * 1e9) as u64)
}

/// Parameters a step can change.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Params {
    answer_rate: f64,
    talk_mean: f64,
    agents: u32,
}

/// Draws from a lognormal given as (mu, sigma).
fn lognormal(rng: &mut SmallRng, mu: f64, sigma: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    (mu + sigma * z).exp()
}

fn mu_sigma(mean: f64, cv: f64) -> (f64, f64) {
    let var = (1.0 + cv * cv).ln();
    (mean.ln() - var / 2.0, var.sqrt())
}

fn uniform(rng: &mut SmallRng, range: [f64; 2]) -> f64 {
    range[0] + (range[1] - range[0]) * rng.random::<f64>()
}

struct Sim<'a> {
    sc: &'a Scenario,
    params: Params,
    now: f64,
    epoch: f64,
    shift_end: f64,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    calls: Vec<Call>,
    in_flight: Vec<usize>,
    waiting: VecDeque<usize>,
    agents: Vec<Agent>,
    dial_times: VecDeque<f64>,
    call_rng: SmallRng,
    agent_rng: SmallRng,
    estimator: Estimator,
    controller: Controller,
    observed_days: Vec<(u64, u64)>,
    tally: Tally,
    day: DayTally,
    snapshot: PacingSnapshot,
    /// Routing + bridge latency as lognormal (mu, sigma); none bridges at once.
    routing: Option<(f64, f64)>,
    /// Answering-machine detection is on (off when its false positives would not fit
    /// the abandonment budget: every answer then goes to an agent).
    screening: bool,
}

impl Sim<'_> {
    fn schedule(&mut self, at: f64, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled { at, seq: self.seq, event });
    }

    fn observe(&mut self, observation: Observation) {
        if self.controller.uses_estimator() {
            self.estimator.observe(observation, self.epoch + self.now);
        }
    }

    /// Seconds of `[start, end]` inside the shift.
    fn in_shift(&self, start: f64, end: f64) -> f64 {
        (end.min(self.shift_end) - start.max(0.0)).max(0.0)
    }

    fn observe_live(&mut self, abandoned: bool) {
        if let Some(today) = self.observed_days.last_mut() {
            today.0 += 1;
            today.1 += u64::from(abandoned);
        }
        self.observe(Observation::LiveAnswerEnded { abandoned });
    }

    fn run_day(&mut self, day: u32) {
        let sc = self.sc;
        self.now = 0.0;
        self.epoch = f64::from(day) * DAY;
        self.shift_end = sc.shift_hours * 3600.0;
        self.queue.clear();
        self.calls.clear();
        self.in_flight.clear();
        self.waiting.clear();
        self.dial_times.clear();
        self.day = DayTally::default();
        self.observed_days.push((0, 0));
        self.params = Params { answer_rate: sc.answer_rate, talk_mean: sc.talk_mean, agents: sc.agents };
        for step in sc.steps.iter().filter(|s| s.day.is_some_and(|d| d < day)) {
            self.apply(step);
        }
        for a in &mut self.agents {
            a.state = AgentState::Offline;
            a.leaving = false;
        }
        self.staff(self.params.agents);
        for (i, step) in sc.steps.iter().enumerate() {
            if step.day.is_none_or(|d| d == day) {
                self.schedule(step.hour * 3600.0, Event::Step(i));
            }
        }
        self.schedule(0.0, Event::Decide);
        while let Some(next) = self.queue.pop() {
            self.now = next.at;
            self.handle(next.event);
        }
        for i in 0..self.agents.len() {
            if self.agents[i].state != AgentState::Offline {
                self.day.logged_in_seconds += self.in_shift(self.agents[i].logged_in_at, f64::MAX);
            }
        }
        self.tally.days.push(self.day);
    }

    fn apply(&mut self, step: &super::scenario::Step) {
        if let Some(p) = step.answer_rate {
            self.params.answer_rate = p;
        }
        if let Some(t) = step.talk_mean {
            self.params.talk_mean = t;
        }
        if let Some(n) = step.agents {
            self.params.agents = n;
        }
    }

    /// Log agents in or out until `target` are staffed (leavers finish their call first).
    fn staff(&mut self, target: u32) {
        let target = target as usize;
        let staying = |a: &Agent| a.state != AgentState::Offline && !a.leaving;
        let mut current = self.agents.iter().filter(|a| staying(a)).count();
        while current > target {
            let pick = [AgentState::Idle, AgentState::Paused]
                .iter()
                .find_map(|s| self.agents.iter().position(|a| staying(a) && a.state == *s))
                .or_else(|| self.agents.iter().position(staying));
            let Some(i) = pick else { break };
            if matches!(self.agents[i].state, AgentState::Idle | AgentState::Paused) {
                self.log_out(i);
            } else {
                self.agents[i].leaving = true;
            }
            current -= 1;
        }
        while current < target {
            if let Some(i) = self.agents.iter().position(|a| a.leaving) {
                self.agents[i].leaving = false;
            } else {
                let i = match self.agents.iter().position(|a| a.state == AgentState::Offline) {
                    Some(i) => i,
                    None => {
                        self.agents.push(Agent {
                            state: AgentState::Offline,
                            since: 0.0,
                            logged_in_at: 0.0,
                            leaving: false,
                            call: 0,
                        });
                        self.agents.len() - 1
                    }
                };
                self.agents[i].logged_in_at = self.now;
                self.become_idle(i);
            }
            current += 1;
        }
    }

    fn log_out(&mut self, i: usize) {
        self.day.logged_in_seconds += self.in_shift(self.agents[i].logged_in_at, self.now);
        self.agents[i].state = AgentState::Offline;
        self.agents[i].leaving = false;
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Decide => self.decide(),
            Event::Resolve(c) => self.resolve(c),
            Event::Bridge { call, agent } => self.bridge(call, agent),
            Event::Deadline(c) => self.deadline(c),
            Event::TalkEnd(a) => self.talk_end(a),
            Event::WrapEnd(a) => self.wrap_end(a),
            Event::PauseEnd(a) => self.become_idle(a),
            Event::Step(i) => {
                let step = &self.sc.steps[i];
                self.apply(step);
                if step.agents.is_some() {
                    self.staff(self.params.agents);
                }
            }
        }
    }

    fn build_snapshot(&mut self) {
        let now = self.now;
        let calls = &self.calls;
        self.in_flight.retain(|c| calls[*c].open);
        while self.dial_times.front().is_some_and(|t| *t <= now - DIAL_WINDOW) {
            self.dial_times.pop_front();
        }
        let s = &mut self.snapshot;
        s.agents.clear();
        s.calls_in_flight.clear();
        s.bridged_lines = 0;
        for a in &self.agents {
            let activity = match a.state {
                AgentState::Offline => continue,
                AgentState::Idle => AgentActivity::Available,
                AgentState::Reserved => AgentActivity::Reserved,
                AgentState::Talking => AgentActivity::OnCall,
                AgentState::Wrap => AgentActivity::WrapUp,
                AgentState::Paused => AgentActivity::Paused,
            };
            if matches!(a.state, AgentState::Reserved | AgentState::Talking) {
                s.bridged_lines += 1;
            }
            s.agents.push(AgentObs { activity, in_state: secs(now - a.since) });
        }
        s.calls_in_flight.extend(self.in_flight.iter().map(|c| calls[*c].observed(now)));
        s.dials_in_window = u32::try_from(self.dial_times.len()).unwrap_or(u32::MAX);
        let window = self.observed_days.iter().rev().take(WINDOW_DAYS);
        let (live, abandoned) = window.fold((0, 0), |acc, d| (acc.0 + d.0, acc.1 + d.1));
        let today = self.observed_days.last().copied().unwrap_or((0, 0));
        s.abandonment = AbandonmentSoFar {
            window_live_answers: live,
            window_abandoned: abandoned,
            today_live_answers: today.0,
            today_abandoned: today.1,
        };
    }

    fn decide(&mut self) {
        self.build_snapshot();
        let at = self.epoch + self.now;
        let n = self.controller.calls_to_start(&self.estimator, &mut self.snapshot, at);
        for _ in 0..n {
            self.dial();
        }
        let lines = self.snapshot.calls_in_flight.len() as u32 + self.snapshot.bridged_lines + n;
        self.tally.max_lines = self.tally.max_lines.max(lines);
        let next = self.now + self.sc.decision_interval;
        if next < self.shift_end {
            self.schedule(next, Event::Decide);
        }
    }

    fn dial(&mut self) {
        let sc = self.sc;
        let t = self.now;
        let rng = &mut self.call_rng;
        // A fixed number of draws per dial keeps strategies on common random numbers.
        let u: f64 = rng.random();
        let pdd = uniform(rng, sc.post_dial_delay);
        let z: f64 = rng.sample(StandardNormal);
        let greeting_z: f64 = rng.sample(StandardNormal);
        let v: f64 = rng.random();
        let detector: f64 = rng.random();
        let ring_at = t + pdd;
        let p = self.params.answer_rate;
        let m = sc.machine_rate;
        let answer = |mean: f64, sd: f64| {
            let (mu, sigma) = mu_sigma(mean, sd / mean);
            (mu + sigma * z).exp()
        };
        let ring_out = Fate::RingOut { end: ring_at + sc.ring_timeout };
        let fate = if u < p {
            let a = answer(sc.human_answer_mean, sc.human_answer_sd);
            if a > sc.ring_timeout {
                ring_out
            } else {
                let greeting = if sc.greeting_mean > 0.0 {
                    let (mu, sigma) = mu_sigma(sc.greeting_mean, 0.3);
                    (mu + sigma * greeting_z).exp()
                } else {
                    0.0
                };
                let greeting_end = ring_at + a + greeting;
                Fate::Person {
                    answered_at: ring_at + a,
                    greeting_end,
                    verdict_at: greeting_end + if self.screening { sc.human_verdict_delay } else { 0.0 },
                    hung_up_as_machine: self.screening && detector < sc.amd_false_positive,
                }
            }
        } else if u < p + m {
            let a = answer(sc.machine_answer_mean, sc.machine_answer_sd);
            if a > sc.ring_timeout {
                ring_out
            } else {
                let answered_at = ring_at + a;
                let (verdict_at, passed_as_person) = if self.screening {
                    let delay =
                        sc.machine_verdict_delay[0] + (sc.machine_verdict_delay[1] - sc.machine_verdict_delay[0]) * v;
                    (answered_at + delay, detector < sc.amd_false_negative)
                } else {
                    (answered_at + sc.greeting_mean, true)
                };
                Fate::Machine { answered_at, verdict_at, passed_as_person }
            }
        } else if u < p + m + (1.0 - p - m) * sc.no_answer_share {
            ring_out
        } else {
            Fate::Fail { end: t + sc.fail_delay[0] + (sc.fail_delay[1] - sc.fail_delay[0]) * v }
        };
        let (resolve_at, deadline) = match fate {
            Fate::Person { greeting_end, verdict_at, .. } => (verdict_at, greeting_end + sc.bridge_deadline),
            Fate::Machine { verdict_at, .. } => (
                verdict_at,
                verdict_at + sc.bridge_deadline - if self.screening { sc.human_verdict_delay } else { 0.0 },
            ),
            Fate::RingOut { end } | Fate::Fail { end } => (end, end),
        };
        let id = self.calls.len();
        self.calls.push(Call {
            dialed_at: t,
            ring_at,
            fate,
            deadline,
            waiting_since: None,
            bridge_at: 0.0,
            open: true,
        });
        self.in_flight.push(id);
        self.dial_times.push_back(t);
        self.day.dials += 1;
        self.schedule(resolve_at, Event::Resolve(id));
    }

    fn resolve(&mut self, c: usize) {
        let call = self.calls[c];
        let after = secs(self.now - call.dialed_at);
        match call.fate {
            Fate::Person { answered_at, hung_up_as_machine, .. } => {
                self.day.live_answers += 1;
                self.observe(Observation::CallResolved(DialResult::Answered {
                    human: !hung_up_as_machine,
                    ringing: secs(answered_at - call.dialed_at),
                    screening: secs(self.now - answered_at),
                }));
                if hung_up_as_machine {
                    // The rules count it; the dialer never learns of it.
                    self.day.abandoned += 1;
                    self.calls[c].open = false;
                } else {
                    self.route(c);
                }
            }
            Fate::Machine { answered_at, passed_as_person, .. } => {
                self.observe(Observation::CallResolved(DialResult::Answered {
                    human: passed_as_person,
                    ringing: secs(answered_at - call.dialed_at),
                    screening: secs(self.now - answered_at),
                }));
                if passed_as_person {
                    self.route(c);
                } else {
                    self.calls[c].open = false;
                }
            }
            Fate::RingOut { end } => {
                self.tally.min_unanswered_ring = self.tally.min_unanswered_ring.min(end - call.ring_at);
                self.observe(Observation::CallResolved(DialResult::NoAnswer { after }));
                self.calls[c].open = false;
            }
            Fate::Fail { .. } => {
                self.observe(Observation::CallResolved(DialResult::Failed { after }));
                self.calls[c].open = false;
            }
        }
    }

    /// Send an answered call to the longest-idle agent, or queue it until its deadline.
    fn route(&mut self, c: usize) {
        let idle = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.state == AgentState::Idle)
            .min_by(|x, y| x.1.since.total_cmp(&y.1.since))
            .map(|(i, _)| i);
        match idle {
            Some(a) => self.assign(c, a),
            None => {
                self.calls[c].waiting_since = Some(self.now);
                self.waiting.push_back(c);
                let deadline = self.calls[c].deadline;
                self.schedule(deadline, Event::Deadline(c));
            }
        }
    }

    fn assign(&mut self, c: usize, a: usize) {
        self.day.idle_wait_seconds += self.now - self.agents[a].since;
        self.day.idle_waits += 1;
        self.agents[a] = Agent { state: AgentState::Reserved, since: self.now, call: c, ..self.agents[a] };
        let latency = self.routing.map_or(0.0, |(mu, sigma)| lognormal(&mut self.agent_rng, mu, sigma));
        let call = &mut self.calls[c];
        call.open = false;
        call.waiting_since = None;
        call.bridge_at = self.now + latency;
        let at = call.bridge_at.min(call.deadline).max(self.now);
        self.schedule(at, Event::Bridge { call: c, agent: a });
    }

    fn bridge(&mut self, c: usize, a: usize) {
        let call = self.calls[c];
        if call.bridge_at > call.deadline {
            // Routing was too slow: the safe-harbor message plays, the call is abandoned.
            if call.is_person() {
                self.day.abandoned += 1;
            }
            self.observe_live(true);
            self.become_idle(a);
            return;
        }
        self.observe_live(false);
        let talk = if let Fate::Person { greeting_end, .. } = call.fate {
            self.day.bridged_live += 1;
            self.tally.record_hold(self.now - greeting_end);
            if self.now > call.deadline {
                self.tally.bridged_after_deadline += 1;
            }
            let (mu, sigma) = mu_sigma(self.params.talk_mean, self.sc.talk_cv);
            lognormal(&mut self.agent_rng, mu, sigma)
        } else {
            uniform(&mut self.agent_rng, self.sc.machine_agent_time)
        };
        self.agents[a].state = AgentState::Talking;
        self.agents[a].since = self.now;
        self.schedule(self.now + talk, Event::TalkEnd(a));
    }

    fn deadline(&mut self, c: usize) {
        if self.calls[c].waiting_since.is_none() {
            return;
        }
        self.waiting.retain(|w| *w != c);
        self.calls[c].waiting_since = None;
        self.calls[c].open = false;
        if self.calls[c].is_person() {
            self.day.abandoned += 1;
        }
        self.observe_live(true);
    }

    fn talk_end(&mut self, a: usize) {
        let agent = self.agents[a];
        let busy = self.in_shift(agent.since, self.now);
        if self.calls[agent.call].is_person() {
            self.day.talk_seconds += busy;
        }
        self.day.busy_seconds += busy;
        self.observe(Observation::TalkEnded { talk: secs(self.now - agent.since) });
        let (mu, sigma) = mu_sigma(self.sc.wrap_mean, self.sc.wrap_cv);
        let wrap = lognormal(&mut self.agent_rng, mu, sigma);
        self.agents[a].state = AgentState::Wrap;
        self.agents[a].since = self.now;
        self.schedule(self.now + wrap, Event::WrapEnd(a));
    }

    fn wrap_end(&mut self, a: usize) {
        let since = self.agents[a].since;
        self.day.busy_seconds += self.in_shift(since, self.now);
        self.observe(Observation::WrapEnded { wrap: secs(self.now - since) });
        if self.agents[a].leaving {
            self.log_out(a);
        } else if self.agent_rng.random::<f64>() < self.sc.pause_probability {
            self.agents[a].state = AgentState::Paused;
            self.agents[a].since = self.now;
            let pause = -self.sc.pause_mean * (1.0 - self.agent_rng.random::<f64>()).ln();
            self.schedule(self.now + pause, Event::PauseEnd(a));
        } else {
            self.become_idle(a);
        }
    }

    fn become_idle(&mut self, a: usize) {
        self.agents[a].state = AgentState::Idle;
        self.agents[a].since = self.now;
        if let Some(c) = self.waiting.pop_front() {
            self.assign(c, a);
        }
    }
}

/// Lognormal (mu, sigma) with the given mean and 99th percentile.
fn routing_latency(mean: f64, p99: f64) -> (f64, f64) {
    const Z99: f64 = 2.326_347_874;
    let sigma = Z99 - (Z99 * Z99 - 2.0 * (p99 / mean).ln()).max(0.0).sqrt();
    (mean.ln() - sigma * sigma / 2.0, sigma)
}

fn day_seed(seed: u64, day: u32, stream: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(day) << 20) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

/// Run `strategy` on `scenario` with the default pacer configuration.
pub fn run(scenario: &Scenario, strategy: Strategy, seed: u64) -> Result<RunReport, ScenarioError> {
    run_with(scenario, strategy, seed, PacerConfig::default())
}

/// Run `strategy` on `scenario` with a given pacer configuration (tuning runs).
pub fn run_with(
    scenario: &Scenario,
    strategy: Strategy,
    seed: u64,
    config: PacerConfig,
) -> Result<RunReport, ScenarioError> {
    scenario.validate()?;
    let sc = scenario;
    let mut sim = Sim {
        sc,
        params: Params { answer_rate: sc.answer_rate, talk_mean: sc.talk_mean, agents: sc.agents },
        now: 0.0,
        epoch: 0.0,
        shift_end: 0.0,
        queue: BinaryHeap::new(),
        seq: 0,
        calls: Vec::new(),
        in_flight: Vec::new(),
        waiting: VecDeque::new(),
        agents: Vec::new(),
        dial_times: VecDeque::new(),
        call_rng: SmallRng::seed_from_u64(seed),
        agent_rng: SmallRng::seed_from_u64(seed),
        estimator: Estimator::new(config, 0.0),
        controller: Controller::new(strategy),
        observed_days: Vec::new(),
        tally: Tally::default(),
        day: DayTally::default(),
        snapshot: PacingSnapshot {
            mode: DialerMode::Predictive,
            agents: Vec::new(),
            calls_in_flight: Vec::new(),
            bridged_lines: 0,
            dials_in_window: 0,
            abandonment: AbandonmentSoFar::default(),
            target: AbandonmentTarget {
                max_rate: sc.max_abandon_rate,
                daily_cap: sc.daily_abandon_cap,
                amd_false_positive_rate: sc.operator_amd_fp_estimate,
            },
            constraints: Constraints {
                max_lines_per_agent: sc.max_lines_per_agent,
                max_channels: sc.max_channels,
                max_dials_per_window: sc.max_dials_per_window,
            },
        },
        routing: (sc.routing_latency_mean > 0.0)
            .then(|| routing_latency(sc.routing_latency_mean, sc.routing_latency_p99)),
        screening: true,
    };
    if !sim.snapshot.target.detector_affordable() {
        sim.screening = false;
        sim.snapshot.target.amd_false_positive_rate = 0.0;
    }
    for day in 0..sc.days {
        sim.call_rng = SmallRng::seed_from_u64(day_seed(seed, day, 1));
        sim.agent_rng = SmallRng::seed_from_u64(day_seed(seed, day, 2));
        if sc.cold_start {
            sim.estimator = Estimator::new(config, f64::from(day) * DAY);
            sim.controller = Controller::new(strategy);
            sim.observed_days.clear();
        } else {
            sim.controller.start_day();
        }
        sim.run_day(day);
    }
    Ok(RunReport::new(sc, strategy.to_string(), seed, &sim.tally))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_latency_hits_mean_and_p99() {
        let (mu, sigma) = routing_latency(0.3, 1.5);
        let mean = (mu + sigma * sigma / 2.0).exp();
        let p99 = (mu + sigma * 2.326_347_874).exp();
        assert!((mean - 0.3).abs() < 1e-9);
        assert!((p99 - 1.5).abs() < 1e-6);
    }

    #[test]
    fn scheduled_events_pop_in_time_then_fifo_order() {
        let mut heap = BinaryHeap::new();
        for (seq, at) in [(1, 5.0), (2, 1.0), (3, 5.0), (4, 0.5)] {
            heap.push(Scheduled { at, seq, event: Event::Decide });
        }
        let order: Vec<u64> = std::iter::from_fn(|| heap.pop().map(|s| s.seq)).collect();
        assert_eq!(order, vec![4, 2, 1, 3]);
    }
}
