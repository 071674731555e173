//! SeaORM entities of outdial, one module per table. Only `outdial::store` uses them; the
//! schema itself is created by the `migration` crate, never from these types.

pub mod agent;
pub mod call;
pub mod call_event;
pub mod campaign;
pub mod campaign_agent;
pub mod campaign_contact_list;
pub mod compliance_decision;
pub mod consent;
pub mod contact;
pub mod contact_list;
pub mod crm_connector;
pub mod crm_outbox;
pub mod dnc_number;
pub mod number_lookup;
pub mod tenant;
