//! A live campaign floor for the end-to-end tests of the dialing loop (whatever the carrier): a
//! clock inside New York's calling hours, a tenant with a consented list, a predictive campaign
//! over it and AVAILABLE agents on it, and the reads and mutations a supervisor makes while it runs.

use super::{TestApp, token};
use chrono::{DateTime, Datelike, SubsecRound, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The wall clock at an offset that a test may move forward (to make a delivery stale).
#[derive(Default)]
pub struct MovableClock(Mutex<TimeDelta>);

impl outdial::clock::Clock for MovableClock {
    fn now(&self) -> DateTime<Utc> {
        (Utc::now() + *self.0.lock().unwrap_or_else(|p| p.into_inner())).trunc_subsecs(6)
    }
}

impl MovableClock {
    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }
}

/// A clock that reads a Tuesday at 15:00 UTC (10:00 in New York, 01:00 in Guam) and runs on.
pub fn weekday_morning_in_new_york() -> Arc<MovableClock> {
    let mut day = Utc::now().date_naive() - TimeDelta::days(7);
    while day.weekday() != chrono::Weekday::Tue {
        day = day.pred_opt().expect("a day before");
    }
    // Not a federal holiday week start: the Tuesday after Labor Day or Christmas is still fine.
    let at = Utc.from_utc_datetime(&day.and_hms_opt(15, 0, 0).expect("15:00"));
    Arc::new(MovableClock(Mutex::new(at - Utc::now())))
}

pub struct Floor {
    pub admin: String,
    pub campaign: String,
    pub agents: Vec<String>,
}

/// Where the `n`th agent of [`set_up`] takes its calls.
pub fn agent_endpoint(n: usize) -> String {
    format!("sip:agent{n}@pbx.example.com")
}

/// A tenant with a list, a predictive campaign over it, and `agents` AVAILABLE agents on it.
pub async fn set_up(app: &TestApp, tenant: &str, phones: &[String], agents: usize, max_attempts: i32) -> Floor {
    let admin = token(tenant, &["admin"]);
    let settings =
        "mutation($input: ComplianceSettingsInput!) { updateComplianceSettings(input: $input) { staleRegistry } }";
    // No National DNC copy is imported in these tests: warn instead of refusing every number.
    app.graphql(Some(&admin), settings, json!({"input": {"staleRegistry": "WARN"}})).await.data();
    // Predictive dialing of a number that may be wireless needs prior express written consent.
    let consent = "mutation($n: String!) { recordConsent(input: {phoneNumber: $n, kind: PRIOR_EXPRESS_WRITTEN, \
                   source: \"web form\"}) { phoneNumber } }";
    for phone in phones {
        app.graphql(Some(&admin), consent, json!({"n": phone})).await.data();
    }
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    let list = app.create_list(&admin, "leads", &phones).await;
    let create = "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }";
    let input = json!({"name": "live", "contactListIds": [list], "dialerMode": "PREDICTIVE", "callerId": "+12125550150",
        "maxAttempts": max_attempts, "retryDelayMinutes": 1, "wrapUpTimeoutSeconds": 5, "costPerMinute": 0.02,
        "script": "Hello {{first_name}}"});
    let campaign = app.graphql(Some(&admin), create, json!({"input": input})).await.data()["createCampaign"]["id"]
        .as_str()
        .expect("campaign id")
        .to_owned();
    let mut ids = Vec::new();
    for n in 0..agents {
        let create = "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }";
        let input = json!({"name": format!("agent {n}"), "endpoint": agent_endpoint(n), "campaignIds": [campaign]});
        let id = app.graphql(Some(&admin), create, json!({"input": input})).await.data()["createAgent"]["id"]
            .as_str()
            .expect("agent id")
            .to_owned();
        let ready = "mutation($id: ID!) { setAgentState(agentId: $id, state: AVAILABLE) { state } }";
        app.graphql(Some(&admin), ready, json!({"id": id})).await.data();
        ids.push(id);
    }
    Floor { admin, campaign, agents: ids }
}

pub async fn calls(app: &TestApp, admin: &str, campaign: &str) -> Vec<Value> {
    let query = "query($c: ID!) { calls(campaignId: $c, first: 500) { edges { node { id contactId agentId attempt \
                 state toNumber outcome disposition amdResult durationSeconds cost } } } }";
    let answer = app.graphql(Some(admin), query, json!({"c": campaign})).await;
    answer.data()["calls"]["edges"].as_array().expect("edges").iter().map(|e| e["node"].clone()).collect()
}

pub async fn campaign_status(app: &TestApp, admin: &str, campaign: &str) -> (String, Option<String>) {
    let query = "query($c: ID!) { campaign(id: $c) { status statusReason } }";
    let data = app.graphql(Some(admin), query, json!({"c": campaign})).await.data()["campaign"].clone();
    (data["status"].as_str().expect("status").to_owned(), data["statusReason"].as_str().map(str::to_owned))
}

/// Dispositions every call that reached an agent and ended, as a supervisor would.
pub async fn disposition_ended(app: &TestApp, admin: &str, calls: &[Value]) -> usize {
    let mut done = 0;
    for call in calls {
        if call["state"] == "ENDED"
            && !call["agentId"].is_null()
            && call["disposition"].is_null()
            && call["outcome"] == "ANSWERED"
        {
            let set =
                "mutation($id: ID!) { dispositionCall(callId: $id, outcome: \"not_interested\") { disposition } }";
            let answer = app.graphql(Some(admin), set, json!({"id": call["id"]})).await;
            if answer.body.get("errors").is_none() {
                done += 1;
            }
        }
    }
    done
}

pub async fn start(app: &TestApp, admin: &str, campaign: &str) {
    let schedule = "mutation($c: ID!) { scheduleCampaign(id: $c) { status } }";
    app.graphql(Some(admin), schedule, json!({"c": campaign})).await.data();
    let start = "mutation($c: ID!) { startCampaign(id: $c) { status } }";
    app.graphql(Some(admin), start, json!({"c": campaign})).await.data();
}
