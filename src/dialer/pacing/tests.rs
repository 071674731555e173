//! Table-driven tests of `decide` and property tests of its invariants.

use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn agent(activity: AgentActivity, secs: u64) -> AgentObs {
    AgentObs { activity, in_state: Duration::from_secs(secs) }
}

fn call(stage: CallStage, age: u64) -> CallObs {
    CallObs { stage, age: Duration::from_secs(age), in_stage: Duration::from_secs(age.min(1)) }
}

fn snapshot(mode: DialerMode, agents: Vec<AgentObs>, calls: Vec<CallObs>) -> PacingSnapshot {
    PacingSnapshot {
        mode,
        agents,
        calls_in_flight: calls,
        bridged_lines: 0,
        dials_in_window: 0,
        // An established campaign running near the small-team aim (2.5 %).
        abandonment: AbandonmentSoFar {
            window_live_answers: 10_000,
            window_abandoned: 250,
            today_live_answers: 500,
            today_abandoned: 12,
        },
        target: AbandonmentTarget::default(),
        constraints: Constraints::default(),
    }
}

fn estimator() -> Estimator {
    Estimator::new(PacerConfig::default(), 0.0)
}

#[test]
fn decision_table() {
    use AgentActivity::*;
    use DialerMode::*;
    let idle3 = vec![agent(Available, 5), agent(Available, 1), agent(Available, 0)];
    let ringing2 = vec![call(CallStage::Ringing, 4), call(CallStage::Ringing, 8)];
    // (mode, agents, calls, expected calls, expected reason)
    type Case = (DialerMode, Vec<AgentObs>, Vec<CallObs>, Option<u32>, DecisionReason);
    let cases: Vec<Case> = vec![
        (Preview, idle3.clone(), vec![], Some(0), DecisionReason::Preview),
        (Progressive, idle3.clone(), vec![], Some(3), DecisionReason::Progressive),
        (Progressive, idle3.clone(), ringing2.clone(), Some(1), DecisionReason::Progressive),
        (Progressive, vec![agent(OnCall, 30)], vec![], Some(0), DecisionReason::Progressive),
        (Predictive, vec![agent(Paused, 30)], vec![], Some(0), DecisionReason::NoAgents),
        (Predictive, vec![], vec![], Some(0), DecisionReason::NoAgents),
        // Three idle agents and an answer share of ~20%: predictive dials well ahead.
        (Predictive, idle3.clone(), vec![], None, DecisionReason::Predictive),
    ];
    for (i, (mode, agents, calls, want, reason)) in cases.into_iter().enumerate() {
        let d = decide(&estimator(), &snapshot(mode, agents, calls), 10.0);
        if let Some(want) = want {
            assert_eq!(d.calls_to_start, want, "case {i}");
        } else {
            assert!(d.calls_to_start > 3, "case {i}: {d:?}");
        }
        assert_eq!(d.reason, reason, "case {i}");
        assert_eq!(d.decided_at, 10.0);
    }
}

#[test]
fn agents_deep_in_talk_get_no_overdial() {
    // Five agents who just started talking: nobody frees within the answer horizon.
    let agents = vec![agent(AgentActivity::OnCall, 3); 5];
    let d = decide(&estimator(), &snapshot(DialerMode::Predictive, agents, vec![]), 0.0);
    assert_eq!(d.calls_to_start, 0, "{d:?}");
}

#[test]
fn agents_in_wrap_attract_calls() {
    // Five agents halfway through a ~20-s wrap free up within a new call's answer time;
    // progressive would dial nothing.
    let agents = vec![agent(AgentActivity::WrapUp, 10); 5];
    let d = decide(&estimator(), &snapshot(DialerMode::Predictive, agents, vec![]), 0.0);
    assert!(d.calls_to_start >= 2, "{d:?}");
}

#[test]
fn waiting_live_calls_suppress_dialing() {
    let agents = vec![agent(AgentActivity::Available, 1); 2];
    let calls = vec![call(CallStage::AwaitingAgent, 12); 2];
    let d = decide(&estimator(), &snapshot(DialerMode::Predictive, agents, calls), 0.0);
    assert_eq!(d.calls_to_start, 0, "{d:?}");
}

