//! The first schema: every table of the product, so later issues add columns rather than
//! redesign. The tenant id leads every secondary index of a tenant-owned table.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A tenant-owned table: big integer id and the tenant column with its foreign key.
fn tenant_table(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(name)
        .col(big_pk_auto("id"))
        .col(string("tenant_id"))
        .foreign_key(
            ForeignKey::create().from(name, "tenant_id").to("tenant", "id").on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

pub(crate) fn reference(from: &'static str, column: &'static str, to: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from, column).to(to, "id").on_delete(ForeignKeyAction::Cascade).to_owned()
}

pub(crate) fn index(table: &'static str, name: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.to_owned()
}

fn unique(table: &'static str, name: &'static str, columns: &[&'static str]) -> IndexCreateStatement {
    let mut statement = index(table, name, columns);
    statement.unique();
    statement
}

fn tables() -> Vec<TableCreateStatement> {
    let tenant = Table::create()
        .table("tenant")
        .col(string("id").primary_key())
        .col(string("name"))
        .col(string_null("default_caller_id"))
        .col(string("time_zone"))
        .col(json_binary("carrier_settings"))
        .col(json_binary("settings"))
        .col(timestamp_with_time_zone("created_at"))
        .to_owned();

    let agent = tenant_table("agent")
        .col(string("name"))
        .col(string_null("email"))
        .col(json_binary("skills"))
        .col(json_binary("languages"))
        .col(string_null("region"))
        .col(string("state"))
        .col(string_null("state_reason"))
        .col(timestamp_with_time_zone("state_since"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .to_owned();

    let contact_list =
        tenant_table("contact_list").col(string("name")).col(timestamp_with_time_zone("created_at")).to_owned();

    let contact = tenant_table("contact")
        .col(big_integer("list_id"))
        .col(string("phone_number"))
        .col(string_null("first_name"))
        .col(string_null("last_name"))
        .col(string_null("email"))
        .col(string_null("state"))
        .col(string_null("zip"))
        .col(string_null("timezone"))
        .col(json_binary("custom_fields"))
        .col(string_null("external_id"))
        .col(json_binary("crm_ids"))
        .col(integer("attempts"))
        .col(timestamp_with_time_zone_null("last_attempt_at"))
        .col(timestamp_with_time_zone_null("next_attempt_at"))
        .col(string("status"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(&mut reference("contact", "list_id", "contact_list"))
        .to_owned();

    let campaign = tenant_table("campaign")
        .col(string("name"))
        .col(string("dialer_mode"))
        .col(text_null("script"))
        .col(json_binary("outcome_tags"))
        .col(boolean("timezone_based_calling"))
        .col(boolean("dnc_check"))
        .col(boolean("recording_enabled"))
        .col(string_null("caller_id"))
        .col(string_null("window_start"))
        .col(string_null("window_end"))
        .col(json_binary("window_days"))
        .col(integer("max_attempts"))
        .col(integer("retry_delay_minutes"))
        .col(double("abandon_rate_target"))
        .col(json_binary("required_skills"))
        .col(string_null("language"))
        .col(string_null("region"))
        .col(string("routing_strategy"))
        .col(integer("priority"))
        .col(double("cost_per_minute"))
        .col(string("status"))
        .col(string_null("status_reason"))
        .col(timestamp_with_time_zone_null("scheduled_at"))
        .col(timestamp_with_time_zone_null("started_at"))
        .col(timestamp_with_time_zone_null("paused_at"))
        .col(timestamp_with_time_zone_null("completed_at"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .to_owned();

    let campaign_contact_list = Table::create()
        .table("campaign_contact_list")
        .col(big_integer("campaign_id"))
        .col(big_integer("list_id"))
        .col(string("tenant_id"))
        .col(integer("position"))
        .primary_key(Index::create().col("campaign_id").col("list_id"))
        .foreign_key(&mut reference("campaign_contact_list", "campaign_id", "campaign"))
        .foreign_key(&mut reference("campaign_contact_list", "list_id", "contact_list"))
        .to_owned();

    let call = tenant_table("call")
        .col(big_integer("campaign_id"))
        .col(big_integer("contact_id"))
        .col(big_integer_null("agent_id"))
        .col(integer("attempt"))
        .col(string("carrier"))
        .col(string_null("carrier_call_id"))
        .col(string_null("carrier_session_id"))
        .col(string("from_number"))
        .col(string("to_number"))
        .col(string("state"))
        .col(timestamp_with_time_zone("dialed_at"))
        .col(timestamp_with_time_zone_null("answered_at"))
        .col(timestamp_with_time_zone_null("bridged_at"))
        .col(timestamp_with_time_zone_null("ended_at"))
        .col(string_null("outcome"))
        .col(string_null("disposition"))
        .col(text_null("notes"))
        .col(timestamp_with_time_zone_null("callback_at"))
        .col(string_null("amd_result"))
        .col(integer_null("duration_seconds"))
        .col(double_null("cost"))
        .col(timestamp_with_time_zone("created_at"))
        .foreign_key(&mut reference("call", "campaign_id", "campaign"))
        .foreign_key(&mut reference("call", "contact_id", "contact"))
        .to_owned();

    let call_event = tenant_table("call_event")
        .col(big_integer("call_id"))
        .col(string_uniq("carrier_event_id"))
        .col(string("kind"))
        .col(json_binary("payload"))
        .col(timestamp_with_time_zone("occurred_at"))
        .col(timestamp_with_time_zone("received_at"))
        .foreign_key(&mut reference("call_event", "call_id", "call"))
        .to_owned();

    let dnc_number = tenant_table("dnc_number")
        .col(string("phone_number"))
        .col(string_null("reason"))
        .col(string("added_by"))
        .col(timestamp_with_time_zone("created_at"))
        .to_owned();

    let consent = tenant_table("consent")
        .col(string("phone_number"))
        .col(string("kind"))
        .col(string_null("source"))
        .col(timestamp_with_time_zone("captured_at"))
        .col(timestamp_with_time_zone_null("expires_at"))
        .col(timestamp_with_time_zone_null("revoked_at"))
        .col(string_null("revoked_via"))
        .col(string("recorded_by"))
        .col(timestamp_with_time_zone("created_at"))
        .to_owned();

    let compliance_decision = tenant_table("compliance_decision")
        .col(string("phone_number"))
        .col(big_integer_null("campaign_id"))
        .col(big_integer_null("call_id"))
        .col(string("purpose"))
        .col(boolean("safe_to_call"))
        .col(json_binary("reasons"))
        .col(json_binary("timezones"))
        .col(string_null("line_type"))
        .col(timestamp_with_time_zone_null("next_safe_call_time"))
        .col(string("rules_version"))
        .col(timestamp_with_time_zone("evaluated_for"))
        .col(timestamp_with_time_zone("decided_at"))
        .to_owned();

    let crm_connector = tenant_table("crm_connector")
        .col(string("kind"))
        .col(string("name"))
        .col(json_binary("config"))
        .col(blob("credentials_sealed"))
        .col(boolean("enabled"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone("updated_at"))
        .to_owned();

    let crm_outbox = tenant_table("crm_outbox")
        .col(big_integer("connector_id"))
        .col(big_integer("call_id"))
        .col(string("action"))
        .col(json_binary("payload"))
        .col(string("status"))
        .col(integer("attempts"))
        .col(timestamp_with_time_zone("next_attempt_at"))
        .col(text_null("last_error"))
        .col(string_null("external_id"))
        .col(timestamp_with_time_zone("created_at"))
        .col(timestamp_with_time_zone_null("delivered_at"))
        .foreign_key(&mut reference("crm_outbox", "connector_id", "crm_connector"))
        .foreign_key(&mut reference("crm_outbox", "call_id", "call"))
        .to_owned();

    vec![
        tenant,
        agent,
        contact_list,
        contact,
        campaign,
        campaign_contact_list,
        call,
        call_event,
        dnc_number,
        consent,
        compliance_decision,
        crm_connector,
        crm_outbox,
    ]
}

/// Indexes for the queries the API and the scheduler make; the tenant id leads each one.
fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        index("agent", "ix_agent_tenant_id", &["tenant_id", "id"]),
        index("agent", "ix_agent_tenant_state", &["tenant_id", "state", "id"]),
        index("contact_list", "ix_contact_list_tenant_id", &["tenant_id", "id"]),
        unique("contact", "ux_contact_tenant_list_phone", &["tenant_id", "list_id", "phone_number"]),
        index("contact", "ix_contact_tenant_list_id", &["tenant_id", "list_id", "id"]),
        index("contact", "ix_contact_tenant_phone", &["tenant_id", "phone_number"]),
        index("contact", "ix_contact_tenant_list_next", &["tenant_id", "list_id", "status", "next_attempt_at"]),
        index("campaign", "ix_campaign_tenant_id", &["tenant_id", "id"]),
        index("campaign", "ix_campaign_tenant_status", &["tenant_id", "status", "id"]),
        index("campaign_contact_list", "ix_campaign_list_tenant_list", &["tenant_id", "list_id"]),
        index("call", "ix_call_tenant_campaign", &["tenant_id", "campaign_id", "id"]),
        index("call", "ix_call_tenant_agent", &["tenant_id", "agent_id", "id"]),
        unique("call", "ux_call_tenant_contact_attempt", &["tenant_id", "contact_id", "attempt"]),
        index("call", "ix_call_tenant_state", &["tenant_id", "state"]),
        unique("call", "ux_call_carrier_call", &["carrier", "carrier_call_id"]),
        index("call_event", "ix_call_event_tenant_call", &["tenant_id", "call_id", "occurred_at"]),
        unique("dnc_number", "ux_dnc_number_tenant_phone", &["tenant_id", "phone_number"]),
        index("consent", "ix_consent_tenant_phone", &["tenant_id", "phone_number", "captured_at"]),
        index("compliance_decision", "ix_decision_tenant_phone", &["tenant_id", "phone_number", "decided_at"]),
        index("compliance_decision", "ix_decision_tenant_time", &["tenant_id", "decided_at"]),
        index("compliance_decision", "ix_decision_tenant_campaign", &["tenant_id", "campaign_id", "decided_at"]),
        index("crm_connector", "ix_crm_connector_tenant", &["tenant_id", "id"]),
        index("crm_outbox", "ix_crm_outbox_tenant_status", &["tenant_id", "status", "next_attempt_at"]),
        unique("crm_outbox", "ux_crm_outbox_tenant_call_action", &["tenant_id", "call_id", "connector_id", "action"]),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables().iter().rev() {
            let name = table.get_table_name().cloned().ok_or_else(|| DbErr::Custom("unnamed table".into()))?;
            manager.drop_table(Table::drop().table(name).to_owned()).await?;
        }
        Ok(())
    }
}
