//! Eligibility: what an agent has (skills with levels, languages, region, campaigns) against
//! what a campaign and a call need, with names interned once so that checks compare small
//! integers. It decides who may take a call, never who gets it.
//!
//! An agent is eligible for a call when it is assigned to the call's campaign, has every
//! required skill at or above the required level, serves the campaign's region when the
//! campaign names one, and speaks the call's language (the contact's, else the campaign's)
//! when there is one. The contact's region is only a preference (see the match score).
//! Names are compared exactly: the shell stores them normalised.

use std::collections::HashMap;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::score::{LanguageFit, MAX_LEVEL, skill_points};
use super::{AcdError, AgentId, CampaignId, Strategy};

/// A skill with a level from 1 to 5: what an agent has or a campaign requires. The rows store
/// it as `{"name": ..., "level": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillLevel {
    pub name: String,
    pub level: u8,
}

impl SkillLevel {
    /// Checks a set of skills as a supervisor gives it: names of 1 to 64 characters, each
    /// once, levels 1 to 5. The message names the offending skill.
    pub fn check_all(skills: &[SkillLevel]) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for skill in skills {
            if skill.name.is_empty() || skill.name.chars().count() > 64 {
                return Err("a skill name has 1 to 64 characters".into());
            }
            if !(1..=MAX_LEVEL).contains(&skill.level) {
                return Err(format!("skill {:?}: level must be 1 to {MAX_LEVEL}", skill.name));
            }
            if !seen.insert(skill.name.as_str()) {
                return Err(format!("skill {:?} is given twice", skill.name));
            }
        }
        Ok(())
    }
}

/// An agent's routing profile, as the agent row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub id: AgentId,
    pub skills: Vec<SkillLevel>,
    /// The first is the agent's first language.
    pub languages: Vec<String>,
    pub region: Option<String>,
    /// The campaigns the agent is assigned to.
    pub campaigns: Vec<CampaignId>,
}

/// A campaign's routing settings, as the campaign row holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRouting {
    pub id: CampaignId,
    /// Higher first: an agent serving several campaigns takes waiting calls from this one first.
    pub priority: i32,
    pub strategy: Strategy,
    pub required_skills: Vec<SkillLevel>,
    /// Required unless the contact has its own.
    pub language: Option<String>,
    /// Required: agents must serve it.
    pub region: Option<String>,
    /// WRAP_UP ends by itself this long after the call; `None` waits for the agent.
    pub wrap_up_timeout: Option<TimeDelta>,
}

/// Interned name: a skill, a language or a region.
pub(super) type NameId = u32;

/// One namespace of interned names.
#[derive(Debug, Default)]
pub(super) struct Names {
    ids: HashMap<String, NameId>,
}

impl Names {
    pub(super) fn intern(&mut self, name: &str) -> NameId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.ids.len() as NameId;
        self.ids.insert(name.to_owned(), id);
        id
    }

    pub(super) fn get(&self, name: &str) -> Option<NameId> {
        self.ids.get(name).copied()
    }
}

/// The board's three namespaces.
#[derive(Debug, Default)]
pub(super) struct Vocabulary {
    pub skills: Names,
    pub languages: Names,
    pub regions: Names,
}

/// Skills interned, sorted by id, one entry per skill (the highest level given wins).
fn intern_skills(names: &mut Names, skills: &[SkillLevel]) -> Result<Vec<(NameId, u8)>, AcdError> {
    let mut interned = Vec::with_capacity(skills.len());
    for skill in skills {
        if !(1..=MAX_LEVEL).contains(&skill.level) {
            return Err(AcdError::InvalidSkillLevel { skill: skill.name.clone(), level: skill.level });
        }
        interned.push((names.intern(&skill.name), skill.level));
    }
    interned.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    interned.dedup_by_key(|s| s.0);
    Ok(interned)
}

/// What an agent has, interned.
#[derive(Debug, Clone)]
pub(super) struct Qualities {
    skills: Vec<(NameId, u8)>,
    /// First language first.
    pub languages: Vec<NameId>,
    pub region: Option<NameId>,
}

impl Qualities {
    pub(super) fn new(profile: &AgentProfile, vocabulary: &mut Vocabulary) -> Result<Self, AcdError> {
        let mut languages: Vec<NameId> = Vec::with_capacity(profile.languages.len());
        for name in &profile.languages {
            let id = vocabulary.languages.intern(name);
            if !languages.contains(&id) {
                languages.push(id);
            }
        }
        Ok(Qualities {
            skills: intern_skills(&mut vocabulary.skills, &profile.skills)?,
            languages,
            region: profile.region.as_deref().map(|r| vocabulary.regions.intern(r)),
        })
    }

