//! The cache of Telnyx Number Lookup answers (line type by number), and the removal of internal
//! DNC entries kept as history. A line type is a fact about a number, not about a tenant, so
//! that table is shared: one lookup serves every tenant until it ages out (the gate trusts an
//! answer for 30 days). A removed DNC entry stays on record with who removed it and when (do-not-
//! call requests are kept five years, 47 CFR 64.1200(d) and 16 CFR 310.5).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("number_lookup")
                    .col(string("phone_number").primary_key())
                    .col(string("line_type"))
                    .col(string_null("carrier"))
                    .col(timestamp_with_time_zone("looked_up_at"))
                    .to_owned(),
            )
            .await?;
        let dnc = |column| Table::alter().table("dnc_number").add_column(column).to_owned();
        manager.alter_table(dnc(timestamp_with_time_zone_null("removed_at"))).await?;
        manager.alter_table(dnc(string_null("removed_by"))).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["removed_by", "removed_at"] {
            manager.alter_table(Table::alter().table("dnc_number").drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("number_lookup").to_owned()).await
    }
}
