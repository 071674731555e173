//! The simulated carrier in accelerated time: outcome shares, one terminal event per dial, reproducibility from a
//! seed, and the commands a dialer gives it.

use outdial::clock;
use outdial::telephony::simulated::{CallProfile, SimOutcome, SimulatedCarrier, SimulationConfig};
use outdial::telephony::{
    AgentEndpoint, AmdResult, CallId, Carrier, CarrierError, CarrierEvent, CarrierEventKind, DialRequest, HangupCause,
    SafeHarbor,
};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast;

fn carrier(seed: u64, profile: CallProfile) -> SimulatedCarrier {
    SimulatedCarrier::new(SimulationConfig { seed, time_scale: 1000.0, profile, event_buffer: 8192 }, clock::system())
}

fn dial_request(call: i64) -> DialRequest {
    DialRequest::new(CallId(call), "+13125550100", "+13125550199")
}

/// Events until every one of `calls` has ended, then a further quiet spell to catch anything after the end.
async fn run_to_end(
    events: &mut broadcast::Receiver<CarrierEvent>,
    calls: usize,
) -> HashMap<CallId, Vec<CarrierEvent>> {
    let mut by_call: HashMap<CallId, Vec<CarrierEvent>> = HashMap::new();
    let mut ended = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ended < calls {
        let event = tokio::time::timeout_at(deadline, events.recv()).await.expect("calls did not end").unwrap();
        ended += usize::from(event.kind.is_terminal());
        by_call.entry(event.call.unwrap()).or_default().push(event);
    }
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
        by_call.entry(event.call.unwrap()).or_default().push(event);
    }
    by_call
}

#[tokio::test]
async fn two_hundred_dials_match_the_configured_outcome_shares() {
    let profile = CallProfile::default();
    let carrier = carrier(2026, profile.clone());
    let mut events = carrier.events();
    for call in 0..200 {
        carrier.dial(dial_request(call)).await.unwrap();
    }
    let by_call = run_to_end(&mut events, 200).await;
    assert_eq!(by_call.len(), 200);

    let outcomes = carrier.outcomes();
    let share = |outcome| outcomes.iter().filter(|(_, o)| *o == outcome).count() as f64 / 200.0;
    for (outcome, want) in [
        (SimOutcome::Live, profile.live_share),
        (SimOutcome::Machine, profile.machine_share),
        (SimOutcome::Busy, profile.busy_share),
        (SimOutcome::FastFail, profile.fast_fail_share),
        (SimOutcome::NoAnswer, profile.no_answer_share()),
    ] {
        let got = share(outcome);
        eprintln!("{outcome:?}: {got:.3} (configured {want:.3})");
        assert!((got - want).abs() <= 0.07, "{outcome:?}: {got} vs {want}");
    }

    // The events tell the same story as the drawn outcomes.
    let drawn: HashMap<CallId, SimOutcome> = outcomes.into_iter().collect();
    for (call, events) in &by_call {
        let kinds: Vec<&CarrierEventKind> = events.iter().map(|e| &e.kind).collect();
        assert_eq!(kinds.first(), Some(&&CarrierEventKind::Initiated), "{call:?}");
        assert_eq!(kinds.iter().filter(|k| k.is_terminal()).count(), 1, "{call:?}: {kinds:?}");
        assert!(kinds.last().unwrap().is_terminal(), "{call:?}: nothing after the end");
        let answered = kinds.contains(&&CarrierEventKind::Answered);
        let terminal = kinds.last().unwrap();
        match drawn[call] {
            SimOutcome::Live | SimOutcome::Machine => {
                assert!(answered);
                assert!(kinds.iter().any(|k| matches!(k, CarrierEventKind::MachineDetectionEnded { .. })));
            }
            SimOutcome::NoAnswer => {
                assert!(!answered && kinds.contains(&&CarrierEventKind::Ringing));
                assert_eq!(**terminal, CarrierEventKind::HungUp { cause: HangupCause::Timeout, sip_code: None });
            }
            SimOutcome::Busy => {
                assert_eq!(**terminal, CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) })
            }
            SimOutcome::FastFail => assert!(matches!(terminal, CarrierEventKind::Failed { .. })),
        }
        // Events arrive in lifecycle order.
        let stages: Vec<u8> = kinds.iter().map(|k| k.stage()).collect();
        assert!(stages.windows(2).all(|w| w[0] < w[1]), "{call:?}: {kinds:?}");
    }
    assert_eq!(carrier.calls_in_progress(), 0);
}

#[tokio::test]
async fn the_same_seed_gives_the_same_outcomes() {
    let outcomes = |seed| async move {
        let carrier = carrier(seed, CallProfile::default());
        for call in 0..60 {
            carrier.dial(dial_request(call)).await.unwrap();
        }
        carrier.outcomes()
    };
    let first = outcomes(11).await;
    assert_eq!(first, outcomes(11).await);
    assert_ne!(first, outcomes(12).await);
}

#[tokio::test]
async fn a_ring_timeout_below_fifteen_seconds_is_rejected() {
    let carrier = carrier(1, CallProfile::default());
    let mut request = dial_request(1);
    request.timeout_secs = 14;
    assert!(matches!(carrier.dial(request).await, Err(CarrierError::InvalidRequest(_))));
    assert!(carrier.outcomes().is_empty());
}

