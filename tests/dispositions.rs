//! `dispositionCall` end to end on SQLite and PostgreSQL: only the agent who took a call (or a
//! supervisor) dispositions it, once, after it ended, with one of the campaign's outcome tags;
//! a callback schedules the contact, `do_not_call` lists the number at once.

mod common;

use chrono::{TimeDelta, Utc};
use common::{spawn_app, token, token_with};
use serde_json::json;

const DISPOSITION: &str = "mutation($id: ID!, $outcome: String!, $notes: String, $at: DateTime) { \
                           dispositionCall(callId: $id, outcome: $outcome, notes: $notes, callbackAt: $at) \
                           { disposition outcome } }";

backend_tests! {
    async fn agents_disposition_their_ended_calls(backend) {
        let app = spawn_app(backend).await;
        let admin = token("acme", &["admin"]);
        let list = app.create_list(&admin, "List", &["2124567890"]).await;
        let campaign: i64 = app.create_campaign(&admin, "Spring", &list).await.parse().unwrap();
        let contact = app.first_contact(&admin, &list).await;
        let ada: i64 = app.create_agent(&admin, "Ada").await.parse().unwrap();
        let bob: i64 = app.create_agent(&admin, "Bob").await.parse().unwrap();
        let first = app.talked_call("acme", campaign, contact, ada, 1, "+12124567890").await;
        let (ada_token, bob_token) =
            (token_with("acme", &["agent"], Some(ada), 600), token_with("acme", &["agent"], Some(bob), 600));
        let dispose = |token: &str, outcome: &str, at: Option<String>| {
            let (app, token, outcome) = (&app, token.to_owned(), outcome.to_owned());
            async move {
                app.graphql(
                    Some(&token),
                    DISPOSITION,
                    json!({"id": first, "outcome": outcome, "notes": "asked us to call back", "at": at}),
                )
                .await
            }
        };

        assert_eq!(dispose(&bob_token, "sale", None).await.code(), "NOT_FOUND", "not Bob's call");
        assert_eq!(dispose(&ada_token, "maybe", None).await.code(), "BAD_USER_INPUT", "not a tag of the campaign");
        assert_eq!(dispose(&ada_token, "callback", None).await.code(), "BAD_USER_INPUT", "a callback needs its time");
        let later = (Utc::now() + TimeDelta::days(2)).to_rfc3339();
        let done = dispose(&ada_token, "Callback", Some(later.clone())).await;
        assert_eq!(done.data()["dispositionCall"], json!({"disposition": "callback", "outcome": "CALLBACK"}));
        assert_eq!(dispose(&ada_token, "sale", None).await.code(), "CONFLICT", "dispositioned once");
        let contact_state = app
            .graphql(
                Some(&admin),
                "query($id: ID!) { contact(id: $id) { status nextAttemptAt attempts } }",
                json!({"id": contact}),
            )
            .await;
        assert_eq!(contact_state.data()["contact"]["status"], "CALLBACK");
        assert!(contact_state.data()["contact"]["nextAttemptAt"].is_string());

        // do_not_call lists the number from this moment.
        let second = app.talked_call("acme", campaign, contact, ada, 2, "+12124567890").await;
        let dnc = app.graphql(Some(&ada_token), DISPOSITION, json!({"id": second, "outcome": "do_not_call"})).await;
        assert_eq!(dnc.data()["dispositionCall"]["disposition"], "do_not_call");
        let check = app
            .graphql(
                Some(&admin),
                "query($at: DateTime) { complianceCheck(phoneNumber: \"2124567890\", at: $at) { reasons { code } } }",
                json!({"at": (Utc::now() + TimeDelta::minutes(1)).to_rfc3339()}),
            )
            .await;
        let codes: Vec<&str> = check.data()["complianceCheck"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap())
            .collect();
        assert!(codes.contains(&"INTERNAL_DNC"), "{codes:?}");

        // A call still connected cannot take one.
        let live = app.dial("acme", campaign, contact, 3, "+12124567890").await;
        let open = app.graphql(Some(&admin), DISPOSITION, json!({"id": live.id, "outcome": "sale"})).await;
        assert_eq!(open.code(), "CONFLICT");
    }
}
