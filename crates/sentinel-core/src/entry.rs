//! The entry check (六码联查): an entry policy as data and the one pure decision every channel calls —
//! device scans, the place-code page and manual registration. Every check is evaluated, none
//! short-circuits, so the alert says everything that was wrong.

use chrono::{DateTime, Duration, Utc};
use std::fmt;

use crate::health::{Colour, LiveStatus, NatKind, NatOutcome};

/// A body temperature in degrees Celsius, within what a thermometer at a gate can read.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Celsius(f32);

impl Celsius {
    pub const MIN: f32 = 30.0;
    pub const MAX: f32 = 45.0;

    pub fn new(value: f32) -> Result<Self, ReadingError> {
        if value.is_finite() && (Self::MIN..=Self::MAX).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ReadingError::Temperature(value))
        }
    }

    pub fn value(self) -> f32 {
        self.0
    }
}

/// A face-match score between the ID-card photo and the camera, 0–1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct FaceMatch(f32);

impl FaceMatch {
    pub fn new(value: f32) -> Result<Self, ReadingError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(ReadingError::FaceMatch(value))
        }
    }

    pub fn value(self) -> f32 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    #[error("体温读数超出范围（30–45 °C）/ temperature {0} °C is outside 30–45 °C")]
    Temperature(f32),
    #[error("人脸比对分数应为0–1 / face-match score {0} is outside 0–1")]
    FaceMatch(f32),
}

/// What the device measured at the gate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Readings {
    pub temperature: Option<Celsius>,
    /// `Some(false)`: the camera saw no mask.
    pub mask: Option<bool>,
    /// Only for ID-card reads.
    pub face_match: Option<FaceMatch>,
}

/// How a person was checked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A device scanned the health code on a phone.
    DeviceCode,
    /// A device read the ID card (人证核验).
    DeviceIdCard,
    /// The resident scanned the venue's place code.
    SelfScan,
    /// A device scanned a 24-hour paper code.
    PaperCode,
    /// A guardian checked a dependant in (他人代登记).
    Proxy,
    /// Staff registered the person by hand (手工登记).
    Manual,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::DeviceCode,
        Channel::DeviceIdCard,
        Channel::SelfScan,
        Channel::PaperCode,
        Channel::Proxy,
        Channel::Manual,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Channel::DeviceCode => "device_code",
            Channel::DeviceIdCard => "device_id_card",
            Channel::SelfScan => "self_scan",
            Channel::PaperCode => "paper_code",
            Channel::Proxy => "proxy",
            Channel::Manual => "manual",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// What failing a check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// Recorded only.
    Ignore,
    /// Admitted with a spoken reminder.
    Remind,
    /// Refused at the gate.
    Deny,
}

impl Effect {
    pub fn code(self) -> &'static str {
        match self {
            Effect::Ignore => "ignore",
            Effect::Remind => "remind",
            Effect::Deny => "deny",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "ignore" => Some(Effect::Ignore),
            "remind" => Some(Effect::Remind),
            "deny" => Some(Effect::Deny),
            _ => None,
        }
    }
}

/// A check's failure: its effect at the gate, and whether the grid worker is alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OnFailure {
    pub effect: Effect,
    pub alert: bool,
}

impl OnFailure {
    pub const fn new(effect: Effect, alert: bool) -> Self {
        Self { effect, alert }
    }

    /// At least as strict as `other`: no milder effect, and alerting if `other` alerts.
    pub fn at_least(&self, other: &OnFailure) -> bool {
        self.effect >= other.effect && (self.alert || !other.alert)
    }

    /// The stricter of both: the harsher effect, alerting if either alerts.
    pub fn strictest(self, other: OnFailure) -> OnFailure {
        OnFailure { effect: self.effect.max(other.effect), alert: self.alert || other.alert }
    }
}

/// An entry policy (DESIGN.md §6). The city default follows the Suzhou notice and the vendor description.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPolicy {
    /// Colours let through; the others fail the colour check.
    pub accepted_colours: Vec<Colour>,
    pub on_colour: OnFailure,
    /// `None`: no NAT required; else the latest accepted result must be sampled within this many hours.
    pub nat_max_age_hours: Option<u32>,
    pub nat_kinds: Vec<NatKind>,
    pub on_nat: OnFailure,
    pub min_vaccine_doses: u8,
    /// Children under this age are exempt from the vaccination check.
    pub vaccine_exempt_under_age: u8,
    pub on_vaccine: OnFailure,
    pub on_risk_itinerary: OnFailure,
    /// Readings at or above this are a fever.
    pub temperature_max_c: f32,
    pub on_fever: OnFailure,
    pub on_no_mask: OnFailure,
    /// ID-card reads: the face must match at least this well.
    pub face_match_min: f32,
    pub on_face_mismatch: OnFailure,
    pub paper_codes_accepted: bool,
    pub proxy_accepted: bool,
}

