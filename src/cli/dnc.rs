//! `outdial import-dnc FILE...`: loads National DNC registry files (full lists or change lists,
//! or a state list under its own name) into the registry snapshot beside the database, with a
//! progress bar and a summary. A running server picks the new snapshot up within a minute.

use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use outdial::compliance::dnc::{self, DncRegistry, ImportOptions, ListKind};
use outdial::config::Config;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportDncArgs {
    /// Registry files: a 10-digit number per line, or `NPA,NXXXXXX`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The list the files belong to: NATIONAL_DNC, STATE_DNC or another name.
    #[arg(long, default_value = dnc::NATIONAL)]
    list: String,
    /// The files are change lists (additions and deletions), not full lists.
    #[arg(long)]
    changes: bool,
    /// The day the files were downloaded from the registry (default: today, UTC): the 31-day
    /// freshness clock starts here.
    #[arg(long)]
    downloaded: Option<NaiveDate>,
    /// Area codes the download covered even where a file holds none of their numbers
    /// (comma-separated); a full list then empties them.
    #[arg(long, value_delimiter = ',')]
    area_codes: Vec<u16>,
}

pub fn run(config: &Config, args: &ImportDncArgs) -> anyhow::Result<()> {
    let snapshot = config.dnc_snapshot_path();
    let mut registry = if snapshot.exists() { DncRegistry::read_snapshot(&snapshot)? } else { DncRegistry::new() };
    let options = ImportOptions {
        list: args.list.clone(),
        kind: if args.changes { ListKind::Changes } else { ListKind::Full },
        downloaded_on: args.downloaded.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        area_codes: args.area_codes.clone(),
    };
    let mut out = std::io::stdout().lock();
    for file in &args.files {
        let size = std::fs::metadata(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?.len();
        let progress = ProgressBar::new(size);
        progress.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")?
                .progress_chars("=> "),
        );
        progress.set_message(file.display().to_string());
        let summary = registry.import_file(file, &options, &mut |p| progress.set_position(p.bytes))?;
        progress.finish_and_clear();
        writeln!(
            out,
            "{}: {} lines, {} added, {} removed, {} unreadable; {} now holds {} numbers",
            file.display(),
            summary.lines,
            summary.added,
            summary.removed,
            summary.error_count,
            args.list,
            summary.held
        )?;
        for error in summary.errors.iter().take(20) {
            writeln!(out, "  line {}: {}", error.line, error.message)?;
        }
    }
    registry.write_snapshot(&snapshot)?;
    for list in registry.status() {
        let oldest = list.oldest_download.map_or("-".to_owned(), |d| d.to_string());
        writeln!(
            out,
            "{}: {} numbers in {} area codes, oldest download {oldest}",
            list.name, list.numbers, list.area_codes
        )?;
    }
    writeln!(out, "snapshot written to {}", snapshot.display())?;
    Ok(())
}
