//! The FTC-file importer: full lists and change lists of the National DNC registry (and state
//! lists under their own name), read tolerantly: a ten-digit number per line or
//! `NPA,NXXXXXX`, with or without a header, with an add/delete indicator and dates anywhere on
//! a change-list line. Bad lines are counted and the first ones kept; they never stop an import.
//!
//! Owns parsing and applying lines to a [`DncRegistry`]; the download date of every area code
//! a file touches (or declares) is recorded with the list.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use chrono::NaiveDate;

use super::number_set::AreaBits;
use super::{DncError, DncRegistry};
use crate::compliance::number::NanpNumber;

/// Areas decoded for editing at once; the FTC files come one area code after another, so
/// one is usually enough. Each takes 1.26 MB.
const OPEN_AREAS: usize = 24;
/// Line errors kept for the report (all are counted).
const KEPT_ERRORS: usize = 100;

/// A full list replaces the area codes it holds; a change list adds and deletes numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    Full,
    Changes,
}

/// What is imported and under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// [`super::NATIONAL`], [`super::STATE`] or another list name.
    pub list: String,
    pub kind: ListKind,
    /// The day the file was downloaded from the registry: the staleness clock starts here.
    pub downloaded_on: NaiveDate,
    /// Area codes the download covered even if the file holds no number of them (a full list
    /// then empties them).
    pub area_codes: Vec<u16>,
}

/// Progress, reported about every 4 MB read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportProgress {
    pub bytes: u64,
    pub lines: u64,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

/// The outcome of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub lines: u64,
    pub added: u64,
    pub removed: u64,
    /// Numbers the list holds after the import.
    pub held: u64,
    pub area_codes: Vec<u16>,
    pub error_count: u64,
    pub errors: Vec<LineError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Add,
    Delete,
}

/// One parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Blank,
    Number(NanpNumber, Option<Change>),
}

/// Reads one line: the fast path is ten digits; otherwise fields split on `,;|` tab or space.
fn parse_line(line: &[u8]) -> Result<Line, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() == 10 && line.iter().all(u8::is_ascii_digit) {
        return number_of(digits_value(line)).map(|n| Line::Number(n, None));
    }
    let mut digits: [&[u8]; 3] = [&[]; 3];
    let mut found = 0;
    let mut change = None;
    for field in line.split(|b| matches!(b, b',' | b';' | b'|' | b'\t' | b' ')) {
        let field = field.trim_ascii();
        let field = field.strip_prefix(b"\"").unwrap_or(field);
        let field = field.strip_suffix(b"\"").unwrap_or(field);
        if field.is_empty() {
            continue;
        }
        if field.iter().all(u8::is_ascii_digit) {
            if found < digits.len() {
                digits[found] = field;
                found += 1;
            }
        } else if let Some(c) = change_of(field) {
            change = Some(c);
        } else if field.iter().any(u8::is_ascii_digit) && !is_date(field) {
            return Err("unreadable field");
        }
    }
    let value = match &digits[..found] {
        [] if change.is_none() => return Ok(Line::Blank),
        [ten, ..] if ten.len() == 10 => digits_value(ten),
        [ten, ..] if ten.len() == 11 && ten[0] == b'1' => digits_value(&ten[1..]),
        [npa, rest, ..] if npa.len() == 3 && rest.len() == 7 => digits_value(npa) * 10_000_000 + digits_value(rest),
        _ => return Err("no ten-digit number"),
    };
    number_of(value).map(|n| Line::Number(n, change))
}

fn is_date(field: &[u8]) -> bool {
    field.iter().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'/' | b':' | b'T' | b'Z' | b'.'))
}

fn change_of(field: &[u8]) -> Option<Change> {
    if field.len() > 8 {
        return None;
    }
    let mut buffer = [0u8; 8];
    buffer[..field.len()].copy_from_slice(field);
    buffer.make_ascii_uppercase();
    match &buffer[..field.len()] {
        b"A" | b"ADD" | b"ADDED" | b"ADDITION" | b"N" | b"NEW" => Some(Change::Add),
        b"D" | b"DEL" | b"DELETE" | b"DELETED" | b"DELETION" | b"R" | b"REMOVE" | b"REMOVED" => Some(Change::Delete),
        _ => None,
    }
}

fn digits_value(digits: &[u8]) -> u64 {
    digits.iter().fold(0, |acc, d| acc * 10 + u64::from(d - b'0'))
}

fn number_of(value: u64) -> Result<NanpNumber, &'static str> {
    NanpNumber::from_digits(value).map_err(|_| "not a NANP number")
}

