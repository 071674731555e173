//! JWT verification and issuing. HS256 with a shared secret, RS256/ES256 with a public key file
//! or an identity provider's JWKS. The accepted algorithms are pinned to the configured keys, so
//! `alg: none` and algorithm-confusion tokens are refused; `exp` is required.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

use super::{Caller, Role, TenantId};
use crate::config::Config;

/// The claims of API.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub tenant: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "agent_id_claim")]
    pub agent_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// `agent_id` may arrive as a number or as a string of digits.
fn agent_id_claim<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(t)) => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the token is malformed or its signature does not verify")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token carries no tenant")]
    NoTenant,
    #[error("the token's key is unknown")]
    UnknownKey,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
}

/// Verifies tokens with every configured key.
pub struct Verifier {
    hs256: Option<DecodingKey>,
    public_key: Option<(DecodingKey, Algorithm)>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Verifier {
    /// Builds the verifier from the configuration and the (possibly generated) HS256 secret.
    pub async fn from_config(config: &Config, hs256_secret: Option<&SecretString>) -> anyhow::Result<Self> {
        let public_key = match &config.jwt_public_key_file {
            Some(path) => Some(read_public_key(path)?),
            None => None,
        };
        let jwks = match &config.jwks_url {
            Some(url) => {
                let jwks = Jwks::new(url.clone())?;
                if let Err(error) = jwks.refresh().await {
                    tracing::warn!(%error, "could not fetch the JWKS yet; will retry on the first token");
                }
                Some(jwks)
            }
            None => None,
        };
        Ok(Verifier {
            hs256: hs256_secret.map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            public_key,
            jwks,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (key, algorithm) = self.key_for(header.alg, header.kid.as_deref()).await?;
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 5;
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            _ => AuthError::Invalid,
        })?;
        caller_from(data.claims)
    }

    async fn key_for(&self, algorithm: Algorithm, kid: Option<&str>) -> Result<(DecodingKey, Algorithm), AuthError> {
        match algorithm {
            Algorithm::HS256 => self.hs256.clone().map(|k| (k, algorithm)).ok_or(AuthError::Algorithm),
            Algorithm::RS256 | Algorithm::ES256 => {
                if let Some(jwks) = &self.jwks
                    && let Some(kid) = kid
                {
                    let (key, key_algorithm) = jwks.key(kid).await?;
                    return if key_algorithm == algorithm { Ok((key, algorithm)) } else { Err(AuthError::Algorithm) };
                }
                match &self.public_key {
                    Some((key, key_algorithm)) if *key_algorithm == algorithm => Ok((key.clone(), algorithm)),
                    Some(_) => Err(AuthError::Algorithm),
                    None if self.jwks.is_some() => Err(AuthError::UnknownKey),
                    None => Err(AuthError::Algorithm),
                }
            }
            _ => Err(AuthError::Algorithm),
        }
    }
}

fn caller_from(claims: Claims) -> Result<Caller, AuthError> {
    let tenant = claims.tenant.filter(|t| !t.trim().is_empty()).ok_or(AuthError::NoTenant)?;
    let expires_at = DateTime::<Utc>::from_timestamp(claims.exp, 0).ok_or(AuthError::Invalid)?;
    Ok(Caller {
        tenant: TenantId::new(tenant),
        user: claims.sub,
        roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        agent_id: claims.agent_id,
        expires_at,
    })
}

fn read_public_key(path: &Path) -> anyhow::Result<(DecodingKey, Algorithm)> {
    let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok((key, Algorithm::RS256));
    }
    DecodingKey::from_ec_pem(&pem)
        .map(|key| (key, Algorithm::ES256))
        .map_err(|_| anyhow::anyhow!("{} holds neither an RSA nor an EC P-256 public key (PEM)", path.display()))
}

/// An identity provider's key set, fetched on start and again (at most every 30 s) when a token
/// names an unknown `kid`, so key rotation needs no restart.
struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, (DecodingKey, Algorithm)>>,
    last_fetch: Mutex<Option<Instant>>,
}

const JWKS_REFETCH_AFTER: Duration = Duration::from_secs(30);

impl Jwks {
    fn new(url: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Jwks { url, http, keys: RwLock::new(HashMap::new()), last_fetch: Mutex::new(None) })
    }

    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        if let Some(found) = self.keys.read().await.get(kid) {
            return Ok(found.clone());
        }
        {
            let mut last = self.last_fetch.lock().await;
            if last.is_some_and(|at| at.elapsed() < JWKS_REFETCH_AFTER) {
                return Err(AuthError::UnknownKey);
            }
            *last = Some(Instant::now());
        }
        if let Err(error) = self.refresh().await {
            tracing::warn!(%error, "JWKS refresh failed");
        }
        self.keys.read().await.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    async fn refresh(&self) -> anyhow::Result<()> {
        let set: JwkSet = self.http.get(&self.url).send().await?.error_for_status()?.json().await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else { continue };
            let algorithm = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => continue,
            };
            keys.insert(kid, (key, algorithm));
        }
        *self.keys.write().await = keys;
        Ok(())
    }
}

/// Signs HS256 tokens (the `outdial token` command and the admin token printed at first start).
pub struct TokenIssuer {
    key: EncodingKey,
}

impl TokenIssuer {
    pub fn hs256(secret: &SecretString) -> Self {
        TokenIssuer { key: EncodingKey::from_secret(secret.expose_secret().as_bytes()) }
    }

    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.key)?)
    }
}

/// The HS256 secret: the configured one, else the one kept beside the database, else (when no
/// public key or JWKS is configured) a new one written there with mode 0600. Returns whether it
/// was just created.
pub fn ensure_hs256_secret(config: &Config) -> anyhow::Result<Option<(SecretString, bool)>> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(Some((secret.clone(), false)));
    }
    let path = config.state_path("jwt-secret");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(Some((SecretString::from(text.trim().to_owned()), false)));
    }
    if config.jwt_public_key_file.is_some() || config.jwks_url.is_some() {
        return Ok(None);
    }
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private_file(&path, &secret)?;
    Ok(Some((SecretString::from(secret), true)))
}

fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
