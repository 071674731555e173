//! Who is calling: the [`Caller`] made once from a verified JWT, its tenant and roles, and the
//! GraphQL guards that enforce the roles of API.md. The tenant comes only from the token, never
//! from GraphQL arguments.

mod jwt;

pub use jwt::{AuthError, Claims, TokenIssuer, Verifier, ensure_hs256_secret};

use async_graphql::{Context, Guard};
use chrono::{DateTime, Utc};
use std::fmt;

use crate::error::{DomainError, DomainResult};

/// The tenant a request acts for. Every store function takes one, so no query can be written
/// without it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "supervisor" => Some(Role::Supervisor),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }

    pub fn as_claim(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

/// The verified caller of one request or one WebSocket connection.
#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant: TenantId,
    /// The `sub` claim: who did it, for audit records.
    pub user: String,
    pub roles: Vec<Role>,
    /// The agent this token speaks for (agent tokens).
    pub agent_id: Option<i64>,
    pub expires_at: DateTime<Utc>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Admins and supervisors: read everything, run campaigns, manage agents.
    pub fn is_staff(&self) -> bool {
        self.has(Role::Admin) || self.has(Role::Supervisor)
    }
}

/// The caller of a resolver, or `UNAUTHENTICATED`.
pub fn caller<'a>(ctx: &Context<'a>) -> DomainResult<&'a Caller> {
    ctx.data_opt::<Caller>().ok_or_else(|| DomainError::Unauthenticated("send `Authorization: Bearer <jwt>`".into()))
}

/// Field guards for the roles of API.md.
pub enum Access {
    /// Any verified caller of the tenant.
    Authenticated,
    /// Admin or supervisor.
    Staff,
    /// Admin only.
    Admin,
}

impl Guard for Access {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let caller = caller(ctx)?;
        let allowed = match self {
            Access::Authenticated => true,
            Access::Staff => caller.is_staff(),
            Access::Admin => caller.has(Role::Admin),
        };
        if allowed {
            Ok(())
        } else {
            let needed = match self {
                Access::Authenticated => "a token",
                Access::Staff => "the admin or supervisor role",
                Access::Admin => "the admin role",
            };
            Err(DomainError::Forbidden(format!("this needs {needed}")).into())
        }
    }
}
