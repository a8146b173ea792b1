//! Turning a verified token's claims into an [`Identity`].
//!
//! The claims have been signed by the issuer, but their shape is still checked strictly: a
//! claim of the wrong type means the issuer and this service disagree about what the token
//! says, and guessing would grant the wrong rights.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::identity::{Identity, Membership};
use crate::AuthError;

/// The most groups a token may list; more is taken as malformed rather than processed.
pub const MAX_GROUPS: usize = 1_000;
/// The most scopes a token may carry.
const MAX_SCOPES: usize = 256;
/// The longest user, group or scope name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// Which claims hold what, from the verifier's settings.
pub(crate) struct ClaimNames<'a> {
    pub(crate) username: &'a str,
    pub(crate) groups: &'a str,
    pub(crate) scope: &'a str,
}

pub(crate) fn identity_from_claims(
    claims: &Map<String, Value>,
    names: &ClaimNames<'_>,
    token_expires: Option<DateTime<Utc>>,
) -> Result<Identity, AuthError> {
    let user = match claims.get(names.username) {
        Some(Value::String(user)) => check_name(user, names.username)?,
        None | Some(Value::Null) => {
            return Err(AuthError::malformed(format!(
                "the token names no user (no {} claim)",
                names.username
            )))
        }
        Some(_) => {
            return Err(AuthError::malformed(format!(
                "the token's {} claim is not a string",
                names.username
            )))
        }
    };
    Ok(Identity {
        user,
        memberships: memberships(claims.get(names.groups), names.groups)?,
        scopes: scopes(claims.get(names.scope), names.scope)?,
        token_expires,
    })
}

/// A user, group or scope name: non-empty, not too long, no control characters (they would
/// end up in logs and job records).
fn check_name(name: &str, claim: &str) -> Result<String, AuthError> {
    if name.is_empty() {
        return Err(AuthError::malformed(format!(
            "the token's {claim} claim holds an empty name"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::malformed(format!(
            "the token's {claim} claim holds a name longer than {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::malformed(format!(
            "the token's {claim} claim holds a name with control characters"
        )));
    }
    Ok(name.to_owned())
}

/// Group memberships, from a list of names or of Gafaelfawr's objects
/// `{"name": "g", "id": 123, "expires": 1700000000}` (both may be mixed). A group listed twice
/// keeps its longest membership.
fn memberships(value: Option<&Value>, claim: &str) -> Result<Vec<Membership>, AuthError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(AuthError::malformed(format!(
                "the token's {claim} claim is not a list"
            )))
        }
    };
    if items.len() > MAX_GROUPS {
        return Err(AuthError::malformed(format!(
            "the token lists more than {MAX_GROUPS} groups"
        )));
    }
    let not_a_group = || {
        AuthError::malformed(format!(
            "the token's {claim} claim holds something that is neither a group name nor a \
             group object with a name"
        ))
    };
    let mut groups: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
    for item in items {
        let (name, ends) = match item {
            Value::String(name) => (check_name(name, claim)?, None),
            Value::Object(group) => {
                let name = group
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(not_a_group)?;
                (
                    check_name(name, claim)?,
                    membership_end(group.get("expires"), claim)?,
                )
            }
            _ => return Err(not_a_group()),
        };
        groups
            .entry(name)
            .and_modify(|kept| {
                let longer = match (*kept, ends) {
                    // No end outlasts any end.
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(k), Some(e)) => e > k,
                };
                if longer {
                    *kept = ends;
                }
            })
            .or_insert(ends);
    }
    Ok(groups
        .into_iter()
        .map(|(group, ends)| Membership { group, ends })
        .collect())
}

fn membership_end(value: Option<&Value>, claim: &str) -> Result<Option<DateTime<Utc>>, AuthError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
            .map(Some)
            .ok_or_else(|| {
                AuthError::malformed(format!(
                    "a group's expires in the token's {claim} claim is not a whole number of \
                     seconds in range"
                ))
            }),
        Some(_) => Err(AuthError::malformed(format!(
            "a group's expires in the token's {claim} claim is not a number"
        ))),
    }
}

