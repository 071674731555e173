//! Where a called party is: the jurisdictions (states, territories, provinces, Caribbean
//! countries), outdial's own area-code table (NPA rows, optional NPA-NXX refinements, overlays
//! inheriting their parent's zones) and the ZIP-prefix table, all read from `data/*.csv`.
//!
//! This module only answers "which zones and which jurisdictions"; it never decides whether a
//! time is inside a calling window (that is `windows`) or which rules a jurisdiction has.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

use super::number::NanpNumber;
use super::{DataError, Provenance};

/// Index of a jurisdiction in the table (stable for one loaded rule set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JurisdictionId(u16);

impl JurisdictionId {
    /// Position in the jurisdictions table.
    pub fn index(self) -> u16 {
        self.0
    }
}

/// A place a number or an address can be in.
#[derive(Debug, Clone)]
pub struct Jurisdiction {
    /// `US-FL`, `US-PR`, `CA-ON`, or a Caribbean country's ISO code (`JM`).
    pub code: String,
    /// `US`, `CA`, or the Caribbean country's code.
    pub country: String,
    pub name: String,
    /// Every zone observed somewhere in the jurisdiction.
    pub zones: Vec<Tz>,
    pub provenance: Provenance,
}

/// One geographic area code.
#[derive(Debug, Clone)]
pub struct AreaCode {
    pub npa: u16,
    pub jurisdiction: JurisdictionId,
    /// Every zone of the area code (an overlay's are its parent's).
    pub zones: Vec<Tz>,
    pub overlay_of: Option<u16>,
    pub provenance: Provenance,
}

/// The contact's own record of where it is, as imported.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContactPlace<'a> {
    /// An explicit IANA zone from the contact record.
    pub time_zone: Option<Tz>,
    /// Address state or province, `FL`, `US-FL` or `ON`.
    pub state: Option<&'a str>,
    /// Address ZIP code (only the first three digits are used).
    pub zip: Option<&'a str>,
}

/// The candidate zones and the jurisdictions whose rules apply to one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub zones: Vec<Tz>,
    pub jurisdictions: Vec<JurisdictionId>,
    /// False when the area code is not in the table: every US zone and every US
    /// jurisdiction's rules then apply.
    pub area_code_known: bool,
}

/// Jurisdictions, area codes and ZIP prefixes.
#[derive(Debug, Clone)]
pub struct AreaCodeTable {
    jurisdictions: Vec<Jurisdiction>,
    by_code: HashMap<String, JurisdictionId>,
    npas: Vec<Option<AreaCode>>,
    exchanges: HashMap<(u16, u16), Vec<Tz>>,
    zip3: Vec<Option<JurisdictionId>>,
    unknown_location_zones: Vec<Tz>,
    us_jurisdictions: Vec<JurisdictionId>,
    newest_row: NaiveDate,
}

#[derive(Deserialize)]
struct JurisdictionRow {
    code: String,
    country: String,
    name: String,
    zones: String,
    effective: NaiveDate,
    source: String,
}

#[derive(Deserialize)]
struct AreaCodeRow {
    npa: u16,
    nxx: Option<u16>,
    jurisdiction: String,
    zones: String,
    overlay_of: Option<u16>,
    effective: NaiveDate,
    source: String,
}

#[derive(Deserialize)]
struct Zip3Row {
    from: String,
    to: String,
    jurisdiction: String,
    effective: NaiveDate,
    source: String,
}

/// Reads a `#`-commented CSV file with a header into rows.
pub(crate) fn read_csv<T: serde::de::DeserializeOwned>(file: &'static str, text: &str) -> Result<Vec<T>, DataError> {
    let body: String =
        text.lines().filter(|line| !line.trim_start().starts_with('#')).map(|line| format!("{line}\n")).collect();
    csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes())
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| DataError::new(file, e.to_string()))
}

/// Parses `America/Chicago&America/New_York` into zones, sorted and deduplicated.
pub(crate) fn parse_zones(file: &'static str, text: &str) -> Result<Vec<Tz>, DataError> {
    let mut zones = text
        .split('&')
        .map(|name| name.trim().parse::<Tz>().map_err(|_| DataError::new(file, format!("unknown time zone {name:?}"))))
        .collect::<Result<Vec<_>, _>>()?;
    sort_zones(&mut zones);
    Ok(zones)
}

fn sort_zones(zones: &mut Vec<Tz>) {
    zones.sort_by_key(|z| z.name());
    zones.dedup();
}

