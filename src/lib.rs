//! outdial: an outbound calling backend for telemarketing and sales teams. This library builds
//! the service (configuration → state → router) for the binary and for the tests.

pub mod acd;
pub mod app;
pub mod auth;
pub mod campaign;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod console;
pub mod contact_import;
pub mod crm;
pub mod demo;
pub mod dialer;
pub mod disposition;
pub mod error;
pub mod events;
pub mod floor;
pub mod gate;
pub mod graphql;
pub mod http;
pub mod number_lookup;
pub mod store;
pub mod telemetry;
pub mod telephony;
