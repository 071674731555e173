//! outdial's area-code table against libphonenumber's prefix → zone map: every difference
//! must be listed below with its reason, and every listed difference must still occur.

use std::collections::{BTreeMap, BTreeSet};

use crate::compliance::ComplianceRules;

/// How our table differs for an area code, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// Ours holds every zone of theirs and more: the area code (or its overlay parent) spans a
    /// zone boundary and outdial keeps every zone where it has no verified exchange-level
    /// refinement; the calling window is the intersection, so this is the stricter reading.
    Superset,
    /// Theirs is wrong for the area code as a whole; ours follows the facts in the reason.
    Corrected,
    /// libphonenumber (data of 2018) does not know the area code (it falls back to "unknown").
    Newer,
}

use Difference::*;

/// Area code, kind, reason.
const KNOWN_DIFFERENCES: &[(&str, Difference, &str)] = &[
    ("208", Superset, "Idaho: north Pacific, south Mountain (49 CFR 71.9-71.10); exchanges not refined"),
    ("219", Superset, "NW Indiana Central, rest Eastern (49 CFR 71.5, 71.7)"),
    ("236", Superset, "BC overlay of 250/604: Peace River (no DST) and East Kootenay (Mountain)"),
    ("250", Superset, "BC: Peace River keeps MST all year (Dawson_Creek), East Kootenay Mountain"),
    ("257", Superset, "BC overlay: inherits 250's zones"),
    ("270", Superset, "western Kentucky Central, some exchanges Eastern"),
    ("308", Superset, "western Nebraska panhandle Mountain"),
    ("334", Superset, "Phenix City (Russell County, AL) keeps Eastern by local use"),
    ("364", Superset, "overlay of 270 inherits both zones (libphonenumber gives one)"),
    ("367", Superset, "Quebec overlay of 418: Lower North Shore keeps Atlantic Standard Time"),
    (
        "418",
        Corrected,
        "Lower North Shore (Blanc-Sablon) keeps Atlantic Standard Time all year: Puerto_Rico, not Halifax",
    ),
    ("423", Superset, "East Tennessee Eastern, Chattanooga area edges Central"),
    ("432", Superset, "West Texas: El Paso-adjacent Hudspeth/Culberson counties Mountain"),
    ("436", Newer, "Ohio overlay of 440 (2023), after libphonenumber's 2018 data"),
    ("448", Superset, "overlay of 850 inherits both zones: Pensacola is Central (libphonenumber: Eastern only)"),
    ("458", Superset, "overlay of 541 inherits both zones: Malheur County is Mountain"),
    ("474", Corrected, "Saskatchewan overlay of 306: America/Regina (no DST), not Winnipeg"),
    ("541", Superset, "Oregon: Malheur County Mountain; exchanges not refined"),
    ("574", Superset, "Indiana: Starke County area Central"),
    ("581", Superset, "Quebec overlay of 418"),
    ("605", Superset, "South Dakota west river Mountain; ND/Center is the same clock as Chicago"),
    ("606", Superset, "eastern Kentucky: a few exchanges Central"),
    ("620", Superset, "Kansas: four western counties Mountain"),
    ("672", Superset, "BC overlay: inherits 250's zones"),
    ("689", Corrected, "Orlando overlay of 407: Eastern (libphonenumber: Chicago)"),
    ("701", Superset, "North Dakota south-west Mountain; ND/Center is the same clock as Chicago"),
    ("709", Corrected, "Labrador keeps Atlantic time with DST (Halifax), not Puerto_Rico"),
    ("775", Superset, "Nevada: West Wendover Mountain (Boise is the same clock as Denver)"),
    ("778", Superset, "BC overlay: inherits 250's and 604's zones"),
    ("785", Superset, "Kansas: Sherman, Wallace, Greeley, Hamilton counties Mountain"),
    ("807", Superset, "NW Ontario west of 90 W Central"),
    ("812", Superset, "SW Indiana (Evansville) Central"),
    (
        "850",
        Superset,
        "Florida panhandle west of the Apalachicola Central; only Pensacola and Tallahassee exchanges refined",
    ),
    (
        "867",
        Corrected,
        "Yukon, NWT and Nunavut span Whitehorse, Edmonton, Winnipeg and Toronto (libphonenumber: Fort_Nelson)",
    ),
    ("879", Corrected, "Newfoundland overlay of 709: Halifax, not Puerto_Rico"),
    ("906", Superset, "Michigan UP: four counties on the Wisconsin border Central"),
    (
        "907",
        Corrected,
        "Alaska: Aleutians west of 169.5 W on Hawaii-Aleutian time with DST (Adak); libphonenumber puts 907-581 \
         (Unalaska) on Honolulu, which keeps no DST",
    ),
    ("928", Superset, "Arizona: Navajo Nation keeps DST (Denver), the rest Phoenix"),
    ("930", Superset, "overlay of 812 inherits both zones"),
];

