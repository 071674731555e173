//! Building and running the service: configuration → store (migrated) → keys → schema → router
//! → a listening server that stops gracefully. Used by `outdial serve` and by the tests, which
//! start it on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Verifier, ensure_hs256_secret};
use crate::clock::SharedClock;
use crate::config::CarrierKind;
use crate::config::Config;
use crate::crm::hub::CrmHub;
use crate::crm::outbox;
use crate::dialer::scheduler::{Dialer, DialerSettings, Shared};
use crate::events::EventBus;
use crate::floor::Floor;
use crate::gate::Gate;
use crate::graphql::{ApiState, build_schema};
use crate::http::{HttpState, router};
use crate::store::Store;
use crate::telemetry::Telemetry;
use crate::telephony::simulated::SimulationConfig;
use crate::telephony::telnyx::TelnyxConfig;
use crate::telephony::webhook::{WebhookState, WebhookVerifier};
use crate::telephony::{Carrier, choose_carrier};
use anyhow::Context as _;

/// How often a running server looks for a new DNC snapshot.
const DNC_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// A built service bound to its listener, not yet serving.
pub struct App {
    dialer: Arc<Dialer>,
    listener: TcpListener,
    state: HttpState,
    shutdown: CancellationToken,
    /// The HS256 secret tokens are signed with, when there is one (configured or generated).
    pub hs256_secret: Option<secrecy::SecretString>,
    /// True when this start generated it (first start).
    pub secret_created: bool,
}

impl App {
    pub async fn build(config: &Config, clock: SharedClock) -> anyhow::Result<App> {
        let carrier = carrier(config, clock.clone())?;
        Self::build_with(config, clock, carrier, DialerSettings::default()).await
    }

    /// [`App::build`] with a carrier and dialer settings of the caller's (tests, benchmarks).
    pub async fn build_with(
        config: &Config,
        clock: SharedClock,
        carrier: Arc<dyn Carrier>,
        dialer: DialerSettings,
    ) -> anyhow::Result<App> {
        let store = Store::connect(config).await?;
        store.migrate().await?;
        let secret = ensure_hs256_secret(config)?;
        let verifier = Verifier::from_config(config, secret.as_ref().map(|(s, _)| s)).await?;
        let secret_created = secret.as_ref().is_some_and(|(_, created)| *created);
        let hs256_secret = secret.map(|(s, _)| s);
        let bus = EventBus::default();
        let floor = Arc::new(Floor::new(store.clone(), bus.clone()));
        let gate = Arc::new(Gate::open(store.clone(), config)?);
        let telemetry = Telemetry::default();
        let key_file = config.state_path("secret-key");
        let crm = Arc::new(CrmHub::new(store.clone(), telemetry.clone(), config.secret_key.clone(), key_file));
        let dialer = Dialer::new(Shared {
            store: store.clone(),
            gate: gate.clone(),
            floor: floor.clone(),
            bus: bus.clone(),
            carrier,
            clock: clock.clone(),
            settings: dialer,
            telemetry: telemetry.clone(),
            commands: Default::default(),
            crm: crm.clone(),
        });
        let api = ApiState { store, clock, floor, gate, bus, telemetry, crm, dialer: dialer.clone() };
        let webhooks = match &config.telnyx_public_key {
            Some(key) => Some(WebhookState {
                verifier: Arc::new(WebhookVerifier::from_base64(key)?),
                sink: dialer.clone(),
                clock: api.clock.clone(),
            }),
            None => None,
        };
        let schema = build_schema(api.clone());
        let listener = TcpListener::bind(config.listen).await?;
        Ok(App {
            dialer,
            listener,
            state: HttpState { schema, api, verifier: Arc::new(verifier), webhooks },
            shutdown: CancellationToken::new(),
            hs256_secret,
            secret_created,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn store(&self) -> &Store {
        &self.state.api.store
    }

    /// The shared state the API serves from (store, clock, floor, gate, bus).
    pub fn api(&self) -> &ApiState {
        &self.state.api
    }

    /// Cancelling this token stops the server (and, later, every background task).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token is cancelled, then lets requests in flight finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = self.shutdown.clone();
        let (store, floor) = (self.state.api.store.clone(), self.state.api.floor.clone());
        let reload = tokio::spawn(reload_dnc(self.state.api.gate.clone(), shutdown.clone()));
        let dialer = tokio::spawn(self.dialer.clone().run(shutdown.clone()));
        let api = &self.state.api;
        let outbox =
            tokio::spawn(outbox::run(api.crm.clone(), api.clock.clone(), Default::default(), shutdown.clone()));
        axum::serve(self.listener, router(self.state))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        reload.abort();
        let _ = dialer.await;
        let _ = outbox.await;
        floor.flush().await;
        store.close().await;
        Ok(())
    }
}

/// The configured carrier: Telnyx (API key and connection id required) or the simulated one.
pub fn carrier(config: &Config, clock: SharedClock) -> anyhow::Result<Arc<dyn Carrier>> {
    let telnyx = match config.carrier {
        CarrierKind::Simulated => None,
        CarrierKind::Telnyx => {
            let key = config.telnyx_api_key.clone().context("OUTDIAL_CARRIER=telnyx needs OUTDIAL_TELNYX_API_KEY")?;
            let connection = config
                .telnyx_connection_id
                .clone()
                .context("OUTDIAL_CARRIER=telnyx needs OUTDIAL_TELNYX_CONNECTION_ID")?;
            let mut telnyx = TelnyxConfig::new(key, connection);
            telnyx.base_url = config.telnyx_api_url.clone();
            telnyx.dials_per_second = config.telnyx_dials_per_second;
            telnyx.max_channels = config.telnyx_max_channels;
            Some(telnyx)
        }
    };
    let simulation = SimulationConfig { time_scale: config.sim_time_scale.max(0.01), ..SimulationConfig::default() };
    Ok(choose_carrier(telnyx, simulation, clock)?)
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
