//! Contact lists and contacts in GraphQL: queries, list creation and contact import with per-row
//! errors.

use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{contact, contact_list};

use super::ApiState;
use super::connection::{IdConnection, connection, page_request, row_id};
use super::loaders::ContactListLoader;
use crate::auth::{Access, caller};
use crate::contact_import::{self, ContactRow, RowError as ImportRowError};
use crate::error::{DomainError, DomainResult};

/// Contacts one `addContacts` or `createContactList` call may carry; larger files go through
/// `outdial import-contacts`.
pub const MAX_CONTACTS_PER_CALL: usize = 10_000;

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct ContactList {
    id: ID,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<contact_list::Model> for ContactList {
    fn from(row: contact_list::Model) -> Self {
        ContactList { id: ID::from(row.id), name: row.name, created_at: row.created_at }
    }
}

#[ComplexObject]
impl ContactList {
    /// Contacts stored in the list.
    async fn contact_count(&self, ctx: &Context<'_>) -> DomainResult<u64> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        state.store.contact_lists().contact_count(&caller.tenant, row_id(&self.id, "contact list")?).await
    }

    /// The list's contacts; `search` matches names or phone digits.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<Contact>> {
        contacts_page(ctx, &self.id, search, first, after).await
    }
}

#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Contact {
    id: ID,
    list_id: ID,
    /// E.164.
    phone_number: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    state: Option<String>,
    zip: Option<String>,
    timezone: Option<String>,
    external_id: Option<String>,
    fields: Json<serde_json::Value>,
    attempts: i32,
    last_attempt_at: Option<DateTime<Utc>>,
    next_attempt_at: Option<DateTime<Utc>>,
    status: String,
    created_at: DateTime<Utc>,
}

impl From<contact::Model> for Contact {
    fn from(row: contact::Model) -> Self {
        Contact {
            id: ID::from(row.id),
            list_id: ID::from(row.list_id),
            phone_number: row.phone_number,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            state: row.state,
            zip: row.zip,
            timezone: row.timezone,
            external_id: row.external_id,
            fields: Json(row.custom_fields),
            attempts: row.attempts,
            last_attempt_at: row.last_attempt_at,
            next_attempt_at: row.next_attempt_at,
            status: row.status,
            created_at: row.created_at,
        }
    }
}

