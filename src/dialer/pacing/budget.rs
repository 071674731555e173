//! The abandonment budget: turns abandonment so far (the regulatory window, today, and
//! the recent past) into the marginal risk the predictive decision may take now.
//!
//! The window rate is steered to an aim below the legal maximum; the aim's safety margin
//! grows as the team gets smaller (daily variance is larger), and undetectable detector
//! false positives are taken off the top. Today's rate and the recent rate only ever
//! tighten the threshold, so a bad morning or a step change (lunch, a break wave, a new
//! script) cannot spend the window's budget. Pure: no clock, no state.

use serde::{Deserialize, Serialize};

use super::estimate::{PacerTuning, RecentAbandonment};
use super::{AbandonmentSoFar, AbandonmentTarget};

/// The threshold and the rates it came from (diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskBudget {
    /// Largest marginal abandonment risk a new call may carry.
    pub threshold: f64,
    /// The rate the window is steered to.
    pub window_aim: f64,
    /// The window's rate, shrunk toward the aim while few answers are in.
    pub window_rate: f64,
    /// Today's rate, shrunk the same way.
    pub today_rate: f64,
}

/// Rate with `pseudo` answers at `aim` blended in.
fn shrunk(abandoned: f64, live: f64, aim: f64, pseudo: f64) -> f64 {
    (abandoned + aim * pseudo) / (live + pseudo)
}

/// The marginal risk allowed now for a team of `agents` logged-in, unpaused agents.
pub fn risk_budget(
    tuning: &PacerTuning,
    target: &AbandonmentTarget,
    so_far: &AbandonmentSoFar,
    recent: RecentAbandonment,
    agents: usize,
) -> RiskBudget {
    let margin = tuning.margin_floor + tuning.margin_small_team / (agents.max(1) as f64).sqrt();
    let fp = target.amd_false_positive_rate.clamp(0.0, 1.0);
    // Observed live answers miss the humans the detector hung up on: scale them back.
    let unseen = fp / (1.0 - fp).max(1e-9);
    let aim = target.max_rate - margin - fp;
    if aim <= 0.0 {
        return RiskBudget { threshold: 0.0, window_aim: aim, window_rate: 0.0, today_rate: 0.0 };
    }
    let pseudo = tuning.pseudo_answers;
    // A young window is presumed to sit at the legal limit: a cold start earns its
    // budget with real answers instead of spending a prior it never observed.
    let window_rate = shrunk(
        so_far.window_abandoned as f64,
        so_far.window_live_answers as f64 * (1.0 + unseen),
        target.max_rate - fp,
        pseudo,
    );
    let daily_aim = (target.daily_cap - tuning.daily_margin - fp).max(aim);
    let today_rate =
        shrunk(so_far.today_abandoned as f64, so_far.today_live_answers as f64 * (1.0 + unseen), aim, pseudo);
    let recent_rate = shrunk(recent.abandoned, recent.live * (1.0 + unseen), aim, pseudo);
    let log_threshold = tuning.base_risk.ln()
        + tuning.window_gain * (aim - window_rate) / aim
        + tuning.daily_gain * ((daily_aim - today_rate) / daily_aim).min(0.0)
        + tuning.recent_gain * ((daily_aim - recent_rate) / daily_aim).min(0.0);
    RiskBudget {
        threshold: log_threshold.exp().clamp(tuning.min_risk, tuning.max_risk),
        window_aim: aim,
        window_rate,
        today_rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn so_far(window: (u64, u64), today: (u64, u64)) -> AbandonmentSoFar {
        AbandonmentSoFar {
            window_live_answers: window.0,
            window_abandoned: window.1,
            today_live_answers: today.0,
            today_abandoned: today.1,
        }
    }

    fn threshold(window: (u64, u64), today: (u64, u64), agents: usize) -> f64 {
        risk_budget(
            &PacerTuning::default(),
            &AbandonmentTarget::default(),
            &so_far(window, today),
            RecentAbandonment::default(),
            agents,
        )
        .threshold
    }

    #[test]
    fn threshold_table() {
        let base = PacerTuning::default().base_risk;
        // (window, today, agents, expectation)
        type Case = ((u64, u64), (u64, u64), usize, &'static str);
        let cases: [Case; 5] = [
            ((0, 0), (0, 0), 20, "cold start sits below the base"),
            ((10_000, 200), (500, 10), 20, "under budget loosens"),
            ((10_000, 400), (500, 20), 20, "over budget tightens"),
            ((10_000, 280), (500, 30), 20, "a bad day tightens"),
            ((10_000, 280), (500, 14), 5, "small team aims lower"),
        ];
        let got: Vec<f64> = cases.iter().map(|c| threshold(c.0, c.1, c.2)).collect();
        assert!(got[0] < base / 2.0, "{}", cases[0].3);
        assert!(got[1] > base, "{}", cases[1].3);
        assert!(got[2] < base / 2.0, "{}", cases[2].3);
        assert!(got[3] < threshold((10_000, 280), (500, 14), 20), "{}", cases[3].3);
        assert!(got[4] < threshold((10_000, 280), (500, 14), 100), "{}", cases[4].3);
    }

    #[test]
    fn false_positives_above_the_limit_leave_no_budget() {
        let target = AbandonmentTarget { amd_false_positive_rate: 0.05, ..AbandonmentTarget::default() };
        let b = risk_budget(
            &PacerTuning::default(),
            &target,
            &AbandonmentSoFar::default(),
            RecentAbandonment::default(),
            20,
        );
        assert_eq!(b.threshold, 0.0);
    }

    #[test]
    fn recent_burst_tightens() {
        let calm = risk_budget(
            &PacerTuning::default(),
            &AbandonmentTarget::default(),
            &so_far((10_000, 280), (500, 14)),
            RecentAbandonment { abandoned: 3.0, live: 100.0 },
            20,
        );
        let burst = risk_budget(
            &PacerTuning::default(),
            &AbandonmentTarget::default(),
            &so_far((10_000, 280), (500, 14)),
            RecentAbandonment { abandoned: 15.0, live: 100.0 },
            20,
        );
        assert!(burst.threshold < calm.threshold);
    }
}
