//! The web console end to end: the real binary runs `serve --demo` on a random port over a temporary
//! SQLite database, and headless Chromium (Debian's `chromium` driven by `playwright-core`,
//! tests/e2e/console.mjs) signs in with the links `serve` prints and with a token of another
//! tenant. The scenarios and their API checks are in console.mjs; screenshots are saved under the
//! target directory (the path is printed). scripts/test.sh installs Chromium and the npm package
//! when missing; without them this test fails and says so, it never skips. The files themselves
//! (types, revalidation, security headers) are checked over plain HTTP.

mod common;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SECRET: &str = "console-e2e-secret-0123456789abcdef0123456789";
const CHROMIUM: &str = "/usr/bin/chromium";
const E2E_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e");
const ARTIFACTS: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/console-e2e");

/// The server, stopped however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How far to run the service's clock ahead: from 11:00 to 12:00 UTC no U.S. zone may be
/// called and the demo dials nothing, so around that hour (10:30 to 12:30, the test's own length
/// included) the server runs 3 hours ahead, when the eastern zones are open. Otherwise none.
fn clock_offset_secs(now: SystemTime) -> i64 {
    let minute_of_day = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 60 % 1440).unwrap_or(0);
    if (10 * 60 + 30..12 * 60 + 30).contains(&minute_of_day) { 3 * 3600 } else { 0 }
}

fn require_browser() {
    let chromium = Path::new(CHROMIUM).exists();
    let playwright = Path::new(E2E_DIR).join("node_modules/playwright-core").exists();
    let node = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        chromium && playwright && node,
        "the browser test needs {CHROMIUM} ({chromium}), node ({node}) and tests/e2e/node_modules ({playwright}): \
         run scripts/test.sh, or scripts/e2e-deps.sh alone, which installs them"
    );
}

/// Starts `outdial serve --demo` and reads what it prints until the demo's console links.
fn start_demo(dir: &Path) -> (Server, mpsc::Receiver<String>) {
    let database = format!("sqlite://{}?mode=rwc", dir.join("console.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["serve", "--demo"])
        .env("OUTDIAL_DATABASE_URL", database)
        .env("OUTDIAL_LISTEN", "127.0.0.1:0")
        .env("OUTDIAL_JWT_SECRET", SECRET)
        .env("OUTDIAL_CARRIER", "simulated")
        // Calls last seconds rather than minutes: the desk agent waits for its call to end.
        .env("OUTDIAL_SIM_TIME_SCALE", "10")
        .env("OUTDIAL_CLOCK_OFFSET_SECS", clock_offset_secs(SystemTime::now()).to_string())
        .env("OUTDIAL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start outdial serve --demo");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = mpsc::channel();
    // Reads to the end, so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    (Server(child), received)
}

/// The lines `serve --demo` printed, up to its agent desktop link (at most 3 minutes).
fn printed_until_agent_link(received: &mpsc::Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut printed: Vec<String> = Vec::new();
    while !printed.iter().any(|l| l.starts_with("Demo agent desktop")) {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => printed.push(line),
            Err(_) => panic!("serve --demo did not print its console links; it printed:\n{}", printed.join("\n")),
        }
    }
    printed
}

/// The URL that follows `label` on a printed line.
fn url_after<'a>(printed: &'a [String], label: &str) -> &'a str {
    let line = printed.iter().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} line"));
    let at = line.find("http://").unwrap_or_else(|| panic!("no URL on {line:?}"));
    line[at..].split_whitespace().next().unwrap_or_default()
}

#[test]
fn the_console_runs_the_wallboard_and_the_agent_desktop_in_a_browser() {
    require_browser();
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, received) = start_demo(dir.path());
    let printed = printed_until_agent_link(&received);
    let base = url_after(&printed, "outdial listening on");
    let supervisor = url_after(&printed, "Demo wallboard:");
    let agent = url_after(&printed, "Demo agent desktop");
    assert!(supervisor.starts_with(&format!("{base}/#token=")), "the link carries the token in the fragment");
    let other = Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["token", "--tenant", "elsewhere", "--role", "supervisor", "--sub", "other-supervisor"])
        .env("OUTDIAL_JWT_SECRET", SECRET)
        .output()
        .expect("outdial token");
    assert!(other.status.success(), "outdial token failed");
    let other = String::from_utf8(other.stdout).expect("token text");

    println!("console e2e: screenshots in {ARTIFACTS}");
    let started = Instant::now();
    let mut node = Command::new("node")
        .arg("console.mjs")
        .current_dir(E2E_DIR)
        .env("CONSOLE_URL", base)
        .env("SUPERVISOR_LINK", supervisor)
        .env("AGENT_LINK", agent)
        .env("OTHER_TOKEN", other.trim())
        .env("ARTIFACTS", ARTIFACTS)
        .env("CHROMIUM", CHROMIUM)
        .spawn()
        .expect("run node tests/e2e/console.mjs");
    let deadline = started + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = node.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = node.kill();
            panic!("the browser scenarios took more than 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(server);
    assert!(status.success(), "the browser scenarios failed ({status}); screenshots in {ARTIFACTS}");
    println!("console e2e: passed in {:.0} s", started.elapsed().as_secs_f64());
}

#[test]
fn the_clock_runs_ahead_only_around_the_hour_nothing_may_be_called() {
    let at = |h: u64, m: u64| UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + h * 3600 + m * 60);
    assert_eq!(clock_offset_secs(at(10, 29)), 0);
    assert_eq!(clock_offset_secs(at(10, 30)), 3 * 3600);
    assert_eq!(clock_offset_secs(at(11, 59)), 3 * 3600);
    assert_eq!(clock_offset_secs(at(12, 30)), 0);
    assert_eq!(clock_offset_secs(at(18, 0)), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_files_are_served_with_their_types_and_revalidated() {
    let app = common::spawn_app(common::Backend::Sqlite).await;
    let get = |path: &str| app.http.get(format!("{}{path}", app.address));
    let page = get("/").send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    assert!(header(&page, "content-security-policy").contains("script-src 'self'"));
    let etag = header(&page, "etag");
    let html = page.text().await.expect("the page");
    assert!(html.contains("/console/main.mjs"), "the page loads its entry module");
    for (file, kind) in [("main.mjs", "text/javascript"), ("console.css", "text/css"), ("icon.svg", "image/svg+xml")] {
        let response = get(&format!("/console/{file}")).send().await.expect("GET a console file");
        assert_eq!(response.status(), 200, "{file}");
        assert!(header(&response, "content-type").starts_with(kind), "{file}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{file}");
    }
    let again = get("/").header("if-none-match", &etag).send().await.expect("revalidate");
    assert_eq!(again.status(), 304, "an unchanged page is not sent again");
    assert_eq!(get("/console/../Cargo.toml").send().await.expect("GET").status(), 404);
    assert_eq!(get("/console/nothing.mjs").send().await.expect("GET").status(), 404);
}
