//! The dialer: the pure pacing core, the call-centre simulator that exercises it, and the live
//! loop that runs it (the scheduler with one task per running campaign, and its hopper).
pub mod hopper;
pub mod pacing;
pub(crate) mod runner;
pub mod scheduler;
pub mod sim;

pub use runner::PreviewChoice;
