//! Routing through the public API: strategies, ties, fairness, the waiting queue, deadlines,
//! wrap-up timeouts, and the indexed router held to the plain scan on random boards.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use outdial::acd::{
    AcdError, AgentId, AgentProfile, AgentState, Board, CallId, CampaignId, CampaignRouting, Decision, LiveCall, Offer,
    PreviewContact, RoutingMethod, SkillLevel, StateChange, Strategy, WaitingCalls, route, route_by_scan,
    route_preview,
};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;

const SALES: CampaignId = CampaignId(1);
const SUPPORT: CampaignId = CampaignId(2);

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 0).single().expect("valid instant") + TimeDelta::seconds(secs)
}

fn skills(list: &[(&str, u8)]) -> Vec<SkillLevel> {
    list.iter().map(|(name, level)| SkillLevel { name: (*name).into(), level: *level }).collect()
}

fn campaign(id: CampaignId, strategy: Strategy) -> CampaignRouting {
    CampaignRouting {
        id,
        priority: 0,
        strategy,
        required_skills: skills(&[("sales", 2)]),
        language: Some("en".into()),
        region: None,
        wrap_up_timeout: None,
    }
}

fn agent(id: i64, campaigns: &[CampaignId]) -> AgentProfile {
    AgentProfile {
        id: AgentId(id),
        skills: skills(&[("sales", 3)]),
        languages: vec!["en".into()],
        region: Some("east".into()),
        campaigns: campaigns.to_vec(),
    }
}

fn call(id: i64, campaign: CampaignId, answered: i64) -> LiveCall {
    LiveCall {
        id: CallId(id),
        campaign,
        priority: 0,
        answered_at: at(answered),
        deadline: at(answered) + TimeDelta::seconds(2),
        language: None,
        region: None,
    }
}

fn set(board: &mut Board, agent: i64, change: StateChange, secs: i64) {
    board.set_state(AgentId(agent), change, at(secs)).unwrap_or_else(|e| panic!("agent {agent}: {e}"));
}

/// Takes an offered call through a whole call: reserved, connected, talk, wrap-up, free.
fn handle(board: &mut Board, offer: &Offer, start: i64, talk: i64) {
    let agent = offer.agent.0;
    let reserve = StateChange::Reserved { call: offer.call, campaign: offer.campaign };
    set(board, agent, reserve, start);
    set(board, agent, StateChange::OnCall { call: offer.call }, start);
    set(board, agent, StateChange::WrapUp, start + talk);
    set(board, agent, StateChange::Available, start + talk);
}

fn offered(decision: Result<Decision, AcdError>) -> Offer {
    match decision {
        Ok(Decision::Offer(offer)) => offer,
        other => panic!("expected an offer, got {other:?}"),
    }
}

/// One agent in a strategy case: when it became free, its day so far, its profile twist.
struct Seat {
    id: i64,
    free_at: i64,
    calls: u32,
    talk_secs: i64,
    sales_level: u8,
    languages: &'static [&'static str],
    region: &'static str,
}

const fn seat(id: i64, free_at: i64, calls: u32, talk_secs: i64, sales_level: u8) -> Seat {
    Seat { id, free_at, calls, talk_secs, sales_level, languages: &["en"], region: "east" }
}

fn board_of(strategy: Strategy, seats: &[Seat]) -> Board {
    let mut board = Board::new();
    board.upsert_campaign(campaign(SALES, strategy)).expect("campaign");
    for s in seats {
        let profile = AgentProfile {
            skills: skills(&[("sales", s.sales_level)]),
            languages: s.languages.iter().map(|l| (*l).to_owned()).collect(),
            region: Some(s.region.into()),
            ..agent(s.id, &[SALES])
        };
        board.upsert_agent(profile, at(0)).expect("agent");
        board.restore_today(AgentId(s.id), s.calls, TimeDelta::seconds(s.talk_secs)).expect("totals");
        set(&mut board, s.id, StateChange::Available, s.free_at);
    }
    board
}

