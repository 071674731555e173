//! Calls of a tenant and their carrier events: the dial path's one write (the call row, its
//! audited verdict and the contact's attempt, together or not at all), carrier events stored
//! once by their event id and applied to the call only when they move it forward, the end of a
//! call settled in the same transaction (its cost, and the contact's retry by the campaign's
//! rules), and reads.

use chrono::{DateTime, Utc};
use entity::{call, call_event, campaign, contact};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    Set, TryInsertResult,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};

use super::compliance::{self, AuditRow, Purpose, insert_audit};
use super::crm;
use super::{Page, PageRequest, Store, TenantId, page};
use crate::compliance::verdict::Verdict;
use crate::error::{DomainError, DomainResult};
use crate::telephony::{AmdResult, CallLeg, CarrierCallRef, CarrierEvent, CarrierEventKind, HangupCause};

/// Where a call is; each state only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallState {
    Dialing,
    Ringing,
    Answered,
    Bridged,
    Ended,
}

impl CallState {
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Dialing => "DIALING",
            CallState::Ringing => "RINGING",
            CallState::Answered => "ANSWERED",
            CallState::Bridged => "BRIDGED",
            CallState::Ended => "ENDED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [CallState::Dialing, CallState::Ringing, CallState::Answered, CallState::Bridged, CallState::Ended]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// A call about to be placed.
#[derive(Clone, Debug)]
pub struct NewCall {
    pub campaign_id: i64,
    pub contact_id: i64,
    /// 1 for the contact's first call, and so on: one call per attempt, ever.
    pub attempt: i32,
    pub carrier: &'static str,
    pub from_number: String,
    pub to_number: String,
}

/// What a disposition does to the contact.
#[derive(Clone, Debug, PartialEq)]
pub enum DispositionEffect {
    /// Call again at this time (the agent's choice).
    Callback(DateTime<Utc>),
    /// Never call again: the number goes on the internal DNC list.
    DoNotCall,
    /// The contact is finished.
    Done,
}

/// An agent's disposition of a call.
#[derive(Clone, Debug)]
pub struct Disposition {
    /// The campaign's outcome tag.
    pub tag: String,
    pub notes: Option<String>,
    pub effect: DispositionEffect,
    /// The call as the CRM outbox delivers it to each enabled connector (a `CallActivity`).
    pub crm_activity: serde_json::Value,
}

/// A campaign's call counts over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTotals {
    pub dials: u64,
    pub answered: u64,
    /// Answered and not found to be a machine (the rules' denominator of abandonment).
    pub human_answered: u64,
    pub machine_answered: u64,
    pub no_answer: u64,
    pub busy: u64,
    pub abandoned: u64,
    /// Reached an agent.
    pub bridged: u64,
    /// Not ended yet.
    pub in_flight: u64,
    /// Dialed after the `recent` instant.
    pub recent_dials: u64,
    /// Connected seconds (answer to hang-up).
    pub talk_seconds: u64,
}

/// What storing a carrier event did.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Stored; the call as it is now (changed only if the event moved it forward).
    New(Box<call::Model>),
    /// The event id was stored before: nothing changed.
    Duplicate,
}

pub struct Calls<'a>(&'a Store);

impl Store {
    pub fn calls(&self) -> Calls<'_> {
        Calls(self)
    }
}

