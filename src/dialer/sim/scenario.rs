//! Scenarios: a simulated call centre described as data (TOML), with defaults from the
//! research model (§5.1), validation of the hard rules (minimum ring, 2-s bridge), and
//! the built-in benchmark grid and stress cases embedded from `scenarios/*.toml`.

use serde::{Deserialize, Serialize};

/// A change that takes effect at `hour` into the shift: every day when `day` is absent,
/// or from day `day` (0-based) onwards when present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub day: Option<u32>,
    pub hour: f64,
    /// New share of dials answered by a person.
    #[serde(default)]
    pub answer_rate: Option<f64>,
    /// New mean talk time (seconds).
    #[serde(default)]
    pub talk_mean: Option<f64>,
    /// New number of logged-in agents (a break wave logs agents out after their call).
    #[serde(default)]
    pub agents: Option<u32>,
}

/// One simulated campaign. Durations are seconds; rates are shares in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    pub name: String,
    pub agents: u32,
    pub days: u32,
    pub shift_hours: f64,
    /// Share of dials answered by a person.
    pub answer_rate: f64,
    /// Share of dials answered by a machine.
    pub machine_rate: f64,
    /// Of the remaining dials, the share that rings out (the rest fail fast).
    pub no_answer_share: f64,
    pub talk_mean: f64,
    pub talk_cv: f64,
    pub wrap_mean: f64,
    pub wrap_cv: f64,
    /// Post-dial delay, uniform in `[min, max]`.
    pub post_dial_delay: [f64; 2],
    /// Ringing time before a person answers: lognormal mean and sd.
    pub human_answer_mean: f64,
    pub human_answer_sd: f64,
    pub machine_answer_mean: f64,
    pub machine_answer_sd: f64,
    /// Greeting length (the 2-s clock starts at its end): lognormal mean, cv 0.3; 0 starts
    /// the clock at the answer.
    pub greeting_mean: f64,
    /// Detector verdict for a person, after the completed greeting.
    pub human_verdict_delay: f64,
    /// Detector verdict for a machine after answer, uniform.
    pub machine_verdict_delay: [f64; 2],
    /// Share of people the detector calls machines (hung up on: abandoned).
    pub amd_false_positive: f64,
    /// Share of machines the detector passes to agents.
    pub amd_false_negative: f64,
    /// Agent time spent on a machine passed as a person, uniform.
    pub machine_agent_time: [f64; 2],
    /// The dialer's ring timeout; never below `min_ring`.
    pub ring_timeout: f64,
    pub min_ring: f64,
    /// Fast failures (busy, SIT, invalid), uniform after dialing.
    pub fail_delay: [f64; 2],
    /// Routing + bridge latency: lognormal with this mean and 99th percentile; a mean of 0
    /// bridges at once.
    pub routing_latency_mean: f64,
    pub routing_latency_p99: f64,
    /// Seconds after the completed greeting within which a person must reach an agent.
    pub bridge_deadline: f64,
    /// Chance an agent pauses after a call, and the mean pause (exponential).
    pub pause_probability: f64,
    pub pause_mean: f64,
    /// Forget all history at the start of each day (cold-start runs).
    pub cold_start: bool,
    /// The detector false-positive rate the operator configures the pacer with.
    pub operator_amd_fp_estimate: f64,
    pub max_lines_per_agent: f64,
    pub max_channels: Option<u32>,
    pub max_dials_per_window: Option<u32>,
    /// Seconds between pacing decisions.
    pub decision_interval: f64,
    pub max_abandon_rate: f64,
    pub daily_abandon_cap: f64,
    pub steps: Vec<Step>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "custom".into(),
            agents: 20,
            days: 30,
            shift_hours: 8.0,
            answer_rate: 0.25,
            machine_rate: 0.15,
            no_answer_share: 0.75,
            talk_mean: 120.0,
            talk_cv: 1.0,
            wrap_mean: 15.0,
            wrap_cv: 0.5,
            post_dial_delay: [1.0, 3.0],
            human_answer_mean: 9.0,
            human_answer_sd: 5.0,
            machine_answer_mean: 10.0,
            machine_answer_sd: 5.0,
            greeting_mean: 1.0,
            human_verdict_delay: 0.5,
            machine_verdict_delay: [2.0, 4.0],
            amd_false_positive: 0.0,
            amd_false_negative: 0.0,
            machine_agent_time: [10.0, 20.0],
            ring_timeout: 25.0,
            min_ring: 15.0,
            fail_delay: [2.0, 6.0],
            routing_latency_mean: 0.2,
            routing_latency_p99: 1.0,
            bridge_deadline: 2.0,
            pause_probability: 0.0,
            pause_mean: 300.0,
            cold_start: false,
            operator_amd_fp_estimate: 0.0,
            max_lines_per_agent: 15.0,
            max_channels: None,
            max_dials_per_window: Some(150),
            decision_interval: 1.0,
            max_abandon_rate: 0.03,
            daily_abandon_cap: 0.04,
            steps: Vec::new(),
        }
    }
}