#[test]
fn each_strategy_picks_its_agent() {
    let contact_in_west = LiveCall { region: Some("west".into()), ..call(1, SALES, 400) };
    let cases: Vec<(&str, Strategy, Vec<Seat>, LiveCall, i64)> = vec![
        (
            "longest idle: the earliest free",
            Strategy::LongestIdle,
            vec![seat(1, 30, 0, 0, 3), seat(2, 10, 9, 900, 3), seat(3, 20, 0, 0, 5)],
            call(1, SALES, 400),
            2,
        ),
        (
            "fewest calls: the fewest today",
            Strategy::FewestCalls,
            vec![seat(1, 10, 4, 100, 3), seat(2, 20, 2, 900, 3), seat(3, 30, 3, 0, 3)],
            call(1, SALES, 400),
            2,
        ),
        (
            "fewest calls: equal calls, the longest idle",
            Strategy::FewestCalls,
            vec![seat(1, 30, 2, 0, 3), seat(2, 20, 2, 0, 3), seat(3, 10, 5, 0, 3)],
            call(1, SALES, 400),
            2,
        ),
        (
            "least talk time: the least today",
            Strategy::LeastTalkTime,
            vec![seat(1, 10, 1, 600, 3), seat(2, 20, 9, 300, 3), seat(3, 30, 1, 450, 3)],
            call(1, SALES, 400),
            2,
        ),
        (
            "best match: the higher skill level wins over idle time",
            Strategy::BestMatch,
            vec![seat(1, 10, 0, 0, 3), seat(2, 390, 0, 0, 5)],
            call(1, SALES, 400),
            2,
        ),
        (
            "best match: long idle outweighs one skill level",
            Strategy::BestMatch,
            vec![seat(1, 100, 0, 0, 4), seat(2, 400, 0, 0, 5)],
            call(1, SALES, 400),
            1,
        ),
        (
            "best match: idle time decides between equal skills",
            Strategy::BestMatch,
            vec![seat(1, 390, 0, 0, 4), seat(2, 300, 0, 0, 4)],
            call(1, SALES, 400),
            2,
        ),
        (
            "best match: first language beats a second one",
            Strategy::BestMatch,
            vec![Seat { languages: &["es", "en"], ..seat(1, 10, 0, 0, 4) }, seat(2, 10, 0, 0, 4)],
            call(1, SALES, 400),
            2,
        ),
        (
            "best match: the contact's region is preferred",
            Strategy::BestMatch,
            vec![seat(1, 10, 0, 0, 4), Seat { region: "west", ..seat(2, 10, 0, 0, 4) }],
            contact_in_west,
            2,
        ),
        (
            "ineligible agents are skipped whatever their place",
            Strategy::LongestIdle,
            vec![seat(1, 10, 0, 0, 1), Seat { languages: &["fr"], ..seat(2, 11, 0, 0, 3) }, seat(3, 12, 0, 0, 2)],
            call(1, SALES, 400),
            3,
        ),
    ];
    for (name, strategy, seats, live, expected) in cases {
        let board = board_of(strategy, &seats);
        let offer = offered(route(&board, &live, at(400)));
        assert_eq!(offer.agent, AgentId(expected), "{name}");
        assert_eq!(offer.routing_method, RoutingMethod::from(strategy), "{name}");
        assert_eq!(route_by_scan(&board, &live, at(400)), Ok(Decision::Offer(offer)), "{name}: the scan agrees");
    }
}

#[test]
fn ties_go_to_the_lower_agent_id_in_every_strategy() {
    for strategy in [Strategy::LongestIdle, Strategy::FewestCalls, Strategy::LeastTalkTime, Strategy::BestMatch] {
        let seats = [seat(9, 10, 1, 60, 4), seat(4, 10, 1, 60, 4), seat(7, 10, 1, 60, 4)];
        let board = board_of(strategy, &seats);
        let offer = offered(route(&board, &call(1, SALES, 100), at(100)));
        assert_eq!(offer.agent, AgentId(4), "{strategy:?}");
    }
}

