//! Online estimation for pacing: outcome shares (live, machine, no answer, failed),
//! ring/answer and screening delays, talk and wrap durations, and the recent abandonment
//! rate, all learned from observed events with priors for a cold start and exponential
//! decay so drift is followed. It also turns a snapshot into a [`Forecast`] of free agents
//! and live answers over the next seconds, using *conditional* remaining times (a call
//! that has run 5 minutes is not a fresh call), and judges the risk of new calls against
//! it: exactly (Poisson-binomial counts) while the counts are small, by a normal
//! approximation once they are large.
//!
//! It sees only events a live dialer observes; it never reads a clock (instants come in
//! as `at`, seconds since the caller's epoch).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::distribution::{Counts, LogMoments, LogNormal, normal_cdf};
use super::{AgentActivity, CallStage, PacingSnapshot};

/// Number of look-ahead horizons: quantiles of a new call's dial-to-live-answer time.
pub const HORIZONS: usize = 5;
/// Quadrature points over wrap time when a talking agent's free time is forecast.
const WRAP_POINTS: usize = 5;

/// Something the dialer observed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Observation {
    /// A dial reached its outcome (a screening verdict, a ring-out, or a failure).
    CallResolved(DialResult),
    /// A bridged call ended after `talk`.
    TalkEnded { talk: Duration },
    /// An agent finished after-call work after `wrap`.
    WrapEnded { wrap: Duration },
    /// A call the detector passed as human was bridged in time, or abandoned.
    LiveAnswerEnded { abandoned: bool },
}

/// The observed outcome of one dial.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum DialResult {
    /// Answered `ringing` after origination; the detector's verdict (`human` or machine)
    /// came `screening` after the answer.
    Answered { human: bool, ringing: Duration, screening: Duration },
    /// Rang out (the dialer gave up at its ring timeout) `after` origination.
    NoAnswer { after: Duration },
    /// Busy, SIT tone, invalid number or carrier rejection `after` origination.
    Failed { after: Duration },
}

/// Priors and memory of the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimatorConfig {
    /// Prior outcome shares `[live, machine, no_answer, failed]` (normalised on use).
    pub prior_outcomes: [f64; 4],
    /// How many dials the prior outcome shares weigh.
    pub prior_outcome_weight: f64,
    /// Effective memory of outcome shares, in dials.
    pub outcome_memory: f64,
    /// Effective memory of duration fits, in samples.
    pub duration_memory: f64,
    /// How many samples each prior duration weighs.
    pub prior_duration_weight: f64,
    /// Effective memory of the recent abandonment rate, in live answers.
    pub abandon_memory: f64,
    pub prior_ringing: LogNormal,
    pub prior_human_screening: LogNormal,
    pub prior_machine_screening: LogNormal,
    pub prior_no_answer: LogNormal,
    pub prior_failed: LogNormal,
    pub prior_talk: LogNormal,
    pub prior_wrap: LogNormal,
    /// Seconds between rebuilds of the forecast tables (slow adaptation).
    pub refresh_interval: f64,
}

impl Default for EstimatorConfig {
    fn default() -> Self {
        EstimatorConfig {
            prior_outcomes: [0.2, 0.15, 0.45, 0.2],
            prior_outcome_weight: 40.0,
            outcome_memory: 600.0,
            duration_memory: 300.0,
            prior_duration_weight: 10.0,
            abandon_memory: 300.0,
            prior_ringing: LogNormal::from_mean_cv(10.0, 0.6),
            prior_human_screening: LogNormal::from_mean_cv(1.5, 0.5),
            prior_machine_screening: LogNormal::from_mean_cv(3.0, 0.4),
            prior_no_answer: LogNormal::from_mean_cv(27.0, 0.1),
            prior_failed: LogNormal::from_mean_cv(4.0, 0.4),
            prior_talk: LogNormal::from_mean_cv(150.0, 1.0),
            prior_wrap: LogNormal::from_mean_cv(20.0, 0.6),
            refresh_interval: 60.0,
        }
    }
}

