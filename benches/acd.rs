//! ACD routing benchmark: decisions per second, p50/p99/max latency per decision and heap
//! allocations per decision, with 10,000 agents and 1,000 waiting calls across 50 campaigns,
//! against the plain linear scan (`route_by_scan`) in the same run.
//!
//! Run: `cargo bench --bench acd` (the figures and the command are in `benches/README-acd.md`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use outdial::acd::{
    AgentId, AgentProfile, Board, CallId, CampaignId, CampaignRouting, Decision, LiveCall, SkillLevel, StateChange,
    Strategy, WaitingCalls, route, route_by_scan,
};

const AGENTS: i64 = 10_000;
const CAMPAIGNS: i64 = 50;
const WAITING: i64 = 1_000;
const SKILLS: u64 = 20;
const LANGUAGES: [&str; 5] = ["en", "es", "fr", "de", "pt"];
const REGIONS: [&str; 4] = ["northeast", "south", "midwest", "west"];
const STRATEGIES: [Strategy; 4] =
    [Strategy::LongestIdle, Strategy::FewestCalls, Strategy::LeastTalkTime, Strategy::BestMatch];

/// Counts heap allocations so the run can show that a decision allocates nothing.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// SplitMix64: a seeded generator so every run builds the same call centre.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A language: English 60 %, Spanish 20 %, the other three 20 %.
    fn language(&mut self) -> &'static str {
        match self.below(10) {
            0..=5 => LANGUAGES[0],
            6..=7 => LANGUAGES[1],
            _ => LANGUAGES[2 + self.below(3) as usize],
        }
    }
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().expect("valid instant")
}

fn skill(id: u64, level: u64) -> SkillLevel {
    SkillLevel { name: format!("skill-{id:02}"), level: level as u8 }
}

fn campaigns(rng: &mut Rng) -> Vec<CampaignRouting> {
    (0..CAMPAIGNS)
        .map(|id| {
            let required = 1 + rng.below(3);
            CampaignRouting {
                id: CampaignId(id),
                priority: rng.below(5) as i32,
                strategy: STRATEGIES[(id % 4) as usize],
                required_skills: (0..required).map(|_| skill(rng.below(SKILLS), 1 + rng.below(3))).collect(),
                language: rng.chance(70).then(|| rng.language().to_owned()),
                region: rng.chance(25).then(|| REGIONS[rng.below(4) as usize].to_owned()),
                wrap_up_timeout: Some(TimeDelta::seconds(30)),
            }
        })
        .collect()
}

/// An agent assigned to 2–4 campaigns whose needs it mostly (not always) meets, with a few
/// skills of its own besides.
fn agent(id: i64, rng: &mut Rng, campaigns: &[CampaignRouting]) -> AgentProfile {
    let assigned: Vec<&CampaignRouting> =
        (0..2 + rng.below(3)).map(|_| &campaigns[rng.below(CAMPAIGNS as u64) as usize]).collect();
    let mut skills: Vec<SkillLevel> =
        (0..2 + rng.below(4)).map(|_| skill(rng.below(SKILLS), 1 + rng.below(5))).collect();
    let mut languages = vec![rng.language().to_owned()];
    let mut region = REGIONS[rng.below(4) as usize].to_owned();
    for campaign in &assigned {
        for need in &campaign.required_skills {
            if rng.chance(90) {
                let level = need.level + rng.below(u64::from(6 - need.level)) as u8;
                skills.push(SkillLevel { level, ..need.clone() });
            }
        }
        if let Some(language) = &campaign.language
            && rng.chance(90)
            && !languages.contains(language)
        {
            languages.push(language.clone());
        }
        if let Some(required) = &campaign.region
            && rng.chance(80)
        {
            region.clone_from(required);
        }
    }
    AgentProfile {
        id: AgentId(id),
        skills,
        languages,
        region: Some(region),
        campaigns: assigned.iter().map(|c| c.id).collect(),
    }
}