impl Default for EntryPolicy {
    /// The Suzhou city default: green only; NAT within 48 h; below 37.3 °C; mask → spoken reminder; 14-day
    /// risk itinerary → deny and alert; paper codes and proxies accepted; vaccination not required, but an
    /// unvaccinated person is reminded and registered (未接种登记).
    fn default() -> Self {
        Self {
            accepted_colours: vec![Colour::Green],
            on_colour: OnFailure::new(Effect::Deny, true),
            nat_max_age_hours: Some(48),
            nat_kinds: vec![NatKind::Pcr, NatKind::Antigen],
            on_nat: OnFailure::new(Effect::Deny, true),
            min_vaccine_doses: 1,
            vaccine_exempt_under_age: 3,
            on_vaccine: OnFailure::new(Effect::Remind, true),
            on_risk_itinerary: OnFailure::new(Effect::Deny, true),
            temperature_max_c: 37.3,
            on_fever: OnFailure::new(Effect::Deny, true),
            on_no_mask: OnFailure::new(Effect::Remind, false),
            face_match_min: 0.80,
            on_face_mismatch: OnFailure::new(Effect::Deny, false),
            paper_codes_accepted: true,
            proxy_accepted: true,
        }
    }
}

impl EntryPolicy {
    /// Whether this policy is at least as strict as `base` in every check (a venue may only tighten).
    pub fn at_least_as_strict_as(&self, base: &EntryPolicy) -> Vec<&'static str> {
        let mut looser = Vec::new();
        if self.accepted_colours.iter().any(|c| !base.accepted_colours.contains(c)) {
            looser.push("accepted_colours");
        }
        let nat_looser = match (self.nat_max_age_hours, base.nat_max_age_hours) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => a > b,
            _ => false,
        };
        if nat_looser {
            looser.push("nat_max_age_hours");
        }
        if self.nat_kinds.iter().any(|k| !base.nat_kinds.contains(k)) {
            looser.push("nat_kinds");
        }
        if self.min_vaccine_doses < base.min_vaccine_doses
            || self.vaccine_exempt_under_age > base.vaccine_exempt_under_age
        {
            looser.push("min_vaccine_doses");
        }
        if self.temperature_max_c > base.temperature_max_c {
            looser.push("temperature_max_c");
        }
        if self.face_match_min < base.face_match_min {
            looser.push("face_match_min");
        }
        if self.paper_codes_accepted && !base.paper_codes_accepted {
            looser.push("paper_codes_accepted");
        }
        if self.proxy_accepted && !base.proxy_accepted {
            looser.push("proxy_accepted");
        }
        for (name, mine, theirs) in [
            ("on_colour", self.on_colour, base.on_colour),
            ("on_nat", self.on_nat, base.on_nat),
            ("on_vaccine", self.on_vaccine, base.on_vaccine),
            ("on_risk_itinerary", self.on_risk_itinerary, base.on_risk_itinerary),
            ("on_fever", self.on_fever, base.on_fever),
            ("on_no_mask", self.on_no_mask, base.on_no_mask),
            ("on_face_mismatch", self.on_face_mismatch, base.on_face_mismatch),
        ] {
            if !mine.at_least(&theirs) {
                looser.push(name);
            }
        }
        looser
    }
}

impl EntryPolicy {
    /// A policy at least as strict as both `self` and `other` in every check, and no stricter than it must be.
    ///
    /// A venue's policy was checked against the city's when it was published; when the city (or the venue's
    /// category) tightens later, the decision uses this meet so a venue never stays looser than the city.
    pub fn strictest(&self, other: &EntryPolicy) -> EntryPolicy {
        let nat_max_age_hours = match (self.nat_max_age_hours, other.nat_max_age_hours) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        EntryPolicy {
            accepted_colours: self
                .accepted_colours
                .iter()
                .copied()
                .filter(|c| other.accepted_colours.contains(c))
                .collect(),
            on_colour: self.on_colour.strictest(other.on_colour),
            nat_max_age_hours,
            nat_kinds: self.nat_kinds.iter().copied().filter(|k| other.nat_kinds.contains(k)).collect(),
            on_nat: self.on_nat.strictest(other.on_nat),
            min_vaccine_doses: self.min_vaccine_doses.max(other.min_vaccine_doses),
            vaccine_exempt_under_age: self.vaccine_exempt_under_age.min(other.vaccine_exempt_under_age),
            on_vaccine: self.on_vaccine.strictest(other.on_vaccine),
            on_risk_itinerary: self.on_risk_itinerary.strictest(other.on_risk_itinerary),
            temperature_max_c: self.temperature_max_c.min(other.temperature_max_c),
            on_fever: self.on_fever.strictest(other.on_fever),
            on_no_mask: self.on_no_mask.strictest(other.on_no_mask),
            face_match_min: self.face_match_min.max(other.face_match_min),
            on_face_mismatch: self.on_face_mismatch.strictest(other.on_face_mismatch),
            paper_codes_accepted: self.paper_codes_accepted && other.paper_codes_accepted,
            proxy_accepted: self.proxy_accepted && other.proxy_accepted,
        }
    }
}