impl Calls<'_> {
    /// Writes the call row, the verdict that allowed it (audit purpose DIAL) and the contact's
    /// attempt in one transaction. A second call for the same attempt is a `CONFLICT`: nobody is
    /// dialed twice for one attempt, whatever crashes or retries happen around it.
    pub async fn create_dialed(
        &self,
        tenant: &TenantId,
        new: NewCall,
        verdict: &Verdict,
        now: DateTime<Utc>,
    ) -> DomainResult<call::Model> {
        let mut created = self.create_dialed_many(tenant, vec![(new, verdict)], now).await?;
        created.pop().unwrap_or_else(|| Err(DomainError::conflict("nothing to dial")))
    }

    /// [`Self::create_dialed`] for a dial step: every call row, its audit record and its
    /// contact's attempt in one transaction, one answer per dial in order. A dial whose verdict
    /// is not safe, or whose attempt was already dialed, is that dial's `CONFLICT`; the others
    /// are written.
    pub async fn create_dialed_many(
        &self,
        tenant: &TenantId,
        dials: Vec<(NewCall, &Verdict)>,
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<DomainResult<call::Model>>> {
        let safe: Vec<&(NewCall, &Verdict)> = dials.iter().filter(|(_, verdict)| verdict.safe_to_call).collect();
        let mut created: HashMap<i64, call::Model> = HashMap::new();
        if !safe.is_empty() {
            let txn = self.0.write().await?;
            let rows = safe.iter().map(|(new, _)| call::ActiveModel {
                tenant_id: Set(tenant.as_str().to_owned()),
                campaign_id: Set(new.campaign_id),
                contact_id: Set(new.contact_id),
                agent_id: Set(None),
                attempt: Set(new.attempt),
                carrier: Set(new.carrier.to_owned()),
                carrier_call_id: Set(None),
                carrier_session_id: Set(None),
                from_number: Set(new.from_number.clone()),
                to_number: Set(new.to_number.clone()),
                state: Set(CallState::Dialing.as_str().to_owned()),
                dialed_at: Set(now),
                answered_at: Set(None),
                bridged_at: Set(None),
                ended_at: Set(None),
                outcome: Set(None),
                disposition: Set(None),
                notes: Set(None),
                callback_at: Set(None),
                amd_result: Set(None),
                duration_seconds: Set(None),
                cost: Set(None),
                created_at: Set(now),
                ..Default::default()
            });
            // An attempt already dialed is skipped, not an error: the other rows go in.
            let inserted = call::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([call::Column::TenantId, call::Column::ContactId, call::Column::Attempt])
                .exec_with_returning_many(&txn)
                .await?;
            if let TryInsertResult::Inserted(rows) = inserted {
                created = rows.into_iter().map(|row| (row.contact_id, row)).collect();
            }
            let audits: Vec<AuditRow> = safe
                .iter()
                .filter_map(|(new, verdict)| {
                    let call = created.get(&new.contact_id)?.id;
                    Some(AuditRow { verdict, campaign: Some(new.campaign_id), call: Some(call) })
                })
                .collect();
            insert_audit(&txn, tenant, &audits, Purpose::Dial, now, now).await?;
            contact::Entity::update_many()
                .col_expr(contact::Column::Attempts, Expr::col(contact::Column::Attempts).add(1))
                .col_expr(contact::Column::LastAttemptAt, Expr::value(now))
                .col_expr(contact::Column::Status, Expr::value(super::contacts::DIALING))
                .filter(contact::Column::TenantId.eq(tenant.as_str()))
                .filter(contact::Column::Id.is_in(created.keys().copied()))
                .exec(&txn)
                .await?;
            txn.commit().await?;
        }
        Ok(dials
            .into_iter()
            .map(|(new, verdict)| {
                if !verdict.safe_to_call {
                    return Err(DomainError::conflict(format!("{} is not safe to call now", verdict.phone_number)));
                }
                created
                    .remove(&new.contact_id)
                    .ok_or_else(|| DomainError::conflict("this attempt of the contact was already dialed"))
            })
            .collect())
    }

    /// Stores a carrier event once (by its event id) and applies it to its call when it moves
    /// the call forward; an event that arrives late (ringing after the answer) is kept but
    /// changes nothing. Events of calls that are not ours are `NOT_FOUND`.
    pub async fn record_event(&self, event: &CarrierEvent, now: DateTime<Utc>) -> DomainResult<Recorded> {
        let mut recorded = self.record_events(std::slice::from_ref(event), now).await?;
        recorded.pop().unwrap_or(Err(DomainError::NotFound("call")))
    }

    /// [`Self::record_event`] for the events that arrived together, in one transaction and in
    /// their order (a later event sees what an earlier one did to its call): one answer per
    /// event. A database failure fails them all (nothing is stored).
    pub async fn record_events(
        &self,
        events: &[CarrierEvent],
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<DomainResult<Recorded>>> {
        let txn = self.0.write().await?;
        // The batch's calls in one read and its events in one insert; then each event in order.
        let ids = events.iter().filter_map(|event| event.call.map(|call| call.0));
        let mut calls: HashMap<i64, call::Model> = call::Entity::find()
            .filter(call::Column::Id.is_in(ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let rows: Vec<call_event::ActiveModel> =
            events.iter().filter_map(|event| Some(stored_event(calls.get(&event.call?.0)?, event, now))).collect();
        // A duplicate is skipped by the database rather than failing the statement, which would
        // abort a PostgreSQL transaction holding other events.
        let mut new: HashSet<String> = HashSet::new();
        if !rows.is_empty() {
            let inserted = call_event::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([call_event::Column::CarrierEventId])
                .exec_with_returning_many(&txn)
                .await?;
            if let TryInsertResult::Inserted(stored) = inserted {
                new = stored.into_iter().map(|stored| stored.carrier_event_id).collect();
            }
        }
        let mut campaigns = HashMap::new();
        let mut recorded = Vec::with_capacity(events.len());
        for event in events {
            let Some(current) = event.call.and_then(|call| calls.get(&call.0)) else {
                recorded.push(Err(DomainError::NotFound("call")));
                continue;
            };
            // The first of an event id is the one stored; a repeat, in this batch or before, is a duplicate.
            if !new.remove(&event.event_id) {
                recorded.push(Ok(Recorded::Duplicate));
                continue;
            }
            let updated = match advance(current, event) {
                Some(change) => {
                    let updated = change.update(&txn).await?;
                    if updated.ended_at.is_some() && current.ended_at.is_none() {
                        settle(&txn, updated, &mut campaigns, now).await?
                    } else {
                        updated
                    }
                }
                None => current.clone(),
            };
            calls.insert(updated.id, updated.clone());
            recorded.push(Ok(Recorded::New(Box::new(updated))));
        }
        txn.commit().await?;
        Ok(recorded)
    }

    /// Ends a call the carrier never placed or that a restart left behind (`FAILED`), settled as
    /// any ended call. A call already ended is left as it is.
    pub async fn fail(&self, tenant: &TenantId, id: i64, now: DateTime<Utc>) -> DomainResult<call::Model> {
        let txn = self.0.write().await?;
        let current = find(&txn, tenant, id).await?;
        if current.ended_at.is_some() {
            return Ok(current);
        }
        let mut row: call::ActiveModel = current.into();
        row.state = Set(CallState::Ended.as_str().into());
        row.ended_at = Set(Some(now));
        row.outcome = Set(Some("FAILED".into()));
        let ended = row.update(&txn).await?;
        let settled = settle(&txn, ended, &mut HashMap::new(), now).await?;
        txn.commit().await?;
        Ok(settled)
    }

    /// Records that a call not yet known to be answered was (a restart found it took a command that needs an
    /// answered call; its `call.answered` was lost with the old process), so that its end counts by the rules.
    pub async fn answered_unseen(&self, tenant: &TenantId, id: i64, at: DateTime<Utc>) -> DomainResult<()> {
        call::Entity::update_many()
            .col_expr(call::Column::AnsweredAt, Expr::value(at))
            .col_expr(call::Column::State, Expr::value(CallState::Answered.as_str()))
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::Id.eq(id))
            .filter(call::Column::AnsweredAt.is_null())
            .filter(call::Column::EndedAt.is_null())
            .exec(&self.0.writer)
            .await?;
        Ok(())
    }

    /// Keeps the carrier's handle of a call as soon as the carrier accepted the dial.
    pub async fn set_carrier_ref(
        &self,
        tenant: &TenantId,
        id: i64,
        call_control_id: &str,
        call_session_id: &str,
    ) -> DomainResult<()> {
        call::Entity::update_many()
            .col_expr(call::Column::CarrierCallId, Expr::value(call_control_id))
            .col_expr(call::Column::CarrierSessionId, Expr::value(call_session_id))
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::Id.eq(id))
            .filter(call::Column::CarrierCallId.is_null())
            .exec(&self.0.writer)
            .await?;
        Ok(())
    }

    /// Calls of every tenant not ended yet (restart reconciliation).
    pub async fn unfinished(&self) -> DomainResult<Vec<call::Model>> {
        Ok(call::Entity::find()
            .filter(call::Column::State.ne(CallState::Ended.as_str()))
            .order_by_asc(call::Column::Id)
            .all(&self.0.db)
            .await?)
    }

    /// A contact's earlier calls, newest first.
    pub async fn of_contact(&self, tenant: &TenantId, contact: i64, limit: u64) -> DomainResult<Vec<call::Model>> {
        Ok(call::Entity::find()
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::ContactId.eq(contact))
            .order_by_desc(call::Column::Attempt)
            .limit(limit)
            .all(&self.0.db)
            .await?)
    }

    /// Records which agent took the call (when the ACD offered it).
    pub async fn assign_agent(&self, tenant: &TenantId, call: i64, agent: i64) -> DomainResult<call::Model> {
        let txn = self.0.write().await?;
        let mut row: call::ActiveModel = find(&txn, tenant, call).await?.into();
        row.agent_id = Set(Some(agent));
        let updated = row.update(&txn).await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// An agent's disposition of a call that reached it and has ended: the call's tag and notes,
    /// and what it means for the contact (a callback time, the internal DNC list, or done), all
    /// in one transaction. A call is dispositioned once (`CONFLICT` after).
    pub async fn disposition(
        &self,
        tenant: &TenantId,
        id: i64,
        disposition: Disposition,
        by: &str,
        now: DateTime<Utc>,
    ) -> DomainResult<call::Model> {
        let txn = self.0.write().await?;
        let current = find(&txn, tenant, id).await?;
        if current.bridged_at.is_none() {
            return Err(DomainError::conflict("only a call that reached an agent takes a disposition"));
        }
        if current.ended_at.is_none() {
            return Err(DomainError::conflict("the call is still connected: disposition it when it ends"));
        }
        if current.disposition.is_some() {
            return Err(DomainError::conflict("the call already has a disposition"));
        }
        let (status, next_attempt) = match &disposition.effect {
            DispositionEffect::Callback(at) => ("CALLBACK", Some(*at)),
            DispositionEffect::DoNotCall => ("DNC", None),
            DispositionEffect::Done => ("DONE", None),
        };
        if disposition.effect == DispositionEffect::DoNotCall {
            let reason = format!("disposition of call {id}");
            compliance::add_dnc_in(&txn, tenant, std::slice::from_ref(&current.to_number), Some(&reason), by, now)
                .await?;
        }
        contact::Entity::update_many()
            .col_expr(contact::Column::Status, Expr::value(status))
            .col_expr(contact::Column::NextAttemptAt, Expr::value(next_attempt))
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::Id.eq(current.contact_id))
            .exec(&txn)
            .await?;
        let crm_activity = disposition.crm_activity;
        let mut row: call::ActiveModel = current.into();
        row.disposition = Set(Some(disposition.tag));
        row.notes = Set(disposition.notes);
        if let DispositionEffect::Callback(at) = disposition.effect {
            row.outcome = Set(Some("CALLBACK".into()));
            row.callback_at = Set(Some(at));
        }
        let updated = row.update(&txn).await?;
        crm::enqueue_in(&txn, tenant, id, &crm_activity, now).await?;
        txn.commit().await?;
        Ok(updated)
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<call::Model> {
        find(&self.0.db, tenant, id).await
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        campaign: i64,
        request: PageRequest,
    ) -> DomainResult<Page<call::Model>> {
        let select = call::Entity::find()
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::CampaignId.eq(campaign));
        page(&self.0.db, select, call::Column::Id, request).await
    }

    /// A campaign's call counts since `since` (and dials after `recent`), by one aggregate query.
    pub async fn totals(
        &self,
        tenant: &TenantId,
        campaign: i64,
        since: DateTime<Utc>,
        recent: DateTime<Utc>,
    ) -> DomainResult<CallTotals> {
        #[derive(FromQueryResult)]
        struct Sums {
            dials: Option<i64>,
            answered: Option<i64>,
            human: Option<i64>,
            machine: Option<i64>,
            no_answer: Option<i64>,
            busy: Option<i64>,
            abandoned: Option<i64>,
            bridged: Option<i64>,
            in_flight: Option<i64>,
            recent: Option<i64>,
            talk_seconds: Option<i64>,
        }
        let count =
            |condition: sea_orm::sea_query::SimpleExpr| Expr::expr(Func::sum(Expr::case(condition, 1).finally(0)));
        let machine = call::Column::AmdResult.eq("machine");
        let sums = call::Entity::find()
            .select_only()
            .column_as(count(Expr::value(true)), "dials")
            .column_as(count(call::Column::AnsweredAt.is_not_null()), "answered")
            .column_as(
                count(
                    call::Column::AnsweredAt
                        .is_not_null()
                        .and(call::Column::AmdResult.is_null().or(machine.clone().not())),
                ),
                "human",
            )
            .column_as(count(machine), "machine")
            .column_as(count(call::Column::Outcome.eq("NO_ANSWER")), "no_answer")
            .column_as(count(call::Column::Outcome.eq("BUSY")), "busy")
            .column_as(count(call::Column::Outcome.eq("ABANDONED")), "abandoned")
            .column_as(count(call::Column::BridgedAt.is_not_null()), "bridged")
            .column_as(count(call::Column::State.ne(CallState::Ended.as_str())), "in_flight")
            .column_as(count(call::Column::DialedAt.gte(recent)), "recent")
            .column_as(Expr::expr(Func::sum(Expr::col(call::Column::DurationSeconds))), "talk_seconds")
            .filter(call::Column::TenantId.eq(tenant.as_str()))
            .filter(call::Column::CampaignId.eq(campaign))
            .filter(call::Column::DialedAt.gte(since))
            .into_model::<Sums>()
            .one(&self.0.db)
            .await?;
        let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
        Ok(sums
            .map(|s| CallTotals {
                dials: n(s.dials),
                answered: n(s.answered),
                human_answered: n(s.human),
                machine_answered: n(s.machine),
                no_answer: n(s.no_answer),
                busy: n(s.busy),
                abandoned: n(s.abandoned),
                bridged: n(s.bridged),
                in_flight: n(s.in_flight),
                recent_dials: n(s.recent),
                talk_seconds: n(s.talk_seconds),
            })
            .unwrap_or_default())
    }

    /// A call's events in the order they happened.
    pub async fn events(&self, tenant: &TenantId, call: i64) -> DomainResult<Vec<call_event::Model>> {
        Ok(call_event::Entity::find()
            .filter(call_event::Column::TenantId.eq(tenant.as_str()))
            .filter(call_event::Column::CallId.eq(call))
            .order_by_asc(call_event::Column::OccurredAt)
            .order_by_asc(call_event::Column::Id)
            .all(&self.0.db)
            .await?)
    }

    /// Every tenant's RUNNING and PAUSED campaigns with their abandoned calls, calls answered by a
    /// live person and calls not ended, dialed since `since`: two queries, whatever the number of
    /// campaigns. The one read across tenants outside the dialer, for the operator's `/metrics`
    /// scrape (which never shows it to a tenant).
    pub async fn live_campaign_totals(&self, since: DateTime<Utc>) -> DomainResult<Vec<LiveCampaign>> {
        use crate::campaign::CampaignStatus;
        use entity::campaign;
        let campaigns: Vec<(i64, String)> = campaign::Entity::find()
            .select_only()
            .column(campaign::Column::Id)
            .column(campaign::Column::TenantId)
            .filter(campaign::Column::Status.is_in([CampaignStatus::Running.as_str(), CampaignStatus::Paused.as_str()]))
            .order_by_asc(campaign::Column::Id)
            .into_tuple()
            .all(&self.0.db)
            .await?;
        if campaigns.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(FromQueryResult)]
        struct Sums {
            campaign_id: i64,
            abandoned: Option<i64>,
            human: Option<i64>,
            in_flight: Option<i64>,
        }
        let count =
            |condition: sea_orm::sea_query::SimpleExpr| Expr::expr(Func::sum(Expr::case(condition, 1).finally(0)));
        let human = call::Column::AnsweredAt
            .is_not_null()
            .and(call::Column::AmdResult.is_null().or(call::Column::AmdResult.eq("machine").not()));
        let mut tenants: Vec<&str> = campaigns.iter().map(|(_, tenant)| tenant.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let sums: std::collections::HashMap<i64, Sums> = call::Entity::find()
            .select_only()
            .column(call::Column::CampaignId)
            .column_as(count(call::Column::Outcome.eq("ABANDONED")), "abandoned")
            .column_as(count(human), "human")
            .column_as(count(call::Column::State.ne(CallState::Ended.as_str())), "in_flight")
            // The tenant filter lets the (tenant, campaign) index serve the lookup.
            .filter(call::Column::TenantId.is_in(tenants))
            .filter(call::Column::CampaignId.is_in(campaigns.iter().map(|(id, _)| *id)))
            .filter(call::Column::DialedAt.gte(since))
            .group_by(call::Column::CampaignId)
            .into_model::<Sums>()
            .all(&self.0.db)
            .await?
            .into_iter()
            .map(|sums| (sums.campaign_id, sums))
            .collect();
        let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
        Ok(campaigns
            .into_iter()
            .map(|(campaign, tenant)| {
                let sums = sums.get(&campaign);
                LiveCampaign {
                    tenant: TenantId::new(tenant),
                    campaign,
                    abandoned: n(sums.and_then(|s| s.abandoned)),
                    human_answered: n(sums.and_then(|s| s.human)),
                    in_flight: n(sums.and_then(|s| s.in_flight)),
                }
            })
            .collect())
    }
}