#[test]
fn the_match_score_comes_with_every_offer() {
    let board = board_of(Strategy::LongestIdle, &[seat(1, 250, 0, 0, 4)]);
    let offer = offered(route(&board, &call(1, SALES, 400), at(400)));
    // Skills 4/5 of 60 = 48, first language 10, no region asked 10, idle 150 s = 10.
    assert_eq!(offer.match_score.points(), 78.0);
}

#[test]
fn longest_idle_rotates_evenly_under_equal_load() {
    let agents = 10;
    let calls = 1_000;
    let mut board = board_of(Strategy::LongestIdle, &(1..=agents).map(|id| seat(id, 0, 0, 0, 3)).collect::<Vec<_>>());
    let mut taken = vec![0u32; agents as usize];
    let mut order = Vec::new();
    for n in 0..calls {
        let now = 10 + n * 5;
        let offer = offered(route(&board, &call(n, SALES, now), at(now)));
        taken[(offer.agent.0 - 1) as usize] += 1;
        order.push(offer.agent.0);
        handle(&mut board, &offer, now, 3);
        let (most, least) = (taken.iter().max(), taken.iter().min());
        assert!(most.zip(least).is_some_and(|(m, l)| m - l <= 1), "uneven after {n}: {taken:?}");
    }
    assert!(taken.iter().all(|t| *t == 100), "{taken:?}");
    // A strict rotation: each agent's next call comes exactly `agents` calls later.
    assert!(order.windows(agents as usize + 1).all(|w| w[0] == w[agents as usize]));
}

#[test]
fn fewest_calls_evens_out_an_unequal_start() {
    let seats: Vec<Seat> = (1..=4).map(|id| seat(id, 0, (id as u32 - 1) * 5, 0, 3)).collect();
    let mut board = board_of(Strategy::FewestCalls, &seats);
    for n in 0..30 {
        let now = 10 + n * 5;
        let offer = offered(route(&board, &call(n, SALES, now), at(now)));
        handle(&mut board, &offer, now, 3);
    }
    let calls: Vec<u32> = (1..=4).map(|id| board.agent(AgentId(id), at(500)).expect("on board").calls_today).collect();
    // 0 + 5 + 10 + 15 + 30 = 60 calls in all: 15 each.
    assert_eq!(calls, vec![15, 15, 15, 15]);
}

#[test]
fn a_new_day_resets_the_least_busy_order() {
    let mut board = board_of(Strategy::FewestCalls, &[seat(1, 10, 5, 0, 3), seat(2, 20, 0, 0, 3)]);
    assert_eq!(offered(route(&board, &call(1, SALES, 100), at(100))).agent, AgentId(2));
    board.start_day(at(100));
    // Both at zero calls: the longest idle goes first.
    assert_eq!(offered(route(&board, &call(2, SALES, 100), at(100))).agent, AgentId(1));
    let view = board.agent(AgentId(1), at(100)).expect("on board");
    assert_eq!((view.calls_today, view.occupancy), (0, None));
}

#[test]
fn no_eligible_agent_means_wait_and_a_passed_deadline_means_abandon() {
    let mut board = board_of(Strategy::LongestIdle, &[seat(1, 10, 0, 0, 3)]);
    let live = call(1, SALES, 100);
    assert!(matches!(route(&board, &live, at(101)), Ok(Decision::Offer(_))));
    assert_eq!(route(&board, &live, at(102)), Ok(Decision::Abandon));
    set(&mut board, 1, StateChange::Paused { reason: None }, 100);
    assert_eq!(route(&board, &live, at(101)), Ok(Decision::Wait));
    let french = LiveCall { language: Some("fr".into()), ..call(2, SALES, 100) };
    set(&mut board, 1, StateChange::Available, 100);
    assert_eq!(route(&board, &french, at(101)), Ok(Decision::Wait));
    assert_eq!(route(&board, &call(3, CampaignId(99), 100), at(100)), Err(AcdError::UnknownCampaign(CampaignId(99))));
}