/// Why a decision came out as it did. The codes are stable (API, alerts, devices).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    CodeRed,
    CodeYellow,
    NatPositive,
    NatExpired,
    NatMissing,
    RiskItinerary,
    Fever,
    NoMask,
    Unvaccinated,
    FaceMismatch,
    PaperNotAccepted,
    ProxyNotAccepted,
    /// The credential was refused before any check (its typed error code: `expired`, `revoked`, …).
    Credential(&'static str),
}

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Reason::CodeRed => "code_red",
            Reason::CodeYellow => "code_yellow",
            Reason::NatPositive => "nat_positive",
            Reason::NatExpired => "nat_expired",
            Reason::NatMissing => "nat_missing",
            Reason::RiskItinerary => "risk_itinerary",
            Reason::Fever => "fever",
            Reason::NoMask => "no_mask",
            Reason::Unvaccinated => "unvaccinated",
            Reason::FaceMismatch => "face_mismatch",
            Reason::PaperNotAccepted => "paper_not_accepted",
            Reason::ProxyNotAccepted => "proxy_not_accepted",
            Reason::Credential(code) => code,
        }
    }

    /// What the gate says (zh, en).
    pub fn prompt(&self) -> (&'static str, &'static str) {
        match self {
            Reason::CodeRed | Reason::CodeYellow => {
                ("健康码异常，禁止通行", "Health code abnormal: entry refused")
            }
            Reason::NatPositive => ("核酸检测结果异常，禁止通行", "Abnormal test result: entry refused"),
            Reason::NatExpired => {
                ("核酸检测已过期，请尽快检测", "Nucleic-acid test too old: please get tested")
            }
            Reason::NatMissing => ("无核酸检测记录", "No nucleic-acid test on record"),
            Reason::RiskItinerary => (
                "14天内有中高风险地区旅居史，禁止通行",
                "Risk-area travel in the last 14 days: entry refused",
            ),
            Reason::Fever => ("体温异常，请复测", "Temperature too high: please measure again"),
            Reason::NoMask => ("请佩戴口罩", "Please wear a mask"),
            Reason::Unvaccinated => {
                ("您尚未接种疫苗，请配合工作人员登记", "Not vaccinated: please register with the staff")
            }
            Reason::FaceMismatch => {
                ("人证不符，请重新核验", "Face does not match the ID card: please try again")
            }
            Reason::PaperNotAccepted => ("本场所不接受纸质码", "Paper codes are not accepted here"),
            Reason::ProxyNotAccepted => ("本场所不接受代登记", "Proxy check-in is not accepted here"),
            Reason::Credential(_) => {
                ("健康码无效，请重新出示", "Health code not valid: please show it again")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Pass,
    /// Admitted with a reminder.
    Remind,
    Deny,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Remind => "remind",
            Outcome::Deny => "deny",
        }
    }

    /// Whether the gate opens.
    pub fn admits(self) -> bool {
        self != Outcome::Deny
    }
}

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub reason: Reason,
    pub effect: Effect,
    pub alert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Every failed check, in a fixed order.
    pub findings: Vec<Finding>,
    pub prompt_zh: String,
    pub prompt_en: String,
    /// Staff should take the unvaccinated person's details (未接种登记).
    pub registration_prompt: bool,
}

impl Decision {
    pub fn reasons(&self) -> impl Iterator<Item = &Reason> {
        self.findings.iter().map(|f| &f.reason)
    }

    /// The findings the grid worker must hear about.
    pub fn alerts(&self) -> impl Iterator<Item = &Reason> {
        self.findings.iter().filter(|f| f.alert).map(|f| &f.reason)
    }

