//! End-to-end tests of the ACD's API: agent state changes through the state machine, the live
//! agent board, routing settings of campaigns and agents, and the board surviving a restart.
//! Each runs on SQLite and PostgreSQL.

mod common;

use common::{spawn_app, token, token_with};
use serde_json::{Value, json};

const ADMIN: &[&str] = &["admin"];
const SET_STATE: &str = "mutation($id: ID!, $state: AgentState!, $reason: String) { \
                         setAgentState(agentId: $id, state: $state, reason: $reason) { id state stateReason } }";
const BOARD: &str = "{ agentBoard { agentId state pauseReason since timeInStateSeconds idleSeconds callsToday \
                     talkTimeTodaySeconds occupancy agent { name campaignIds } } }";

fn board_entry<'a>(board: &'a Value, agent: &str) -> &'a Value {
    board["agentBoard"].as_array().unwrap().iter().find(|e| e["agentId"] == agent).expect("agent on the board")
}

backend_tests! {
    /// An agent's endpoint (where the carrier transfers its calls) is a SIP URI or an E.164 number.
    async fn agent_endpoints_are_sip_uris_or_numbers(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let create = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id endpoint } }";
        let sip = app.graphql(Some(&admin), create, json!({"input": {"name": "Ana", "endpoint": " sip:ana@pbx.example.com "}})).await;
        assert_eq!(sip.data()["createAgent"]["endpoint"], "sip:ana@pbx.example.com");
        for bad in ["ana@pbx", "sip:@pbx", "2125550123", "sip:ana smith@pbx"] {
            let refused = app.graphql(Some(&admin), create, json!({"input": {"name": "Bo", "endpoint": bad}})).await;
            assert_eq!(refused.code(), "BAD_USER_INPUT", "{bad}");
        }
        let id = sip.data()["createAgent"]["id"].clone();
        let update = "mutation($id: ID!, $input: UpdateAgentInput!) { updateAgent(id: $id, input: $input) { endpoint } }";
        let number = app.graphql(Some(&admin), update, json!({"id": id, "input": {"endpoint": "+12125550123"}})).await;
        assert_eq!(number.data()["updateAgent"]["endpoint"], "+12125550123");
        let cleared = app.graphql(Some(&admin), update, json!({"id": id, "input": {"endpoint": null}})).await;
        assert!(cleared.data()["updateAgent"]["endpoint"].is_null());
    }

    async fn agent_state_follows_the_state_machine(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let ada = app.create_agent(&admin, "Ada").await;
        let set = |state: &'static str, reason: Option<&'static str>| {
            let (app, admin, ada) = (&app, admin.clone(), ada.clone());
            async move { app.graphql(Some(&admin), SET_STATE, json!({"id": ada, "state": state, "reason": reason})).await }
        };

        let ready = set("AVAILABLE", None).await;
        assert_eq!(ready.data()["setAgentState"]["state"], "AVAILABLE");
        // A self-transition is not a change the state machine allows.
        assert_eq!(set("AVAILABLE", None).await.code(), "CONFLICT");
        let paused = set("PAUSED", Some("LUNCH")).await;
        assert_eq!(paused.data()["setAgentState"]["stateReason"], "LUNCH");
        // The dialer alone offers, connects and ends calls.
        for state in ["RESERVED", "ON_CALL", "WRAP_UP"] {
            assert_eq!(set(state, None).await.code(), "BAD_USER_INPUT", "{state}");
        }
        assert_eq!(set("AVAILABLE", Some("LUNCH")).await.code(), "BAD_USER_INPUT");
        assert_eq!(set("OFFLINE", None).await.data()["setAgentState"]["state"], "OFFLINE");

        let board = app.graphql(Some(&admin), BOARD, json!({})).await;
        let entry = board_entry(board.data(), &ada);
        assert_eq!(entry["state"], "OFFLINE");
        assert_eq!(entry["agent"]["name"], "Ada");
        assert_eq!(entry["callsToday"], 0);
        assert!(entry["timeInStateSeconds"].as_i64().unwrap() >= 0);
    }

    async fn agents_set_their_own_state_and_only_theirs(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let ada = app.create_agent(&admin, "Ada").await;
        let bob = app.create_agent(&admin, "Bob").await;
        let ada_token = token_with("acme", &["agent"], Some(ada.parse().unwrap()), 600);

        let own = app.graphql(Some(&ada_token), SET_STATE, json!({"id": ada, "state": "AVAILABLE"})).await;
        assert_eq!(own.data()["setAgentState"]["state"], "AVAILABLE");
        let other = app.graphql(Some(&ada_token), SET_STATE, json!({"id": bob, "state": "AVAILABLE"})).await;
        assert_eq!(other.code(), "FORBIDDEN");
        assert_eq!(app.graphql(Some(&ada_token), BOARD, json!({})).await.code(), "FORBIDDEN");

        // A supervisor sets anyone's state.
        let supervisor = token("acme", &["supervisor"]);
        let by_supervisor = app.graphql(Some(&supervisor), SET_STATE, json!({"id": bob, "state": "PAUSED"})).await;
        assert_eq!(by_supervisor.data()["setAgentState"]["state"], "PAUSED");

        // Another tenant neither sees nor changes acme's agents.
        let globex = token("globex", ADMIN);
        let foreign = app.graphql(Some(&globex), SET_STATE, json!({"id": ada, "state": "PAUSED"})).await;
        assert_eq!(foreign.code(), "NOT_FOUND");
        let board = app.graphql(Some(&globex), BOARD, json!({})).await;
        assert_eq!(board.data()["agentBoard"], json!([]));
    }

    async fn routing_settings_round_trip_and_are_checked(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let list = app.create_list(&admin, "List", &["2124567890"]).await;
        let create = "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id requiredSkills \
                      requiredSkillLevels { name level } language region routingStrategy priority wrapUpTimeoutSeconds } }";
        let input = json!({"name": "Spanish sales", "contactListIds": [list], "dialerMode": "PREDICTIVE",
            "requiredSkillLevels": [{"name": "sales", "level": 3}, {"name": "spanish", "level": 4}],
            "language": "es", "region": "west", "routingStrategy": "BEST_MATCH", "priority": 9,
            "wrapUpTimeoutSeconds": 30});
        let created = app.graphql(Some(&admin), create, json!({"input": input})).await;
        let campaign = created.data()["createCampaign"].clone();
        assert_eq!(campaign["requiredSkills"], json!(["sales", "spanish"]));
        assert_eq!(campaign["requiredSkillLevels"][1], json!({"name": "spanish", "level": 4}));
        assert_eq!(campaign["routingStrategy"], "BEST_MATCH");
        assert_eq!(campaign["wrapUpTimeoutSeconds"], 30);

        for (bad, field) in [
            (json!({"requiredSkillLevels": [{"name": "sales", "level": 7}]}), "levels"),
            (json!({"requiredSkills": ["sales"], "requiredSkillLevels": [{"name": "sales", "level": 1}]}), "both"),
            (json!({"wrapUpTimeoutSeconds": 1}), "wrap-up"),
        ] {
            let mut input = json!({"name": "Bad", "contactListIds": [list], "dialerMode": "PREDICTIVE"});
            input.as_object_mut().unwrap().extend(bad.as_object().unwrap().clone());
            assert_eq!(app.graphql(Some(&admin), create, json!({"input": input})).await.code(), "BAD_USER_INPUT", "{field}");
        }

        // Agents are assigned to campaigns of their own tenant only.
        let create_agent = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id campaignIds skills { name level } } }";
        let id = campaign["id"].as_str().unwrap();
        let agent = app.graphql(Some(&admin), create_agent, json!({"input": {"name": "Ana",
            "skills": [{"name": "sales", "level": 5}], "languages": ["es", "en"], "campaignIds": [id]}})).await;
        assert_eq!(agent.data()["createAgent"]["campaignIds"], json!([id]));
        let globex = token("globex", ADMIN);
        let stolen = app.graphql(Some(&globex), create_agent, json!({"input": {"name": "Eve", "campaignIds": [id]}})).await;
        assert_eq!(stolen.code(), "NOT_FOUND");
        let bad_level = app.graphql(Some(&admin), create_agent, json!({"input": {"name": "Al", "skills": [{"name": "sales", "level": 0}]}})).await;
        assert_eq!(bad_level.code(), "BAD_USER_INPUT");
    }

    async fn agents_follow_their_state_over_websocket(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let ada = app.create_agent(&admin, "Ada").await;
        let bob = app.create_agent(&admin, "Bob").await;
        let ada_token = token_with("acme", &["agent"], Some(ada.parse().unwrap()), 600);
        let mut ws = app.websocket(json!({"authorization": format!("Bearer {ada_token}")})).await;
        assert!(matches!(ws.next().await, common::WsEvent::Json(ack) if ack["type"] == "connection_ack"));
        let follow = "subscription($a: ID!) { agentEvents(agentId: $a) { agentId state pauseReason missed } }";
        // Another agent's stream is refused.
        ws.subscribe("bob", follow, json!({"a": bob})).await;
        let common::WsEvent::Json(refused) = ws.next().await else { panic!("closed") };
        assert_eq!(refused["id"], "bob");
        assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
        ws.subscribe("ada", follow, json!({"a": ada})).await;
        let mut next_of_ada = async || loop {
            match ws.next().await {
                // The refused subscription's `complete` may come first.
                common::WsEvent::Json(message) if message["id"] == "bob" => continue,
                common::WsEvent::Json(message) => break message,
                common::WsEvent::Closed(code) => panic!("closed: {code:?}"),
            }
        };
        // The stream starts with her state as it is.
        let first = next_of_ada().await;
        assert_eq!(first["id"], "ada");
        assert_eq!(first["payload"]["data"]["agentEvents"], json!({"agentId": ada, "state": "OFFLINE", "pauseReason": null, "missed": 0}));

        app.graphql(Some(&admin), SET_STATE, json!({"id": bob, "state": "AVAILABLE"})).await.data();
        app.graphql(Some(&ada_token), SET_STATE, json!({"id": ada, "state": "PAUSED", "reason": "BREAK"})).await.data();
        let event = next_of_ada().await;
        assert_eq!(event["id"], "ada");
        assert_eq!(event["payload"]["data"]["agentEvents"], json!({"agentId": ada, "state": "PAUSED", "pauseReason": "BREAK", "missed": 0}),
            "Bob's change is not in Ada's stream");
    }

    async fn the_board_survives_a_restart(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let ada = app.create_agent(&admin, "Ada").await;
        let bob = app.create_agent(&admin, "Bob").await;
        app.graphql(Some(&admin), SET_STATE, json!({"id": ada, "state": "AVAILABLE"})).await.data();
        app.graphql(Some(&admin), SET_STATE, json!({"id": bob, "state": "PAUSED", "reason": "TRAINING"})).await.data();
        let before = app.graphql(Some(&admin), BOARD, json!({})).await;

        let restarted = common::spawn_app_on(&app).await;
        let after = restarted.graphql(Some(&admin), BOARD, json!({})).await;
        for agent in [&ada, &bob] {
            let (was, is) = (board_entry(before.data(), agent), board_entry(after.data(), agent));
            assert_eq!(was["state"], is["state"]);
            assert_eq!(was["pauseReason"], is["pauseReason"]);
            assert_eq!(was["since"], is["since"], "time in state counts from the stored start");
        }
    }
}

