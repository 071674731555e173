//! Online estimation for pacing: outcome shares (live, machine, no answer, failed),
//! ring/answer and screening delays, talk and wrap durations, and the recent abandonment
//! rate, all learned from observed events with priors for a cold start and exponential
//! decay so drift is followed. It also turns a snapshot into a [`Forecast`] of free agents
//! and live answers over the next seconds, using *conditional* remaining times (a call
//! that has run 5 minutes is not a fresh call).
//!
//! It sees only events a live dialer observes; it never reads a clock (instants come in
//! as `at`, seconds since the caller's epoch).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::distribution::{LogMoments, LogNormal, normal_cdf};
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
    /// Added to the forecast variance so small teams are not judged by a too-narrow normal.
    pub variance_floor: f64,
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
    pub fn forecast(&self, snapshot: &PacingSnapshot) -> Forecast {
        let t = &self.tables;
        let mut f = Forecast {
            free_mean: [0.0; HORIZONS],
            free_var: [0.0; HORIZONS],
            live_mean: [0.0; HORIZONS],
            live_var: [0.0; HORIZONS],
            live_share: t.live_share,
            horizons: t.horizons,
            variance_floor: self.config.tuning.variance_floor,
        };
        for agent in &snapshot.agents {
            let e = agent.in_state.as_secs_f64();
            let probabilities = match agent.activity {
                AgentActivity::Available => &[1.0; HORIZONS],
                AgentActivity::Reserved => row(&t.talk, 0),
                AgentActivity::OnCall => row(&t.talk, talk_index(e)),
                AgentActivity::WrapUp => row(&t.wrap, e as usize),
                AgentActivity::Paused => continue,
            };
            add_bernoullis(&mut f.free_mean, &mut f.free_var, probabilities);
        }
        for call in &snapshot.calls_in_flight {
            let probabilities = match call.stage {
                CallStage::AwaitingAgent => &[1.0; HORIZONS],
                CallStage::Dialing => row(&t.dialing, call.age.as_secs() as usize),
                CallStage::Ringing => row(&t.ringing, call.age.as_secs() as usize),
                CallStage::Screening => row(&t.screening, (call.in_stage.as_secs_f64() / SCREEN_STEP) as usize),
            };
            add_bernoullis(&mut f.live_mean, &mut f.live_var, probabilities);
        }
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

/// Free agents and live answers expected at each horizon (normal approximation of sums
/// of independent Bernoulli events).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
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
    pub variance_floor: f64,
}

impl Forecast {
    /// Chance that one more call, started after `started` others this instant, is
    /// answered by a person who finds no free agent (averaged over when it would answer).
    pub fn marginal_risk(&self, started: u32) -> f64 {
        let n = f64::from(started);
        let mut risk = 0.0;
        for k in 0..HORIZONS {
            // Share of new live answers that arrive before horizon k.
            let a = self.live_share * (k as f64 + 0.5) / HORIZONS as f64;
            let slack = self.free_mean[k] - self.live_mean[k] - n * a;
            let var = self.free_var[k] + self.live_var[k] + n * a * (1.0 - a) + self.variance_floor;
            risk += normal_cdf((0.5 - slack) / var.sqrt());
        }
        risk / HORIZONS as f64
    }

    /// How many calls to start so that each one's marginal risk stays within
    /// `threshold`, at most `cap`; with the marginal risk of the last call started (or of
    /// the first one refused when none is).
    pub fn calls_within(&self, threshold: f64, cap: u32) -> (u32, f64) {
        let mut n = 0;
        let mut last = self.marginal_risk(0);
        while n < cap {
            let risk = self.marginal_risk(n);
            if risk > threshold {
                break;
            }
            last = risk;
            n += 1;
        }
        (n, last)
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn marginal_risk_grows_with_calls_started() {
        let f = Forecast {
            free_mean: [3.0; HORIZONS],
            free_var: [0.5; HORIZONS],
            live_mean: [0.5; HORIZONS],
            live_var: [0.3; HORIZONS],
            live_share: 0.25,
            horizons: [10.0; HORIZONS],
            variance_floor: 0.25,
        };
        let mut last = 0.0;
        for n in 0..30 {
            let r = f.marginal_risk(n);
            assert!(r >= last, "risk fell at n={n}");
            last = r;
        }
        let (n, risk) = f.calls_within(0.1, 100);
        assert!(n > 0 && risk <= 0.1);
        assert!(f.marginal_risk(n) > 0.1);
        assert_eq!(f.calls_within(0.1, 2).0, 2.min(n));
    }
}
