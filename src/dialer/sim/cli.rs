//! `outdial simulate`: flags (API.md), scenario file loading, and the text or JSON output
//! of one run per strategy. The only part of the simulator that does I/O.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::engine;
use super::report::RunReport;
use super::scenario::Scenario;
use super::strategy::Strategy;

/// Flags of `outdial simulate`. Flags given explicitly override the scenario file.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// Logged-in agents.
    #[arg(long)]
    pub agents: Option<u32>,
    /// Share of dials answered by a live person.
    #[arg(long)]
    pub answer_rate: Option<f64>,
    /// Share of dials answered by a machine (default 0.15).
    #[arg(long)]
    pub machine_rate: Option<f64>,
    /// Mean talk time, seconds.
    #[arg(long)]
    pub talk_mean: Option<f64>,
    /// Mean wrap-up time, seconds.
    #[arg(long)]
    pub wrap_mean: Option<f64>,
    /// Days (8-hour shifts) in the campaign.
    #[arg(long)]
    pub days: Option<u32>,
    /// predictive, progressive, ratio:K, vicidial or seed.
    #[arg(long, default_value = "predictive")]
    pub strategy: Strategy,
    /// Random seed; identical seeds give identical results.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One JSON object per strategy run, one per line.
    #[arg(long)]
    pub json: bool,
    /// Run every strategy on the same seed, side by side.
    #[arg(long)]
    pub compare: bool,
    /// Lines per agent of the `ratio:K` baseline in `--compare`.
    #[arg(long, default_value_t = 1.0)]
    pub compare_ratio: f64,
    /// A scenario file (TOML); see src/dialer/sim/scenarios/ for examples.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
}

impl SimulateArgs {
    /// The scenario these flags describe.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        let mut s = match &self.scenario {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading scenario {}", path.display()))?;
                Scenario::from_toml(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => Scenario { name: "cli".into(), ..Scenario::default() },
        };
        if let Some(v) = self.agents {
            s.agents = v;
        }
        if let Some(v) = self.answer_rate {
            s.answer_rate = v;
        }
        if let Some(v) = self.machine_rate {
            s.machine_rate = v;
        }
        if let Some(v) = self.talk_mean {
            s.talk_mean = v;
        }
        if let Some(v) = self.wrap_mean {
            s.wrap_mean = v;
        }
        if let Some(v) = self.days {
            s.days = v;
        }
        s.validate()?;
        Ok(s)
    }
}

/// A header and one row per run, for people.
pub fn write_table(out: &mut dyn Write, reports: &[RunReport]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<22} {:<12} {:>6} {:>6} {:>8} {:>6} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7}",
        "scenario",
        "strategy",
        "agents",
        "p",
        "talk/h",
        "occ",
        "aband%",
        "maxday%",
        "p90day%",
        "idle s",
        "dials/h",
        "holdp99"
    )?;
    for r in reports {
        writeln!(
            out,
            "{:<22} {:<12} {:>6} {:>6.2} {:>8.1} {:>6.3} {:>7.2} {:>7.2} {:>7.2} {:>8.1} {:>8.1} {:>7.2}",
            r.scenario,
            r.strategy,
            r.agents,
            r.answer_rate,
            r.talk_minutes_per_agent_hour,
            r.occupancy,
            100.0 * r.abandon_rate,
            100.0 * r.max_daily_abandon_rate,
            100.0 * r.p90_daily_abandon_rate,
            r.mean_idle_wait_seconds,
            r.dials_per_agent_hour,
            r.hold_before_bridge_p99_seconds
        )?;
    }
    Ok(())
}

/// Run `outdial simulate` and print its figures on standard output.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    run_to(args, &mut std::io::stdout().lock())
}

/// Run `outdial simulate` and print its figures to `out`.
pub fn run_to(args: &SimulateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let scenario = args.scenario()?;
    let strategies = if args.compare { Strategy::all(args.compare_ratio) } else { vec![args.strategy] };
    let mut reports = Vec::with_capacity(strategies.len());
    for strategy in strategies {
        let report = engine::run(&scenario, strategy, args.seed)?;
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&report)?)?;
        }
        reports.push(report);
    }
    if !args.json {
        write_table(out, &reports)?;
    }
    Ok(())
}
