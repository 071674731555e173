//! The test harness: `spawn_app` starts the real server on a random port over a fresh database
//! (a temporary SQLite file, or a new PostgreSQL database named by a UUID) and returns a client
//! that speaks GraphQL over HTTP and WebSocket. `backend_tests!` runs each test on both
//! backends. PostgreSQL tests need `OUTDIAL_TEST_PG_URL` (scripts/test.sh starts a cluster and
//! sets it); without it they fail and say so — they never skip.
#![allow(dead_code)]

pub mod fake_crm;
pub mod fake_telnyx;
pub mod floor;

use futures_util::{SinkExt, StreamExt};
use outdial::auth::{Claims, TokenIssuer};
use outdial::config::Config;
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::LazyLock;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";
/// The key that seals CRM credentials (base64 of 32 bytes).
pub const SECRET_KEY: &str = "c2VhbGVkLWNyZWRlbnRpYWxzLWtleS0wMTIzNDU2Nzg=";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                std::env::var("TEST_LOG").ok().filter(|f| !f.is_empty() && f != "1").unwrap_or_else(|| "info".into()),
            )
            .try_init();
    }
});

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub database_url: String,
    pub config: Config,
    pub clock: outdial::clock::SharedClock,
    pub _dir: tempfile::TempDir,
    shutdown: tokio_util::sync::CancellationToken,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TestApp {
    /// Stops the server as a SIGTERM would and waits until it has let go of everything.
    pub async fn shutdown_and_wait(&mut self) -> &mut Self {
        self.shutdown.cancel();
        (&mut self.task).await.expect("server task").expect("server stopped cleanly");
        self
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A store over a fresh, migrated database of the backend (its SQLite file in `dir`).
pub async fn migrated_store(backend: Backend, dir: &std::path::Path) -> outdial::store::Store {
    let store =
        outdial::store::Store::connect(&Config::for_database(fresh_database(backend, dir).await)).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A fresh, empty database of the backend.
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("outdial.db").display()),
        Backend::Postgres => {
            let admin = std::env::var("OUTDIAL_TEST_PG_URL")
                .expect("OUTDIAL_TEST_PG_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL");
            let name = format!("outdial_test_{}", uuid::Uuid::new_v4().simple());
            let db = Database::connect(&admin).await.expect("connect to the PostgreSQL test cluster");
            db.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
            db.close().await.ok();
            let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap_or(&admin);
            format!("{base}/{name}")
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_at(backend, configure, outdial::clock::system()).await
}

/// A server whose clock is `clock` (e.g. an offset clock that puts the test inside calling hours).
pub async fn spawn_app_at(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
    clock: outdial::clock::SharedClock,
) -> TestApp {
    let carrier = |config: &Config, clock| outdial::app::carrier(config, clock).expect("the configured carrier");
    spawn_app_with_carrier(backend, configure, clock, carrier, Default::default()).await
}

/// A server with a carrier made by `carrier` (e.g. one wrapping the simulated carrier) and these
/// dialer settings.
pub async fn spawn_app_with_carrier(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
    clock: outdial::clock::SharedClock,
    carrier: impl FnOnce(&Config, outdial::clock::SharedClock) -> std::sync::Arc<dyn outdial::telephony::Carrier>,
    dialer: outdial::dialer::scheduler::DialerSettings,
) -> TestApp {
    LazyLock::force(&TRACING);
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(backend, dir.path()).await;
    let mut config = Config::for_database(database_url.clone());
    config.jwt_secret = Some(SecretString::from(SECRET.to_owned()));
    config.secret_key = Some(SecretString::from(SECRET_KEY.to_owned()));
    configure(&mut config);
    let carrier = carrier(&config, clock.clone());
    let app = outdial::app::App::build_with(&config, clock.clone(), carrier, dialer).await.expect("build the app");
    let address = format!("http://{}", app.local_addr().expect("address"));
    let shutdown = app.shutdown_token();
    let task = tokio::spawn(app.run_until_stopped());
    TestApp { address, http: reqwest::Client::new(), database_url, config, clock, _dir: dir, shutdown, task }
}

/// A second server over the same database as `app` (a restart, or another instance).
pub async fn spawn_app_on(app: &TestApp) -> TestApp {
    let built = outdial::app::App::build(&app.config, app.clock.clone()).await.expect("build the app");
    let address = format!("http://{}", built.local_addr().expect("address"));
    let shutdown = built.shutdown_token();
    let task = tokio::spawn(built.run_until_stopped());
    let dir = tempfile::tempdir().expect("temp dir");
    TestApp {
        address,
        http: reqwest::Client::new(),
        database_url: app.database_url.clone(),
        config: app.config.clone(),
        clock: app.clock.clone(),
        _dir: dir,
        shutdown,
        task,
    }
}

/// A token of the test secret.
pub fn token(tenant: &str, roles: &[&str]) -> String {
    token_with(tenant, roles, None, 3600)
}

pub fn token_with(tenant: &str, roles: &[&str], agent_id: Option<i64>, ttl_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: format!("user-of-{tenant}"),
        tenant: Some(tenant.to_owned()),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        exp: now + ttl_seconds,
        agent_id,
        iat: Some(now),
    };
    TokenIssuer::hs256(&SecretString::from(SECRET.to_owned())).issue(&claims).expect("sign")
}

/// A GraphQL answer: `data` and the codes of its errors.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect()
            })
            .unwrap_or_default()
    }

    /// The one error code of a failed answer.
    pub fn code(&self) -> String {
        let codes = self.codes();
        assert_eq!(codes.len(), 1, "expected one error: {}", self.body);
        codes[0].clone()
    }
}

