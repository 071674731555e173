//! Contacts of a tenant: batch insertion that stores each number once per list, lookups and
//! searchable pages, and the dialing bookkeeping: which contacts are due (the hopper's source) and
//! what a gate refusal does to a contact.

use chrono::{DateTime, Utc};
use entity::contact;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, Set, TryInsertResult};
use std::collections::HashSet;

use super::{Page, PageRequest, Store, TenantId, page};
use crate::error::{DomainError, DomainResult};

/// A checked contact ready to store (see `contact_import::check_row`).
#[derive(Debug, Clone)]
pub struct NewContact {
    pub phone_number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub timezone: Option<String>,
    pub external_id: Option<String>,
    pub custom_fields: serde_json::Value,
    /// The row it came from, for error reports.
    pub source_row: usize,
}

#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub inserted: u64,
    /// Rows whose number the list already held (or held earlier in the batch).
    pub duplicates: Vec<NewContact>,
}

pub struct Contacts<'a>(&'a Store);

impl Store {
    pub fn contacts(&self) -> Contacts<'_> {
        Contacts(self)
    }
}

/// Contact statuses that still have a call to come.
pub const OPEN_STATUSES: [&str; 3] = ["NEW", "RETRY", "CALLBACK"];
/// A contact whose call is in flight (set when it is dialed, cleared when the call ends).
pub const DIALING: &str = "DIALING";
/// A contact the compliance gate refused for a reason time does not lift (DNC, no consent for a
/// wireless number, an invalid number): it leaves the hopper until someone reopens it.
pub const BLOCKED: &str = "BLOCKED";

impl Contacts<'_> {
    /// Contacts of the lists that may still be called: open status or a call in flight, and
    /// attempts left.
    pub async fn remaining(&self, tenant: &TenantId, lists: &[i64], max_attempts: i32) -> DomainResult<u64> {
        use sea_orm::PaginatorTrait;
        Ok(contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::ListId.is_in(lists.iter().copied()))
            .filter(contact::Column::Status.is_in(OPEN_STATUSES.into_iter().chain([DIALING])))
            .filter(contact::Column::Attempts.lt(max_attempts))
            .count(&self.0.db)
            .await?)
    }

    /// Contacts of the lists that are due at `now` (open status, attempts left, no later next
    /// attempt), callbacks first, then by when they became due and by id; `skip` are left out
    /// (already in the hopper or dialing).
    pub async fn due(
        &self,
        tenant: &TenantId,
        lists: &[i64],
        max_attempts: i32,
        now: DateTime<Utc>,
        skip: &[i64],
        limit: u64,
    ) -> DomainResult<Vec<contact::Model>> {
        use sea_orm::{Order, QueryOrder};
        let callback_first = Expr::case(contact::Column::Status.eq("CALLBACK"), 0).finally(1);
        Ok(contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::ListId.is_in(lists.iter().copied()))
            .filter(contact::Column::Status.is_in(OPEN_STATUSES))
            .filter(contact::Column::Attempts.lt(max_attempts))
            .filter(
                Condition::any()
                    .add(contact::Column::NextAttemptAt.is_null())
                    .add(contact::Column::NextAttemptAt.lte(now)),
            )
            .filter(contact::Column::Id.is_not_in(skip.iter().copied()))
            .order_by(Expr::expr(callback_first), Order::Asc)
            .order_by_asc(contact::Column::NextAttemptAt)
            .order_by_asc(contact::Column::Id)
            .limit(limit)
            .all(&self.0.db)
            .await?)
    }

    /// Takes contacts the gate refused out of the hopper: until their next safe time when they
    /// have one, otherwise for good ([`BLOCKED`]).
    pub async fn defer(&self, tenant: &TenantId, refused: &[(i64, Option<DateTime<Utc>>)]) -> DomainResult<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let txn = self.0.write().await?;
        for (id, until) in refused {
            let mut update = contact::Entity::update_many().filter(contact::Column::TenantId.eq(tenant.as_str()));
            update = match until {
                Some(at) => update.col_expr(contact::Column::NextAttemptAt, Expr::value(*at)),
                None => update.col_expr(contact::Column::Status, Expr::value(BLOCKED)),
            };
            update.filter(contact::Column::Id.eq(*id)).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Inserts a batch in one transaction. A number already in the list is not inserted again
    /// and comes back in `duplicates`; a concurrent import of the same number is absorbed by the
    /// unique index (`ON CONFLICT DO NOTHING`).
    pub async fn insert_batch(
        &self,
        tenant: &TenantId,
        list_id: i64,
        batch: Vec<NewContact>,
        now: DateTime<Utc>,
    ) -> DomainResult<BatchOutcome> {
        let txn = self.0.write().await?;
        let numbers: Vec<&str> = batch.iter().map(|c| c.phone_number.as_str()).collect();
        let existing: HashSet<String> = contact::Entity::find()
            .select_only()
            .column(contact::Column::PhoneNumber)
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::ListId.eq(list_id))
            .filter(contact::Column::PhoneNumber.is_in(numbers))
            .into_tuple::<String>()
            .all(&txn)
            .await?
            .into_iter()
            .collect();
        let mut seen = existing;
        let mut outcome = BatchOutcome::default();
        let mut rows = Vec::with_capacity(batch.len());
        for new in batch {
            if !seen.insert(new.phone_number.clone()) {
                outcome.duplicates.push(new);
                continue;
            }
            rows.push(contact::ActiveModel {
                tenant_id: Set(tenant.as_str().to_owned()),
                list_id: Set(list_id),
                phone_number: Set(new.phone_number),
                first_name: Set(new.first_name),
                last_name: Set(new.last_name),
                email: Set(new.email),
                state: Set(new.state),
                zip: Set(new.zip),
                timezone: Set(new.timezone),
                custom_fields: Set(new.custom_fields),
                external_id: Set(new.external_id),
                crm_ids: Set(serde_json::json!({})),
                attempts: Set(0),
                last_attempt_at: Set(None),
                next_attempt_at: Set(None),
                status: Set("NEW".to_owned()),
                created_at: Set(now),
                ..Default::default()
            });
        }
        if !rows.is_empty() {
            let inserted = contact::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    contact::Column::TenantId,
                    contact::Column::ListId,
                    contact::Column::PhoneNumber,
                ])
                .exec_without_returning(&txn)
                .await?;
            outcome.inserted = match inserted {
                TryInsertResult::Inserted(rows) => rows,
                TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
            };
        }
        txn.commit().await?;
        Ok(outcome)
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<contact::Model> {
        contact::Entity::find_by_id(id)
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .one(&self.0.db)
            .await?
            .ok_or(DomainError::NotFound("contact"))
    }

    /// A page of a list's contacts; `search` matches the phone number's digits or either name,
    /// case-insensitively.
    pub async fn list(
        &self,
        tenant: &TenantId,
        list_id: i64,
        search: Option<&str>,
        request: PageRequest,
    ) -> DomainResult<Page<contact::Model>> {
        let mut select = contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::ListId.eq(list_id));
        if let Some(text) = search.map(str::trim).filter(|t| !t.is_empty()) {
            select = select.filter(search_condition(text));
        }
        page(&self.0.db, select, contact::Column::Id, request).await
    }
}

fn search_condition(text: &str) -> Condition {
    let escaped = text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    let lower_like = |column: contact::Column| {
        Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern.clone()).escape('\\'))
    };
    let mut any =
        Condition::any().add(lower_like(contact::Column::FirstName)).add(lower_like(contact::Column::LastName));
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 3 {
        any = any.add(contact::Column::PhoneNumber.contains(&digits));
    }
    any
}