/// Why a scenario cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error("scenario is not valid TOML: {0}")]
    Parse(String),
    #[error("ring timeout {ring_timeout} s is below the minimum ring of {min_ring} s")]
    RingTooShort { ring_timeout: f64, min_ring: f64 },
    #[error("minimum ring {0} s is below the 15 s the rules require")]
    MinRingBelowRule(f64),
    #[error("bridge deadline {0} s is above the 2 s the rules allow")]
    BridgeDeadlineAboveRule(f64),
    #[error("{field} = {value} is out of range")]
    OutOfRange { field: &'static str, value: f64 },
}

impl Scenario {
    /// Parse and validate a TOML scenario.
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Check the hard rules and the ranges the simulator needs.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        if self.min_ring < 15.0 {
            return Err(ScenarioError::MinRingBelowRule(self.min_ring));
        }
        if self.ring_timeout < self.min_ring {
            return Err(ScenarioError::RingTooShort { ring_timeout: self.ring_timeout, min_ring: self.min_ring });
        }
        if self.bridge_deadline > 2.0 {
            return Err(ScenarioError::BridgeDeadlineAboveRule(self.bridge_deadline));
        }
        let mut shares: Vec<(&'static str, f64)> = vec![
            ("answer_rate", self.answer_rate),
            ("machine_rate", self.machine_rate),
            ("answer_rate + machine_rate", self.answer_rate + self.machine_rate),
            ("no_answer_share", self.no_answer_share),
            ("amd_false_positive", self.amd_false_positive),
            ("amd_false_negative", self.amd_false_negative),
            ("pause_probability", self.pause_probability),
        ];
        shares.extend(
            self.steps
                .iter()
                .filter_map(|s| s.answer_rate.map(|p| ("steps.answer_rate + machine_rate", p + self.machine_rate))),
        );
        for (field, value) in shares {
            if !(0.0..=1.0).contains(&value) {
                return Err(ScenarioError::OutOfRange { field, value });
            }
        }
        let positive = [
            ("agents", f64::from(self.agents)),
            ("days", f64::from(self.days)),
            ("shift_hours", self.shift_hours),
            ("talk_mean", self.talk_mean),
            ("wrap_mean", self.wrap_mean),
            ("human_answer_mean", self.human_answer_mean),
            ("machine_answer_mean", self.machine_answer_mean),
            ("decision_interval", self.decision_interval),
            ("max_lines_per_agent", self.max_lines_per_agent),
        ];
        for (field, value) in positive {
            if !(value > 0.0 && value.is_finite()) {
                return Err(ScenarioError::OutOfRange { field, value });
            }
        }
        for (field, value) in
            [("greeting_mean", self.greeting_mean), ("routing_latency_mean", self.routing_latency_mean)]
        {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(ScenarioError::OutOfRange { field, value });
            }
        }
        let ratio = self.routing_latency_p99 / self.routing_latency_mean;
        if self.routing_latency_mean > 0.0 && !(ratio > 1.0 && ratio < 14.0) {
            return Err(ScenarioError::OutOfRange {
                field: "routing_latency_p99 / routing_latency_mean",
                value: ratio,
            });
        }
        Ok(())
    }
}

