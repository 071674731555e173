//! The compliance gate: whether a number may lawfully be called, and when.

pub mod number;