#[test]
fn a_reserved_agent_is_not_offered_again_and_a_rejected_change_keeps_it_routable() {
    let mut board = board_of(Strategy::LongestIdle, &[seat(1, 10, 0, 0, 3), seat(2, 20, 0, 0, 3)]);
    let first = offered(route(&board, &call(1, SALES, 100), at(100)));
    assert_eq!(first.agent, AgentId(1));
    assert_eq!(
        board.set_state(AgentId(1), StateChange::WrapUp, at(100)),
        Err(AcdError::InvalidTransition { agent: AgentId(1), from: AgentState::Available, to: AgentState::WrapUp })
    );
    assert_eq!(offered(route(&board, &call(1, SALES, 100), at(100))).agent, AgentId(1));
    let reserve = StateChange::Reserved { call: first.call, campaign: SALES };
    set(&mut board, 1, reserve, 100);
    assert_eq!(offered(route(&board, &call(2, SALES, 100), at(100))).agent, AgentId(2));
    // The offer is not taken: agent 1 is free again and first in line again.
    set(&mut board, 1, StateChange::Available, 101);
    assert_eq!(offered(route(&board, &call(3, SALES, 101), at(101))).agent, AgentId(1));
}

#[test]
fn a_preview_goes_to_the_agent_a_live_answer_would_get_and_holds_it_until_dialed() {
    let seats = [seat(1, 30, 1, 300, 3), seat(2, 10, 4, 900, 4), seat(3, 20, 0, 0, 5)];
    for strategy in Strategy::ALL {
        let mut board = board_of(strategy, &seats);
        let contact = PreviewContact { id: 42, campaign: SALES, language: None, region: None };
        let live = offered(route(&board, &call(1, SALES, 400), at(400)));
        let preview = route_preview(&board, &contact, at(400)).expect("campaign").expect("an agent is free");
        assert_eq!((preview.agent, preview.match_score), (live.agent, live.match_score), "{strategy:?}");
        assert_eq!((preview.contact, preview.routing_method), (42, live.routing_method));
        set(&mut board, preview.agent.0, StateChange::Preview { contact: 42, campaign: SALES }, 400);
        // A previewing agent takes no live answer and no second preview.
        assert_ne!(offered(route(&board, &call(2, SALES, 400), at(400))).agent, preview.agent);
        assert_ne!(route_preview(&board, &contact, at(400)).unwrap().map(|p| p.agent), Some(preview.agent));
        // Dialed, then connected: the reservation moves to the call.
        set(&mut board, preview.agent.0, StateChange::Reserved { call: CallId(9), campaign: SALES }, 401);
        set(&mut board, preview.agent.0, StateChange::OnCall { call: CallId(9) }, 410);
    }
    let board = board_of(Strategy::LongestIdle, &[]);
    let nobody = PreviewContact { id: 1, campaign: SALES, language: None, region: None };
    assert_eq!(route_preview(&board, &nobody, at(0)), Ok(None));
    let unknown = PreviewContact { campaign: SUPPORT, ..nobody };
    assert_eq!(route_preview(&board, &unknown, at(0)), Err(AcdError::UnknownCampaign(SUPPORT)));
}

