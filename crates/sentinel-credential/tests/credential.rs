//! Health codes: issue → verify, each typed error, the trust list, QR rendering, and properties.

use chrono::{DateTime, Duration, TimeZone, Utc};
use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder};
use proptest::prelude::*;
use sentinel_core::health::{Colour, NatOutcome};
use sentinel_credential::*;
use std::collections::HashSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap()
}

fn claims(kind: CredentialKind, issued: DateTime<Utc>, lifetime: Duration) -> HealthClaims {
    HealthClaims {
        issuer: "sentinel:suzhou".into(),
        subject: "p:42".into(),
        token_id: TokenId::random(),
        issued_at: issued,
        expires_at: issued + lifetime,
        kind,
        status: StatusSnapshot {
            colour: Colour::Green,
            nat_sampled_at: Some(issued - Duration::hours(20)),
            nat_outcome: Some(NatOutcome::Negative),
            vaccine_doses: 3,
            itinerary_risk: false,
        },
    }
}

struct Setup {
    key: SigningKey,
    trust: TrustList,
    revoked: HashSet<TokenId>,
}

fn setup() -> Setup {
    let key = SigningKey::generate(Algorithm::Ed25519);
    let trust = TrustList::new([TrustedKey {
        key: key.public(),
        not_before: t0() - Duration::days(1),
        not_after: None,
    }]);
    Setup { key, trust, revoked: HashSet::new() }
}

impl Setup {
    fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<HealthClaims, VerifyError> {
        Verifier { trust: &self.trust, revocations: &self.revoked, skew: Duration::seconds(30) }
            .verify(token, now)
    }
}

#[test]
fn a_dynamic_code_round_trips_and_stays_small() {
    let s = setup();
    let c = claims(CredentialKind::Dynamic, t0(), Duration::seconds(120));
    let token = issue(&s.key, &c);
    assert!(token.starts_with("SN1:"));
    assert!(token.len() < 300, "a phone QR stays small: {} characters", token.len());
    assert_eq!(s.verify(&token, t0() + Duration::seconds(60)).unwrap(), c);
}

#[test]
fn each_failure_has_its_own_error() {
    let mut s = setup();
    let dynamic = issue(&s.key, &claims(CredentialKind::Dynamic, t0(), Duration::seconds(120)));
    assert_eq!(s.verify(&dynamic, t0() + Duration::seconds(150)), Err(VerifyError::Expired));
    assert_eq!(s.verify(&dynamic, t0() + Duration::seconds(120 + 29)).map(|_| ()), Ok(()), "within the skew");
    assert_eq!(s.verify(&dynamic, t0() - Duration::seconds(60)), Err(VerifyError::NotYetValid));

    let paper = claims(CredentialKind::Paper, t0(), Duration::hours(24));
    let paper_token = issue(&s.key, &paper);
    assert!(s.verify(&paper_token, t0() + Duration::hours(23)).is_ok());
    s.revoked.insert(paper.token_id);
    assert_eq!(s.verify(&paper_token, t0() + Duration::hours(1)), Err(VerifyError::Revoked));

    let stranger = SigningKey::generate(Algorithm::Ed25519);
    let foreign = issue(&stranger, &claims(CredentialKind::Dynamic, t0(), Duration::seconds(120)));
    assert_eq!(s.verify(&foreign, t0()), Err(VerifyError::UnknownKey));

    // A key rotated out at t0: codes it signs afterwards are refused, earlier ones still verify.
    let old = SigningKey::generate(Algorithm::Ed25519);
    let rotated = TrustList::new([
        TrustedKey { key: old.public(), not_before: t0() - Duration::days(30), not_after: Some(t0()) },
        TrustedKey { key: s.key.public(), not_before: t0(), not_after: None },
    ]);
    let v = Verifier { trust: &rotated, revocations: &HashSet::new(), skew: Duration::seconds(30) };
    let late =
        issue(&old, &claims(CredentialKind::Dynamic, t0() + Duration::seconds(10), Duration::seconds(120)));
    assert_eq!(v.verify(&late, t0() + Duration::seconds(20)), Err(VerifyError::UnknownKey));
    let early = issue(&old, &claims(CredentialKind::Paper, t0() - Duration::hours(1), Duration::hours(24)));
    assert!(v.verify(&early, t0() + Duration::hours(1)).is_ok());

    // Signed by a stranger under the trusted key's id: a forgery.
    let c = claims(CredentialKind::Dynamic, t0(), Duration::seconds(120));
    let protected =
        HeaderBuilder::new().algorithm(coset::iana::Algorithm::EdDSA).key_id(s.key.kid().0.to_vec()).build();
    let forged = CoseSign1Builder::new()
        .protected(protected)
        .payload(c.to_claims_set().to_vec().unwrap())
        .create_signature(b"", |d| stranger.sign(d))
        .build()
        .to_vec()
        .unwrap();
    assert_eq!(s.verify(&envelope::seal(&forged), t0()), Err(VerifyError::BadSignature));

    // A genuine code with its payload changed (a "red" turned "green") after signing.
    let red =
        HealthClaims { status: StatusSnapshot { colour: Colour::Red, ..c.status.clone() }, ..c.clone() };
    let genuine = envelope::open(&issue(&s.key, &red)).unwrap();
    let mut sign1 = CoseSign1::from_slice(&genuine).unwrap();
    sign1.payload = Some(c.to_claims_set().to_vec().unwrap());
    assert_eq!(s.verify(&envelope::seal(&sign1.to_vec().unwrap()), t0()), Err(VerifyError::BadSignature));
}

