//! Relay connections: opaque cursors, `first` capped at 500, `totalCount` counted only when
//! asked for.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Context, OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{DomainError, DomainResult};
use crate::store::{Page, PageRequest};

pub const DEFAULT_PAGE: i32 = 50;
pub const MAX_PAGE: i32 = 500;

/// A position in a list: the id of the last row seen, encoded so clients treat it as opaque.
pub struct IdCursor(pub i64);

impl CursorType for IdCursor {
    type Error = DomainError;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let invalid = || DomainError::bad_input("after", "not a cursor of this list");
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix("id:").and_then(|n| n.parse().ok()).ok_or_else(invalid)?;
        Ok(IdCursor(id))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("id:{}", self.0))
    }
}

#[derive(SimpleObject)]
pub struct Totals {
    /// Rows matching the filters, over all pages.
    pub total_count: u64,
}

pub type IdConnection<N> = Connection<IdCursor, N, Totals>;

/// Reads `first` and `after` into a page request.
pub fn page_request(ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> DomainResult<PageRequest> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(DomainError::bad_input("first", format!("first must be 0 to {MAX_PAGE}")));
    }
    let after = after.map(|c| IdCursor::decode_cursor(&c)).transpose()?.map(|c| c.0);
    Ok(PageRequest { first: first as u64, after, with_total: ctx.look_ahead().field("totalCount").exists() })
}

/// Turns a page of rows into a connection of nodes.
pub fn connection<M, N: OutputType>(
    page: Page<M>,
    had_cursor: bool,
    id: impl Fn(&M) -> i64,
    node: impl Fn(M) -> DomainResult<N>,
) -> DomainResult<IdConnection<N>> {
    let mut connection =
        Connection::with_additional_fields(had_cursor, page.has_next, Totals { total_count: page.total.unwrap_or(0) });
    for row in page.items {
        let cursor = IdCursor(id(&row));
        connection.edges.push(Edge::new(cursor, node(row)?));
    }
    Ok(connection)
}

/// Reads a GraphQL `ID` of one of our rows.
pub fn row_id(id: &async_graphql::ID, what: &'static str) -> DomainResult<i64> {
    id.parse::<i64>().map_err(|_| DomainError::bad_input("id", format!("{:?} is not a {what} id", id.as_str())))
}
