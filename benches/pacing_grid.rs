//! The pacing benchmark: the core grid (5/20/100 agents × 10/25/40 % live answer) and
//! the stress cases, 30-day campaigns, predictive against every baseline, printed as
//! one table. The `ratio:K` baseline is tuned per scenario (largest K at ≤ 3 %
//! abandonment) on the tuning seeds; the table is measured on report seeds that neither
//! that search nor the pacer's tuning ever saw.
//!
//! `cargo bench --bench pacing_grid` (report seeds) or
//! `cargo bench --bench pacing_grid -- tuning` (predictive only, on the seeds the pacer
//! was tuned on). `-- research` runs the grid on the research's reference model instead
//! (dialer.md §5.4; predictive and progressive only, to set beside its tuned frontier).
//! Other arguments keep only scenarios whose name contains one of them.

use std::sync::Mutex;

use outdial::dialer::sim::scenario::{grid, research_grid, stress};
use outdial::dialer::sim::{RunReport, Scenario, Strategy, run_scenario};

/// Seeds used while tuning `PacerTuning` defaults and the ratio baseline.
const TUNING_SEEDS: [u64; 2] = [1, 2];
/// Seeds for the reported table (never used while tuning).
const REPORT_SEEDS: [u64; 3] = [1001, 1002, 1003];
/// Lines-per-agent values the ratio baseline is searched over.
const RATIO_STEPS: std::ops::RangeInclusive<u32> = 20..=60;

/// One strategy on one scenario over several seeds: mean productivity, worst abandonment.
struct Pooled {
    strategy: String,
    talk: f64,
    abandon: f64,
    max_day: f64,
    p90_day: f64,
    min_day: f64,
    hold_p99: f64,
    lines: u32,
    dials: f64,
    idle_wait: f64,
}

fn pool(reports: &[RunReport]) -> Pooled {
    let n = reports.len() as f64;
    let max = |f: fn(&RunReport) -> f64| reports.iter().map(f).fold(f64::MIN, f64::max);
    Pooled {
        strategy: reports[0].strategy.clone(),
        talk: reports.iter().map(|r| r.talk_minutes_per_agent_hour).sum::<f64>() / n,
        abandon: max(|r| r.abandon_rate),
        max_day: max(|r| r.max_daily_abandon_rate),
        p90_day: max(|r| r.p90_daily_abandon_rate),
        min_day: reports.iter().map(|r| r.min_daily_abandon_rate).fold(f64::MAX, f64::min),
        hold_p99: max(|r| r.hold_before_bridge_p99_seconds),
        lines: reports.iter().map(|r| r.max_concurrent_lines).max().unwrap_or(0),
        dials: reports.iter().map(|r| r.dials_per_agent_hour).sum::<f64>() / n,
        idle_wait: reports.iter().map(|r| r.mean_idle_wait_seconds).sum::<f64>() / n,
    }
}

fn run_seeds(scenario: &Scenario, strategy: Strategy, seeds: &[u64]) -> Pooled {
    let reports: Vec<RunReport> = seeds
        .iter()
        .map(|seed| run_scenario(scenario, strategy, *seed).expect("benchmark scenarios are valid"))
        .collect();
    pool(&reports)
}

/// Largest ratio K (in steps of 0.05) whose worst 30-day abandonment on `seeds` is ≤ 3 %.
fn tuned_ratio(scenario: &Scenario, seeds: &[u64]) -> f64 {
    let ok = |step: u32| run_seeds(scenario, Strategy::Ratio(f64::from(step) / 20.0), seeds).abandon <= 0.03;
    let (mut lo, mut hi) = (*RATIO_STEPS.start(), *RATIO_STEPS.end());
    if !ok(lo) {
        return f64::from(lo) / 20.0;
    }
    while hi > lo {
        let mid = (lo + hi).div_ceil(2);
        if ok(mid) { lo = mid } else { hi = mid - 1 }
    }
    f64::from(lo) / 20.0
}

