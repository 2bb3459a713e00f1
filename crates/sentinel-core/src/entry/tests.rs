//! The policy matrix and the seed's cases, one row each.

use super::*;
use crate::health::{LiveStatus, NatResult};
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap()
}

/// A person: colour, hours since the last negative NAT (None: no test), doses, risk itinerary.
fn status(colour: Colour, nat_hours: Option<i64>, doses: u8, itinerary_risk: bool) -> LiveStatus {
    LiveStatus {
        colour,
        assignment: None,
        last_nat: nat_hours.map(|h| NatResult {
            sampled_at: now() - Duration::hours(h),
            reported_at: now() - Duration::hours(h) + Duration::hours(4),
            outcome: NatOutcome::Negative,
            kind: NatKind::Pcr,
            lab: None,
        }),
        vaccine_doses: doses,
        vaccine_exempt: false,
        itinerary_risk,
    }
}

fn readings(temp: f32, mask: bool) -> Readings {
    Readings { temperature: Some(Celsius::new(temp).unwrap()), mask: Some(mask), face_match: None }
}

struct Row {
    name: &'static str,
    policy: EntryPolicy,
    status: LiveStatus,
    age: u32,
    readings: Readings,
    channel: Channel,
    outcome: Outcome,
    reasons: &'static [&'static str],
    alerts: &'static [&'static str],
    prompt: &'static str,
}

fn row(name: &'static str, status: LiveStatus, readings: Readings) -> Row {
    Row {
        name,
        policy: EntryPolicy::default(),
        status,
        age: 35,
        readings,
        channel: Channel::DeviceCode,
        outcome: Outcome::Pass,
        reasons: &[],
        alerts: &[],
        prompt: "验证通过，请通行",
    }
}

impl Row {
    fn expect(
        mut self,
        outcome: Outcome,
        reasons: &'static [&'static str],
        alerts: &'static [&'static str],
        prompt: &'static str,
    ) -> Self {
        (self.outcome, self.reasons, self.alerts, self.prompt) = (outcome, reasons, alerts, prompt);
        self
    }

    fn with_policy(mut self, f: impl FnOnce(&mut EntryPolicy)) -> Self {
        f(&mut self.policy);
        self
    }
}

