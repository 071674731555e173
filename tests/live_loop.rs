//! The live dialing loop end to end, on the simulated carrier in accelerated time: a running
//! campaign dials at the pacer's rate, the gate refuses what it must (and those numbers are never
//! dialed), answered calls reach agents with their screen pop, agents disposition, retries and
//! completion follow the campaign's rules, metrics grow, and a restart loses and repeats nothing.

mod common;

use chrono::TimeDelta;
use common::floor::{Floor, calls, campaign_status, disposition_ended, set_up, start, weekday_morning_in_new_york};
use common::{Backend, TestApp, WsEvent, spawn_app_at, spawn_app_on, spawn_app_with_carrier, token_with};
use outdial::dialer::scheduler::DialerSettings;
use outdial::telephony::{
    AgentEndpoint, CallId, CallLeg, CallStatus, Carrier, CarrierCallRef, CarrierError, CarrierEvent, CarrierEventKind,
    DialRequest, HangupCause, SafeHarbor,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Simulated seconds per real second: a 2-minute talk lasts 3 s.
const TIME_SCALE: f64 = 40.0;

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_at(backend, |c| c.sim_time_scale = TIME_SCALE, weekday_morning_in_new_york()).await
}

/// New York numbers the gate passes, Guam numbers it refuses at that hour, and internal-DNC ones.
fn numbers(new_york: usize) -> (Vec<String>, Vec<String>, Vec<String>) {
    let ny = (0..new_york).map(|i| format!("+1212555{:04}", 2000 + i)).collect();
    let guam = (0..4).map(|i| format!("+1671555{:04}", 2000 + i)).collect();
    let dnc = (0..3).map(|i| format!("+1212555{:04}", 7000 + i)).collect();
    (ny, guam, dnc)
}

