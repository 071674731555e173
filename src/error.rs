//! The one domain error of outdial and its mapping to GraphQL errors with `extensions.code`.
//!
//! Store functions and resolvers return [`DomainError`]. Only the variants a client can act on
//! carry their message to the client; an unexpected error is logged with its whole source chain
//! and reaches the client as `INTERNAL` with an incident id, never with database text or secrets.
//! (async-graphql's blanket `From<Display>` conversion is switched off by the
//! `custom-error-conversion` feature, so nothing converts to a client error by accident.)

use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    #[error("authentication required: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A row that does not exist or belongs to another tenant: never "forbidden".
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    BadInput { message: String, field: Option<&'static str> },
    #[error("{0}")]
    Conflict(String),
    /// Anything unexpected; shared so the error stays cheap to clone (GraphQL needs `Clone`).
    #[error(transparent)]
    Internal(Arc<anyhow::Error>),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::BadInput { message: message.into(), field: Some(field) }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        DomainError::Conflict(message.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            DomainError::Unauthenticated(_) => "UNAUTHENTICATED",
            DomainError::Forbidden(_) => "FORBIDDEN",
            DomainError::NotFound(_) => "NOT_FOUND",
            DomainError::BadInput { .. } => "BAD_USER_INPUT",
            DomainError::Conflict(_) => "CONFLICT",
            DomainError::Internal(_) => "INTERNAL",
        }
    }
}

impl From<anyhow::Error> for DomainError {
    fn from(error: anyhow::Error) -> Self {
        DomainError::Internal(Arc::new(error))
    }
}

impl From<DbErr> for DomainError {
    fn from(error: DbErr) -> Self {
        match error.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                DomainError::conflict("a row with the same unique key already exists")
            }
            _ => DomainError::from(anyhow::Error::new(error).context("database")),
        }
    }
}

impl From<DomainError> for async_graphql::Error {
    fn from(error: DomainError) -> Self {
        let code = error.code();
        match &error {
            DomainError::Internal(source) => {
                let incident = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(%incident, error = ?source, "internal error");
                async_graphql::Error::new("internal error").extend_with(|_, e| {
                    e.set("code", code);
                    e.set("incident", incident.clone());
                })
            }
            DomainError::BadInput { field, .. } => {
                let field = *field;
                async_graphql::Error::new(error.to_string()).extend_with(|_, e| {
                    e.set("code", code);
                    if let Some(field) = field {
                        e.set("field", field);
                    }
                })
            }
            _ => async_graphql::Error::new(error.to_string()).extend_with(|_, e| e.set("code", code)),
        }
    }
}
