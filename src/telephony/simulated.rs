//! The simulated carrier, the default when no Telnyx key is configured: for each dial it plays out the events Telnyx
//! would send, with timings drawn from the distributions of research/dialer.md §5.1 (post-dial delay, answer time,
//! outcome shares, AMD delay and errors, talk time), in wall-clock time divided by `time_scale`, from a seeded RNG.
//! It must not decide anything the scheduler or the ACD decides; each call is one tokio task driven by timers and
//! commands, never a busy loop.

use super::{
    AgentEndpoint, AmdResult, CallId, CallLeg, CallStatus, Carrier, CarrierCallRef, CarrierError, CarrierEvent,
    CarrierEventKind, DialRequest, HangupCause, SafeHarbor,
};
use crate::clock::SharedClock;
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

/// The carrier's name on call rows.
pub const NAME: &str = "simulated";

/// What really happens at the far end of a call, drawn at dial time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimOutcome {
    Live,
    Machine,
    NoAnswer,
    Busy,
    /// SIT tone, invalid or unreachable number.
    FastFail,
}

/// The far end's behaviour, in simulated seconds. Shares of live, machine, busy and fast-fail are given; no answer
/// takes the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct CallProfile {
    pub live_share: f64,
    pub machine_share: f64,
    pub busy_share: f64,
    pub fast_fail_share: f64,
    /// Post-dial delay, uniform in this range (1–3 s).
    pub post_dial_delay_secs: (f64, f64),
    /// A person answers after a lognormal time (mean 8–10 s, SD ≈ 5 s), truncated at the ring timeout.
    pub live_answer_mean_secs: f64,
    pub live_answer_sd_secs: f64,
    /// A machine answers after about 10 s.
    pub machine_answer_mean_secs: f64,
    pub machine_answer_sd_secs: f64,
    /// Busy and fast failures end after a uniform 2–6 s.
    pub fast_end_secs: (f64, f64),
    /// AMD verdict after answer, uniform 2–4 s.
    pub amd_delay_secs: (f64, f64),
    /// A person judged a machine (an abandoned call if the dialer hangs up).
    pub amd_false_machine_rate: f64,
    /// A machine judged a person (costs agent time).
    pub amd_false_human_rate: f64,
    /// Either judged `not_sure`.
    pub amd_not_sure_rate: f64,
    /// Talk time once bridged to an agent: lognormal with this mean and coefficient of variation.
    pub talk_mean_secs: f64,
    pub talk_cv: f64,
    /// A machine bridged to an agent ends after a uniform 10–20 s (the agent hears it and hangs up).
    pub machine_bridged_secs: (f64, f64),
    /// A person left unbridged hangs up this long after answering.
    pub live_patience_secs: f64,
    /// A machine left alone (recording) ends this long after answering.
    pub machine_message_secs: f64,
}

impl Default for CallProfile {
    fn default() -> Self {
        CallProfile {
            live_share: 0.30,
            machine_share: 0.20,
            busy_share: 0.08,
            fast_fail_share: 0.07,
            post_dial_delay_secs: (1.0, 3.0),
            live_answer_mean_secs: 9.0,
            live_answer_sd_secs: 5.0,
            machine_answer_mean_secs: 10.0,
            machine_answer_sd_secs: 2.0,
            fast_end_secs: (2.0, 6.0),
            amd_delay_secs: (2.0, 4.0),
            amd_false_machine_rate: 0.03,
            amd_false_human_rate: 0.10,
            amd_not_sure_rate: 0.03,
            talk_mean_secs: 120.0,
            talk_cv: 1.0,
            machine_bridged_secs: (10.0, 20.0),
            live_patience_secs: 10.0,
            machine_message_secs: 30.0,
        }
    }
}