/// Waits until the campaign has `count` calls and all have ended, dispositioning those that reached an agent as a
/// supervisor would; fails with `what` after 60 s.
async fn until_all_ended(app: &TestApp, floor: &Floor, count: usize, what: &str) {
    let started = tokio::time::Instant::now();
    loop {
        let rows = calls(app, &floor.admin, &floor.campaign).await;
        disposition_ended(app, &floor.admin, &rows).await;
        if rows.len() == count && rows.iter().all(|c| c["state"] == "ENDED") {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The simulated carrier, but the first `drop` hang-up events never reach outdial (a lost webhook).
struct LosesHangups {
    inner: Arc<dyn Carrier>,
    events: tokio::sync::broadcast::Sender<CarrierEvent>,
}

impl LosesHangups {
    fn new(inner: Arc<dyn Carrier>, drop: usize) -> Arc<Self> {
        let (events, _) = tokio::sync::broadcast::channel(4096);
        let (mut from, to) = (inner.events(), events.clone());
        tokio::spawn(async move {
            let mut dropped = 0;
            while let Ok(event) = from.recv().await {
                if event.kind.is_terminal() && dropped < drop {
                    dropped += 1;
                    continue;
                }
                let _ = to.send(event);
            }
        });
        Arc::new(LosesHangups { inner, events })
    }
}

#[async_trait::async_trait]
impl Carrier for LosesHangups {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn dial(&self, request: DialRequest) -> Result<CarrierCallRef, CarrierError> {
        self.inner.dial(request).await
    }
    async fn bridge(&self, call: &CarrierCallRef, agent: &AgentEndpoint) -> Result<(), CarrierError> {
        self.inner.bridge(call, agent).await
    }
    async fn play_safe_harbor(&self, call: &CarrierCallRef, message: &SafeHarbor) -> Result<(), CarrierError> {
        self.inner.play_safe_harbor(call, message).await
    }
    async fn hangup(&self, call: &CarrierCallRef) -> Result<(), CarrierError> {
        self.inner.hangup(call).await
    }
    async fn call_status(&self, call: &CarrierCallRef) -> Result<CallStatus, CarrierError> {
        self.inner.call_status(call).await
    }
    fn events(&self) -> tokio::sync::broadcast::Receiver<CarrierEvent> {
        self.events.subscribe()
    }
}

crate::backend_tests! {
    /// Calls whose hang-up event was lost are asked for and closed: no line, contact or agent
    /// stays held.
    async fn calls_whose_hang_up_was_lost_are_closed(backend) {
        let dialer = DialerSettings { quiet_allowed: TimeDelta::seconds(1), ring_timeout_secs: 15, ..Default::default() };
        let lossy = |config: &outdial::config::Config, clock| -> Arc<dyn Carrier> {
            LosesHangups::new(outdial::app::carrier(config, clock).unwrap(), 3)
        };
        let app = spawn_app_with_carrier(backend, |c| c.sim_time_scale = TIME_SCALE, weekday_morning_in_new_york(), lossy, dialer).await;
        let (ny, _, _) = numbers(8);
        let floor = set_up(&app, "acme", &ny, 2, 1).await;
        start(&app, &floor.admin, &floor.campaign).await;
        until_all_ended(&app, &floor, ny.len(), "calls stay open").await;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let closed_by_us = entity::call_event::Entity::find()
            .filter(entity::call_event::Column::CarrierEventId.starts_with("outdial-sweep-"))
            .all(&db)
            .await
            .unwrap();
        assert_eq!(closed_by_us.len(), 3, "the three calls whose hang-up was lost");
    }

    /// A campaign dials, routes, gets dispositions and completes; refused numbers are never dialed.
    async fn a_running_campaign_dials_routes_and_completes(backend) {
        let app = spawn(backend).await;
        let (ny, guam, dnc) = numbers(24);
        let phones: Vec<String> = ny.iter().chain(&guam).chain(&dnc).cloned().collect();
        let floor = set_up(&app, "acme", &phones, 4, 1).await;
        let add_dnc = "mutation($n: [String!]!) { addDncNumbers(phoneNumbers: $n) }";
        app.graphql(Some(&floor.admin), add_dnc, json!({"n": dnc})).await.data();

        // An agent's own subscription sees its offers with the screen pop.
        let agent_id: i64 = floor.agents[0].parse().unwrap();
        let mut ws = app.websocket(json!({"authorization": format!("Bearer {}", token_with("acme", &["agent"], Some(agent_id), 600))})).await;
        assert!(matches!(ws.next().await, WsEvent::Json(ref m) if m["type"] == "connection_ack"));
        ws.subscribe("a", "subscription($a: ID!) { agentEvents(agentId: $a) { state callId offer { callId \
            routingMethod screenPop } } }", json!({"a": floor.agents[0]})).await;
        let mut metrics = app.websocket(json!({"authorization": format!("Bearer {}", floor.admin)})).await;
        assert!(matches!(metrics.next().await, WsEvent::Json(ref m) if m["type"] == "connection_ack"));
        metrics.subscribe("m", "subscription($c: ID!) { campaignMetrics(campaignId: $c) { totalDials } }",
            json!({"c": floor.campaign})).await;
        let first_dials = match metrics.next().await {
            WsEvent::Json(m) => m["payload"]["data"]["campaignMetrics"]["totalDials"].as_u64().expect("dials"),
            other => panic!("{other:?}"),
        };
        assert_eq!(first_dials, 0);

        start(&app, &floor.admin, &floor.campaign).await;
        let started = tokio::time::Instant::now();
        let mut offer = None;
        loop {
            let rows = calls(&app, &floor.admin, &floor.campaign).await;
            disposition_ended(&app, &floor.admin, &rows).await;
            while offer.is_none() {
                match tokio::time::timeout(Duration::from_millis(10), ws.next()).await {
                    Ok(WsEvent::Json(m)) if !m["payload"]["data"]["agentEvents"]["offer"].is_null() => {
                        offer = Some(m["payload"]["data"]["agentEvents"]["offer"].clone());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let settled = rows.iter().all(|c| c["state"] == "ENDED" && (c["outcome"] != "ANSWERED" || !c["disposition"].is_null()));
            if rows.len() == ny.len() && settled {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(180), "{} calls after 180 s (a loaded machine): {rows:?}", rows.len());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        eprintln!("{} contacts dialed and settled in {:?}", ny.len(), started.elapsed());
        // The Guam contacts wait for their calling window: the campaign runs on.
        let (status, _) = campaign_status(&app, &floor.admin, &floor.campaign).await;
        assert_eq!(status, "RUNNING");
        let query = "query($c: ID!) { campaignMetrics(campaignId: $c) { contactsRemaining } }";
        let remaining = app.graphql(Some(&floor.admin), query, json!({"c": floor.campaign})).await;
        assert_eq!(remaining.data()["campaignMetrics"]["contactsRemaining"], guam.len());

        let rows = calls(&app, &floor.admin, &floor.campaign).await;
        let dialed: HashSet<&str> = rows.iter().map(|c| c["toNumber"].as_str().unwrap()).collect();
        assert_eq!(rows.len(), ny.len(), "each callable contact is dialed once (max attempts 1)");
        assert_eq!(dialed.len(), ny.len());
        for refused in guam.iter().chain(&dnc) {
            assert!(!dialed.contains(refused.as_str()), "{refused} was dialed");
        }
        assert!(rows.iter().all(|c| c["state"] == "ENDED"));
        let bridged: Vec<&Value> = rows.iter().filter(|c| c["outcome"] == "ANSWERED").collect();
        assert!(!bridged.is_empty(), "some calls reached agents: {rows:?}");
        assert!(bridged.iter().all(|c| !c["agentId"].is_null() && c["cost"].as_f64().is_some()), "{bridged:?}");
        let offer = offer.expect("agent 0 was offered a call");
        assert_eq!(offer["screenPop"]["script"], "Hello {{first_name}}", "no first name: the placeholder stays");
        assert!(offer["screenPop"]["contact"]["phoneNumber"].as_str().unwrap().starts_with("+1212"), "{offer}");

        // The metrics subscription saw the dials grow.
        let mut last = 0;
        while last < rows.len() as u64 {
            match metrics.next().await {
                WsEvent::Json(m) => last = m["payload"]["data"]["campaignMetrics"]["totalDials"].as_u64().unwrap_or(last),
                other => panic!("{other:?}"),
            }
        }

        // Every call has its DIAL verdict in the audit, safe, with the call's id.
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let audit = entity::compliance_decision::Entity::find()
            .filter(entity::compliance_decision::Column::Purpose.eq("DIAL"))
            .all(&db)
            .await
            .unwrap();
        let by_call: HashMap<i64, &entity::compliance_decision::Model> =
            audit.iter().filter_map(|d| d.call_id.map(|c| (c, d))).collect();
        for row in &rows {
            let id: i64 = row["id"].as_str().unwrap().parse().unwrap();
            let decision = by_call.get(&id).unwrap_or_else(|| panic!("call {id} has no DIAL verdict"));
            assert!(decision.safe_to_call);
        }
        // No call was abandoned beyond the target (30 days, the rules' definition).
        let query = "query($c: ID!) { campaignMetrics(campaignId: $c) { abandonmentRate humanAnswered abandoned } }";
        let figures = app.graphql(Some(&floor.admin), query, json!({"c": floor.campaign})).await.data()["campaignMetrics"].clone();
        assert!(figures["abandonmentRate"].as_f64().unwrap() <= 0.03, "{figures}");
    }

    /// A scheduled campaign starts by itself when its time comes.
    async fn a_scheduled_campaign_starts_at_its_time(backend) {
        let app = spawn(backend).await;
        let (ny, _, _) = numbers(2);
        let floor = set_up(&app, "acme", &ny, 0, 1).await;
        let at = app.clock.now() + TimeDelta::seconds(2);
        let schedule = "mutation($c: ID!, $at: DateTime) { scheduleCampaign(id: $c, at: $at) { status } }";
        app.graphql(Some(&floor.admin), schedule, json!({"c": floor.campaign, "at": at})).await.data();
        assert_eq!(campaign_status(&app, &floor.admin, &floor.campaign).await.0, "SCHEDULED");
        let started = tokio::time::Instant::now();
        while campaign_status(&app, &floor.admin, &floor.campaign).await.0 != "RUNNING" {
            assert!(started.elapsed() < Duration::from_secs(6), "not started 4 s after its time");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(app.clock.now() >= at, "started before its time");
    }

    /// A predictive campaign whose 30-day abandonment is over its target keeps dialing, progressively: never more
    /// calls waiting for an answer than agents, and nothing refused for the cap. (Stopping would freeze the rate
    /// above the target; the gate used to refuse every dial, and one early abandon stopped a campaign for 30 days.)
    async fn a_campaign_over_its_abandonment_cap_dials_progressively(backend) {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let app = spawn(backend).await;
        let (ny, _, _) = numbers(9);
        let floor = set_up(&app, "acme", &ny, 2, 1).await;
        // An earlier call of the campaign: a person answered and never reached an agent (1 abandoned of 1).
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let first = entity::contact::Entity::find()
            .filter(entity::contact::Column::PhoneNumber.eq(ny[0].as_str()))
            .one(&db)
            .await
            .unwrap()
            .expect("the first contact");
        let store = outdial::store::Store::connect(&app.config).await.unwrap();
        let tenant = outdial::store::TenantId::new("acme");
        let campaign: i64 = floor.campaign.parse().unwrap();
        let at = app.clock.now() - TimeDelta::minutes(10);
        let new = outdial::store::calls::NewCall {
            campaign_id: campaign,
            contact_id: first.id,
            attempt: 1,
            carrier: "simulated",
            from_number: "+12125550150".into(),
            to_number: ny[0].clone(),
        };
        let call = store.calls().create_dialed(&tenant, new, &common::safe(&ny[0]), at).await.unwrap();
        let hangup = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        for (n, kind) in [CarrierEventKind::Answered, hangup].into_iter().enumerate() {
            let event = CarrierEvent {
                event_id: format!("earlier-{n}"),
                occurred_at: at + TimeDelta::seconds(10 + n as i64),
                call: Some(CallId(call.id)),
                leg: CallLeg::default(),
                call_control_id: format!("earlier-{}", call.id),
                call_session_id: "s".into(),
                kind,
            };
            store.calls().record_event(&event, at).await.unwrap();
        }

        // Supervisors see why: the campaign is paced progressively.
        let query = "query($c: ID!) { campaignMetrics(campaignId: $c) { pacingMode abandonmentRate } }";
        let figures = app.graphql(Some(&floor.admin), query, json!({"c": floor.campaign})).await.data()["campaignMetrics"].clone();
        assert_eq!(figures, json!({"pacingMode": "PROGRESSIVE", "abandonmentRate": 1.0}));
        start(&app, &floor.admin, &floor.campaign).await;
        until_all_ended(&app, &floor, ny.len(), "the campaign stopped dialing").await;
        // Progressive: before the first of the new calls was bridged or ended, no more than one per agent.
        let rows: Vec<entity::call::Model> =
            entity::call::Entity::find().filter(entity::call::Column::Id.ne(call.id)).all(&db).await.unwrap();
        let first_settled = rows.iter().filter_map(|c| c.bridged_at.or(c.ended_at)).min().expect("settled calls");
        let early = rows.iter().filter(|c| c.dialed_at < first_settled).count();
        assert!(early <= floor.agents.len(), "{early} calls dialed for {} agents", floor.agents.len());
        let refusals = entity::compliance_decision::Entity::find().all(&db).await.unwrap();
        assert!(
            refusals.iter().all(|d| !d.reasons.to_string().contains("ABANDON_RATE_CAP")),
            "a dial was refused for the cap"
        );
    }

    /// A campaign whose every contact has had its attempts completes, and says why.
    async fn a_campaign_with_nothing_left_to_call_completes(backend) {
        let app = spawn(backend).await;
        let (ny, _, _) = numbers(5);
        let floor = set_up(&app, "acme", &ny, 2, 1).await;
        start(&app, &floor.admin, &floor.campaign).await;
        let started = tokio::time::Instant::now();
        loop {
            let rows = calls(&app, &floor.admin, &floor.campaign).await;
            disposition_ended(&app, &floor.admin, &rows).await;
            let (status, reason) = campaign_status(&app, &floor.admin, &floor.campaign).await;
            if status == "COMPLETED" {
                assert_eq!(reason.as_deref(), Some("no callable contact left"));
                assert_eq!(rows.len(), 5);
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "still {status} with {} calls", rows.len());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Pausing stops new dials and lets calls in flight end; a restart fails what the old process
    /// left in flight, retries those contacts, and never dials one attempt twice.
    async fn pause_and_restart_lose_and_repeat_nothing(backend) {
        let app = spawn(backend).await;
        let (ny, _, _) = numbers(60);
        let floor = set_up(&app, "acme", &ny, 6, 3).await;
        start(&app, &floor.admin, &floor.campaign).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while calls(&app, &floor.admin, &floor.campaign).await.len() < 8 {
            assert!(tokio::time::Instant::now() < deadline, "no dials");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Stop the process with calls in flight; a new one takes over the same database.
        let mut app = app;
        app.shutdown_and_wait().await;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
        let left: Vec<i64> = entity::call::Entity::find()
            .filter(entity::call::Column::State.ne("ENDED"))
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert!(!left.is_empty(), "the old process had calls in flight");
        let app = spawn_app_on(&app).await;
        let started = tokio::time::Instant::now();
        loop {
            let rows = calls(&app, &floor.admin, &floor.campaign).await;
            let open = rows.iter().filter(|c| left.contains(&c["id"].as_str().unwrap().parse().unwrap()) && c["state"] != "ENDED").count();
            if open == 0 {
                let was_left = |c: &&Value| left.contains(&c["id"].as_str().unwrap().parse().unwrap());
                assert!(rows.iter().filter(was_left).all(|c| c["outcome"] == "FAILED"), "calls found in flight fail: {rows:?}");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{open} calls left in flight by the old process stay open");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The new process keeps dialing; then a pause stops new dials.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pause = "mutation($c: ID!) { pauseCampaign(id: $c) { status } }";
        app.graphql(Some(&floor.admin), pause, json!({"c": floor.campaign})).await.data();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at_pause = calls(&app, &floor.admin, &floor.campaign).await.len();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rows = calls(&app, &floor.admin, &floor.campaign).await;
        assert_eq!(rows.len(), at_pause, "no dial after the pause");
        let mut attempts = HashSet::new();
        for row in &rows {
            assert!(attempts.insert((row["contactId"].clone(), row["attempt"].clone())), "an attempt dialed twice: {row}");
        }
    }
}
