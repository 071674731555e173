//! `outdial serve`: logs, the service, a first-start admin token, graceful stop on SIGTERM/Ctrl-C.

use outdial::app::{App, cancel_on_signal};
use outdial::auth::{Claims, TokenIssuer};
use outdial::config::Config;
use tracing_subscriber::EnvFilter;

pub fn init_tracing(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}

/// The tenant the first-start admin token is for.
const FIRST_TENANT: &str = "default";

pub async fn run(config: &Config) -> anyhow::Result<()> {
    init_tracing(&config.log);
    let app = App::build(config, outdial::clock::system()).await?;
    let addr = app.local_addr()?;
    println!("outdial listening on http://{addr}");
    println!("GraphiQL: http://{addr}/graphql");
    if let Some(secret) = &app.generated_secret {
        let secret_path = config.state_path("jwt-secret");
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "first-admin".into(),
            tenant: Some(FIRST_TENANT.into()),
            roles: vec!["admin".into()],
            exp: now + 24 * 3600,
            agent_id: None,
            iat: Some(now),
        };
        let token = TokenIssuer::hs256(secret).issue(&claims)?;
        println!("A new JWT secret was written to {} (mode 0600).", secret_path.display());
        println!("Admin token for tenant \"{FIRST_TENANT}\" (24 h; send as `Authorization: Bearer <token>`):\n{token}");
        println!("More tokens: outdial token --tenant {FIRST_TENANT} --role admin");
    }
    tokio::spawn(cancel_on_signal(app.shutdown_token()));
    app.run_until_stopped().await
}