/// Knobs of the predictive decision and the abandonment budget (see [`super::budget`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PacerTuning {
    /// Seconds a live answer can wait for an agent after the detector's verdict and still
    /// be bridged within 2 s of the completed greeting.
    pub agent_wait_grace: f64,
    /// Added to the variance of the normal approximation (large teams; see
    /// `exact_max_events`) so it is not judged too narrow.
    pub variance_floor: f64,
    /// Most uncertain events (agents not free yet, calls not answered yet) for which the
    /// risk is computed from exact counts (Poisson-binomials, cost ~ events × count
    /// range); above it the normal approximation, whose error shrinks as the sums grow,
    /// is used (from ~100 agents on it decides the same at a fraction of the cost).
    pub exact_max_events: usize,
    /// Marginal-risk threshold when the abandonment rate is on its aim.
    pub base_risk: f64,
    /// Lowest and highest threshold the budget may set.
    pub min_risk: f64,
    pub max_risk: f64,
    /// Log-gain on the relative error of the window's rate.
    pub window_gain: f64,
    /// Log-gain on today's rate above its aim.
    pub daily_gain: f64,
    /// Log-gain on the recent rate above its aim (reacts to step changes).
    pub recent_gain: f64,
    /// The window aim is `max_rate - margin_floor - margin_small_team / sqrt(agents)`.
    pub margin_floor: f64,
    pub margin_small_team: f64,
    /// Today's aim is `daily_cap - daily_margin`.
    pub daily_margin: f64,
    /// Live answers of prior (at the aim) blended into the window and today's rates.
    pub pseudo_answers: f64,
}

impl Default for PacerTuning {
    fn default() -> Self {
        PacerTuning {
            agent_wait_grace: 1.0,
            variance_floor: 0.25,
            exact_max_events: 100,
            base_risk: 0.15,
            min_risk: 0.002,
            max_risk: 0.6,
            window_gain: 30.0,
            daily_gain: 4.0,
            recent_gain: 1.0,
            margin_floor: 0.0025,
            margin_small_team: 0.005,
            daily_margin: 0.005,
            pseudo_answers: 400.0,
        }
    }
}

/// Everything the pacer is configured with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PacerConfig {
    pub estimator: EstimatorConfig,
    pub tuning: PacerTuning,
}

/// Decayed counts of live answers and abandons.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RecentAbandonment {
    pub abandoned: f64,
    pub live: f64,
}

/// Chance that something observed in a given state yields a live answer (or a free
/// agent) within each horizon.
type ByHorizon = [f64; HORIZONS];

/// Forecast tables rebuilt at each refresh from the current fits.
#[derive(Debug, Clone, PartialEq)]
struct Tables {
    /// Share of dials that end as a live answer.
    live_share: f64,
    /// Dial-to-live-answer quantiles (seconds from now) at which demand is counted.
    horizons: ByHorizon,
    /// P(free by horizon + grace), by elapsed talk (see [`talk_index`]).
    talk: Vec<ByHorizon>,
    /// P(free by horizon + grace), by elapsed wrap in whole seconds.
    wrap: Vec<ByHorizon>,
    /// P(live answer by horizon), by call age in whole seconds, before any progress.
    dialing: Vec<ByHorizon>,
    /// The same while ringing (a failure is no longer possible).
    ringing: Vec<ByHorizon>,
    /// The same while screening, by time in screening (steps of [`SCREEN_STEP`] s).
    screening: Vec<ByHorizon>,
}

const TALK_ROWS: usize = 180;
const WRAP_ROWS: usize = 180;
const AGE_ROWS: usize = 90;
const SCREEN_ROWS: usize = 60;
const SCREEN_STEP: f64 = 0.25;

/// Elapsed talk seconds of row `i`: 2-s steps to 2 min, 8-s steps to 10 min, then 40 s.
fn talk_row_seconds(i: usize) -> f64 {
    let i = i as f64;
    if i < 60.0 {
        i * 2.0
    } else if i < 120.0 {
        120.0 + (i - 60.0) * 8.0
    } else {
        600.0 + (i - 120.0) * 40.0
    }
}

fn talk_index(elapsed: f64) -> usize {
    let row = if elapsed < 120.0 {
        elapsed / 2.0
    } else if elapsed < 600.0 {
        60.0 + (elapsed - 120.0) / 8.0
    } else {
        120.0 + (elapsed - 600.0) / 40.0
    };
    (row.round() as usize).min(TALK_ROWS - 1)
}

fn row(table: &[ByHorizon], index: usize) -> &ByHorizon {
    &table[index.min(table.len() - 1)]
}

/// Online estimates plus the configuration of the pacer.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimator {
    config: PacerConfig,
    /// Decayed counts of `[live, machine, no_answer, failed]`.
    outcomes: [f64; 4],
    ringing: LogMoments,
    human_screening: LogMoments,
    machine_screening: LogMoments,
    no_answer: LogMoments,
    failed: LogMoments,
    talk: LogMoments,
    wrap: LogMoments,
    recent: RecentAbandonment,
    refreshed_at: f64,
    observed_since_refresh: bool,
    tables: Tables,
    /// The fitted inputs the agent tables (talk, wrap) and the call tables were last
    /// built from; a part is rebuilt only when its inputs moved by more than
    /// [`REBUILD_TOLERANCE`] (far below the fits' own sampling noise).
    agent_inputs: Vec<f64>,
    call_inputs: Vec<f64>,
}

