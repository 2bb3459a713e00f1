//! The residents' channel (poster versions, one-time codes, sessions, family members, check-out) on both
//! backends.

mod common;

use chrono::Duration;
use common::*;
use sentinel_core::*;
use sentinel_store::*;

async fn family(s: &dyn Store) -> (PersonId, PersonId, VenueId) {
    seed_regions(s).await;
    let shop =
        s.create_venue(&venue("平江水果店", VenueCategory::FruitShop, "320508001001"), now()).await.unwrap();
    let mother = person(&id_number("320508", 1950, 41), "王秀英", None, "320508001001");
    let son = person(&id_number("320508", 1980, 42), "王强", Some("13800000001"), "320508001001");
    let mother = s.create_person(&mother, now()).await.unwrap().id;
    (s.create_person(&son, now()).await.unwrap().id, mother, shop.id)
}

mod cases {
    use super::*;

    pub async fn reissuing_a_place_code_moves_its_version(s: &dyn Store) {
        let (_, _, shop) = family(s).await;
        assert_eq!(s.get_venue(shop).await.unwrap().place_code_version, 1);
        assert_eq!(s.reissue_place_code(shop).await.unwrap(), 2);
        assert_eq!(s.reissue_place_code(shop).await.unwrap(), 3);
        assert_eq!(s.get_venue(shop).await.unwrap().place_code_version, 3);
        assert!(matches!(s.reissue_place_code(VenueId(999_999)).await, Err(StoreError::NotFound)));
        s.delete_venue(shop, now()).await.unwrap();
        assert!(matches!(s.reissue_place_code(shop).await, Err(StoreError::NotFound)), "deleted venue");
    }

    pub async fn one_time_codes_are_limited_used_once_and_die_after_misses(s: &dyn Store) {
        let (son, mother, _) = family(s).await;
        let hour_ago = now() - Duration::hours(1);
        let expires = now() + Duration::minutes(5);
        for i in 0..3 {
            s.create_otp(son, &[i], now(), expires, hour_ago, 3).await.unwrap();
        }
        let limited = s.create_otp(son, b"x", now(), expires, hour_ago, 3).await;
        assert!(
            matches!(limited, Err(StoreError::Conflict(ref c)) if c == "otp_rate_limited"),
            "{limited:?}"
        );
        // Counted per person and per window.
        s.create_otp(mother, b"m", now(), expires, hour_ago, 3).await.unwrap();
        s.create_otp(son, &[9], now(), expires, now() + Duration::seconds(1), 3).await.unwrap();

        // Only the newest code counts; a miss is counted; a match is used up.
        assert_eq!(s.use_otp(son, &[2], now(), 5).await.unwrap(), OtpOutcome::Wrong, "older code");
        assert_eq!(s.use_otp(son, &[9], now(), 5).await.unwrap(), OtpOutcome::Accepted);
        assert_eq!(s.use_otp(son, &[9], now(), 5).await.unwrap(), OtpOutcome::NoCode, "used");
        assert_eq!(
            s.use_otp(son, &[2], now(), 5).await.unwrap(),
            OtpOutcome::NoCode,
            "older codes never return"
        );
        // Expired codes are gone.
        assert_eq!(
            s.use_otp(mother, b"m", now() + Duration::minutes(6), 5).await.unwrap(),
            OtpOutcome::NoCode
        );
        // Too many misses kill the code even for the right guess.
        for _ in 0..2 {
            assert_eq!(s.use_otp(mother, b"?", now(), 2).await.unwrap(), OtpOutcome::Wrong);
        }
        assert_eq!(s.use_otp(mother, b"m", now(), 2).await.unwrap(), OtpOutcome::NoCode);
    }

    pub async fn resident_sessions_expire_and_end(s: &dyn Store) {
        let (son, _, _) = family(s).await;
        let session = ResidentSession {
            token_hash: vec![7; 32],
            person_id: son,
            csrf_token: "csrf".into(),
            created_at: now(),
            expires_at: now() + Duration::hours(12),
        };
        s.create_resident_session(&session).await.unwrap();
        assert_eq!(s.resident_session(&[7; 32], now()).await.unwrap(), Some(session.clone()));
        assert_eq!(s.resident_session(&[7; 32], now() + Duration::hours(13)).await.unwrap(), None);
        assert_eq!(s.resident_session(&[8; 32], now()).await.unwrap(), None);
        s.delete_resident_session(&[7; 32]).await.unwrap();
        assert_eq!(s.resident_session(&[7; 32], now()).await.unwrap(), None);
    }

    pub async fn guardians_keep_their_dependants(s: &dyn Store) {
        let (son, mother, _) = family(s).await;
        assert_eq!(s.dependants(son).await.unwrap(), []);
        s.add_dependant(son, mother, "母亲", now()).await.unwrap();
        let again = s.add_dependant(son, mother, "妈妈", now()).await;
        assert!(matches!(again, Err(StoreError::Conflict(ref c)) if c == "dependant_exists"), "{again:?}");
        let listed = s.dependants(son).await.unwrap();
        assert_eq!(
            listed,
            [Dependant { person_id: mother, relation: "母亲".into(), added_at: listed[0].added_at }]
        );
        assert_eq!(s.dependants(mother).await.unwrap(), [], "one direction");
        assert!(matches!(s.remove_dependant(mother, son).await, Err(StoreError::NotFound)));
        s.remove_dependant(son, mother).await.unwrap();
        assert_eq!(s.dependants(son).await.unwrap(), []);
    }

    pub async fn a_resident_checks_out_of_their_own_visit_once(s: &dyn Store) {
        let (son, mother, shop) = family(s).await;
        let visit = NewVisit {
            person_id: Some(son),
            venue_id: shop,
            device_id: None,
            channel: "self_scan".into(),
            entered_at: now(),
            outcome: "pass".into(),
            reasons: vec![],
            policy_id: None,
            policy_version: "default".into(),
            temperature_c: None,
            mask: None,
            idempotency_key: None,
            registrar: None,
            prompt: None,
            alerts: vec![],
        };
        let id = s.record_visits(&[visit]).await.unwrap()[0].visit_id;
        let later = now() + Duration::minutes(25);
        assert!(matches!(s.check_out(id, mother, later).await, Err(StoreError::NotFound)), "not hers");
        assert!(matches!(
            s.check_out(id, son, now() - Duration::minutes(1)).await,
            Err(StoreError::NotFound)
        ));
        s.check_out(id, son, later).await.unwrap();
        assert_eq!(
            s.get_visit(id).await.unwrap().left_at.map(|t| t.timestamp_millis()),
            Some(later.timestamp_millis())
        );
        assert!(matches!(s.check_out(id, son, later).await, Err(StoreError::NotFound)), "once");
    }
}

contract!(
    reissuing_a_place_code_moves_its_version,
    one_time_codes_are_limited_used_once_and_die_after_misses,
    resident_sessions_expire_and_end,
    guardians_keep_their_dependants,
    a_resident_checks_out_of_their_own_visit_once,
);
