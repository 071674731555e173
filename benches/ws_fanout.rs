//! WebSocket fan-out benchmark: N `campaignMetrics` subscribers of one campaign, each on its own
//! `graphql-transport-ws` connection, and the delay from a change of the campaign's calls to the
//! arrival of figures that reflect it at each subscriber.
//!
//! The server starts in this process as in the integration tests (SQLite, and PostgreSQL when
//! `OUTDIAL_TEST_PG_URL` is set), with the Telnyx webhook enabled. The clients run in a child
//! process (this binary again, with `OUTDIAL_WS_FANOUT_CLIENT` set), so that this process's
//! resident memory before and after the connections are opened is the server's alone, and the
//! child's is reported beside it. The change is a signed `call.answered` webhook the child posts
//! for a call dialed before (the real path: stored, published on the event bus, the campaign's
//! feed recomputes); latency runs from just before the POST to the arrival of the first message
//! whose `answered` count includes it. Several changes per run, spaced 1.0 to 1.5 s apart so
//! that they fall at every phase of the feeds' once-a-second computation.
//!
//! `cargo bench --bench ws_fanout` (SQLite only) or
//! `scripts/with-postgres.sh cargo bench --bench ws_fanout` (both backends).
//! `OUTDIAL_BENCH_SUBSCRIBERS` sets N (default 10,000); the baseline is always 100.

#[path = "../tests/common/mod.rs"]
mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Backend, spawn_app_with, token};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const BASELINE: usize = 100;
const TRIALS: usize = 5;
/// Connections being opened at once.
const OPENING: usize = 200;
/// Client source addresses (127.0.0.2 and up): each has its own ephemeral ports, so runs one
/// after another do not run out of them while earlier ones sit in TIME_WAIT.
const SOURCES: usize = 16;
const CLIENT_ENV: &str = "OUTDIAL_WS_FANOUT_CLIENT";

/// The figures a dashboard shows (the fixed names of API.md), `answered` first.
const SUBSCRIPTION: &str = "subscription($c: ID!) { campaignMetrics(campaignId: $c) { answered totalDials \
                            humanAnswered machineAnswered noAnswer busy abandoned answerRate connectionRate \
                            abandonmentRate callsPerMinute agentsLoggedIn agentsAvailable agentsOnCall \
                            agentUtilization dialLevel contactsRemaining estimatedCompletionTime costTotal } }";

/// What the parent hands the child (as JSON in `OUTDIAL_WS_FANOUT_CLIENT`).
#[derive(serde::Serialize, serde::Deserialize)]
struct ClientSpec {
    server: SocketAddr,
    token: String,
    campaign: i64,
    calls: Vec<i64>,
    key: String,
    subscribers: usize,
}

/// What the child reports back (one JSON line).
#[derive(serde::Serialize, serde::Deserialize)]
struct ClientReport {
    open_seconds: f64,
    received: Vec<usize>,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    rss_growth_kib: u64,
}