/// Areas being edited during one import.
struct OpenAreas<'r> {
    registry: &'r mut DncRegistry,
    list: String,
    kind: ListKind,
    /// Indexed by NPA (most are `None`).
    open: Vec<Option<AreaBits>>,
    order: Vec<u16>,
    touched: [bool; 1000],
}

impl OpenAreas<'_> {
    fn area(&mut self, npa: u16) -> &mut AreaBits {
        if self.open[usize::from(npa)].is_none() {
            if self.order.len() >= OPEN_AREAS {
                let oldest = self.order.remove(0);
                self.flush(oldest);
            }
            let list = self.registry.list_mut(&self.list);
            let first_time = !self.touched[usize::from(npa)];
            let bits = if first_time && self.kind == ListKind::Full {
                AreaBits::empty(npa)
            } else {
                list.numbers.area_bits(npa)
            };
            self.touched[usize::from(npa)] = true;
            self.open[usize::from(npa)] = Some(bits);
            self.order.push(npa);
        }
        self.open[usize::from(npa)].get_or_insert_with(|| AreaBits::empty(npa))
    }

    fn flush(&mut self, npa: u16) {
        if let Some(bits) = self.open[usize::from(npa)].take() {
            self.registry.list_mut(&self.list).numbers.store_area(&bits);
        }
    }

    fn flush_all(&mut self) {
        for npa in std::mem::take(&mut self.order) {
            self.flush(npa);
        }
    }
}

impl DncRegistry {
    /// Imports a file by path (see [`DncRegistry::import`]).
    pub fn import_file(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, DncError> {
        let file = File::open(path)?;
        self.import(BufReader::with_capacity(1 << 20, file), options, progress)
    }

    /// Imports a full or change list from a reader. The list's download date becomes
    /// `options.downloaded_on` for every area code the file holds or `options.area_codes`
    /// declares. Lines of a full list are additions; a change-list line needs an indicator.
    pub fn import(
        &mut self,
        mut reader: impl Read,
        options: &ImportOptions,
        progress: &mut dyn FnMut(ImportProgress),
    ) -> Result<ImportSummary, DncError> {
        let before = self.list(&options.list).map_or(0, |l| l.numbers.len());
        let mut summary = ImportSummary::default();
        let mut areas = OpenAreas {
            registry: self,
            list: options.list.clone(),
            kind: options.kind,
            open: (0..1000).map(|_| None).collect(),
            order: Vec::new(),
            touched: [false; 1000],
        };
        for &npa in &options.area_codes {
            if (200..1000).contains(&npa) {
                areas.area(npa);
            }
        }
        let mut buffer = vec![0u8; 1 << 20];
        let mut carry: Vec<u8> = Vec::new();
        let (mut bytes, mut reported) = (0u64, 0u64);
        loop {
            let read = reader.read(&mut buffer)?;
            bytes += read as u64;
            let chunk = &buffer[..read];
            let mut start = 0;
            for end in memchr_all(chunk) {
                if carry.is_empty() {
                    apply(&mut areas, &chunk[start..end], &mut summary);
                } else {
                    carry.extend_from_slice(&chunk[start..end]);
                    let line = std::mem::take(&mut carry);
                    apply(&mut areas, &line, &mut summary);
                }
                start = end + 1;
            }
            carry.extend_from_slice(&chunk[start..]);
            if read == 0 {
                if !carry.is_empty() {
                    let line = std::mem::take(&mut carry);
                    apply(&mut areas, &line, &mut summary);
                }
                break;
            }
            if bytes - reported >= 4 << 20 {
                reported = bytes;
                progress(ImportProgress { bytes, lines: summary.lines });
            }
        }
        let mut touched: Vec<u16> = (0..1000u16).filter(|&npa| areas.touched[usize::from(npa)]).collect();
        areas.flush_all();
        progress(ImportProgress { bytes, lines: summary.lines });
        let list = self.list_mut(&options.list);
        for &npa in &touched {
            list.downloaded.insert(npa, options.downloaded_on);
        }
        summary.held = list.numbers.len();
        if options.kind == ListKind::Full {
            // A full list's additions and removals are measured against what was held before.
            let delta = summary.held as i64 - before as i64;
            (summary.added, summary.removed) = if delta >= 0 { (delta as u64, 0) } else { (0, (-delta) as u64) };
        }
        touched.shrink_to_fit();
        summary.area_codes = touched;
        Ok(summary)
    }
}

/// Positions of every newline in a chunk.
fn memchr_all(chunk: &[u8]) -> impl Iterator<Item = usize> + '_ {
    chunk.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i)
}