mod routing_on_the_floor {
    use super::common::migrated_store;
    use chrono::{TimeDelta, Utc};
    use outdial::acd::{
        AgentId, CallId, CampaignId, ContactCard, Decision, LiveCall, ScreenPop, ScreenPopSource, SkillLevel,
        StateChange, Strategy,
    };
    use outdial::campaign::{CampaignSettings, DialerMode};
    use outdial::error::DomainError;
    use outdial::floor::Floor;
    use outdial::store::TenantId;
    use outdial::store::agents::AgentProfile;

    crate::backend_tests! {
        /// The floor routes a live answer to the eligible free agent and reserves it at once; a
        /// second call finds nobody free and waits; a call past its deadline is abandoned.
        async fn offers_route_and_reserve(backend) {
            let dir = tempfile::tempdir().unwrap();
            let store = migrated_store(backend, dir.path()).await;
            let tenant = TenantId::new("acme");
            let now = Utc::now();
            let mut settings = CampaignSettings::defaults("Spanish sales".into(), DialerMode::Predictive);
            settings.required_skills = vec![SkillLevel { name: "spanish".into(), level: 3 }];
            settings.routing_strategy = Strategy::BestMatch;
            let list = store.contact_lists().create(&tenant, "List", now).await.unwrap();
            let campaign = store.campaigns().create(&tenant, &settings, &[list.id], now).await.unwrap();
            let agent = |name: &str, level: u8| AgentProfile {
                name: Some(name.into()),
                skills: Some(vec![SkillLevel { name: "spanish".into(), level }]),
                campaign_ids: Some(vec![campaign.id]),
                ..AgentProfile::default()
            };
            let novice = store.agents().create(&tenant, agent("Novice", 1), now).await.unwrap();
            let fluent = store.agents().create(&tenant, agent("Fluent", 4), now).await.unwrap();
            let floor = Floor::new(store.clone(), outdial::events::EventBus::default());
            for id in [novice.id, fluent.id] {
                floor.set_agent_state(&tenant, id, StateChange::Available, now).await.unwrap();
            }
            let call = |id: i64| LiveCall {
                id: CallId(id),
                campaign: CampaignId(campaign.id),
                priority: 0,
                answered_at: now,
                deadline: now + TimeDelta::seconds(2),
                language: None,
                region: None,
            };
            let pop = |id: i64| {
                let contact = ContactCard {
                    id: 1,
                    phone_number: "+12125550123".into(),
                    first_name: None,
                    last_name: None,
                    email: None,
                    state: None,
                    timezone: None,
                    fields: serde_json::json!({}),
                };
                let source = ScreenPopSource { contact, script: None, attempts: Vec::new(), crm_record: None };
                ScreenPop::prepare(CallId(id), CampaignId(campaign.id), source)
            };
            match floor.offer(&tenant, &call(1), &pop(1), now).await.unwrap() {
                Decision::Offer(offer) => assert_eq!(offer.agent.0, fluent.id, "only the fluent agent is eligible"),
                other => panic!("expected an offer, got {other:?}"),
            }
            floor.flush().await;
            assert_eq!(store.agents().get(&tenant, fluent.id).await.unwrap().state, "RESERVED");
            // What a desktop that (re)connects is shown: the offer, with its screen pop, while the agent is on it.
            let shown = floor.current(&tenant, AgentId(fluent.id), now).await.unwrap();
            let offer = shown.offer.expect("the current offer");
            assert_eq!((offer.decision.call, offer.screen_pop.call), (CallId(1), Some(CallId(1))));
            floor.set_agent_state(&tenant, fluent.id, StateChange::OnCall { call: CallId(1) }, now).await.unwrap();
            assert!(floor.current(&tenant, AgentId(fluent.id), now).await.unwrap().offer.is_some(), "on the call");
            floor.set_agent_state(&tenant, fluent.id, StateChange::WrapUp, now).await.unwrap();
            floor.set_agent_state(&tenant, fluent.id, StateChange::Available, now).await.unwrap();
            let free = floor.current(&tenant, AgentId(fluent.id), now).await.unwrap();
            assert!(free.offer.is_none() && free.preview.is_none(), "no offer once free");
            assert!(matches!(floor.current(&tenant, AgentId(999_999), now).await, Err(DomainError::NotFound(_))));
            floor.set_agent_state(&tenant, fluent.id, StateChange::Reserved { call: CallId(1), campaign: CampaignId(campaign.id) }, now).await.unwrap();
            assert!(floor.current(&tenant, AgentId(fluent.id), now).await.unwrap().offer.is_some(), "same call again");
            assert_eq!(floor.offer(&tenant, &call(2), &pop(2), now).await.unwrap(), Decision::Wait);
            let late = now + TimeDelta::seconds(3);
            assert_eq!(floor.offer(&tenant, &call(3), &pop(3), late).await.unwrap(), Decision::Abandon);
        }

        /// The live loop's state changes reach the agent rows behind the board, in the board's
        /// order: after a flush each row holds its agent's last state, reason and start.
        async fn agent_rows_follow_the_board(backend) {
            let dir = tempfile::tempdir().unwrap();
            let store = migrated_store(backend, dir.path()).await;
            let tenant = TenantId::new("acme");
            let now = Utc::now();
            let profile = |name: &str| AgentProfile { name: Some(name.into()), ..AgentProfile::default() };
            let ann = store.agents().create(&tenant, profile("Ann"), now).await.unwrap();
            let bob = store.agents().create(&tenant, profile("Bob"), now).await.unwrap();
            let floor = Floor::new(store.clone(), outdial::events::EventBus::default());
            let paused = |reason: &str| StateChange::Paused { reason: Some(reason.into()) };
            let changes = [
                (ann.id, StateChange::Available),
                (bob.id, StateChange::Available),
                (ann.id, paused("lunch")),
                (bob.id, paused("coaching")),
                (ann.id, StateChange::Available),
                (bob.id, StateChange::Offline),
            ];
            for (step, (agent, change)) in changes.into_iter().enumerate() {
                let at = now + TimeDelta::seconds(step as i64);
                floor.change_agent_state(&tenant, agent, change, at).await.unwrap();
            }
            floor.flush().await;
            let ann_row = store.agents().get(&tenant, ann.id).await.unwrap();
            let bob_row = store.agents().get(&tenant, bob.id).await.unwrap();
            assert_eq!((ann_row.state.as_str(), ann_row.state_reason), ("AVAILABLE", None));
            assert_eq!(ann_row.state_since.timestamp(), (now + TimeDelta::seconds(4)).timestamp());
            assert_eq!((bob_row.state.as_str(), bob_row.state_since.timestamp()), ("OFFLINE", (now + TimeDelta::seconds(5)).timestamp()));
            // A supervisor's change is written before it returns.
            let row = floor.set_agent_state(&tenant, bob.id, StateChange::WrapUp, now + TimeDelta::seconds(6)).await;
            assert!(matches!(row, Err(DomainError::Conflict(_))), "OFFLINE cannot wrap up: {row:?}");
            let row = floor.set_agent_state(&tenant, bob.id, StateChange::Available, now + TimeDelta::seconds(7)).await.unwrap();
            assert_eq!(row.state, "AVAILABLE");
        }
    }
}