/// Puts an agent in a realistic state: `available` % available, the rest up to 70 % on a
/// call, 15 % in wrap-up, 10 % paused, 5 % offline; with a day behind it.
fn place(board: &mut Board, id: AgentId, campaign: CampaignId, rng: &mut Rng, now: DateTime<Utc>, available: u64) {
    let before = |secs: u64| now - TimeDelta::seconds(secs as i64);
    let talk = TimeDelta::seconds(rng.below(4 * 3600) as i64);
    board.restore_today(id, rng.below(60) as u32, talk).expect("on board");
    let call = CallId(id.0);
    let roll = rng.below(100);
    let mut steps = vec![(StateChange::Available, before(400 + rng.below(200)))];
    if roll < available {
        steps.push((StateChange::Offline, before(390)));
        steps.push((StateChange::Available, before(1 + rng.below(380))));
    } else if roll < 85 {
        steps.push((StateChange::Reserved { call, campaign }, before(300)));
        steps.push((StateChange::OnCall { call }, before(299)));
        if roll >= 70 {
            steps.push((StateChange::WrapUp, before(rng.below(20))));
        }
    } else if roll < 95 {
        steps.push((StateChange::Paused { reason: Some("BREAK".into()) }, before(rng.below(300))));
    } else {
        steps.push((StateChange::Offline, before(rng.below(300))));
    }
    for (change, at) in steps {
        board.set_state(id, change, at).expect("valid path");
    }
}

fn waiting_calls(rng: &mut Rng, now: DateTime<Utc>) -> Vec<LiveCall> {
    (0..WAITING)
        .map(|id| {
            let answered = now - TimeDelta::milliseconds(rng.below(1_500) as i64);
            LiveCall {
                id: CallId(1_000_000 + id),
                campaign: CampaignId(rng.below(CAMPAIGNS as u64) as i64),
                priority: if rng.chance(10) { 5 } else { 0 },
                answered_at: answered,
                deadline: answered + TimeDelta::seconds(3_600),
                language: rng.chance(20).then(|| rng.language().to_owned()),
                region: rng.chance(50).then(|| REGIONS[rng.below(4) as usize].to_owned()),
            }
        })
        .collect()
}

struct Figures {
    name: &'static str,
    samples: Vec<u64>,
    allocations: u64,
    per_second: f64,
}

impl Figures {
    fn percentile(&self, p: f64) -> u64 {
        let index = ((self.samples.len() - 1) as f64 * p).round() as usize;
        self.samples[index]
    }

    fn print(&self) {
        println!(
            "{:<34} {:>12.0} {:>9.2} {:>9.2} {:>10.2} {:>8.2}",
            self.name,
            self.per_second,
            self.percentile(0.50) as f64 / 1e3,
            self.percentile(0.99) as f64 / 1e3,
            self.samples.last().copied().unwrap_or(0) as f64 / 1e3,
            self.allocations as f64 / self.samples.len() as f64,
        );
    }
}

/// Times `decide` once per sample (latency) and over all samples at once (throughput),
/// counting heap allocations inside the untimed-per-sample pass.
fn measure(name: &'static str, rounds: usize, mut decide: impl FnMut(usize)) -> Figures {
    for i in 0..rounds.min(1_000) {
        decide(i);
    }
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let start = Instant::now();
        decide(i);
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples.sort_unstable();
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    for i in 0..rounds {
        decide(i);
    }
    let elapsed = start.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    Figures { name, samples, allocations, per_second: rounds as f64 / elapsed.as_secs_f64() }
}

