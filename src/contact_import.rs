//! Contact import: checking rows (number normalised to E.164 under NANP rules, state, ZIP, time
//! zone, email, custom fields), reporting each bad row with a code, storing the good ones once
//! per list. Shared by the `addContacts` mutations and `outdial import-contacts`; works in
//! batches so a million-row file streams in bounded memory.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::compliance::number;
use crate::error::DomainResult;
use crate::store::contacts::NewContact;
use crate::store::{Store, TenantId};

/// One row as given by a client or a CSV line.
#[derive(Debug, Clone, Default)]
pub struct ContactRow {
    pub phone_number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub timezone: Option<String>,
    pub external_id: Option<String>,
    pub fields: Option<Value>,
}

/// Why a row was not stored. `row` counts from 1 in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub row: usize,
    pub phone_number: Option<String>,
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: u64,
    pub rejected: u64,
}

/// Rows per database transaction.
pub const BATCH_ROWS: usize = 500;

/// US states, DC and the inhabited territories, by postal code.
const STATES: [&str; 56] = [
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME",
    "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA",
    "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY", "DC", "PR", "GU", "VI", "AS", "MP",
];

fn tidy(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Checks one row; `row` is its 1-based position.
pub fn check_row(row: usize, input: ContactRow) -> Result<NewContact, RowError> {
    let given = input.phone_number.trim().to_owned();
    let reject = |code: &'static str, message: String| RowError {
        row,
        phone_number: (!given.is_empty()).then(|| given.clone()),
        code,
        message,
    };
    let parsed = number::parse(&given).map_err(|e| reject("INVALID_NUMBER", e.to_string()))?;
    if let Some(reason) = number::unassignable(parsed) {
        return Err(reject("NOT_DIALABLE", reason.to_string()));
    }
    let state = tidy(input.state).map(|s| s.to_ascii_uppercase());
    if let Some(state) = &state
        && !STATES.contains(&state.as_str())
    {
        return Err(reject("INVALID_STATE", format!("{state:?} is not a US state or territory postal code")));
    }
    let zip = tidy(input.zip);
    if let Some(zip) = &zip
        && !is_zip(zip)
    {
        return Err(reject("INVALID_ZIP", format!("{zip:?} is not a ZIP code (12345 or 12345-6789)")));
    }
    let timezone = tidy(input.timezone);
    if let Some(zone) = &timezone
        && zone.parse::<chrono_tz::Tz>().is_err()
    {
        return Err(reject("INVALID_TIMEZONE", format!("{zone:?} is not an IANA time zone")));
    }
    let email = tidy(input.email);
    if let Some(email) = &email
        && !is_email(email)
    {
        return Err(reject("INVALID_EMAIL", format!("{email:?} is not an email address")));
    }
    let custom_fields = match input.fields {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::Object(map)) => Value::Object(map),
        Some(_) => return Err(reject("INVALID_FIELDS", "fields must be a JSON object".into())),
    };
    Ok(NewContact {
        phone_number: parsed.e164(),
        first_name: tidy(input.first_name),
        last_name: tidy(input.last_name),
        email,
        state,
        zip,
        timezone,
        external_id: tidy(input.external_id),
        custom_fields,
        source_row: row,
    })
}

fn is_zip(zip: &str) -> bool {
    let b = zip.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => digits(b),
        10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
        _ => false,
    }
}

fn is_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Imports rows into a list in batches. A row that could not even be read (a broken CSV line)
/// comes as `Err(message)` and is reported as `MALFORMED_ROW`. Each rejected row goes to `on_reject` as soon as it is
/// known (the caller decides whether to keep or print it); duplicates of a number already in the
/// list, or earlier in the same import, are rejected with `DUPLICATE_PHONE` and stored once.
pub async fn import(
    store: &Store,
    tenant: &TenantId,
    list_id: i64,
    rows: impl IntoIterator<Item = Result<ContactRow, String>>,
    now: DateTime<Utc>,
    on_reject: &mut (dyn FnMut(RowError) + Send),
) -> DomainResult<ImportSummary> {
    store.contact_lists().get(tenant, list_id).await?;
    let mut summary = ImportSummary::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for (index, row) in rows.into_iter().enumerate() {
        let checked = match row {
            Ok(row) => check_row(index + 1, row),
            Err(message) => Err(RowError { row: index + 1, phone_number: None, code: "MALFORMED_ROW", message }),
        };
        match checked {
            Ok(contact) => batch.push(contact),
            Err(error) => {
                summary.rejected += 1;
                on_reject(error);
            }
        }
        if batch.len() == BATCH_ROWS {
            store_batch(store, tenant, list_id, std::mem::take(&mut batch), now, &mut summary, on_reject).await?;
        }
    }
    store_batch(store, tenant, list_id, batch, now, &mut summary, on_reject).await?;
    Ok(summary)
}

async fn store_batch(
    store: &Store,
    tenant: &TenantId,
    list_id: i64,
    batch: Vec<NewContact>,
    now: DateTime<Utc>,
    summary: &mut ImportSummary,
    on_reject: &mut (dyn FnMut(RowError) + Send),
) -> DomainResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let outcome = store.contacts().insert_batch(tenant, list_id, batch, now).await?;
    summary.imported += outcome.inserted;
    for duplicate in outcome.duplicates {
        summary.rejected += 1;
        on_reject(RowError {
            row: duplicate.source_row,
            phone_number: Some(duplicate.phone_number),
            code: "DUPLICATE_PHONE",
            message: "this number is already in the list; stored once".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(phone: &str) -> ContactRow {
        ContactRow { phone_number: phone.into(), ..Default::default() }
    }

    #[test]
    fn a_good_row_is_normalised() {
        let contact = check_row(
            1,
            ContactRow {
                phone_number: "(212) 456-7890".into(),
                first_name: Some("  Ada ".into()),
                state: Some("ny".into()),
                zip: Some("10001-1234".into()),
                timezone: Some("America/New_York".into()),
                email: Some("ada@example.com".into()),
                fields: Some(serde_json::json!({"plan": "gold"})),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(contact.phone_number, "+12124567890");
        assert_eq!(contact.first_name.as_deref(), Some("Ada"));
        assert_eq!(contact.state.as_deref(), Some("NY"));
        assert_eq!(contact.custom_fields["plan"], "gold");
    }

    #[test]
    fn bad_rows_get_their_code() {
        let cases: Vec<(ContactRow, &str)> = vec![
            (row("12345"), "INVALID_NUMBER"),
            (row("(112) 456-7890"), "INVALID_NUMBER"),
            (row("212-055-7890"), "INVALID_NUMBER"),
            (row("212-555-0123"), "NOT_DIALABLE"),
            (row("212-911-7890"), "NOT_DIALABLE"),
            (row("611-456-7890"), "NOT_DIALABLE"),
            (ContactRow { state: Some("XX".into()), ..row("2124567890") }, "INVALID_STATE"),
            (ContactRow { zip: Some("1234".into()), ..row("2124567890") }, "INVALID_ZIP"),
            (ContactRow { timezone: Some("Mars/Olympus".into()), ..row("2124567890") }, "INVALID_TIMEZONE"),
            (ContactRow { email: Some("nobody".into()), ..row("2124567890") }, "INVALID_EMAIL"),
            (ContactRow { fields: Some(serde_json::json!([1])), ..row("2124567890") }, "INVALID_FIELDS"),
        ];
        for (input, code) in cases {
            let text = input.phone_number.clone();
            let error = check_row(7, input).unwrap_err();
            assert_eq!(error.code, code, "{text}");
            assert_eq!(error.row, 7);
        }
    }
}