/// 5/20/100 agents × 10/25/40 % live answer on the model `base`, named
/// `{base.name}-{agents}a-{pct}pct`.
fn grid_over(base: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    for agents in [5, 20, 100] {
        for answer_rate in [0.10, 0.25, 0.40] {
            out.push(Scenario {
                name: format!("{}-{agents}a-{:.0}pct", base.name, answer_rate * 100.0),
                agents,
                answer_rate,
                ..base.clone()
            });
        }
    }
    out
}

/// The benchmark's core grid: 5/20/100 agents × 10/25/40 % live answer, 120 s talk,
/// 15 s wrap, 15 % machines, 30 days.
pub fn grid() -> Vec<Scenario> {
    grid_over(&Scenario { name: "grid".into(), ..Scenario::default() })
}

/// The research's own reference model (dialer.md §5.4), as close as this simulator gets.
pub const RESEARCH_MODEL: &str = include_str!("scenarios/research.toml");

/// The core grid on the research's reference model, for a like-for-like comparison with
/// its tuned frontier.
pub fn research_grid() -> Result<Vec<Scenario>, ScenarioError> {
    Ok(grid_over(&Scenario::from_toml(RESEARCH_MODEL)?))
}

/// The stress cases, as embedded TOML files.
pub const STRESS: [(&str, &str); 7] = [
    ("lunch-dip", include_str!("scenarios/lunch-dip.toml")),
    ("break-wave", include_str!("scenarios/break-wave.toml")),
    ("talk-doubles", include_str!("scenarios/talk-doubles.toml")),
    ("amd-errors", include_str!("scenarios/amd-errors.toml")),
    ("amd-mild-errors", include_str!("scenarios/amd-mild-errors.toml")),
    ("cold-start", include_str!("scenarios/cold-start.toml")),
    ("slow-routing", include_str!("scenarios/slow-routing.toml")),
];

/// The stress scenarios, parsed.
pub fn stress() -> Result<Vec<Scenario>, ScenarioError> {
    STRESS.iter().map(|(_, text)| Scenario::from_toml(text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stress_files_parse() {
        let all = stress().expect("embedded scenarios parse");
        assert_eq!(all.len(), STRESS.len());
        for (s, (name, _)) in all.iter().zip(STRESS) {
            assert_eq!(s.name, name);
        }
    }

    #[test]
    fn grid_has_nine_valid_cells() {
        let g = grid();
        assert_eq!(g.len(), 9);
        for s in &g {
            s.validate().expect("grid cell valid");
        }
    }

    #[test]
    fn research_grid_has_nine_cells_of_the_research_model() {
        let g = research_grid().expect("research model parses");
        assert_eq!(g.len(), 9);
        assert_eq!(g[3].name, "research-20a-10pct");
        assert!(g.iter().all(|s| s.routing_latency_mean == 0.0 && s.greeting_mean == 0.0));
    }

    #[test]
    fn rule_breaking_scenarios_are_rejected() {
        let cases = [
            ("ring_timeout = 12.0", "RingTooShort"),
            ("min_ring = 10.0\nring_timeout = 12.0", "MinRingBelowRule"),
            ("bridge_deadline = 3.0", "BridgeDeadlineAboveRule"),
            ("answer_rate = 0.9", "OutOfRange"),
            ("greeting_mean = -1.0", "OutOfRange"),
            ("routing_latency_mean = 0.5\nrouting_latency_p99 = 0.4", "OutOfRange"),
            ("agents = 0", "OutOfRange"),
            ("no_such_field = 1", "Parse"),
        ];
        for (text, want) in cases {
            let err = Scenario::from_toml(text).expect_err(text);
            assert!(format!("{err:?}").starts_with(want), "{text}: {err:?}");
        }
    }
}
