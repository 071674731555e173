//! Preview dialing in the live loop, end to end over HTTP and WebSocket on the simulated carrier:
//! a PREVIEW campaign reserves an agent and shows it a contact before any dial, the agent's
//! `dialPreview` places the call through the one dial path and the answer is bridged to that
//! agent, `skipPreview` moves on without an attempt, the gate's refusal at the dial instant reaches
//! the agent, another agent cannot dial someone else's preview, and a pause withdraws previews.

mod common;

use chrono::TimeDelta;
use common::floor::{calls, set_up, start, weekday_morning_in_new_york};
use common::{Answer, Backend, TestApp, WsClient, WsEvent, spawn_app_with_carrier, token_with};
use outdial::dialer::scheduler::DialerSettings;
use outdial::telephony::Carrier;
use outdial::telephony::simulated::{CallProfile, SimulatedCarrier, SimulationConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Simulated seconds per real second.
const TIME_SCALE: f64 = 20.0;

/// Every dial is answered by a person, who talks for about a minute once connected.
async fn spawn(backend: Backend) -> TestApp {
    // Without answering-machine detection a person's answer is ready for the agent at once.
    spawn_with(backend, DialerSettings { machine_detection: false, ..Default::default() }).await
}

async fn spawn_with(backend: Backend, dialer: DialerSettings) -> TestApp {
    let carrier = |_: &outdial::config::Config, clock| -> Arc<dyn Carrier> {
        let profile = CallProfile {
            live_share: 1.0,
            machine_share: 0.0,
            busy_share: 0.0,
            fast_fail_share: 0.0,
            talk_mean_secs: 60.0,
            talk_cv: 0.1,
            // Patient: a slow machine's bridge must not lose the person (5 s of real time).
            live_patience_secs: 100.0,
            ..CallProfile::default()
        };
        let config = SimulationConfig { time_scale: TIME_SCALE, profile, ..SimulationConfig::default() };
        Arc::new(SimulatedCarrier::new(config, clock))
    };
    spawn_app_with_carrier(backend, |_| {}, weekday_morning_in_new_york(), carrier, dialer).await
}

fn agent_token(agent: &str) -> String {
    token_with("acme", &["agent"], Some(agent.parse().expect("agent id")), 600)
}

/// An agent's own `agentEvents`, subscribed and seen to be live: the agent pauses until its
/// subscription shows it (a subscribe is not acknowledged), then is AVAILABLE again.
async fn follow(app: &TestApp, agent: &str) -> WsClient {
    let token = agent_token(agent);
    let mut ws = app.websocket(json!({"authorization": format!("Bearer {token}")})).await;
    assert!(matches!(ws.next().await, WsEvent::Json(ref m) if m["type"] == "connection_ack"));
    let events = "subscription($a: ID!) { agentEvents(agentId: $a) { state callId campaignId \
                  offer { callId } preview { contactId campaignId routingMethod matchScore expiresAt screenPop } } }";
    ws.subscribe("a", events, json!({"a": agent})).await;
    let pause = "mutation($a: ID!) { setAgentState(agentId: $a, state: PAUSED, reason: \"SYNC\") { state } }";
    loop {
        app.graphql(Some(&token), pause, json!({"a": agent})).await.data();
        if let Ok(WsEvent::Json(m)) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await
            && m["payload"]["data"]["agentEvents"]["state"] == "PAUSED"
        {
            break;
        }
    }
    let ready = "mutation($a: ID!) { setAgentState(agentId: $a, state: AVAILABLE) { state } }";
    app.graphql(Some(&token), ready, json!({"a": agent})).await.data();
    until_state(&mut ws, "AVAILABLE").await;
    ws
}

/// What an agent's desktop that (re)connects is shown first: its state now, with its offer or preview.
async fn reconnect(app: &TestApp, agent: &str) -> Value {
    let token = agent_token(agent);
    let mut ws = app.websocket(json!({"authorization": format!("Bearer {token}")})).await;
    assert!(matches!(ws.next().await, WsEvent::Json(ref m) if m["type"] == "connection_ack"));
    let events = "subscription($a: ID!) { agentEvents(agentId: $a) { state callId missed \
                  preview { contactId screenPop } } }";
    ws.subscribe("a", events, json!({"a": agent})).await;
    next_event(&mut ws).await
}

/// The agent's next event.
async fn next_event(ws: &mut WsClient) -> Value {
    match ws.next().await {
        WsEvent::Json(m) if m["type"] == "next" => m["payload"]["data"]["agentEvents"].clone(),
        other => panic!("expected an agent event, got {other:?}"),
    }
}

/// Reads events until one in `state` (every event has a state: these are not lag notices).
async fn until_state(ws: &mut WsClient, state: &str) -> Value {
    loop {
        let event = next_event(ws).await;
        if event["state"] == state {
            return event;
        }
    }
}

/// Reads events until a preview; checks what comes with it.
async fn next_preview(ws: &mut WsClient, campaign: &str, phones: &[String]) -> Value {
    let event = until_state(ws, "RESERVED").await;
    assert!(event["callId"].is_null(), "a preview is offered before any call: {event}");
    assert!(event["offer"].is_null(), "a preview is no answered-call offer: {event}");
    assert_eq!(event["campaignId"], campaign);
    let preview = event["preview"].clone();
    assert_eq!(preview["campaignId"], campaign);
    assert_eq!(preview["routingMethod"], "LONGEST_IDLE");
    let pop = &preview["screenPop"];
    assert!(pop["call"].is_null(), "{pop}");
    assert_eq!(pop["contact"]["id"].to_string(), preview["contactId"].as_str().expect("contact id"));
    assert!(phones.iter().any(|p| pop["contact"]["phoneNumber"] == p.as_str()), "{pop}");
    assert_eq!(pop["script"], "Hello {{first_name}}", "the script comes with the preview");
    assert!(pop["previousAttempts"].as_array().is_some_and(Vec::is_empty), "{pop}");
    assert!(preview["expiresAt"].is_string());
    preview
}

async fn dial_preview(app: &TestApp, token: &str, contact: &Value) -> Answer {
    let dial = "mutation($c: ID!) { dialPreview(contactId: $c) { id contactId agentId attempt state } }";
    app.graphql(Some(token), dial, json!({"c": contact})).await
}

async fn attempts(app: &TestApp, admin: &str, contact: &Value) -> i64 {
    let query = "query($c: ID!) { contact(id: $c) { attempts } }";
    app.graphql(Some(admin), query, json!({"c": contact})).await.data()["contact"]["attempts"]
        .as_i64()
        .expect("attempts")
}

crate::backend_tests! {
    /// Two agents each see a contact before anything is dialed; one dials its preview and gets
    /// the answered call, the other skips, is refused by the gate at the dial instant, and has its
    /// preview withdrawn when the campaign pauses.
    async fn a_preview_campaign_offers_contacts_to_agents_who_dial_or_skip_them(backend) {
        let app = spawn(backend).await;
        let phones: Vec<String> = (0..3).map(|i| format!("+1212555{:04}", 3000 + i)).collect();
        let floor = set_up(&app, "acme", &phones, 2, 3).await;
        let (admin, campaign) = (floor.admin.clone(), floor.campaign.clone());
        let update = "mutation($c: ID!) { updateCampaign(id: $c, input: {dialerMode: PREVIEW}) { dialerMode } }";
        let mode = app.graphql(Some(&admin), update, json!({"c": campaign})).await.data()["updateCampaign"]["dialerMode"].clone();
        assert_eq!(mode, "PREVIEW");
        let (first, second) = (floor.agents[0].clone(), floor.agents[1].clone());
        let mut first_ws = follow(&app, &first).await;
        let mut second_ws = follow(&app, &second).await;
        start(&app, &admin, &campaign).await;

        // Both agents are reserved for different contacts, and nothing is dialed.
        let mine = next_preview(&mut first_ws, &campaign, &phones).await;
        let theirs = next_preview(&mut second_ws, &campaign, &phones).await;
        assert_ne!(mine["contactId"], theirs["contactId"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(calls(&app, &admin, &campaign).await.is_empty(), "a preview campaign dials nobody by itself");
        // The agent's page reloads: its new subscription starts with the preview it is looking at.
        let shown = reconnect(&app, &first).await;
        assert_eq!((shown["state"].as_str(), shown["missed"].as_i64()), (Some("RESERVED"), Some(0)), "{shown}");
        assert_eq!(shown["preview"]["contactId"], mine["contactId"], "{shown}");
        assert_eq!(shown["preview"]["screenPop"], mine["screenPop"]);

        // Another agent can neither dial nor skip someone else's preview.
        let stolen = dial_preview(&app, &agent_token(&second), &mine["contactId"]).await;
        assert_eq!(stolen.code(), "FORBIDDEN");
        let skip = "mutation($c: ID!, $r: String) { skipPreview(contactId: $c, reason: $r) }";
        let stolen = app.graphql(Some(&agent_token(&second)), skip, json!({"c": mine["contactId"]})).await;
        assert_eq!(stolen.code(), "FORBIDDEN");
        let nobody = dial_preview(&app, &agent_token(&first), &json!("999999")).await;
        assert_eq!(nobody.code(), "NOT_FOUND");

        // The agent dials its preview: one call, to that contact, with that agent.
        let answer = dial_preview(&app, &agent_token(&first), &mine["contactId"]).await;
        let call = answer.data()["dialPreview"].clone();
        assert_eq!(call["contactId"], mine["contactId"]);
        assert_eq!(call["attempt"], 1);
        let dialed = until_state(&mut first_ws, "RESERVED").await;
        assert_eq!(dialed["callId"], call["id"], "the reservation moves to the call: {dialed}");
        // The person answers and is bridged straight to this agent.
        let connected = until_state(&mut first_ws, "ON_CALL").await;
        assert_eq!(connected["callId"], call["id"]);
        // Reloaded mid-call, the desktop still shows whom the agent is talking to.
        let shown = reconnect(&app, &first).await;
        assert_eq!(shown["callId"], call["id"], "{shown}");
        assert_eq!(shown["preview"]["contactId"], mine["contactId"], "{shown}");
        let rows = calls(&app, &admin, &campaign).await;
        assert_eq!(rows.len(), 1, "only the dialed preview has a call: {rows:?}");
        assert_eq!(rows[0]["agentId"], first.as_str());
        assert_ne!(rows[0]["outcome"], "ABANDONED");
        // A dialed preview cannot be dialed again.
        assert_eq!(dial_preview(&app, &agent_token(&first), &mine["contactId"]).await.code(), "NOT_FOUND");

        // The other agent skips: no call, no attempt, and the next contact comes.
        let skipped = app.graphql(Some(&agent_token(&second)), skip, json!({"c": theirs["contactId"], "r": "wrong person"})).await;
        assert_eq!(skipped.data()["skipPreview"], true);
        until_state(&mut second_ws, "AVAILABLE").await;
        let next = next_preview(&mut second_ws, &campaign, &phones).await;
        assert_ne!(next["contactId"], theirs["contactId"], "the skipped contact goes to the back of the line");
        assert_ne!(next["contactId"], mine["contactId"]);
        assert_eq!(attempts(&app, &admin, &theirs["contactId"]).await, 0, "a skip counts no attempt");

        // The gate refuses the next contact at the dial instant (it was put on the DNC list
        // meanwhile): the agent hears why, nothing is dialed, and the agent is free again.
        let number = next["screenPop"]["contact"]["phoneNumber"].clone();
        let add_dnc = "mutation($n: [String!]!) { addDncNumbers(phoneNumbers: $n) }";
        app.graphql(Some(&admin), add_dnc, json!({"n": [number]})).await.data();
        let refused = dial_preview(&app, &agent_token(&second), &next["contactId"]).await;
        assert_eq!(refused.code(), "CONFLICT");
        assert!(refused.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("INTERNAL_DNC")), "{:?}", refused.body);
        assert_eq!(attempts(&app, &admin, &next["contactId"]).await, 0);
        until_state(&mut second_ws, "AVAILABLE").await;
        assert_eq!(calls(&app, &admin, &campaign).await.len(), 1, "a refused contact is never dialed");

        // Freed, the agent is shown the skipped contact again; a pause withdraws it.
        let again = next_preview(&mut second_ws, &campaign, &phones).await;
        assert_eq!(again["contactId"], theirs["contactId"]);
        let pause = "mutation($c: ID!) { pauseCampaign(id: $c) { status } }";
        app.graphql(Some(&admin), pause, json!({"c": campaign})).await.data();
        until_state(&mut second_ws, "AVAILABLE").await;
        assert_eq!(dial_preview(&app, &agent_token(&second), &again["contactId"]).await.code(), "NOT_FOUND");
        assert_eq!(attempts(&app, &admin, &theirs["contactId"]).await, 0);
        let board = "query { agentBoard { agentId state } }";
        let board = app.graphql(Some(&admin), board, json!({})).await.data()["agentBoard"].clone();
        let state_of = |agent: &str| board.as_array().unwrap().iter().find(|e| e["agentId"] == agent).unwrap()["state"].clone();
        assert_eq!(state_of(&second), "AVAILABLE");
        assert_ne!(state_of(&first), "RESERVED", "the connected agent is on its call or wrapping up");
    }

    /// An agent who steps away gives its preview back: the contact goes to the next agent.
    async fn an_agent_who_pauses_gives_its_preview_to_the_next_agent(backend) {
        let app = spawn(backend).await;
        let phones: Vec<String> = vec!["+12125554000".into()];
        let floor = set_up(&app, "acme", &phones, 2, 1).await;
        let update = "mutation($c: ID!) { updateCampaign(id: $c, input: {dialerMode: PREVIEW}) { dialerMode } }";
        app.graphql(Some(&floor.admin), update, json!({"c": floor.campaign})).await.data();
        let mut first_ws = follow(&app, &floor.agents[0]).await;
        let mut second_ws = follow(&app, &floor.agents[1]).await;
        let pause_second = "mutation($a: ID!) { setAgentState(agentId: $a, state: PAUSED, reason: \"LUNCH\") { state } }";
        app.graphql(Some(&floor.admin), pause_second, json!({"a": floor.agents[1]})).await.data();
        until_state(&mut second_ws, "PAUSED").await;
        start(&app, &floor.admin, &floor.campaign).await;
        // One contact, one agent ready: the first agent has it.
        let offered = next_preview(&mut first_ws, &floor.campaign, &phones).await;
        // The first agent pauses and the second comes back: the contact moves over.
        let ready = "mutation($a: ID!) { setAgentState(agentId: $a, state: AVAILABLE) { state } }";
        let pause = "mutation($a: ID!) { setAgentState(agentId: $a, state: PAUSED) { state } }";
        app.graphql(Some(&agent_token(&floor.agents[0])), pause, json!({"a": floor.agents[0]})).await.data();
        app.graphql(Some(&floor.admin), ready, json!({"a": floor.agents[1]})).await.data();
        let moved = next_preview(&mut second_ws, &floor.campaign, &phones).await;
        assert_eq!(moved["contactId"], offered["contactId"]);
        assert_eq!(dial_preview(&app, &agent_token(&floor.agents[0]), &offered["contactId"]).await.code(), "FORBIDDEN");
        // A supervisor may dial it for the agent; the answer still goes to that agent.
        let call = dial_preview(&app, &floor.admin, &moved["contactId"]).await.data()["dialPreview"].clone();
        let connected = until_state(&mut second_ws, "ON_CALL").await;
        assert_eq!(connected["callId"], call["id"]);
        let rows = calls(&app, &floor.admin, &floor.campaign).await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["agentId"], floor.agents[1].as_str());
        let paused = until_state(&mut first_ws, "PAUSED").await;
        assert!(paused["preview"].is_null());
    }

    /// A preview nobody answers lapses: the contact goes back (not dialed, no attempt) and the
    /// agent is shown the next one.
    async fn a_preview_not_taken_in_time_goes_back_and_the_next_contact_comes(backend) {
        let dialer = DialerSettings { machine_detection: false, preview_timeout: TimeDelta::seconds(1), ..Default::default() };
        let app = spawn_with(backend, dialer).await;
        let phones: Vec<String> = (0..2).map(|i| format!("+1212555{:04}", 5000 + i)).collect();
        let floor = set_up(&app, "acme", &phones, 1, 1).await;
        let update = "mutation($c: ID!) { updateCampaign(id: $c, input: {dialerMode: PREVIEW}) { dialerMode } }";
        app.graphql(Some(&floor.admin), update, json!({"c": floor.campaign})).await.data();
        let mut ws = follow(&app, &floor.agents[0]).await;
        start(&app, &floor.admin, &floor.campaign).await;
        let first = next_preview(&mut ws, &floor.campaign, &phones).await;
        let lapsed = until_state(&mut ws, "AVAILABLE").await;
        assert!(lapsed["preview"].is_null());
        let second = next_preview(&mut ws, &floor.campaign, &phones).await;
        assert_ne!(second["contactId"], first["contactId"], "the lapsed contact goes to the back of the line");
        assert!(calls(&app, &floor.admin, &floor.campaign).await.is_empty());
        assert_eq!(attempts(&app, &floor.admin, &first["contactId"]).await, 0);
        assert_eq!(dial_preview(&app, &agent_token(&floor.agents[0]), &first["contactId"]).await.code(), "NOT_FOUND");
    }
}