/// This process's resident memory, after handing freed heap pages back to the system (so that
/// what an earlier row freed does not hide what this one takes).
fn rss_kib() -> u64 {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe { libc::malloc_trim(0) };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time this process has used (all threads, user and system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th of them, in clock ticks.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / per_second
}

/// Raises the open-file limit to `wanted` (the hard limit too, which needs root or
/// CAP_SYS_RESOURCE); returns the soft limit in force.
fn raise_open_files(wanted: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit write to and read from the struct given, nothing else.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        if limit.rlim_cur < wanted {
            let raised = libc::rlimit { rlim_cur: wanted, rlim_max: limit.rlim_max.max(wanted) };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                let within = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
                libc::setrlimit(libc::RLIMIT_NOFILE, &within);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

fn main() {
    // `cargo bench` passes `--bench`; no other argument is understood.
    if let Ok(spec) = std::env::var(CLIENT_ENV) {
        let spec: ClientSpec = serde_json::from_str(&spec).expect("client spec");
        raise_open_files(spec.subscribers as u64 + 1_024);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        return runtime.block_on(client(spec));
    }
    let subscribers: usize =
        std::env::var("OUTDIAL_BENCH_SUBSCRIBERS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let files = raise_open_files(subscribers as u64 + 1_024);
    assert!(files > subscribers as u64 + 100, "open-file limit {files} is too low for {subscribers} connections");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "{TRIALS} changes per row, {} worker threads per process, open-file limit {files}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| backend    | subscribers | open s | received      | p50 ms  | p99 ms  | max ms  | feeds | server CPU ms/s | server RSS +MiB | server KiB/sub | client KiB/sub |"
    );
    println!(
        "| ---------- | ----------- | ------ | ------------- | ------- | ------- | ------- | ----- | --------------- | --------------- | -------------- | -------------- |"
    );
    runtime.block_on(async {
        let mut backends = vec![Backend::Sqlite];
        if std::env::var_os("OUTDIAL_TEST_PG_URL").is_some() {
            backends.push(Backend::Postgres);
        }
        for backend in backends {
            for n in [BASELINE, subscribers] {
                run(backend, n).await;
            }
        }
        if std::env::var_os("OUTDIAL_TEST_PG_URL").is_none() {
            println!("PostgreSQL not measured: OUTDIAL_TEST_PG_URL is unset (scripts/with-postgres.sh sets it)");
        }
    });
}

/// One row: a fresh server, `n` subscribers in a child process, `TRIALS` changes.
async fn run(backend: Backend, n: usize) {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let public = BASE64.encode(key.verifying_key().to_bytes());
    let app = spawn_app_with(backend, |config| config.telnyx_public_key = Some(public.clone())).await;
    let admin = token("bench", &["admin"]);
    let phones: Vec<String> = (0..TRIALS).map(|i| format!("+1212456{i:04}")).collect();
    let phone_refs: Vec<&str> = phones.iter().map(String::as_str).collect();
    let list = app.create_list(&admin, "fan-out list", &phone_refs).await;
    let campaign: i64 = app.create_campaign(&admin, "fan-out", &list).await.parse().expect("campaign id");
    let contacts = app
        .graphql(
            Some(&admin),
            "query($l: ID!) { contacts(listId: $l) { edges { node { id phoneNumber } } } }",
            json!({"l": list}),
        )
        .await;
    let mut calls = Vec::new();
    for edge in contacts.data()["contacts"]["edges"].as_array().expect("contacts") {
        let contact: i64 = edge["node"]["id"].as_str().and_then(|s| s.parse().ok()).expect("contact id");
        let phone = edge["node"]["phoneNumber"].as_str().expect("phone");
        calls.push(app.dial("bench", campaign, contact, 1, phone).await.id);
    }
    let server: SocketAddr = app.address.trim_start_matches("http://").parse().expect("server address");
    let spec = ClientSpec { server, token: admin, campaign, calls, key: hex::encode(key.to_bytes()), subscribers: n };

    let before = rss_kib();
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(CLIENT_ENV, serde_json::to_string(&spec).expect("spec"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    let mut stdin = child.stdin.take().expect("child stdin");
    let ready = tokio::task::spawn_blocking(move || {
        let line = lines.next().expect("the client's first line").expect("read");
        (line, lines)
    });
    let (line, mut lines) = ready.await.expect("reader");
    assert_eq!(line, "subscribed", "client said {line}");
    // Let the connections settle (a few once-a-second sends each) before reading the memory,
    // and measure the server's CPU time in the steady state: one computation and one message
    // to every subscriber per second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (cpu_before, steady_started) = (cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let steady_cpu_ms = (cpu_seconds() - cpu_before) * 1e3 / steady_started.elapsed().as_secs_f64();
    let after = rss_kib();
    let scrape = app.http.get(format!("{}/metrics", app.address)).send().await.expect("GET /metrics");
    let scrape = scrape.text().await.expect("metrics text");
    let gauge = |name: &str| {
        scrape.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap_or(-1.0)
    };
    let (feeds, open) = (gauge("outdial_campaign_metrics_feeds"), gauge("outdial_subscriptions"));
    assert_eq!(open as usize, n, "subscriptions open on the server");
    writeln!(stdin, "go").expect("tell the client to go");
    let report = tokio::task::spawn_blocking(move || lines.next().expect("the client's report").expect("read"))
        .await
        .expect("reader");
    let report: ClientReport = serde_json::from_str(&report).expect("client report");
    let _ = child.wait();
    let growth = after.saturating_sub(before);
    println!(
        "| {:<10} | {:>11} | {:>6.1} | {:>13} | {:>7.1} | {:>7.1} | {:>7.1} | {:>5} | {:>15.0} | {:>15.1} | {:>14.1} | {:>14.1} |",
        format!("{backend:?}"),
        n,
        report.open_seconds,
        format!("{}/{}", report.received.iter().sum::<usize>(), n * TRIALS),
        report.p50_ms,
        report.p99_ms,
        report.max_ms,
        feeds,
        steady_cpu_ms,
        growth as f64 / 1024.0,
        growth as f64 / n as f64,
        report.rss_growth_kib as f64 / n as f64,
    );
}

/// Opens one subscriber: connection, `connection_init` with the token, `connection_ack`,
/// `subscribe`, and the first figures.
async fn subscriber(index: usize, spec: &ClientSpec) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % SOURCES) as u8);
    socket.bind(SocketAddr::from((source, 0))).expect("bind a source address");
    let stream = socket.connect(spec.server).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut request = format!("ws://{}/graphql/ws", spec.server).into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    // tungstenite zeroes its whole read buffer before every read: 4 KiB rather than the 128 KiB
    // default keeps the clients from taking most of the CPU the server needs.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await.expect("WebSocket handshake");
    let init = json!({"type": "connection_init", "payload": {"authorization": format!("Bearer {}", spec.token)}});
    ws.send(Message::Text(init.to_string().into())).await.expect("send init");
    let subscribe = json!({"id": "1", "type": "subscribe",
        "payload": {"query": SUBSCRIPTION, "variables": {"c": spec.campaign}}});
    let mut acked = false;
    loop {
        let Some(Ok(Message::Text(text))) = ws.next().await else { panic!("subscriber {index}: closed") };
        let message: Value = serde_json::from_str(&text).expect("JSON");
        match message["type"].as_str() {
            Some("connection_ack") if !acked => {
                acked = true;
                ws.send(Message::Text(subscribe.to_string().into())).await.expect("send subscribe");
            }
            Some("next") if message["payload"]["errors"].is_null() => return ws,
            _ => panic!("subscriber {index}: unexpected {message}"),
        }
    }
}

/// The `answered` count of a `next` message, read without parsing the whole message.
fn answered(text: &str) -> Option<usize> {
    let at = text.find("\"answered\":")? + "\"answered\":".len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The child process: opens the subscribers, says `subscribed`, waits for `go`, makes the
/// changes and reports the delivery delays.
async fn client(spec: ClientSpec) {
    let spec = std::sync::Arc::new(spec);
    let before = rss_kib();
    let started = Instant::now();
    let sockets: Vec<_> = futures_util::stream::iter(0..spec.subscribers)
        .map(|index| {
            let spec = spec.clone();
            async move { subscriber(index, &spec).await }
        })
        .buffer_unordered(OPENING)
        .collect()
        .await;
    let open_seconds = started.elapsed().as_secs_f64();
    // Each subscriber reports when it first sees each new `answered` count.
    let (seen, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut highest = 0;
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Text(text) = message
                        && let Some(count) = answered(&text)
                        && count > highest
                    {
                        let now = Instant::now();
                        for change in highest..count {
                            let _ = seen.send((change, now));
                        }
                        highest = count;
                    }
                }
            })
        })
        .collect();
    drop(seen);
    let rss_growth_kib = rss_kib().saturating_sub(before);
    println!("subscribed");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("go");

    let key = SigningKey::from_bytes(&hex::decode(&spec.key).expect("key hex").try_into().expect("32-byte key"));
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(spec.subscribers * TRIALS);
    let mut received = Vec::new();
    let mut pace = rand::rng();
    for (change, call) in spec.calls.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(rand::Rng::random_range(&mut pace, 1_000..1_500))).await;
        let body = telnyx_answered(*call, change);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = BASE64.encode(key.sign(format!("{timestamp}|{body}").as_bytes()).to_bytes());
        let sent = Instant::now();
        let response = http
            .post(format!("http://{}/webhooks/telnyx", spec.server))
            .header("content-type", "application/json")
            .header("telnyx-timestamp", timestamp.to_string())
            .header("telnyx-signature-ed25519", signature)
            .body(body)
            .send()
            .await
            .expect("POST the webhook");
        assert_eq!(response.status(), 200, "webhook refused");
        let mut count = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count < spec.subscribers {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some((seen_change, at))) if seen_change == change => {
                    latencies.push(at.duration_since(sent));
                    count += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        received.push(count);
    }
    for reader in readers {
        reader.abort();
    }
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let report = ClientReport {
        open_seconds,
        received,
        p50_ms: quantile(0.5),
        p99_ms: quantile(0.99),
        max_ms: latencies.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
        rss_growth_kib,
    };
    println!("{}", serde_json::to_string(&report).expect("report"));
    std::io::stdout().flush().expect("flush");
}

/// A Telnyx `call.answered` webhook body for one of the dialed calls.
fn telnyx_answered(call: i64, change: usize) -> String {
    let state = outdial::telephony::ClientState::customer(outdial::telephony::CallId(call)).encode();
    let payload = json!({"call_control_id": format!("v3:{call}"), "call_leg_id": "leg", "call_session_id": "s",
        "client_state": state, "from": "+12125550100", "to": "+12124560000"});
    json!({"data": {"record_type": "event", "event_type": "call.answered", "id": format!("bench-{call}-{change}"),
        "occurred_at": chrono::Utc::now().to_rfc3339(), "payload": payload}})
    .to_string()
}
