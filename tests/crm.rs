//! CRM integration end to end, on SQLite and PostgreSQL, against fake Salesforce and HubSpot
//! servers: connectors are admin-only and never show their credentials; every disposition
//! reaches each CRM exactly once; an outage drains afterwards; rejected credentials dead-letter
//! until fixed and retried by hand; a kill during delivery loses and duplicates nothing; offers
//! carry the CRM record, and a CRM that hangs never holds a call.

mod common;

use chrono::TimeDelta;
use common::fake_crm::{
    CLIENT_ID, CLIENT_SECRET, HOOK_SECRET, HS_TOKEN, REFRESH_TOKEN, hubspot_server, salesforce_server, webhook_server,
};
use common::floor::{MovableClock, set_up, start, weekday_morning_in_new_york};
use common::{TestApp, WsEvent, spawn_app_at, spawn_app_on, token, token_with};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const REGISTER: &str = "mutation($input: RegisterCrmConnectorInput!) { registerCrmConnector(input: $input) \
                        { id name kind enabled settings } }";
const DELIVERIES: &str = "query($s: CrmDeliveryStatus) { crmDeliveries(status: $s, first: 500) { totalCount \
                          edges { node { id connectorId callId status attempts lastError externalId activity } } } }";
/// The fake CRMs know this person (Salesforce Contact 003000000000001, HubSpot contact 501).
const KNOWN_PHONE: &str = "+14155551212";