/// A code whose signature is broken anywhere (its `s`, its `R`, or a payload changed after signing).
fn broken_copies(key: &SigningKey, c: &HealthClaims) -> Vec<String> {
    let genuine = envelope::open(&issue(key, c)).unwrap();
    let mut out = Vec::new();
    for byte in [0, 31, 32, 63] {
        let mut sign1 = CoseSign1::from_slice(&genuine).unwrap();
        sign1.signature[byte] ^= 0x01;
        out.push(envelope::seal(&sign1.to_vec().unwrap()));
    }
    let mut sign1 = CoseSign1::from_slice(&genuine).unwrap();
    let other = HealthClaims { subject: format!("{}x", c.subject), ..c.clone() };
    sign1.payload = Some(other.to_claims_set().to_vec().unwrap());
    out.push(envelope::seal(&sign1.to_vec().unwrap()));
    out
}

#[test]
fn signatures_checked_together_find_each_broken_one() {
    let s = setup();
    let v = Verifier { trust: &s.trust, revocations: &s.revoked, skew: Duration::seconds(30) };
    let good: Vec<String> = (0..20)
        .map(|i| {
            issue(
                &s.key,
                &claims(CredentialKind::Dynamic, t0() + Duration::seconds(i), Duration::seconds(120)),
            )
        })
        .collect();
    let signatures_valid = |tokens: &[String]| {
        let opened: Vec<Signed> = tokens.iter().map(|t| v.open(t).unwrap()).collect();
        verify_signatures(opened).iter().map(Result::is_ok).collect::<Vec<_>>()
    };
    assert_eq!(signatures_valid(&good), vec![true; 20]);
    assert_eq!(signatures_valid(&good[..1]), vec![true]);
    assert_eq!(signatures_valid(&[]), Vec::<bool>::new());

    let c = claims(CredentialKind::Dynamic, t0(), Duration::seconds(120));
    for broken in broken_copies(&s.key, &c) {
        for at in [0, 7, 20] {
            let mut batch = good.clone();
            batch.insert(at, broken.clone());
            let mut expected = vec![true; 21];
            expected[at] = false;
            assert_eq!(signatures_valid(&batch), expected, "broken code at {at}");
        }
        assert_eq!(signatures_valid(std::slice::from_ref(&broken)), vec![false]);
    }
    // Several broken among good ones, split in halves until each is found.
    let mut mixed = good.clone();
    let mut expected = vec![true; 20];
    for (n, broken) in broken_copies(&s.key, &c).into_iter().enumerate() {
        mixed.insert(n * 4 + 1, broken);
        expected.insert(n * 4 + 1, false);
    }
    assert_eq!(signatures_valid(&mixed), expected);
    // A key withdrawn between the check and the acceptance no longer counts.
    let withdrawn = TrustList::new([TrustedKey {
        key: s.key.public(),
        not_before: t0() - Duration::days(1),
        not_after: Some(t0() - Duration::seconds(1)),
    }]);
    let later = Verifier { trust: &withdrawn, revocations: &s.revoked, skew: Duration::seconds(30) };
    let verified = v.open(&good[3]).unwrap().verify().unwrap();
    assert_eq!(later.accept(&verified, t0() + Duration::seconds(10)), Err(VerifyError::UnknownKey));
    // Opened, checked and accepted is what `verify` answers.
    let token = &good[3];
    let verified = v.open(token).unwrap().verify().unwrap();
    assert_eq!(
        v.accept(&verified, t0() + Duration::seconds(10)),
        v.verify(token, t0() + Duration::seconds(10))
    );
}

#[test]
fn malformed_input_is_refused_without_panicking() {
    let s = setup();
    let token = issue(&s.key, &claims(CredentialKind::Dynamic, t0(), Duration::seconds(120)));
    let cases = [
        String::new(),
        "SN1:".into(),
        token[..token.len() / 2].to_owned(), // truncated
        token.to_lowercase(),                // re-encoded
        format!("SN1:{}", base45::encode(b"plain bytes, no zlib")), // not deflated
        format!("SN1:{}", base45::encode(miniz_oxide::deflate::compress_to_vec_zlib(b"\x01\x02", 6))), // not COSE
        format!("SN2:{}", &token[4..]),       // unknown version
        "x".repeat(100_000),                  // oversized
        envelope::seal(&vec![0u8; 10 << 20]), // zip bomb
    ];
    for case in &cases {
        match s.verify(case, t0()) {
            Err(VerifyError::Malformed(_)) => {}
            other => panic!("{:.40}…: {other:?}", case),
        }
    }
}