#[test]
fn profile_and_campaign_changes_move_agents_in_and_out_of_the_index() {
    let mut board = board_of(Strategy::LongestIdle, &[seat(1, 10, 0, 0, 3), seat(2, 20, 0, 0, 5)]);
    let live = call(1, SALES, 100);
    assert_eq!(offered(route(&board, &live, at(100))).agent, AgentId(1));
    let stricter =
        CampaignRouting { required_skills: skills(&[("sales", 4)]), ..campaign(SALES, Strategy::LongestIdle) };
    board.upsert_campaign(stricter).expect("campaign");
    assert_eq!(offered(route(&board, &live, at(100))).agent, AgentId(2));
    let retrained = AgentProfile { skills: skills(&[("sales", 4)]), ..agent(1, &[SALES]) };
    board.upsert_agent(retrained, at(100)).expect("agent");
    assert_eq!(offered(route(&board, &live, at(100))).agent, AgentId(1));
    board.upsert_agent(agent(1, &[SUPPORT]), at(100)).expect("agent");
    assert_eq!(offered(route(&board, &live, at(100))).agent, AgentId(2));
    board.remove_agent(AgentId(2)).expect("on board");
    assert_eq!(route(&board, &live, at(100)), Ok(Decision::Wait));
    assert_eq!(board.remove_agent(AgentId(2)), Err(AcdError::UnknownAgent(AgentId(2))));
}

#[test]
fn wrap_up_ends_by_itself_after_the_campaigns_timeout() {
    let mut board = Board::new();
    let timed =
        CampaignRouting { wrap_up_timeout: Some(TimeDelta::seconds(30)), ..campaign(SALES, Strategy::LongestIdle) };
    board.upsert_campaign(timed).expect("campaign");
    board.upsert_agent(agent(1, &[SALES]), at(0)).expect("agent");
    set(&mut board, 1, StateChange::Available, 0);
    let offer = offered(route(&board, &call(1, SALES, 10), at(10)));
    let reserve = StateChange::Reserved { call: offer.call, campaign: SALES };
    set(&mut board, 1, reserve, 10);
    set(&mut board, 1, StateChange::OnCall { call: offer.call }, 11);
    set(&mut board, 1, StateChange::WrapUp, 70);
    assert_eq!(board.next_wrap_up_end(), Some(at(100)));
    assert!(board.expire_wrap_ups(at(99)).is_empty());
    assert_eq!(route(&board, &call(2, SALES, 99), at(99)), Ok(Decision::Wait));
    let ended = board.expire_wrap_ups(at(100));
    assert_eq!(ended.len(), 1);
    assert_eq!((ended[0].agent, ended[0].to), (AgentId(1), AgentState::Available));
    assert_eq!(board.next_wrap_up_end(), None);
    assert_eq!(offered(route(&board, &call(3, SALES, 100), at(100))).agent, AgentId(1));
    let view = board.agent(AgentId(1), at(100)).expect("on board");
    assert_eq!((view.calls_today, view.talk_today), (1, TimeDelta::seconds(59)));
}

fn queued(id: i64, campaign: CampaignId, priority: i32, answered: i64) -> LiveCall {
    LiveCall { priority, deadline: at(answered) + TimeDelta::seconds(60), ..call(id, campaign, answered) }
}

/// Two campaigns sharing agent 1; support has the higher campaign priority.
fn shared_board() -> Board {
    let mut board = Board::new();
    board.upsert_campaign(campaign(SALES, Strategy::LongestIdle)).expect("campaign");
    let support = CampaignRouting { priority: 5, ..campaign(SUPPORT, Strategy::LongestIdle) };
    board.upsert_campaign(support).expect("campaign");
    board.upsert_agent(agent(1, &[SALES, SUPPORT]), at(0)).expect("agent");
    board
}

#[test]
fn a_freed_agent_takes_waiting_calls_by_campaign_priority_then_call_priority_then_age() {
    let mut board = shared_board();
    let mut waiting = WaitingCalls::new();
    for live in [
        queued(1, SALES, 0, 10),
        queued(2, SALES, 9, 12),
        queued(3, SUPPORT, 0, 14),
        queued(4, SUPPORT, 0, 11),
        queued(5, SUPPORT, 1, 13),
        queued(6, SALES, 9, 11),
    ] {
        waiting.enqueue(live);
    }
    assert_eq!(waiting.next_for(&board, AgentId(1), at(20)), Ok(None), "agent is OFFLINE");
    set(&mut board, 1, StateChange::Available, 20);
    let mut taken = Vec::new();
    while let Some(offer) = waiting.next_for(&board, AgentId(1), at(20)).expect("agent on board") {
        assert_eq!(offer.routing_method, RoutingMethod::WaitingQueue);
        taken.push(offer.call.0);
    }
    assert_eq!(taken, vec![5, 4, 3, 6, 2, 1]);
    assert!(waiting.is_empty());
}