fn salesforce_input(base: &str, name: &str) -> Value {
    json!({"name": name, "timeoutMs": 1500, "settings": {"salesforce": {"loginUrl": base, "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET, "refreshToken": REFRESH_TOKEN}}})
}

fn hubspot_input(base: &str, name: &str, token: &str) -> Value {
    json!({"name": name, "timeoutMs": 1500, "settings": {"hubspot": {"baseUrl": base, "token": token}}})
}

async fn register(app: &TestApp, admin: &str, input: Value) -> String {
    let answer = app.graphql(Some(admin), REGISTER, json!({"input": input})).await;
    answer.data()["registerCrmConnector"]["id"].as_str().expect("connector id").to_owned()
}

/// `calls` talked calls to `phone` in tenant `acme`, ready for their dispositions.
async fn talked_calls(app: &TestApp, admin: &str, phone: &str, calls: i32) -> Vec<i64> {
    let list = app.create_list(admin, "crm", &[phone]).await;
    let campaign: i64 = app.create_campaign(admin, "Renewals", &list).await.parse().unwrap();
    let contact = app.first_contact(admin, &list).await;
    let agent: i64 = app.create_agent(admin, "Ada").await.parse().unwrap();
    let mut ids = Vec::new();
    for attempt in 1..=calls {
        ids.push(app.talked_call("acme", campaign, contact, agent, attempt, phone).await);
    }
    ids
}

async fn disposition(app: &TestApp, admin: &str, call: i64, notes: &str) {
    let set = "mutation($id: ID!, $n: String) { dispositionCall(callId: $id, outcome: \"sale\", notes: $n) { id } }";
    app.graphql(Some(admin), set, json!({"id": call, "n": notes})).await.data();
}

async fn deliveries(app: &TestApp, admin: &str, status: Option<&str>) -> Vec<Value> {
    let answer = app.graphql(Some(admin), DELIVERIES, json!({"s": status})).await;
    answer.data()["crmDeliveries"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

/// Waits (up to 30 s) until every delivery satisfies `done`, and returns them.
async fn wait_for(app: &TestApp, admin: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = tokio::time::Instant::now();
    loop {
        let rows = deliveries(app, admin, None).await;
        if done(&rows) {
            return rows;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "waited 30 s for {what}: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn all_status(rows: &[Value], count: usize, status: &str) -> bool {
    rows.len() == count && rows.iter().all(|d| d["status"] == status)
}

fn real_time() -> Arc<MovableClock> {
    Arc::new(MovableClock::default())
}

crate::backend_tests! {
    async fn connectors_are_admin_only_sealed_and_tested(backend) {
        let app = spawn_app_at(backend, |_| {}, real_time()).await;
        let (_, sf) = salesforce_server(|_| {}).await;
        let (_, hs) = hubspot_server(|_| {}).await;
        let admin = token("acme", &["admin"]);
        let supervisor = token("acme", &["supervisor"]);

        let refused = app.graphql(Some(&supervisor), REGISTER, json!({"input": salesforce_input(&sf, "Sales")})).await;
        assert_eq!(refused.code(), "FORBIDDEN");
        let plain_http = salesforce_input("http://crm.example.com", "Sales");
        let refused = app.graphql(Some(&admin), REGISTER, json!({"input": plain_http})).await;
        assert_eq!(refused.code(), "BAD_USER_INPUT");
        assert!(refused.body.to_string().contains("https"), "{}", refused.body);
        let two_kinds = json!({"name": "x", "settings": {"hubspot": {"token": "t"}, "salesforce": {"clientId": "c",
            "clientSecret": "s", "refreshToken": "r"}}});
        assert_eq!(app.graphql(Some(&admin), REGISTER, json!({"input": two_kinds})).await.code(), "BAD_USER_INPUT");

        let answer = app.graphql(Some(&admin), REGISTER, json!({"input": salesforce_input(&sf, "Sales")})).await;
        let shown = answer.body.to_string();
        let connector = &answer.data()["registerCrmConnector"];
        assert_eq!(connector["kind"], "SALESFORCE");
        assert_eq!(connector["settings"]["clientId"], CLIENT_ID);
        assert_eq!(connector["settings"]["timeoutMs"], 1500);
        let sales = connector["id"].as_str().unwrap().to_owned();
        let bad_hubspot = register(&app, &admin, hubspot_input(&hs, "Marketing", "pat-na1-WRONG-TOKEN")).await;
        let duplicate = app.graphql(Some(&admin), REGISTER, json!({"input": salesforce_input(&sf, "Sales")})).await;
        assert_eq!(duplicate.code(), "CONFLICT");

        let test = "mutation($id: ID!) { testCrmConnector(id: $id) { ok code message } }";
        let ok = app.graphql(Some(&admin), test, json!({"id": sales})).await;
        assert_eq!(ok.data()["testCrmConnector"], json!({"ok": true, "code": null, "message": null}));
        let rejected = app.graphql(Some(&admin), test, json!({"id": bad_hubspot})).await;
        assert_eq!(rejected.data()["testCrmConnector"]["code"], "AUTH");
        let fix = "mutation($id: ID!, $input: UpdateCrmConnectorInput!) { updateCrmConnector(id: $id, input: $input) \
                   { name enabled } }";
        let fixed_settings = json!({"name": "HubSpot", "settings": {"hubspot": {"baseUrl": hs, "token": HS_TOKEN}}});
        let updated = app.graphql(Some(&admin), fix, json!({"id": bad_hubspot, "input": fixed_settings})).await;
        assert_eq!(updated.data()["updateCrmConnector"], json!({"name": "HubSpot", "enabled": true}));
        let ok = app.graphql(Some(&admin), test, json!({"id": bad_hubspot})).await;
        assert_eq!(ok.data()["testCrmConnector"]["ok"], true, "the live connector was rebuilt with the new token");

        // Supervisors read connectors; nobody reads credentials, here or in the database.
        let list = app.graphql(Some(&supervisor), "{ crmConnectors { id name kind settings } }", json!({})).await;
        let everything = format!("{shown}{}", list.body);
        assert_eq!(list.data()["crmConnectors"].as_array().unwrap().len(), 2);
        use sea_orm::EntityTrait;
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let rows = entity::crm_connector::Entity::find().all(&db).await.unwrap();
        let stored = format!("{rows:?}{}", rows.iter().map(|r| String::from_utf8_lossy(&r.credentials_sealed)).collect::<String>());
        for secret in [CLIENT_SECRET, REFRESH_TOKEN, HS_TOKEN, "pat-na1-WRONG-TOKEN"] {
            assert!(!everything.contains(secret), "{secret} shown: {everything}");
            assert!(!stored.contains(secret), "{secret} stored in the clear");
        }

        // Another tenant sees none of it.
        let other = token("globex", &["admin"]);
        let theirs = app.graphql(Some(&other), "{ crmConnectors { id } }", json!({})).await;
        assert_eq!(theirs.data()["crmConnectors"], json!([]));
        let query = "query($id: ID!) { crmConnector(id: $id) { id } }";
        assert_eq!(app.graphql(Some(&other), query, json!({"id": sales})).await.code(), "NOT_FOUND");
        assert_eq!(app.graphql(Some(&other), test, json!({"id": sales})).await.code(), "NOT_FOUND");

        let remove = "mutation($id: ID!) { removeCrmConnector(id: $id) }";
        app.graphql(Some(&admin), remove, json!({"id": sales})).await.data();
        assert_eq!(app.graphql(Some(&admin), query, json!({"id": sales})).await.code(), "NOT_FOUND");
    }

    async fn every_disposition_reaches_each_crm_exactly_once(backend) {
        let app = spawn_app_at(backend, |_| {}, real_time()).await;
        let (sf_state, sf) = salesforce_server(|s| s.expire_first_token = true).await;
        let (hs_state, hs) = hubspot_server(|_| {}).await;
        let admin = token("acme", &["admin"]);
        let sales = register(&app, &admin, salesforce_input(&sf, "Sales")).await;
        register(&app, &admin, hubspot_input(&hs, "Marketing", HS_TOKEN)).await;
        let calls = talked_calls(&app, &admin, KNOWN_PHONE, 6).await;
        for (n, call) in calls.iter().enumerate() {
            disposition(&app, &admin, *call, &format!("renewed, call {n}")).await;
        }

        let rows = wait_for(&app, &admin, "12 deliveries", |rows| all_status(rows, 12, "DELIVERED")).await;
        let tasks = sf_state.lock().unwrap().tasks.clone();
        let hs_calls = hs_state.lock().unwrap().calls.clone();
        assert_eq!((tasks.len(), hs_calls.len()), (6, 6), "one activity per call in each CRM");
        for (n, call) in calls.iter().enumerate() {
            let key = format!("outdial:acme:{call}");
            let task = tasks.iter().find(|t| t["CallObject"] == key.as_str()).expect("the call's Task");
            assert_eq!(task["WhoId"], "003000000000001", "attached to the person called");
            assert_eq!(task["CallDurationInSeconds"], 60, "answered to hang-up");
            assert!(task["Description"].as_str().unwrap().contains(&format!("renewed, call {n}")), "{task}");
            let logged = hs_calls.iter().find(|c| c["properties"]["hs_call_external_id"] == key.as_str());
            let logged = logged.expect("the call's HubSpot call");
            assert_eq!(logged["associations"][0]["to"]["id"], "501");
            let delivery = rows.iter().find(|d| d["callId"].as_str() == Some(&call.to_string()) && d["connectorId"] == sales.as_str());
            assert_eq!(delivery.expect("its delivery")["externalId"], task["Id"]);
        }
        // Concurrent deliveries share one session: the expired first token is refreshed once.
        assert_eq!(sf_state.lock().unwrap().token_requests, 2);
        // A second disposition of a call is refused, so nothing is queued twice.
        let again = "mutation($id: ID!) { dispositionCall(callId: $id, outcome: \"sale\") { id } }";
        assert_eq!(app.graphql(Some(&admin), again, json!({"id": calls[0]})).await.code(), "CONFLICT");
        let dead = deliveries(&app, &admin, Some("DEAD")).await;
        assert!(dead.is_empty());
        let metrics = app.http.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
        let delivered = "outdial_crm_deliveries_total{tenant=\"acme\",result=\"delivered\"} 12";
        assert!(metrics.contains(delivered), "{metrics}");
    }

    async fn outages_drain_and_rejected_credentials_wait_for_a_fix(backend) {
        let clock = real_time();
        let app = spawn_app_at(backend, |_| {}, clock.clone()).await;
        let (sf_state, sf) = salesforce_server(|s| s.unavailable = true).await;
        let (hs_state, hs) = hubspot_server(|_| {}).await;
        let admin = token("acme", &["admin"]);
        register(&app, &admin, salesforce_input(&sf, "Sales")).await;
        let marketing = register(&app, &admin, hubspot_input(&hs, "Marketing", "pat-na1-REVOKED")).await;
        let calls = talked_calls(&app, &admin, KNOWN_PHONE, 2).await;
        for call in &calls {
            disposition(&app, &admin, *call, "outage").await;
        }

        // Salesforce is down: its deliveries wait and retry; HubSpot refuses the token: dead letters.
        let rows = wait_for(&app, &admin, "first attempts", |rows| {
            rows.len() == 4 && rows.iter().all(|d| d["attempts"].as_i64() >= Some(1) && d["lastError"].is_string())
        }).await;
        for row in &rows {
            let want = if row["connectorId"] == marketing.as_str() { "DEAD" } else { "PENDING" };
            assert_eq!(row["status"], want, "{row}");
        }
        assert!(rows.iter().any(|d| d["lastError"].as_str().unwrap().contains("unavailable")), "{rows:#?}");
        // Minutes of outage: attempts go on with growing waits and nothing is lost.
        for _ in 0..3 {
            let before: i64 = deliveries(&app, &admin, Some("PENDING")).await.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
            clock.advance(TimeDelta::minutes(5));
            wait_for(&app, &admin, "another attempt", |rows| {
                rows.iter().filter(|d| d["status"] == "PENDING").map(|d| d["attempts"].as_i64().unwrap()).sum::<i64>() > before
            }).await;
        }
        sf_state.lock().unwrap().unavailable = false;
        clock.advance(TimeDelta::minutes(30));
        wait_for(&app, &admin, "the outage to drain", |rows| {
            rows.iter().filter(|d| d["status"] == "DELIVERED").count() == 2
        }).await;
        assert_eq!(sf_state.lock().unwrap().tasks.len(), 2);

        // The token is fixed; the dead letters are queued again and delivered once.
        assert!(hs_state.lock().unwrap().calls.is_empty());
        let fix = "mutation($id: ID!, $input: UpdateCrmConnectorInput!) { updateCrmConnector(id: $id, input: $input) { id } }";
        let settings = json!({"settings": {"hubspot": {"baseUrl": hs, "token": HS_TOKEN}}});
        app.graphql(Some(&admin), fix, json!({"id": marketing, "input": settings})).await.data();
        let retry_one = "mutation($id: ID!) { retryCrmDelivery(id: $id) { status attempts } }";
        let dead = deliveries(&app, &admin, Some("DEAD")).await;
        let delivered = deliveries(&app, &admin, Some("DELIVERED")).await;
        let conflict = app.graphql(Some(&admin), retry_one, json!({"id": delivered[0]["id"]})).await;
        assert_eq!(conflict.code(), "CONFLICT", "only dead letters are retried by hand");
        let retried = app.graphql(Some(&admin), retry_one, json!({"id": dead[0]["id"]})).await;
        assert_eq!(retried.data()["retryCrmDelivery"], json!({"status": "PENDING", "attempts": 0}));
        let retry_all = "mutation($c: ID!) { retryDeadCrmDeliveries(connectorId: $c) }";
        let count = app.graphql(Some(&admin), retry_all, json!({"c": marketing})).await;
        assert_eq!(count.data()["retryDeadCrmDeliveries"], 1, "the other dead letter");
        wait_for(&app, &admin, "the retried deliveries", |rows| all_status(rows, 4, "DELIVERED")).await;
        assert_eq!(hs_state.lock().unwrap().calls.len(), 2);
    }

    async fn a_signed_webhook_crm_gets_the_activity_and_fills_the_screen_pop(backend) {
        let app = spawn_app_at(backend, |_| {}, real_time()).await;
        let (hook, base) = webhook_server().await;
        let admin = token("acme", &["admin"]);
        let input = json!({"name": "In-house CRM", "settings": {"webhook": {"url": format!("{base}/crm?key=url-k3y"),
            "secret": HOOK_SECRET, "mapping": {"record": "/data/customer", "id": "/ref", "name": "/full_name",
            "phone": "/tel", "fields": {"tier": "/tier"}, "activityId": "/result/activity"},
            "activityTemplate": {"external": {"call": "{{call_id}}"}, "who": "{{who_id}}", "text": "{{disposition}}: {{notes}}"}}}});
        let answer = app.graphql(Some(&admin), REGISTER, json!({"input": input})).await;
        let shown = answer.body.to_string();
        assert_eq!(answer.data()["registerCrmConnector"]["settings"]["host"], "127.0.0.1");
        assert!(!shown.contains("url-k3y") && !shown.contains(HOOK_SECRET), "{shown}");
        let calls = talked_calls(&app, &admin, KNOWN_PHONE, 1).await;
        disposition(&app, &admin, calls[0], "webhook").await;
        let rows = wait_for(&app, &admin, "the webhook delivery", |rows| all_status(rows, 1, "DELIVERED")).await;
        assert_eq!(rows[0]["externalId"], "act-1", "the id found at the mapped pointer");
        let hook = hook.lock().unwrap();
        assert_eq!(hook.bad_signatures, 0);
        let activity = &hook.bodies.iter().find(|(action, _)| action == "activities").expect("the activity").1;
        assert_eq!(activity["external"]["call"], format!("outdial:acme:{}", calls[0]));
        assert_eq!(activity["who"], "77", "the person found through the mapped lookup");
        assert_eq!(activity["text"], "sale: webhook");
    }

    async fn a_kill_during_delivery_loses_and_duplicates_nothing(backend) {
        let clock = real_time();
        let mut app = spawn_app_at(backend, |_| {}, clock.clone()).await;
        let (sf_state, sf) = salesforce_server(|s| s.answer_created_after = Some(Duration::from_secs(30))).await;
        let admin = token("acme", &["admin"]);
        register(&app, &admin, salesforce_input(&sf, "Sales")).await;
        let calls = talked_calls(&app, &admin, KNOWN_PHONE, 1).await;
        disposition(&app, &admin, calls[0], "killed mid-flight").await;

        // The Task is made, and the process stops before the answer arrives.
        let started = tokio::time::Instant::now();
        while sf_state.lock().unwrap().tasks.is_empty() {
            assert!(started.elapsed() < Duration::from_secs(20), "the delivery never reached Salesforce");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.shutdown_and_wait().await;
        sf_state.lock().unwrap().answer_created_after = None;
        let restarted = spawn_app_on(&app).await;
        let pending = deliveries(&restarted, &admin, None).await;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0]["status"], "PENDING", "nothing lost: {pending:?}");
        // Its lease runs out, it is attempted again, and Salesforce already has the Task.
        clock.advance(TimeDelta::minutes(3));
        let rows = wait_for(&restarted, &admin, "redelivery", |rows| all_status(rows, 1, "DELIVERED")).await;
        let tasks = sf_state.lock().unwrap().tasks.clone();
        assert_eq!(tasks.len(), 1, "no second Task: {tasks:?}");
        assert_eq!(rows[0]["externalId"], tasks[0]["Id"]);
        assert_eq!(rows[0]["attempts"], 2);
    }

    async fn offers_carry_the_crm_record_and_a_hanging_crm_holds_no_call(backend) {
        let phones: Vec<String> = (0..6).map(|i| format!("+1212555{:04}", 3000 + i)).collect();
        let (_, hs) = hubspot_server(|s| {
            for (n, phone) in phones.iter().enumerate() {
                s.contacts.push(json!({"id": format!("{}", 800 + n), "properties": {"firstname": "Nia",
                    "phone": phone, "hs_searchable_calculated_phone_number": &phone[2..], "hs_object_id": format!("{}", 800 + n)}}));
            }
        }).await;
        let (_, hanging) = salesforce_server(|s| s.delay = Some(Duration::from_secs(60))).await;
        for (crm, expect_record) in [(hs.clone(), true), (hanging, false)] {
            let app = spawn_app_at(backend, |c| c.sim_time_scale = 40.0, weekday_morning_in_new_york()).await;
            let admin = token("acme", &["admin"]);
            let input = if expect_record { hubspot_input(&crm, "HubSpot", HS_TOKEN) } else { salesforce_input(&crm, "Sales") };
            register(&app, &admin, input).await;
            let floor = set_up(&app, "acme", &phones, 2, 1).await;
            let agent: i64 = floor.agents[0].parse().unwrap();
            let mut ws = app.websocket(json!({"authorization": format!("Bearer {}", token_with("acme", &["agent"], Some(agent), 600))})).await;
            assert!(matches!(ws.next().await, WsEvent::Json(ref m) if m["type"] == "connection_ack"));
            ws.subscribe("a", "subscription($a: ID!) { agentEvents(agentId: $a) { offer { screenPop } } }",
                json!({"a": floor.agents[0]})).await;
            start(&app, &floor.admin, &floor.campaign).await;
            let started = tokio::time::Instant::now();
            let offer = loop {
                assert!(started.elapsed() < Duration::from_secs(60), "no offer within 60 s");
                match ws.next().await {
                    WsEvent::Json(m) if !m["payload"]["data"]["agentEvents"]["offer"].is_null() => {
                        break m["payload"]["data"]["agentEvents"]["offer"]["screenPop"].clone();
                    }
                    WsEvent::Json(_) => {}
                    other => panic!("{other:?}"),
                }
            };
            if expect_record {
                let record = &offer["crmRecord"];
                assert_eq!(record["kind"], "contact", "{offer}");
                let phone = offer["contact"]["phoneNumber"].as_str().unwrap();
                let n = phones.iter().position(|p| p == phone).unwrap();
                assert_eq!(record["id"], format!("{}", 800 + n), "the record of the person called: {offer}");
            } else {
                assert!(offer["crmRecord"].is_null(), "{offer}");
                assert!(started.elapsed() < Duration::from_secs(30), "the hanging CRM held the call");
            }
        }
    }
}
