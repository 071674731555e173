//! The one typed configuration of outdial: command-line flags, each with its `OUTDIAL_*`
//! environment variable (API.md fixes the names). Secrets are held in `SecretString`, which
//! never prints.

use clap::{Args, ValueEnum};
use secrecy::SecretString;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// `sqlite://FILE?mode=rwc` (embedded default) or `postgres://...`.
    #[arg(long, global = true, env = "OUTDIAL_DATABASE_URL", default_value = "sqlite://outdial.db?mode=rwc")]
    pub database_url: String,

    /// Largest database pool (default: 4 for SQLite, 10 for PostgreSQL).
    #[arg(long, global = true, env = "OUTDIAL_DB_MAX_CONNECTIONS")]
    pub db_max_connections: Option<u32>,

    /// HTTP listen address.
    #[arg(long, global = true, env = "OUTDIAL_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// HS256 secret for JWTs. Without it (and without a public key), `serve` makes one and keeps
    /// it beside the database.
    #[arg(long, global = true, env = "OUTDIAL_JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: Option<SecretString>,

    /// PEM public key (RSA for RS256, EC P-256 for ES256) that verifies tokens of an identity provider.
    #[arg(long, global = true, env = "OUTDIAL_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JWKS URL of an identity provider (RS256/ES256 keys chosen by `kid`, refreshed on unknown kids).
    #[arg(long, global = true, env = "OUTDIAL_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Required `iss` claim, when set.
    #[arg(long, global = true, env = "OUTDIAL_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, global = true, env = "OUTDIAL_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Key that seals CRM credentials at rest (AES-256-GCM; base64 of 32 bytes). Unset: a key
    /// file is generated beside the database (mode 0600) when the first connector is registered.
    #[arg(long, global = true, env = "OUTDIAL_SECRET_KEY", hide_env_values = true, value_parser = any_secret)]
    pub secret_key: Option<SecretString>,

    /// The DNC registry snapshot (`outdial import-dnc` writes it; `serve` reads it and picks up
    /// a new one within a minute). Default: beside the SQLite file.
    #[arg(long, global = true, env = "OUTDIAL_DNC_SNAPSHOT")]
    pub dnc_snapshot: Option<PathBuf>,

    /// Wireless NPA-NXX-X blocks (one per line), read at start: the line type of numbers no
    /// lookup has answered.
    #[arg(long, global = true, env = "OUTDIAL_WIRELESS_BLOCKS")]
    pub wireless_blocks: Option<PathBuf>,

    /// Ported numbers (`NUMBER,W` or `NUMBER,L` per line), read at start.
    #[arg(long, global = true, env = "OUTDIAL_PORTED_NUMBERS")]
    pub ported_numbers: Option<PathBuf>,

    /// Telnyx API key: Number Lookup for line types (and the Telnyx carrier).
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_API_KEY", hide_env_values = true, value_parser = any_secret)]
    pub telnyx_api_key: Option<SecretString>,

    /// The Telnyx account's public key (base64, from the portal): `POST /webhooks/telnyx` is served
    /// only when it is set, and every webhook's Ed25519 signature is checked against it.
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_PUBLIC_KEY")]
    pub telnyx_public_key: Option<String>,

    /// Base URL of the Telnyx API.
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_API_URL", default_value = "https://api.telnyx.com")]
    pub telnyx_api_url: String,

    /// Carrier that places calls.
    #[arg(long, global = true, env = "OUTDIAL_CARRIER", value_enum, default_value_t = CarrierKind::Simulated)]
    pub carrier: CarrierKind,

    /// The Telnyx Call Control Application (connection) that places our calls (Telnyx carrier).
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_CONNECTION_ID")]
    pub telnyx_connection_id: Option<String>,

    /// Dials per second the Telnyx account allows (Telnyx's default is 30: 150 in any 5 s). Every
    /// campaign shares it; a dial over it waits up to a second, then fails.
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_DIALS_PER_SECOND", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub telnyx_dials_per_second: u32,

    /// Concurrent calls the Telnyx account allows (2 at first, 10 after level-2 verification, more
    /// on request). The pacer never holds more lines than that across campaigns.
    #[arg(long, global = true, env = "OUTDIAL_TELNYX_MAX_CHANNELS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub telnyx_max_channels: u32,

    /// Simulated carrier: simulated seconds per wall-clock second (10 makes a 2-minute talk last
    /// 12 s); the dialer's own rules (the 2-s routing budget) always run in real time.
    #[arg(long, global = true, env = "OUTDIAL_SIM_TIME_SCALE", default_value_t = 1.0)]
    pub sim_time_scale: f64,

    /// tracing filter, e.g. `info` or `outdial=debug,info`.
    #[arg(long, global = true, env = "OUTDIAL_LOG", default_value = "info")]
    pub log: String,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CarrierKind {
    Simulated,
    Telnyx,
}

fn parse_secret(value: &str) -> Result<SecretString, String> {
    if value.len() < 32 {
        return Err("OUTDIAL_JWT_SECRET must be at least 32 bytes".into());
    }
    Ok(SecretString::from(value.to_owned()))
}

fn any_secret(value: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(value.to_owned()))
}

impl Config {
    /// A configuration with every default, for a database URL (tests and tools).
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Config {
            database_url: database_url.into(),
            db_max_connections: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: None,
            jwt_public_key_file: None,
            jwks_url: None,
            jwt_issuer: None,
            jwt_audience: None,
            secret_key: None,
            dnc_snapshot: None,
            wireless_blocks: None,
            ported_numbers: None,
            telnyx_api_key: None,
            telnyx_public_key: None,
            telnyx_api_url: "https://api.telnyx.com".into(),
            carrier: CarrierKind::Simulated,
            telnyx_connection_id: None,
            telnyx_dials_per_second: 30,
            telnyx_max_channels: 10,
            sim_time_scale: 1.0,
            log: "info".into(),
        }
    }

    pub fn dnc_snapshot_path(&self) -> PathBuf {
        self.dnc_snapshot.clone().unwrap_or_else(|| self.state_path("dnc-snapshot"))
    }

    /// Where generated secrets live: beside the SQLite file, or in the working directory for
    /// PostgreSQL and in-memory databases.
    pub fn state_path(&self, suffix: &str) -> PathBuf {
        let file = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or(rest))
            .filter(|path| !path.is_empty() && !path.contains(":memory:"));
        match file {
            Some(path) => PathBuf::from(format!("{path}.{suffix}")),
            None => PathBuf::from(format!("outdial.{suffix}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_live_beside_the_sqlite_file() {
        let config = Config::for_database("sqlite:///var/lib/outdial/main.db?mode=rwc");
        assert_eq!(config.state_path("jwt-secret"), PathBuf::from("/var/lib/outdial/main.db.jwt-secret"));
        let config = Config::for_database("sqlite://outdial.db?mode=rwc");
        assert_eq!(config.state_path("jwt-secret"), PathBuf::from("outdial.db.jwt-secret"));
        let config = Config::for_database("postgres://localhost/outdial");
        assert_eq!(config.state_path("jwt-secret"), PathBuf::from("outdial.jwt-secret"));
    }
}