/// Builds one call centre with `available_percent` of agents free and prints its figures.
fn run(available_percent: u64) {
    let mut rng = Rng(0x0D1A_1AC0);
    let now = t0() + TimeDelta::hours(4);
    let campaigns = campaigns(&mut rng);
    let mut board = Board::new();
    for c in &campaigns {
        board.upsert_campaign(c.clone()).expect("valid campaign");
    }
    let build = Instant::now();
    for id in 0..AGENTS {
        let profile = agent(id, &mut rng, &campaigns);
        let first = profile.campaigns[0];
        board.upsert_agent(profile, t0()).expect("valid agent");
        place(&mut board, AgentId(id), first, &mut rng, now, available_percent);
    }
    let build = build.elapsed();
    let calls = waiting_calls(&mut rng, now);
    let mut waiting = WaitingCalls::new();
    for call in &calls {
        waiting.enqueue(call.clone());
    }
    let mut available: Vec<AgentId> = board.agents(now).filter(|a| a.idle.is_some()).map(|a| a.agent).collect();
    available.sort_unstable();
    let offers = calls.iter().filter(|c| matches!(route(&board, c, now), Ok(Decision::Offer(_)))).count();
    let agree = calls.iter().all(|c| route(&board, c, now) == route_by_scan(&board, c, now));

    println!(
        "board: {AGENTS} agents ({} available), {CAMPAIGNS} campaigns (strategies mixed), {} waiting calls, \
         {SKILLS} skills (levels 1-5), {} languages, {} regions; built in {:.0} ms",
        available.len(),
        waiting.len(),
        LANGUAGES.len(),
        REGIONS.len(),
        build.as_secs_f64() * 1e3,
    );
    println!("calls with an eligible free agent: {offers} of {WAITING}; indexed and scan decisions identical: {agree}");
    println!();
    println!(
        "{:<34} {:>12} {:>9} {:>9} {:>10} {:>8}",
        "operation", "per second", "p50 µs", "p99 µs", "max µs", "allocs"
    );

    let n = calls.len();
    let indexed = measure("route (indexed)", 200_000, |i| {
        black_box(route(&board, black_box(&calls[i % n]), now).ok());
    });
    indexed.print();
    for strategy in STRATEGIES {
        let subset: Vec<&LiveCall> =
            calls.iter().filter(|c| campaigns[c.campaign.0 as usize].strategy == strategy).collect();
        let name = match strategy {
            Strategy::LongestIdle => "  of which LONGEST_IDLE",
            Strategy::FewestCalls => "  of which FEWEST_CALLS",
            Strategy::LeastTalkTime => "  of which LEAST_TALK_TIME",
            Strategy::BestMatch => "  of which BEST_MATCH",
        };
        measure(name, 50_000, |i| {
            black_box(route(&board, black_box(subset[i % subset.len()]), now).ok());
        })
        .print();
    }
    let scan = measure("route_by_scan (linear baseline)", 2_000, |i| {
        black_box(route_by_scan(&board, black_box(&calls[i % n]), now).ok());
    });
    scan.print();

    let reserve = measure("route + reserve + release", 100_000, |i| {
        let call = &calls[i % n];
        if let Ok(Decision::Offer(offer)) = route(&board, call, now) {
            let reserve = StateChange::Reserved { call: offer.call, campaign: offer.campaign };
            board.set_state(offer.agent, reserve, now).expect("free agent");
            // A missed offer keeps the agent's place: the board is as it was.
            board.set_state(offer.agent, StateChange::Available, now).expect("reserved agent");
        }
    });
    reserve.print();

    let dispatch = measure("next_for (1,000 waiting)", 100_000, |i| {
        let agent = available[i % available.len()];
        if let Ok(Some(offer)) = waiting.next_for(&board, agent, now) {
            let call = calls[(offer.call.0 - 1_000_000) as usize].clone();
            waiting.enqueue(call);
        }
    });
    dispatch.print();

    println!();
    println!(
        "indexed vs scan: {:.0}x decisions per second, p50 {:.0}x, p99 {:.0}x lower",
        indexed.per_second / scan.per_second,
        scan.percentile(0.50) as f64 / indexed.percentile(0.50).max(1) as f64,
        scan.percentile(0.99) as f64 / indexed.percentile(0.99).max(1) as f64,
    );
    let target = 20_000;
    println!("target p99 <= 20 µs per decision: {}", if indexed.percentile(0.99) <= target { "met" } else { "MISSED" });
}

fn main() {
    println!("ACD routing benchmark");
    for available_percent in [20, 2] {
        println!();
        println!("== {available_percent} % of agents available ==");
        run(available_percent);
    }
}
