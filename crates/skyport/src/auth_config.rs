//! `[auth]` and `[quotas]` in `skyport.toml`: identity, scopes, restricted tables and
//! quotas (docs/security.md).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use skyport_auth::{JwksSource, JwtSettings, ScopePolicy};
use skyport_server::access::{AuthMode, AuthSettings, Quotas};

/// `[auth]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// `open` (anonymous users read what is public) or `required`.
    pub mode: AuthMode,
    /// The realm of the `WWW-Authenticate` challenge (default `skyport`).
    pub realm: Option<String>,
    /// Where a person gets a token (the `ivoa_bearer` challenge's `access_url`); default
    /// the landing page.
    pub login_url: Option<String>,
    /// Declare bearer tokens in capabilities as `ivo://ivoa.net/sso#token` (default false).
    /// That identifier is CADC's, not SSO 2.0's: clients that look for it (CADC
    /// `vos`, pyvo's `AuthSession` given a bearer session) then send tokens unasked, and
    /// validators that know SSO 2.0 only (Debian's taplint) warn. Off, capabilities name
    /// `#BasicAA` (the token as password) and the 401 challenge names the bearer method.
    pub declare_token_method: Option<bool>,
    /// Seconds a looked-up API token or membership end is trusted before it is read again
    /// (default 30; revocations take effect within it).
    pub cache_seconds: Option<u64>,
    /// `[auth.jwt]`: the OpenID Connect issuer whose tokens are accepted.
    pub jwt: Option<JwtSection>,
    /// `[auth.scopes]`: `anonymous`, `authenticated`, and `group_scopes.GROUP`.
    pub scopes: ScopePolicy,
    /// `[[auth.tables]]`: tables only some groups may read.
    pub tables: Vec<TableRule>,
    /// The scopes of users named by a trusted proxy (default: all but admin:*).
    pub proxy_scopes: Option<Vec<String>>,
}

/// `[auth.jwt]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    /// The issuer (`iss`).
    pub issuer: String,
    /// The audiences this service answers to (`aud`).
    pub audiences: Vec<String>,
    /// The issuer's JWKS URL…
    pub jwks_url: Option<String>,
    /// … or a JWKS file.
    pub jwks_file: Option<PathBuf>,
    /// Clock skew allowed, seconds (default 60).
    pub leeway_seconds: Option<u64>,
    /// The user-name claim (default `sub`).
    pub username_claim: Option<String>,
    /// The groups claim (default `isMemberOf`).
    pub groups_claim: Option<String>,
}

/// `[[auth.tables]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    /// `schema.table`, or `schema.*` for every table of a schema.
    pub name: String,
    /// The groups that may read it.
    pub groups: Vec<String>,
}

impl AuthSection {
    /// Checks what can be checked before the server starts.
    pub fn check(&self) -> Result<(), String> {
        self.scopes
            .validate()
            .map_err(|e| format!("auth.scopes: {e}"))?;
        if let Some(bad) = self
            .proxy_scopes
            .iter()
            .flatten()
            .find(|s| !skyport_server::access::scopes::ALL.contains(&s.as_str()))
        {
            return Err(format!("auth.proxy_scopes: unknown scope {bad:?}"));
        }
        if let Some(j) = &self.jwt {
            if j.jwks_url.is_some() == j.jwks_file.is_some() {
                return Err("auth.jwt: give one of jwks_url and jwks_file".into());
            }
            if j.audiences.is_empty() {
                return Err("auth.jwt.audiences: name at least one audience".into());
            }
        }
        for (i, t) in self.tables.iter().enumerate() {
            if t.name.split('.').count() != 2 {
                return Err(format!(
                    "auth.tables[{i}].name = {:?}: write schema.table or schema.*",
                    t.name
                ));
            }
            if t.groups.is_empty() {
                return Err(format!("auth.tables[{i}].groups: name at least one group"));
            }
        }
        Ok(())
    }

    /// The settings of the access layer; `resolve` makes relative paths absolute.
    pub fn settings(
        &self,
        quotas: &Quotas,
        resolve: impl Fn(&std::path::Path) -> PathBuf,
    ) -> AuthSettings {
        let defaults = AuthSettings::default();
        AuthSettings {
            mode: self.mode,
            realm: self.realm.clone().unwrap_or(defaults.realm),
            login_url: self.login_url.clone().unwrap_or_default(),
            declare_token_method: self.declare_token_method.unwrap_or(false),
            jwt: self.jwt.as_ref().map(|j| {
                let source = match (&j.jwks_url, &j.jwks_file) {
                    (Some(url), _) => JwksSource::Url(url.clone()),
                    (None, Some(file)) => JwksSource::File(resolve(file)),
                    // Refused by check.
                    (None, None) => JwksSource::Url(String::new()),
                };
                let mut s = JwtSettings::new(j.issuer.clone(), j.audiences.clone(), source);
                if let Some(l) = j.leeway_seconds {
                    s.leeway_seconds = l;
                }
                if let Some(c) = &j.username_claim {
                    s.username_claim = c.clone();
                }
                if let Some(c) = &j.groups_claim {
                    s.groups_claim = c.clone();
                }
                s
            }),
            scopes: self.scopes.clone(),
            proxy_scopes: self.proxy_scopes.clone().unwrap_or(defaults.proxy_scopes),
            cache: self
                .cache_seconds
                .map_or(defaults.cache, Duration::from_secs),
            quotas: quotas.clone(),
            readers: 0,
        }
    }

    /// The restricted tables, for the data-rights policy.
    pub fn table_rights(&self) -> Vec<(String, Vec<String>)> {
        self.tables
            .iter()
            .map(|t| (t.name.clone(), t.groups.clone()))
            .collect()
    }
}
