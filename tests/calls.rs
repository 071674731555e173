//! The call store on SQLite and PostgreSQL: the dial path's one write (call, audited verdict,
//! attempt) never happens twice for one attempt, and carrier events are stored once and only
//! move a call forward, ending with the outcome the rules give it.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{Backend, migrated_store, safe};
use outdial::campaign::{CampaignSettings, DialerMode};
use outdial::error::DomainError;
use outdial::store::calls::{NewCall, Recorded};
use outdial::store::{Store, TenantId};
use outdial::telephony::{AmdResult, CallId, CallLeg, CarrierEvent, CarrierEventKind, HangupCause};

struct Fixture {
    store: Store,
    tenant: TenantId,
    campaign: i64,
    contact: i64,
    _dir: tempfile::TempDir,
}

async fn fixture(backend: Backend) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = migrated_store(backend, dir.path()).await;
    let tenant = TenantId::new("acme");
    let now = Utc::now();
    let list = store.contact_lists().create(&tenant, "List", now).await.unwrap();
    let rows =
        vec![Ok(outdial::contact_import::ContactRow { phone_number: "2124567890".into(), ..Default::default() })];
    outdial::contact_import::import(&store, &tenant, list.id, rows, now, &mut |_| {}).await.unwrap();
    let contact = store
        .contacts()
        .list(&tenant, list.id, None, outdial::store::PageRequest { first: 1, after: None, with_total: false })
        .await
        .unwrap()
        .items[0]
        .id;
    let settings = CampaignSettings::defaults("Spring".into(), DialerMode::Predictive);
    let campaign = store.campaigns().create(&tenant, &settings, &[list.id], now).await.unwrap().id;
    Fixture { store, tenant, campaign, contact, _dir: dir }
}

fn event(call: i64, id: &str, at: DateTime<Utc>, kind: CarrierEventKind) -> CarrierEvent {
    CarrierEvent {
        event_id: id.into(),
        occurred_at: at,
        call: Some(CallId(call)),
        leg: CallLeg::default(),
        call_control_id: format!("v3:{call}"),
        call_session_id: format!("session-{call}"),
        kind,
    }
}

backend_tests! {
    async fn calls_are_written_once_and_move_only_forward(backend) {
        let f = fixture(backend).await;
        let now = Utc::now();
        let new = || NewCall {
            campaign_id: f.campaign,
            contact_id: f.contact,
            attempt: 1,
            carrier: "simulated",
            from_number: "+12125550100".into(),
            to_number: "+12124567890".into(),
        };
        let call = f.store.calls().create_dialed(&f.tenant, new(), &safe("+12124567890"), now).await.unwrap();
        assert_eq!(call.state, "DIALING");
        // The same attempt again (a retry after a crash, a second scheduler): refused.
        let again = f.store.calls().create_dialed(&f.tenant, new(), &safe("+12124567890"), now).await;
        assert!(matches!(again, Err(DomainError::Conflict(_))), "{again:?}");
        let mut refused = safe("+12124567890");
        refused.safe_to_call = false;
        let unsafe_dial = f.store.calls().create_dialed(&f.tenant, NewCall { attempt: 2, ..new() }, &refused, now).await;
        assert!(matches!(unsafe_dial, Err(DomainError::Conflict(_))));

        let t = |s: i64| now + TimeDelta::seconds(s);
        let calls = f.store.calls();
        let store = &f.store;
        let record = |e: CarrierEvent| async move { store.calls().record_event(&e, Utc::now()).await.unwrap() };
        let answered = record(event(call.id, "e2", t(8), CarrierEventKind::Answered)).await;
        let Recorded::New(after_answer) = answered else { panic!("new event") };
        assert_eq!(after_answer.state, "ANSWERED");
        assert_eq!(after_answer.carrier_call_id.as_deref(), Some(format!("v3:{}", call.id).as_str()));
        // Out of order: ringing after the answer is stored but moves nothing.
        let Recorded::New(late) = record(event(call.id, "e1", t(3), CarrierEventKind::Ringing)).await else { panic!() };
        assert_eq!(late.state, "ANSWERED");
        // A duplicate delivery has no effect.
        assert_eq!(record(event(call.id, "e2", t(8), CarrierEventKind::Answered)).await, Recorded::Duplicate);
        record(event(call.id, "e3", t(10), CarrierEventKind::MachineDetectionEnded { result: AmdResult::Human })).await;
        // A person answered and hung up before reaching an agent: abandoned by the rules.
        let hangup = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        let Recorded::New(ended) = record(event(call.id, "e4", t(12), hangup)).await else { panic!() };
        assert_eq!((ended.state.as_str(), ended.outcome.as_deref()), ("ENDED", Some("ABANDONED")));
        assert_eq!(ended.duration_seconds, Some(4));
        assert_eq!(ended.amd_result.as_deref(), Some("human"));
        let kinds: Vec<String> = calls.events(&f.tenant, call.id).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["call.ringing", "call.answered", "call.machine.detection.ended", "call.hangup"]);

        // An unanswered busy line.
        let second =
            calls.create_dialed(&f.tenant, NewCall { attempt: 2, ..new() }, &safe("+12124567890"), t(60)).await.unwrap();
        let busy = CarrierEventKind::HungUp { cause: HangupCause::UserBusy, sip_code: Some(486) };
        let Recorded::New(busy) = record(event(second.id, "e5", t(63), busy)).await else { panic!() };
        assert_eq!(busy.outcome.as_deref(), Some("BUSY"));
        // Another tenant cannot read them; the contact counts both attempts.
        assert!(matches!(calls.get(&TenantId::new("globex"), call.id).await, Err(DomainError::NotFound(_))));
        let contact = f.store.contacts().get(&f.tenant, f.contact).await.unwrap();
        assert_eq!(contact.attempts, 2);
    }
}