impl TestApp {
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        let mut request = self.http.post(format!("{}/graphql", self.address)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /graphql");
        let status = response.status().as_u16();
        let body = response.json().await.expect("JSON body");
        Answer { status, body }
    }

    pub async fn create_list(&self, token: &str, name: &str, phones: &[&str]) -> String {
        let contacts: Vec<Value> = phones.iter().map(|p| json!({"phoneNumber": p})).collect();
        let answer = self
            .graphql(
                Some(token),
                "mutation($input: CreateContactListInput!) { createContactList(input: $input) { list { id } } }",
                json!({"input": {"name": name, "contacts": contacts}}),
            )
            .await;
        answer.data()["createContactList"]["list"]["id"].as_str().expect("list id").to_owned()
    }

    pub async fn create_campaign(&self, token: &str, name: &str, list_id: &str) -> String {
        let answer = self
            .graphql(
                Some(token),
                "mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { id } }",
                json!({"input": {"name": name, "contactListIds": [list_id], "dialerMode": "PREDICTIVE"}}),
            )
            .await;
        answer.data()["createCampaign"]["id"].as_str().expect("campaign id").to_owned()
    }

    /// The id of the first contact of a list.
    pub async fn first_contact(&self, token: &str, list: &str) -> i64 {
        let answer = self
            .graphql(
                Some(token),
                "query($l: ID!) { contacts(listId: $l, first: 1) { edges { node { id } } } }",
                json!({"l": list}),
            )
            .await;
        answer.data()["contacts"]["edges"][0]["node"]["id"].as_str().expect("contact id").parse().expect("numeric id")
    }

    /// Writes a call as the dial path does (the call row, its DIAL verdict, the attempt).
    pub async fn dial(&self, tenant: &str, campaign: i64, contact: i64, attempt: i32, to: &str) -> entity::call::Model {
        let store = outdial::store::Store::connect(&self.config).await.expect("connect the store");
        let new = outdial::store::calls::NewCall {
            campaign_id: campaign,
            contact_id: contact,
            attempt,
            carrier: "simulated",
            from_number: "+12125550100".into(),
            to_number: to.into(),
        };
        let tenant = outdial::store::TenantId::new(tenant);
        store.calls().create_dialed(&tenant, new, &safe(to), chrono::Utc::now()).await.expect("write the call")
    }