/// Largest change of a fitted input (log-scale parameters; horizons in tens of seconds;
/// outcome shares × 10) that does not trigger a rebuild of the forecast tables. The fits'
/// own sampling noise is several times larger (e.g. ±0.07 on the talk fit's mu).
const REBUILD_TOLERANCE: f64 = 0.02;

/// Whether `new` differs from `old` by more than the tolerance in any entry.
fn moved(old: &[f64], new: &[f64]) -> bool {
    old.len() != new.len() || old.iter().zip(new).any(|(a, b)| (a - b).abs() > REBUILD_TOLERANCE)
}

impl Estimator {
    /// A cold-start estimator: priors only, tables valid from `at`.
    pub fn new(config: PacerConfig, at: f64) -> Self {
        let mut estimator = Estimator {
            config,
            outcomes: [0.0; 4],
            ringing: LogMoments::default(),
            human_screening: LogMoments::default(),
            machine_screening: LogMoments::default(),
            no_answer: LogMoments::default(),
            failed: LogMoments::default(),
            talk: LogMoments::default(),
            wrap: LogMoments::default(),
            recent: RecentAbandonment::default(),
            refreshed_at: at,
            observed_since_refresh: false,
            tables: Tables {
                live_share: 0.0,
                horizons: [0.0; HORIZONS],
                talk: Vec::new(),
                wrap: Vec::new(),
                dialing: Vec::new(),
                ringing: Vec::new(),
                screening: Vec::new(),
            },
            agent_inputs: Vec::new(),
            call_inputs: Vec::new(),
        };
        estimator.refresh(at);
        estimator
    }

    pub fn config(&self) -> &PacerConfig {
        &self.config
    }

    /// Learn from one observed event at `at`; rebuilds the forecast tables when the
    /// refresh interval has passed.
    pub fn observe(&mut self, observation: Observation, at: f64) {
        let c = &self.config.estimator;
        let outcome_decay = 1.0 - 1.0 / c.outcome_memory.max(1.0);
        let duration_decay = 1.0 - 1.0 / c.duration_memory.max(1.0);
        let mut count = |slot: usize| {
            for (i, w) in self.outcomes.iter_mut().enumerate() {
                *w = *w * outcome_decay + if i == slot { 1.0 } else { 0.0 };
            }
        };
        match observation {
            Observation::CallResolved(DialResult::Answered { human, ringing, screening }) => {
                count(if human { 0 } else { 1 });
                self.ringing.observe(ringing.as_secs_f64(), duration_decay);
                let fit = if human { &mut self.human_screening } else { &mut self.machine_screening };
                fit.observe(screening.as_secs_f64(), duration_decay);
            }
            Observation::CallResolved(DialResult::NoAnswer { after }) => {
                count(2);
                self.no_answer.observe(after.as_secs_f64(), duration_decay);
            }
            Observation::CallResolved(DialResult::Failed { after }) => {
                count(3);
                self.failed.observe(after.as_secs_f64(), duration_decay);
            }
            Observation::TalkEnded { talk } => {
                self.talk.observe(talk.as_secs_f64(), duration_decay);
            }
            Observation::WrapEnded { wrap } => {
                self.wrap.observe(wrap.as_secs_f64(), duration_decay);
            }
            Observation::LiveAnswerEnded { abandoned } => {
                let decay = 1.0 - 1.0 / c.abandon_memory.max(1.0);
                self.recent.live = self.recent.live * decay + 1.0;
                self.recent.abandoned = self.recent.abandoned * decay + if abandoned { 1.0 } else { 0.0 };
            }
        }
        self.observed_since_refresh = true;
        if at - self.refreshed_at >= c.refresh_interval {
            self.refresh(at);
        }
    }

    /// Decayed live answers and abandons, for the budget's reaction to step changes.
    pub fn recent_abandonment(&self) -> RecentAbandonment {
        self.recent
    }

    /// Shares `[live, machine, no_answer, failed]` with the prior blended in.
    pub fn outcome_shares(&self) -> [f64; 4] {
        let c = &self.config.estimator;
        let prior_total: f64 = c.prior_outcomes.iter().sum::<f64>().max(1e-9);
        let mut shares = [0.0; 4];
        let mut total = 0.0;
        for (i, share) in shares.iter_mut().enumerate() {
            *share = self.outcomes[i] + c.prior_outcome_weight * c.prior_outcomes[i] / prior_total;
            total += *share;
        }
        shares.map(|s| s / total)
    }