#[test]
fn the_policy_matrix() {
    let ok = || readings(36.5, true);
    let green = || status(Colour::Green, Some(20), 3, false);
    let rows = vec![
        row("green, fresh NAT, vaccinated", green(), ok()),
        row("red code (seed: deny + alert)", status(Colour::Red, Some(20), 3, false), ok()).expect(
            Outcome::Deny,
            &["code_red"],
            &["code_red"],
            "健康码异常，禁止通行",
        ),
        row("yellow code", status(Colour::Yellow, Some(20), 3, false), ok()).expect(
            Outcome::Deny,
            &["code_yellow"],
            &["code_yellow"],
            "健康码异常，禁止通行",
        ),
        row("yellow accepted by a looser category", status(Colour::Yellow, Some(20), 3, false), ok())
            .with_policy(|p| p.accepted_colours = vec![Colour::Green, Colour::Yellow]),
        row("fever 38.2 °C (seed: deny + alert)", green(), readings(38.2, true)).expect(
            Outcome::Deny,
            &["fever"],
            &["fever"],
            "体温异常，请复测",
        ),
        row("37.3 °C is already a fever", green(), readings(37.3, true)).expect(
            Outcome::Deny,
            &["fever"],
            &["fever"],
            "体温异常，请复测",
        ),
        row("37.2 °C passes", green(), readings(37.2, true)),
        row("14-day risk itinerary (行程卡带星)", status(Colour::Green, Some(20), 3, true), ok()).expect(
            Outcome::Deny,
            &["risk_itinerary"],
            &["risk_itinerary"],
            "14天内有中高风险地区旅居史，禁止通行",
        ),
        row("NAT 50 h old under the 48 h default", status(Colour::Green, Some(50), 3, false), ok()).expect(
            Outcome::Deny,
            &["nat_expired"],
            &["nat_expired"],
            "核酸检测已过期，请尽快检测",
        ),
        row("NAT 50 h old, venue needs 72 h", status(Colour::Green, Some(50), 3, false), ok())
            .with_policy(|p| p.nat_max_age_hours = Some(72)),
        row("NAT 30 h old, venue needs 24 h", status(Colour::Green, Some(30), 3, false), ok())
            .with_policy(|p| p.nat_max_age_hours = Some(24))
            .expect(Outcome::Deny, &["nat_expired"], &["nat_expired"], "核酸检测已过期，请尽快检测"),
        row("NAT too old, policy only alerts", status(Colour::Green, Some(50), 3, false), ok())
            .with_policy(|p| p.on_nat = OnFailure::new(Effect::Ignore, true))
            .expect(Outcome::Pass, &["nat_expired"], &["nat_expired"], "验证通过，请通行"),
        row("no NAT at all", status(Colour::Green, None, 3, false), ok()).expect(
            Outcome::Deny,
            &["nat_missing"],
            &["nat_missing"],
            "无核酸检测记录",
        ),
        row("no NAT needed", status(Colour::Green, None, 3, false), ok())
            .with_policy(|p| p.nat_max_age_hours = None),
        row("no mask (seed: voice reminder)", green(), readings(36.5, false)).expect(
            Outcome::Remind,
            &["no_mask"],
            &[],
            "请佩戴口罩",
        ),
        row("no mask where masks are required", green(), readings(36.5, false))
            .with_policy(|p| p.on_no_mask = OnFailure::new(Effect::Deny, true))
            .expect(Outcome::Deny, &["no_mask"], &["no_mask"], "请佩戴口罩"),
        row("mask not measured", green(), Readings { temperature: None, mask: None, face_match: None }),
        Row {
            age: 65,
            channel: Channel::DeviceIdCard,
            ..row(
                "elderly by ID card, unvaccinated (seed)",
                status(Colour::Green, Some(20), 0, false),
                Readings { face_match: Some(FaceMatch::new(0.93).unwrap()), ..ok() },
            )
        }
        .expect(
            Outcome::Remind,
            &["unvaccinated"],
            &["unvaccinated"],
            "您尚未接种疫苗，请配合工作人员登记",
        ),
        Row {
            age: 65,
            ..row(
                "unvaccinated where vaccination is required",
                status(Colour::Green, Some(20), 0, false),
                ok(),
            )
        }
        .with_policy(|p| p.on_vaccine = OnFailure::new(Effect::Deny, true))
        .expect(
            Outcome::Deny,
            &["unvaccinated"],
            &["unvaccinated"],
            "您尚未接种疫苗，请配合工作人员登记",
        ),
        Row { age: 2, ..row("a two-year-old is exempt", status(Colour::Green, Some(20), 0, false), ok()) },
        Row {
            channel: Channel::DeviceIdCard,
            ..row(
                "face does not match the ID card",
                green(),
                Readings { face_match: Some(FaceMatch::new(0.41).unwrap()), ..ok() },
            )
        }
        .expect(Outcome::Deny, &["face_mismatch"], &[], "人证不符，请重新核验"),
        row(
            "a face score outside an ID-card read is ignored",
            green(),
            Readings { face_match: Some(FaceMatch::new(0.1).unwrap()), ..ok() },
        ),
        Row { channel: Channel::PaperCode, ..row("paper codes refused here", green(), ok()) }
            .with_policy(|p| p.paper_codes_accepted = false)
            .expect(Outcome::Deny, &["paper_not_accepted"], &[], "本场所不接受纸质码"),
        Row { channel: Channel::Proxy, ..row("proxy accepted by default", green(), ok()) },
        row(
            "everything wrong at once: every check reported",
            status(Colour::Red, Some(60), 0, true),
            readings(38.9, false),
        )
        .expect(
            Outcome::Deny,
            &["code_red", "nat_expired", "risk_itinerary", "fever", "no_mask", "unvaccinated"],
            &["code_red", "nat_expired", "risk_itinerary", "fever", "unvaccinated"],
            "健康码异常，禁止通行",
        ),
        row(
            "two reminders are both spoken",
            status(Colour::Green, Some(20), 0, false),
            readings(36.5, false),
        )
        .expect(
            Outcome::Remind,
            &["no_mask", "unvaccinated"],
            &["unvaccinated"],
            "请佩戴口罩；您尚未接种疫苗，请配合工作人员登记",
        ),
    ];
    for r in rows {
        let subject = Subject { status: &r.status, age: Some(r.age) };
        let d = decide(&r.policy, subject, r.readings, r.channel, now());
        let reasons: Vec<&str> = d.reasons().map(Reason::code).collect();
        let alerts: Vec<&str> = d.alerts().map(Reason::code).collect();
        assert_eq!(d.outcome, r.outcome, "{}", r.name);
        assert_eq!(reasons, r.reasons, "{}", r.name);
        assert_eq!(alerts, r.alerts, "{}", r.name);
        assert_eq!(d.prompt_zh, r.prompt, "{}", r.name);
        assert!(!d.prompt_en.is_empty(), "{}", r.name);
        assert_eq!(d.registration_prompt, r.reasons.contains(&"unvaccinated"), "{}", r.name);
    }
}

