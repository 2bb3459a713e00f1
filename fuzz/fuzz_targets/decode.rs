//! Fuzzes the health-code decoder: any input must be refused with a typed error and never panic, and
//! arbitrary bytes signed by a trusted key (so the claims parser is reached) must never panic.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use sentinel_credential::{Algorithm, SigningKey, TrustList, TrustedKey, Verifier};
use std::collections::HashSet;
use std::sync::OnceLock;

/// A trusted key and the trust list holding it.
fn trusted() -> &'static (SigningKey, TrustList) {
    static TRUSTED: OnceLock<(SigningKey, TrustList)> = OnceLock::new();
    TRUSTED.get_or_init(|| {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let trust = TrustList::new([TrustedKey {
            key: key.public(),
            not_before: chrono::Utc.timestamp_opt(0, 0).unwrap(),
            not_after: None,
        }]);
        (key, trust)
    })
}

fuzz_target!(|data: &[u8]| {
    let revoked = HashSet::new();
    let (key, trust) = trusted();
    let verifier = Verifier { trust, revocations: &revoked, skew: chrono::Duration::seconds(30) };
    let now = chrono::Utc.timestamp_opt(1_714_370_000, 0).unwrap();
    // As text straight from a scanner…
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(verifier.verify(text, now).is_err());
    }
    // …and as the bytes inside a well-formed envelope, to reach the CBOR readers.
    let token = sentinel_credential::envelope::seal(data);
    assert!(verifier.verify(&token, now).is_err());
    // …and as a claims set signed by the trusted key, to reach the claims parser.
    let signed = sentinel_credential::verify::sign(&key, data.to_vec());
    let _ = verifier.verify(&sentinel_credential::envelope::seal(&signed), now);
});
