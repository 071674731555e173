//! The compliance gate's reads: the basis of an established business relationship on a consent
//! record, and calls by the number dialed (frequency caps and attempts count every call to a
//! number, whatever its contact or campaign).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_initial::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("consent").add_column(string_null("ebr_basis")).to_owned()).await?;
        manager
            .create_index(index("call", "ix_call_tenant_number_time", &["tenant_id", "to_number", "dialed_at"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_call_tenant_number_time").table("call").to_owned()).await?;
        manager.alter_table(Table::alter().table("consent").drop_column("ebr_basis").to_owned()).await
    }
}
