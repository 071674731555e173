//! The command line as a user runs it: `schema` equals schema.graphql, `serve` makes its secret
//! on first start, `token` signs what the server accepts, `import-contacts` streams a CSV.

mod common;

use serde_json::json;
use std::process::Command;

fn outdial() -> Command {
    Command::new(env!("CARGO_BIN_EXE_outdial"))
}

#[test]
fn schema_graphql_matches_the_code() {
    let printed = outdial().arg("schema").output().expect("run outdial schema");
    assert!(printed.status.success());
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap_or_default();
    assert!(
        String::from_utf8_lossy(&printed.stdout) == file,
        "schema.graphql is out of date: run `cargo run -q -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn first_start_writes_a_private_secret_and_prints_a_working_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("first.db").display());
    let mut child = outdial()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("OUTDIAL_DATABASE_URL", &url)
        .env_remove("OUTDIAL_JWT_SECRET")
        .env("OUTDIAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start outdial serve");
    let secret = dir.path().join("first.db.jwt-secret");
    // Read what serve prints until the admin token line (or 20 s), then stop it.
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.contains("Admin token")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(_) => break,
        }
    }
    // The token itself is printed on the line after its label.
    if let Ok(line) = received.recv_timeout(std::time::Duration::from_secs(2)) {
        printed.push(line);
    }
    child.kill().ok();
    child.wait().ok();
    let stdout = printed.join("\n");
    assert!(secret.exists(), "no secret file; stdout: {stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(stdout.contains("/graphql"), "prints the GraphiQL URL: {stdout}");
    assert!(stdout.contains("Admin token"), "prints an admin token: {stdout}");
    // `outdial token` signs with the same kept secret.
    let token = outdial()
        .args(["token", "--tenant", "acme", "--role", "admin"])
        .env("OUTDIAL_DATABASE_URL", &url)
        .env_remove("OUTDIAL_JWT_SECRET")
        .output()
        .unwrap();
    assert!(token.status.success());
    let kept = std::fs::read_to_string(&secret).unwrap();
    let text = String::from_utf8(token.stdout).unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        text.trim(),
        &jsonwebtoken::DecodingKey::from_secret(kept.trim().as_bytes()),
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .expect("the token verifies with the kept secret");
    assert_eq!(claims.claims["tenant"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_contacts_streams_a_csv_and_reports_rejects() {
    let app = common::spawn_app(common::Backend::Sqlite).await;
    let admin = common::token("acme", &["admin"]);
    let list = app.create_list(&admin, "CSV", &["2124567890"]).await;
    let csv = app._dir.path().join("contacts.csv");
    let mut text = String::from("Phone Number,First Name,State,Plan\n");
    for i in 0..1200 {
        text.push_str(&format!("(646) 555-{:04},Name{i},NY,gold\n", 1000 + i));
    }
    text.push_str("212-456-7890,Dup,NY,\n12345,Bad,NY,\n");
    std::fs::write(&csv, text).unwrap();
    let errors = app._dir.path().join("errors.csv");
    let output = outdial()
        .args(["import-contacts", &list, csv.to_str().unwrap(), "--errors", errors.to_str().unwrap()])
        .env("OUTDIAL_DATABASE_URL", &app.database_url)
        .env("OUTDIAL_JWT_SECRET", common::SECRET)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("imported 1200 contacts"), "{stdout}");
    assert!(stdout.contains("DUPLICATE_PHONE: 1") && stdout.contains("INVALID_NUMBER: 1"), "{stdout}");
    let rejects = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(rejects.lines().count(), 3, "{rejects}");
    let page = app
        .graphql(
            Some(&admin),
            "query($l: ID!) { contacts(listId: $l, first: 2) { totalCount edges { node { firstName fields } } } }",
            json!({"l": list}),
        )
        .await;
    assert_eq!(page.data()["contacts"]["totalCount"], 1201);
    assert_eq!(page.data()["contacts"]["edges"][1]["node"], json!({"firstName": "Name0", "fields": {"Plan": "gold"}}));
}

#[test]
fn simulate_compares_every_strategy_on_one_seed() {
    let output = outdial()
        .args([
            "simulate",
            "--agents",
            "10",
            "--answer-rate",
            "0.25",
            "--days",
            "1",
            "--seed",
            "7",
            "--compare",
            "--json",
        ])
        .output()
        .expect("run outdial simulate");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let runs: Vec<serde_json::Value> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let strategies: Vec<&str> = runs.iter().map(|run| run["strategy"].as_str().unwrap()).collect();
    assert_eq!(strategies, ["predictive", "progressive", "ratio:1", "vicidial", "seed"]);
    for run in &runs {
        assert_eq!(run["seed"], 7);
        for field in ["talkMinutesPerAgentHour", "occupancy", "abandonRate", "maxDailyAbandonRate", "dialsPerAgentHour"]
        {
            assert!(run[field].is_number(), "{field} in {run}");
        }
    }
    let unknown = outdial().args(["simulate", "--strategy", "telepathy"]).output().expect("run");
    assert!(!unknown.status.success());
}

#[test]
fn import_dnc_writes_a_snapshot_the_server_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dnc-212.txt");
    std::fs::write(&file, "2124567890\n212,4567891\nnot a number\n").unwrap();
    let snapshot = dir.path().join("registry.snapshot");
    let output = outdial()
        .args(["import-dnc", file.to_str().unwrap(), "--downloaded", "2026-11-20", "--area-codes", "212,646"])
        .env("OUTDIAL_DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("o.db").display()))
        .env("OUTDIAL_DNC_SNAPSHOT", &snapshot)
        .output()
        .expect("run outdial import-dnc");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("2 added"), "{stdout}");
    assert!(stdout.contains("1 unreadable"), "{stdout}");
    let registry = outdial::compliance::dnc::DncRegistry::read_snapshot(&snapshot).expect("a readable snapshot");
    let listed = outdial::compliance::number::parse("212-456-7891").unwrap();
    assert_eq!(registry.national(listed), outdial::compliance::dnc::RegistryAnswer::Listed);
    let status = registry.status();
    assert_eq!((status[0].numbers, status[0].area_codes), (2, 2));
}
