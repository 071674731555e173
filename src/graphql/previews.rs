//! Preview dialing in GraphQL: the preview an agent sees on `agentEvents` (a contact offered
//! before any dial, with its screen pop) and the agent's answer to it, `dialPreview` and
//! `skipPreview`. It resolves who previews the contact (the floor) and checks the caller; the
//! campaign's task does the rest through the dialer's one dial path. It never dials itself.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::ApiState;
use super::calls::Call;
use super::connection::row_id;
use crate::acd::RoutingMethod;
use crate::auth::{Access, caller};
use crate::dialer::PreviewChoice;
use crate::error::{DomainError, DomainResult};

/// A contact offered to the agent before any dial (a PREVIEW campaign): the agent answers with
/// `dialPreview` or `skipPreview` before `expiresAt`, after which the contact goes back to the
/// hopper and the agent gets the next one.
#[derive(SimpleObject)]
pub struct PreviewOffer {
    contact_id: ID,
    campaign_id: ID,
    routing_method: RoutingMethod,
    /// 0-100: skills, language and region fit, and idle time.
    match_score: f64,
    expires_at: DateTime<Utc>,
    /// What the agent sees: `contact`, `script` (filled in), `previousAttempts`; `call` is null.
    screen_pop: async_graphql::Json<serde_json::Value>,
}

impl From<&crate::events::ContactPreview> for PreviewOffer {
    fn from(preview: &crate::events::ContactPreview) -> Self {
        PreviewOffer {
            contact_id: ID::from(preview.decision.contact),
            campaign_id: ID::from(preview.decision.campaign.0),
            routing_method: preview.decision.routing_method,
            match_score: preview.decision.match_score.points(),
            expires_at: preview.expires_at,
            screen_pop: async_graphql::Json(serde_json::to_value(&preview.screen_pop).unwrap_or_default()),
        }
    }
}

#[derive(Default)]
pub struct PreviewMutation;

#[Object]
impl PreviewMutation {
    /// Dials the contact the agent previews, through the dialer's one dial path: the compliance
    /// gate checks it again for this instant, the call row and its audit are written, then the
    /// carrier dials. The agent stays reserved for the call and gets it when the person answers.
    /// A refusal of the gate is a `CONFLICT` naming its reasons (the contact is deferred and the
    /// agent freed). Agents dial their own previews, supervisors anyone's.
    #[graphql(guard = "Access::Authenticated")]
    async fn dial_preview(&self, ctx: &Context<'_>, contact_id: ID) -> DomainResult<Call> {
        let call = choose(ctx, &contact_id, PreviewChoice::Dial).await?;
        let call =
            call.ok_or_else(|| DomainError::from(anyhow::anyhow!("a dialed preview came back without a call")))?;
        let api = ctx.data_unchecked::<ApiState>();
        Ok(api.store.calls().get(&caller(ctx)?.tenant, call).await?.into())
    }

    /// Passes on the previewed contact: it is not dialed and no attempt is counted; it goes back
    /// to the hopper and the agent is offered the next contact. `reason` is logged.
    #[graphql(guard = "Access::Authenticated")]
    async fn skip_preview(&self, ctx: &Context<'_>, contact_id: ID, reason: Option<String>) -> DomainResult<bool> {
        let reason = reason.map(|r| r.trim().chars().take(200).collect::<String>()).filter(|r| !r.is_empty());
        choose(ctx, &contact_id, PreviewChoice::Skip { reason }).await?;
        Ok(true)
    }
}

/// Hands the choice to the campaign's task of the agent who previews `contact_id`.
async fn choose(ctx: &Context<'_>, contact_id: &ID, choice: PreviewChoice) -> DomainResult<Option<i64>> {
    let caller = caller(ctx)?;
    let contact = row_id(contact_id, "contact")?;
    let api = ctx.data_unchecked::<ApiState>();
    let previewer = api.floor.previewer(&caller.tenant, contact, api.clock.now()).await?;
    let (agent, campaign) = previewer.ok_or(DomainError::NotFound("preview"))?;
    if !caller.is_staff() && caller.agent_id != Some(agent.0) {
        return Err(DomainError::Forbidden("an agent token dials or skips only its own preview".into()));
    }
    api.dialer.preview(campaign.0, agent, contact, choice).await
}