/// Zones with the same clock since before any date the gate evaluates.
fn canonical(zone: &str) -> &str {
    match zone {
        "America/North_Dakota/Center" => "America/Chicago",
        "America/Boise" => "America/Denver",
        // Alaska time everywhere east of 169.5 W (Metlakatla since 2019).
        "America/Juneau" | "America/Sitka" | "America/Nome" | "America/Yakutat" | "America/Metlakatla" => {
            "America/Anchorage"
        }
        other => other,
    }
}

fn read_map() -> BTreeMap<String, BTreeSet<String>> {
    let path = super::shared_data().join("libphonenumber-timezones-nanp.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('|'))
        .filter(|(prefix, _)| prefix.len() >= 4)
        .map(|(prefix, zones)| (prefix[1..].to_string(), zones.split('&').map(|z| canonical(z).to_string()).collect()))
        .collect()
}

#[test]
fn area_code_zones_agree_with_libphonenumber_except_listed_differences() {
    let table = &ComplianceRules::embedded().area_codes;
    let theirs = read_map();
    let known: BTreeMap<&str, (Difference, &str)> = KNOWN_DIFFERENCES.iter().map(|(n, d, r)| (*n, (*d, *r))).collect();
    let mut unexplained = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let ours_for = |prefix: &str| -> Option<BTreeSet<String>> {
        let npa: u16 = prefix[..3].parse().ok()?;
        let row = table.area_code(npa)?;
        let mut zones = BTreeSet::new();
        // An exchange-level prefix (NPA plus 1-3 digits) covers every exchange it starts.
        for nxx in 200..1000u16 {
            if nxx.to_string().starts_with(&prefix[3..]) {
                let exchange = table.exchange_zones(npa, nxx).unwrap_or(&row.zones);
                zones.extend(exchange.iter().map(|z| canonical(z.name()).to_string()));
            }
        }
        Some(zones)
    };
    for (prefix, their_zones) in &theirs {
        let ours = ours_for(prefix);
        if ours.as_ref() == Some(their_zones) {
            continue;
        }
        let npa = &prefix[..3];
        match (known.get_key_value(npa), &ours) {
            (Some((key, (Superset, _))), Some(ours)) if ours.is_superset(their_zones) => {
                seen.insert(key);
            }
            (Some((key, (Corrected, _))), Some(_)) => {
                seen.insert(key);
            }
            _ => unexplained.push(format!("{prefix}: ours {ours:?}, libphonenumber {their_zones:?}")),
        }
    }
    for row in table.area_codes() {
        let npa = row.npa.to_string();
        let covered = theirs.keys().any(|prefix| prefix.starts_with(&npa));
        let country = &table.jurisdiction(row.jurisdiction).country;
        if !covered && country != "US" && country != "CA" {
            continue;
        }
        if !covered {
            match known.get_key_value(npa.as_str()) {
                Some((key, (Newer, _))) => {
                    seen.insert(key);
                }
                _ => unexplained.push(format!("{npa}: not in libphonenumber's map")),
            }
        }
    }
    let stale: Vec<&str> = known.keys().filter(|k| !seen.contains(*k)).copied().collect();
    assert!(unexplained.is_empty(), "differences without a listed reason:\n{}", unexplained.join("\n"));
    assert!(stale.is_empty(), "listed differences that no longer occur: {stale:?}");
}
