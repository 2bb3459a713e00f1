//! The health registry's rules: code colours and how assignments combine, NAT results, vaccinations,
//! 14-day itineraries against risk areas, and the live status the gate decides on. Pure: `now` and the
//! city's offset are parameters.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};

use crate::RegionCode;

/// Health-code colour. The order is strength: red > yellow > green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    pub const ALL: [Colour; 3] = [Colour::Green, Colour::Yellow, Colour::Red];

    pub fn code(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Colour::Green => "绿码",
            Colour::Yellow => "黄码",
            Colour::Red => "红码",
        }
    }

    pub fn from_code(s: &str) -> Option<Colour> {
        Colour::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// Who set a colour: the legal basis differs, and so does who may lift it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignmentSource {
    /// The health authority's feed.
    Authority,
    /// A tracing case (the case id is the reason).
    Tracing,
    /// Set by hand by authorised staff.
    Manual,
}

impl AssignmentSource {
    pub const ALL: [AssignmentSource; 3] =
        [AssignmentSource::Authority, AssignmentSource::Tracing, AssignmentSource::Manual];

    pub fn code(self) -> &'static str {
        match self {
            AssignmentSource::Authority => "authority",
            AssignmentSource::Tracing => "tracing",
            AssignmentSource::Manual => "manual",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// One code assignment (赋码/转码): a colour with its reason, source and period.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub id: i64,
    pub colour: Colour,
    pub reason: String,
    pub source: AssignmentSource,
    pub set_by: String,
    pub valid_from: DateTime<Utc>,
    /// `None`: until lifted.
    pub valid_until: Option<DateTime<Utc>>,
    /// Lifted early (an appeal upheld, an authority correction).
    pub lifted_at: Option<DateTime<Utc>>,
}

impl Assignment {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now
            && self.valid_until.is_none_or(|u| now < u)
            && self.lifted_at.is_none_or(|l| now < l)
    }
}