/// A running or paused campaign's figures for the operator (see [`Calls::live_campaign_totals`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveCampaign {
    pub tenant: TenantId,
    pub campaign: i64,
    pub abandoned: u64,
    pub human_answered: u64,
    pub in_flight: u64,
}

async fn find(db: &impl ConnectionTrait, tenant: &TenantId, id: i64) -> DomainResult<call::Model> {
    call::Entity::find_by_id(id)
        .filter(call::Column::TenantId.eq(tenant.as_str()))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("call"))
}

pub fn kind_name(kind: &CarrierEventKind) -> &'static str {
    match kind {
        CarrierEventKind::Initiated => "call.initiated",
        CarrierEventKind::Ringing => "call.ringing",
        CarrierEventKind::Answered => "call.answered",
        CarrierEventKind::MachineDetectionEnded { .. } => "call.machine.detection.ended",
        CarrierEventKind::Bridged => "call.bridged",
        CarrierEventKind::HungUp { .. } => "call.hangup",
        CarrierEventKind::Failed { .. } => "call.failed",
    }
}

/// The change an event makes to its call, if it moves the call forward. Of the agent's leg of a
/// transfer only the bridge counts: its own answer and hang-up are not the customer's.
fn advance(current: &call::Model, event: &CarrierEvent) -> Option<call::ActiveModel> {
    let state = CallState::parse(&current.state).unwrap_or(CallState::Dialing);
    let customer = event.leg == CallLeg::Customer;
    if state == CallState::Ended || (!customer && event.kind != CarrierEventKind::Bridged) {
        return None;
    }
    let mut row: call::ActiveModel = current.clone().into();
    if customer && current.carrier_call_id.is_none() && !event.call_control_id.is_empty() {
        row.carrier_call_id = Set(Some(event.call_control_id.clone()));
        row.carrier_session_id = Set(Some(event.call_session_id.clone()));
    }
    let at = event.occurred_at;
    match &event.kind {
        CarrierEventKind::Initiated => return None,
        CarrierEventKind::Ringing if state < CallState::Ringing => row.state = Set(CallState::Ringing.as_str().into()),
        CarrierEventKind::Answered if state < CallState::Answered => {
            row.state = Set(CallState::Answered.as_str().into());
            row.answered_at = Set(Some(at));
        }
        CarrierEventKind::MachineDetectionEnded { result } if current.amd_result.is_none() => {
            let name = match result {
                AmdResult::Human => "human",
                AmdResult::Machine => "machine",
                AmdResult::NotSure => "not_sure",
            };
            row.amd_result = Set(Some(name.into()));
        }
        CarrierEventKind::Bridged if state < CallState::Bridged => {
            row.state = Set(CallState::Bridged.as_str().into());
            row.bridged_at = Set(Some(at));
        }
        CarrierEventKind::HungUp { cause, .. } | CarrierEventKind::Failed { cause, .. } => {
            row.state = Set(CallState::Ended.as_str().into());
            row.ended_at = Set(Some(at));
            if let Some(answered) = current.answered_at {
                let seconds = Ord::max((at - answered).num_seconds(), 0);
                row.duration_seconds = Set(Some(i32::try_from(seconds).unwrap_or(i32::MAX)));
            }
            if current.outcome.is_none() {
                row.outcome = Set(Some(final_outcome(current, &event.kind, *cause).into()));
            }
        }
        _ => return None,
    }
    Some(row)
}

