//! Who a request comes from, and what it may do: identities, group memberships, and the scope
//! policy that turns them into rights.
//!
//! Scope names follow Rubin's Gafaelfawr so that tokens minted there mean the same here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Query the TAP service.
pub const READ_TAP: &str = "read:tap";
/// Read images (SIA, DataLink, SODA, the image files).
pub const READ_IMAGE: &str = "read:image";
/// Write to the ConsDB, and load the observation plan (the observatory's operational metadata).
pub const WRITE_CONSDB: &str = "write:consdb";
/// Write user files.
pub const WRITE_FILES: &str = "write:files";
/// See and manage every user's jobs.
pub const ADMIN_JOBS: &str = "admin:jobs";
/// Create and revoke API tokens for any user.
pub const ADMIN_TOKEN: &str = "admin:token";

/// Every scope skyport knows; configuration naming anything else is a mistake.
pub const ALL_SCOPES: &[&str] = &[
    READ_TAP,
    READ_IMAGE,
    WRITE_CONSDB,
    WRITE_FILES,
    ADMIN_JOBS,
    ADMIN_TOKEN,
];

/// Membership of one group, as the identity provider asserted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The group's name.
    pub group: String,
    /// When the membership ends, if the provider said (Gafaelfawr's `expires`).
    pub ends: Option<DateTime<Utc>>,
}

impl Membership {
    /// Whether the membership is in force at `now`: it has no end, or its end is later.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.ends.is_none_or(|ends| ends > now)
    }
}

/// An authenticated user, as established from a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user name: non-empty, at most 256 characters, without control characters. Treat it
    /// as untrusted text all the same (it is not checked for use in file names).
    pub user: String,
    /// Every group the token lists, including memberships that have ended (they still matter
    /// for the history of data rights; they give no scopes).
    pub memberships: Vec<Membership>,
    /// Scopes the token itself grants (OAuth `scope`), if it carried any.
    pub scopes: BTreeSet<String>,
    /// When the token stops being valid: always set for a JWT (whose `exp` is required),
    /// `None` for identities the server makes itself (API tokens without expiry).
    pub token_expires: Option<DateTime<Utc>>,
}

impl Identity {
    /// An identity with no groups, scopes or expiry, for code that creates identities itself
    /// (API tokens looked up by the server, tests).
    pub fn new(user: impl Into<String>) -> Self {
        Identity {
            user: user.into(),
            memberships: Vec::new(),
            scopes: BTreeSet::new(),
            token_expires: None,
        }
    }

    /// Whether the identity is currently a member of `group`.
    pub fn is_member_of(&self, group: &str, now: DateTime<Utc>) -> bool {
        self.memberships
            .iter()
            .any(|m| m.group == group && m.is_current(now))
    }

    /// The groups whose membership is in force at `now`.
    pub fn current_groups(&self, now: DateTime<Utc>) -> impl Iterator<Item = &str> {
        self.memberships
            .iter()
            .filter(move |m| m.is_current(now))
            .map(|m| m.group.as_str())
    }
}

/// Which scopes each kind of caller has.
///
/// A signed-in caller's scopes are the union of the scopes its token carries, the
/// `authenticated` defaults, and the scopes of every group it is *currently* a member of.
/// Memberships whose `ends` has passed are kept on the [`Identity`] (they record which data a
/// user was once entitled to) but grant no scopes: an ended membership must not keep write or
/// admin rights alive. Anonymous callers get `anonymous`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopePolicy {
    /// Scopes granted by membership of a group, by group name.
    pub group_scopes: BTreeMap<String, Vec<String>>,
    /// Scopes every signed-in caller has.
    pub authenticated: Vec<String>,
    /// Scopes a caller without credentials has.
    pub anonymous: Vec<String>,
}

impl Default for ScopePolicy {
    /// Anyone may read (TAP and images), signed in or not; nothing more.
    fn default() -> Self {
        let read = vec![READ_TAP.to_owned(), READ_IMAGE.to_owned()];
        ScopePolicy {
            group_scopes: BTreeMap::new(),
            authenticated: read.clone(),
            anonymous: read,
        }
    }
}