impl CallProfile {
    pub fn no_answer_share(&self) -> f64 {
        (1.0 - self.live_share - self.machine_share - self.busy_share - self.fast_fail_share).max(0.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimulationConfig {
    pub seed: u64,
    /// Simulated seconds per wall-clock second: 1.0 is real time, 100.0 runs a 25-s ring in 0.25 s.
    pub time_scale: f64,
    pub profile: CallProfile,
    pub event_buffer: usize,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig { seed: 0x5eed, time_scale: 1.0, profile: CallProfile::default(), event_buffer: 4096 }
    }
}

/// The simulated carrier. Cheap to clone (shared state). Needs a tokio runtime: each dial spawns its call's task.
#[derive(Clone)]
pub struct SimulatedCarrier {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimulationConfig,
    clock: SharedClock,
    rng: Mutex<StdRng>,
    calls: Mutex<HashMap<String, mpsc::Sender<Command>>>,
    outcomes: Mutex<Vec<(CallId, SimOutcome)>>,
    events: broadcast::Sender<CarrierEvent>,
}

impl SimulatedCarrier {
    pub fn new(config: SimulationConfig, clock: SharedClock) -> Self {
        let (events, _) = broadcast::channel(config.event_buffer.max(1));
        let inner = Inner {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            clock,
            calls: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(Vec::new()),
            events,
        };
        SimulatedCarrier { inner: Arc::new(inner) }
    }

    /// The outcome drawn for each dial so far, in dial order.
    pub fn outcomes(&self) -> Vec<(CallId, SimOutcome)> {
        self.inner.outcomes.lock().map(|outcomes| outcomes.clone()).unwrap_or_default()
    }

    /// Calls whose far end is still connected.
    pub fn calls_in_progress(&self) -> usize {
        self.inner.calls.lock().map(|calls| calls.len()).unwrap_or(0)
    }

    async fn command(
        &self,
        call: &CarrierCallRef,
        command: impl FnOnce(Reply) -> Command,
    ) -> Option<Result<(), CarrierError>> {
        let sender = self.inner.calls.lock().ok()?.get(&call.call_control_id).cloned()?;
        let (reply, answer) = oneshot::channel();
        sender.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

fn call_ended() -> CarrierError {
    CarrierError::Rejected("422 90018 Call has already ended".into())
}

type Reply = oneshot::Sender<Result<(), CarrierError>>;

enum Command {
    Bridge(Reply),
    SafeHarbor(Reply),
    Hangup(Reply),
}

/// Everything drawn for one call at dial time, in simulated seconds from the dial.
#[derive(Debug, Clone)]
struct Plan {
    outcome: SimOutcome,
    ring_at: f64,
    answer_at: f64,
    amd: Option<(f64, AmdResult)>,
    /// When the far end ends the call if nobody does anything, and how.
    end_at: f64,
    end: CarrierEventKind,
    /// After a bridge: how long until the far end hangs up.
    after_bridge_secs: f64,
}

fn lognormal(rng: &mut StdRng, mean: f64, sd: f64) -> f64 {
    let mean = mean.max(1e-3);
    let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
    LogNormal::new(mean.ln() - sigma2 / 2.0, sigma2.sqrt()).map(|d| d.sample(rng)).unwrap_or(mean)
}

fn uniform(rng: &mut StdRng, (low, high): (f64, f64)) -> f64 {
    if high > low { rng.random_range(low..high) } else { low }
}

fn draw_plan(rng: &mut StdRng, profile: &CallProfile, request: &DialRequest) -> Plan {
    let p = profile;
    let roll: f64 = rng.random();
    let outcome = [
        (p.live_share, SimOutcome::Live),
        (p.machine_share, SimOutcome::Machine),
        (p.busy_share, SimOutcome::Busy),
        (p.fast_fail_share, SimOutcome::FastFail),
    ]
    .iter()
    .scan(0.0, |sum, (share, outcome)| {
        *sum += share;
        Some((*sum, *outcome))
    })
    .find(|(upto, _)| roll < *upto)
    .map_or(SimOutcome::NoAnswer, |(_, outcome)| outcome);
    let ring_at = uniform(rng, p.post_dial_delay_secs);
    let timeout = f64::from(request.timeout_secs);
    let hang_up = |cause| CarrierEventKind::HungUp { cause, sip_code: None };
    let mut plan = Plan {
        outcome,
        ring_at,
        answer_at: f64::INFINITY,
        amd: None,
        end_at: ring_at + timeout,
        end: hang_up(HangupCause::Timeout),
        after_bridge_secs: 0.0,
    };
    match outcome {
        SimOutcome::NoAnswer => {}
        SimOutcome::Busy | SimOutcome::FastFail => {
            plan.ring_at = f64::INFINITY;
            plan.end_at = uniform(rng, p.fast_end_secs);
            plan.end = if outcome == SimOutcome::Busy {
                CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) }
            } else {
                CarrierEventKind::Failed { cause: HangupCause::NotFound, sip_code: Some(404) }
            };
        }
        SimOutcome::Live | SimOutcome::Machine => {
            let live = outcome == SimOutcome::Live;
            let answer = if live {
                lognormal(rng, p.live_answer_mean_secs, p.live_answer_sd_secs)
            } else {
                lognormal(rng, p.machine_answer_mean_secs, p.machine_answer_sd_secs)
            };
            plan.answer_at = ring_at + answer.min(timeout - 0.5);
            let verdict = amd_verdict(rng, p, live);
            let amd_delay = uniform(rng, p.amd_delay_secs);
            plan.amd = request.machine_detection.then_some((plan.answer_at + amd_delay, verdict));
            let linger = if live { p.live_patience_secs } else { p.machine_message_secs };
            plan.end_at = plan.answer_at + linger;
            plan.end = hang_up(HangupCause::NormalClearing);
            plan.after_bridge_secs = if live {
                lognormal(rng, p.talk_mean_secs, p.talk_mean_secs * p.talk_cv)
            } else {
                uniform(rng, p.machine_bridged_secs)
            };
        }
    }
    plan
}

fn amd_verdict(rng: &mut StdRng, profile: &CallProfile, live: bool) -> AmdResult {
    let roll: f64 = rng.random();
    let wrong = if live { profile.amd_false_machine_rate } else { profile.amd_false_human_rate };
    if roll < profile.amd_not_sure_rate {
        AmdResult::NotSure
    } else if roll < profile.amd_not_sure_rate + wrong {
        if live { AmdResult::Machine } else { AmdResult::Human }
    } else if live {
        AmdResult::Human
    } else {
        AmdResult::Machine
    }
}

/// One call's far end: emits its timeline and obeys commands until a terminal event.
struct CallTask {
    inner: Arc<Inner>,
    handle: CarrierCallRef,
    plan: Plan,
    started: Instant,
    commands: mpsc::Receiver<Command>,
    /// Pending events in simulated seconds from the dial, soonest first.
    timeline: Vec<(f64, CarrierEventKind)>,
    answered: bool,
    /// False once every sender is gone (the carrier was dropped): then only the timeline drives the call.
    commands_open: bool,
}

impl CallTask {
    fn new(inner: Arc<Inner>, handle: CarrierCallRef, plan: Plan, commands: mpsc::Receiver<Command>) -> Self {
        let mut timeline = vec![(0.0, CarrierEventKind::Initiated)];
        if plan.ring_at < plan.end_at {
            timeline.push((plan.ring_at, CarrierEventKind::Ringing));
        }
        if plan.answer_at < plan.end_at {
            timeline.push((plan.answer_at, CarrierEventKind::Answered));
        }
        if let Some((at, result)) = plan.amd.filter(|(at, _)| *at < plan.end_at) {
            timeline.push((at, CarrierEventKind::MachineDetectionEnded { result }));
        }
        timeline.push((plan.end_at, plan.end.clone()));
        CallTask {
            inner,
            handle,
            plan,
            started: Instant::now(),
            commands,
            timeline,
            answered: false,
            commands_open: true,
        }
    }

    fn real(&self, sim_secs: f64) -> Duration {
        Duration::from_secs_f64((sim_secs / self.inner.config.time_scale.max(1e-6)).clamp(0.0, 1e9))
    }

    fn sim_now(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * self.inner.config.time_scale
    }

    async fn run(mut self) {
        while let Some((at, kind)) = self.timeline.first().cloned() {
            let due = self.started + self.real(at);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {
                    self.timeline.remove(0);
                    if self.emit(kind) {
                        break;
                    }
                }
                command = self.commands.recv(), if self.commands_open => {
                    let Some(command) = command else {
                        self.commands_open = false;
                        continue;
                    };
                    if self.obey(command) {
                        break;
                    }
                }
            }
        }
        if let Ok(mut calls) = self.inner.calls.lock() {
            calls.remove(&self.handle.call_control_id);
        }
    }

    /// Emits one event; `true` when it ended the call.
    fn emit(&mut self, kind: CarrierEventKind) -> bool {
        self.answered |= kind == CarrierEventKind::Answered;
        let terminal = kind.is_terminal();
        let event = CarrierEvent {
            event_id: Uuid::new_v4().to_string(),
            occurred_at: self.inner.clock.now(),
            call: Some(self.handle.call),
            leg: CallLeg::Customer,
            call_control_id: self.handle.call_control_id.clone(),
            call_session_id: self.handle.call_session_id.clone(),
            kind,
        };
        if terminal && let Ok(mut calls) = self.inner.calls.lock() {
            // Gone before subscribers hear of the end, so a command sent after the event finds the call ended.
            calls.remove(&self.handle.call_control_id);
        }
        let _ = self.inner.events.send(event);
        terminal
    }

    /// Carries out a command; `true` when it ended the call.
    fn obey(&mut self, command: Command) -> bool {
        match command {
            Command::Bridge(reply) => {
                if !self.answered {
                    let _ = reply.send(Err(CarrierError::Rejected("422 90034 Call not answered yet".into())));
                    return false;
                }
                let _ = reply.send(Ok(()));
                let now = self.sim_now();
                // The far end stays for the talk time; a pending AMD verdict no longer matters once an agent has it.
                self.timeline = vec![(
                    now + self.plan.after_bridge_secs,
                    CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None },
                )];
                self.emit(CarrierEventKind::Bridged)
            }
            Command::SafeHarbor(reply) => {
                if !self.answered {
                    let _ = reply.send(Err(CarrierError::Rejected("422 90034 Call not answered yet".into())));
                    return false;
                }
                let _ = reply.send(Ok(()));
                self.emit(CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None })
            }
            Command::Hangup(reply) => {
                let _ = reply.send(Ok(()));
                let cause = if self.answered { HangupCause::NormalClearing } else { HangupCause::OriginatorCancel };
                self.emit(CarrierEventKind::HungUp { cause, sip_code: None })
            }
        }
    }
}

