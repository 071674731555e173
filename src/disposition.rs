//! An agent's disposition of a call: the outcome tag checked against the campaign's, what it
//! does to the contact (a callback at the agent's time, the internal DNC list, or done), and the
//! agent's return from wrap-up, and the call's activity queued for the CRM in the same
//! transaction. One path for the `dispositionCall` mutation and the demo's simulated agents; who
//! may disposition which call is the caller's check.

use chrono::{DateTime, TimeDelta, Utc};
use entity::call;

use crate::auth::TenantId;
use crate::campaign::{CALLBACK, DO_NOT_CALL};
use crate::crm::CallActivity;
use crate::error::{DomainError, DomainResult};
use crate::floor::Floor;
use crate::store::Store;
use crate::store::calls::{Disposition, DispositionEffect};
use crate::store::campaigns::settings_of;

/// Longest wait an agent may set for a callback.
pub const MAX_CALLBACK_DAYS: i64 = 90;
/// Longest notes kept with a disposition, in characters.
pub const MAX_NOTES_CHARS: usize = 4_000;

/// What the agent chose.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub outcome: String,
    pub notes: Option<String>,
    pub callback_at: Option<DateTime<Utc>>,
}

/// Validates and records a disposition of `call` by `by`, then ends the agent's wrap-up.
pub async fn dispose(
    store: &Store,
    floor: &Floor,
    tenant: &TenantId,
    call: &call::Model,
    chosen: Chosen,
    by: &str,
    now: DateTime<Utc>,
) -> DomainResult<call::Model> {
    let campaign = store.campaigns().get(tenant, call.campaign_id).await?;
    let tags = settings_of(&campaign)?.outcome_tags;
    let outcome = chosen.outcome;
    let tag = tags.iter().find(|t| t.eq_ignore_ascii_case(outcome.trim())).cloned().ok_or_else(|| {
        DomainError::bad_input(
            "outcome",
            format!("{outcome:?} is not an outcome tag of this campaign: {}", tags.join(", ")),
        )
    })?;
    let effect = match (tag.as_str(), chosen.callback_at) {
        (CALLBACK, Some(at)) if at > now && at <= now + TimeDelta::days(MAX_CALLBACK_DAYS) => {
            DispositionEffect::Callback(at)
        }
        (CALLBACK, _) => {
            return Err(DomainError::bad_input(
                "callbackAt",
                format!("a callback needs callbackAt, later than now and within {MAX_CALLBACK_DAYS} days"),
            ));
        }
        (_, Some(_)) => return Err(DomainError::bad_input("callbackAt", "callbackAt goes with the callback outcome")),
        (DO_NOT_CALL, None) => DispositionEffect::DoNotCall,
        (_, None) => DispositionEffect::Done,
    };
    let notes = chosen.notes.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if notes.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTES_CHARS) {
        return Err(DomainError::bad_input("notes", format!("notes have at most {MAX_NOTES_CHARS} characters")));
    }
    let crm_activity = crm_activity(tenant, call, &campaign.name, &tag, notes.as_deref());
    let disposition = Disposition { tag, notes, effect, crm_activity };
    let updated = store.calls().disposition(tenant, call.id, disposition, by, now).await?;
    if let Some(agent) = updated.agent_id {
        floor.end_wrap_up(tenant, agent, updated.id, now).await?;
    }
    Ok(updated)
}

/// The call as every CRM gets it. Its id is the idempotency key each connector searches for
/// before it creates anything, so it must never change for a call.
fn crm_activity(
    tenant: &TenantId,
    call: &call::Model,
    campaign: &str,
    tag: &str,
    notes: Option<&str>,
) -> serde_json::Value {
    let activity = CallActivity {
        call_id: format!("outdial:{tenant}:{}", call.id),
        who: None,
        started_at: call.answered_at.unwrap_or(call.dialed_at),
        duration: std::time::Duration::from_secs(call.duration_seconds.unwrap_or(0).max(0) as u64),
        disposition: tag.to_owned(),
        subject: format!("Call: {campaign} ({tag})"),
        notes: notes.unwrap_or_default().to_owned(),
        from_number: Some(call.from_number.clone()),
        to_number: call.to_number.clone(),
    };
    serde_json::to_value(activity).unwrap_or_default()
}