    /// Fitted talk-time distribution.
    pub fn talk_time(&self) -> LogNormal {
        let c = &self.config.estimator;
        self.talk.fit(c.prior_talk, c.prior_duration_weight)
    }

    /// Fitted wrap-time distribution.
    pub fn wrap_time(&self) -> LogNormal {
        let c = &self.config.estimator;
        self.wrap.fit(c.prior_wrap, c.prior_duration_weight)
    }

    /// Rebuild the forecast tables from the current fits (done by [`Self::observe`] every
    /// refresh interval; callers may force it, e.g. after a restart).
    pub fn refresh(&mut self, at: f64) {
        self.refreshed_at = at;
        if !self.observed_since_refresh && !self.tables.talk.is_empty() {
            return;
        }
        self.observed_since_refresh = false;
        let c = self.config.estimator;
        let w = c.prior_duration_weight;
        let ringing = self.ringing.fit(c.prior_ringing, w);
        let human_screening = self.human_screening.fit(c.prior_human_screening, w);
        let machine_screening = self.machine_screening.fit(c.prior_machine_screening, w);
        let no_answer = self.no_answer.fit(c.prior_no_answer, w);
        let failed = self.failed.fit(c.prior_failed, w);
        let talk = self.talk_time();
        let wrap = self.wrap_time();
        let [live, machine, unanswered, fail] = self.outcome_shares();
        let screen_mean = human_screening.mean();
        let mut horizons = [0.0; HORIZONS];
        for (k, h) in horizons.iter_mut().enumerate() {
            *h = ringing.quantile((k as f64 + 0.5) / HORIZONS as f64) + screen_mean;
        }
        let grace = self.config.tuning.agent_wait_grace;
        let supply = horizons.map(|h| h + grace);
        let agent_inputs: Vec<f64> =
            [talk.mu, talk.sigma, wrap.mu, wrap.sigma].into_iter().chain(supply.iter().map(|t| t / 10.0)).collect();
        let call_inputs: Vec<f64> = [
            ringing.mu,
            ringing.sigma,
            human_screening.mu,
            human_screening.sigma,
            machine_screening.mu,
            machine_screening.sigma,
            no_answer.mu,
            no_answer.sigma,
            failed.mu,
            failed.sigma,
            10.0 * live,
            10.0 * machine,
            10.0 * unanswered,
            10.0 * fail,
        ]
        .into_iter()
        .collect();
        if moved(&self.agent_inputs, &agent_inputs) || self.tables.talk.is_empty() {
            self.agent_inputs = agent_inputs;
            let wrap_points: [f64; WRAP_POINTS] =
                std::array::from_fn(|q| wrap.quantile((q as f64 + 0.5) / WRAP_POINTS as f64));
            self.tables.talk = (0..TALK_ROWS)
                .map(|i| {
                    let running = talk.given_elapsed(talk_row_seconds(i));
                    supply.map(|t| {
                        wrap_points.iter().map(|w| if t > *w { running.ends_within(t - w) } else { 0.0 }).sum::<f64>()
                            / WRAP_POINTS as f64
                    })
                })
                .collect();
            self.tables.wrap = (0..WRAP_ROWS)
                .map(|i| {
                    let running = wrap.given_elapsed(i as f64);
                    supply.map(|t| running.ends_within(t))
                })
                .collect();
        }
        // The share itself is used as is; only the tables wait for a material move.
        self.tables.live_share = live;
        if !moved(&self.call_inputs, &call_inputs) && !self.tables.dialing.is_empty() {
            return;
        }
        self.call_inputs = call_inputs;
        let ring_rows = |with_failures: bool| -> Vec<ByHorizon> {
            (0..AGE_ROWS)
                .map(|i| {
                    let a = i as f64;
                    let answer_left = 1.0 - ringing.cdf(a);
                    let live_w = live * answer_left;
                    let mut total = live_w + machine * answer_left + unanswered * (1.0 - no_answer.cdf(a));
                    if with_failures {
                        total += fail * (1.0 - failed.cdf(a));
                    }
                    if total < 1e-12 || answer_left < 1e-12 {
                        return [0.0; HORIZONS];
                    }
                    let p_live = live_w / total;
                    let rung = ringing.given_elapsed(a);
                    horizons.map(|h| p_live * rung.ends_within((h - screen_mean).max(0.0)))
                })
                .collect()
        };
        let screening_rows = (0..SCREEN_ROWS)
            .map(|i| {
                let s = i as f64 * SCREEN_STEP;
                let human_w = live * (1.0 - human_screening.cdf(s));
                let total = human_w + machine * (1.0 - machine_screening.cdf(s));
                if total < 1e-12 {
                    return [0.0; HORIZONS];
                }
                let p_live = human_w / total;
                let screened = human_screening.given_elapsed(s);
                horizons.map(|h| p_live * screened.ends_within(h))
            })
            .collect();
        self.tables.horizons = horizons;
        self.tables.dialing = ring_rows(true);
        self.tables.ringing = ring_rows(false);
        self.tables.screening = screening_rows;
    }

