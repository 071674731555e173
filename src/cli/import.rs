//! `outdial import-contacts LIST_ID FILE.csv`: streams a CSV into a list in bounded memory, with a
//! progress bar, the first rejected rows on screen (all of them with `--errors FILE`), and a
//! summary by reason.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use outdial::auth::TenantId;
use outdial::config::Config;
use outdial::contact_import::{self, ContactRow, RowError};
use outdial::store::Store;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// The contact list to import into.
    list_id: i64,
    /// CSV with a header row: phone (or phone_number), first_name, last_name, email, state, zip,
    /// timezone, external_id; any other column becomes a custom field.
    file: PathBuf,
    /// The tenant owning the list (found from the list when omitted).
    #[arg(long)]
    tenant: Option<String>,
    /// Write every rejected row to this CSV file.
    #[arg(long)]
    errors: Option<PathBuf>,
}

/// How many rejected rows are printed before only counting.
const SHOWN_ERRORS: usize = 20;

#[derive(Clone, Copy)]
enum Column {
    Phone,
    FirstName,
    LastName,
    Email,
    State,
    Zip,
    Timezone,
    ExternalId,
    Field,
}

fn column_of(header: &str) -> Column {
    let key: String = header.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    match key.as_str() {
        "phone" | "phonenumber" | "number" | "telephone" | "mobile" => Column::Phone,
        "firstname" | "first" | "givenname" => Column::FirstName,
        "lastname" | "last" | "surname" | "familyname" => Column::LastName,
        "email" | "emailaddress" => Column::Email,
        "state" | "region" | "province" => Column::State,
        "zip" | "zipcode" | "postalcode" | "postcode" => Column::Zip,
        "timezone" | "tz" => Column::Timezone,
        "externalid" | "id" | "crmid" => Column::ExternalId,
        _ => Column::Field,
    }
}

fn row_from(headers: &[(Column, String)], record: &csv::StringRecord) -> ContactRow {
    let mut row = ContactRow::default();
    let mut fields = serde_json::Map::new();
    for ((column, name), value) in headers.iter().zip(record.iter()) {
        let value = value.trim();
        let text = (!value.is_empty()).then(|| value.to_owned());
        match column {
            Column::Phone => row.phone_number = value.to_owned(),
            Column::FirstName => row.first_name = text,
            Column::LastName => row.last_name = text,
            Column::Email => row.email = text,
            Column::State => row.state = text,
            Column::Zip => row.zip = text,
            Column::Timezone => row.timezone = text,
            Column::ExternalId => row.external_id = text,
            Column::Field => {
                if let Some(text) = text {
                    fields.insert(name.clone(), serde_json::Value::String(text));
                }
            }
        }
    }
    row.fields = Some(serde_json::Value::Object(fields));
    row
}

pub async fn run(config: &Config, args: &ImportArgs) -> anyhow::Result<()> {
    let store = Store::connect(config).await?;
    store.migrate().await?;
    let tenant = match &args.tenant {
        Some(tenant) => TenantId::new(tenant.clone()),
        None => store.contact_lists().owner_for_operator(args.list_id).await?,
    };
    let file = std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    let progress = ProgressBar::new(file.metadata()?.len());
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {bytes}/{total_bytes} {msg} ({eta})")?.progress_chars("=> "),
    );
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(progress.wrap_read(file));
    let headers: Vec<(Column, String)> =
        reader.headers()?.iter().map(|h| (column_of(h), h.trim().to_owned())).collect();
    anyhow::ensure!(
        headers.iter().any(|(c, _)| matches!(c, Column::Phone)),
        "the header row names no phone column (phone, phone_number, number, mobile)"
    );
    let rows = reader.into_records().map(|record| match record {
        Ok(record) => Ok(row_from(&headers, &record)),
        Err(error) => Err(format!("unreadable CSV row: {error}")),
    });
    let mut error_file = match &args.errors {
        Some(path) => {
            let mut writer = csv::Writer::from_path(path)?;
            writer.write_record(["row", "phone_number", "code", "message"])?;
            Some(writer)
        }
        None => None,
    };
    let mut by_code: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut shown = 0;
    let mut write_failure = None;
    let mut on_reject = |error: RowError| {
        *by_code.entry(error.code).or_default() += 1;
        if shown < SHOWN_ERRORS {
            shown += 1;
            progress.suspend(|| {
                eprintln!(
                    "row {}: {} {} ({})",
                    error.row,
                    error.code,
                    error.phone_number.as_deref().unwrap_or("-"),
                    error.message
                )
            });
        }
        if let Some(writer) = error_file.as_mut()
            && let Err(e) = writer.write_record([
                error.row.to_string(),
                error.phone_number.unwrap_or_default(),
                error.code.to_owned(),
                error.message,
            ])
        {
            write_failure.get_or_insert(e);
        }
    };
    let now = chrono::Utc::now();
    let summary = contact_import::import(&store, &tenant, args.list_id, rows, now, &mut on_reject).await?;
    progress.finish_and_clear();
    if let Some(error) = write_failure {
        anyhow::bail!("writing the errors file: {error}");
    }
    if let Some(mut writer) = error_file {
        writer.flush()?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "imported {} contacts into list {}; rejected {}", summary.imported, args.list_id, summary.rejected)?;
    for (code, count) in by_code {
        writeln!(out, "  {code}: {count}")?;
    }
    store.close().await;
    Ok(())
}
