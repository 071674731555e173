//! The call-centre simulator: runs the production pacing core (and baseline strategies
//! that exist only here) against a seeded, discrete-event model of a campaign in virtual
//! time, and reports the regulated abandonment rate and agent productivity.
//! Owns scenarios (data), the engine, the baselines, the report and the `simulate` CLI.
//! It must not leak hidden truth into the pacer's snapshot.

pub mod cli;
pub mod engine;
pub mod report;
pub mod scenario;
pub mod strategy;

pub use cli::{SimulateArgs, run, run_to};
pub use engine::{run as run_scenario, run_with};
pub use report::RunReport;
pub use scenario::{Scenario, ScenarioError, Step};
pub use strategy::Strategy;

#[cfg(test)]
mod tests;