/// OAuth scopes: a space-separated string, or a list of names.
fn scopes(value: Option<&Value>, claim: &str) -> Result<BTreeSet<String>, AuthError> {
    let names: Vec<&str> = match value {
        None | Some(Value::Null) => return Ok(BTreeSet::new()),
        Some(Value::String(text)) => text.split_whitespace().collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str().ok_or_else(|| {
                    AuthError::malformed(format!(
                        "the token's {claim} claim holds something that is not a string"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(AuthError::malformed(format!(
                "the token's {claim} claim is neither a string nor a list"
            )))
        }
    };
    if names.len() > MAX_SCOPES {
        return Err(AuthError::malformed(format!(
            "the token carries more than {MAX_SCOPES} scopes"
        )));
    }
    names.into_iter().map(|n| check_name(n, claim)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMES: ClaimNames<'static> = ClaimNames {
        username: "sub",
        groups: "isMemberOf",
        scope: "scope",
    };

    fn identity(claims: Value) -> Result<Identity, AuthError> {
        identity_from_claims(claims.as_object().expect("object"), &NAMES, None)
    }

    fn malformed(claims: Value) -> String {
        match identity(claims) {
            Err(AuthError::Malformed(why)) => why,
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn gafaelfawr_groups_and_plain_names() {
        let id = identity(json!({
            "sub": "alice",
            "isMemberOf": [
                {"name": "g-users", "id": 1001},
                {"name": "g-project", "id": 2002, "expires": 1_700_000_000},
                "g-plain",
                {"name": "g-users", "id": 1001, "expires": 1_600_000_000}
            ],
            "scope": "read:tap  read:image"
        }))
        .expect("identity");
        assert_eq!(id.user, "alice");
        let groups: Vec<(&str, Option<i64>)> = id
            .memberships
            .iter()
            .map(|m| (m.group.as_str(), m.ends.map(|e| e.timestamp())))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("g-plain", None),
                ("g-project", Some(1_700_000_000)),
                // Listed twice: the membership without end wins.
                ("g-users", None),
            ]
        );
        assert_eq!(id.scopes.len(), 2);
    }

    #[test]
    fn a_later_end_wins() {
        let id = identity(json!({"sub": "a", "isMemberOf": [
            {"name": "g", "expires": 100}, {"name": "g", "expires": 300}, {"name": "g", "expires": 200}
        ]}))
        .expect("identity");
        assert_eq!(id.memberships[0].ends.map(|e| e.timestamp()), Some(300));
    }

    #[test]
    fn missing_groups_and_scopes_are_empty() {
        let id = identity(json!({"sub": "bob", "isMemberOf": null})).expect("identity");
        assert!(id.memberships.is_empty());
        assert!(id.scopes.is_empty());
        let id = identity(json!({"sub": "bob", "scope": ["write:files"]})).expect("identity");
        assert!(id.scopes.contains("write:files"));
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        assert!(malformed(json!({})).contains("no sub"));
        assert!(malformed(json!({"sub": 42})).contains("not a string"));
        assert!(malformed(json!({"sub": ""})).contains("empty"));
        assert!(malformed(json!({"sub": "x".repeat(257)})).contains("longer"));
        assert!(malformed(json!({"sub": "a\nb"})).contains("control"));
        assert!(identity(json!({"sub": "é".repeat(256)})).is_ok());
        assert!(malformed(json!({"sub": "a", "isMemberOf": "g"})).contains("not a list"));
        assert!(malformed(json!({"sub": "a", "isMemberOf": [1]})).contains("neither"));
        assert!(malformed(json!({"sub": "a", "isMemberOf": [{"id": 1}]})).contains("neither"));
        assert!(malformed(json!({"sub": "a", "isMemberOf": [{"name": 5}]})).contains("neither"));
        assert!(malformed(json!({"sub": "a", "isMemberOf": [[]]})).contains("neither"));
        assert!(malformed(json!({"sub": "a", "isMemberOf": [""]})).contains("empty"));
        assert!(
            malformed(json!({"sub": "a", "isMemberOf": [{"name": "g", "expires": "soon"}]}))
                .contains("not a number")
        );
        assert!(
            malformed(json!({"sub": "a", "isMemberOf": [{"name": "g", "expires": 1.5}]}))
                .contains("whole number")
        );
        assert!(
            malformed(json!({"sub": "a", "isMemberOf": [{"name": "g", "expires": i64::MAX}]}))
                .contains("in range")
        );
        assert!(malformed(json!({"sub": "a", "scope": 3})).contains("neither"));
        assert!(malformed(json!({"sub": "a", "scope": [3]})).contains("not a string"));
    }

    #[test]
    fn too_many_groups_or_scopes() {
        let groups: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert!(malformed(json!({"sub": "a", "isMemberOf": groups})).contains("more than"));
        let groups: Vec<String> = (0..MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert_eq!(
            identity(json!({"sub": "a", "isMemberOf": groups}))
                .expect("at the limit")
                .memberships
                .len(),
            MAX_GROUPS
        );
        let scopes = vec!["s"; MAX_SCOPES + 1].join(" ");
        assert!(malformed(json!({"sub": "a", "scope": scopes})).contains("more than"));
    }
}
