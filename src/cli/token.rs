//! `outdial token`: prints a JWT signed with the configured (or generated) HS256 secret.

use clap::Args;
use outdial::auth::{Claims, Role, TokenIssuer, ensure_hs256_secret};
use outdial::config::Config;

#[derive(Args)]
pub struct TokenArgs {
    /// Tenant id (opaque string).
    #[arg(long)]
    tenant: String,
    /// Role: admin, supervisor or agent (repeat or separate by commas).
    #[arg(long = "role", value_delimiter = ',', required = true)]
    roles: Vec<String>,
    /// Subject (user id).
    #[arg(long, default_value = "cli")]
    sub: String,
    /// The agent this token speaks for (agent tokens).
    #[arg(long)]
    agent_id: Option<i64>,
    /// Lifetime, e.g. 30m, 8h, 7d.
    #[arg(long, default_value = "8h", value_parser = parse_ttl)]
    ttl: i64,
}

fn parse_ttl(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = number.parse().map_err(|_| format!("{text:?}: give a number and a unit, e.g. 8h"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    match n.checked_mul(seconds) {
        Some(ttl) if ttl > 0 => Ok(ttl),
        _ => Err(format!("{text:?} is not a positive lifetime")),
    }
}

pub fn run(config: &Config, args: &TokenArgs) -> anyhow::Result<()> {
    for role in &args.roles {
        anyhow::ensure!(Role::parse(role).is_some(), "unknown role {role:?}: use admin, supervisor or agent");
    }
    anyhow::ensure!(!args.tenant.trim().is_empty(), "--tenant must not be empty");
    let Some((secret, _)) = ensure_hs256_secret(config)? else {
        anyhow::bail!("tokens are verified with a public key or JWKS here; your identity provider issues them");
    };
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: args.sub.clone(),
        tenant: Some(args.tenant.clone()),
        roles: args.roles.clone(),
        exp: now + args.ttl,
        agent_id: args.agent_id,
        iat: Some(now),
    };
    println!("{}", TokenIssuer::hs256(&secret).issue(&claims)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_ttl("8h"), Ok(8 * 3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("7d"), Ok(7 * 86_400));
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("5y").is_err());
    }
}
