//! `outdial serve`: logs, the service, a first-start admin token, graceful stop on SIGTERM/Ctrl-C.

use outdial::app::{App, cancel_on_signal};
use outdial::auth::{Claims, TokenIssuer};
use outdial::config::{CarrierKind, Config};
use outdial::demo;
use tracing_subscriber::EnvFilter;

pub fn init_tracing(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// The tenant the first-start admin token is for.
const FIRST_TENANT: &str = "default";

pub async fn run(config: &Config, demo: bool) -> anyhow::Result<()> {
    init_tracing(&config.log);
    anyhow::ensure!(
        !demo || config.carrier == CarrierKind::Simulated,
        "--demo dials synthetic numbers and runs only with the simulated carrier (OUTDIAL_CARRIER=simulated)"
    );
    let app = App::build(config, outdial::clock::system()).await?;
    let addr = app.local_addr()?;
    println!("outdial listening on http://{addr}");
    println!("GraphiQL: http://{addr}/graphql");
    let issue = |tenant: &str, sub: &str, role: &str| -> anyhow::Result<Option<String>> {
        let Some(secret) = &app.hs256_secret else { return Ok(None) };
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: sub.into(),
            tenant: Some(tenant.into()),
            roles: vec![role.into()],
            exp: now + 24 * 3600,
            agent_id: None,
            iat: Some(now),
        };
        Ok(Some(TokenIssuer::hs256(secret).issue(&claims)?))
    };
    if app.secret_created
        && let Some(token) = issue(FIRST_TENANT, "first-admin", "admin")?
    {
        let secret_path = config.state_path("jwt-secret");
        println!("A new JWT secret was written to {} (mode 0600).", secret_path.display());
        println!("Admin token for tenant \"{FIRST_TENANT}\" (24 h; send as `Authorization: Bearer <token>`):\n{token}");
        println!("More tokens: outdial token --tenant {FIRST_TENANT} --role admin");
    }
    if demo {
        let api = app.api().clone();
        let campaign = demo::seed(&api.store, &api.floor, &api.clock).await?;
        tokio::spawn(demo::run_agents(api.store, api.floor, api.bus, api.clock, app.shutdown_token()));
        println!("Demo: tenant \"{}\", campaign {campaign} running with simulated agents.", demo::TENANT);
        if let Some(token) = issue(demo::TENANT, "demo-supervisor", "supervisor")? {
            println!("Demo supervisor token (24 h):\n{token}");
        }
    }
    tokio::spawn(cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await
}
