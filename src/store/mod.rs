//! Database access over the SeaORM entities. This is the only module that builds queries; every
//! function takes the caller's [`TenantId`] and filters by it, so a row of another tenant is
//! `NOT_FOUND`, never visible and never writable.

pub mod agent_states;
pub mod agents;
pub mod calls;
pub mod campaigns;
pub mod compliance;
pub mod contact_lists;
pub mod contacts;
pub mod crm;
pub mod tenants;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use std::time::Duration;

use crate::config::Config;
use crate::error::DomainResult;

pub use crate::auth::TenantId;

/// The database handle shared by the whole service.
#[derive(Clone)]
pub struct Store {
    /// Reads (and, on PostgreSQL, writes too).
    pub(crate) db: DatabaseConnection,
    /// Where every write goes. On SQLite, which takes one writer at a time, it is a pool of one
    /// connection, so writers wait their turn in the pool's queue instead of in SQLite's busy
    /// handler, which sleeps (1, 2, 5, ... 100 ms) and leaves the machine idle while callers
    /// wait; the readers keep the other connections. On PostgreSQL it is `db`.
    pub(crate) writer: DatabaseConnection,
}

impl Store {
    /// Opens the pools. SQLite runs in WAL mode with a few reading connections so reads do not
    /// queue behind one another, and one writing connection whose transactions are IMMEDIATE
    /// (see [`Store::write`]).
    pub async fn connect(config: &Config) -> anyhow::Result<Store> {
        let url = &config.database_url;
        if !url.starts_with("sqlite:") {
            let db = Database::connect(pool_options(url, config.db_max_connections.unwrap_or(10))).await?;
            return Ok(Store { writer: db.clone(), db });
        }
        // The writer first: it creates the file and sets WAL mode before the readers open it.
        let writer = Database::connect(sqlite_options(url, 1)).await?;
        let db = Database::connect(sqlite_options(url, config.db_max_connections.unwrap_or(4))).await?;
        Ok(Store { db, writer })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.writer, None).await?;
        Ok(())
    }

    /// Ready when the database answers and no migration is pending.
    pub async fn ready(&self) -> anyhow::Result<()> {
        self.db.ping().await?;
        let pending = Migrator::get_pending_migrations(&self.db).await?;
        anyhow::ensure!(pending.is_empty(), "{} migrations pending", pending.len());
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// A write transaction. On SQLite it is IMMEDIATE: a deferred transaction that reads and then
    /// writes fails at once with SQLITE_BUSY under concurrency instead of waiting its turn.
    pub(crate) async fn write(&self) -> DomainResult<DatabaseTransaction> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        Ok(self.writer.begin_with_options(options).await?)
    }

    pub async fn close(self) {
        let sqlite = self.backend() == DbBackend::Sqlite;
        if let Err(error) = self.db.close().await {
            tracing::warn!(%error, "closing the database pool");
        }
        if sqlite && let Err(error) = self.writer.close().await {
            tracing::warn!(%error, "closing the database's writing connection");
        }
    }
}

fn pool_options(url: &str, connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(connections).acquire_timeout(Duration::from_secs(10)).sqlx_logging(false);
    options
}

fn sqlite_options(url: &str, connections: u32) -> ConnectOptions {
    let mut options = pool_options(url, connections);
    options
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        })
        .map_sqlx_sqlite_pool_opts(|pool| pool.after_connect(|connection, _| Box::pin(stable_query_plans(connection))));
    options
}

/// Turns on SQLite's query planner stability guarantee for a new connection. Without it, SQLite
/// (3.47 and later) plans `LIMIT ?` with the bound value and so re-prepares every paged query on
/// every run: a third of the CPU time of a page request went to the SQL parser.
async fn stable_query_plans(connection: &mut sea_orm::sqlx::SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3_db_config};
    use std::os::raw::c_int;
    let mut handle = connection.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, and the lock keeps sqlx's worker thread off
    // it during the call. ENABLE_QPSG takes an int (1: on) and a nullable `int*` for the result.
    let rc = unsafe { sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_QPSG, 1 as c_int, std::ptr::null_mut::<c_int>()) };
    if rc != SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(format!("SQLITE_DBCONFIG_ENABLE_QPSG failed: {rc}").into()));
    }
    Ok(())
}

/// One page of a Relay connection: `first` rows after the row with id `after`, by id.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<i64>,
    /// Count every matching row too (only when the client asked for `totalCount`).
    pub with_total: bool,
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: Option<u64>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), has_next: self.has_next, total: self.total }
    }
}

/// Keyset pagination by id over an already tenant-filtered query.
pub(crate) async fn page<E, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    request: PageRequest,
) -> DomainResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total = if request.with_total { Some(select.clone().count(db).await?) } else { None };
    let mut query = select;
    if let Some(after) = request.after {
        query = query.filter(id.gt(after));
    }
    let mut items = query.order_by_asc(id).limit(request.first + 1).all(db).await?;
    let has_next = items.len() as u64 > request.first;
    items.truncate(request.first as usize);
    Ok(Page { items, has_next, total })
}
