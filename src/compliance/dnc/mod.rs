//! Do-not-call lists held in memory: the National DNC registry and named lists imported the
//! same way (`STATE_DNC`), each a compact [`NumberSet`] with the download date of every area
//! code it holds; the FTC-file importer and the snapshot file live in the submodules.
//!
//! The tenant's internal list is not here: it is small, per tenant, written by mutations and
//! honored from the moment it is written, so the shell keeps it in its database and passes the
//! answer in [`DncFacts`](super::verdict::DncFacts).

mod import;
mod number_set;
mod snapshot;

use std::collections::BTreeMap;

use chrono::NaiveDate;

pub use import::{ImportOptions, ImportProgress, ImportSummary, LineError, ListKind};
pub use number_set::{AreaBits, NumberSet};

use super::number::NanpNumber;

/// The National DNC registry's list name.
pub const NATIONAL: &str = "NATIONAL_DNC";
/// The usual name for state lists imported through the same importer.
pub const STATE: &str = "STATE_DNC";

/// Errors of the importer and the snapshot file.
#[derive(Debug, thiserror::Error)]
pub enum DncError {
    #[error("reading or writing a DNC file: {0}")]
    Io(#[from] std::io::Error),
    #[error("DNC snapshot is not valid: {0}")]
    Snapshot(String),
    #[error("{0}")]
    Import(String),
}

/// One list: its numbers and the date each area code was last downloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DncList {
    pub numbers: NumberSet,
    pub downloaded: BTreeMap<u16, NaiveDate>,
}

impl DncList {
    /// The oldest download date over the area codes held.
    pub fn oldest_download(&self) -> Option<NaiveDate> {
        self.downloaded.values().min().copied()
    }
}

/// What the National DNC registry says about one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryAnswer {
    Listed,
    NotListed {
        downloaded_on: NaiveDate,
    },
    /// The registry copy holds no download of this area code.
    NoCopy,
}

/// Every list, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DncRegistry {
    lists: BTreeMap<String, DncList>,
}

/// Figures for the `dncStatus` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListStatus {
    pub name: String,
    pub numbers: u64,
    pub area_codes: usize,
    pub oldest_download: Option<NaiveDate>,
}

impl DncRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn list(&self, name: &str) -> Option<&DncList> {
        self.lists.get(name)
    }

    pub(crate) fn list_mut(&mut self, name: &str) -> &mut DncList {
        self.lists.entry(name.to_string()).or_default()
    }

    pub fn lists(&self) -> impl Iterator<Item = (&str, &DncList)> {
        self.lists.iter().map(|(name, list)| (name.as_str(), list))
    }

    /// The National DNC answer for a number.
    pub fn national(&self, number: NanpNumber) -> RegistryAnswer {
        let Some(list) = self.lists.get(NATIONAL) else {
            return RegistryAnswer::NoCopy;
        };
        if list.numbers.contains(number) {
            return RegistryAnswer::Listed;
        }
        match list.downloaded.get(&number.npa()) {
            Some(&downloaded_on) => RegistryAnswer::NotListed { downloaded_on },
            None => RegistryAnswer::NoCopy,
        }
    }

    /// The day a list's copy of an area code was downloaded.
    pub fn download_date(&self, list: &str, npa: u16) -> Option<NaiveDate> {
        self.lists.get(list).and_then(|l| l.downloaded.get(&npa).copied())
    }

    /// The first list other than the national one that holds the number.
    pub fn other_listing(&self, number: NanpNumber) -> Option<&str> {
        self.lists
            .iter()
            .find(|(name, list)| *name != NATIONAL && list.numbers.contains(number))
            .map(|(name, _)| name.as_str())
    }

    pub fn status(&self) -> Vec<ListStatus> {
        self.lists
            .iter()
            .map(|(name, list)| ListStatus {
                name: name.clone(),
                numbers: list.numbers.len(),
                area_codes: list.downloaded.len(),
                oldest_download: list.oldest_download(),
            })
            .collect()
    }
}