#[test]
fn a_waiting_call_the_agent_cannot_take_is_passed_over_not_blocked_on() {
    let mut board = shared_board();
    set(&mut board, 1, StateChange::Available, 20);
    let mut waiting = WaitingCalls::new();
    let spanish = LiveCall { language: Some("es".into()), ..queued(1, SALES, 9, 10) };
    waiting.enqueue(spanish);
    waiting.enqueue(queued(2, SALES, 0, 11));
    let offer = waiting.next_for(&board, AgentId(1), at(20)).expect("agent on board");
    assert_eq!(offer.map(|o| o.call), Some(CallId(2)));
    assert_eq!(waiting.next_for(&board, AgentId(1), at(20)), Ok(None));
    assert_eq!(waiting.len(), 1);
}

#[test]
fn waiting_calls_past_their_deadline_are_handed_back_as_abandoned() {
    let mut board = shared_board();
    set(&mut board, 1, StateChange::Available, 0);
    let mut waiting = WaitingCalls::new();
    let short = |id, answered| LiveCall { deadline: at(answered + 2), ..queued(id, SALES, 0, answered) };
    waiting.enqueue(short(1, 10));
    waiting.enqueue(short(2, 11));
    waiting.enqueue(short(3, 30));
    assert_eq!(waiting.next_deadline(), Some(at(12)));
    // Call 1's deadline has come: never offered, even before `expire` runs.
    assert_eq!(waiting.next_for(&board, AgentId(1), at(12)).map(|o| o.map(|o| o.call)), Ok(Some(CallId(2))));
    let expired: Vec<i64> = waiting.expire(at(13)).iter().map(|c| c.id.0).collect();
    assert_eq!(expired, vec![1]);
    assert_eq!(waiting.remove(CallId(3)).map(|c| c.id), Some(CallId(3)));
    assert!(waiting.expire(at(100)).is_empty());
    assert_eq!(waiting.next_deadline(), None);
}

/// Operations for the property test.
#[derive(Debug, Clone)]
enum Op {
    Agent { id: i64, skills: Vec<(u8, u8)>, languages: Vec<u8>, region: Option<u8>, campaigns: Vec<u8> },
    State { agent: i64, change: u8, secs: i64 },
    Totals { agent: i64, calls: u32, talk: i64 },
    Campaign { id: u8, strategy: u8, skills: Vec<(u8, u8)>, language: Option<u8>, region: Option<u8> },
}

const LANGUAGES: [&str; 3] = ["en", "es", "fr"];
const REGIONS: [&str; 3] = ["east", "west", "south"];
const STRATEGIES: [Strategy; 4] =
    [Strategy::LongestIdle, Strategy::FewestCalls, Strategy::LeastTalkTime, Strategy::BestMatch];

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    let skill_list = prop::collection::vec((0u8..4, 1u8..=5), 0..4);
    prop_oneof![
        (
            1i64..25,
            skill_list.clone(),
            prop::collection::vec(0u8..3, 0..3),
            prop::option::of(0u8..3),
            prop::collection::vec(0u8..3, 0..3)
        )
            .prop_map(|(id, skills, languages, region, campaigns)| Op::Agent {
                id,
                skills,
                languages,
                region,
                campaigns
            }),
        (1i64..25, 0u8..6, 0i64..600).prop_map(|(agent, change, secs)| Op::State { agent, change, secs }),
        (1i64..25, 0u32..4, 0i64..400).prop_map(|(agent, calls, talk)| Op::Totals { agent, calls, talk }),
        (
            0u8..3,
            0u8..4,
            prop::collection::vec((0u8..4, 1u8..=3), 0..3),
            prop::option::of(0u8..3),
            prop::option::of(0u8..3)
        )
            .prop_map(|(id, strategy, skills, language, region)| Op::Campaign {
                id,
                strategy,
                skills,
                language,
                region
            }),
    ]
}