backend_tests! {
    /// A dial step's writes in one transaction: one answer per dial in order (an unsafe verdict
    /// and an attempt already dialed are that dial's CONFLICT, the others are written), and
    /// carrier events that arrived together stored in order, each once.
    async fn a_step_of_dials_and_a_batch_of_events_are_written_together(backend) {
        let f = fixture(backend).await;
        let now = Utc::now();
        let list = f.store.contact_lists().create(&f.tenant, "More", now).await.unwrap();
        let rows: Vec<_> = ["2124567891", "2124567892", "2124567893"]
            .map(|n| Ok(outdial::contact_import::ContactRow { phone_number: n.into(), ..Default::default() }))
            .into();
        outdial::contact_import::import(&f.store, &f.tenant, list.id, rows, now, &mut |_| {}).await.unwrap();
        let page = outdial::store::PageRequest { first: 3, after: None, with_total: false };
        let contacts = f.store.contacts().list(&f.tenant, list.id, None, page).await.unwrap().items;
        let new = |contact: &entity::contact::Model| NewCall {
            campaign_id: f.campaign,
            contact_id: contact.id,
            attempt: 1,
            carrier: "simulated",
            from_number: "+12125550100".into(),
            to_number: contact.phone_number.clone(),
        };
        let calls = f.store.calls();
        let earlier = calls.create_dialed(&f.tenant, new(&contacts[2]), &safe(&contacts[2].phone_number), now).await;
        let earlier = earlier.unwrap();
        let mut refused = safe(&contacts[1].phone_number);
        refused.safe_to_call = false;
        let verdicts = [safe(&contacts[0].phone_number), refused, safe(&contacts[2].phone_number)];
        let dials = contacts.iter().zip(&verdicts).map(|(c, v)| (new(c), v)).collect();
        let answers = calls.create_dialed_many(&f.tenant, dials, now).await.unwrap();
        assert_eq!(answers.len(), 3);
        let first = answers[0].as_ref().expect("the safe new dial is written");
        assert_eq!((first.contact_id, first.attempt, first.state.as_str()), (contacts[0].id, 1, "DIALING"));
        assert!(matches!(&answers[1], Err(DomainError::Conflict(m)) if m.contains("not safe")), "{:?}", answers[1]);
        assert!(matches!(&answers[2], Err(DomainError::Conflict(m)) if m.contains("already")), "{:?}", answers[2]);
        let attempts: Vec<i32> = {
            let mut now = Vec::new();
            for contact in &contacts {
                now.push(f.store.contacts().get(&f.tenant, contact.id).await.unwrap().attempts);
            }
            now
        };
        assert_eq!(attempts, [1, 0, 1], "only the written dials count an attempt");

        let t = |s: i64| now + TimeDelta::seconds(s);
        let hangup = CarrierEventKind::HungUp { cause: HangupCause::NormalClearing, sip_code: None };
        let batch = [
            event(first.id, "b1", t(3), CarrierEventKind::Ringing),
            event(earlier.id, "b2", t(4), CarrierEventKind::Ringing),
            event(first.id, "b1", t(3), CarrierEventKind::Ringing),
            event(first.id + 1_000_000, "b3", t(4), CarrierEventKind::Ringing),
            event(first.id, "b4", t(30), hangup),
        ];
        let recorded = calls.record_events(&batch, t(30)).await.unwrap();
        assert!(matches!(&recorded[0], Ok(Recorded::New(call)) if call.state == "RINGING"), "{:?}", recorded[0]);
        assert!(matches!(&recorded[1], Ok(Recorded::New(call)) if call.id == earlier.id), "{:?}", recorded[1]);
        assert_eq!(recorded[2].as_ref().ok(), Some(&Recorded::Duplicate), "the same event id twice in one batch");
        assert!(matches!(recorded[3], Err(DomainError::NotFound(_))), "{:?}", recorded[3]);
        // The hang-up saw the ringing stored before it in the same batch: no answer.
        let Ok(Recorded::New(ended)) = &recorded[4] else { panic!("{:?}", recorded[4]) };
        assert_eq!((ended.state.as_str(), ended.outcome.as_deref()), ("ENDED", Some("NO_ANSWER")));
        let kinds: Vec<String> = calls.events(&f.tenant, first.id).await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["call.ringing", "call.hangup"]);
    }
}
