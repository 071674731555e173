//! CRM benchmark: the real `App` in-process over a fresh database, with a Salesforce connector
//! registered against the fake Salesforce of the tests (loopback, no artificial delay).
//!
//! - **Outbox deliveries per second**: `OUTDIAL_BENCH_DELIVERIES` (default 3,000) call
//!   activities queued at once (written straight to the outbox, then made due in one update),
//!   drained by the delivery worker: claim under a lease, person lookup (cached), the
//!   idempotent Task creation (a query for the call's Task, then the create), the settle. The
//!   baseline, in the same run: the same number of `log_call`s straight to the connector, with
//!   the worker's concurrency (16) and no database; the ratio is what the outbox costs.
//! - **Screen-pop lookup latency**: `CrmHub::screen_pop` for a number looked up before (warm
//!   cache), against the baseline of `find_by_phone` asking the fake CRM each time.
//!
//! `cargo bench --bench crm_outbox` (SQLite only) or
//! `scripts/with-postgres.sh cargo bench --bench crm_outbox` (both backends).

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{TimeDelta, Utc};
use common::Backend;
use common::fake_crm::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, salesforce_server};
use entity::{call, crm_outbox};
use futures_util::StreamExt;
use outdial::auth::TenantId;
use outdial::crm::settings::{ConnectorSettings, Settings};
use outdial::crm::{CallActivity, CrmConnector};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TENANT: &str = "acme";
/// The fake Salesforce knows this person.
const PHONE: &str = "+14155551212";
const IN_FLIGHT: usize = 16;
const WARM_LOOKUPS: usize = 20_000;
const COLD_LOOKUPS: usize = 1_000;
/// How often the bench counts delivered rows (the drain time is known to within this).
const POLL_MS: u64 = 100;

fn settings(base: &str) -> Settings {
    Settings {
        timeout: Duration::from_secs(5),
        connector: ConnectorSettings::Salesforce {
            login_url: base.parse().expect("URL"),
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
            refresh_token: SecretString::from(REFRESH_TOKEN),
            api_version: "v62.0".to_owned(),
            task_status: "Completed".to_owned(),
        },
    }
}

fn activity(call: i64) -> CallActivity {
    CallActivity {
        call_id: format!("outdial:{TENANT}:{call}"),
        who: None,
        started_at: Utc::now(),
        duration: Duration::from_secs(95),
        disposition: "sale".to_owned(),
        subject: "Call: bench (sale)".to_owned(),
        notes: "renewed".to_owned(),
        from_number: Some("+12125550100".to_owned()),
        to_number: PHONE.to_owned(),
    }
}

/// Median and 99th percentile of microsecond samples.
fn quantiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

struct Figures {
    backend: &'static str,
    deliveries: usize,
    outbox_per_sec: f64,
    baseline_per_sec: f64,
    warm: (f64, f64),
    cold: (f64, f64),
}

