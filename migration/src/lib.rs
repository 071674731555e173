//! The schema of outdial as versioned migrations, applied by `outdial serve` and `outdial migrate`.
//! Each migration must run on SQLite and PostgreSQL alike (one alteration per statement: sea-query
//! panics on several ALTER options at once for SQLite); the test suite applies them on both.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_initial;
mod m20261124_000002_routing;
mod m20261124_000003_compliance;
mod m20261124_000004_lookups_and_dnc_history;
mod m20261124_000005_agent_endpoint;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_initial::Migration),
            Box::new(m20261124_000002_routing::Migration),
            Box::new(m20261124_000003_compliance::Migration),
            Box::new(m20261124_000004_lookups_and_dnc_history::Migration),
            Box::new(m20261124_000005_agent_endpoint::Migration),
        ]
    }
}
