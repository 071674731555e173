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

/// The value of one sample line of a `/metrics` answer (`name{labels}` as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(app: &common::TestApp) -> String {
    let response = app.http.get(format!("{}/metrics", app.address)).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.unwrap()
}

/// Waits until the figures of `subscription` show `totalDials == dials`.
async fn until_dials(ws: &mut common::WsClient, subscription: &str, dials: u64) {
    let started = std::time::Instant::now();
    loop {
        let common::WsEvent::Json(next) = ws.next().await else { panic!("closed") };
        assert_eq!(next["id"], subscription, "{next}");
        if next["payload"]["data"]["campaignMetrics"]["totalDials"] == dials {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "no figures with {dials} dials: {next}");
    }
}

backend_tests! {
    /// Three subscriptions on two connections follow one feed and share one execution: all get
    /// figures at once and the figures after a change; a fourth asking other fields runs on its
    /// own but follows the same feed. The feed ends when the last of them leaves.
    async fn subscribers_of_a_campaign_share_one_feed(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let list = app.create_list(&admin, "List", &["2124567890"]).await;
        let campaign: i64 = app.create_campaign(&admin, "Spring", &list).await.parse().unwrap();
        let contact = app.first_contact(&admin, &list).await;
        let query = "subscription($c: ID!) { campaignMetrics(campaignId: $c) { totalDials callsInFlight } }";
        let mut connections = Vec::new();
        for _ in 0..2 {
            let mut ws = app.websocket(json!({"authorization": format!("Bearer {admin}")})).await;
            assert!(matches!(ws.next().await, common::WsEvent::Json(ack) if ack["type"] == "connection_ack"));
            connections.push(ws);
        }
        connections[0].subscribe("a", query, json!({"c": campaign})).await;
        connections[1].subscribe("b", query, json!({"c": campaign})).await;
        until_dials(&mut connections[0], "a", 0).await;
        until_dials(&mut connections[1], "b", 0).await;
        // A second subscription on a connection that already follows the campaign.
        connections[1].subscribe("c", query, json!({"c": campaign})).await;
        let common::WsEvent::Json(first) = connections[1].next().await else { panic!("closed") };
        assert_eq!(first["payload"]["data"]["campaignMetrics"]["totalDials"], 0, "{first}");

        let text = scrape(&app).await;
        assert_eq!(sample(&text, "outdial_campaign_metrics_feeds"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "outdial_shared_subscriptions"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "outdial_subscriptions"), Some(3.0), "{text}");
        assert_eq!(sample(&text, "outdial_websocket_connections"), Some(2.0), "{text}");

        let mut other = app.websocket(json!({"authorization": format!("Bearer {admin}")})).await;
        assert!(matches!(other.next().await, common::WsEvent::Json(ack) if ack["type"] == "connection_ack"));
        let fewer = "subscription($c: ID!) { campaignMetrics(campaignId: $c) { totalDials } }";
        other.subscribe("d", fewer, json!({"c": campaign})).await;
        let common::WsEvent::Json(first) = other.next().await else { panic!("closed") };
        assert_eq!(first["payload"]["data"]["campaignMetrics"], json!({"totalDials": 0}), "{first}");
        let text = scrape(&app).await;
        assert_eq!(sample(&text, "outdial_shared_subscriptions"), Some(2.0), "{text}");
        assert_eq!(sample(&text, "outdial_campaign_metrics_feeds"), Some(1.0), "{text}");
        drop(other);

        app.dial("acme", campaign, contact, 1, "+12124567890").await;
        until_dials(&mut connections[0], "a", 1).await;
        // Connection 1 carries b and c: both see the dial, in whichever order they come.
        let mut seen = std::collections::HashSet::new();
        let started = std::time::Instant::now();
        while seen.len() < 2 {
            let common::WsEvent::Json(next) = connections[1].next().await else { panic!("closed") };
            if next["payload"]["data"]["campaignMetrics"]["totalDials"] == 1 {
                assert_eq!(next["payload"]["data"]["campaignMetrics"]["callsInFlight"], 1);
                seen.insert(next["id"].as_str().unwrap().to_owned());
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(3), "b and c did not both see the dial");
        }

        drop(connections);
        let started = std::time::Instant::now();
        loop {
            let text = scrape(&app).await;
            if sample(&text, "outdial_campaign_metrics_feeds") == Some(0.0) {
                assert_eq!(sample(&text, "outdial_shared_subscriptions"), Some(0.0), "{text}");
                assert_eq!(sample(&text, "outdial_subscriptions"), Some(0.0), "{text}");
                assert_eq!(sample(&text, "outdial_websocket_connections"), Some(0.0), "{text}");
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "the feed outlived its subscribers: {text}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

backend_tests! {
    /// `GET /metrics` answers without a token, with `outdial_` names; the counters move when the
    /// dialer's calls are made, and running or paused campaigns show their abandonment rate and
    /// calls in flight.
    async fn metrics_endpoint_counts_and_shows_live_campaigns(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let list = app.create_list(&admin, "List", &["2124567890", "2124567891"]).await;
        let id = app.create_campaign(&admin, "Spring", &list).await;
        let campaign: i64 = id.parse().unwrap();
        let text = scrape(&app).await;
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(sample(&text, "outdial_websocket_connections"), Some(0.0), "{text}");
        assert!(text.contains("# TYPE outdial_answer_to_offer_seconds histogram"), "{text}");
        assert!(text.lines().filter(|l| !l.starts_with('#')).all(|l| l.starts_with("outdial_")), "{text}");
        assert!(!text.contains(&format!("campaign=\"{campaign}\"")), "a DRAFT campaign is not shown: {text}");

        // A live person who answered and was hung up on (abandoned), and a call still ringing;
        // written while the campaign is a draft, so no dialer takes part.
        let contacts = app
            .graphql(Some(&admin), "query($l: ID!) { contacts(listId: $l) { edges { node { id phoneNumber } } } }", json!({"l": list}))
            .await;
        let contacts: Vec<(i64, String)> = contacts.data()["contacts"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["node"]["id"].as_str().unwrap().parse().unwrap(), e["node"]["phoneNumber"].as_str().unwrap().to_owned()))
            .collect();
        let abandoned = app.dial("acme", campaign, contacts[0].0, 1, &contacts[0].1).await;
        app.dial("acme", campaign, contacts[1].0, 1, &contacts[1].1).await;
        let store = Store::connect(&app.config).await.unwrap();
        let now = Utc::now();
        let hangup = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        for (i, kind) in [CarrierEventKind::Answered, hangup].into_iter().enumerate() {
            let event = CarrierEvent {
                event_id: format!("{}-{i}", abandoned.id),
                occurred_at: now + TimeDelta::seconds(i as i64 * 5),
                call: Some(CallId(abandoned.id)),
                leg: CallLeg::default(),
                call_control_id: format!("v3:{}", abandoned.id),
                call_session_id: "s".into(),
                kind,
            };
            store.calls().record_event(&event, now).await.unwrap();
        }
        for action in ["scheduleCampaign", "startCampaign", "pauseCampaign"] {
            let mutation = format!("mutation($id: ID!) {{ {action}(id: $id) {{ status }} }}");
            app.graphql(Some(&admin), &mutation, json!({"id": id})).await.data();
        }
        let text = scrape(&app).await;
        let labels = format!("{{tenant=\"acme\",campaign=\"{campaign}\"}}");
        assert_eq!(sample(&text, &format!("outdial_campaign_abandonment_rate{labels}")), Some(1.0), "{text}");
        assert_eq!(sample(&text, &format!("outdial_campaign_calls_in_flight{labels}")), Some(1.0), "{text}");

        // The counters the dialer moves, on a handle of their own over the same database.
        let telemetry = outdial::telemetry::Telemetry::default();
        telemetry.dial_placed("acme", campaign);
        telemetry.dial_placed("acme", campaign);
        telemetry.dial_refused("acme", campaign);
        telemetry.carrier_error("acme", campaign);
        telemetry.call_abandoned("acme", campaign);
        telemetry.answer_to_offer(0.8);
        telemetry.event_stored("call.answered");
        let text = telemetry.scrape(&store, Utc::now()).await.unwrap();
        assert_eq!(sample(&text, &format!("outdial_dials_placed_total{labels}")), Some(2.0), "{text}");
        assert_eq!(sample(&text, &format!("outdial_dials_refused_total{labels}")), Some(1.0), "{text}");
        assert_eq!(sample(&text, &format!("outdial_carrier_errors_total{labels}")), Some(1.0), "{text}");
        assert_eq!(sample(&text, &format!("outdial_calls_abandoned_total{labels}")), Some(1.0), "{text}");
        assert_eq!(sample(&text, "outdial_answer_to_offer_seconds_count"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "outdial_answer_to_offer_seconds_bucket{le=\"1.0\"}"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "outdial_answer_to_offer_seconds_bucket{le=\"0.5\"}"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "outdial_carrier_events_stored_total{kind=\"call.answered\"}"), Some(1.0), "{text}");
    }
}

backend_tests! {
    /// Two subscribers share one execution of the same document; the one whose token expires
    /// gets `complete`, the other goes on receiving figures.
    async fn a_shared_subscription_ends_at_each_subscribers_own_expiry(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let list = app.create_list(&admin, "List", &["2124567890"]).await;
        let campaign: i64 = app.create_campaign(&admin, "Spring", &list).await.parse().unwrap();
        let query = "subscription($c: ID!) { campaignMetrics(campaignId: $c) { totalDials } }";
        let short = common::token_with("acme", &["admin"], None, 2);
        let mut connections = Vec::new();
        for bearer in [&short, &admin] {
            let mut ws = app.websocket(json!({"authorization": format!("Bearer {bearer}")})).await;
            assert!(matches!(ws.next().await, common::WsEvent::Json(ack) if ack["type"] == "connection_ack"));
            ws.subscribe("m", query, json!({"c": campaign})).await;
            connections.push(ws);
        }
        let text = scrape(&app).await;
        assert_eq!(sample(&text, "outdial_shared_subscriptions"), Some(1.0), "{text}");
        let started = std::time::Instant::now();
        loop {
            match connections[0].next().await {
                common::WsEvent::Json(m) if m["type"] == "next" => {}
                common::WsEvent::Json(m) if m["type"] == "complete" => break,
                other => panic!("unexpected {other:?}"),
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "the stream outlived its token");
        }
        // The other subscriber's figures keep coming (once a second) after the first one's end.
        let ended = std::time::Instant::now();
        loop {
            let common::WsEvent::Json(m) = connections[1].next().await else { panic!("closed") };
            assert_eq!(m["type"], "next", "{m}");
            if ended.elapsed() > std::time::Duration::from_millis(1500) {
                break;
            }
        }
    }
}