    /// A call to `contact` (number `to`), taken by `agent`, connected for 30 s and ended: ready
    /// for its disposition.
    pub async fn talked_call(
        &self,
        tenant: &str,
        campaign: i64,
        contact: i64,
        agent: i64,
        attempt: i32,
        to: &str,
    ) -> i64 {
        use outdial::telephony::{CallId, CallLeg, CarrierEvent, CarrierEventKind, HangupCause};
        let store = outdial::store::Store::connect(&self.config).await.expect("connect the store");
        let call = self.dial(tenant, campaign, contact, attempt, to).await;
        let tenant = outdial::store::TenantId::new(tenant);
        store.calls().assign_agent(&tenant, call.id, agent).await.expect("assign the agent");
        let now = chrono::Utc::now();
        let hangup = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        for (n, kind) in [CarrierEventKind::Answered, CarrierEventKind::Bridged, hangup].into_iter().enumerate() {
            let event = CarrierEvent {
                event_id: format!("{}-{n}", call.id),
                occurred_at: now + chrono::TimeDelta::seconds(n as i64 * 30),
                call: Some(CallId(call.id)),
                leg: CallLeg::default(),
                call_control_id: format!("v3:{}", call.id),
                call_session_id: "s".into(),
                kind,
            };
            store.calls().record_event(&event, now).await.expect("record the event");
        }
        store.close().await;
        call.id
    }

    pub async fn create_agent(&self, token: &str, name: &str) -> String {
        let answer = self
            .graphql(
                Some(token),
                "mutation($input: CreateAgentInput!) { createAgent(input: $input) { id } }",
                json!({"input": {"name": name, "skills": [{"name": "sales", "level": 3}], "languages": ["en"]}}),
            )
            .await;
        answer.data()["createAgent"]["id"].as_str().expect("agent id").to_owned()
    }

    /// Opens `/graphql/ws` with `graphql-transport-ws` and sends `connection_init`.
    pub async fn websocket(&self, init_payload: Value) -> WsClient {
        let url = format!("{}/graphql/ws", self.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        let init = json!({"type": "connection_init", "payload": init_payload});
        socket.send(Message::Text(init.to_string().into())).await.expect("send init");
        WsClient { socket }
    }
}

pub struct WsClient {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

/// What the server said next: a JSON message, or a close with its code.
#[derive(Debug)]
pub enum WsEvent {
    Json(Value),
    Closed(Option<u16>),
}

impl WsClient {
    pub async fn next(&mut self) -> WsEvent {
        loop {
            let message = tokio::time::timeout(std::time::Duration::from_secs(10), self.socket.next())
                .await
                .expect("a WebSocket message within 10 s");
            match message {
                Some(Ok(Message::Text(text))) => return WsEvent::Json(serde_json::from_str(&text).expect("JSON")),
                Some(Ok(Message::Close(frame))) => return WsEvent::Closed(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return WsEvent::Closed(None),
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let message = json!({"id": id, "type": "subscribe", "payload": {"query": query, "variables": variables}});
        self.socket.send(Message::Text(message.to_string().into())).await.expect("send subscribe");
    }
}

/// Runs an async test body once on SQLite and once on PostgreSQL:
/// `backend_tests! { async fn name(app: TestApp) { ... } }` makes `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block)+) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($backend: $crate::common::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run($crate::common::Backend::Postgres).await
                }
            }
        )+
    };
}

/// A verdict that lets the dial path write a call (for tests that need call rows).
pub fn safe(number: &str) -> outdial::compliance::verdict::Verdict {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    outdial::compliance::verdict::Verdict {
        phone_number: number.into(),
        safe_to_call: true,
        reasons: vec![],
        warnings: vec![],
        timezones: vec![chrono_tz::America::New_York],
        jurisdictions: vec!["US-NY".into()],
        line_type: None,
        next_safe_call_time: None,
        versions: outdial::compliance::verdict::DataVersions { rules: day, places: day, national_dnc: None },
    }
}
