//! The issuer key ring: the active issuer key that signs health codes, the trust anchor that signs the
//! trust list, the trust list itself, the revoked token ids and the place key that signs posters, all loaded from the store (keys are
//! created on first start) and refreshed from it, so several nodes agree.

use chrono::{DateTime, Duration, Utc};
use sentinel_credential::{
    Algorithm, HealthClaims, PlaceCode, PublicKey, Signed, SigningKey, TokenId, TrustList, TrustedKey,
    Verified, Verifier, VerifyError, issue, sign_place_code, verify_place_code,
};
use sentinel_store::{KeyPurpose, Store, StoreError, StoredKey};
use std::collections::HashSet;
use std::sync::RwLock;

/// Longest credential lifetime (paper codes): how long a rotated-out key stays in the trust list.
pub const MAX_CREDENTIAL_LIFETIME: Duration = Duration::hours(24);
/// How long a rotated-out key may still sign: longer than a node's refresh interval.
pub const ROTATION_GRACE: Duration = Duration::seconds(60);

struct Ring {
    issuer: SigningKey,
    anchor: SigningKey,
    /// Signs new place codes; `place_keys` (every place key not retired) verify them.
    place: SigningKey,
    place_keys: Vec<PublicKey>,
    trust: TrustList,
    /// Changes whenever the set of keys or their periods change.
    version: u64,
    revoked: HashSet<TokenId>,
    revocation_seq: i64,
}

pub struct KeyRing {
    ring: RwLock<Ring>,
    skew: Duration,
}

fn signing_key(k: &StoredKey) -> Result<SigningKey, StoreError> {
    let alg = Algorithm::from_code(&k.algorithm)
        .ok_or_else(|| StoreError::Corrupt(format!("algorithm {}", k.algorithm)))?;
    SigningKey::from_secret(alg, &k.secret).map_err(|e| StoreError::Corrupt(format!("key {}: {e}", k.kid)))
}

/// `t` cut to whole seconds: CWT times are whole seconds, and a code issued in the key's first second
/// must not look older than the key.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn stored(key: &SigningKey, purpose: KeyPurpose, now: DateTime<Utc>) -> StoredKey {
    StoredKey {
        kid: key.kid().to_hex(),
        purpose,
        algorithm: key.algorithm().code().into(),
        public_key: key.public().to_bytes(),
        secret: key.secret_bytes(),
        not_before: whole_seconds(now),
        not_after: None,
        retired_at: None,
        created_at: now,
    }
}

/// Whether an issuer key may sign at `now`.
fn active(k: &StoredKey, now: DateTime<Utc>) -> bool {
    k.purpose == KeyPurpose::Issuer
        && k.retired_at.is_none()
        && k.not_before <= now
        && k.not_after.is_none_or(|e| now < e)
}

/// The stored keys, creating the trust anchor and an issuer key when there are none (first start only:
/// a background reload must never mint keys, or every node would make its own).
async fn keys_creating_missing(store: &dyn Store, now: DateTime<Utc>) -> Result<Vec<StoredKey>, StoreError> {
    let keys = store.keys().await?;
    let mut created = false;
    if !keys.iter().any(|k| k.purpose == KeyPurpose::Anchor && k.retired_at.is_none()) {
        let anchor = SigningKey::generate(Algorithm::Ed25519);
        store.create_key(&stored(&anchor, KeyPurpose::Anchor, now)).await?;
        tracing::info!(kid = %anchor.kid(), "created trust anchor key");
        created = true;
    }
    if !keys.iter().any(|k| k.purpose == KeyPurpose::Place && k.retired_at.is_none()) {
        let place = SigningKey::generate(Algorithm::Ed25519);
        store.create_key(&stored(&place, KeyPurpose::Place, now)).await?;
        tracing::info!(kid = %place.kid(), "created place-code key");
        created = true;
    }
    if !keys.iter().any(|k| active(k, now)) {
        let issuer = SigningKey::generate(Algorithm::Ed25519);
        store.create_key(&stored(&issuer, KeyPurpose::Issuer, now)).await?;
        tracing::info!(kid = %issuer.kid(), "created issuer key");
        created = true;
    }
    if created { store.keys().await } else { Ok(keys) }
}

