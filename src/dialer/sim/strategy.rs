//! Pacing strategies the simulator can run: ours (the production pacing core), and the
//! baselines that exist only here for comparison: progressive, fixed ratio `ratio:K`,
//! VICIdial-style ADAPT_HARD_LIMIT, and the seed formula. Baselines see the same
//! observable snapshot as ours and respect the same line caps.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use crate::dialer::pacing::{AgentActivity, CallStage, DialerMode, Estimator, PacingSnapshot, decide, line_headroom};

/// A pacing strategy by name (`predictive`, `progressive`, `ratio:K`, `vicidial`, `seed`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    Predictive,
    Progressive,
    /// VICIdial RATIO with the default tally: total lines = K × unpaused agents.
    Ratio(f64),
    /// VICIdial ADAPT_HARD_LIMIT with default settings (research §1.5–1.6).
    Vicidial,
    /// `(avg_talk_time / available_agents) * answer_rate * target_utilization`, read as
    /// a dial level: unbridged lines to keep in flight per available agent (read as a
    /// line count instead, it never dials once more than ~30 agents are idle).
    Seed,
}

impl Strategy {
    /// The strategies `--compare` runs side by side.
    pub fn all(ratio: f64) -> Vec<Strategy> {
        vec![Strategy::Predictive, Strategy::Progressive, Strategy::Ratio(ratio), Strategy::Vicidial, Strategy::Seed]
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::Predictive => write!(f, "predictive"),
            Strategy::Progressive => write!(f, "progressive"),
            Strategy::Ratio(k) => write!(f, "ratio:{k}"),
            Strategy::Vicidial => write!(f, "vicidial"),
            Strategy::Seed => write!(f, "seed"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unknown strategy {0:?}: use predictive, progressive, ratio:K (K >= 0), vicidial or seed")]
pub struct UnknownStrategy(String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "predictive" => Ok(Strategy::Predictive),
            "progressive" => Ok(Strategy::Progressive),
            "vicidial" => Ok(Strategy::Vicidial),
            "seed" => Ok(Strategy::Seed),
            _ => lower
                .strip_prefix("ratio:")
                .and_then(|k| k.parse::<f64>().ok())
                .filter(|k| k.is_finite() && *k >= 0.0)
                .map(Strategy::Ratio)
                .ok_or_else(|| UnknownStrategy(s.to_string())),
        }
    }
}

/// VICIdial's adaptive loop: 1-s samples, level recomputed every 15 s, drop stats every
/// 60 s, calls placed every 2.5 s.
#[derive(Debug, Clone, PartialEq)]
struct AdaptHardLimit {
    level: f64,
    samples: VecDeque<(f64, f64, f64)>,
    last_level_update: f64,
    last_drop_calc: f64,
    last_placement: f64,
    drop_pct_today: f64,
    dials_today: u64,
}

const ADAPT_MAX_LEVEL: f64 = 3.0;
const ADAPT_DROP_PCT: f64 = 3.0;

impl AdaptHardLimit {
    fn new() -> Self {
        AdaptHardLimit {
            level: 1.0,
            samples: VecDeque::new(),
            last_level_update: f64::NEG_INFINITY,
            last_drop_calc: f64::NEG_INFINITY,
            last_placement: f64::NEG_INFINITY,
            drop_pct_today: 0.0,
            dials_today: 0,
        }
    }