    fn from_findings(findings: Vec<Finding>) -> Self {
        let outcome = match findings.iter().map(|f| f.effect).max() {
            Some(Effect::Deny) => Outcome::Deny,
            Some(Effect::Remind) => Outcome::Remind,
            _ => Outcome::Pass,
        };
        // The gate speaks the most serious reason first; a reminder-only entry speaks every reminder.
        let spoken: Vec<(&str, &str)> = match outcome {
            Outcome::Deny => findings
                .iter()
                .filter(|f| f.effect == Effect::Deny)
                .take(1)
                .map(|f| f.reason.prompt())
                .collect(),
            Outcome::Remind => {
                findings.iter().filter(|f| f.effect == Effect::Remind).map(|f| f.reason.prompt()).collect()
            }
            Outcome::Pass => vec![("验证通过，请通行", "Verified: please enter")],
        };
        let registration_prompt = findings.iter().any(|f| f.reason == Reason::Unvaccinated);
        Decision {
            outcome,
            prompt_zh: spoken.iter().map(|(zh, _)| *zh).collect::<Vec<_>>().join("；"),
            prompt_en: spoken.iter().map(|(_, en)| *en).collect::<Vec<_>>().join("; "),
            findings,
            registration_prompt,
        }
    }

    /// A refusal before any check: the credential itself failed (expired, forged, revoked…).
    pub fn refused_credential(error_code: &'static str) -> Self {
        Self::from_findings(vec![Finding {
            reason: Reason::Credential(error_code),
            effect: Effect::Deny,
            alert: false,
        }])
    }
}

/// Who is at the gate, as far as the decision needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Subject<'a> {
    pub status: &'a LiveStatus,
    /// Age in whole years (from the ID number), for the vaccination exemption.
    pub age: Option<u32>,
}

/// The decision. Pure: the same inputs give the same answer, at any time `now`.
pub fn decide(
    policy: &EntryPolicy,
    subject: Subject<'_>,
    readings: Readings,
    channel: Channel,
    now: DateTime<Utc>,
) -> Decision {
    let mut findings = Vec::new();
    let mut fail = |reason: Reason, on: OnFailure| {
        if on.effect != Effect::Ignore || on.alert {
            findings.push(Finding { reason, effect: on.effect, alert: on.alert });
        }
    };
    let status = subject.status;
    if channel == Channel::PaperCode && !policy.paper_codes_accepted {
        fail(Reason::PaperNotAccepted, OnFailure::new(Effect::Deny, false));
    }
    if channel == Channel::Proxy && !policy.proxy_accepted {
        fail(Reason::ProxyNotAccepted, OnFailure::new(Effect::Deny, false));
    }
    if !policy.accepted_colours.contains(&status.colour) {
        let reason = match status.colour {
            Colour::Red => Reason::CodeRed,
            _ => Reason::CodeYellow,
        };
        fail(reason, policy.on_colour);
    }
    // A positive result of any kind counts; the accepted kinds only govern the age check.
    let nat = status.last_nat.as_ref().filter(|n| policy.nat_kinds.contains(&n.kind));
    if status.last_nat.as_ref().is_some_and(|n| n.outcome == NatOutcome::Positive) {
        // A positive result always stops the person and tells the grid worker, whatever the NAT age rule.
        fail(Reason::NatPositive, OnFailure::new(Effect::Deny, true));
    } else if let Some(max_hours) = policy.nat_max_age_hours {
        match nat {
            None => fail(Reason::NatMissing, policy.on_nat),
            Some(n) if now - n.sampled_at > Duration::hours(i64::from(max_hours)) => {
                fail(Reason::NatExpired, policy.on_nat)
            }
            Some(_) => {}
        }
    }
    if status.itinerary_risk {
        fail(Reason::RiskItinerary, policy.on_risk_itinerary);
    }
    if let Some(t) = readings.temperature
        && t.value() >= policy.temperature_max_c
    {
        fail(Reason::Fever, policy.on_fever);
    }
    if readings.mask == Some(false) {
        fail(Reason::NoMask, policy.on_no_mask);
    }
    let exempt_by_age = subject.age.is_some_and(|a| a < u32::from(policy.vaccine_exempt_under_age));
    if status.vaccine_doses < policy.min_vaccine_doses && !exempt_by_age && !status.vaccine_exempt {
        fail(Reason::Unvaccinated, policy.on_vaccine);
    }
    // An ID card is only as good as the face match: a read without a score proves nothing.
    if channel == Channel::DeviceIdCard
        && readings.face_match.is_none_or(|score| score.value() < policy.face_match_min)
    {
        fail(Reason::FaceMismatch, policy.on_face_mismatch);
    }
    Decision::from_findings(findings)
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests;
