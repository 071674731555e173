//! Figures of one simulated campaign: the regulated abandonment rate (TSR definition:
//! abandoned live answers ÷ all live answers, counting people the detector hung up on),
//! talk minutes per logged-in agent-hour, daily spread, and the audit figures the hard
//! rules are checked against. Collects while the engine runs; serialises as camelCase.

use serde::Serialize;

/// Counters of one simulated day (ground truth, not what the pacer saw).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DayTally {
    pub live_answers: u64,
    pub abandoned: u64,
    pub bridged_live: u64,
    pub dials: u64,
    pub talk_seconds: f64,
    pub busy_seconds: f64,
    pub logged_in_seconds: f64,
    pub idle_wait_seconds: f64,
    pub idle_waits: u64,
}

/// Histogram of hold before bridge (completed greeting → bridged), 10-ms bins to 2 s.
const HOLD_BINS: usize = 201;

/// Everything the engine collects over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub days: Vec<DayTally>,
    pub hold_bins: Vec<u64>,
    pub max_hold: f64,
    pub bridged_after_deadline: u64,
    pub min_unanswered_ring: f64,
    pub max_lines: u32,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            days: Vec::new(),
            hold_bins: vec![0; HOLD_BINS],
            max_hold: 0.0,
            bridged_after_deadline: 0,
            min_unanswered_ring: f64::INFINITY,
            max_lines: 0,
        }
    }
}

impl Tally {
    pub fn record_hold(&mut self, hold: f64) {
        let bin = ((hold.max(0.0) * 100.0).round() as usize).min(HOLD_BINS - 1);
        self.hold_bins[bin] += 1;
        self.max_hold = self.max_hold.max(hold);
    }

    fn hold_quantile(&self, q: f64) -> f64 {
        let total: u64 = self.hold_bins.iter().sum();
        if total == 0 {
            return 0.0;
        }
        let rank = (q * total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.hold_bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return i as f64 / 100.0;
            }
        }
        self.max_hold
    }
}

/// One strategy run on one scenario (API.md `--json` fields plus audit figures).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub scenario: String,
    pub strategy: String,
    pub seed: u64,
    pub agents: u32,
    pub answer_rate: f64,
    pub days: u32,
    pub talk_minutes_per_agent_hour: f64,
    pub occupancy: f64,
    /// 30-day (whole run) abandonment, TSR definition.
    pub abandon_rate: f64,
    pub max_daily_abandon_rate: f64,
    pub p90_daily_abandon_rate: f64,
    pub min_daily_abandon_rate: f64,
    pub sd_daily_abandon_rate: f64,
    pub mean_idle_wait_seconds: f64,
    pub dials_per_agent_hour: f64,
    pub max_concurrent_lines: u32,
    pub hold_before_bridge_p99_seconds: f64,
    pub max_hold_before_bridge_seconds: f64,
    pub live_answers: u64,
    pub abandoned: u64,
    pub bridged_live: u64,
    /// Bridged people whose bridge came later than the deadline (must be 0).
    pub bridged_after_deadline: u64,
    /// Shortest ring of any call that rang out (must be ≥ the minimum ring).
    pub min_unanswered_ring_seconds: f64,
    pub dials: u64,
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 { num / den } else { 0.0 }
}

impl RunReport {
    pub fn new(scenario: &super::Scenario, strategy: String, seed: u64, tally: &Tally) -> Self {
        let sum = tally.days.iter().fold(DayTally::default(), |mut a, d| {
            a.live_answers += d.live_answers;
            a.abandoned += d.abandoned;
            a.bridged_live += d.bridged_live;
            a.dials += d.dials;
            a.talk_seconds += d.talk_seconds;
            a.busy_seconds += d.busy_seconds;
            a.logged_in_seconds += d.logged_in_seconds;
            a.idle_wait_seconds += d.idle_wait_seconds;
            a.idle_waits += d.idle_waits;
            a
        });
        let mut daily: Vec<f64> = tally.days.iter().map(|d| ratio(d.abandoned as f64, d.live_answers as f64)).collect();
        daily.sort_by(f64::total_cmp);
        let n = daily.len().max(1) as f64;
        let mean = daily.iter().sum::<f64>() / n;
        let sd = (daily.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
        let p90 = daily.get(((0.9 * daily.len() as f64).ceil() as usize).saturating_sub(1)).copied().unwrap_or(0.0);
        let agent_hours = sum.logged_in_seconds / 3600.0;
        RunReport {
            scenario: scenario.name.clone(),
            strategy,
            seed,
            agents: scenario.agents,
            answer_rate: scenario.answer_rate,
            days: scenario.days,
            talk_minutes_per_agent_hour: ratio(sum.talk_seconds / 60.0, agent_hours),
            occupancy: ratio(sum.busy_seconds, sum.logged_in_seconds),
            abandon_rate: ratio(sum.abandoned as f64, sum.live_answers as f64),
            max_daily_abandon_rate: daily.last().copied().unwrap_or(0.0),
            p90_daily_abandon_rate: p90,
            min_daily_abandon_rate: daily.first().copied().unwrap_or(0.0),
            sd_daily_abandon_rate: sd,
            mean_idle_wait_seconds: ratio(sum.idle_wait_seconds, sum.idle_waits as f64),
            dials_per_agent_hour: ratio(sum.dials as f64, agent_hours),
            max_concurrent_lines: tally.max_lines,
            hold_before_bridge_p99_seconds: tally.hold_quantile(0.99),
            max_hold_before_bridge_seconds: tally.max_hold,
            live_answers: sum.live_answers,
            abandoned: sum.abandoned,
            bridged_live: sum.bridged_live,
            bridged_after_deadline: tally.bridged_after_deadline,
            min_unanswered_ring_seconds: if tally.min_unanswered_ring.is_finite() {
                tally.min_unanswered_ring
            } else {
                0.0
            },
            dials: sum.dials,
        }
    }
}
