//! `outdial serve`: logs, the service, a first-start admin token, graceful stop on SIGTERM/Ctrl-C.
//! It prints the web console's sign-in links (the token in the URL fragment, which browsers
//! never send to the server) for the tokens it issues.

use chrono::TimeDelta;
use outdial::app::{App, cancel_on_signal};
use outdial::auth::{Claims, TokenIssuer};
use outdial::clock::{OffsetClock, SharedClock};
use outdial::config::{CarrierKind, Config};
use outdial::demo;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

pub fn init_tracing(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// The tenant the first-start admin token is for.
const FIRST_TENANT: &str = "default";

/// Who a printed token is for.
struct Holder<'a> {
    tenant: &'a str,
    sub: &'a str,
    role: &'a str,
    agent_id: Option<i64>,
}

pub async fn run(config: &Config, demo: bool, clock_offset_secs: Option<i64>) -> anyhow::Result<()> {
    init_tracing(&config.log);
    anyhow::ensure!(
        !demo || config.carrier == CarrierKind::Simulated,
        "--demo dials synthetic numbers and runs only with the simulated carrier (OUTDIAL_CARRIER=simulated)"
    );
    let app = App::build(config, clock(config, clock_offset_secs)?).await?;
    let addr = app.local_addr()?;
    let base = base_url(addr);
    println!("outdial listening on {base}");
    println!("GraphiQL: {base}/graphql");
    let issue = |holder: Holder| -> anyhow::Result<Option<String>> {
        let Some(secret) = &app.hs256_secret else { return Ok(None) };
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: holder.sub.into(),
            tenant: Some(holder.tenant.into()),
            roles: vec![holder.role.into()],
            exp: now + 24 * 3600,
            agent_id: holder.agent_id,
            iat: Some(now),
        };
        Ok(Some(TokenIssuer::hs256(secret).issue(&claims)?))
    };
    if app.secret_created
        && let Some(token) = issue(Holder { tenant: FIRST_TENANT, sub: "first-admin", role: "admin", agent_id: None })?
    {
        let secret_path = config.state_path("jwt-secret");
        println!("A new JWT secret was written to {} (mode 0600).", secret_path.display());
        println!("Admin token for tenant \"{FIRST_TENANT}\" (24 h; send as `Authorization: Bearer <token>`):\n{token}");
        println!("Web console as this admin: {base}/#token={token}");
        println!("More tokens: outdial token --tenant {FIRST_TENANT} --role admin");
    }
    if demo {
        let api = app.api().clone();
        let seeded = demo::seed(&api.store, &api.floor, &api.clock).await?;
        let desk = seeded.desk_agent;
        tokio::spawn(demo::run_agents(api.store, api.floor, api.bus, api.clock, desk, app.shutdown_token()));
        println!("Demo: tenant \"{}\", campaign {} running with simulated agents.", demo::TENANT, seeded.campaign);
        let supervisor = Holder { tenant: demo::TENANT, sub: "demo-supervisor", role: "supervisor", agent_id: None };
        if let Some(token) = issue(supervisor)? {
            println!("Demo supervisor token (24 h):\n{token}");
            println!("Demo wallboard: {base}/#token={token}");
        }
        let agent = Holder { tenant: demo::TENANT, sub: "demo-desk", role: "agent", agent_id: Some(desk) };
        if let Some(token) = issue(agent)? {
            println!(
                "Demo agent desktop (agent {desk}, \"{}\", yours to drive): {base}/#token={token}",
                demo::DESK_AGENT_NAME
            );
        }
    }
    tokio::spawn(cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await
}

/// The machine's clock, or one running `offset` seconds off it; an offset is refused with a real
/// carrier, where the calling-hours rules must read the true time.
fn clock(config: &Config, offset: Option<i64>) -> anyhow::Result<SharedClock> {
    let Some(offset) = offset.filter(|s| *s != 0) else { return Ok(outdial::clock::system()) };
    anyhow::ensure!(
        config.carrier == CarrierKind::Simulated,
        "--clock-offset-secs (OUTDIAL_CLOCK_OFFSET_SECS) runs only with the simulated carrier: a real carrier's \
         calls must follow the true time"
    );
    let offset = TimeDelta::try_seconds(offset).filter(|d| d.abs() <= TimeDelta::days(7));
    let offset = offset.ok_or_else(|| anyhow::anyhow!("--clock-offset-secs must be within 7 days"))?;
    tracing::warn!(seconds = offset.num_seconds(), "the service clock runs off the machine's (simulated carrier)");
    Ok(Arc::new(OffsetClock(offset)))
}

/// The URL to open: a wildcard listen address is reached on the loopback.
fn base_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    format!("http://{addr}")
}