async fn run(backend: Backend, name: &'static str, deliveries: usize) -> Figures {
    let app = common::spawn_app(backend).await;
    let admin = common::token(TENANT, &["admin"]);
    let list = app.create_list(&admin, "bench", &[PHONE]).await;
    let campaign: i64 = app.create_campaign(&admin, "bench", &list).await.parse().expect("id");
    let contact = app.first_contact(&admin, &list).await;
    let (sf_state, base) = salesforce_server(|_| {}).await;
    let store = outdial::store::Store::connect(&app.config).await.expect("store");
    let telemetry = outdial::telemetry::Telemetry::default();
    let hub = outdial::crm::hub::CrmHub::new(store.clone(), telemetry, app.config.secret_key.clone(), "unused".into());
    let tenant = TenantId::new(TENANT);
    let connector =
        hub.register(&tenant, "Sales", settings(&base), true, Utc::now()).await.expect("register the connector");

    // The calls and their queued activities, not yet due.
    let db = sea_orm::Database::connect(&app.database_url).await.expect("db");
    let later = Utc::now() + TimeDelta::hours(1);
    for chunk in (1..=deliveries as i32).collect::<Vec<_>>().chunks(500) {
        let calls = chunk.iter().map(|attempt| call::ActiveModel {
            tenant_id: Set(TENANT.to_owned()),
            campaign_id: Set(campaign),
            contact_id: Set(contact),
            agent_id: Set(None),
            attempt: Set(*attempt),
            carrier: Set("simulated".to_owned()),
            carrier_call_id: Set(None),
            carrier_session_id: Set(None),
            from_number: Set("+12125550100".to_owned()),
            to_number: Set(PHONE.to_owned()),
            state: Set("ENDED".to_owned()),
            dialed_at: Set(Utc::now()),
            answered_at: Set(None),
            bridged_at: Set(None),
            ended_at: Set(Some(Utc::now())),
            outcome: Set(Some("ANSWERED".to_owned())),
            disposition: Set(Some("sale".to_owned())),
            notes: Set(None),
            callback_at: Set(None),
            amd_result: Set(None),
            duration_seconds: Set(Some(95)),
            cost: Set(None),
            created_at: Set(Utc::now()),
            ..Default::default()
        });
        call::Entity::insert_many(calls).exec_without_returning(&db).await.expect("calls");
    }
    let ids: Vec<i64> = call::Entity::find().all(&db).await.expect("calls").into_iter().map(|c| c.id).collect();
    for chunk in ids.chunks(500) {
        let rows = chunk.iter().map(|id| crm_outbox::ActiveModel {
            tenant_id: Set(TENANT.to_owned()),
            connector_id: Set(connector.id),
            call_id: Set(*id),
            action: Set("LOG_CALL".to_owned()),
            payload: Set(serde_json::to_value(activity(*id)).expect("JSON")),
            status: Set("PENDING".to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(later),
            last_error: Set(None),
            external_id: Set(None),
            created_at: Set(Utc::now()),
            delivered_at: Set(None),
            ..Default::default()
        });
        crm_outbox::Entity::insert_many(rows).exec_without_returning(&db).await.expect("outbox");
    }

    // Outbox: make every row due at once and wait for the worker to drain them.
    let started = Instant::now();
    crm_outbox::Entity::update_many()
        .col_expr(crm_outbox::Column::NextAttemptAt, Expr::value(Utc::now() - TimeDelta::seconds(1)))
        .exec(&db)
        .await
        .expect("make due");
    loop {
        let delivered = crm_outbox::Entity::find()
            .filter(crm_outbox::Column::TenantId.eq(TENANT))
            .filter(crm_outbox::Column::Status.eq("DELIVERED"))
            .count(&db)
            .await
            .expect("count");
        if delivered as usize == ids.len() {
            break;
        }
        if started.elapsed() > Duration::from_secs(300) {
            let stuck = crm_outbox::Entity::find()
                .filter(crm_outbox::Column::Status.ne("DELIVERED"))
                .all(&db)
                .await
                .expect("the rows left");
            panic!("{delivered} of {} delivered in 5 min; left: {stuck:#?}", ids.len());
        }
        if started.elapsed().as_millis() % 5_000 < POLL_MS as u128 {
            eprintln!("  {delivered} delivered after {:.0?}", started.elapsed());
        }
        // Polled sparingly: the count competes with the worker for the database and the cores.
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
    let outbox_per_sec = ids.len() as f64 / started.elapsed().as_secs_f64();
    let tasks = sf_state.lock().expect("fake").tasks.len();
    assert_eq!(tasks, ids.len(), "one Task per call");

    // Baseline: the same number of Tasks straight to the CRM, 16 at a time.
    let direct: Arc<dyn CrmConnector> = settings(&base).connect();
    let started = Instant::now();
    futures_util::stream::iter(0..ids.len() as i64)
        .map(|n| {
            let direct = direct.clone();
            async move {
                let mut a = activity(1_000_000 + n);
                a.who = Some(outdial::crm::ExternalId::from("003000000000001"));
                direct.log_call(&a).await.expect("log_call")
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<Vec<_>>()
        .await;
    let baseline_per_sec = ids.len() as f64 / started.elapsed().as_secs_f64();

    // Screen-pop lookups: warm cache, and the CRM asked each time.
    hub.screen_pop(&tenant, PHONE, Duration::from_secs(5)).await.expect("the record");
    let mut warm = Vec::with_capacity(WARM_LOOKUPS);
    for _ in 0..WARM_LOOKUPS {
        let t = Instant::now();
        let record = hub.screen_pop(&tenant, PHONE, Duration::from_secs(5)).await;
        warm.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(record.is_some());
    }
    let mut cold = Vec::with_capacity(COLD_LOOKUPS);
    for _ in 0..COLD_LOOKUPS {
        let t = Instant::now();
        let record = direct.find_by_phone(PHONE).await.expect("lookup");
        cold.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(record.is_some());
    }
    store.close().await;
    Figures {
        backend: name,
        deliveries: ids.len(),
        outbox_per_sec,
        baseline_per_sec,
        warm: quantiles(warm),
        cold: quantiles(cold),
    }
}

fn main() {
    let deliveries: usize =
        std::env::var("OUTDIAL_BENCH_DELIVERIES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let mut backends = vec![(Backend::Sqlite, "SQLite")];
    if std::env::var_os("OUTDIAL_TEST_PG_URL").is_some() {
        backends.push((Backend::Postgres, "PostgreSQL"));
    } else {
        println!("PostgreSQL not measured: OUTDIAL_TEST_PG_URL is unset (use scripts/with-postgres.sh)");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut rows = Vec::new();
    for (backend, name) in backends {
        eprintln!("running {name}: {deliveries} deliveries");
        rows.push(runtime.block_on(run(backend, name, deliveries)));
    }
    println!();
    println!(
        "| backend    | deliveries | outbox /s | direct /s (baseline) | ratio | warm lookup p50 µs | p99 µs | CRM lookup p50 µs | p99 µs | speed-up p50 |"
    );
    println!(
        "| ---------- | ---------: | --------: | -------------------: | ----: | -----------------: | -----: | ----------------: | -----: | -----------: |"
    );
    for f in rows {
        println!(
            "| {:<10} | {:>10} | {:>9.0} | {:>20.0} | {:>5.2} | {:>18.1} | {:>6.1} | {:>17.0} | {:>6.0} | {:>11.0}x |",
            f.backend,
            f.deliveries,
            f.outbox_per_sec,
            f.baseline_per_sec,
            f.outbox_per_sec / f.baseline_per_sec,
            f.warm.0,
            f.warm.1,
            f.cold.0,
            f.cold.1,
            f.cold.0 / f.warm.0,
        );
    }
}
