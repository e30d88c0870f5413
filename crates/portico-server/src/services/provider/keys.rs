//! ID-token signing keys: generated with openssl (already in the tree for SAML), sealed in
//! PostgreSQL by the secret box, published in the JWKS, signed with through `jsonwebtoken`.
//! Planned roll: `stage` publishes a key first, `rotate` makes it the signer later (RPs refetch
//! a JWKS on an unknown `kid` only after a cool-down). Emergency roll: `rotate` with nothing
//! staged creates and activates a fresh key at once.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use portico_core::provider::SigningKeyStatus;
use portico_core::secretbox::{SecretBox, Slot};
use portico_store::oauth_clients::{self, SigningKey};
use portico_store::PgPool;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use crate::error::ApiError;

/// The algorithms Portico signs ID tokens with.
pub const ALGS: [&str; 2] = ["ES256", "RS256"];

/// How long a retired key stays in the JWKS: longer than any ID token lives.
pub const RETIRED_OVERLAP_SECS: i64 = 2 * 3600;

const TABLE: &str = "oauth_signing_keys";
const COLUMN: &str = "private_key";

/// Parsed signers by `kid` (a cache safe to lose: the sealed key is in the database).
fn cache() -> &'static RwLock<HashMap<String, Arc<EncodingKey>>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Arc<EncodingKey>>>> = OnceLock::new();
    CACHE.get_or_init(RwLock::default)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("signing key: {e}"))
}

/// Generates a key of `alg`, sealed, in `status`.
fn generate(secrets: &SecretBox, alg: &str, status: SigningKeyStatus) -> Result<SigningKey, ApiError> {
    let id = portico_core::ids::prefixed("sig_");
    let (der, jwk) = match alg {
        "ES256" => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(internal)?;
            let ec = EcKey::generate(&group).map_err(internal)?;
            let (mut x, mut y) = (
                openssl::bn::BigNum::new().map_err(internal)?,
                openssl::bn::BigNum::new().map_err(internal)?,
            );
            let mut ctx = BigNumContext::new().map_err(internal)?;
            ec.public_key()
                .affine_coordinates(&group, &mut x, &mut y, &mut ctx)
                .map_err(internal)?;
            let jwk = json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": id,
                "x": URL_SAFE_NO_PAD.encode(x.to_vec_padded(32).map_err(internal)?),
                "y": URL_SAFE_NO_PAD.encode(y.to_vec_padded(32).map_err(internal)?),
            });
            // jsonwebtoken takes ECDSA keys as PKCS#8.
            let der = PKey::from_ec_key(ec)
                .map_err(internal)?
                .private_key_to_pkcs8()
                .map_err(internal)?;
            (der, jwk)
        }
        _ => {
            let rsa = Rsa::generate(2048).map_err(internal)?;
            let jwk = json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": id,
                "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
                "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
            });
            // ... and RSA keys as PKCS#1.
            (rsa.private_key_to_der().map_err(internal)?, jwk)
        }
    };
    let sealed = secrets
        .seal(
            &STANDARD.encode(der),
            Slot {
                table: TABLE,
                row: &id,
                column: COLUMN,
            },
        )
        .map_err(internal)?;
    Ok(SigningKey {
        id,
        alg: alg.to_owned(),
        status,
        private_key: sealed,
        public_jwk: jwk,
    })
}

/// Makes sure each algorithm has a signer (first start); returns how many keys were created.
pub async fn ensure(db: &PgPool, secrets: &SecretBox) -> Result<usize, ApiError> {
    let mut created = 0;
    for alg in ALGS {
        if oauth_clients::active_key(db, alg).await?.is_none() {
            let k = generate(secrets, alg, SigningKeyStatus::Active)?;
            // Two replicas starting at once: the unique index keeps one signer; the loser's insert fails harmlessly.
            if oauth_clients::insert_key(db, &k).await.is_ok() {
                created += 1;
            }
        }
    }
    Ok(created)
}

/// `portico keys stage-signing`: publishes a new key of each algorithm without signing with it.
pub async fn stage(db: &PgPool, secrets: &SecretBox) -> Result<Vec<String>, ApiError> {
    let mut kids = Vec::new();
    for alg in ALGS {
        let k = generate(secrets, alg, SigningKeyStatus::Staged)?;
        oauth_clients::insert_key(db, &k).await?;
        kids.push(k.id);
    }
    Ok(kids)
}

/// `portico keys rotate-signing`: the newest staged key of each algorithm becomes the signer (or a
/// fresh key at once when none is staged); the previous signer stays published for the overlap.
pub async fn rotate(db: &PgPool, secrets: &SecretBox) -> Result<Vec<String>, ApiError> {
    let mut tx = db.begin().await?;
    let mut kids = Vec::new();
    for alg in ALGS {
        match oauth_clients::promote_staged(&mut tx, alg).await? {
            Some(id) => kids.push(id),
            None => {
                oauth_clients::retire_active(&mut *tx, alg).await?;
                let k = generate(secrets, alg, SigningKeyStatus::Active)?;
                oauth_clients::insert_key(&mut *tx, &k).await?;
                kids.push(k.id);
            }
        }
    }
    tx.commit().await?;
    Ok(kids)
}

/// The JWKS document.
pub async fn jwks(db: &PgPool) -> Result<Value, ApiError> {
    let keys = oauth_clients::published_keys(db, RETIRED_OVERLAP_SECS).await?;
    Ok(json!({ "keys": keys.into_iter().map(|k| k.public_jwk).collect::<Vec<_>>() }))
}

/// The signer of `alg`: its `kid` and key (created on first use when missing).
pub async fn signer(
    db: &PgPool,
    secrets: &SecretBox,
    alg: &str,
) -> Result<(String, Algorithm, Arc<EncodingKey>), ApiError> {
    let algorithm = if alg == "RS256" {
        Algorithm::RS256
    } else {
        Algorithm::ES256
    };
    let row = match oauth_clients::active_key(db, alg).await? {
        Some(r) => r,
        None => {
            ensure(db, secrets).await?;
            oauth_clients::active_key(db, alg)
                .await?
                .ok_or_else(|| internal("no active key"))?
        }
    };
    if let Some(k) = cache().read().map_err(internal)?.get(&row.id) {
        return Ok((row.id, algorithm, k.clone()));
    }
    let b64 = secrets
        .open(
            &row.private_key,
            Slot {
                table: TABLE,
                row: &row.id,
                column: COLUMN,
            },
        )
        .map_err(internal)?;
    let der = STANDARD.decode(b64.expose_secret()).map_err(internal)?;
    let key = Arc::new(match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_der(&der),
        _ => EncodingKey::from_ec_der(&der),
    });
    cache().write().map_err(internal)?.insert(row.id.clone(), key.clone());
    Ok((row.id, algorithm, key))
}