    /// Forecast free agents and live answers at each horizon for this snapshot.
    pub fn forecast(&self, snapshot: &PacingSnapshot) -> Forecast<'_> {
        let t = &self.tables;
        let mut f = Forecast {
            free_mean: [0.0; HORIZONS],
            free_var: [0.0; HORIZONS],
            live_mean: [0.0; HORIZONS],
            live_var: [0.0; HORIZONS],
            live_share: t.live_share,
            horizons: t.horizons,
            variance_floor: self.config.tuning.variance_floor,
            exact_max_events: self.config.tuning.exact_max_events,
            free_sure: 0,
            live_sure: 0,
            free_rows: Vec::with_capacity(snapshot.agents.len()),
            live_rows: Vec::with_capacity(snapshot.calls_in_flight.len()),
        };
        for agent in &snapshot.agents {
            let e = agent.in_state.as_secs_f64();
            let probabilities = match agent.activity {
                AgentActivity::Available => {
                    f.free_sure += 1;
                    continue;
                }
                AgentActivity::Reserved => row(&t.talk, 0),
                AgentActivity::OnCall => row(&t.talk, talk_index(e)),
                AgentActivity::WrapUp => row(&t.wrap, e as usize),
                AgentActivity::Paused => continue,
            };
            add_bernoullis(&mut f.free_mean, &mut f.free_var, probabilities);
            f.free_rows.push(probabilities);
        }
        for call in &snapshot.calls_in_flight {
            let probabilities = match call.stage {
                CallStage::AwaitingAgent => {
                    f.live_sure += 1;
                    continue;
                }
                CallStage::Dialing => row(&t.dialing, call.age.as_secs() as usize),
                CallStage::Ringing => row(&t.ringing, call.age.as_secs() as usize),
                CallStage::Screening => row(&t.screening, (call.in_stage.as_secs_f64() / SCREEN_STEP) as usize),
            };
            add_bernoullis(&mut f.live_mean, &mut f.live_var, probabilities);
            f.live_rows.push(probabilities);
        }
        let sure = |m: &mut ByHorizon, n: usize| m.iter_mut().for_each(|m| *m += n as f64);
        sure(&mut f.free_mean, f.free_sure);
        sure(&mut f.live_mean, f.live_sure);
        f
    }
}

/// Add one Bernoulli event per horizon (probabilities `p`) to running means and variances.
fn add_bernoullis(mean: &mut ByHorizon, var: &mut ByHorizon, p: &ByHorizon) {
    for ((m, v), p) in mean.iter_mut().zip(var.iter_mut()).zip(p) {
        *m += p;
        *v += p * (1.0 - p);
    }
}

/// Free agents and live answers expected at each horizon: sums of independent events,
/// judged exactly (Poisson-binomial counts) or by a normal approximation.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast<'a> {
    /// Agents free by horizon + grace: mean and variance.
    pub free_mean: ByHorizon,
    pub free_var: ByHorizon,
    /// Live answers from calls already in flight by each horizon: mean and variance.
    pub live_mean: ByHorizon,
    pub live_var: ByHorizon,
    /// Share of new dials that become live answers.
    pub live_share: f64,
    /// Seconds from now of each horizon (quantiles of a new call's time to a live answer).
    pub horizons: ByHorizon,
    /// Added to the variance of the normal approximation.
    pub variance_floor: f64,
    /// Most uncertain events judged by exact counts.
    pub exact_max_events: usize,
    /// Agents free now and live answers waiting now (certain at every horizon).
    pub free_sure: usize,
    pub live_sure: usize,
    /// Per-horizon chances of the other agents (free) and calls (live answer).
    pub free_rows: Vec<&'a ByHorizon>,
    pub live_rows: Vec<&'a ByHorizon>,
}

/// Share of new live answers that arrive before horizon `k`.
fn new_share(live_share: f64, k: usize) -> f64 {
    live_share * (k as f64 + 0.5) / HORIZONS as f64
}

