//! API load benchmark: starts the real server (as the integration tests do) on SQLite and, when
//! `OUTDIAL_TEST_PG_URL` is set (scripts/bench.sh sets it), on PostgreSQL; drives it over HTTP
//! with 50 concurrent keep-alive clients sending a campaigns-list query and a 100-contact page
//! query; prints requests/s and p50/p99 per query, with `GET /healthz` on the same clients as the
//! baseline (the HTTP stack without GraphQL or the database).
//!
//! `cargo bench --bench api_load` (SQLite only) or `scripts/bench.sh` (both backends).
//! `OUTDIAL_BENCH_SECONDS` sets the measured seconds per run (default 10).

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Backend, TestApp, spawn_app, token};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;
const CONTACTS: usize = 1_000;
const CAMPAIGNS: usize = 20;

const CAMPAIGNS_QUERY: &str = "query { campaigns(first: 20) { totalCount edges { cursor node { id name status \
                               dialerMode priority maxAttempts } } pageInfo { hasNextPage endCursor } } }";
const CONTACTS_QUERY: &str = "query($list: ID!) { contacts(listId: $list, first: 100) { edges { cursor node { id \
                              phoneNumber firstName lastName state zip status attempts } } pageInfo { hasNextPage \
                              endCursor } } }";

#[derive(Clone, Copy)]
enum Load {
    Healthz,
    Campaigns,
    Contacts,
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Healthz => "GET /healthz (baseline)",
            Load::Campaigns => "campaigns(first: 20)",
            Load::Contacts => "contacts(first: 100)",
        }
    }
}

struct Figures {
    requests: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn seed(app: &TestApp, admin: &str) -> String {
    let phones: Vec<String> = (0..CONTACTS).map(|i| format!("+121273{i:05}")).collect();
    let phones: Vec<&str> = phones.iter().map(String::as_str).collect();
    let list = app.create_list(admin, "bench list", &phones).await;
    for n in 0..CAMPAIGNS {
        app.create_campaign(admin, &format!("bench campaign {n}"), &list).await;
    }
    list
}

fn body_for(load: Load, list: &str) -> Value {
    match load {
        Load::Campaigns => json!({"query": CAMPAIGNS_QUERY}),
        Load::Contacts => json!({"query": CONTACTS_QUERY, "variables": {"list": list}}),
        Load::Healthz => Value::Null,
    }
}

/// One client: requests back to back until `until`, checking every answer; returns latencies (µs).
async fn client(
    http: reqwest::Client,
    address: String,
    bearer: String,
    load: Load,
    body: Value,
    until: Instant,
) -> Vec<u32> {
    let mut latencies = Vec::with_capacity(16_384);
    let body = serde_json::to_vec(&body).expect("body");
    while Instant::now() < until {
        let started = Instant::now();
        let response = match load {
            Load::Healthz => http.get(format!("{address}/healthz")).send().await,
            _ => {
                http.post(format!("{address}/graphql"))
                    .bearer_auth(&bearer)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
            }
        }
        .expect("request");
        assert!(response.status().is_success(), "status {}", response.status());
        let bytes = response.bytes().await.expect("body");
        assert!(!bytes.windows(8).any(|w| w == b"\"errors\""), "GraphQL errors: {}", String::from_utf8_lossy(&bytes));
        latencies.push(started.elapsed().as_micros() as u32);
    }
    latencies
}

async fn run_load(app: &TestApp, bearer: &str, list: &str, load: Load, seconds: u64) -> Figures {
    let http = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build().expect("client");
    // Warm up: connections open, statements prepared, caches filled.
    let warm_until = Instant::now() + Duration::from_secs(1);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client(
                http.clone(),
                app.address.clone(),
                bearer.into(),
                load,
                body_for(load, list),
                warm_until,
            ))
        })
        .collect();
    for task in tasks {
        task.await.expect("warm-up client");
    }
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client(http.clone(), app.address.clone(), bearer.into(), load, body_for(load, list), until))
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let quantile = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)] as f64 / 1e3;
    Figures {
        requests: latencies.len(),
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
    }
}

async fn bench_backend(backend: Backend, seconds: u64) {
    let app = spawn_app(backend).await;
    let admin = token("bench", &["admin"]);
    let list = seed(&app, &admin).await;
    let mut baseline = None;
    for load in [Load::Healthz, Load::Campaigns, Load::Contacts] {
        let figures = run_load(&app, &admin, &list, load, seconds).await;
        let ratio = baseline.map(|b: f64| format!("{:.2}", figures.per_second / b)).unwrap_or_else(|| "1.00".into());
        baseline.get_or_insert(figures.per_second);
        println!(
            "| {:<10} | {:<24} | {:>8} | {:>9.0} | {:>8} | {:>7.2} | {:>7.2} |",
            format!("{backend:?}"),
            load.name(),
            figures.requests,
            figures.per_second,
            ratio,
            figures.p50_ms,
            figures.p99_ms
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; no other argument is understood.
    let seconds = std::env::var("OUTDIAL_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "{CLIENTS} concurrent clients, {seconds} s per row, {} worker threads",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| backend    | query                    | requests |     req/s | vs base  | p50 ms  | p99 ms  |");
    println!("| ---------- | ------------------------ | -------- | --------- | -------- | ------- | ------- |");
    runtime.block_on(async {
        bench_backend(Backend::Sqlite, seconds).await;
        if std::env::var_os("OUTDIAL_TEST_PG_URL").is_some() {
            bench_backend(Backend::Postgres, seconds).await;
        } else {
            println!("PostgreSQL not measured: OUTDIAL_TEST_PG_URL is unset (scripts/bench.sh sets it)");
        }
    });
}
