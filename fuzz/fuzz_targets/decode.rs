//! Fuzzes the health-code decoder: any input must be refused with a typed error, never panic, and a
//! token built from arbitrary deflated bytes must not verify.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use sentinel_credential::{Algorithm, SigningKey, TrustList, TrustedKey, Verifier};
use std::collections::HashSet;
use std::sync::OnceLock;

fn trust() -> &'static TrustList {
    static TRUST: OnceLock<TrustList> = OnceLock::new();
    TRUST.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::Ed25519);
        TrustList::new([TrustedKey {
            key: key.public(),
            not_before: chrono::Utc.timestamp_opt(0, 0).unwrap(),
            not_after: None,
        }])
    })
}

fuzz_target!(|data: &[u8]| {
    let revoked = HashSet::new();
    let verifier = Verifier { trust: trust(), revocations: &revoked, skew: chrono::Duration::seconds(30) };
    let now = chrono::Utc.timestamp_opt(1_714_370_000, 0).unwrap();
    // As text straight from a scanner…
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(verifier.verify(text, now).is_err());
    }
    // …and as the bytes inside a well-formed envelope, to reach the CBOR readers.
    let token = sentinel_credential::envelope::seal(data);
    assert!(verifier.verify(&token, now).is_err());
});