    /// When the agent meets the campaign's fixed needs (skills and region), the skills part
    /// of its match score; `None` when it does not.
    pub(super) fn qualifies(&self, needs: &Requirement) -> Option<u16> {
        if needs.region.is_some() && needs.region != self.region {
            return None;
        }
        let mut own = self.skills.iter().peekable();
        let mut level_sum = 0;
        for &(skill, required) in &needs.skills {
            while own.next_if(|(s, _)| *s < skill).is_some() {}
            match own.next_if(|(s, _)| *s == skill) {
                Some(&(_, level)) if level >= required => level_sum += u32::from(level),
                _ => return None,
            }
        }
        Some(skill_points(level_sum, needs.skills.len()))
    }

    /// Whether the agent serves the region the call prefers (any region fits `Any`).
    pub(super) fn serves(&self, region: Wanted) -> bool {
        match region {
            Wanted::Any => true,
            Wanted::Known(id) => self.region == Some(id),
            Wanted::Unknown => false,
        }
    }

    /// How the agent fits the call's language; `None` when it does not speak it.
    pub(super) fn speaks(&self, language: Wanted) -> Option<LanguageFit> {
        match language {
            Wanted::Any => Some(LanguageFit::First),
            Wanted::Unknown => None,
            Wanted::Known(id) => match self.languages.iter().position(|l| *l == id)? {
                0 => Some(LanguageFit::First),
                _ => Some(LanguageFit::Other),
            },
        }
    }
}

/// What a campaign needs of every agent, interned.
#[derive(Debug, Clone)]
pub(super) struct Requirement {
    skills: Vec<(NameId, u8)>,
    pub language: Option<NameId>,
    pub region: Option<NameId>,
}

impl Requirement {
    pub(super) fn new(routing: &CampaignRouting, vocabulary: &mut Vocabulary) -> Result<Self, AcdError> {
        Ok(Requirement {
            skills: intern_skills(&mut vocabulary.skills, &routing.required_skills)?,
            language: routing.language.as_deref().map(|l| vocabulary.languages.intern(l)),
            region: routing.region.as_deref().map(|r| vocabulary.regions.intern(r)),
        })
    }
}

/// A language or region one call asks for: the contact's when it has one, else the campaign's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wanted {
    /// Neither the contact nor the campaign names one.
    Any,
    Known(NameId),
    /// A name no agent on the board has ever listed: no agent has it.
    Unknown,
}

