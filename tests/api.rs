//! End-to-end tests of the Foundation API over HTTP and WebSocket, each on SQLite and PostgreSQL.

mod common;

use common::{WsEvent, spawn_app, token, token_with};
use serde_json::json;

const ADMIN: &[&str] = &["admin"];

backend_tests! {
    async fn another_tenants_rows_are_not_found_and_never_listed(backend) {
        let app = spawn_app(backend).await;
        let (acme, globex) = (token("acme", ADMIN), token("globex", ADMIN));
        let list = app.create_list(&acme, "Acme list", &["2124567890", "3125550211"]).await;
        let campaign = app.create_campaign(&acme, "Acme spring", &list).await;
        let agent = app.create_agent(&acme, "Ada").await;
        let contact = app
            .graphql(Some(&acme), "query($l: ID!) { contacts(listId: $l) { edges { node { id } } } }", json!({"l": list}))
            .await
            .data()["contacts"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Every query and mutation with an id of acme answers NOT_FOUND to globex.
        let probes: Vec<(&str, serde_json::Value)> = vec![
            ("query($id: ID!) { campaign(id: $id) { id } }", json!({"id": campaign})),
            ("query($id: ID!) { contactList(id: $id) { id } }", json!({"id": list})),
            ("query($id: ID!) { contacts(listId: $id) { totalCount } }", json!({"id": list})),
            ("query($id: ID!) { contact(id: $id) { id } }", json!({"id": contact})),
            ("query($id: ID!) { agent(id: $id) { id } }", json!({"id": agent})),
            ("mutation($id: ID!) { addContacts(listId: $id, contacts: [{phoneNumber: \"2125550142\"}]) { imported } }", json!({"id": list})),
            ("mutation($id: ID!) { updateCampaign(id: $id, input: {name: \"x\"}) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { scheduleCampaign(id: $id) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { startCampaign(id: $id) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { pauseCampaign(id: $id) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { resumeCampaign(id: $id) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { completeCampaign(id: $id) { id } }", json!({"id": campaign})),
            ("mutation($id: ID!) { updateAgent(id: $id, input: {name: \"x\"}) { id } }", json!({"id": agent})),
            ("mutation($id: ID!) { createCampaign(input: {name: \"steal\", contactListIds: [$id], dialerMode: PREVIEW}) { id } }", json!({"id": list})),
        ];
        for (query, variables) in probes {
            let answer = app.graphql(Some(&globex), query, variables).await;
            assert_eq!(answer.code(), "NOT_FOUND", "{query}: {}", answer.body);
        }

        // Lists of globex are empty; acme's rows are unchanged.
        let lists = app
            .graphql(Some(&globex), "{ campaigns { totalCount edges { node { id } } } contactLists { totalCount } agents { totalCount } }", json!({}))
            .await;
        let data = lists.data();
        assert_eq!(data["campaigns"]["totalCount"], 0);
        assert_eq!(data["campaigns"]["edges"], json!([]));
        assert_eq!(data["contactLists"]["totalCount"], 0);
        assert_eq!(data["agents"]["totalCount"], 0);
        let mine = app
            .graphql(Some(&acme), "query($id: ID!) { campaign(id: $id) { name status } contactList(id: $id) { contactCount } }", json!({"id": campaign}))
            .await;
        assert_eq!(mine.data()["campaign"], json!({"name": "Acme spring", "status": "DRAFT"}));
        assert_eq!(mine.data()["contactList"]["contactCount"], 2);
    }

    async fn bad_tokens_are_unauthenticated(backend) {
        let app = spawn_app(backend).await;
        let expired = token_with("acme", ADMIN, None, -3600);
        let wrong_key = {
            use jsonwebtoken::{EncodingKey, Header, encode};
            let claims = json!({"sub": "x", "tenant": "acme", "roles": ["admin"], "exp": chrono::Utc::now().timestamp() + 3600});
            encode(&Header::default(), &claims, &EncodingKey::from_secret(b"another-secret-of-enough-length-000000")).unwrap()
        };
        let alg_none = {
            use base64::Engine;
            let e = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
            let claims = json!({"sub": "x", "tenant": "acme", "roles": ["admin"], "exp": chrono::Utc::now().timestamp() + 3600});
            format!("{}.{}.", e(json!({"alg": "none", "typ": "JWT"})), e(claims))
        };
        let no_tenant = {
            use jsonwebtoken::{EncodingKey, Header, encode};
            let claims = json!({"sub": "x", "roles": ["admin"], "exp": chrono::Utc::now().timestamp() + 3600});
            encode(&Header::default(), &claims, &EncodingKey::from_secret(common::SECRET.as_bytes())).unwrap()
        };
        for (what, bad) in [("expired", expired), ("wrong key", wrong_key), ("alg none", alg_none), ("no tenant", no_tenant), ("garbage", "abc".into())] {
            let answer = app.graphql(Some(&bad), "{ me { tenant } }", json!({})).await;
            assert_eq!(answer.status, 401, "{what}");
            assert_eq!(answer.code(), "UNAUTHENTICATED", "{what}: {}", answer.body);
        }
        let anonymous = app.graphql(None, "{ campaigns { totalCount } }", json!({})).await;
        assert_eq!(anonymous.code(), "UNAUTHENTICATED");
        let good = app.graphql(Some(&token("acme", ADMIN)), "{ me { tenant roles user } }", json!({})).await;
        assert_eq!(good.data()["me"], json!({"tenant": "acme", "roles": ["ADMIN"], "user": "user-of-acme"}));
    }

    async fn roles_limit_what_a_caller_may_do(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let list = app.create_list(&admin, "L", &["2124567890"]).await;
        let agent_id = app.create_agent(&admin, "Ada").await;
        let agent = token_with("acme", &["agent"], agent_id.parse().ok(), 3600);
        let create = app
            .graphql(
                Some(&agent),
                "mutation($l: ID!) { createCampaign(input: {name: \"x\", contactListIds: [$l], dialerMode: PREDICTIVE}) { id } }",
                json!({"l": list}),
            )
            .await;
        assert_eq!(create.code(), "FORBIDDEN");
        assert_eq!(app.graphql(Some(&agent), "{ campaigns { totalCount } }", json!({})).await.code(), "FORBIDDEN");
        // An agent reads its own agent, not another's.
        let own = app.graphql(Some(&agent), "query($id: ID!) { agent(id: $id) { name } }", json!({"id": agent_id})).await;
        assert_eq!(own.data()["agent"]["name"], "Ada");
        let other_id = app.create_agent(&admin, "Bob").await;
        let other = app.graphql(Some(&agent), "query($id: ID!) { agent(id: $id) { name } }", json!({"id": other_id})).await;
        assert_eq!(other.code(), "FORBIDDEN");
        // A supervisor runs campaigns.
        let supervisor = token("acme", &["supervisor"]);
        let campaign = app.create_campaign(&supervisor, "S", &list).await;
        assert!(!campaign.is_empty());
    }

    async fn import_stores_valid_rows_and_reports_the_rest(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let answer = app
            .graphql(
                Some(&admin),
                "mutation($input: CreateContactListInput!) { createContactList(input: $input) {
                    list { id contactCount } imported rejected { row phoneNumber code message } } }",
                json!({"input": {"name": "Spring", "contacts": [
                    {"phoneNumber": "(212) 456-7890", "firstName": "Ada", "state": "NY", "fields": {"plan": "gold"}},
                    {"phoneNumber": "12345"},
                    {"phoneNumber": "+1 212 456 7890"},
                    {"phoneNumber": "212-555-0123"},
                    {"phoneNumber": "911-456-7890"},
                    {"phoneNumber": "312-555-0211", "zip": "60601"},
                    {"phoneNumber": "415-555-0299", "timezone": "Mars/Olympus"},
                ]}}),
            )
            .await;
        let result = &answer.data()["createContactList"];
        assert_eq!(result["imported"], 2);
        assert_eq!(result["list"]["contactCount"], 2);
        let rejected: Vec<(i64, String)> = result["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["row"].as_i64().unwrap(), r["code"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            rejected,
            vec![
                (2, "INVALID_NUMBER".into()),
                (3, "DUPLICATE_PHONE".into()),
                (4, "NOT_DIALABLE".into()),
                (5, "NOT_DIALABLE".into()),
                (7, "INVALID_TIMEZONE".into()),
            ]
        );
        // Adding the same numbers again stores nothing twice.
        let list = result["list"]["id"].as_str().unwrap();
        let again = app
            .graphql(
                Some(&admin),
                "mutation($l: ID!) { addContacts(listId: $l, contacts: [{phoneNumber: \"2124567890\"}, {phoneNumber: \"6465550242\"}]) { imported rejected { row code } } }",
                json!({"l": list}),
            )
            .await;
        assert_eq!(again.data()["addContacts"], json!({"imported": 1, "rejected": [{"row": 1, "code": "DUPLICATE_PHONE"}]}));
        let contacts = app
            .graphql(Some(&admin), "query($l: ID!) { contacts(listId: $l) { totalCount edges { node { phoneNumber firstName state fields } } } }", json!({"l": list}))
            .await;
        let data = &contacts.data()["contacts"];
        assert_eq!(data["totalCount"], 3);
        assert_eq!(data["edges"][0]["node"], json!({"phoneNumber": "+12124567890", "firstName": "Ada", "state": "NY", "fields": {"plan": "gold"}}));
    }

    async fn lifecycle_moves_only_along_valid_transitions(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let list = app.create_list(&admin, "L", &["2124567890"]).await;
        let campaign = app.create_campaign(&admin, "C", &list).await;
        let step = |name: &'static str| {
            let app = &app;
            let admin = admin.clone();
            let campaign = campaign.clone();
            async move {
                app.graphql(Some(&admin), &format!("mutation($id: ID!) {{ {name}(id: $id) {{ status startedAt pausedAt completedAt }} }}"), json!({"id": campaign})).await
            }
        };
        assert_eq!(step("startCampaign").await.code(), "CONFLICT");
        assert_eq!(step("scheduleCampaign").await.data()["scheduleCampaign"]["status"], "SCHEDULED");
        assert_eq!(step("pauseCampaign").await.code(), "CONFLICT");
        let started = step("startCampaign").await;
        assert_eq!(started.data()["startCampaign"]["status"], "RUNNING");
        assert!(started.data()["startCampaign"]["startedAt"].is_string());
        assert_eq!(step("resumeCampaign").await.code(), "CONFLICT");
        assert_eq!(step("pauseCampaign").await.data()["pauseCampaign"]["status"], "PAUSED");
        assert_eq!(step("resumeCampaign").await.data()["resumeCampaign"]["status"], "RUNNING");
        assert_eq!(step("completeCampaign").await.data()["completeCampaign"]["status"], "COMPLETED");
        for action in ["scheduleCampaign", "startCampaign", "pauseCampaign", "resumeCampaign", "completeCampaign"] {
            assert_eq!(step(action).await.code(), "CONFLICT", "{action} after COMPLETED");
        }
        let update = app.graphql(Some(&admin), "mutation($id: ID!) { updateCampaign(id: $id, input: {name: \"late\"}) { id } }", json!({"id": campaign})).await;
        assert_eq!(update.code(), "CONFLICT");
    }

    async fn campaigns_validate_and_update_their_settings(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let list = app.create_list(&admin, "L", &["2124567890"]).await;
        let second = app.create_list(&admin, "M", &["3125550211"]).await;
        let bad = app
            .graphql(
                Some(&admin),
                "mutation($l: ID!) { createCampaign(input: {name: \"x\", contactListIds: [$l], dialerMode: PREDICTIVE, abandonRateTarget: 0.05}) { id } }",
                json!({"l": list}),
            )
            .await;
        assert_eq!(bad.code(), "BAD_USER_INPUT");
        assert_eq!(bad.body["errors"][0]["extensions"]["field"], "abandonRateTarget");
        let created = app
            .graphql(
                Some(&admin),
                "mutation($l: ID!) { createCampaign(input: {name: \"Spring\", contactListIds: [$l], dialerMode: PROGRESSIVE,
                   script: \"Hi\", outcomeTags: [\"sale\", \"no\"], callerId: \"(212) 456-7890\", windowStart: \"09:00\",
                   windowEnd: \"18:00\", windowDays: [\"MON\", \"TUE\"], maxAttempts: 5, retryDelayMinutes: 30,
                   abandonRateTarget: 0.02, requiredSkills: [\"sales\"], language: \"es\", region: \"west\",
                   routingStrategy: BEST_MATCH, priority: 7, costPerMinute: 0.012}) {
                   id dialerMode script outcomeTags callerId windowStart windowEnd windowDays maxAttempts retryDelayMinutes
                   abandonRateTarget requiredSkills language region routingStrategy priority costPerMinute dncCheck
                   timezoneBasedCalling recordingEnabled contactLists { id } } }",
                json!({"l": list}),
            )
            .await;
        let c = &created.data()["createCampaign"];
        assert_eq!(c["callerId"], "+12124567890");
        assert_eq!(c["windowDays"], json!(["MON", "TUE"]));
        assert_eq!(c["routingStrategy"], "BEST_MATCH");
        assert_eq!((c["dncCheck"].as_bool(), c["timezoneBasedCalling"].as_bool()), (Some(true), Some(true)));
        let id = c["id"].as_str().unwrap();
        let updated = app
            .graphql(
                Some(&admin),
                "mutation($id: ID!, $l: ID!, $m: ID!) { updateCampaign(id: $id, input: {script: null, priority: 9, contactListIds: [$m, $l]}) {
                   script priority maxAttempts contactLists { id } } }",
                json!({"id": id, "l": list, "m": second}),
            )
            .await;
        assert_eq!(
            updated.data()["updateCampaign"],
            json!({"script": null, "priority": 9, "maxAttempts": 5, "contactLists": [{"id": second}, {"id": list}]})
        );
    }

    async fn pages_follow_cursors_and_cap_first(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let phones: Vec<String> = (0..7).map(|i| format!("21245678{i:02}")).collect();
        let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
        let list = app.create_list(&admin, "L", &phones).await;
        let query = "query($l: ID!, $after: String) { contacts(listId: $l, first: 3, after: $after) {
            totalCount edges { cursor node { phoneNumber } } pageInfo { hasNextPage endCursor } } }";
        let mut seen = Vec::new();
        let mut after = serde_json::Value::Null;
        loop {
            let page = app.graphql(Some(&admin), query, json!({"l": list, "after": after})).await;
            let data = page.data()["contacts"].clone();
            assert_eq!(data["totalCount"], 7);
            for edge in data["edges"].as_array().unwrap() {
                seen.push(edge["node"]["phoneNumber"].as_str().unwrap().to_owned());
            }
            if !data["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = data["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen.len(), 7);
        assert_eq!(seen.iter().collect::<std::collections::HashSet<_>>().len(), 7);
        let search = app.graphql(Some(&admin), "query($l: ID!) { contacts(listId: $l, search: \"7805\") { totalCount } }", json!({"l": list})).await;
        assert_eq!(search.data()["contacts"]["totalCount"], 1);
        let too_many = app.graphql(Some(&admin), "query($l: ID!) { contacts(listId: $l, first: 501) { totalCount } }", json!({"l": list})).await;
        assert_eq!(too_many.code(), "BAD_USER_INPUT");
        let bad_cursor = app.graphql(Some(&admin), "query($l: ID!) { contacts(listId: $l, after: \"nonsense\") { totalCount } }", json!({"l": list})).await;
        assert_eq!(bad_cursor.code(), "BAD_USER_INPUT");
    }

    async fn heartbeat_streams_over_websocket_for_a_valid_token(backend) {
        let app = spawn_app(backend).await;
        let mut ws = app.websocket(json!({"authorization": format!("Bearer {}", token("acme", ADMIN))})).await;
        match ws.next().await {
            WsEvent::Json(message) => assert_eq!(message["type"], "connection_ack"),
            other => panic!("no ack: {other:?}"),
        }
        ws.subscribe("1", "subscription { heartbeat(intervalMs: 100) { sequence at } }", json!({})).await;
        for expected in 1..=3 {
            match ws.next().await {
                WsEvent::Json(message) => {
                    assert_eq!(message["type"], "next", "{message}");
                    assert_eq!(message["payload"]["data"]["heartbeat"]["sequence"], expected);
                }
                other => panic!("no heartbeat: {other:?}"),
            }
        }
        let mut refused = app.websocket(json!({"authorization": "Bearer not-a-token"})).await;
        assert!(matches!(refused.next().await, WsEvent::Closed(_)), "a bad token must close the socket");
    }

    async fn subscriptions_end_when_the_token_expires(backend) {
        let app = spawn_app(backend).await;
        let mut ws = app.websocket(json!({"authorization": format!("Bearer {}", token_with("acme", ADMIN, None, 2))})).await;
        assert!(matches!(ws.next().await, WsEvent::Json(m) if m["type"] == "connection_ack"));
        ws.subscribe("1", "subscription { heartbeat(intervalMs: 200) { sequence } }", json!({})).await;
        let mut beats = 0;
        loop {
            match ws.next().await {
                WsEvent::Json(m) if m["type"] == "next" => beats += 1,
                WsEvent::Json(m) if m["type"] == "complete" => break,
                other => panic!("unexpected {other:?}"),
            }
            assert!(beats < 30, "the stream outlived its token");
        }
        assert!(beats >= 1, "no heartbeat before the token expired");
    }

    async fn limits_refuse_abusive_queries_with_a_code(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", ADMIN);
        let aliases: String = (0..31).map(|i| format!("a{i}: me {{ tenant }} ")).collect();
        let answer = app.graphql(Some(&admin), &format!("{{ {aliases} }}"), json!({})).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT");
        assert!(answer.body["errors"][0]["message"].as_str().unwrap().contains("aliases"));
        let deep = "{ campaigns { edges { node { contactLists { contacts { edges { node { list { contacts { edges { node { id } } } } } } } } } } } }";
        assert_eq!(app.graphql(Some(&admin), deep, json!({})).await.code(), "BAD_USER_INPUT");
        assert_eq!(app.graphql(Some(&admin), "{ me { ", json!({})).await.code(), "BAD_USER_INPUT");
    }

    async fn health_and_readiness_answer(backend) {
        let app = spawn_app(backend).await;
        for path in ["/healthz", "/readyz"] {
            let response = app.http.get(format!("{}{path}", app.address)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            assert!(response.headers().contains_key("x-request-id"), "{path} has a request id");
        }
        let graphiql = app.http.get(format!("{}/graphql", app.address)).send().await.unwrap().text().await.unwrap();
        assert!(graphiql.contains("graphiql"), "GET /graphql serves GraphiQL");
    }
}