    fn calls_to_start(&mut self, s: &PacingSnapshot, now: f64) -> u32 {
        let ready = count(s, AgentActivity::Available) as f64;
        let waiting = s.calls_in_flight.iter().filter(|c| c.stage == CallStage::AwaitingAgent).count() as f64;
        let counted = staffed(s) as f64;
        self.samples.push_back((ready, waiting, counted));
        if self.samples.len() > 15 {
            self.samples.pop_front();
        }
        if now - self.last_drop_calc >= 60.0 {
            self.last_drop_calc = now;
            let a = &s.abandonment;
            self.drop_pct_today = if a.today_live_answers == 0 {
                0.0
            } else {
                100.0 * a.today_abandoned as f64 / a.today_live_answers as f64
            };
        }
        if now - self.last_level_update >= 15.0 {
            self.last_level_update = now;
            let n = self.samples.len() as f64;
            let (r, w, t) = self.samples.iter().fold((0.0, 0.0, 0.0), |acc, x| (acc.0 + x.0, acc.1 + x.1, acc.2 + x.2));
            if t > 0.0 {
                let error = (r / n - w / n) / (t / n);
                self.level = (self.level * (1.0 + error)).clamp(1.0, ADAPT_MAX_LEVEL);
            }
            if self.dials_today > 50 && self.drop_pct_today > ADAPT_DROP_PCT {
                self.level = 1.0;
            }
        }
        if now - self.last_placement < 2.5 {
            return 0;
        }
        self.last_placement = now;
        let n = ratio_calls(s, self.level);
        self.dials_today += u64::from(n);
        n
    }
}

fn count(s: &PacingSnapshot, activity: AgentActivity) -> usize {
    s.agents.iter().filter(|a| a.activity == activity).count()
}

fn staffed(s: &PacingSnapshot) -> usize {
    s.agents.len() - count(s, AgentActivity::Paused)
}

/// VICIdial default tally: goal = round(level × unpaused agents) − all lines.
fn ratio_calls(s: &PacingSnapshot, level: f64) -> u32 {
    let goal = (level * staffed(s) as f64).round() as i64;
    let lines = s.calls_in_flight.len() as i64 + i64::from(s.bridged_lines);
    let wanted = u32::try_from((goal - lines).max(0)).unwrap_or(u32::MAX);
    wanted.min(line_headroom(s))
}

const SEED_TARGET_UTILIZATION: f64 = 0.85;

/// A strategy with whatever state it keeps between decisions.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    strategy: Strategy,
    adapt: AdaptHardLimit,
}

impl Controller {
    pub fn new(strategy: Strategy) -> Self {
        Controller { strategy, adapt: AdaptHardLimit::new() }
    }

    /// Whether the strategy reads the online estimator (the others skip its upkeep).
    pub fn uses_estimator(&self) -> bool {
        matches!(self.strategy, Strategy::Predictive | Strategy::Seed)
    }

    /// A new day: VICIdial resets its daily counters at midnight.
    pub fn start_day(&mut self) {
        self.adapt.dials_today = 0;
        self.adapt.drop_pct_today = 0.0;
    }

    /// Calls to start now. `snapshot.mode` is ignored: the strategy sets the mode.
    pub fn calls_to_start(&mut self, estimator: &Estimator, snapshot: &mut PacingSnapshot, now: f64) -> u32 {
        match self.strategy {
            Strategy::Predictive => {
                snapshot.mode = DialerMode::Predictive;
                decide(estimator, snapshot, now).calls_to_start
            }
            Strategy::Progressive => {
                snapshot.mode = DialerMode::Progressive;
                decide(estimator, snapshot, now).calls_to_start
            }
            Strategy::Ratio(k) => ratio_calls(snapshot, k),
            Strategy::Vicidial => self.adapt.calls_to_start(snapshot, now),
            Strategy::Seed => {
                let available = count(snapshot, AgentActivity::Available);
                if available == 0 {
                    return 0;
                }
                let dial_level = estimator.talk_time().mean() / available as f64
                    * estimator.outcome_shares()[0]
                    * SEED_TARGET_UTILIZATION;
                let goal = (dial_level * available as f64).round() as i64;
                let wanted = (goal - snapshot.calls_in_flight.len() as i64).max(0);
                u32::try_from(wanted).unwrap_or(u32::MAX).min(line_headroom(snapshot))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names_round_trip() {
        for s in Strategy::all(1.5) {
            assert_eq!(s.to_string().parse::<Strategy>(), Ok(s));
        }
        assert_eq!("ratio:2".parse::<Strategy>(), Ok(Strategy::Ratio(2.0)));
        assert!("ratio:-1".parse::<Strategy>().is_err());
        assert!("turbo".parse::<Strategy>().is_err());
    }
}
