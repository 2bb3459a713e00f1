//! The trust list: which issuer keys a verifier accepts and for which issue times. It is published as a
//! COSE_Sign1 signed by the deployment's trust anchor, so a device that pins the anchor can take a new
//! list from any channel.

use chrono::{DateTime, TimeZone, Utc};
use ciborium::value::{Integer, Value};
use coset::{CborSerializable, CoseSign1};
use std::collections::HashMap;

use crate::VerifyError;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::suite::Algorithm;

/// An issuer key and the period in which codes it signed are accepted (by issue time).
#[derive(Debug, Clone, PartialEq)]
pub struct TrustedKey {
    pub key: PublicKey,
    pub not_before: DateTime<Utc>,
    /// After a rotation, codes issued later than this by the old key are refused.
    pub not_after: Option<DateTime<Utc>>,
}

impl TrustedKey {
    pub fn valid_at(&self, t: DateTime<Utc>) -> bool {
        self.not_before <= t && self.not_after.is_none_or(|end| t < end)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustList {
    keys: HashMap<KeyId, TrustedKey>,
}

fn int(v: i64) -> Value {
    Value::Integer(Integer::from(v))
}

fn get(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter().find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key)).map(|(_, v)| v)
}

fn seconds(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = i64::try_from(v?.as_integer()?).ok()?;
    Utc.timestamp_opt(s, 0).single()
}

impl TrustList {
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        Self { keys: keys.into_iter().map(|k| (k.key.kid(), k)).collect() }
    }

    pub fn get(&self, kid: &KeyId) -> Option<&TrustedKey> {
        self.keys.get(kid)
    }

    /// The keys, by key id.
    pub fn keys(&self) -> Vec<&TrustedKey> {
        let mut keys: Vec<_> = self.keys.values().collect();
        keys.sort_by_key(|k| (k.not_before, k.key.kid()));
        keys
    }

    /// The signed form: COSE_Sign1 by `anchor` over a CBOR map {1: version, 2: issued at, 3: keys}.
    pub fn sign(&self, anchor: &SigningKey, version: u64, issued_at: DateTime<Utc>) -> Vec<u8> {
        let keys = self
            .keys()
            .into_iter()
            .map(|k| {
                Value::Map(vec![
                    (int(1), Value::Bytes(k.key.kid().0.to_vec())),
                    (int(2), Value::Text(k.key.algorithm().code().into())),
                    (int(3), Value::Bytes(k.key.to_bytes())),
                    (int(4), int(k.not_before.timestamp())),
                    (int(5), k.not_after.map_or(Value::Null, |t| int(t.timestamp()))),
                ])
            })
            .collect();
        let payload = Value::Map(vec![
            (int(1), Value::Integer(Integer::from(version))),
            (int(2), int(issued_at.timestamp())),
            (int(3), Value::Array(keys)),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&payload, &mut bytes).expect("writing CBOR to memory cannot fail");
        crate::verify::sign(anchor, bytes)
    }

    /// Verifies a signed list against the pinned anchor and reads it: (list, version, issued at).
    pub fn open_signed(
        bytes: &[u8],
        anchor: &PublicKey,
    ) -> Result<(TrustList, u64, DateTime<Utc>), VerifyError> {
        let sign1 = CoseSign1::from_slice(bytes).map_err(|_| VerifyError::malformed("not COSE_Sign1"))?;
        if sign1.protected.header.key_id != anchor.kid().0 {
            return Err(VerifyError::UnknownKey);
        }
        sign1.verify_signature(b"", |sig, data| {
            if anchor.verify(data, sig) { Ok(()) } else { Err(VerifyError::BadSignature) }
        })?;
        let payload = sign1.payload.ok_or_else(|| VerifyError::malformed("no payload"))?;
        let value: Value = ciborium::from_reader(payload.as_slice())
            .map_err(|_| VerifyError::malformed("payload not CBOR"))?;
        let map = value.as_map().ok_or_else(|| VerifyError::malformed("payload not a map"))?;
        let bad = || VerifyError::malformed("trust list entry");
        let version =
            get(map, 1).and_then(Value::as_integer).and_then(|i| u64::try_from(i).ok()).ok_or_else(bad)?;
        let issued_at = seconds(get(map, 2)).ok_or_else(bad)?;
        let mut keys = Vec::new();
        for entry in get(map, 3).and_then(Value::as_array).ok_or_else(bad)? {
            let e = entry.as_map().ok_or_else(bad)?;
            let alg = get(e, 2).and_then(Value::as_text).and_then(Algorithm::from_code).ok_or_else(bad)?;
            let public = get(e, 3).and_then(Value::as_bytes).ok_or_else(bad)?;
            let key = PublicKey::from_bytes(alg, public).map_err(|_| bad())?;
            let kid =
                get(e, 1).and_then(Value::as_bytes).and_then(|b| KeyId::from_slice(b)).ok_or_else(bad)?;
            if kid != key.kid() {
                return Err(bad());
            }
            let not_before = seconds(get(e, 4)).ok_or_else(bad)?;
            let not_after = match get(e, 5) {
                None | Some(Value::Null) => None,
                v => Some(seconds(v).ok_or_else(bad)?),
            };
            keys.push(TrustedKey { key, not_before, not_after });
        }
        Ok((TrustList::new(keys), version, issued_at))
    }
}
