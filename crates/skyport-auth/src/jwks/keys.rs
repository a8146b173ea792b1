//! Reading a key set: which keys are usable, and for which algorithms.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// The most keys a key set may hold; more is taken for garbage.
const MAX_KEYS: usize = 100;
/// RSA moduli accepted, in bytes: 2048 to 4096 bits (smaller keys are too weak, larger ones
/// only cost verification time).
const RSA_MODULUS_BYTES: std::ops::RangeInclusive<usize> = 256..=512;

const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// One usable public key.
#[derive(Debug)]
pub(crate) struct VerifyKey {
    kid: Option<String>,
    /// The algorithms this key may verify: fixed by its type and curve, and narrowed to one
    /// if the key set names an `alg`. An HMAC algorithm is never among them.
    algorithms: Vec<Algorithm>,
    pub(crate) key: DecodingKey,
}

/// A parsed key set: only the keys skyport can use.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
}

/// What looking a key up found.
pub(crate) enum Lookup {
    Found(Arc<VerifyKey>),
    /// A key with that id exists but is not for the token's algorithm.
    WrongAlgorithm,
    /// The token has no key id and more than one key would fit.
    Ambiguous,
    Unknown,
}

impl KeySet {
    /// Reads a key set, keeping the usable keys; fails if the document is not a key set or
    /// holds no usable key (so a garbled answer never replaces good cached keys).
    pub(crate) fn parse(bytes: &[u8]) -> Result<KeySet, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
            return Err("not a key set (no \"keys\" list)".to_owned());
        };
        if keys.len() > MAX_KEYS {
            return Err(format!(
                "{} keys, more than the {MAX_KEYS} accepted",
                keys.len()
            ));
        }
        let mut set = KeySet::default();
        for (index, jwk) in keys.iter().enumerate() {
            match parse_key(jwk) {
                Ok(Some(key)) => set.keys.push(Arc::new(key)),
                Ok(None) => {}
                Err(why) => tracing::debug!(index, why, "skipping an unusable key in the JWKS"),
            }
        }
        if set.keys.is_empty() {
            return Err("no usable signing key (RSA or EC P-256/P-384)".to_owned());
        }
        Ok(set)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Finds the key for a token's `kid` and `alg`. Without a `kid`, the key is used only if
    /// it is the one key that fits the algorithm.
    pub(crate) fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Lookup {
        let fits = |k: &&Arc<VerifyKey>| k.algorithms.contains(&algorithm);
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid));
                let mut any = false;
                // Several keys may share an id (an RSA and an EC key, say): use the one that
                // fits the algorithm.
                for key in named.by_ref() {
                    any = true;
                    if fits(&key) {
                        return Lookup::Found(Arc::clone(key));
                    }
                }
                if any {
                    Lookup::WrongAlgorithm
                } else {
                    Lookup::Unknown
                }
            }
            None => {
                let mut fitting = self.keys.iter().filter(fits);
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Lookup::Found(Arc::clone(key)),
                    (Some(_), Some(_)) => Lookup::Ambiguous,
                    (None, _) => Lookup::Unknown,
                }
            }
        }
    }
}

/// One JWK: `Ok(None)` for a key skyport does not use (encryption keys, HMAC secrets, other
/// curves), `Err` for one that claims to be usable but is broken.
fn parse_key(jwk: &Value) -> Result<Option<VerifyKey>, String> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if jwk.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return Ok(None);
    }
    let kid = match jwk.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("kid is not a string".to_owned()),
    };
    let (candidates, key): (Vec<Algorithm>, DecodingKey) = match text("kty") {
        Some("RSA") => {
            let n = b64(text("n"), "n")?;
            let e = b64(text("e"), "e")?;
            let n = strip_leading_zeros(&n);
            let e = strip_leading_zeros(&e);
            if !RSA_MODULUS_BYTES.contains(&n.len()) {
                return Err(format!("RSA modulus of {} bits", n.len() * 8));
            }
            if e.is_empty() || e.len() > 8 {
                return Err("RSA exponent out of range".to_owned());
            }
            (
                RSA_ALGORITHMS.to_vec(),
                DecodingKey::from_rsa_raw_components(n, e),
            )
        }
        Some("EC") => {
            let (algorithm, size) = match text("crv") {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                _ => return Ok(None),
            };
            let x = b64(text("x"), "x")?;
            let y = b64(text("y"), "y")?;
            if x.len() != size || y.len() != size {
                return Err("EC coordinates of the wrong length".to_owned());
            }
            // An uncompressed SEC1 point, which the verifier reads (and checks is on the
            // curve) when it is used.
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (vec![algorithm], DecodingKey::from_ec_der(&point))
        }
        _ => return Ok(None),
    };
    let algorithms = match text("alg") {
        None => candidates,
        Some(alg) => match candidates.iter().find(|a| algorithm_name(**a) == alg) {
            Some(a) => vec![*a],
            // A key published for an algorithm its type cannot do (an RSA key marked HS256,
            // say) is not used at all.
            None => return Err(format!("alg {alg:?} does not fit the key type")),
        },
    };
    Ok(Some(VerifyKey {
        kid,
        algorithms,
        key,
    }))
}