#[ComplexObject]
impl Contact {
    async fn list(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ContactList>> {
        let id = row_id(&self.list_id, "contact list")?;
        Ok(ctx.data_unchecked::<DataLoader<ContactListLoader>>().load_one(id).await?.map(ContactList::from))
    }
}

#[derive(InputObject)]
pub struct ContactInput {
    /// Any common written form of a NANP number; stored as E.164.
    phone_number: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    /// Two-letter state of the postal address.
    state: Option<String>,
    zip: Option<String>,
    /// IANA zone, when known better than the number and address tell.
    timezone: Option<String>,
    external_id: Option<String>,
    /// Custom fields (a JSON object).
    fields: Option<Json<serde_json::Value>>,
}

impl From<ContactInput> for ContactRow {
    fn from(input: ContactInput) -> Self {
        ContactRow {
            phone_number: input.phone_number,
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            state: input.state,
            zip: input.zip,
            timezone: input.timezone,
            external_id: input.external_id,
            fields: input.fields.map(|f| f.0),
        }
    }
}

#[derive(InputObject)]
pub struct CreateContactListInput {
    name: String,
    contacts: Option<Vec<ContactInput>>,
}

/// A row that was not stored, and why.
#[derive(SimpleObject)]
pub struct RowError {
    /// 1-based position in the given contacts.
    row: i32,
    phone_number: Option<String>,
    /// INVALID_NUMBER, NOT_DIALABLE, DUPLICATE_PHONE, MALFORMED_ROW, INVALID_STATE, INVALID_ZIP,
    /// INVALID_TIMEZONE, INVALID_EMAIL or INVALID_FIELDS.
    code: String,
    message: String,
}

impl From<ImportRowError> for RowError {
    fn from(e: ImportRowError) -> Self {
        RowError {
            row: i32::try_from(e.row).unwrap_or(i32::MAX),
            phone_number: e.phone_number,
            code: e.code.into(),
            message: e.message,
        }
    }
}

#[derive(SimpleObject)]
pub struct ContactImport {
    list: ContactList,
    imported: i32,
    rejected: Vec<RowError>,
}

async fn contacts_page(
    ctx: &Context<'_>,
    list_id: &ID,
    search: Option<String>,
    first: Option<i32>,
    after: Option<String>,
) -> DomainResult<IdConnection<Contact>> {
    let caller = caller(ctx)?;
    let request = page_request(ctx, first, after)?;
    let state = ctx.data_unchecked::<ApiState>();
    let list_id = row_id(list_id, "contact list")?;
    state.store.contact_lists().get(&caller.tenant, list_id).await?;
    let page = state.store.contacts().list(&caller.tenant, list_id, search.as_deref(), request).await?;
    connection(page, request.after.is_some(), |c| c.id, |c| Ok(Contact::from(c)))
}

async fn import(
    ctx: &Context<'_>,
    list: contact_list::Model,
    contacts: Vec<ContactInput>,
) -> DomainResult<ContactImport> {
    if contacts.len() > MAX_CONTACTS_PER_CALL {
        return Err(DomainError::bad_input(
            "contacts",
            format!("at most {MAX_CONTACTS_PER_CALL} contacts per call; use `outdial import-contacts` for files"),
        ));
    }
    let caller = caller(ctx)?;
    let state = ctx.data_unchecked::<ApiState>();
    let mut rejected = Vec::new();
    let rows = contacts.into_iter().map(|c| Ok(ContactRow::from(c)));
    let summary = contact_import::import(&state.store, &caller.tenant, list.id, rows, state.clock.now(), &mut |e| {
        rejected.push(RowError::from(e))
    })
    .await?;
    rejected.sort_by_key(|e| e.row);
    Ok(ContactImport { list: list.into(), imported: i32::try_from(summary.imported).unwrap_or(i32::MAX), rejected })
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    #[graphql(guard = "Access::Staff")]
    async fn contact_lists(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<ContactList>> {
        let caller = caller(ctx)?;
        let request = page_request(ctx, first, after)?;
        let state = ctx.data_unchecked::<ApiState>();
        let page = state.store.contact_lists().list(&caller.tenant, request).await?;
        connection(page, request.after.is_some(), |l| l.id, |l| Ok(ContactList::from(l)))
    }

    #[graphql(guard = "Access::Staff")]
    async fn contact_list(&self, ctx: &Context<'_>, id: ID) -> DomainResult<ContactList> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        Ok(state.store.contact_lists().get(&caller.tenant, row_id(&id, "contact list")?).await?.into())
    }

    /// Contacts of a list; `search` matches names or phone digits.
    #[graphql(guard = "Access::Staff")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> DomainResult<IdConnection<Contact>> {
        contacts_page(ctx, &list_id, search, first, after).await
    }

    #[graphql(guard = "Access::Staff")]
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> DomainResult<Contact> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        Ok(state.store.contacts().get(&caller.tenant, row_id(&id, "contact")?).await?.into())
    }
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    /// Creates a list, importing the given contacts; valid rows are stored even when others fail.
    #[graphql(guard = "Access::Staff")]
    async fn create_contact_list(
        &self,
        ctx: &Context<'_>,
        input: CreateContactListInput,
    ) -> DomainResult<ContactImport> {
        let name = input.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(DomainError::bad_input("name", "name must have 1 to 200 characters"));
        }
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let list = state.store.contact_lists().create(&caller.tenant, name, state.clock.now()).await?;
        import(ctx, list, input.contacts.unwrap_or_default()).await
    }

    /// Adds contacts to a list; each number is stored once per list.
    #[graphql(guard = "Access::Staff")]
    async fn add_contacts(
        &self,
        ctx: &Context<'_>,
        list_id: ID,
        contacts: Vec<ContactInput>,
    ) -> DomainResult<ContactImport> {
        let caller = caller(ctx)?;
        let state = ctx.data_unchecked::<ApiState>();
        let list = state.store.contact_lists().get(&caller.tenant, row_id(&list_id, "contact list")?).await?;
        import(ctx, list, contacts).await
    }
}