fn cell(p: &Pooled) -> String {
    format!("{:.1} ({:.2}%)", p.talk, 100.0 * p.abandon)
}

/// Predictive's verdict against the baselines: ahead of each one that stays at or
/// below predictive's own abandonment (baselines above 3 % are out of bounds anyway).
fn verdict(ours: &Pooled, baselines: &[Pooled]) -> &'static str {
    let beaten =
        baselines.iter().all(|b| b.abandon > 0.03 || (ours.talk > b.talk && ours.abandon <= b.abandon.max(0.03)));
    if beaten { "yes" } else { "NO" }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let tuning = args.iter().any(|a| a == "tuning");
    let research = args.iter().any(|a| a == "research");
    let filters: Vec<&String> = args.iter().filter(|a| *a != "tuning" && *a != "research").collect();
    let seeds: &[u64] = if tuning { &TUNING_SEEDS } else { &REPORT_SEEDS };
    let mut scenarios = if research {
        research_grid().expect("embedded research model parses")
    } else {
        let mut all = grid();
        all.extend(stress().expect("embedded stress scenarios parse"));
        all
    };
    scenarios.retain(|sc| filters.is_empty() || filters.iter().any(|f| sc.name.contains(f.as_str())));
    let rows: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no worker panics");
                        *n += 1;
                        *n - 1
                    };
                    let Some(sc) = scenarios.get(i) else { break };
                    let ours = run_seeds(sc, Strategy::Predictive, seeds);
                    let baselines: Vec<Pooled> = if tuning {
                        Vec::new()
                    } else if research {
                        vec![run_seeds(sc, Strategy::Progressive, seeds)]
                    } else {
                        let k = tuned_ratio(sc, &TUNING_SEEDS);
                        [Strategy::Progressive, Strategy::Ratio(k), Strategy::Vicidial, Strategy::Seed]
                            .into_iter()
                            .map(|s| run_seeds(sc, s, seeds))
                            .collect()
                    };
                    let mut line = format!(
                        "| {} | {} | {:.0}% | **{:.1}** | {:.2}% | {:.2}% | {:.2}% | {:.2}% | {:.2} | {} | {:.0} |",
                        sc.name,
                        sc.agents,
                        100.0 * sc.answer_rate,
                        ours.talk,
                        100.0 * ours.abandon,
                        100.0 * ours.max_day,
                        100.0 * ours.p90_day,
                        100.0 * ours.min_day,
                        ours.hold_p99,
                        ours.lines,
                        ours.dials,
                    );
                    if let [progressive] = &baselines[..] {
                        line += &format!(" {:.1} | {} |", ours.idle_wait, cell(progressive));
                    }
                    if let [progressive, ratio, vicidial, seed] = &baselines[..] {
                        line += &format!(
                            " {} | {} {} | {} | {} | {} |",
                            cell(progressive),
                            ratio.strategy,
                            cell(ratio),
                            cell(vicidial),
                            cell(seed),
                            verdict(&ours, &baselines)
                        );
                    }
                    eprintln!("{line}");
                    rows.lock().expect("no worker panics").push((i, line));
                }
            });
        }
    });
    let mut rows = rows.into_inner().expect("no worker panics");
    rows.sort_by_key(|r| r.0);
    println!(
        "seeds: {} ({}); talk min per agent-hour, mean over seeds; abandonment = worst seed (TSR, 30-day)",
        seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(","),
        if tuning { "tuning" } else { "report, unseen by tuning" }
    );
    let head = "| scenario | agents | live | predictive talk/h | 30-day aband | max day | p90 day | min day | hold p99 s | max lines | dials/agent-h |";
    if research {
        println!("{head} idle wait s | progressive |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    } else {
        println!("{head} progressive | ratio:K (tuned) | vicidial | seed | ahead of all |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    }
    for (_, line) in rows {
        println!("{line}");
    }
    println!("elapsed {:.0} s", started.elapsed().as_secs_f64());
}