/// Stores one carrier event in `txn` unless its id was stored before, and applies it to its call;
/// `None`, with nothing written, when the event is not of one of our calls.
fn stored_event(call: &call::Model, event: &CarrierEvent, now: DateTime<Utc>) -> call_event::ActiveModel {
    call_event::ActiveModel {
        tenant_id: Set(call.tenant_id.clone()),
        call_id: Set(call.id),
        carrier_event_id: Set(event.event_id.clone()),
        kind: Set(kind_name(&event.kind).to_owned()),
        payload: Set(json!(event)),
        occurred_at: Set(event.occurred_at),
        received_at: Set(now),
        ..Default::default()
    }
}

/// The carrier's handle of a stored call, once the carrier gave it one (its customer leg).
pub fn carrier_ref(call: &call::Model) -> Option<CarrierCallRef> {
    Some(CarrierCallRef {
        call: crate::acd::CallId(call.id),
        call_control_id: call.carrier_call_id.clone()?,
        call_session_id: call.carrier_session_id.clone().unwrap_or_default(),
        call_leg_id: None,
    })
}

/// What the end of a call does, in the transaction that ended it: its cost (connected minutes
/// times the campaign's cost per minute), and the contact's next step. A call that reached an
/// agent leaves the contact DONE until the disposition says otherwise; any other end (no answer,
/// busy, voicemail, abandoned, failed) is retried after the campaign's retry delay while
/// attempts are left.
/// `campaigns` keeps the campaigns read so far in the transaction.
async fn settle(
    txn: &impl ConnectionTrait,
    ended: call::Model,
    campaigns: &mut HashMap<i64, campaign::Model>,
    now: DateTime<Utc>,
) -> DomainResult<call::Model> {
    let campaign = match campaigns.get(&ended.campaign_id) {
        Some(campaign) => campaign.clone(),
        None => {
            let read = campaign::Entity::find_by_id(ended.campaign_id).one(txn).await?;
            let campaign = read.ok_or(DomainError::NotFound("campaign"))?;
            campaigns.insert(campaign.id, campaign.clone());
            campaign
        }
    };
    let contact =
        contact::Entity::find_by_id(ended.contact_id).one(txn).await?.ok_or(DomainError::NotFound("contact"))?;
    let at = ended.ended_at.unwrap_or(now);
    let (status, next) = if ended.bridged_at.is_some() || contact.attempts >= campaign.max_attempts {
        ("DONE", None)
    } else {
        ("RETRY", Some(at + chrono::TimeDelta::minutes(i64::from(campaign.retry_delay_minutes))))
    };
    // Only a contact still marked as dialing is moved: a status set meanwhile (DNC) stands.
    contact::Entity::update_many()
        .col_expr(contact::Column::Status, Expr::value(status))
        .col_expr(contact::Column::NextAttemptAt, Expr::value(next))
        .filter(contact::Column::TenantId.eq(ended.tenant_id.as_str()))
        .filter(contact::Column::Id.eq(ended.contact_id))
        .filter(contact::Column::Status.eq(super::contacts::DIALING))
        .exec(txn)
        .await?;
    let Some(seconds) = ended.duration_seconds.filter(|_| campaign.cost_per_minute > 0.0) else {
        return Ok(ended);
    };
    let mut row: call::ActiveModel = ended.into();
    row.cost = Set(Some(f64::from(seconds) / 60.0 * campaign.cost_per_minute));
    Ok(row.update(txn).await?)
}

/// The outcome of a call that ended without one being set: by the rules, a person who answered
/// and never reached an agent was abandoned (a person hung up on as a machine included).
fn final_outcome(call: &call::Model, kind: &CarrierEventKind, cause: HangupCause) -> &'static str {
    let machine = call.amd_result.as_deref() == Some("machine");
    match (call.answered_at.is_some(), call.bridged_at.is_some()) {
        (true, true) => "ANSWERED",
        (true, false) if machine => "VOICEMAIL",
        (true, false) => "ABANDONED",
        (false, _) => match (kind, cause) {
            (CarrierEventKind::Failed { .. }, _) => "FAILED",
            (_, HangupCause::UserBusy) => "BUSY",
            _ => "NO_ANSWER",
        },
    }
}
