//! `campaignMetrics` over HTTP on SQLite and PostgreSQL: counts, the rules' abandonment rate,
//! pace, agents, what is left and cost, from call rows written as the dial path writes them.

mod common;

use chrono::{TimeDelta, Utc};
use common::{spawn_app, token};
use outdial::store::Store;
use outdial::telephony::{CallId, CallLeg, CarrierEvent, CarrierEventKind, HangupCause};
use serde_json::json;

backend_tests! {
    async fn metrics_count_what_the_calls_did(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let phones = ["2124567890", "2124567891", "2124567892", "2124567893", "2124567894"];
        let list = app.create_list(&admin, "List", &phones).await;
        let campaign: i64 = app.create_campaign(&admin, "Spring", &list).await.parse().unwrap();
        app.graphql(
            Some(&admin),
            "mutation($id: ID!) { updateCampaign(id: $id, input: {costPerMinute: 0.5}) { id } }",
            json!({"id": campaign}),
        )
        .await
        .data();
        let agent = app
            .graphql(
                Some(&admin),
                "mutation($c: ID!) { createAgent(input: {name: \"Ada\", campaignIds: [$c]}) { id } }",
                json!({"c": campaign}),
            )
            .await;
        let agent = agent.data()["createAgent"]["id"].as_str().unwrap().to_owned();
        app.graphql(
            Some(&admin),
            "mutation($id: ID!) { setAgentState(agentId: $id, state: AVAILABLE) { id } }",
            json!({"id": agent}),
        )
        .await
        .data();
        let contacts = app
            .graphql(
                Some(&admin),
                "query($l: ID!) { contacts(listId: $l) { edges { node { id phoneNumber } } } }",
                json!({"l": list}),
            )
            .await;
        let contacts: Vec<(i64, String)> = contacts.data()["contacts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (e["node"]["id"].as_str().unwrap().parse().unwrap(), e["node"]["phoneNumber"].as_str().unwrap().to_owned())
            })
            .collect();

        let store = Store::connect(&app.config).await.unwrap();
        let now = Utc::now();
        let hangup = || CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        let busy = CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) };
        // Talked 60 s with an agent; busy; a person who answered and never reached an agent; still ringing.
        let stories: Vec<Vec<(i64, CarrierEventKind)>> = vec![
            vec![(5, CarrierEventKind::Answered), (6, CarrierEventKind::Bridged), (65, hangup())],
            vec![(3, busy)],
            vec![(5, CarrierEventKind::Answered), (15, hangup())],
            vec![],
        ];
        for (n, story) in stories.into_iter().enumerate() {
            let (contact, phone) = &contacts[n];
            let call = app.dial("acme", campaign, *contact, 1, phone).await;
            for (i, (second, kind)) in story.into_iter().enumerate() {
                let event = CarrierEvent {
                    event_id: format!("{}-{i}", call.id),
                    occurred_at: now + TimeDelta::seconds(second),
                    call: Some(CallId(call.id)),
                    leg: CallLeg::default(),
                    call_control_id: format!("v3:{}", call.id),
                    call_session_id: "s".into(),
                    kind,
                };
                store.calls().record_event(&event, now).await.unwrap();
            }
        }

        let query = "query($c: ID!) { campaignMetrics(campaignId: $c) { totalDials answered humanAnswered machineAnswered noAnswer busy \
                     abandoned answerRate connectionRate abandonmentRate abandonmentRateToday callsPerMinute agentsLoggedIn agentsAvailable \
                     agentsOnCall dialLevel callsInFlight contactsRemaining estimatedCompletionTime costTotal } }";
        let metrics = app.graphql(Some(&admin), query, json!({"c": campaign})).await;
        let m = &metrics.data()["campaignMetrics"];
        assert_eq!(m["totalDials"], 4);
        assert_eq!(
            (m["answered"].as_i64(), m["humanAnswered"].as_i64(), m["busy"].as_i64(), m["abandoned"].as_i64()),
            (Some(2), Some(2), Some(1), Some(1)),
            "{m}"
        );
        assert_eq!(m["answerRate"], 0.5);
        assert_eq!(m["connectionRate"], 0.25);
        assert_eq!(m["abandonmentRate"], 0.5, "abandoned over answered by a person");
        assert_eq!(m["abandonmentRateToday"], 0.5);
        assert_eq!(m["callsPerMinute"], 0.8);
        assert_eq!(
            (m["agentsLoggedIn"].as_i64(), m["agentsAvailable"].as_i64(), m["agentsOnCall"].as_i64()),
            (Some(1), Some(1), Some(0))
        );
        assert_eq!(m["callsInFlight"], 1);
        assert_eq!(m["dialLevel"], 1.0);
        // Five contacts, four dialed once: the one that reached an agent is done; the busy and the
        // abandoned ones are retried (max 3 attempts), the ringing one may be, the fifth is new.
        assert_eq!(m["contactsRemaining"], 4);
        assert!(m["estimatedCompletionTime"].is_string());
        // 60 s + 10 s connected at 0.5 per minute.
        assert!((m["costTotal"].as_f64().unwrap() - 70.0 / 60.0 * 0.5).abs() < 1e-9, "{m}");

        let foreign = app.graphql(Some(&token("globex", &["admin"])), query, json!({"c": campaign})).await;
        assert_eq!(foreign.code(), "NOT_FOUND");
        assert_eq!(app.graphql(Some(&token("acme", &["agent"])), query, json!({"c": campaign})).await.code(), "FORBIDDEN");
    }
}

backend_tests! {
    /// The subscription sends figures at once and again within a second of a change.
    async fn metrics_stream_on_change(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let list = app.create_list(&admin, "List", &["2124567890"]).await;
        let campaign: i64 = app.create_campaign(&admin, "Spring", &list).await.parse().unwrap();
        let contact = app.first_contact(&admin, &list).await;
        let mut ws = app.websocket(json!({"authorization": format!("Bearer {admin}")})).await;
        assert!(matches!(ws.next().await, common::WsEvent::Json(ack) if ack["type"] == "connection_ack"));
        ws.subscribe(
            "m",
            "subscription($c: ID!) { campaignMetrics(campaignId: $c) { totalDials callsInFlight } }",
            json!({"c": campaign}),
        )
        .await;
        let common::WsEvent::Json(first) = ws.next().await else { panic!("closed") };
        assert_eq!(first["payload"]["data"]["campaignMetrics"], json!({"totalDials": 0, "callsInFlight": 0}));

        app.dial("acme", campaign, contact, 1, "+12124567890").await;
        let started = std::time::Instant::now();
        loop {
            let common::WsEvent::Json(next) = ws.next().await else { panic!("closed") };
            if next["payload"]["data"]["campaignMetrics"]["totalDials"] == 1 {
                assert_eq!(next["payload"]["data"]["campaignMetrics"]["callsInFlight"], 1);
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(3), "no new figures within a second or two: {next}");
        }
    }
}
