//! Line type of a number: a local wireless list (NPA-NXX-X thousands blocks held by wireless
//! carriers, and a ported-numbers file in both directions) and the result of a Telnyx Number
//! Lookup passed in by the shell (with the time it was made, so a stale cache entry is ignored).
//!
//! Owns the classification only; no network call is made here. An unknown line type counts
//! as wireless for automatic dialing (the stricter reading), which the verdict applies.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};

use super::number::{NanpNumber, parse};

/// What kind of line a number is (GraphQL `LineType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum LineType {
    Wireless,
    Landline,
    Voip,
    TollFree,
    Unknown,
}

impl LineType {
    /// The name used in verdicts: `WIRELESS`, `LANDLINE`, `VOIP`, `TOLL_FREE`, `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Wireless => "WIRELESS",
            LineType::Landline => "LANDLINE",
            LineType::Voip => "VOIP",
            LineType::TollFree => "TOLL_FREE",
            LineType::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(text: &str) -> Option<LineType> {
        [LineType::Wireless, LineType::Landline, LineType::Voip, LineType::TollFree, LineType::Unknown]
            .into_iter()
            .find(|line| line.as_str() == text)
    }

    /// Maps Telnyx `carrier.type` (`mobile`, `fixed line`, `voip`, `fixed line or mobile`,
    /// `toll free`, ...). Anything that does not say which is `Unknown`.
    pub fn from_telnyx(carrier_type: &str) -> LineType {
        match carrier_type.trim().to_ascii_lowercase().as_str() {
            "mobile" | "pager" => LineType::Wireless,
            "fixed line" => LineType::Landline,
            "voip" => LineType::Voip,
            "toll free" => LineType::TollFree,
            _ => LineType::Unknown,
        }
    }

    /// Whether automated (predictive, progressive) dialing must treat it as wireless.
    pub fn wireless_for_automated_dialing(self) -> bool {
        matches!(self, LineType::Wireless | LineType::Unknown)
    }
}

/// A Number Lookup answer as the shell cached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupResult {
    pub line_type: LineType,
    pub looked_up_at: DateTime<Utc>,
}

/// The local wireless data: NPA-NXX-X blocks of wireless carriers and ported numbers.
#[derive(Debug, Clone, Default)]
pub struct WirelessList {
    /// Seven-digit NPA-NXX-X block ids, sorted.
    blocks: Vec<u32>,
    /// A ported number's current line type (the latest port wins).
    ported: HashMap<u64, LineType>,
    /// Version of the data (the file dates), reported in verdicts.
    pub version: String,
}

/// A line of a wireless file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct WirelessLineError {
    pub line: usize,
    pub message: String,
}

impl WirelessList {
    /// Reads a block file: one `NPA-NXX-X` (any punctuation, 7 digits) per line; `#` comments.
    pub fn add_blocks(&mut self, text: &str) -> Vec<WirelessLineError> {
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let digits: String = line.chars().filter(char::is_ascii_digit).collect();
            match digits.parse::<u32>() {
                Ok(block) if digits.len() == 7 && block >= 2_000_000 => self.blocks.push(block),
                _ => errors.push(WirelessLineError { line: index + 1, message: format!("not a block: {line:?}") }),
            }
        }
        self.blocks.sort_unstable();
        self.blocks.dedup();
        errors
    }

    /// Reads a ported-numbers file: `NUMBER,W` (ported to wireless) or `NUMBER,L` (ported to
    /// a wireline); a bare number means ported to wireless (the iconectiv wireline→wireless
    /// file). The wireline→wireless 15-day safe harbor is not applied (stricter).
    pub fn add_ported(&mut self, text: &str) -> Vec<WirelessLineError> {
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (number, direction) = line.split_once(',').unwrap_or((line, "W"));
            let line_type = match direction.trim() {
                "W" | "w" => LineType::Wireless,
                "L" | "l" => LineType::Landline,
                other => {
                    errors.push(WirelessLineError { line: index + 1, message: format!("direction {other:?}") });
                    continue;
                }
            };
            match parse(number) {
                Ok(number) => {
                    self.ported.insert(number.digits(), line_type);
                }
                Err(e) => errors.push(WirelessLineError { line: index + 1, message: e.to_string() }),
            }
        }
        errors
    }

    /// The local answer: a port first, then the block's carrier type, else `Unknown`.
    pub fn local_line_type(&self, number: NanpNumber) -> LineType {
        if let Some(&line_type) = self.ported.get(&number.digits()) {
            return line_type;
        }
        let block = (number.digits() / 1000) as u32;
        if self.blocks.binary_search(&block).is_ok() { LineType::Wireless } else { LineType::Unknown }
    }
}

/// The line type of a number: a lookup younger than `lookup_ttl` wins when it is definite,
/// then the local list; a toll-free number is toll-free.
pub fn line_type(
    number: NanpNumber,
    lookup: Option<&LookupResult>,
    local: &WirelessList,
    at: DateTime<Utc>,
    lookup_ttl: TimeDelta,
) -> LineType {
    if super::number::service_class(number) == Some(super::number::ServiceClass::TollFree) {
        return LineType::TollFree;
    }
    let fresh = lookup.filter(|l| l.looked_up_at <= at && at - l.looked_up_at < lookup_ttl);
    match fresh.map(|l| l.line_type) {
        Some(found) if found != LineType::Unknown => found,
        _ => local.local_line_type(number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn lookups_ports_and_blocks_decide_the_line_type_in_that_order() {
        let mut local = WirelessList::default();
        assert!(local.add_blocks("# NPA-NXX-X\n212-555-1\n2125552\nnot a block\n").len() == 1);
        assert!(local.add_ported("2125551000,L\n2125559999,W\n2125558888\n2125557777,X\n").len() == 1);
        let n = |text: &str| parse(text).unwrap();
        let ttl = TimeDelta::days(30);
        let mobile = LookupResult { line_type: LineType::from_telnyx("mobile"), looked_up_at: t(1) };
        let vague = LookupResult { line_type: LineType::from_telnyx("fixed line or mobile"), looked_up_at: t(1) };
        let cases = [
            ("2125551234", None, LineType::Wireless),         // wireless block 212-555-1
            ("2125552999", None, LineType::Wireless),         // block 212-555-2
            ("2125553000", None, LineType::Unknown),          // no block
            ("2125551000", None, LineType::Landline),         // ported to a wireline
            ("2125559999", None, LineType::Wireless),         // ported to wireless
            ("2125558888", None, LineType::Wireless),         // bare number: wireline→wireless file
            ("2125553000", Some(mobile), LineType::Wireless), // lookup
            ("2125551000", Some(mobile), LineType::Wireless), // a fresh lookup beats the port file
            ("2125551000", Some(vague), LineType::Landline),  // an indefinite lookup does not
            ("8005550000", Some(mobile), LineType::TollFree),
        ];
        for (number, lookup, expected) in cases {
            assert_eq!(line_type(n(number), lookup.as_ref(), &local, t(2), ttl), expected, "{number}");
        }
        let old = LookupResult { line_type: LineType::Landline, looked_up_at: t(1) };
        assert_eq!(line_type(n("2125553000"), Some(&old), &local, t(1) + TimeDelta::days(31), ttl), LineType::Unknown);
        assert_eq!(LineType::from_telnyx("fixed line"), LineType::Landline);
        assert_eq!(LineType::from_telnyx("voip"), LineType::Voip);
        assert!(LineType::Unknown.wireless_for_automated_dialing());
        assert!(!LineType::Landline.wireless_for_automated_dialing());
    }
}