#[async_trait]
impl Carrier for SimulatedCarrier {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn dial(&self, request: DialRequest) -> Result<CarrierCallRef, CarrierError> {
        request.validate()?;
        let plan = {
            let mut rng = self.inner.rng.lock().map_err(|_| CarrierError::Unavailable)?;
            draw_plan(&mut rng, &self.inner.config.profile, &request)
        };
        if let Ok(mut outcomes) = self.inner.outcomes.lock() {
            outcomes.push((request.call, plan.outcome));
        }
        let handle = CarrierCallRef {
            call: request.call,
            call_control_id: format!("sim:{}", Uuid::new_v4()),
            call_session_id: Uuid::new_v4().to_string(),
            call_leg_id: None,
        };
        let (sender, commands) = mpsc::channel(4);
        self.inner.calls.lock().map_err(|_| CarrierError::Unavailable)?.insert(handle.call_control_id.clone(), sender);
        let task = CallTask::new(self.inner.clone(), handle.clone(), plan, commands);
        tokio::spawn(task.run());
        Ok(handle)
    }

    /// Either kind of endpoint connects the call: the simulation has no agent leg of its own.
    async fn bridge(&self, call: &CarrierCallRef, _agent: &AgentEndpoint) -> Result<(), CarrierError> {
        self.command(call, Command::Bridge).await.unwrap_or_else(|| Err(call_ended()))
    }