impl ScopePolicy {
    /// Checks the policy names only known scopes and non-empty groups, so a typo in the
    /// configuration is caught at start-up rather than silently granting nothing.
    pub fn validate(&self) -> Result<(), String> {
        let check = |list: &[String], place: &str| -> Result<(), String> {
            match list.iter().find(|s| !ALL_SCOPES.contains(&s.as_str())) {
                Some(unknown) => Err(format!(
                    "unknown scope {unknown:?} in {place} (known scopes: {})",
                    ALL_SCOPES.join(", ")
                )),
                None => Ok(()),
            }
        };
        check(&self.authenticated, "authenticated")?;
        check(&self.anonymous, "anonymous")?;
        for (group, scopes) in &self.group_scopes {
            if group.trim().is_empty() {
                return Err("a group name in group_scopes is empty".to_owned());
            }
            check(scopes, &format!("group_scopes.{group}"))?;
        }
        Ok(())
    }

    /// The scopes of a signed-in caller now (see the type's documentation).
    pub fn scopes_for(&self, identity: &Identity) -> BTreeSet<String> {
        self.scopes_for_at(identity, Utc::now())
    }

    /// The scopes of a signed-in caller at `now`.
    pub fn scopes_for_at(&self, identity: &Identity, now: DateTime<Utc>) -> BTreeSet<String> {
        let mut scopes = identity.scopes.clone();
        scopes.extend(self.authenticated.iter().cloned());
        for group in identity.current_groups(now) {
            if let Some(granted) = self.group_scopes.get(group) {
                scopes.extend(granted.iter().cloned());
            }
        }
        scopes
    }

    /// The scopes of a caller without credentials.
    pub fn anonymous_scopes(&self) -> BTreeSet<String> {
        self.anonymous.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn default_policy_reads_for_everyone_and_validates() {
        let policy = ScopePolicy::default();
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(policy.anonymous_scopes(), set(&[READ_TAP, READ_IMAGE]));
        assert_eq!(
            policy.scopes_for(&Identity::new("someone")),
            set(&[READ_TAP, READ_IMAGE])
        );
    }

    #[test]
    fn scopes_come_from_token_defaults_and_current_groups_only() {
        let now = Utc::now();
        let mut policy = ScopePolicy::default();
        policy
            .group_scopes
            .insert("g-writers".into(), vec![WRITE_FILES.into()]);
        policy
            .group_scopes
            .insert("g-admins".into(), vec![ADMIN_JOBS.into()]);
        policy
            .group_scopes
            .insert("g-consdb".into(), vec![WRITE_CONSDB.into()]);
        let mut identity = Identity::new("alice");
        identity.scopes = set(&[ADMIN_TOKEN]);
        identity.memberships = vec![
            Membership {
                group: "g-writers".into(),
                ends: None,
            },
            Membership {
                group: "g-admins".into(),
                ends: Some(now - TimeDelta::seconds(1)),
            },
            Membership {
                group: "g-consdb".into(),
                ends: Some(now + TimeDelta::days(1)),
            },
        ];
        assert_eq!(
            policy.scopes_for_at(&identity, now),
            set(&[READ_TAP, READ_IMAGE, ADMIN_TOKEN, WRITE_FILES, WRITE_CONSDB])
        );
        assert!(identity.is_member_of("g-writers", now));
        assert!(!identity.is_member_of("g-admins", now));
        // A day later the ConsDB membership has ended too.
        let later = now + TimeDelta::days(2);
        assert!(!policy
            .scopes_for_at(&identity, later)
            .contains(WRITE_CONSDB));
    }

    #[test]
    fn unknown_scope_names_are_rejected() {
        let mut policy = ScopePolicy::default();
        policy.authenticated.push("read:everything".into());
        assert!(policy.validate().unwrap_err().contains("read:everything"));
        let mut policy = ScopePolicy::default();
        policy
            .group_scopes
            .insert("g".into(), vec!["admin:tap".into()]);
        assert!(policy.validate().unwrap_err().contains("group_scopes.g"));
        let mut policy = ScopePolicy::default();
        policy.group_scopes.insert(" ".into(), vec![]);
        assert!(policy.validate().is_err());
    }

    #[test]
    fn policy_reads_from_configuration() {
        let policy: ScopePolicy = serde_json::from_str(
            r#"{"group_scopes": {"g-admin": ["admin:jobs"]}, "anonymous": []}"#,
        )
        .expect("policy");
        assert!(policy.anonymous.is_empty());
        assert_eq!(policy.authenticated, vec![READ_TAP, READ_IMAGE]);
        assert!(serde_json::from_str::<ScopePolicy>(r#"{"anonymus": []}"#).is_err());
    }
}
