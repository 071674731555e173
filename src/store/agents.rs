//! Agents of a tenant: profile (skills with levels, languages, region) and current state.

use chrono::{DateTime, Utc};
use entity::agent;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};

use super::{Page, PageRequest, Store, TenantId, page, tenants};
use crate::error::{DomainError, DomainResult};

/// A skill at a level (1 = novice … 10 = expert).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub level: i32,
}

/// An agent's profile as set by a supervisor; `None` fields stay unchanged on update.
#[derive(Clone, Debug, Default)]
pub struct AgentProfile {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub skills: Option<Vec<Skill>>,
    pub languages: Option<Vec<String>>,
    pub region: Option<Option<String>>,
}

impl AgentProfile {
    fn check(&self) -> DomainResult<()> {
        if let Some(name) = &self.name
            && (name.trim().is_empty() || name.chars().count() > 200)
        {
            return Err(DomainError::bad_input("name", "name must have 1 to 200 characters"));
        }
        if let Some(skills) = &self.skills {
            let mut seen = std::collections::HashSet::new();
            for skill in skills {
                if skill.name.trim().is_empty() || skill.name.chars().count() > 64 {
                    return Err(DomainError::bad_input("skills", "a skill name has 1 to 64 characters"));
                }
                if !(1..=10).contains(&skill.level) {
                    return Err(DomainError::bad_input(
                        "skills",
                        format!("skill {:?}: level must be 1 to 10", skill.name),
                    ));
                }
                if !seen.insert(skill.name.trim()) {
                    return Err(DomainError::bad_input("skills", format!("skill {:?} is given twice", skill.name)));
                }
            }
        }
        if let Some(languages) = &self.languages
            && languages.iter().any(|l| !(2..=8).contains(&l.trim().len()))
        {
            return Err(DomainError::bad_input("languages", "a language is a tag such as \"en\" or \"es-MX\""));
        }
        Ok(())
    }

    fn write(self, row: &mut agent::ActiveModel) {
        let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        if let Some(name) = self.name {
            row.name = Set(name.trim().to_owned());
        }
        if let Some(email) = self.email {
            row.email = Set(text(email));
        }
        if let Some(skills) = self.skills {
            let skills: Vec<Skill> =
                skills.into_iter().map(|s| Skill { name: s.name.trim().to_owned(), level: s.level }).collect();
            row.skills = Set(serde_json::json!(skills));
        }
        if let Some(languages) = self.languages {
            let languages: Vec<String> = languages.iter().map(|l| l.trim().to_owned()).collect();
            row.languages = Set(serde_json::json!(languages));
        }
        if let Some(region) = self.region {
            row.region = Set(text(region));
        }
    }
}

pub struct Agents<'a>(&'a Store);

impl Store {
    pub fn agents(&self) -> Agents<'_> {
        Agents(self)
    }
}

impl Agents<'_> {
    /// A new agent starts OFFLINE.
    pub async fn create(
        &self,
        tenant: &TenantId,
        profile: AgentProfile,
        now: DateTime<Utc>,
    ) -> DomainResult<agent::Model> {
        if profile.name.is_none() {
            return Err(DomainError::bad_input("name", "an agent needs a name"));
        }
        profile.check()?;
        let mut row = agent::ActiveModel {
            tenant_id: Set(tenant.as_str().to_owned()),
            email: Set(None),
            skills: Set(serde_json::json!([])),
            languages: Set(serde_json::json!([])),
            region: Set(None),
            state: Set("OFFLINE".to_owned()),
            state_reason: Set(None),
            state_since: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        profile.write(&mut row);
        let txn = self.0.write().await?;
        tenants::ensure(&txn, tenant, now).await?;
        let created = row.insert(&txn).await?;
        txn.commit().await?;
        Ok(created)
    }

    pub async fn update(
        &self,
        tenant: &TenantId,
        id: i64,
        profile: AgentProfile,
        now: DateTime<Utc>,
    ) -> DomainResult<agent::Model> {
        profile.check()?;
        let mut row: agent::ActiveModel = self.get(tenant, id).await?.into();
        profile.write(&mut row);
        row.updated_at = Set(now);
        Ok(row.update(&self.0.db).await?)
    }

    pub async fn get(&self, tenant: &TenantId, id: i64) -> DomainResult<agent::Model> {
        agent::Entity::find_by_id(id)
            .filter(agent::Column::TenantId.eq(tenant.as_str()))
            .one(&self.0.db)
            .await?
            .ok_or(DomainError::NotFound("agent"))
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        state: Option<&str>,
        request: PageRequest,
    ) -> DomainResult<Page<agent::Model>> {
        let mut select = agent::Entity::find().filter(agent::Column::TenantId.eq(tenant.as_str()));
        if let Some(state) = state {
            select = select.filter(agent::Column::State.eq(state));
        }
        page(&self.0.db, select, agent::Column::Id, request).await
    }
}
