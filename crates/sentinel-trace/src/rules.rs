//! Trace rule sets (DESIGN.md §6): named, versioned data with their public source. Presets follow the
//! Corona-Warn-App's presence tracing and China's 2022 prevention and control plan (9th edition).

use sentinel_core::VenueCategory;
use sentinel_core::health::Colour;

/// The longest default stay a rule set may give an entry-only scan, in minutes (a day).
pub const MAX_DEFAULT_STAY_MINUTES: u16 = 1440;

/// What a tier of contact becomes: its code colour and for how many days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierRule {
    pub colour: Colour,
    pub expiry_days: u16,
}

/// A trace rule set. Overlap and stay figures are whole minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// Stable name, e.g. `china-2022`.
    pub name: String,
    pub version: u32,
    pub title_zh: String,
    pub title_en: String,
    /// The public document the figures come from.
    pub source: String,
    /// Days before onset (or sampling, for an asymptomatic case) from which the case's visits count.
    pub lookback_days: u16,
    /// Minimum time together at a venue to be a contact; 0 means any overlap at all.
    pub min_overlap_minutes: u16,
    /// Per-category minimum overlap, overriding `min_overlap_minutes`.
    pub min_overlap_by_category: Vec<(VenueCategory, u16)>,
    /// The case's (or close contact's) stay is extended by this much after they leave (aerosols linger).
    pub buffer_after_minutes: u16,
    /// Stay given to an entry-only scan, overriding the category's own default; always cut at the person's
    /// next check-in.
    pub default_stay_by_category: Vec<(VenueCategory, u16)>,
    /// 1: close contacts only; 2: also secondary contacts (contacts of close contacts from their first
    /// exposure until they are isolated).
    pub hops: u8,
    /// Same venue, same local day as a case, without the overlap of a close contact (时空伴随).
    pub companions: bool,
    pub close: TierRule,
    pub secondary: TierRule,
    pub companion: TierRule,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("hops must be 1 or 2, not {0}")]
    Hops(u8),
    #[error("lookback must be 1–30 days, not {0}")]
    Lookback(u16),
    #[error("the default stay of {category} must be 1–{max} minutes, not {minutes}", max = MAX_DEFAULT_STAY_MINUTES)]
    DefaultStay { category: &'static str, minutes: u16 },
    #[error("minimum overlap must be at most 1440 minutes, not {0}")]
    Overlap(u16),
    #[error("the buffer after leaving must be at most 720 minutes, not {0}")]
    Buffer(u16),
    #[error("a tier's expiry must be 1–60 days, not {0}")]
    Expiry(u16),
}

impl RuleSet {
    /// Corona-Warn-App-like presence tracing: everyone checked in with the case for at least 10 minutes, the
    /// case's stay extended by 30 minutes, over the 14 days a check-in is kept; no second hop.
    pub fn cwa_like() -> Self {
        RuleSet {
            name: "cwa-like".into(),
            version: 1,
            title_zh: "类Corona-Warn-App场所签到追踪".into(),
            title_en: "Corona-Warn-App-like presence tracing".into(),
            source:
                "Corona-Warn-App documentation, event registration / presence tracing (cwa-documentation, \
                     2021): check-ins are kept 14 days; guests overlapping a positive check-in are warned; \
                     the figures here (10 min, +30 min) are this preset's choice"
                    .into(),
            lookback_days: 14,
            min_overlap_minutes: 10,
            min_overlap_by_category: Vec::new(),
            buffer_after_minutes: 30,
            default_stay_by_category: Vec::new(),
            hops: 1,
            companions: false,
            close: TierRule { colour: Colour::Red, expiry_days: 14 },
            secondary: TierRule { colour: Colour::Yellow, expiry_days: 7 },
            companion: TierRule { colour: Colour::Yellow, expiry_days: 3 },
        }
    }

    /// China 2022-like: close contacts from 4 days before onset or sampling with any overlap (small shops,
    /// buses) or 15 minutes (large spaces), the case's stay extended by 30 minutes; secondary contacts from
    /// the close contact's first exposure until isolation; same-venue same-day companions.
    pub fn china_2022() -> Self {
        use VenueCategory::*;
        RuleSet {
            name: "china-2022".into(),
            version: 1,
            title_zh: "2022年中国防控方案（第九版）式追踪".into(),
            title_en: "China 2022 plan (9th edition)-like tracing".into(),
            source: "国务院联防联控机制综合组《新型冠状病毒肺炎防控方案（第九版）》(2022-06-27): 密切接触者追溯至\
                     病例发病前4天（无症状感染者为采样前4天）; 密接的密接自与密接首次接触至密接被隔离; 密接7天集中\
                     隔离+3天居家健康监测, 次密接7天居家隔离. Overlap minutes per category are this preset's choice"
                .into(),
            lookback_days: 4,
            min_overlap_minutes: 0,
            min_overlap_by_category: vec![(CommercialComplex, 15), (ScenicSpot, 15), (Office, 15), (School, 15)],
            buffer_after_minutes: 30,
            default_stay_by_category: Vec::new(),
            hops: 2,
            companions: true,
            close: TierRule { colour: Colour::Red, expiry_days: 10 },
            secondary: TierRule { colour: Colour::Yellow, expiry_days: 7 },
            companion: TierRule { colour: Colour::Yellow, expiry_days: 3 },
        }
    }

