//! Tuning helper (seeds 1, 2 only): runs predictive on the scenarios whose name contains
//! one of the filters, with `PacerTuning` fields overridden by a JSON object.
//!
//! `cargo run --release --example tune -- '{"margin_floor":0.001}' grid-20a grid-100a`

use std::sync::Mutex;

use outdial::dialer::pacing::PacerConfig;
use outdial::dialer::sim::scenario::{grid, stress};
use outdial::dialer::sim::{Strategy, run_with};

const TUNING_SEEDS: [u64; 2] = [1, 2];

fn main() {
    let mut args = std::env::args().skip(1);
    let overrides: serde_json::Value =
        serde_json::from_str(&args.next().unwrap_or_else(|| "{}".into())).expect("first argument is a JSON object");
    let filters: Vec<String> = args.collect();
    let mut tuning = serde_json::to_value(PacerConfig::default().tuning).expect("tuning serialises");
    if let (Some(t), Some(o)) = (tuning.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            assert!(t.contains_key(k), "unknown tuning field {k}");
            t.insert(k.clone(), v.clone());
        }
    }
    let config =
        PacerConfig { tuning: serde_json::from_value(tuning).expect("valid tuning"), ..PacerConfig::default() };
    let mut scenarios = grid();
    scenarios.extend(stress().expect("embedded stress scenarios parse"));
    scenarios.retain(|sc| filters.is_empty() || filters.iter().any(|f| sc.name.contains(f.as_str())));
    let jobs: Vec<(usize, u64)> =
        (0..scenarios.len()).flat_map(|i| TUNING_SEEDS.iter().map(move |s| (i, *s))).collect();
    let next = Mutex::new(0usize);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let j = {
                        let mut n = next.lock().expect("no panics");
                        *n += 1;
                        *n - 1
                    };
                    let Some(&(i, seed)) = jobs.get(j) else { break };
                    let t = std::time::Instant::now();
                    let r = run_with(&scenarios[i], Strategy::Predictive, seed, config).expect("valid");
                    results.lock().expect("no panics").push((i, seed, r, t.elapsed().as_secs_f64()));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no panics");
    results.sort_by_key(|r| (r.0, r.1));
    for (i, seed, r, secs) in results {
        println!(
            "{:<18} seed {seed}  talk {:.2}  aband {:.2}%  maxday {:.2}%  {:.1}s",
            scenarios[i].name,
            r.talk_minutes_per_agent_hour,
            100.0 * r.abandon_rate,
            100.0 * r.max_daily_abandon_rate,
            secs
        );
    }
}