fn apply(areas: &mut OpenAreas<'_>, line: &[u8], summary: &mut ImportSummary) {
    summary.lines += 1;
    let parsed = parse_line(line);
    let (number, change) = match parsed {
        Ok(Line::Blank) => return,
        Ok(Line::Number(number, change)) => (number, change),
        Err(message) => {
            // A first line without a number is a header, not an error.
            if summary.lines == 1 && !line.iter().any(u8::is_ascii_digit) {
                return;
            }
            return line_error(summary, message);
        }
    };
    let change = match (areas.kind, change) {
        (ListKind::Full, None | Some(Change::Add)) => Change::Add,
        (ListKind::Full, Some(Change::Delete)) => return line_error(summary, "a deletion in a full list"),
        (ListKind::Changes, Some(change)) => change,
        (ListKind::Changes, None) => return line_error(summary, "a change-list line needs an add or delete indicator"),
    };
    let bits = areas.area(number.npa());
    match change {
        Change::Add => summary.added += u64::from(bits.insert(number)),
        Change::Delete => summary.removed += u64::from(bits.remove(number)),
    }
}

fn line_error(summary: &mut ImportSummary, message: &str) {
    summary.error_count += 1;
    if summary.errors.len() < KEPT_ERRORS {
        summary.errors.push(LineError { line: summary.lines, message: message.to_string() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::dnc::{NATIONAL, RegistryAnswer, STATE};
    use crate::compliance::number::parse;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn options(list: &str, kind: ListKind, on: NaiveDate) -> ImportOptions {
        ImportOptions { list: list.into(), kind, downloaded_on: on, area_codes: vec![] }
    }

    #[test]
    fn lines_are_read_tolerantly() {
        let n = |t: &str| parse(t).unwrap();
        let cases: [(&[u8], Result<Line, &str>); 9] = [
            (b"2015550123", Ok(Line::Number(n("2015550123"), None))),
            (b"2015550123\r", Ok(Line::Number(n("2015550123"), None))),
            (b"201,5550123", Ok(Line::Number(n("2015550123"), None))),
            (b"\"201\",\"5550123\"", Ok(Line::Number(n("2015550123"), None))),
            (b"2015550123,D,2026-11-01", Ok(Line::Number(n("2015550123"), Some(Change::Delete)))),
            (b"A|201|5550123|20261101", Ok(Line::Number(n("2015550123"), Some(Change::Add)))),
            (b"", Ok(Line::Blank)),
            (b"201555012", Err("no ten-digit number")),
            (b"1015550123", Err("not a NANP number")),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line), expected, "{:?}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn full_lists_replace_their_area_codes_and_change_lists_edit() {
        let mut registry = DncRegistry::new();
        let full = "AreaCode,PhoneNumber\n201,5550123\n201,5550124\n2125550000\nbad line 12\n";
        let summary = registry.import(full.as_bytes(), &options(NATIONAL, ListKind::Full, d(2026, 10, 1)), &mut |_| {});
        let summary = summary.unwrap();
        assert_eq!((summary.held, summary.error_count), (3, 1));
        assert_eq!(summary.area_codes, [201, 212]);
        let changes = "2015550123,D\n2015550999,A\n2015550555\n";
        let summary = registry
            .import(changes.as_bytes(), &options(NATIONAL, ListKind::Changes, d(2026, 11, 1)), &mut |_| {})
            .unwrap();
        assert_eq!((summary.added, summary.removed, summary.error_count, summary.held), (1, 1, 1, 3));
        assert_eq!(
            registry.national(parse("2015550123").unwrap()),
            RegistryAnswer::NotListed { downloaded_on: d(2026, 11, 1) }
        );
        assert_eq!(registry.national(parse("2015550999").unwrap()), RegistryAnswer::Listed);
        assert_eq!(registry.national(parse("3035550999").unwrap()), RegistryAnswer::NoCopy);
        // A new full list of 201 drops what it no longer holds; 212 keeps its older date.
        let again = registry
            .import("2015550124\n".as_bytes(), &options(NATIONAL, ListKind::Full, d(2026, 11, 20)), &mut |_| {})
            .unwrap();
        assert_eq!(again.held, 2);
        assert_eq!(registry.list(NATIONAL).unwrap().oldest_download(), Some(d(2026, 10, 1)));
        registry
            .import("3055550100\n".as_bytes(), &options(STATE, ListKind::Full, d(2026, 11, 1)), &mut |_| {})
            .unwrap();
        assert_eq!(registry.other_listing(parse("3055550100").unwrap()), Some(STATE));
    }
}
