//! Where time comes from. Every component is given a [`Clock`]; nothing reads the system time on
//! its own, so tests and the simulator can drive the same code with another clock.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock of the machine, to the microsecond: the precision PostgreSQL keeps, so an
/// instant held in memory equals the same instant read back from any backend.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}
