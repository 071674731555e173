//! Routing for the ACD: which agents serve which campaigns, a per-campaign wrap-up timeout,
//! and the strategy names of the routing core (`LEAST_BUSY` became `FEWEST_CALLS` and
//! `LEAST_TALK_TIME`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_initial::{index, reference};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("campaign_agent")
                    .col(big_integer("campaign_id"))
                    .col(big_integer("agent_id"))
                    .col(string("tenant_id"))
                    .primary_key(Index::create().col("campaign_id").col("agent_id"))
                    .foreign_key(&mut reference("campaign_agent", "campaign_id", "campaign"))
                    .foreign_key(&mut reference("campaign_agent", "agent_id", "agent"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("campaign_agent", "ix_campaign_agent_tenant_agent", &["tenant_id", "agent_id"]))
            .await?;
        manager
            .alter_table(
                Table::alter().table("campaign").add_column(integer_null("wrap_up_timeout_seconds")).to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::update()
                    .table("campaign")
                    .value("routing_strategy", "FEWEST_CALLS")
                    .and_where(Expr::col("routing_strategy").eq("LEAST_BUSY"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::update()
                    .table("campaign")
                    .value("routing_strategy", "LEAST_BUSY")
                    .and_where(Expr::col("routing_strategy").is_in(["FEWEST_CALLS", "LEAST_TALK_TIME"]))
                    .to_owned(),
            )
            .await?;
        manager.alter_table(Table::alter().table("campaign").drop_column("wrap_up_timeout_seconds").to_owned()).await?;
        manager.drop_table(Table::drop().table("campaign_agent").to_owned()).await
    }
}