#[test]
fn an_id_card_without_a_face_score_does_not_pass() {
    let s = status(Colour::Green, Some(10), 3, false);
    let d = decide(
        &EntryPolicy::default(),
        Subject { status: &s, age: Some(30) },
        readings(36.5, true),
        Channel::DeviceIdCard,
        now(),
    );
    assert_eq!(
        (d.outcome, d.reasons().map(Reason::code).collect::<Vec<_>>()),
        (Outcome::Deny, vec!["face_mismatch"])
    );
}

#[test]
fn a_positive_antigen_stops_even_where_only_pcr_counts() {
    let mut s = status(Colour::Green, Some(10), 3, false);
    let nat = s.last_nat.as_mut().unwrap();
    (nat.outcome, nat.kind) = (NatOutcome::Positive, NatKind::Antigen);
    let policy =
        EntryPolicy { nat_kinds: vec![NatKind::Pcr], nat_max_age_hours: None, ..EntryPolicy::default() };
    let d =
        decide(&policy, Subject { status: &s, age: Some(30) }, Readings::default(), Channel::SelfScan, now());
    assert_eq!(d.alerts().map(Reason::code).collect::<Vec<_>>(), ["nat_positive"]);
}

#[test]
fn a_positive_result_always_stops_and_alerts() {
    let mut s = status(Colour::Green, Some(10), 3, false);
    s.last_nat.as_mut().unwrap().outcome = NatOutcome::Positive;
    let policy = EntryPolicy { nat_max_age_hours: None, ..EntryPolicy::default() };
    let d =
        decide(&policy, Subject { status: &s, age: Some(30) }, Readings::default(), Channel::SelfScan, now());
    assert_eq!(
        (d.outcome, d.alerts().map(Reason::code).collect::<Vec<_>>()),
        (Outcome::Deny, vec!["nat_positive"])
    );
}

#[test]
fn a_medical_exemption_counts() {
    let s = LiveStatus { vaccine_exempt: true, ..status(Colour::Green, Some(10), 0, false) };
    let d = decide(
        &EntryPolicy::default(),
        Subject { status: &s, age: Some(40) },
        Readings::default(),
        Channel::Manual,
        now(),
    );
    assert_eq!(d.outcome, Outcome::Pass);
}

#[test]
fn refused_credentials_speak_their_own_reason() {
    let d = Decision::refused_credential("expired");
    assert_eq!(
        (d.outcome, d.reasons().map(Reason::code).collect::<Vec<_>>()),
        (Outcome::Deny, vec!["expired"])
    );
    assert!(!d.outcome.admits());
}

#[test]
fn readings_outside_physical_range_are_refused() {
    assert_eq!(Celsius::new(80.0), Err(ReadingError::Temperature(80.0)));
    assert!(Celsius::new(f32::NAN).is_err());
    assert!(Celsius::new(36.6).is_ok());
    assert!(FaceMatch::new(1.5).is_err());
}

