//! The screen pop: the data an offer carries to the agent (contact, campaign script with the
//! contact's fields filled in, previous attempts and their outcomes, the cached CRM record).
//! It is plain data, prepared when the call is dialed so nothing is fetched after the
//! answer; it does no I/O and never asks the CRM.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AgentId, CallId, CampaignId};

/// How many previous attempts an offer shows, newest first.
pub const ATTEMPTS_SHOWN: usize = 10;

/// The contact as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactCard {
    pub id: i64,
    pub phone_number: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub state: Option<String>,
    pub timezone: Option<String>,
    /// The contact's custom fields (a JSON object), as imported.
    pub fields: Value,
}

/// One earlier call to the contact and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousAttempt {
    pub call: CallId,
    pub at: DateTime<Utc>,
    /// The outcome tag set at disposition (`NO_ANSWER`, `CALLBACK`, a campaign's own tag...).
    pub outcome: String,
    pub agent: Option<AgentId>,
    pub notes: Option<String>,
}

/// What the shell loads when it dials.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenPopSource {
    pub contact: ContactCard,
    /// The campaign's script; `{{first_name}}`-style placeholders name contact fields.
    pub script: Option<String>,
    pub attempts: Vec<PreviousAttempt>,
    pub crm_record: Option<Value>,
}

/// The data an offer carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScreenPop {
    /// `None` on a preview: the agent sees the contact before any call exists.
    pub call: Option<CallId>,
    pub campaign: CampaignId,
    pub contact: ContactCard,
    /// The script with the contact's fields filled in; unknown placeholders stay as written.
    pub script: Option<String>,
    /// Newest first, at most [`ATTEMPTS_SHOWN`].
    pub previous_attempts: Vec<PreviousAttempt>,
    pub crm_record: Option<Value>,
}

impl ScreenPop {
    pub fn prepare(call: CallId, campaign: CampaignId, source: ScreenPopSource) -> Self {
        Self::prepare_for(Some(call), campaign, source)
    }

    /// The screen pop of a preview: the same data, before the contact is dialed.
    pub fn preview(campaign: CampaignId, source: ScreenPopSource) -> Self {
        Self::prepare_for(None, campaign, source)
    }

    fn prepare_for(call: Option<CallId>, campaign: CampaignId, source: ScreenPopSource) -> Self {
        let mut attempts = source.attempts;
        attempts.sort_by(|a, b| b.at.cmp(&a.at).then(b.call.cmp(&a.call)));
        attempts.truncate(ATTEMPTS_SHOWN);
        let script = source.script.map(|s| fill_script(&s, &source.contact));
        ScreenPop {
            call,
            campaign,
            contact: source.contact,
            script,
            previous_attempts: attempts,
            crm_record: source.crm_record,
        }
    }
}

/// Replaces each `{{name}}` by the contact's field of that name (a column, else a custom
/// field holding a string, number or boolean); leaves the others as written.
fn fill_script(script: &str, contact: &ContactCard) -> String {
    let mut filled = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        let name = rest[open + 2..open + 2 + close].trim();
        filled.push_str(&rest[..open]);
        match contact_field(contact, name) {
            Some(value) => filled.push_str(&value),
            None => filled.push_str(&rest[open..open + 4 + close]),
        }
        rest = &rest[open + 4 + close..];
    }
    filled.push_str(rest);
    filled
}

fn contact_field(contact: &ContactCard, name: &str) -> Option<String> {
    let column = match name {
        "phone_number" => Some(&contact.phone_number),
        "first_name" => contact.first_name.as_ref(),
        "last_name" => contact.last_name.as_ref(),
        "email" => contact.email.as_ref(),
        "state" => contact.state.as_ref(),
        "timezone" => contact.timezone.as_ref(),
        _ => None,
    };
    if let Some(value) = column {
        return Some(value.clone());
    }
    match contact.fields.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn contact() -> ContactCard {
        ContactCard {
            id: 9,
            phone_number: "+12025550143".into(),
            first_name: Some("Ada".into()),
            last_name: None,
            email: None,
            state: Some("VA".into()),
            timezone: None,
            fields: json!({"plan": "gold", "balance": 12.5, "tags": ["a"]}),
        }
    }

    fn attempt(n: i64) -> PreviousAttempt {
        PreviousAttempt {
            call: CallId(n),
            at: Utc.timestamp_opt(1_700_000_000 + n * 60, 0).single().expect("valid"),
            outcome: "NO_ANSWER".into(),
            agent: None,
            notes: None,
        }
    }

    #[test]
    fn the_script_gets_the_contacts_fields_and_keeps_unknown_placeholders() {
        let cases = [
            ("Hello {{first_name}}!", "Hello Ada!"),
            ("{{ first_name }} in {{state}}", "Ada in VA"),
            ("Plan {{plan}}, owes {{balance}}", "Plan gold, owes 12.5"),
            ("Dear {{last_name}}", "Dear {{last_name}}"),
            ("{{tags}} {{nothing}}", "{{tags}} {{nothing}}"),
            ("unclosed {{first_name", "unclosed {{first_name"),
            ("no placeholders", "no placeholders"),
        ];
        for (script, expected) in cases {
            assert_eq!(fill_script(script, &contact()), expected, "{script}");
        }
    }

    #[test]
    fn the_pop_shows_the_ten_newest_attempts_newest_first() {
        let source = ScreenPopSource {
            contact: contact(),
            script: Some("Hi {{first_name}}".into()),
            attempts: (1..=12).map(attempt).collect(),
            crm_record: Some(json!({"Id": "003xx"})),
        };
        let pop = ScreenPop::prepare(CallId(100), CampaignId(1), source);
        let shown: Vec<i64> = pop.previous_attempts.iter().map(|a| a.call.0).collect();
        assert_eq!(shown, (3..=12).rev().collect::<Vec<_>>());
        assert_eq!(pop.script.as_deref(), Some("Hi Ada"));
        let json = serde_json::to_value(&pop).expect("serialises");
        assert_eq!(json["crmRecord"]["Id"], "003xx");
        assert_eq!(json["contact"]["phoneNumber"], "+12025550143");
    }
}