    /// What a tier of contact becomes under this rule set.
    pub fn tier(&self, tier: crate::Tier) -> TierRule {
        match tier {
            crate::Tier::Close => self.close,
            crate::Tier::Secondary => self.secondary,
            crate::Tier::Companion => self.companion,
        }
    }

    /// Every preset, by name.
    pub fn presets() -> Vec<RuleSet> {
        vec![Self::china_2022(), Self::cwa_like()]
    }

    pub fn preset(name: &str) -> Option<RuleSet> {
        Self::presets().into_iter().find(|r| r.name == name)
    }

    pub fn validate(&self) -> Result<(), RuleError> {
        if !(1..=2).contains(&self.hops) {
            return Err(RuleError::Hops(self.hops));
        }
        if !(1..=30).contains(&self.lookback_days) {
            return Err(RuleError::Lookback(self.lookback_days));
        }
        for &(category, minutes) in &self.default_stay_by_category {
            if !(1..=MAX_DEFAULT_STAY_MINUTES).contains(&minutes) {
                return Err(RuleError::DefaultStay { category: category.code(), minutes });
            }
        }
        let overlaps = self.min_overlap_by_category.iter().map(|&(_, m)| m);
        if let Some(m) = std::iter::once(self.min_overlap_minutes).chain(overlaps).find(|&m| m > 1440) {
            return Err(RuleError::Overlap(m));
        }
        if self.buffer_after_minutes > 720 {
            return Err(RuleError::Buffer(self.buffer_after_minutes));
        }
        for tier in [self.close, self.secondary, self.companion] {
            if !(1..=60).contains(&tier.expiry_days) {
                return Err(RuleError::Expiry(tier.expiry_days));
            }
        }
        Ok(())
    }

    /// Default stay of an entry-only scan at a venue of `category`, in minutes.
    pub fn default_stay_minutes(&self, category: VenueCategory) -> u16 {
        self.default_stay_by_category
            .iter()
            .find(|(c, _)| *c == category)
            .map_or_else(|| category.default_stay_minutes().min(MAX_DEFAULT_STAY_MINUTES), |&(_, m)| m)
    }

    /// Minimum overlap at a venue of `category`, in minutes (0: any overlap).
    pub fn min_overlap_minutes(&self, category: VenueCategory) -> u16 {
        self.min_overlap_by_category
            .iter()
            .find(|(c, _)| *c == category)
            .map_or(self.min_overlap_minutes, |&(_, m)| m)
    }
}

const CATEGORIES: usize = VenueCategory::ALL.len();

/// A rule set's figures per category, looked up by the category's position in `VenueCategory::ALL`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompiledRules {
    pub default_stay_minutes: [u16; CATEGORIES],
    /// At least 1: touching intervals are not together.
    pub min_overlap_secs: [i64; CATEGORIES],
    pub buffer_secs: i64,
    pub lookback_secs: i64,
    /// Seconds east of UTC of the local day (the companion rule).
    pub utc_offset: i64,
}

impl CompiledRules {
    pub fn new(rules: &RuleSet) -> Self {
        CompiledRules {
            default_stay_minutes: std::array::from_fn(|k| rules.default_stay_minutes(VenueCategory::ALL[k])),
            min_overlap_secs: std::array::from_fn(|k| {
                (i64::from(rules.min_overlap_minutes(VenueCategory::ALL[k])) * 60).max(1)
            }),
            buffer_secs: i64::from(rules.buffer_after_minutes) * 60,
            lookback_secs: i64::from(rules.lookback_days) * 86_400,
            utc_offset: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_found_by_name() {
        for preset in RuleSet::presets() {
            assert_eq!(preset.validate(), Ok(()), "{}", preset.name);
            assert_eq!(RuleSet::preset(&preset.name).as_ref(), Some(&preset));
            assert!(!preset.source.is_empty() && !preset.title_zh.is_empty());
        }
        assert!(RuleSet::preset("none").is_none());
    }

    #[test]
    fn category_overrides_win_and_bad_figures_are_refused() {
        let china = RuleSet::china_2022();
        assert_eq!(china.min_overlap_minutes(VenueCategory::CommercialComplex), 15);
        assert_eq!(china.min_overlap_minutes(VenueCategory::Bus), 0);
        assert_eq!(china.default_stay_minutes(VenueCategory::WetMarket), 30);
        let odd = RuleSet { default_stay_by_category: vec![(VenueCategory::Bus, 2000)], ..china.clone() };
        assert_eq!(odd.validate(), Err(RuleError::DefaultStay { category: "bus", minutes: 2000 }));
        assert_eq!(RuleSet { hops: 3, ..china.clone() }.validate(), Err(RuleError::Hops(3)));
        assert_eq!(RuleSet { lookback_days: 0, ..china }.validate(), Err(RuleError::Lookback(0)));
    }
}