/// Standard deviations above the mean at which a count's distribution is cut (the mass
/// beyond is far below any risk the budget allows).
const COUNT_SDS: f64 = 10.0;

impl Forecast<'_> {
    /// Chance that one more call, started after `started` others this instant, is
    /// answered by a person who finds no free agent (averaged over when it would answer).
    pub fn marginal_risk(&self, started: u32) -> f64 {
        let n = f64::from(started);
        let mut risk = 0.0;
        for k in 0..HORIZONS {
            let a = new_share(self.live_share, k);
            let slack = self.free_mean[k] - self.live_mean[k] - n * a;
            let var = self.free_var[k] + self.live_var[k] + n * a * (1.0 - a) + self.variance_floor;
            risk += normal_cdf((0.5 - slack) / var.sqrt());
        }
        risk / HORIZONS as f64
    }

    /// Whether the counts are small enough for [`Self::calls_within`] to judge them exactly.
    pub fn uses_exact_counts(&self) -> bool {
        self.free_rows.len() + self.live_rows.len() <= self.exact_max_events
    }

    /// How many calls to start so that each one's marginal risk stays within
    /// `threshold`, at most `cap`; with the marginal risk of the last call started (or of
    /// the first one refused when none is).
    pub fn calls_within(&self, threshold: f64, cap: u32) -> (u32, f64) {
        if self.uses_exact_counts() {
            let mut exact = ExactRisk::new(self);
            return take_while_within(|_| exact.next(), threshold, cap);
        }
        take_while_within(|n| self.marginal_risk(n), threshold, cap)
    }
}

/// Start calls one at a time while the next one's risk stays within `threshold`.
fn take_while_within(mut risk_of: impl FnMut(u32) -> f64, threshold: f64, cap: u32) -> (u32, f64) {
    let mut last = None;
    for n in 0..cap {
        let risk = risk_of(n);
        if risk > threshold {
            return (n, last.unwrap_or(risk));
        }
        last = Some(risk);
    }
    (cap, last.unwrap_or_else(|| risk_of(0)))
}

/// Exact marginal risk of successive new calls: per horizon, the free agents' count and
/// the live answers' count (in flight plus the new calls so far) as Poisson-binomials.
struct ExactRisk {
    free: Vec<Counts>,
    live: Vec<Counts>,
    /// Free-now agents minus waiting answers.
    shift: i64,
    shares: ByHorizon,
    tail: Vec<f64>,
}

impl ExactRisk {
    fn new(f: &Forecast<'_>) -> Self {
        let shift = f.free_sure as i64 - f.live_sure as i64;
        // Cut COUNT_SDS above the mean, plus a few counts so a nearly certain sum keeps room.
        let cap = |mean: f64, var: f64, events: usize| {
            ((mean + COUNT_SDS * var.sqrt() + 4.0).ceil().max(0.0) as usize).min(events)
        };
        let mut free = Vec::with_capacity(HORIZONS);
        let mut live = Vec::with_capacity(HORIZONS);
        for k in 0..HORIZONS {
            let mut fk = Counts::new(cap(f.free_mean[k] - f.free_sure as f64, f.free_var[k], f.free_rows.len()));
            f.free_rows.iter().for_each(|p| fk.add(p[k]));
            // Answers beyond the most agents that can be free never change the risk.
            let most = (fk.pmf().len() as i64 - 1 + shift).max(0) as usize;
            let mut lk = Counts::new(most);
            f.live_rows.iter().for_each(|p| lk.add(p[k]));
            free.push(fk);
            live.push(lk);
        }
        ExactRisk { free, live, shift, shares: std::array::from_fn(|k| new_share(f.live_share, k)), tail: Vec::new() }
    }

    /// The marginal risk of the next call, which is then counted as started.
    fn next(&mut self) -> f64 {
        let mut risk = 0.0;
        for k in 0..HORIZONS {
            let live = self.live[k].pmf();
            // tail[m] = P(live answers >= m).
            self.tail.clear();
            self.tail.resize(live.len() + 1, 0.0);
            for m in (0..live.len()).rev() {
                self.tail[m] = self.tail[m + 1] + live[m];
            }
            let tail = &self.tail;
            risk += self.free[k]
                .pmf()
                .iter()
                .enumerate()
                .map(|(j, p)| p * tail.get((j as i64 + self.shift).max(0) as usize).map_or(0.0, |t| t.min(1.0)))
                .sum::<f64>();
            self.live[k].add(self.shares[k]);
        }
        risk / HORIZONS as f64
    }
}