impl AreaCodeTable {
    /// Parses the three data files and checks them against each other.
    pub fn parse(jurisdictions: &str, area_codes: &str, zip3: &str) -> Result<Self, DataError> {
        const J: &str = "jurisdictions.csv";
        const A: &str = "area_codes.csv";
        const Z: &str = "zip3.csv";
        let mut table = AreaCodeTable {
            jurisdictions: Vec::new(),
            by_code: HashMap::new(),
            npas: vec![None; 1000],
            exchanges: HashMap::new(),
            zip3: vec![None; 1000],
            unknown_location_zones: Vec::new(),
            us_jurisdictions: Vec::new(),
            newest_row: NaiveDate::MIN,
        };
        for row in read_csv::<JurisdictionRow>(J, jurisdictions)? {
            let id = JurisdictionId(table.jurisdictions.len() as u16);
            if table.by_code.insert(row.code.clone(), id).is_some() {
                return Err(DataError::new(J, format!("{} listed twice", row.code)));
            }
            let zones = parse_zones(J, &row.zones)?;
            if row.country == "US" {
                table.us_jurisdictions.push(id);
                // The fallback zones: the 50 states and DC, not the territories.
                if !matches!(&row.code[..], "US-PR" | "US-VI" | "US-GU" | "US-MP" | "US-AS") {
                    table.unknown_location_zones.extend(zones.iter().copied());
                }
            }
            let provenance = Provenance::new(J, &row.code, row.effective, &row.source)?;
            table.newest_row = table.newest_row.max(row.effective);
            table.jurisdictions.push(Jurisdiction {
                code: row.code,
                country: row.country,
                name: row.name,
                zones,
                provenance,
            });
        }
        sort_zones(&mut table.unknown_location_zones);

        let rows = read_csv::<AreaCodeRow>(A, area_codes)?;
        for row in rows.iter().filter(|r| r.nxx.is_none()) {
            table.add_area_code(row)?;
        }
        table.inherit_overlay_zones()?;
        for row in rows.iter().filter(|r| r.nxx.is_some()) {
            table.add_exchange(row)?;
        }

        for row in read_csv::<Zip3Row>(Z, zip3)? {
            let id = table.require(Z, &row.jurisdiction)?;
            Provenance::new(Z, &row.from, row.effective, &row.source)?;
            table.newest_row = table.newest_row.max(row.effective);
            let (from, to) = (zip_prefix(&row.from), zip_prefix(&row.to));
            let (Some(from), Some(to)) = (from, to) else {
                return Err(DataError::new(Z, format!("bad range {}-{}", row.from, row.to)));
            };
            for prefix in from..=to {
                if table.zip3[prefix].replace(id).is_some() {
                    return Err(DataError::new(Z, format!("prefix {prefix:03} listed twice")));
                }
            }
        }
        Ok(table)
    }

    fn require(&self, file: &'static str, code: &str) -> Result<JurisdictionId, DataError> {
        self.by_code.get(code).copied().ok_or_else(|| DataError::new(file, format!("unknown jurisdiction {code}")))
    }

    fn add_area_code(&mut self, row: &AreaCodeRow) -> Result<(), DataError> {
        const A: &str = "area_codes.csv";
        let jurisdiction = self.require(A, &row.jurisdiction)?;
        if !(200..=999).contains(&row.npa) {
            return Err(DataError::new(A, format!("bad area code {}", row.npa)));
        }
        let zones = match (row.zones.is_empty(), row.overlay_of) {
            (true, Some(_)) => Vec::new(),
            (false, None) => parse_zones(A, &row.zones)?,
            _ => {
                return Err(DataError::new(A, format!("{}: give zones, or an overlay parent, not both", row.npa)));
            }
        };
        let provenance = Provenance::new(A, &row.npa.to_string(), row.effective, &row.source)?;
        self.newest_row = self.newest_row.max(row.effective);
        let slot = &mut self.npas[usize::from(row.npa)];
        if slot.is_some() {
            return Err(DataError::new(A, format!("{} listed twice", row.npa)));
        }
        *slot = Some(AreaCode { npa: row.npa, jurisdiction, zones, overlay_of: row.overlay_of, provenance });
        Ok(())
    }

    fn inherit_overlay_zones(&mut self) -> Result<(), DataError> {
        const A: &str = "area_codes.csv";
        for npa in 0..self.npas.len() {
            let Some(parent) = self.npas[npa].as_ref().and_then(|a| a.overlay_of) else {
                continue;
            };
            let parent_row = self.npas[usize::from(parent)].as_ref();
            let Some(parent_row) = parent_row.filter(|p| p.overlay_of.is_none()) else {
                return Err(DataError::new(A, format!("{npa}: parent {parent} is not a base NPA")));
            };
            let (zones, parent_jurisdiction) = (parent_row.zones.clone(), parent_row.jurisdiction);
            if let Some(row) = self.npas[npa].as_mut() {
                if row.jurisdiction != parent_jurisdiction {
                    return Err(DataError::new(A, format!("{npa}: overlay in another place")));
                }
                row.zones = zones;
            }
        }
        Ok(())
    }