fn build(keys: &[StoredKey], now: DateTime<Utc>) -> Result<Ring, StoreError> {
    let anchor = keys
        .iter()
        .rev()
        .find(|k| k.purpose == KeyPurpose::Anchor && k.retired_at.is_none())
        .ok_or_else(|| StoreError::Corrupt("no trust anchor".into()))?;
    // The newest key that is not being rotated out signs.
    let issuer = keys
        .iter()
        .filter(|k| active(k, now))
        .max_by_key(|k| (k.not_after.is_none(), k.not_before, k.created_at))
        .ok_or_else(|| StoreError::Corrupt("no issuer key".into()))?;
    let live_place_keys: Vec<&StoredKey> =
        keys.iter().filter(|k| k.purpose == KeyPurpose::Place && k.retired_at.is_none()).collect();
    let place = live_place_keys.last().ok_or_else(|| StoreError::Corrupt("no place-code key".into()))?;
    let place_keys =
        live_place_keys.iter().map(|k| signing_key(k).map(|s| s.public())).collect::<Result<_, _>>()?;
    let mut trusted = Vec::new();
    for k in keys.iter().filter(|k| k.purpose == KeyPurpose::Issuer && k.retired_at.is_none()) {
        // A rotated-out key stays listed while codes it signed can still be valid.
        if k.not_after.is_some_and(|end| end + MAX_CREDENTIAL_LIFETIME < now) {
            continue;
        }
        let alg =
            Algorithm::from_code(&k.algorithm).ok_or_else(|| StoreError::Corrupt(k.algorithm.clone()))?;
        let key =
            PublicKey::from_bytes(alg, &k.public_key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        trusted.push(TrustedKey { key, not_before: k.not_before, not_after: k.not_after });
    }
    let version = keys
        .iter()
        .flat_map(|k| [Some(k.created_at), k.not_after, k.retired_at])
        .flatten()
        .map(|t| t.timestamp_millis().max(0) as u64)
        .max()
        .unwrap_or(0);
    Ok(Ring {
        issuer: signing_key(issuer)?,
        anchor: signing_key(anchor)?,
        place: signing_key(place)?,
        place_keys,
        trust: TrustList::new(trusted),
        version,
        revoked: HashSet::new(),
        revocation_seq: 0,
    })
}

impl KeyRing {
    /// Loads the keys (creating the anchor and an issuer key on first start) and all revocations.
    pub async fn load(store: &dyn Store, now: DateTime<Utc>, skew: Duration) -> Result<Self, StoreError> {
        let ring =
            KeyRing { ring: RwLock::new(build(&keys_creating_missing(store, now).await?, now)?), skew };
        ring.sync_revocations(store).await?;
        Ok(ring)
    }

    /// Rebuilds the key set from the store (after a rotation here or on another node).
    pub async fn reload_keys(&self, store: &dyn Store, now: DateTime<Utc>) -> Result<(), StoreError> {
        let fresh = build(&store.keys().await?, now)?;
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        ring.issuer = fresh.issuer;
        ring.anchor = fresh.anchor;
        ring.place = fresh.place;
        ring.place_keys = fresh.place_keys;
        ring.trust = fresh.trust;
        ring.version = fresh.version;
        Ok(())
    }

    /// Pulls revocations logged since the last sync.
    pub async fn sync_revocations(&self, store: &dyn Store) -> Result<(), StoreError> {
        loop {
            let since = self.ring.read().unwrap_or_else(|p| p.into_inner()).revocation_seq;
            let batch = store.revocations_since(since, 10_000).await?;
            let Some(last) = batch.last().map(|r| r.seq) else { return Ok(()) };
            let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
            ring.revoked.extend(batch.iter().filter_map(|r| TokenId::from_slice(&r.token_id)));
            ring.revocation_seq = ring.revocation_seq.max(last);
        }
    }

    /// Starts a new issuer key now. The old one may sign for a short grace period (other nodes switch
    /// at their next refresh), and its codes stay valid until they expire.
    pub async fn rotate(store: &dyn Store, now: DateTime<Utc>) -> Result<String, StoreError> {
        for k in store.keys().await?.iter().filter(|k| active(k, now)) {
            let end = whole_seconds(now) + ROTATION_GRACE;
            store.set_key_validity(&k.kid, Some(k.not_after.map_or(end, |e| e.min(end))), None).await?;
        }
        let issuer = SigningKey::generate(Algorithm::Ed25519);
        store.create_key(&stored(&issuer, KeyPurpose::Issuer, now)).await?;
        Ok(issuer.kid().to_hex())
    }

    /// Withdraws a key at once (compromise): every code it signed stops verifying.
    pub async fn retire(store: &dyn Store, kid: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let key = store.keys().await?.into_iter().find(|k| k.kid == kid).ok_or(StoreError::NotFound)?;
        store.set_key_validity(kid, Some(key.not_after.unwrap_or(now).min(now)), Some(now)).await
    }

    pub fn issue(&self, claims: &HealthClaims) -> String {
        issue(&self.ring.read().unwrap_or_else(|p| p.into_inner()).issuer, claims)
    }

    pub fn issuer_kid(&self) -> String {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).issuer.kid().to_hex()
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        Verifier { trust: &ring.trust, revocations: &ring.revoked, skew: self.skew }.verify(token, now)
    }

    /// The first half of [`KeyRing::verify`] (decode, find the trusted signer), for the gate, which checks
    /// the signatures of scans arriving together in one batch.
    pub fn open(&self, token: &str) -> Result<Signed, VerifyError> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        Verifier { trust: &ring.trust, revocations: &ring.revoked, skew: self.skew }.open(token)
    }

    /// The second half, for a token whose signature was found valid: validity window and revocation.
    pub fn accept(&self, verified: &Verified, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        Verifier { trust: &ring.trust, revocations: &ring.revoked, skew: self.skew }.accept(verified, now)
    }

    /// The token a venue's poster carries.
    pub fn sign_place(&self, code: PlaceCode) -> String {
        sign_place_code(&self.ring.read().unwrap_or_else(|p| p.into_inner()).place, code)
    }

    /// What a place-code token says, if one of the deployment's place keys signed it.
    pub fn verify_place(&self, token: &str) -> Result<PlaceCode, VerifyError> {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        verify_place_code(token, |kid| ring.place_keys.iter().find(|k| k.kid() == *kid))
    }

    pub fn mark_revoked(&self, id: TokenId) {
        self.ring.write().unwrap_or_else(|p| p.into_inner()).revoked.insert(id);
    }

    /// The published trust list: its keys, the anchor, and the COSE_Sign1 a device verifies.
    pub fn trust_list(&self, now: DateTime<Utc>) -> PublishedTrustList {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        PublishedTrustList {
            version: ring.version,
            issued_at: now,
            anchor: ring.anchor.public(),
            keys: ring.trust.keys().into_iter().cloned().collect(),
            signed: ring.trust.sign(&ring.anchor, ring.version, now),
        }
    }
}

pub struct PublishedTrustList {
    pub version: u64,
    pub issued_at: DateTime<Utc>,
    pub anchor: PublicKey,
    pub keys: Vec<TrustedKey>,
    pub signed: Vec<u8>,
}
