//! Simulator tests: the hard rules hold for every strategy, identical seeds replay
//! identically, and the `simulate` CLI prints the fields API.md promises.

use clap::Parser;

use super::scenario::{RESEARCH_MODEL, Scenario};
use super::{RunReport, SimulateArgs, Strategy, run_scenario, run_to};

/// A small centre that runs quickly in debug builds.
fn small(agents: u32, answer_rate: f64) -> Scenario {
    Scenario { name: "test".into(), agents, answer_rate, days: 2, shift_hours: 1.0, ..Scenario::default() }
}

/// Every strategy, including the over-dialing seed formula.
fn strategies() -> Vec<Strategy> {
    Strategy::all(2.5)
}

fn run(sc: &Scenario, strategy: Strategy, seed: u64) -> RunReport {
    run_scenario(sc, strategy, seed).expect("valid scenario")
}

#[test]
fn no_call_rings_out_before_the_ring_timeout() {
    let sc = small(5, 0.25);
    for strategy in strategies() {
        let r = run(&sc, strategy, 7);
        assert!(r.dials > 0, "{strategy} dialed");
        assert!(r.min_unanswered_ring_seconds >= sc.ring_timeout - 1e-9, "{strategy}: {r:?}");
        assert!(r.min_unanswered_ring_seconds >= 15.0);
    }
}

#[test]
fn every_live_answer_is_bridged_within_two_seconds_or_abandoned() {
    let sc = Scenario { routing_latency_mean: 0.4, routing_latency_p99: 2.5, ..small(5, 0.4) };
    for strategy in strategies() {
        let r = run(&sc, strategy, 11);
        assert_eq!(r.live_answers, r.bridged_live + r.abandoned, "{strategy}: {r:?}");
        assert_eq!(r.bridged_after_deadline, 0, "{strategy}");
        assert!(r.max_hold_before_bridge_seconds <= sc.bridge_deadline + 1e-9, "{strategy}: {r:?}");
    }
    let flood = run(&sc, Strategy::Seed, 11);
    assert!(flood.abandon_rate > 0.05, "the seed formula over-dials: {flood:?}");
}

#[test]
fn a_person_hung_up_on_as_a_machine_is_abandoned() {
    let sc = Scenario { amd_false_positive: 1.0, operator_amd_fp_estimate: 0.0, ..small(5, 0.25) };
    let r = run(&sc, Strategy::Progressive, 3);
    assert!(r.live_answers > 0);
    assert_eq!(r.bridged_live, 0);
    assert_eq!(r.abandoned, r.live_answers);
}

#[test]
fn a_detector_that_does_not_fit_the_budget_is_switched_off() {
    let sc = Scenario { amd_false_positive: 1.0, operator_amd_fp_estimate: 0.05, ..small(5, 0.25) };
    let r = run(&sc, Strategy::Progressive, 3);
    assert!(r.bridged_live > 0);
    assert!(r.abandon_rate < 0.05, "{r:?}");
}

#[test]
fn without_routing_latency_progressive_abandons_no_one() {
    // The research model (dialer.md §5.4): the 2-s clock starts at the answer, a person's
    // verdict comes at once and bridging takes no time, so one line per idle agent never
    // leaves a person waiting.
    let model = Scenario::from_toml(RESEARCH_MODEL).expect("research model parses");
    let sc = Scenario { name: "test".into(), agents: 5, answer_rate: 0.25, days: 2, shift_hours: 1.0, ..model };
    let r = run(&sc, Strategy::Progressive, 4);
    assert!(r.bridged_live > 0);
    assert_eq!(r.abandoned, 0, "{r:?}");
    assert_eq!(r.max_hold_before_bridge_seconds, 0.0);
}

#[test]
fn identical_seeds_give_identical_results() {
    let sc = small(20, 0.25);
    for strategy in [Strategy::Predictive, Strategy::Vicidial] {
        assert_eq!(run(&sc, strategy, 42), run(&sc, strategy, 42), "{strategy}");
        assert_ne!(run(&sc, strategy, 42).dials, run(&sc, strategy, 43).dials, "{strategy}");
    }
}

#[test]
fn predictive_talks_more_than_progressive() {
    let sc = Scenario { days: 3, shift_hours: 2.0, ..small(20, 0.25) };
    let ours = run(&sc, Strategy::Predictive, 5);
    let progressive = run(&sc, Strategy::Progressive, 5);
    assert!(ours.talk_minutes_per_agent_hour > progressive.talk_minutes_per_agent_hour + 5.0);
    assert!(ours.abandon_rate <= 0.04, "{ours:?}");
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SimulateArgs,
}

#[test]
fn json_prints_one_object_per_strategy_with_the_api_fields() {
    let cli = Cli::parse_from([
        "simulate",
        "--agents",
        "5",
        "--answer-rate",
        "0.4",
        "--talk-mean",
        "60",
        "--wrap-mean",
        "10",
        "--days",
        "1",
        "--seed",
        "9",
        "--compare",
        "--json",
    ]);
    let mut out = Vec::new();
    run_to(&cli.args, &mut out).expect("runs");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), strategies().len());
    let fields = [
        "strategy",
        "agents",
        "answerRate",
        "days",
        "talkMinutesPerAgentHour",
        "occupancy",
        "abandonRate",
        "maxDailyAbandonRate",
        "p90DailyAbandonRate",
        "meanIdleWaitSeconds",
        "dialsPerAgentHour",
        "maxConcurrentLines",
        "holdBeforeBridgeP99Seconds",
    ];
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        for f in fields {
            assert!(v.get(f).is_some(), "{f} missing in {line}");
        }
        assert_eq!(v["agents"], 5);
        assert_eq!(v["days"], 1);
    }
}

#[test]
fn unknown_strategy_is_a_usage_error() {
    assert!(Cli::try_parse_from(["simulate", "--strategy", "turbo"]).is_err());
}