    fn add_exchange(&mut self, row: &AreaCodeRow) -> Result<(), DataError> {
        const A: &str = "area_codes.csv";
        let nxx = row.nxx.unwrap_or_default();
        Provenance::new(A, &format!("{}-{nxx}", row.npa), row.effective, &row.source)?;
        self.newest_row = self.newest_row.max(row.effective);
        let Some(parent) = self.area_code(row.npa) else {
            return Err(DataError::new(A, format!("{}-{nxx}: no NPA row", row.npa)));
        };
        let zones = parse_zones(A, &row.zones)?;
        // A refinement may only narrow: the NPA row must list every zone of its exchanges.
        if zones.iter().any(|z| !parent.zones.contains(z)) {
            return Err(DataError::new(A, format!("{}-{nxx}: zone not in NPA row", row.npa)));
        }
        if self.exchanges.insert((row.npa, nxx), zones).is_some() {
            return Err(DataError::new(A, format!("{}-{nxx} listed twice", row.npa)));
        }
        Ok(())
    }

    /// The newest effective date of any row: part of the data version.
    pub fn newest_row(&self) -> NaiveDate {
        self.newest_row
    }

    /// The area-code row for a geographic NPA.
    pub fn area_code(&self, npa: u16) -> Option<&AreaCode> {
        self.npas.get(usize::from(npa)).and_then(Option::as_ref)
    }

    /// Every area code in the table.
    pub fn area_codes(&self) -> impl Iterator<Item = &AreaCode> {
        self.npas.iter().flatten()
    }

    /// The zones of one exchange: its refinement if the table has one, else its NPA's.
    pub fn exchange_zones(&self, npa: u16, nxx: u16) -> Option<&[Tz]> {
        match self.exchanges.get(&(npa, nxx)) {
            Some(zones) => Some(zones),
            None => self.area_code(npa).map(|a| &a.zones[..]),
        }
    }

    pub fn jurisdiction(&self, id: JurisdictionId) -> &Jurisdiction {
        &self.jurisdictions[usize::from(id.0)]
    }

    pub fn jurisdictions(&self) -> impl Iterator<Item = (JurisdictionId, &Jurisdiction)> {
        self.jurisdictions.iter().enumerate().map(|(i, j)| (JurisdictionId(i as u16), j))
    }

    /// Finds a jurisdiction by its code, accepting a bare US state or Canadian province
    /// (`FL`, `ON`) as written in an address.
    pub fn by_code(&self, code: &str) -> Option<JurisdictionId> {
        let code = code.trim().to_ascii_uppercase();
        let code = code.as_str();
        self.by_code
            .get(code)
            .or_else(|| self.by_code.get(&format!("US-{code}")))
            .or_else(|| self.by_code.get(&format!("CA-{code}")))
            .copied()
    }

    /// The jurisdiction of a ZIP code (its first three digits).
    pub fn zip_jurisdiction(&self, zip: &str) -> Option<JurisdictionId> {
        zip_prefix(zip.trim().get(..3)?).and_then(|prefix| self.zip3[prefix])
    }

    /// The zones used when nothing is known: every zone of the 50 states and DC.
    pub fn unknown_location_zones(&self) -> &[Tz] {
        &self.unknown_location_zones
    }

    /// Candidate zones and applicable jurisdictions for a number and its contact record:
    /// the area code's (an explicit zone narrows them when it agrees, and is added when it
    /// does not), widened by the address state and ZIP when they disagree; the area-code
    /// state and the address states all apply.
    pub fn locate(&self, number: NanpNumber, contact: &ContactPlace<'_>) -> Location {
        let area_code = self.area_code(number.npa());
        let (mut zones, mut jurisdictions) = match area_code {
            Some(row) => {
                (self.exchange_zones(number.npa(), number.nxx()).unwrap_or(&row.zones).to_vec(), vec![row.jurisdiction])
            }
            None => (self.unknown_location_zones.clone(), self.us_jurisdictions.clone()),
        };
        if let (Some(tz), Some(_)) = (contact.time_zone, area_code) {
            if zones.contains(&tz) {
                zones = vec![tz];
            } else {
                zones.push(tz);
            }
        }
        let address = [contact.state.and_then(|s| self.by_code(s)), contact.zip.and_then(|z| self.zip_jurisdiction(z))];
        for id in address.into_iter().flatten() {
            let place = self.jurisdiction(id);
            if !place.zones.iter().any(|z| zones.contains(z)) {
                zones.extend(place.zones.iter().copied());
            }
            if !jurisdictions.contains(&id) {
                jurisdictions.push(id);
            }
        }
        if zones.len() > 1 {
            sort_zones(&mut zones);
        }
        Location { zones, jurisdictions, area_code_known: area_code.is_some() }
    }
}

