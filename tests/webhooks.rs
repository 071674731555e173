//! Telnyx webhooks end to end: signed events posted to the real server are stored once,
//! move their call forward, and reach `callEvents` subscribers; forged ones are refused. On
//! SQLite and PostgreSQL.

mod common;

use common::fake_telnyx::WebhookSigner;
use common::{TestApp, WsEvent, spawn_app_with, token};
use outdial::telephony::{CallId, ClientState};
use serde_json::{Value, json};

const ADMIN: &[&str] = &["admin"];

fn event(call: i64, event_type: &str, id: &str, at: &str, extra: Value) -> String {
    let mut payload = json!({"call_control_id": format!("v3:{call}"), "call_leg_id": "leg", "call_session_id": "s",
        "client_state": ClientState::customer(CallId(call)).encode(), "from": "+12125550100", "to": "+12124567890"});
    payload.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    json!({"data": {"record_type": "event", "event_type": event_type, "id": id, "occurred_at": at, "payload": payload}})
        .to_string()
}

/// Signs and posts `body` now (the app runs on the wall clock).
async fn post(signer: &WebhookSigner, body: &str) -> u16 {
    signer.deliver(chrono::Utc::now().timestamp(), body).await
}

async fn dialed_call(app: &TestApp, admin: &str) -> (String, i64) {
    let list = app.create_list(admin, "List", &["2124567890"]).await;
    let campaign = app.create_campaign(admin, "Spring", &list).await;
    let contact = app.first_contact(admin, &list).await;
    let call = app.dial("acme", campaign.parse().unwrap(), contact, 1, "+12124567890").await;
    (campaign, call.id)
}

backend_tests! {
    async fn signed_events_reach_subscribers_once(backend) {
        let signer = WebhookSigner::generate("");
        let public = signer.public_key();
        let app = spawn_app_with(backend, |config| config.telnyx_public_key = Some(public.clone())).await;
        let admin = token("acme", ADMIN);
        let (campaign, call) = dialed_call(&app, &admin).await;
        let telnyx = signer.aimed_at(format!("{}/webhooks/telnyx", app.address));

        let mut ws = app.websocket(json!({"authorization": format!("Bearer {admin}")})).await;
        assert!(matches!(ws.next().await, WsEvent::Json(ack) if ack["type"] == "connection_ack"));
        ws.subscribe(
            "1",
            "subscription($c: ID!) { callEvents(campaignId: $c) { kind missed call { id state outcome } } }",
            json!({"c": campaign}),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        let answered = event(call, "call.answered", "evt-1", "2026-11-24T15:00:08Z", json!({}));
        assert_eq!(post(&telnyx, &answered).await, 200);
        let WsEvent::Json(first) = ws.next().await else { panic!("closed") };
        assert_eq!(first["payload"]["data"]["callEvents"]["kind"], "call.answered", "{first}");
        assert_eq!(first["payload"]["data"]["callEvents"]["call"]["state"], "ANSWERED");

        // A redelivery is taken (200) and changes nothing; a forged event is refused.
        assert_eq!(post(&telnyx, &answered).await, 200);
        let forger = WebhookSigner::generate(telnyx.url.clone());
        let forged =
            event(call, "call.hangup", "evt-9", "2026-11-24T15:00:09Z", json!({"hangup_cause": "normal_clearing"}));
        assert_eq!(post(&forger, &forged).await, 401);

        let hangup =
            event(call, "call.hangup", "evt-2", "2026-11-24T15:00:12Z", json!({"hangup_cause": "normal_clearing"}));
        assert_eq!(post(&telnyx, &hangup).await, 200);
        let WsEvent::Json(second) = ws.next().await else { panic!("closed") };
        assert_eq!(
            second["payload"]["data"]["callEvents"]["kind"], "call.hangup",
            "the duplicate published nothing: {second}"
        );
        assert_eq!(second["payload"]["data"]["callEvents"]["call"]["outcome"], "ABANDONED");

        let query = "query($c: ID!) { calls(campaignId: $c) { totalCount edges { node { state outcome durationSeconds events { kind } } } } }";
        let calls = app.graphql(Some(&admin), query, json!({"c": campaign})).await;
        let node = &calls.data()["calls"]["edges"][0]["node"];
        assert_eq!(node["state"], "ENDED");
        assert_eq!(node["durationSeconds"], 4);
        assert_eq!(node["events"], json!([{"kind": "call.answered"}, {"kind": "call.hangup"}]));
        let foreign = app.graphql(Some(&token("globex", ADMIN)), query, json!({"c": campaign})).await;
        assert_eq!(foreign.code(), "NOT_FOUND");
    }
}