#[cfg(test)]
mod tests {
    use super::super::distribution::enumerate_counts;
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn outcome_shares_move_from_prior_to_observations() {
        let mut e = Estimator::new(PacerConfig::default(), 0.0);
        let prior = e.outcome_shares();
        assert!((prior[0] - 0.2).abs() < 1e-9);
        for i in 0..2000 {
            let result = if i % 10 == 0 {
                DialResult::Answered { human: true, ringing: secs(9.0), screening: secs(1.5) }
            } else {
                DialResult::NoAnswer { after: secs(27.0) }
            };
            e.observe(Observation::CallResolved(result), f64::from(i));
        }
        let shares = e.outcome_shares();
        assert!((shares[0] - 0.1).abs() < 0.02, "live share {}", shares[0]);
        assert!(shares[1] < 0.02, "machine share {}", shares[1]);
    }

    #[test]
    fn talk_fit_follows_a_step_change() {
        let mut e = Estimator::new(PacerConfig::default(), 0.0);
        for i in 0..2000 {
            e.observe(Observation::TalkEnded { talk: secs(120.0) }, f64::from(i));
        }
        assert!((e.talk_time().mean() - 120.0).abs() < 10.0);
        for i in 2000..4000 {
            e.observe(Observation::TalkEnded { talk: secs(240.0) }, f64::from(i));
        }
        assert!((e.talk_time().mean() - 240.0).abs() < 20.0, "{}", e.talk_time().mean());
    }

    #[test]
    fn talk_rows_are_monotone_in_horizon() {
        let e = Estimator::new(PacerConfig::default(), 0.0);
        for r in &e.tables.talk {
            for k in 1..HORIZONS {
                assert!(r[k] >= r[k - 1] - 1e-12);
            }
        }
    }

    #[test]
    fn tables_follow_a_material_change_and_skip_noise() {
        let mut e = Estimator::new(PacerConfig::default(), 0.0);
        let before = e.tables.talk.clone();
        // A refresh with nothing new keeps the tables.
        e.refresh(100.0);
        assert_eq!(e.tables.talk, before);
        // Talk twice as long as the prior: the talk table is rebuilt at the next refresh.
        for i in 0..500 {
            e.observe(Observation::TalkEnded { talk: secs(300.0) }, 100.0 + f64::from(i) * 0.01);
        }
        e.refresh(200.0);
        assert_ne!(e.tables.talk, before);
        assert!(e.tables.talk[0][HORIZONS - 1] < before[0][HORIZONS - 1]);
        // One more typical sample barely moves the fit: no rebuild.
        let settled = e.tables.talk.clone();
        e.observe(Observation::TalkEnded { talk: secs(300.0) }, 300.0);
        e.refresh(400.0);
        assert_eq!(e.tables.talk, settled);
    }

    #[test]
    fn talk_index_round_trips_grid_points() {
        for i in 0..TALK_ROWS {
            assert_eq!(talk_index(talk_row_seconds(i)), i);
        }
        assert_eq!(talk_index(1e9), TALK_ROWS - 1);
    }

    #[test]
    fn recent_abandonment_is_decayed_counts() {
        let mut e = Estimator::new(PacerConfig::default(), 0.0);
        for i in 0..10 {
            e.observe(Observation::LiveAnswerEnded { abandoned: i == 0 }, 1.0);
        }
        let r = e.recent_abandonment();
        assert!(r.live > 9.8 && r.live <= 10.0);
        assert!(r.abandoned > 0.9 && r.abandoned < 1.0);
    }

