//! Building and running the service: configuration → store (migrated) → keys → schema → router
//! → a listening server that stops gracefully. Used by `outdial serve` and by the tests, which
//! start it on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Verifier, ensure_hs256_secret};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::events::{CallEventSink, EventBus};
use crate::floor::Floor;
use crate::gate::Gate;
use crate::graphql::{ApiState, build_schema};
use crate::http::{HttpState, router};
use crate::store::Store;
use crate::telephony::webhook::{WebhookState, WebhookVerifier};

/// How often a running server looks for a new DNC snapshot.
const DNC_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A built service bound to its listener, not yet serving.
pub struct App {
    listener: TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
    /// Set when this start generated the HS256 secret (first start).
    pub generated_secret: Option<secrecy::SecretString>,
}

impl App {
    pub async fn build(config: &Config, clock: SharedClock) -> anyhow::Result<App> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        let secret = ensure_hs256_secret(config)?;
        let verifier = Verifier::from_config(config, secret.as_ref().map(|(s, _)| s)).await?;
        let generated_secret = secret.and_then(|(s, created)| created.then_some(s));
        let bus = EventBus::default();
        let floor = Arc::new(Floor::new(store.clone(), bus.clone()));
        let gate = Arc::new(Gate::open(store.clone(), config)?);
        let api = ApiState { store, clock, floor, gate, bus, telemetry: Default::default() };
        let webhooks = match &config.telnyx_public_key {
            Some(key) => Some(WebhookState {
                verifier: Arc::new(WebhookVerifier::from_base64(key)?),
                sink: Arc::new(CallEventSink {
                    store: api.store.clone(),
                    bus: api.bus.clone(),
                    clock: api.clock.clone(),
                }),
                clock: api.clock.clone(),
            }),
            None => None,
        };
        let schema = build_schema(api.clone());
        let listener = TcpListener::bind(config.listen).await?;
        Ok(App {
            listener,
            state: HttpState { schema, api, verifier: Arc::new(verifier), webhooks },
            shutdown: CancellationToken::new(),
            generated_secret,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn store(&self) -> &Store {
        &self.state.api.store
    }

    /// Cancelling this token stops the server (and, later, every background task).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let store = self.state.api.store.clone();
        let reload = tokio::spawn(reload_dnc(self.state.api.gate.clone(), shutdown.clone()));
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        reload.abort();
        store.close().await;
        Ok(())
    }
}

/// Picks up a new DNC snapshot while serving; a bad file is logged and the old registry kept.
async fn reload_dnc(gate: Arc<Gate>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(DNC_RELOAD_EVERY);
    every.tick().await;
    while tokio::select! { _ = every.tick() => true, _ = shutdown.cancelled() => false } {
        let gate = gate.clone();
        match tokio::task::spawn_blocking(move || gate.reload_if_changed()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "the new DNC snapshot could not be read; keeping the old one"),
            Err(error) => tracing::error!(%error, "DNC reload task failed"),
        }
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
    token.cancel();
}