#[test]
fn an_exhausted_budget_falls_back_to_progressive() {
    let mut s = snapshot(
        DialerMode::Predictive,
        vec![agent(AgentActivity::Available, 1); 4],
        vec![call(CallStage::Ringing, 3)],
    );
    // Undetectable detector errors alone use up the whole budget.
    s.target.amd_false_positive_rate = 0.05;
    let d = decide(&estimator(), &s, 0.0);
    assert_eq!(d.calls_to_start, 3, "{d:?}");
    assert_eq!(d.reason, DecisionReason::Progressive);
}

#[test]
fn dials_per_window_cap_binds() {
    let mut s = snapshot(DialerMode::Predictive, vec![agent(AgentActivity::Available, 1); 10], vec![]);
    s.dials_in_window = 148;
    let d = decide(&estimator(), &s, 0.0);
    assert_eq!(d.calls_to_start, 2);
    assert_eq!(d.reason, DecisionReason::Capped);
}

fn arb_agent() -> impl Strategy<Value = AgentObs> {
    (0u8..5, 0u64..2000).prop_map(|(a, s)| {
        let activity = match a {
            0 => AgentActivity::Available,
            1 => AgentActivity::Reserved,
            2 => AgentActivity::OnCall,
            3 => AgentActivity::WrapUp,
            _ => AgentActivity::Paused,
        };
        agent(activity, s)
    })
}

fn arb_call() -> impl Strategy<Value = CallObs> {
    (0u8..4, 0u64..60).prop_map(|(s, age)| {
        let stage = match s {
            0 => CallStage::Dialing,
            1 => CallStage::Ringing,
            2 => CallStage::Screening,
            _ => CallStage::AwaitingAgent,
        };
        call(stage, age)
    })
}

proptest! {
    #[test]
    fn decide_never_exceeds_caps(
        agents in proptest::collection::vec(arb_agent(), 0..40),
        calls in proptest::collection::vec(arb_call(), 0..80),
        bridged in 0u32..40,
        dials in 0u32..200,
        per_agent in 1.0f64..6.0,
        channels in proptest::option::of(0u32..120),
        window in proptest::option::of(0u32..160),
        mode in 0u8..3,
    ) {
        let mode = [DialerMode::Preview, DialerMode::Progressive, DialerMode::Predictive][mode as usize];
        let mut s = snapshot(mode, agents, calls);
        s.bridged_lines = bridged;
        s.dials_in_window = dials;
        s.constraints = Constraints { max_lines_per_agent: per_agent, max_channels: channels, max_dials_per_window: window };
        let d = decide(&estimator(), &s, 0.0);
        let staffed = s.agents.iter().filter(|a| a.activity != AgentActivity::Paused).count();
        let lines = (s.calls_in_flight.len() as u64) + u64::from(bridged) + u64::from(d.calls_to_start);
        if d.calls_to_start > 0 {
            prop_assert!(lines as f64 <= per_agent * staffed as f64 + 1e-9);
            if let Some(c) = channels { prop_assert!(lines <= u64::from(c)); }
            if let Some(w) = window { prop_assert!(dials + d.calls_to_start <= w); }
        }
        if mode == DialerMode::Preview { prop_assert_eq!(d.calls_to_start, 0); }
        if mode == DialerMode::Progressive {
            let idle = s.agents.iter().filter(|a| a.activity == AgentActivity::Available).count();
            prop_assert!(d.calls_to_start as usize <= idle.saturating_sub(s.calls_in_flight.len()));
        }
    }

    #[test]
    fn more_idle_agents_never_mean_fewer_calls(idle in 0usize..20, extra in 1usize..10) {
        let few = snapshot(DialerMode::Predictive, vec![agent(AgentActivity::Available, 1); idle], vec![]);
        let many = snapshot(DialerMode::Predictive, vec![agent(AgentActivity::Available, 1); idle + extra], vec![]);
        let e = estimator();
        prop_assert!(decide(&e, &many, 0.0).calls_to_start >= decide(&e, &few, 0.0).calls_to_start);
    }
}