fn everyone_answers() -> CallProfile {
    CallProfile {
        live_share: 1.0,
        machine_share: 0.0,
        busy_share: 0.0,
        fast_fail_share: 0.0,
        amd_false_machine_rate: 0.0,
        amd_not_sure_rate: 0.0,
        talk_mean_secs: 60.0,
        live_patience_secs: 300.0,
        ..CallProfile::default()
    }
}

async fn next_for(
    events: &mut broadcast::Receiver<CarrierEvent>,
    want: impl Fn(&CarrierEventKind) -> bool,
) -> CarrierEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap();
        if want(&event.kind) {
            return event;
        }
    }
}

#[tokio::test]
async fn a_bridged_live_call_stays_up_for_the_talk_time_then_the_far_end_hangs_up() {
    let carrier = carrier(3, everyone_answers());
    let mut events = carrier.events();
    let call = carrier.dial(dial_request(1)).await.unwrap();
    let early = carrier.bridge(&call, &AgentEndpoint::Sip("sip:agent@pbx".into())).await.unwrap_err();
    assert!(matches!(&early, CarrierError::Rejected(text) if text.contains("90034")), "{early:?}");
    let amd = next_for(&mut events, |k| matches!(k, CarrierEventKind::MachineDetectionEnded { .. })).await;
    assert_eq!(amd.kind, CarrierEventKind::MachineDetectionEnded { result: AmdResult::Human });
    carrier.bridge(&call, &AgentEndpoint::Sip("sip:agent@pbx".into())).await.unwrap();
    let bridged_at = tokio::time::Instant::now();
    next_for(&mut events, |k| *k == CarrierEventKind::Bridged).await;
    assert!(carrier.call_status(&call).await.unwrap().is_alive);
    let end = next_for(&mut events, CarrierEventKind::is_terminal).await;
    assert_eq!(end.kind, CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None });
    assert!(bridged_at.elapsed() > Duration::from_millis(1), "talked for a while");
    assert!(!carrier.call_status(&call).await.unwrap().is_alive);
    // Commands on an ended call: hanging up is harmless, bridging is refused.
    carrier.hangup(&call).await.unwrap();
    let late = carrier.bridge(&call, &AgentEndpoint::Leg("x".into())).await.unwrap_err();
    assert!(matches!(&late, CarrierError::Rejected(text) if text.contains("90018")), "{late:?}");
}

#[tokio::test]
async fn hangup_ends_a_ringing_call_at_once_with_one_terminal_event() {
    let profile = CallProfile {
        live_share: 0.0,
        machine_share: 0.0,
        busy_share: 0.0,
        fast_fail_share: 0.0,
        ..CallProfile::default()
    };
    let carrier = carrier(4, profile);
    let mut events = carrier.events();
    let call = carrier.dial(dial_request(1)).await.unwrap();
    next_for(&mut events, |k| *k == CarrierEventKind::Ringing).await;
    carrier.hangup(&call).await.unwrap();
    let end = next_for(&mut events, CarrierEventKind::is_terminal).await;
    assert_eq!(end.kind, CarrierEventKind::HungUp { cause: HangupCause::OriginatorCancel, sip_code: None });
    // The ring timeout (25 s simulated = 25 ms) passes without a second end.
    assert!(tokio::time::timeout(Duration::from_millis(100), events.recv()).await.is_err());
}

#[tokio::test]
async fn safe_harbor_ends_an_answered_call_at_once() {
    let carrier = carrier(5, everyone_answers());
    let mut events = carrier.events();
    let call = carrier.dial(dial_request(1)).await.unwrap();
    next_for(&mut events, |k| *k == CarrierEventKind::Answered).await;
    let message = SafeHarbor { seller_name: "Acme".into(), callback_number: "+18005550123".into(), opt_out: true };
    carrier.play_safe_harbor(&call, &message).await.unwrap();
    let end = next_for(&mut events, CarrierEventKind::is_terminal).await;
    assert_eq!(end.kind, CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None });
    assert!(tokio::time::timeout(Duration::from_millis(100), events.recv()).await.is_err());
}

#[tokio::test]
async fn an_unbridged_live_call_hangs_up_by_itself() {
    let carrier = carrier(6, everyone_answers());
    let mut events = carrier.events();
    carrier.dial(dial_request(1)).await.unwrap();
    let end = next_for(&mut events, CarrierEventKind::is_terminal).await;
    assert_eq!(end.kind, CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None });
    assert_eq!(carrier.calls_in_progress(), 0);
}

#[tokio::test]
async fn without_a_telnyx_key_the_simulated_carrier_is_chosen() {
    let config = SimulationConfig { time_scale: 1000.0, ..SimulationConfig::default() };
    let carrier: std::sync::Arc<dyn Carrier> =
        outdial::telephony::choose_carrier(None, config, clock::system()).unwrap();
    let mut events = carrier.events();
    let call = carrier.dial(dial_request(9)).await.unwrap();
    assert!(call.call_control_id.starts_with("sim:"));
    let first = next_for(&mut events, |_| true).await;
    assert_eq!((first.call, first.kind), (Some(CallId(9)), CarrierEventKind::Initiated));
}
