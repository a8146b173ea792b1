//! The archive's own user records on both backends (PostgreSQL when `SKYPORT_PG_URL` is set):
//! API tokens are stored by key with only a hash of the secret, listed, revoked once; the
//! ends of memberships are recorded and replaced; the tables stay out of every TAP schema.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use skyport_store::{Accounts, StoredToken};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn token(key: &str, user: &str, created: &str) -> StoredToken {
    StoredToken {
        key: key.into(),
        secret_hash: format!("{:064x}", key.len()),
        user: user.into(),
        scopes: vec!["read:tap".into(), "write:consdb".into()],
        groups: vec!["summit".into()],
        created: at(created),
        expires: Some(at(created) + Duration::days(30)),
        revoked: None,
    }
}

#[tokio::test]
async fn tokens_and_membership_ends_round_trip() {
    for b in common::backends("accounts", Vec::new()).await {
        let accounts = Accounts::open(Arc::clone(&b.store)).await.expect("open");
        // Opening twice (a restart) keeps what is there.
        let a = token("k1", "robot", "2026-01-01T00:00:00Z");
        accounts.add_token(&a, "admin").await.expect("add");
        let accounts = Accounts::open(Arc::clone(&b.store)).await.expect("reopen");
        accounts
            .add_token(&token("k2", "pipeline", "2026-02-01T00:00:00Z"), "admin")
            .await
            .expect("add");
        assert!(
            accounts.add_token(&a, "admin").await.is_err(),
            "a key is unique"
        );
        assert_eq!(accounts.token("k1").await.expect("get"), Some(a.clone()));
        assert_eq!(accounts.token("nope").await.expect("get"), None);
        let all: Vec<String> = accounts
            .tokens(None)
            .await
            .expect("list")
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(all, ["k1", "k2"]);
        assert_eq!(
            accounts.tokens(Some("pipeline")).await.expect("list").len(),
            1
        );

        let now = at("2026-01-10T00:00:00Z");
        assert!(a.is_valid_at(now));
        assert!(!a.is_valid_at(at("2026-03-01T00:00:00Z")), "expired");
        assert!(accounts
            .revoke_token("k1", now, "admin")
            .await
            .expect("revoke"));
        assert!(
            !accounts
                .revoke_token("k1", now, "admin")
                .await
                .expect("again"),
            "revoked once"
        );
        let revoked = accounts
            .token("k1")
            .await
            .expect("get")
            .expect("still listed");
        assert_eq!(revoked.revoked, Some(now));
        assert!(!revoked.is_valid_at(now));

        accounts
            .end_membership("alice", "team", at("2025-01-01T00:00:00Z"), "admin")
            .await
            .expect("end");
        accounts
            .end_membership("alice", "team", at("2025-06-01T00:00:00Z"), "admin")
            .await
            .expect("move the end");
        accounts
            .end_membership("alice", "other", at("2024-01-01T00:00:00Z"), "admin")
            .await
            .expect("end");
        assert_eq!(
            accounts.membership_ends("alice").await.expect("ends"),
            [
                ("other".to_string(), at("2024-01-01T00:00:00Z")),
                ("team".to_string(), at("2025-06-01T00:00:00Z"))
            ]
        );
        assert!(accounts
            .membership_ends("bob")
            .await
            .expect("ends")
            .is_empty());
    }
}