impl Wanted {
    /// The contact's name when it has one, else the campaign's.
    pub(super) fn resolve(contact: Option<&str>, campaign: Option<NameId>, names: &Names) -> Self {
        match (contact, campaign) {
            (Some(name), _) => names.get(name).map_or(Wanted::Unknown, Wanted::Known),
            (None, Some(id)) => Wanted::Known(id),
            (None, None) => Wanted::Any,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skill(name: &str, level: u8) -> SkillLevel {
        SkillLevel { name: name.into(), level }
    }

    fn agent(skills: &[(&str, u8)], languages: &[&str], region: Option<&str>) -> AgentProfile {
        AgentProfile {
            id: AgentId(1),
            skills: skills.iter().map(|(n, l)| skill(n, *l)).collect(),
            languages: languages.iter().map(|l| (*l).to_owned()).collect(),
            region: region.map(str::to_owned),
            campaigns: vec![CampaignId(1)],
        }
    }

    fn campaign(skills: &[(&str, u8)], language: Option<&str>, region: Option<&str>) -> CampaignRouting {
        CampaignRouting {
            id: CampaignId(1),
            priority: 0,
            strategy: Strategy::LongestIdle,
            required_skills: skills.iter().map(|(n, l)| skill(n, *l)).collect(),
            language: language.map(str::to_owned),
            region: region.map(str::to_owned),
            wrap_up_timeout: None,
        }
    }

    struct Case {
        name: &'static str,
        agent: AgentProfile,
        campaign: CampaignRouting,
        contact_language: Option<&'static str>,
        eligible: bool,
    }

    #[test]
    fn eligibility_follows_skills_levels_language_and_region() {
        let sales3 = &[("sales", 3)][..];
        let cases = [
            Case {
                name: "no requirements: anyone",
                agent: agent(&[], &[], None),
                campaign: campaign(&[], None, None),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "skill at the required level",
                agent: agent(&[("sales", 3)], &["en"], None),
                campaign: campaign(sales3, None, None),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "skill above the required level",
                agent: agent(&[("sales", 5)], &["en"], None),
                campaign: campaign(sales3, None, None),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "skill below the required level",
                agent: agent(&[("sales", 2)], &["en"], None),
                campaign: campaign(sales3, None, None),
                contact_language: None,
                eligible: false,
            },
            Case {
                name: "missing one of two skills",
                agent: agent(&[("sales", 5), ("zz", 5)], &["en"], None),
                campaign: campaign(&[("sales", 1), ("retention", 1)], None, None),
                contact_language: None,
                eligible: false,
            },
            Case {
                name: "both skills, many others",
                agent: agent(&[("a", 1), ("retention", 2), ("sales", 4), ("z", 5)], &[], None),
                campaign: campaign(&[("sales", 4), ("retention", 2)], None, None),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "speaks the campaign language as a second language",
                agent: agent(&[], &["en", "es"], None),
                campaign: campaign(&[], Some("es"), None),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "does not speak the campaign language",
                agent: agent(&[], &["en"], None),
                campaign: campaign(&[], Some("es"), None),
                contact_language: None,
                eligible: false,
            },
            Case {
                name: "the contact's language replaces the campaign's",
                agent: agent(&[], &["fr"], None),
                campaign: campaign(&[], Some("en"), None),
                contact_language: Some("fr"),
                eligible: true,
            },
            Case {
                name: "the contact's language is required even if the campaign has none",
                agent: agent(&[], &["en"], None),
                campaign: campaign(&[], None, None),
                contact_language: Some("fr"),
                eligible: false,
            },
            Case {
                name: "a language nobody listed",
                agent: agent(&[], &["en"], None),
                campaign: campaign(&[], None, None),
                contact_language: Some("tlh"),
                eligible: false,
            },
            Case {
                name: "serves the required region",
                agent: agent(&[], &[], Some("west")),
                campaign: campaign(&[], None, Some("west")),
                contact_language: None,
                eligible: true,
            },
            Case {
                name: "serves another region",
                agent: agent(&[], &[], Some("east")),
                campaign: campaign(&[], None, Some("west")),
                contact_language: None,
                eligible: false,
            },
            Case {
                name: "serves no region when one is required",
                agent: agent(&[], &[], None),
                campaign: campaign(&[], None, Some("west")),
                contact_language: None,
                eligible: false,
            },
        ];
        for case in cases {
            let mut vocabulary = Vocabulary::default();
            let needs = Requirement::new(&case.campaign, &mut vocabulary).expect("valid campaign");
            let has = Qualities::new(&case.agent, &mut vocabulary).expect("valid agent");
            let language = Wanted::resolve(case.contact_language, needs.language, &vocabulary.languages);
            let eligible = has.qualifies(&needs).is_some() && has.speaks(language).is_some();
            assert_eq!(eligible, case.eligible, "{}", case.name);
        }
    }

    #[test]
    fn a_skill_level_outside_one_to_five_is_refused() {
        let mut vocabulary = Vocabulary::default();
        for level in [0, 6] {
            let profile = agent(&[("sales", level)], &[], None);
            assert_eq!(
                Qualities::new(&profile, &mut vocabulary).map(|_| ()),
                Err(AcdError::InvalidSkillLevel { skill: "sales".into(), level })
            );
            let routing = campaign(&[("sales", level)], None, None);
            assert!(Requirement::new(&routing, &mut vocabulary).is_err());
        }
    }

    #[test]
    fn first_language_fits_better_than_a_later_one() {
        let mut vocabulary = Vocabulary::default();
        let has = Qualities::new(&agent(&[], &["es", "en"], None), &mut vocabulary).expect("valid");
        let es = Wanted::resolve(Some("es"), None, &vocabulary.languages);
        let en = Wanted::resolve(Some("en"), None, &vocabulary.languages);
        assert_eq!(has.speaks(es), Some(LanguageFit::First));
        assert_eq!(has.speaks(en), Some(LanguageFit::Other));
        assert_eq!(has.speaks(Wanted::Any), Some(LanguageFit::First));
    }
}
