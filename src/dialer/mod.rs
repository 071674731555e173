//! The dialer: the pure pacing core and the call-centre simulator that exercises it.
pub mod pacing;
pub mod sim;