/// The strongest active assignment, if any; without one a person is green. When it expires the person
/// returns to the strongest colour still active beneath it.
pub fn governing_assignment(assignments: &[Assignment], now: DateTime<Utc>) -> Option<&Assignment> {
    // Among equal colours the most recent governs: its reason and expiry are the ones to show.
    assignments.iter().filter(|a| a.is_active(now)).max_by_key(|a| (a.colour, a.valid_from, a.id))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatOutcome {
    Negative,
    Positive,
}

impl NatOutcome {
    pub fn code(self) -> &'static str {
        match self {
            NatOutcome::Negative => "negative",
            NatOutcome::Positive => "positive",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "negative" | "阴性" => Some(NatOutcome::Negative),
            "positive" | "阳性" => Some(NatOutcome::Positive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NatKind {
    Pcr,
    Antigen,
}

impl NatKind {
    pub fn code(self) -> &'static str {
        match self {
            NatKind::Pcr => "pcr",
            NatKind::Antigen => "antigen",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "pcr" | "核酸" => Some(NatKind::Pcr),
            "antigen" | "抗原" => Some(NatKind::Antigen),
            _ => None,
        }
    }
}

/// A nucleic-acid (or antigen) test result.
#[derive(Debug, Clone, PartialEq)]
pub struct NatResult {
    pub sampled_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
    pub outcome: NatOutcome,
    pub kind: NatKind,
    pub lab: Option<String>,
}

/// The most recent sampled result already reported at `now`.
pub fn latest_nat(results: &[NatResult], now: DateTime<Utc>) -> Option<&NatResult> {
    results.iter().filter(|r| r.reported_at <= now).max_by_key(|r| (r.sampled_at, r.reported_at))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Vaccination {
    pub dose: u8,
    pub date: NaiveDate,
    pub product: String,
    pub manufacturer: String,
}

/// Doses received by `today` (the highest dose number recorded, so a re-sent record counts once).
pub fn vaccine_doses(vaccinations: &[Vaccination], today: NaiveDate) -> u8 {
    vaccinations.iter().filter(|v| v.date <= today).map(|v| v.dose).max().unwrap_or(0)
}

/// Why a person may not be vaccinated, as a medical certificate states it (no diagnosis is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExemptionReason {
    /// 接种禁忌症: a contraindication (e.g. an earlier severe reaction, a disease of the immune system).
    Contraindication,
    /// 暂缓接种: postponed for a passing condition (acute illness, pregnancy, treatment).
    Postponed,
}

impl ExemptionReason {
    pub const ALL: [ExemptionReason; 2] = [ExemptionReason::Contraindication, ExemptionReason::Postponed];

    pub fn code(self) -> &'static str {
        match self {
            ExemptionReason::Contraindication => "contraindication",
            ExemptionReason::Postponed => "postponed",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// A medical exemption from vaccination on record (医学原因暂缓/禁忌接种证明), valid on local dates, both inclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct VaccineExemption {
    pub reason: ExemptionReason,
    /// The hospital or clinic that certified it.
    pub issued_by: String,
    pub from: NaiveDate,
    /// `None`: permanent (a contraindication usually is).
    pub until: Option<NaiveDate>,
}

impl VaccineExemption {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.from <= day && self.until.is_none_or(|u| day <= u)
    }
}

/// A stay in a region on local dates, both inclusive.
#[derive(Debug, Clone, PartialEq)]
pub struct ItineraryStop {
    pub region: RegionCode,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RiskLevel {
    Medium,
    High,
}

impl RiskLevel {
    pub fn code(self) -> &'static str {
        match self {
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            RiskLevel::Medium => "中风险",
            RiskLevel::High => "高风险",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        match s {
            "medium" | "中" | "中风险" => Some(RiskLevel::Medium),
            "high" | "高" | "高风险" => Some(RiskLevel::High),
            _ => None,
        }
    }
}

/// A published medium- or high-risk area (中高风险地区).
#[derive(Debug, Clone, PartialEq)]
pub struct RiskArea {
    pub id: i64,
    pub region: RegionCode,
    pub name: String,
    pub level: RiskLevel,
    pub effective_from: DateTime<Utc>,
    pub effective_to: Option<DateTime<Utc>>,
}

/// The itinerary window: today and the 13 days before it.
pub const ITINERARY_DAYS: i64 = 14;

fn local_date(t: DateTime<Utc>, tz: FixedOffset) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// Whether any stop of the last 14 days lies in (or contains) a region that is a risk area now and was
/// one on a day of that stop (行程卡带星).
pub fn itinerary_risk(
    stops: &[ItineraryStop],
    areas: &[RiskArea],
    now: DateTime<Utc>,
    tz: FixedOffset,
) -> bool {
    let today = local_date(now, tz);
    let window_start = today - Duration::days(ITINERARY_DAYS - 1);
    stops.iter().any(|stop| {
        let from = stop.from.max(window_start);
        let to = stop.to.min(today);
        from <= to
            && areas.iter().any(|area| {
                let overlaps_region =
                    area.region.contains(&stop.region) || stop.region.contains(&area.region);
                let area_from = local_date(area.effective_from, tz);
                let area_to = area.effective_to.map(|t| local_date(t, tz)).unwrap_or(NaiveDate::MAX);
                // Only areas still in force count (动态调整: lifting an area lifts its stars), and the stay must
                // overlap the area's period.
                let in_force = area.effective_from <= now && area.effective_to.is_none_or(|end| now < end);
                overlaps_region && in_force && area_from <= to && from <= area_to
            })
    })
}

/// A person's health records, as the registry holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HealthRecord {
    pub assignments: Vec<Assignment>,
    pub nat_results: Vec<NatResult>,
    pub vaccinations: Vec<Vaccination>,
    pub vaccine_exemptions: Vec<VaccineExemption>,
    pub itinerary: Vec<ItineraryStop>,
}

/// What the gate needs to know about a person now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    pub colour: Colour,
    /// The governing assignment, if the colour is not the default green.
    pub assignment: Option<Assignment>,
    pub last_nat: Option<NatResult>,
    pub vaccine_doses: u8,
    /// A medical exemption from vaccination covers today.
    pub vaccine_exempt: bool,
    pub itinerary_risk: bool,
}

/// The start (UTC) of the local day after `now`.
fn next_local_midnight(now: DateTime<Utc>, tz: FixedOffset) -> DateTime<Utc> {
    let tomorrow = local_date(now, tz) + Duration::days(1);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
    (midnight - Duration::seconds(i64::from(tz.local_minus_utc()))).and_utc()
}

impl HealthRecord {
    /// The earliest moment after `now` at which [`HealthRecord::status`] can give another answer with
    /// these records and areas: an assignment starting, ending or lifted, a result being reported, a
    /// vaccination date arriving, an exemption starting or ending, a risk area's period changing, or the 14-day window moving at midnight.
    /// A cache may serve the status computed at `now` until then.
    pub fn status_valid_until(
        &self,
        risk_areas: &[RiskArea],
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> DateTime<Utc> {
        let later = |t: DateTime<Utc>| (t > now).then_some(t);
        let assignments = self
            .assignments
            .iter()
            .flat_map(|a| [later(a.valid_from), a.valid_until.and_then(later), a.lifted_at.and_then(later)]);
        let reports = self.nat_results.iter().map(|n| later(n.reported_at));
        let today = local_date(now, tz);
        let midnight = next_local_midnight(now, tz);
        let doses = self.vaccinations.iter().map(|v| (v.date > today).then_some(midnight));
        // An exemption starts or ends at a local midnight; only the next one can change the answer.
        let exemptions = (!self.vaccine_exemptions.is_empty()).then_some(midnight);
        let window = (!self.itinerary.is_empty()).then_some(midnight);
        let areas = risk_areas
            .iter()
            .filter(|_| !self.itinerary.is_empty())
            .flat_map(|a| [later(a.effective_from), a.effective_to.and_then(later)]);
        assignments
            .chain(reports)
            .chain(doses)
            .chain([window, exemptions])
            .chain(areas)
            .flatten()
            .min()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub fn status(&self, risk_areas: &[RiskArea], now: DateTime<Utc>, tz: FixedOffset) -> LiveStatus {
        let governing = governing_assignment(&self.assignments, now);
        LiveStatus {
            colour: governing.map_or(Colour::Green, |a| a.colour),
            assignment: governing.cloned(),
            last_nat: latest_nat(&self.nat_results, now).cloned(),
            vaccine_doses: vaccine_doses(&self.vaccinations, local_date(now, tz)),
            vaccine_exempt: self.vaccine_exemptions.iter().any(|e| e.covers(local_date(now, tz))),
            itinerary_risk: itinerary_risk(&self.itinerary, risk_areas, now, tz),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 4, 29, h, 0, 0).unwrap()
    }

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn assignment(id: i64, colour: Colour, from: u32, until: Option<u32>) -> Assignment {
        Assignment {
            id,
            colour,
            reason: format!("r{id}"),
            source: AssignmentSource::Authority,
            set_by: "feed".into(),
            valid_from: t(from),
            valid_until: until.map(t),
            lifted_at: None,
        }
    }

    #[test]
    fn the_strongest_active_colour_wins_and_expiry_falls_back() {
        let a = [assignment(1, Colour::Yellow, 0, Some(20)), assignment(2, Colour::Red, 2, Some(10))];
        assert_eq!(governing_assignment(&a, t(1)).map(|a| a.id), Some(1));
        assert_eq!(governing_assignment(&a, t(5)).map(|a| a.id), Some(2), "red over yellow");
        assert_eq!(governing_assignment(&a, t(10)).map(|a| a.id), Some(1), "red expired: back to yellow");
        assert_eq!(governing_assignment(&a, t(20)), None, "all expired: green");
        let mut lifted = a.clone();
        lifted[1].lifted_at = Some(t(4));
        assert_eq!(
            governing_assignment(&lifted, t(5)).map(|a| a.id),
            Some(1),
            "a lifted red no longer counts"
        );
        let record = HealthRecord { assignments: a.to_vec(), ..Default::default() };
        assert_eq!(record.status(&[], t(5), cst()).colour, Colour::Red);
        assert_eq!(record.status(&[], t(21), cst()).colour, Colour::Green);
    }

    #[test]
    fn a_status_holds_until_its_next_change() {
        let a = [assignment(1, Colour::Red, 2, Some(10))];
        let r = |s: u32, rep: u32| NatResult {
            sampled_at: t(s),
            reported_at: t(rep),
            outcome: NatOutcome::Negative,
            kind: NatKind::Pcr,
            lab: None,
        };
        let record =
            HealthRecord { assignments: a.to_vec(), nat_results: vec![r(1, 7)], ..Default::default() };
        assert_eq!(record.status_valid_until(&[], t(1), cst()), t(2), "the red starts");
        assert_eq!(record.status_valid_until(&[], t(3), cst()), t(7), "the result is reported");
        assert_eq!(record.status_valid_until(&[], t(8), cst()), t(10), "the red ends");
        assert_eq!(
            record.status_valid_until(&[], t(11), cst()),
            DateTime::<Utc>::MAX_UTC,
            "nothing changes any more"
        );
        // Check the promise: the status is the same at every hour before the bound.
        for h in 0..23 {
            let until = record.status_valid_until(&[], t(h), cst());
            let next = (h + 1..24).map(t).take_while(|x| *x < until).last();
            if let Some(x) = next {
                assert_eq!(record.status(&[], t(h), cst()), record.status(&[], x, cst()), "hour {h}");
            }
        }
        let stop = ItineraryStop {
            region: RegionCode::parse("320508").unwrap(),
            from: NaiveDate::from_ymd_opt(2024, 4, 28).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 4, 28).unwrap(),
        };
        let travelled = HealthRecord { itinerary: vec![stop], ..Default::default() };
        // 2024-04-29 06:00 UTC is 14:00 in Suzhou: the window moves at 16:00 UTC.
        assert_eq!(travelled.status_valid_until(&[], t(6), cst()), t(16));
    }

    #[test]
    fn a_medical_exemption_covers_its_dates_and_its_end_is_a_change() {
        let day = |d| NaiveDate::from_ymd_opt(2024, 4, d).unwrap();
        let exemption = VaccineExemption {
            reason: ExemptionReason::Postponed,
            issued_by: "苏州市立医院".into(),
            from: day(20),
            until: Some(day(29)),
        };
        let record = HealthRecord { vaccine_exemptions: vec![exemption], ..Default::default() };
        // t(6) is 14:00 on the 29th in Suzhou; 16:00 UTC is midnight, the 30th.
        assert!(record.status(&[], t(6), cst()).vaccine_exempt);
        assert_eq!(record.status_valid_until(&[], t(6), cst()), t(16), "the exemption ends at midnight");
        assert!(!record.status(&[], t(16), cst()).vaccine_exempt);
        assert!(!record.status(&[], t(6) - chrono::Duration::days(10), cst()).vaccine_exempt, "not yet");
        let permanent = VaccineExemption {
            reason: ExemptionReason::Contraindication,
            until: None,
            ..record.vaccine_exemptions[0].clone()
        };
        assert!(permanent.covers(day(20) + chrono::Duration::days(3650)));
        assert_eq!(ExemptionReason::from_code("postponed"), Some(ExemptionReason::Postponed));
        assert_eq!(ExemptionReason::from_code("cured"), None);
    }

    #[test]
    fn the_latest_reported_nat_counts() {
        let r = |s: u32, rep: u32, o| NatResult {
            sampled_at: t(s),
            reported_at: t(rep),
            outcome: o,
            kind: NatKind::Pcr,
            lab: None,
        };
        let results = [r(1, 5, NatOutcome::Negative), r(3, 9, NatOutcome::Positive)];
        assert_eq!(
            latest_nat(&results, t(6)).map(|n| n.outcome),
            Some(NatOutcome::Negative),
            "not reported yet"
        );
        assert_eq!(latest_nat(&results, t(9)).map(|n| n.outcome), Some(NatOutcome::Positive));
        assert_eq!(latest_nat(&results, t(0)), None);
    }

    #[test]
    fn doses_count_once() {
        let v = |dose, d| Vaccination {
            dose,
            date: NaiveDate::from_ymd_opt(2021, 5, d).unwrap(),
            product: "x".into(),
            manufacturer: "y".into(),
        };
        let today = NaiveDate::from_ymd_opt(2021, 5, 20).unwrap();
        assert_eq!(vaccine_doses(&[v(1, 1), v(2, 10), v(2, 10), v(3, 25)], today), 2);
        assert_eq!(vaccine_doses(&[], today), 0);
    }

    #[test]
    fn itineraries_of_the_last_14_days_against_risk_areas() {
        let rc = |s: &str| RegionCode::parse(s).unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2024, m, day).unwrap();
        let area = RiskArea {
            id: 1,
            region: rc("310115"),
            name: "浦东新区".into(),
            level: RiskLevel::High,
            effective_from: Utc.with_ymd_and_hms(2024, 4, 10, 0, 0, 0).unwrap(),
            effective_to: None,
        };
        let now = t(6); // 2024-04-29 14:00 +08:00
        let areas = std::slice::from_ref(&area);
        let stop = |region: &str, from, to| ItineraryStop { region: rc(region), from, to };
        // Inside the area, during its period, within 14 days.
        assert!(itinerary_risk(&[stop("310115001", d(4, 18), d(4, 19))], areas, now, cst()));
        // Same area, but the stay ended before the window (16 April is 13 days back: still inside).
        assert!(itinerary_risk(&[stop("310115", d(4, 16), d(4, 16))], areas, now, cst()));
        assert!(!itinerary_risk(&[stop("310115", d(4, 12), d(4, 15))], areas, now, cst()));
        // Before the area's period began.
        let later_area =
            RiskArea { effective_from: Utc.with_ymd_and_hms(2024, 4, 25, 0, 0, 0).unwrap(), ..area.clone() };
        assert!(!itinerary_risk(
            &[stop("310115", d(4, 21), d(4, 22))],
            std::slice::from_ref(&later_area),
            now,
            cst()
        ));
        // An area lifted since: its stars go with it.
        let lifted = RiskArea {
            effective_to: Some(Utc.with_ymd_and_hms(2024, 4, 28, 0, 0, 0).unwrap()),
            ..area.clone()
        };
        assert!(!itinerary_risk(
            &[stop("310115", d(4, 18), d(4, 19))],
            std::slice::from_ref(&lifted),
            now,
            cst()
        ));
        // Elsewhere.
        assert!(!itinerary_risk(&[stop("320508", d(4, 18), d(4, 19))], areas, now, cst()));
        // A stay in the whole city containing the area counts.
        assert!(itinerary_risk(&[stop("310000", d(4, 18), d(4, 19))], areas, now, cst()));
    }
}