    /// Ends the call at once (the message is not timed).
    async fn play_safe_harbor(&self, call: &CarrierCallRef, _message: &SafeHarbor) -> Result<(), CarrierError> {
        self.command(call, Command::SafeHarbor).await.unwrap_or_else(|| Err(call_ended()))
    }

    async fn hangup(&self, call: &CarrierCallRef) -> Result<(), CarrierError> {
        self.command(call, Command::Hangup).await.unwrap_or(Ok(()))
    }

    /// Alive while its task runs; after a restart the simulation has forgotten every call, so all read as ended.
    async fn call_status(&self, call: &CarrierCallRef) -> Result<CallStatus, CarrierError> {
        let is_alive = self.inner.calls.lock().map(|calls| calls.contains_key(&call.call_control_id)).unwrap_or(false);
        Ok(CallStatus { is_alive, call_duration_secs: None, start_time: None, end_time: None })
    }

    fn events(&self) -> broadcast::Receiver<CarrierEvent> {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_draws_have_the_asked_mean() {
        let mut rng = StdRng::seed_from_u64(7);
        let n = 20_000;
        let mean = (0..n).map(|_| lognormal(&mut rng, 9.0, 5.0)).sum::<f64>() / n as f64;
        assert!((mean - 9.0).abs() < 0.3, "{mean}");
    }

    #[test]
    fn a_live_answer_never_comes_after_the_ring_timeout() {
        let mut rng = StdRng::seed_from_u64(1);
        let profile = CallProfile { live_share: 1.0, live_answer_mean_secs: 40.0, ..CallProfile::default() };
        let request = DialRequest::new(CallId(1), "+13125550100", "+13125550199");
        for _ in 0..500 {
            let plan = draw_plan(&mut rng, &profile, &request);
            assert!(plan.answer_at < plan.ring_at + f64::from(request.timeout_secs));
        }
    }
}