fn zip_prefix(text: &str) -> Option<usize> {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_digit()) { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::ComplianceRules;
    use crate::compliance::number::parse;

    fn zone_names(zones: &[Tz]) -> Vec<&'static str> {
        zones.iter().map(|z| z.name()).collect()
    }

    #[test]
    fn split_area_codes_and_overlays_carry_every_zone() {
        let table = &ComplianceRules::embedded().area_codes;
        let cases = [
            ("850", vec!["America/Chicago", "America/New_York"]),
            ("448", vec!["America/Chicago", "America/New_York"]),
            ("605", vec!["America/Chicago", "America/Denver"]),
            ("208", vec!["America/Boise", "America/Los_Angeles"]),
            ("986", vec!["America/Boise", "America/Los_Angeles"]),
            ("928", vec!["America/Denver", "America/Phoenix"]),
            ("364", vec!["America/Chicago", "America/New_York"]),
            ("930", vec!["America/Chicago", "America/New_York"]),
            ("458", vec!["America/Boise", "America/Los_Angeles"]),
            ("212", vec!["America/New_York"]),
            ("787", vec!["America/Puerto_Rico"]),
            ("340", vec!["America/St_Thomas"]),
            ("671", vec!["Pacific/Guam"]),
            ("670", vec!["Pacific/Saipan"]),
            ("684", vec!["Pacific/Pago_Pago"]),
        ];
        for (npa, expected) in cases {
            let number = parse(&format!("{npa}2345678")).unwrap();
            let location = table.locate(number, &ContactPlace::default());
            assert_eq!(zone_names(&location.zones), expected, "{npa}");
        }
    }

    #[test]
    fn explicit_zone_narrows_and_address_widens() {
        let table = &ComplianceRules::embedded().area_codes;
        let n850 = parse("8502345678").unwrap();
        let chicago = ContactPlace { time_zone: Some(chrono_tz::America::Chicago), ..Default::default() };
        assert_eq!(zone_names(&table.locate(n850, &chicago).zones), ["America/Chicago"]);

        let n212 = parse("2122345678").unwrap();
        let in_texas = ContactPlace { state: Some("TX"), ..Default::default() };
        let location = table.locate(n212, &in_texas);
        assert_eq!(zone_names(&location.zones), ["America/Chicago", "America/Denver", "America/New_York"]);
        let codes: Vec<_> = location.jurisdictions.iter().map(|j| table.jurisdiction(*j).code.as_str()).collect();
        assert_eq!(codes, ["US-NY", "US-TX"]);

        let zip_in_florida = ContactPlace { zip: Some("32501"), ..Default::default() };
        let location = table.locate(n212, &zip_in_florida);
        assert_eq!(zone_names(&location.zones), ["America/New_York"], "FL agrees on Eastern");
        assert_eq!(location.jurisdictions.len(), 2);
    }

    #[test]
    fn unknown_area_code_takes_every_us_zone_and_jurisdiction() {
        let table = &ComplianceRules::embedded().area_codes;
        let location = table.locate(parse("2222345678").unwrap(), &ContactPlace::default());
        assert!(!location.area_code_known);
        for zone in ["America/New_York", "America/Los_Angeles", "Pacific/Honolulu"] {
            assert!(zone_names(&location.zones).contains(&zone), "{zone}");
        }
        assert!(!zone_names(&location.zones).contains(&"Pacific/Guam"));
        assert!(location.jurisdictions.len() >= 51);
    }

    #[test]
    fn refinements_may_only_narrow_their_area_code() {
        let j = "code,country,name,zones,effective,source\n\
                 US-FL,US,Florida,America/Chicago&America/New_York,2026-01-01,x\n";
        let z = "from,to,jurisdiction,effective,source\n";
        let ok = "npa,nxx,jurisdiction,zones,overlay_of,effective,source\n\
                  850,,US-FL,America/Chicago&America/New_York,,2026-01-01,x\n\
                  850,432,US-FL,America/Chicago,,2026-01-01,x\n";
        let table = AreaCodeTable::parse(j, ok, z).unwrap();
        let pensacola = parse("8504321234").unwrap();
        let location = table.locate(pensacola, &ContactPlace::default());
        assert_eq!(zone_names(&location.zones), ["America/Chicago"]);
        let bad = ok.replace("850,432,US-FL,America/Chicago", "850,432,US-FL,America/Denver");
        assert!(AreaCodeTable::parse(j, &bad, z).is_err());
    }
}
