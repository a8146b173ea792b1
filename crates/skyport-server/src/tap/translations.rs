//! The translations of recent queries, so that a query asked again is not parsed and
//! translated again. A profile of `SELECT TOP 1 obs_id FROM ivoa.ObsCore` (a client's probe,
//! a portal's first look, a pipeline's poll) put a quarter of the server's time there.
//!
//! A translation depends on the query's text, the catalogue, the backend's dialect and the
//! conditions the data-rights policy writes for the caller at that moment. One cache belongs to
//! one [`super::TapService`], whose catalogue, dialect and policy are fixed; the caller and the
//! moment enter the key as a [`RightsKey`], which changes when anything those conditions read
//! does (the minute, a membership's end). Queries with uploads or naming users' tables, whose
//! catalogue is made per request, are not kept. Only queries that translated are kept: an
//! error is found again, and said again, each time.
//!
//! The cache holds at most [`CAPACITY`] entries of queries up to [`QUERY_MAX_BYTES`], the
//! least recently used going first, so its memory is bounded whatever clients send.

use std::sync::{Arc, Mutex};

use hashlink::LruCache;
use skyport_adql::ast::Query;
use skyport_adql::Translation;
use skyport_store::RightsKey;

/// Entries kept.
pub const CAPACITY: usize = 512;

/// Longer queries are translated each time: repeated queries are short, and the bound keeps
/// the cache's memory small.
pub const QUERY_MAX_BYTES: usize = 4096;

/// A parsed query and its translation.
#[derive(Debug)]
pub struct Translated {
    /// The query as parsed (the coverage check reads it).
    pub parsed: Query,
    /// Its translation for the caller.
    pub translation: Translation,
}

/// Recent translations, by query text and [`RightsKey`].
pub struct Translations {
    entries: Mutex<LruCache<(String, RightsKey), Arc<Translated>>>,
}

impl Default for Translations {
    fn default() -> Self {
        Translations {
            entries: Mutex::new(LruCache::new(CAPACITY)),
        }
    }
}

impl Translations {
    /// The translation of `query` for callers with `key`, made by `translate` unless kept.
    pub fn get_or_make<E>(
        &self,
        query: &str,
        key: RightsKey,
        translate: impl FnOnce() -> Result<Translated, E>,
    ) -> Result<Arc<Translated>, E> {
        if query.len() > QUERY_MAX_BYTES {
            return translate().map(Arc::new);
        }
        let key = (query.to_string(), key);
        if let Some(found) = self.lock().get(&key) {
            return Ok(Arc::clone(found));
        }
        // Made outside the lock: two callers missing at once both translate, and the second
        // insert replaces an equal entry.
        let made = Arc::new(translate()?);
        self.lock().insert(key, Arc::clone(&made));
        Ok(made)
    }

    /// Entries kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<(String, RightsKey), Arc<Translated>>> {
        // The map is consistent after any panic of a holder (each call is one insert or get).
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use skyport_store::{Caller, Membership, Rights};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    /// A translation whose SQL reads `sql` (the catalogue is built once: it is slow to make).
    fn made(sql: &str) -> Result<Translated, String> {
        static TEMPLATE: std::sync::OnceLock<(Query, Translation)> = std::sync::OnceLock::new();
        let (parsed, translation) = TEMPLATE.get_or_init(|| {
            let parsed =
                skyport_adql::parse("SELECT TOP 1 obs_id FROM ivoa.ObsCore").expect("parses");
            let translation = skyport_adql::translate(
                &parsed,
                &super::super::catalogue(),
                skyport_adql::Dialect::Sqlite,
                &Default::default(),
            )
            .expect("translates");
            (parsed, translation)
        });
        let mut translation = translation.clone();
        translation.sql = sql.to_string();
        Ok(Translated {
            parsed: parsed.clone(),
            translation,
        })
    }

    #[test]
    fn a_translation_is_kept_for_its_text_and_rights_only() {
        let rights = Rights::default();
        let cache = Translations::default();
        let now = at("2026-01-01T12:00:10Z");
        let ending = Caller {
            user: Some("u".into()),
            groups: vec![Membership {
                group: "team".into(),
                ends: Some(at("2026-01-01T12:00:30Z")),
            }],
            ..Caller::default()
        };
        let q = "SELECT TOP 1 obs_id FROM ivoa.ObsCore";
        let first = cache.get_or_make(q, rights.key(&ending, now), || made("one"));
        assert_eq!(first.expect("made").translation.sql, "one");
        // Asked again within the minute, before the membership ends: kept.
        let again = cache.get_or_make(q, rights.key(&ending, at("2026-01-01T12:00:29Z")), || {
            Err("translated again".to_string())
        });
        assert_eq!(again.expect("kept").translation.sql, "one");
        // After it ends, in the same minute; in the next minute; by an anonymous caller; as
        // other text: translated anew.
        for (text, key) in [
            (q, rights.key(&ending, at("2026-01-01T12:00:31Z"))),
            (q, rights.key(&ending, at("2026-01-01T12:01:00Z"))),
            (q, rights.key(&Caller::anonymous(), now)),
            (
                "SELECT TOP 2 obs_id FROM ivoa.ObsCore",
                rights.key(&ending, now),
            ),
        ] {
            let fresh = cache.get_or_make(text, key, || made("two"));
            assert_eq!(fresh.expect("made").translation.sql, "two", "{text}");
        }
        // An error is not kept, and a long query not at all.
        let anonymous = rights.key(&Caller::anonymous(), now);
        let failed = cache.get_or_make("SELECT nonsense", anonymous.clone(), || {
            Err::<Translated, _>("bad".to_string())
        });
        assert!(failed.is_err());
        let long = format!("{q} {}", " ".repeat(QUERY_MAX_BYTES));
        cache
            .get_or_make(&long, anonymous.clone(), || made("long"))
            .expect("made");
        assert_eq!(cache.len(), 5);
        // Bounded: the least recently used go first.
        for i in 0..CAPACITY + 10 {
            cache
                .get_or_make(&format!("{q} -- {i}"), anonymous.clone(), || made("n"))
                .expect("made");
        }
        assert_eq!(cache.len(), CAPACITY);
    }
}