fn skill_levels(list: &[(u8, u8)]) -> Vec<SkillLevel> {
    list.iter().map(|(s, level)| SkillLevel { name: format!("skill{s}"), level: *level }).collect()
}

fn apply(board: &mut Board, op: Op) {
    match op {
        Op::Agent { id, skills, languages, region, campaigns } => {
            let profile = AgentProfile {
                id: AgentId(id),
                skills: skill_levels(&skills),
                languages: languages.iter().map(|l| LANGUAGES[*l as usize].to_owned()).collect(),
                region: region.map(|r| REGIONS[r as usize].to_owned()),
                campaigns: campaigns.iter().map(|c| CampaignId(i64::from(*c))).collect(),
            };
            board.upsert_agent(profile, at(0)).expect("valid profile");
        }
        Op::State { agent, change, secs } => {
            let call = CallId(agent * 1000 + secs);
            let change = match change {
                0 => StateChange::Offline,
                1 => StateChange::Available,
                2 => StateChange::Reserved { call, campaign: CampaignId(0) },
                3 => StateChange::OnCall { call },
                4 => StateChange::WrapUp,
                _ => StateChange::Paused { reason: None },
            };
            // Invalid changes and unknown agents are refused; the board must stay consistent.
            let _ = board.set_state(AgentId(agent), change, at(secs));
        }
        Op::Totals { agent, calls, talk } => {
            let _ = board.restore_today(AgentId(agent), calls, TimeDelta::seconds(talk));
        }
        Op::Campaign { id, strategy, skills, language, region } => {
            let routing = CampaignRouting {
                id: CampaignId(i64::from(id)),
                priority: 0,
                strategy: STRATEGIES[strategy as usize],
                required_skills: skill_levels(&skills),
                language: language.map(|l| LANGUAGES[l as usize].to_owned()),
                region: region.map(|r| REGIONS[r as usize].to_owned()),
                wrap_up_timeout: Some(TimeDelta::seconds(20)),
            };
            board.upsert_campaign(routing).expect("valid campaign");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_index_decides_exactly_as_the_plain_scan(
        ops in prop::collection::vec(op(), 1..120),
        probes in prop::collection::vec((0u8..3, prop::option::of(0u8..4), prop::option::of(0u8..3), 450i64..800), 1..12),
    ) {
        let mut board = Board::new();
        for id in 0..3u8 {
            apply(&mut board, Op::Campaign { id, strategy: 3 - id, skills: vec![], language: None, region: None });
        }
        for op in ops {
            apply(&mut board, op);
        }
        board.expire_wrap_ups(at(300));
        for (campaign, language, region, secs) in probes {
            let live = LiveCall {
                language: language.map(|l| ["en", "es", "fr", "de"][l as usize].to_owned()),
                region: region.map(|r| REGIONS[r as usize].to_owned()),
                deadline: at(secs + 2),
                ..call(1, CampaignId(i64::from(campaign)), secs)
            };
            prop_assert_eq!(route(&board, &live, at(secs)), route_by_scan(&board, &live, at(secs)));
        }
    }
}

/// One agent of a random snapshot: skills, languages, region, whether free and since when,
/// its day so far.
type SnapshotAgent = (Vec<(u8, u8)>, Vec<u8>, Option<u8>, bool, i64, u32, i64);

fn snapshot_agent() -> impl proptest::strategy::Strategy<Value = SnapshotAgent> {
    (
        prop::collection::vec((0u8..3, 1u8..=5), 0..4),
        prop::collection::vec(0u8..3, 0..3),
        prop::option::of(0u8..3),
        prop::bool::weighted(0.8),
        0i64..400,
        0u32..4,
        0i64..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn on_any_snapshot_every_strategy_decides_as_the_plain_scan(
        agents in prop::collection::vec(snapshot_agent(), 1..40),
        strategy in 0usize..4,
        required in prop::collection::vec((0u8..3, 1u8..=3), 0..3),
        language in prop::option::of(0u8..3),
        region in prop::option::of(0u8..3),
        contact_language in prop::option::of(0u8..3),
        contact_region in prop::option::of(0u8..3),
        now in 400i64..500,
    ) {
        let mut board = Board::new();
        apply(&mut board, Op::Campaign {
            id: 0,
            strategy: strategy as u8,
            skills: required,
            language,
            region,
        });
        for (n, (skills, languages, region, free, since, calls, talk)) in agents.into_iter().enumerate() {
            let id = n as i64 + 1;
            apply(&mut board, Op::Agent { id, skills, languages, region, campaigns: vec![0] });
            apply(&mut board, Op::Totals { agent: id, calls, talk });
            apply(&mut board, Op::State { agent: id, change: if free { 1 } else { 5 }, secs: since });
        }
        let live = LiveCall {
            language: contact_language.map(|l| LANGUAGES[l as usize].to_owned()),
            region: contact_region.map(|r| REGIONS[r as usize].to_owned()),
            deadline: at(now + 2),
            ..call(1, CampaignId(0), now)
        };
        prop_assert_eq!(route(&board, &live, at(now)), route_by_scan(&board, &live, at(now)));
    }
}

/// Campaigns that pace on the same agents split them: every agent counts for exactly one pacing
/// campaign it serves (the higher priority first, equals split by agent id), an agent serving only
/// one campaign counts for it, and a campaign that stops pacing leaves its share to the others.
#[test]
fn campaigns_pacing_on_shared_agents_count_each_agent_once() {
    let mut board = Board::new();
    board.upsert_campaign(campaign(SALES, Strategy::LongestIdle)).unwrap();
    board.upsert_campaign(campaign(SUPPORT, Strategy::LongestIdle)).unwrap();
    for id in 1..=6 {
        board.upsert_agent(agent(id, &[SALES, SUPPORT]), at(0)).unwrap();
    }
    board.upsert_agent(agent(7, &[SUPPORT]), at(0)).unwrap();
    let share = |pacing: &std::collections::HashMap<CampaignId, i32>, c: CampaignId| {
        let mut ids: Vec<i64> = board.pacing_share(c, pacing, at(1)).map(|v| v.agent.0).collect();
        ids.sort_unstable();
        ids
    };
    let equal = std::collections::HashMap::from([(SALES, 0), (SUPPORT, 0)]);
    let (sales, support) = (share(&equal, SALES), share(&equal, SUPPORT));
    assert_eq!(sales.len() + support.len(), 7, "every agent counted once: {sales:?} {support:?}");
    assert!(sales.iter().all(|a| !support.contains(a)), "{sales:?} {support:?}");
    assert_eq!(sales.len(), 3, "the six shared agents split evenly: {sales:?}");
    assert!(support.contains(&7), "agent 7 serves only SUPPORT: {support:?}");
    assert_eq!(share(&equal, SALES), sales, "the same split at every step");

    let sales_first = std::collections::HashMap::from([(SALES, 5), (SUPPORT, 0)]);
    assert_eq!(share(&sales_first, SALES), vec![1, 2, 3, 4, 5, 6], "the higher priority takes the shared agents");
    assert_eq!(share(&sales_first, SUPPORT), vec![7]);

    let sales_alone = std::collections::HashMap::from([(SALES, 0)]);
    assert_eq!(share(&sales_alone, SALES), vec![1, 2, 3, 4, 5, 6], "SUPPORT stopped pacing: SALES counts them all");
}