#[test]
fn the_trust_list_is_signed_by_the_anchor() {
    let anchor = SigningKey::generate(Algorithm::Ed25519);
    let s = setup();
    let signed = s.trust.sign(&anchor, 7, t0());
    let (list, version, at) = TrustList::open_signed(&signed, &anchor.public()).unwrap();
    assert_eq!((list, version, at), (s.trust.clone(), 7, t0()));
    let other = SigningKey::generate(Algorithm::Ed25519);
    assert_eq!(TrustList::open_signed(&signed, &other.public()).map(|_| ()), Err(VerifyError::UnknownKey));
    let mut tampered = signed.clone();
    let n = tampered.len();
    tampered[n - 70] ^= 1; // inside the payload
    assert!(TrustList::open_signed(&tampered, &anchor.public()).is_err());
}

#[test]
fn qr_png_decodes_back_to_the_token() {
    let s = setup();
    let token = issue(&s.key, &claims(CredentialKind::Paper, t0(), Duration::hours(24)));
    let png_bytes = qr::png(&token, 4).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, token);
    let svg = qr::svg(&token, 256).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
}

fn arbitrary_claims() -> impl Strategy<Value = HealthClaims> {
    (
        0i64..2_000_000_000,
        1i64..200_000,
        prop_oneof![Just(CredentialKind::Dynamic), Just(CredentialKind::Paper)],
        prop_oneof![Just(Colour::Green), Just(Colour::Yellow), Just(Colour::Red)],
        proptest::option::of(0i64..2_000_000_000),
        proptest::option::of(prop_oneof![Just(NatOutcome::Negative), Just(NatOutcome::Positive)]),
        0u8..10,
        any::<bool>(),
        "[a-z0-9:]{1,20}",
        any::<[u8; 16]>(),
    )
        .prop_map(|(iat, life, kind, colour, nat, outcome, doses, risk, subject, id)| HealthClaims {
            issuer: "sentinel:test".into(),
            subject,
            token_id: TokenId(id),
            issued_at: Utc.timestamp_opt(iat, 0).unwrap(),
            expires_at: Utc.timestamp_opt(iat + life, 0).unwrap(),
            kind,
            status: StatusSnapshot {
                colour,
                nat_sampled_at: nat.map(|n| Utc.timestamp_opt(n, 0).unwrap()),
                nat_outcome: outcome,
                vaccine_doses: doses,
                itinerary_risk: risk,
            },
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn issue_then_verify_round_trips(c in arbitrary_claims()) {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let trust = TrustList::new([TrustedKey { key: key.public(), not_before: Utc.timestamp_opt(0, 0).unwrap(), not_after: None }]);
        let v = Verifier { trust: &trust, revocations: &HashSet::new(), skew: Duration::zero() };
        let token = issue(&key, &c);
        prop_assert_eq!(v.verify(&token, c.issued_at).unwrap(), c);
    }

    #[test]
    fn any_single_byte_change_fails(c in arbitrary_claims(), pos in any::<prop::sample::Index>(), replacement in any::<u8>()) {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let trust = TrustList::new([TrustedKey { key: key.public(), not_before: Utc.timestamp_opt(0, 0).unwrap(), not_after: None }]);
        let v = Verifier { trust: &trust, revocations: &HashSet::new(), skew: Duration::zero() };
        let token = issue(&key, &c);
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(v.verify(&changed, c.issued_at).is_err(), "changed byte {} verified", i);
    }

    /// Properly signed by a trusted key, so the checks get past the signature into the claims parser: a
    /// genuine claims set with bytes changed or cut, or arbitrary bytes, never panics (an edit that keeps a
    /// well-formed claims set may verify: it was signed).
    #[test]
    fn signed_garbage_claims_never_panic(
        c in arbitrary_claims(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        raw in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let key = SigningKey::generate(Algorithm::Ed25519);
        let trust = TrustList::new([TrustedKey { key: key.public(), not_before: Utc.timestamp_opt(0, 0).unwrap(), not_after: None }]);
        let v = Verifier { trust: &trust, revocations: &HashSet::new(), skew: Duration::zero() };
        let mut payload = c.to_claims_set().to_vec().unwrap();
        for (at, byte) in &edits {
            let i = at.index(payload.len());
            payload[i] = *byte;
        }
        payload.truncate(cut.index(payload.len() + 1));
        for payload in [payload, raw] {
            let _ = v.verify(&envelope::seal(&sentinel_credential::verify::sign(&key, payload)), c.issued_at);
        }
    }

    #[test]
    fn arbitrary_input_never_panics(s in ".{0,400}", raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let trust = TrustList::default();
        let v = Verifier { trust: &trust, revocations: &HashSet::new(), skew: Duration::zero() };
        let _ = v.verify(&s, Utc.timestamp_opt(0, 0).unwrap());
        let _ = v.verify(&format!("SN1:{}", base45::encode(&raw)), Utc.timestamp_opt(0, 0).unwrap());
        let _ = v.verify(&envelope::seal(&raw), Utc.timestamp_opt(0, 0).unwrap());
    }
}
