//! Cross-module tests of the gate: the area-code table against libphonenumber's map, dated
//! verdict cases (DST changes, split area codes, territories, state rules, holidays, caps,
//! consent), and property tests of the calling window and `next_safe_call_time`.

mod cases;
mod libphonenumber;
mod properties;

use std::path::PathBuf;

/// The shared reference data (never copied into the crate): `OUTDIAL_SHARED_DATA` or
/// `../shared/data` beside the crate.
pub(crate) fn shared_data() -> PathBuf {
    std::env::var_os("OUTDIAL_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}
