//! The `outdial` command line (API.md fixes the commands): serve (default), migrate, token,
//! schema, import-contacts.

mod cli;

use clap::{Parser, Subcommand};
use outdial::config::Config;

#[derive(Parser)]
#[command(name = "outdial", version, about = "Outbound calling backend: lawful, paced, routed, logged.")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run migrations, then serve HTTP (the default).
    Serve {
        /// Also seed tenant `demo`: simulated agents taking calls on a running campaign over a
        /// synthetic contact list (simulated carrier only).
        #[arg(long)]
        demo: bool,
        /// Run the service's clock this many seconds off the machine's (simulated carrier only):
        /// to watch the demo dial at an hour when no U.S. zone may be called, and for tests.
        #[arg(long, env = "OUTDIAL_CLOCK_OFFSET_SECS", allow_negative_numbers = true)]
        clock_offset_secs: Option<i64>,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Print a JWT signed with the configured HS256 secret.
    Token(cli::token::TokenArgs),
    /// Print the GraphQL SDL (what schema.graphql must equal).
    Schema,
    /// Load National DNC registry files (full or change lists) into the registry snapshot.
    ImportDnc(cli::dnc::ImportDncArgs),
    /// Stream a CSV file into a contact list.
    ImportContacts(cli::import::ImportArgs),
    /// Run the pacer in a simulated call centre in virtual time and print its figures.
    Simulate(outdial::dialer::sim::SimulateArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("outdial: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve { demo: false, clock_offset_secs: None }) {
            Command::Serve { demo, clock_offset_secs } => cli::serve::run(&cli.config, demo, clock_offset_secs).await,
            Command::Migrate => cli::migrate(&cli.config).await,
            Command::Token(args) => cli::token::run(&cli.config, &args),
            Command::Schema => {
                print!("{}", outdial::graphql::sdl());
                Ok(())
            }
            Command::ImportContacts(args) => cli::import::run(&cli.config, &args).await,
            Command::ImportDnc(args) => {
                let config = cli.config.clone();
                tokio::task::spawn_blocking(move || cli::dnc::run(&config, &args)).await?
            }
            // Pure CPU in virtual time: off the async workers.
            Command::Simulate(args) => tokio::task::spawn_blocking(move || outdial::dialer::sim::run(&args)).await?,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outdial: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