    /// A forecast of `free_sure` free agents and `live_sure` waiting answers plus the
    /// given rows of chances, with the normal approximation's variance floor at 0.
    fn forecast<'a>(
        free_sure: usize,
        free_rows: &'a [ByHorizon],
        live_sure: usize,
        live_rows: &'a [ByHorizon],
        live_share: f64,
    ) -> Forecast<'a> {
        let mut f = Forecast {
            free_mean: [free_sure as f64; HORIZONS],
            free_var: [0.0; HORIZONS],
            live_mean: [live_sure as f64; HORIZONS],
            live_var: [0.0; HORIZONS],
            live_share,
            horizons: [10.0; HORIZONS],
            variance_floor: 0.0,
            exact_max_events: PacerTuning::default().exact_max_events,
            free_sure,
            live_sure,
            free_rows: free_rows.iter().collect(),
            live_rows: live_rows.iter().collect(),
        };
        free_rows.iter().for_each(|p| add_bernoullis(&mut f.free_mean, &mut f.free_var, p));
        live_rows.iter().for_each(|p| add_bernoullis(&mut f.live_mean, &mut f.live_var, p));
        f
    }

    /// The marginal risk of the call started after `started` others, by enumeration:
    /// it finds no agent when free agents - live answers - earlier new answers < 1.
    fn enumerated_risk(f: &Forecast<'_>, started: usize) -> f64 {
        let mut risk = 0.0;
        for k in 0..HORIZONS {
            let free: Vec<f64> = f.free_rows.iter().map(|p| p[k]).collect();
            let mut live: Vec<f64> = f.live_rows.iter().map(|p| p[k]).collect();
            live.extend(std::iter::repeat_n(new_share(f.live_share, k), started));
            let (free, live) = (enumerate_counts(&free), enumerate_counts(&live));
            for (i, pf) in free.iter().enumerate() {
                for (j, pl) in live.iter().enumerate() {
                    if (f.free_sure + i) as i64 - (f.live_sure + j) as i64 <= 0 {
                        risk += pf * pl;
                    }
                }
            }
        }
        risk / HORIZONS as f64
    }

    #[test]
    fn exact_risk_matches_enumeration() {
        let rising = [0.1, 0.2, 0.3, 0.4, 0.5];
        let late = [0.0, 0.0, 0.05, 0.3, 0.9];
        // (free now, free rows, waiting answers, live rows, live share)
        type Case = (usize, Vec<ByHorizon>, usize, Vec<ByHorizon>, f64);
        let cases: Vec<Case> = vec![
            (0, vec![], 0, vec![], 0.2),
            (1, vec![[0.5; HORIZONS]], 0, vec![], 0.2),
            (0, vec![rising, [0.9; HORIZONS]], 1, vec![[0.05, 0.1, 0.2, 0.3, 0.4]], 0.3),
            (2, vec![], 0, vec![rising, rising, late], 0.25),
            (1, vec![late, late, rising], 3, vec![[1.0; HORIZONS], [0.02; HORIZONS]], 0.1),
            (3, vec![[0.2; HORIZONS]; 4], 0, vec![[0.1; HORIZONS]; 6], 0.4),
        ];
        for (i, (free_sure, free, live_sure, live, share)) in cases.iter().enumerate() {
            let f = forecast(*free_sure, free, *live_sure, live, *share);
            let mut exact = ExactRisk::new(&f);
            for n in 0..6 {
                let (got, want) = (exact.next(), enumerated_risk(&f, n));
                assert!((got - want).abs() < 1e-12, "case {i}, call {n}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn exact_and_normal_risk_agree_on_large_counts() {
        let free = vec![[0.3; HORIZONS]; 60];
        let live = vec![[0.05; HORIZONS]; 200];
        let f = forecast(0, &free, 0, &live, 0.2);
        assert!(!f.uses_exact_counts(), "260 events are judged by the normal approximation");
        let mut exact = ExactRisk::new(&f);
        for n in 0..10 {
            let (e, normal) = (exact.next(), f.marginal_risk(n));
            assert!((e - normal).abs() < 0.02, "call {n}: exact {e} vs normal {normal}");
        }
        let small = forecast(1, &free[..3], 0, &live[..10], 0.2);
        assert!(small.uses_exact_counts());
    }

    #[test]
    fn marginal_risk_grows_with_calls_started() {
        let free = vec![[0.5; HORIZONS]; 6];
        let live = vec![[0.25; HORIZONS]; 2];
        let mut f = forecast(0, &free, 0, &live, 0.25);
        f.variance_floor = 0.25;
        let mut exact = ExactRisk::new(&f);
        let (mut last, mut last_exact) = (0.0, 0.0);
        for n in 0..30 {
            let (r, e) = (f.marginal_risk(n), exact.next());
            assert!(r >= last && e >= last_exact - 1e-12, "risk fell at n={n}");
            (last, last_exact) = (r, e);
        }
        for exact_max_events in [0, 100] {
            f.exact_max_events = exact_max_events;
            let (n, risk) = f.calls_within(0.1, 100);
            assert!(n > 0 && risk <= 0.1, "{exact_max_events}: {n} calls at {risk}");
            let mut exact = ExactRisk::new(&f);
            let next =
                if f.uses_exact_counts() { (0..=n).map(|_| exact.next()).last() } else { Some(f.marginal_risk(n)) };
            assert!(next.is_some_and(|r| r > 0.1), "{exact_max_events}: call {n} would be within");
            assert_eq!(f.calls_within(0.1, 2).0, 2.min(n));
        }
    }
}