#[test]
fn venues_may_only_tighten() {
    let city = EntryPolicy::default();
    let stricter = EntryPolicy {
        nat_max_age_hours: Some(24),
        on_no_mask: OnFailure::new(Effect::Deny, true),
        ..city.clone()
    };
    assert!(stricter.at_least_as_strict_as(&city).is_empty());
    let looser = EntryPolicy {
        nat_max_age_hours: Some(72),
        accepted_colours: vec![Colour::Green, Colour::Yellow],
        on_fever: OnFailure::new(Effect::Remind, true),
        ..city.clone()
    };
    assert_eq!(looser.at_least_as_strict_as(&city), ["accepted_colours", "nat_max_age_hours", "on_fever"]);
    assert_eq!(
        EntryPolicy { nat_max_age_hours: None, ..city.clone() }.at_least_as_strict_as(&city),
        ["nat_max_age_hours"]
    );
}

/// A handful of policies that differ in every check, looser and stricter than the city default.
fn policy_variants() -> Vec<EntryPolicy> {
    let city = EntryPolicy::default();
    vec![
        city.clone(),
        EntryPolicy {
            accepted_colours: vec![Colour::Green, Colour::Yellow],
            nat_max_age_hours: None,
            on_fever: OnFailure::new(Effect::Remind, false),
            paper_codes_accepted: true,
            ..city.clone()
        },
        EntryPolicy {
            nat_max_age_hours: Some(24),
            nat_kinds: vec![NatKind::Pcr],
            min_vaccine_doses: 3,
            vaccine_exempt_under_age: 0,
            on_no_mask: OnFailure::new(Effect::Deny, true),
            proxy_accepted: false,
            ..city.clone()
        },
        EntryPolicy {
            nat_max_age_hours: Some(72),
            temperature_max_c: 37.0,
            face_match_min: 0.95,
            on_vaccine: OnFailure::new(Effect::Deny, false),
            paper_codes_accepted: false,
            ..city.clone()
        },
    ]
}

#[test]
fn the_strictest_of_two_policies_is_at_least_as_strict_as_each_and_no_stricter() {
    let variants = policy_variants();
    for a in &variants {
        assert_eq!(&a.strictest(a), a, "meeting a policy with itself changes nothing");
        for b in &variants {
            let meet = a.strictest(b);
            assert!(meet.at_least_as_strict_as(a).is_empty(), "{a:?} ∧ {b:?}");
            assert!(meet.at_least_as_strict_as(b).is_empty(), "{a:?} ∧ {b:?}");
            assert_eq!(meet, b.strictest(a), "the meet does not depend on the order");
            if a.at_least_as_strict_as(b).is_empty() {
                assert_eq!(&meet, a, "a policy already stricter than the other stays as it is");
            }
        }
    }
}

#[test]
fn a_city_tightened_after_a_venue_published_still_binds_the_venue() {
    let city_then = EntryPolicy::default();
    let venue = EntryPolicy { nat_max_age_hours: Some(24), ..city_then.clone() };
    assert!(venue.at_least_as_strict_as(&city_then).is_empty());
    // Overnight the city requires masks and a lower temperature; the venue's own policy is now looser.
    let city_now =
        EntryPolicy { temperature_max_c: 37.0, on_no_mask: OnFailure::new(Effect::Deny, true), ..city_then };
    let in_force = venue.strictest(&city_now);
    let s = status(Colour::Green, Some(6), 1, false);
    let subject = Subject { status: &s, age: Some(30) };
    let d = decide(&in_force, subject, readings(37.1, false), Channel::DeviceCode, now());
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.reasons().map(Reason::code).collect::<Vec<_>>(), ["fever", "no_mask"]);
    // The venue's own stricter NAT rule still holds: a 30-hour-old test is expired there.
    let old_nat = status(Colour::Green, Some(30), 1, false);
    let d = decide(
        &in_force,
        Subject { status: &old_nat, age: Some(30) },
        Readings::default(),
        Channel::DeviceCode,
        now(),
    );
    assert_eq!(d.reasons().map(Reason::code).collect::<Vec<_>>(), ["nat_expired"]);
}
