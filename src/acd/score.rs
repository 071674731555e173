//! The match score: how well one eligible agent fits one call, on 0–100 points, returned with
//! every offer so a supervisor can see why an agent got a call. It only does arithmetic on
//! fits already established by eligibility; it decides nothing.
//!
//! | part     | points | how                                                                   |
//! |----------|--------|-----------------------------------------------------------------------|
//! | skills   | 60     | 60 × mean over the campaign's required skills of (agent level / 5); 60 when none are required |
//! | language | 10     | 10 when the call's language is the agent's first language or the call has none; 5 when it is a later one |
//! | region   | 10     | 10 when the agent's region is the call's (the contact's, else the campaign's) or neither is known; 0 otherwise |
//! | idle     | 20     | 20 × idle seconds / 300, capped at 20                                 |
//!
//! Internally the score counts hundredths of a point (0..=10 000) so that it orders exactly.

use chrono::TimeDelta;
use serde::{Serialize, Serializer};

/// Top skill level; levels run from 1 to this.
pub(super) const MAX_LEVEL: u8 = 5;
pub(super) const SKILL_WEIGHT: u16 = 6_000;
const LANGUAGE_WEIGHT: u16 = 1_000;
const REGION_WEIGHT: u16 = 1_000;
pub(super) const IDLE_WEIGHT: u16 = 2_000;
/// Idle time at which the idle part is full.
const IDLE_SATURATION_MS: i64 = 300_000;
/// The most the language and region parts can add: what best match uses to prune.
pub(super) const FIT_WEIGHT: u16 = LANGUAGE_WEIGHT + REGION_WEIGHT;

/// A match score in hundredths of a point, 0..=10 000; serialised as points (0–100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchScore(u16);

impl MatchScore {
    pub const MAX: MatchScore = MatchScore(SKILL_WEIGHT + FIT_WEIGHT + IDLE_WEIGHT);

    /// The score on the 0–100 scale the API shows.
    pub fn points(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    pub(super) fn hundredths(self) -> u16 {
        self.0
    }
}

impl Serialize for MatchScore {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.points())
    }
}

/// How the call's language sits among the agent's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LanguageFit {
    /// The agent's first language, or the call needs none.
    First,
    /// One of the agent's other languages.
    Other,
}

/// The parts of a fit, each already established.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fit {
    pub skill_points: u16,
    pub language: LanguageFit,
    pub same_region: bool,
    pub idle: TimeDelta,
}

/// The skills part from the sum of the agent's levels (each 1..=5) in the `required` skills.
pub(super) fn skill_points(level_sum: u32, required: usize) -> u16 {
    if required == 0 {
        return SKILL_WEIGHT;
    }
    let most = required as u32 * u32::from(MAX_LEVEL);
    (level_sum.min(most) * u32::from(SKILL_WEIGHT) / most) as u16
}

/// The idle part; never decreasing in `idle`.
pub(super) fn idle_points(idle: TimeDelta) -> u16 {
    let ms = idle.num_milliseconds().clamp(0, IDLE_SATURATION_MS);
    (ms * i64::from(IDLE_WEIGHT) / IDLE_SATURATION_MS) as u16
}

pub(super) fn match_score(fit: Fit) -> MatchScore {
    let language = match fit.language {
        LanguageFit::First => LANGUAGE_WEIGHT,
        LanguageFit::Other => LANGUAGE_WEIGHT / 2,
    };
    let region = if fit.same_region { REGION_WEIGHT } else { 0 };
    MatchScore(fit.skill_points + language + region + idle_points(fit.idle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skill_points_are_the_mean_level_over_five_scaled_to_sixty() {
        let cases: &[(&[u8], u16)] =
            &[(&[], 6_000), (&[5], 6_000), (&[1], 1_200), (&[3, 4], 4_200), (&[5, 5, 1], 4_400)];
        for (levels, expected) in cases {
            let sum = levels.iter().map(|l| u32::from(*l)).sum();
            assert_eq!(skill_points(sum, levels.len()), *expected, "{levels:?}");
        }
    }

    #[test]
    fn idle_points_grow_to_twenty_at_five_minutes_and_stop() {
        let cases = [(0, 0), (-5, 0), (150, 1_000), (300, 2_000), (3_600, 2_000)];
        for (secs, expected) in cases {
            assert_eq!(idle_points(TimeDelta::seconds(secs)), expected, "{secs}s");
        }
    }

    #[test]
    fn a_perfect_fit_scores_one_hundred_points() {
        let fit = Fit {
            skill_points: skill_points(10, 2),
            language: LanguageFit::First,
            same_region: true,
            idle: TimeDelta::minutes(10),
        };
        assert_eq!(match_score(fit), MatchScore::MAX);
        assert_eq!(match_score(fit).points(), 100.0);
        let weaker = Fit { language: LanguageFit::Other, same_region: false, idle: TimeDelta::seconds(30), ..fit };
        // 60 + 5 + 0 + 2 points.
        assert_eq!(match_score(weaker).points(), 67.0);
        let json = serde_json::to_string(&match_score(weaker)).expect("serialises");
        assert_eq!(json, "67.0");
    }
}
