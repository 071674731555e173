//! Every migration applies, rolls back and applies again, on SQLite and on PostgreSQL.

mod common;

use migration::{Migrator, MigratorTrait};
use sea_orm::Database;

backend_tests! {
    async fn migrations_apply_roll_back_and_reapply(backend) {
        let dir = tempfile::tempdir().unwrap();
        let url = common::fresh_database(backend, dir.path()).await;
        let db = Database::connect(&url).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
        let applied = Migrator::get_applied_migrations(&db).await.unwrap().len();
        assert_eq!(applied, Migrator::migrations().len());
        Migrator::down(&db, None).await.unwrap();
        assert_eq!(Migrator::get_pending_migrations(&db).await.unwrap().len(), applied);
        Migrator::up(&db, None).await.unwrap();
        assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
    }
}