fn b64(value: Option<&str>, name: &str) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{name} is not base64url"))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The JOSE name of an algorithm this crate accepts.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        // Never accepted; named only so the match is complete.
        _ => "unsupported",
    }
}

/// The algorithm for a token header's `alg`, if it is one this crate accepts: RSA (PKCS#1
/// v1.5 and PSS) and ECDSA. `none` and the HMAC algorithms never are: with public keys, HMAC
/// would let anyone sign with the public key as the secret.
pub(crate) fn accepted_algorithm(name: &str) -> Option<Algorithm> {
    RSA_ALGORITHMS
        .iter()
        .chain(&[Algorithm::ES256, Algorithm::ES384])
        .copied()
        .find(|a| algorithm_name(*a) == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_jwk(kid: &str, alg: Option<&str>) -> Value {
        let n = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
        let mut jwk = json!({"kty": "RSA", "kid": kid, "n": n, "e": "AQAB", "use": "sig"});
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    fn ec_jwk(kid: &str) -> Value {
        let c = URL_SAFE_NO_PAD.encode([7u8; 32]);
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": c, "y": c})
    }

    fn parse(doc: Value) -> Result<KeySet, String> {
        KeySet::parse(doc.to_string().as_bytes())
    }

    #[test]
    fn garbage_is_not_a_key_set() {
        assert!(KeySet::parse(b"<html>").is_err());
        assert!(parse(json!({"keys": "no"})).is_err());
        assert!(parse(json!({"keys": []})).is_err());
        assert!(parse(json!({"other": []})).is_err());
        let many: Vec<Value> = (0..=MAX_KEYS)
            .map(|i| rsa_jwk(&i.to_string(), None))
            .collect();
        assert!(parse(json!({ "keys": many })).is_err());
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let weak = json!({"kty": "RSA", "kid": "weak", "n": URL_SAFE_NO_PAD.encode([1u8; 128]), "e": "AQAB"});
        let secret = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
        let enc = json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": URL_SAFE_NO_PAD.encode([1u8; 256]), "e": "AQAB"});
        let rsa_as_hmac = rsa_jwk("hs", Some("HS256"));
        let curve = json!({"kty": "EC", "crv": "secp256k1", "kid": "k", "x": "AA", "y": "AA"});
        let set = parse(json!({"keys": [weak, secret, enc, rsa_as_hmac, curve, ec_jwk("ec")]}))
            .expect("one usable key");
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.find(Some("ec"), Algorithm::ES256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.find(Some("hmac"), Algorithm::RS256),
            Lookup::Unknown
        ));
    }

    #[test]
    fn lookups_respect_algorithms() {
        let set = parse(
            json!({"keys": [rsa_jwk("r", Some("RS256")), rsa_jwk("any", None), ec_jwk("e")]}),
        )
        .expect("keys");
        assert!(matches!(
            set.find(Some("r"), Algorithm::RS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.find(Some("r"), Algorithm::PS256),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.find(Some("any"), Algorithm::PS256),
            Lookup::Found(_)
        ));
        assert!(matches!(
            set.find(Some("e"), Algorithm::RS256),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.find(Some("e"), Algorithm::ES384),
            Lookup::WrongAlgorithm
        ));
        assert!(matches!(
            set.find(Some("nope"), Algorithm::RS256),
            Lookup::Unknown
        ));
        // Without a kid: the single EC key fits ES256; two RSA keys make RS256 ambiguous.
        assert!(matches!(set.find(None, Algorithm::ES256), Lookup::Found(_)));
        assert!(matches!(
            set.find(None, Algorithm::RS256),
            Lookup::Ambiguous
        ));
        assert!(matches!(set.find(None, Algorithm::ES384), Lookup::Unknown));
    }

    #[test]
    fn only_asymmetric_algorithms_are_accepted() {
        for name in [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
        ] {
            let algorithm = accepted_algorithm(name).expect(name);
            assert_eq!(algorithm_name(algorithm), name);
        }
        for name in [
            "none", "None", "HS256", "HS384", "HS512", "EdDSA", "rs256", "",
        ] {
            assert_eq!(accepted_algorithm(name), None, "{name}");
        }
    }
}
