//! Administrative regions: GB/T 2260 six-digit codes (province, city, district), then street (9 digits),
//! community (12) and grid (15) below them, so that every code names its own ancestors by prefix.

use std::fmt;

/// The level of a region in the tree, from province down to the grid a grid worker (网格员) serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionLevel {
    Province,
    City,
    District,
    Street,
    Community,
    Grid,
}

impl RegionLevel {
    pub fn code(self) -> &'static str {
        match self {
            RegionLevel::Province => "province",
            RegionLevel::City => "city",
            RegionLevel::District => "district",
            RegionLevel::Street => "street",
            RegionLevel::Community => "community",
            RegionLevel::Grid => "grid",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            RegionLevel::Province => "省",
            RegionLevel::City => "市",
            RegionLevel::District => "区县",
            RegionLevel::Street => "街道/镇",
            RegionLevel::Community => "社区/村",
            RegionLevel::Grid => "网格",
        }
    }

    /// How many escalations this level lies below the district: grid 3, community 2, street 1, the
    /// district and above 0. An alert is heard first by those responsible for the region it was raised in
    /// and, each time nobody acknowledges it in time, one level up (grid → community → street → district):
    /// after `n` escalations by the level whose rank is the raising region's rank minus `n`. Districts,
    /// cities and provinces hear it together, last. The live streams and region webhooks both follow it.
    pub fn escalation_rank(self) -> u8 {
        match self {
            RegionLevel::Grid => 3,
            RegionLevel::Community => 2,
            RegionLevel::Street => 1,
            RegionLevel::District | RegionLevel::City | RegionLevel::Province => 0,
        }
    }

    /// Whether those responsible at this level hear an alert raised in a region of level `raised` that has
    /// been escalated `escalations` times.
    pub fn hears_alert(self, raised: RegionLevel, escalations: u8) -> bool {
        self.escalation_rank() == raised.escalation_rank().saturating_sub(escalations)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("区划代码应为6、9、12或15位数字 / region code must be 6, 9, 12 or 15 digits")]
    Format,
    #[error("区划代码省级部分无效 / region code has no valid province part (11–82)")]
    Province,
    #[error("区划代码下级部分不能为全零 / a street, community or grid part must not be all zeros")]
    ZeroPart,
}

/// A validated region code. Codes below the district extend their parent's code by three digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(input: &str) -> Result<Self, RegionCodeError> {
        let s = input.trim();
        if !matches!(s.len(), 6 | 9 | 12 | 15) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RegionCodeError::Format);
        }
        let province: u32 = s[..2].parse().map_err(|_| RegionCodeError::Format)?;
        if !(11..=82).contains(&province) {
            return Err(RegionCodeError::Province);
        }
        if s.len() > 6 && s.as_bytes()[6..].chunks(3).any(|part| part == b"000") {
            return Err(RegionCodeError::ZeroPart);
        }
        if s.len() > 6 && (&s[2..6] == "0000" || &s[4..6] == "00") {
            // Streets hang below a district, never directly below a city or province.
            return Err(RegionCodeError::ZeroPart);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> RegionLevel {
        match self.0.len() {
            6 if &self.0[2..] == "0000" => RegionLevel::Province,
            6 if &self.0[4..] == "00" => RegionLevel::City,
            6 => RegionLevel::District,
            9 => RegionLevel::Street,
            12 => RegionLevel::Community,
            _ => RegionLevel::Grid,
        }
    }

    /// The community a home in this region belongs to: a grid's community, or the region itself when it
    /// is a community or lies above one (a home known only by its street is reported to the street).
    pub fn community(&self) -> RegionCode {
        match self.level() {
            RegionLevel::Grid => self.parent().unwrap_or_else(|| self.clone()),
            _ => self.clone(),
        }
    }

    /// The region that hears an alert raised here once it has been escalated `escalations` times
    /// (`RegionLevel::hears_alert`): this one, then one level up per escalation, never above the district.
    pub fn alert_audience(&self, escalations: u8) -> RegionCode {
        let mut at = self.clone();
        for _ in 0..escalations.min(self.level().escalation_rank()) {
            match at.parent() {
                Some(up) => at = up,
                None => break,
            }
        }
        at
    }

    /// The code of the region directly above, or `None` for a province.
    pub fn parent(&self) -> Option<RegionCode> {
        let parent = match self.level() {
            RegionLevel::Province => return None,
            RegionLevel::City => format!("{}0000", &self.0[..2]),
            RegionLevel::District => format!("{}00", &self.0[..4]),
            _ => self.0[..self.0.len() - 3].to_owned(),
        };
        Some(RegionCode(parent))
    }

    /// The code and all its ancestors, from the province down to itself.
    pub fn lineage(&self) -> Vec<RegionCode> {
        let mut out = vec![self.clone()];
        while let Some(p) = out.last().and_then(RegionCode::parent) {
            out.push(p);
        }
        out.reverse();
        out
    }

    /// The prefix every code in this region's subtree starts with (`32` for Jiangsu, `3205` for Suzhou).
    pub fn subtree_prefix(&self) -> &str {
        match self.level() {
            RegionLevel::Province => &self.0[..2],
            RegionLevel::City => &self.0[..4],
            _ => &self.0,
        }
    }

    /// A SQL `LIKE` pattern matching every code in this region's subtree (`3205%`); codes are digits, so
    /// nothing in it needs escaping.
    pub fn subtree_like(&self) -> String {
        format!("{}%", self.subtree_prefix())
    }

    /// Whether `other` is this region or lies below it.
    pub fn contains(&self, other: &RegionCode) -> bool {
        other.0.starts_with(self.subtree_prefix()) && other.level() >= self.level()
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({})", self.0)
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn levels_and_parents() {
        assert_eq!(rc("320000").level(), RegionLevel::Province);
        assert_eq!(rc("320500").level(), RegionLevel::City);
        assert_eq!(rc("320508").level(), RegionLevel::District);
        assert_eq!(rc("320508001").level(), RegionLevel::Street);
        assert_eq!(rc("320508001002").level(), RegionLevel::Community);
        assert_eq!(rc("320508001002003").level(), RegionLevel::Grid);
        let lineage: Vec<String> = rc("320508001002003").lineage().iter().map(|c| c.to_string()).collect();
        assert_eq!(lineage, ["320000", "320500", "320508", "320508001", "320508001002", "320508001002003"]);
    }

    #[test]
    fn alerts_climb_from_the_raising_region_to_the_district() {
        use RegionLevel::*;
        let heard = |raised: RegionLevel, escalations: u8| -> Vec<RegionLevel> {
            [Grid, Community, Street, District, City]
                .into_iter()
                .filter(|l| l.hears_alert(raised, escalations))
                .collect()
        };
        assert_eq!(heard(Grid, 0), [Grid]);
        assert_eq!(heard(Grid, 1), [Community]);
        assert_eq!(heard(Grid, 2), [Street]);
        assert_eq!(heard(Grid, 3), [District, City]);
        assert_eq!(heard(Community, 0), [Community], "a venue registered at its community: no grid to ask");
        assert_eq!(heard(Community, 2), [District, City]);
        assert_eq!(heard(District, 0), [District, City]);
        let (grid, community) = (rc("320508001001001"), rc("320508001001"));
        assert_eq!((grid.community(), community.community()), (community.clone(), community));
        assert_eq!(rc("320508001").community(), rc("320508001"));
        let audience: Vec<RegionCode> = (0..5).map(|n| grid.alert_audience(n)).collect();
        let chain = ["320508001001001", "320508001001", "320508001", "320508", "320508"].map(rc);
        assert_eq!(audience, chain, "up one level per escalation, never above the district");
        assert_eq!(rc("320508").alert_audience(2), rc("320508"));
    }

    #[test]
    fn subtree_containment() {
        assert!(rc("320000").contains(&rc("320508001")));
        assert!(rc("320500").contains(&rc("320500")));
        assert!(rc("320508").contains(&rc("320508001002")));
        assert!(!rc("320508").contains(&rc("320506001")));
        assert!(!rc("320508001002").contains(&rc("320508001003004")));
        assert!(!rc("320508001").contains(&rc("320508")));
        assert!(!rc("320500").contains(&rc("320000")));
        assert_eq!(rc("320000").subtree_like(), "32%");
        assert_eq!(rc("320500").subtree_like(), "3205%");
        assert_eq!(rc("320508001").subtree_like(), "320508001%");
    }

    #[test]
    fn refuses_malformed_codes() {
        assert_eq!(RegionCode::parse("3205"), Err(RegionCodeError::Format));
        assert_eq!(RegionCode::parse("32050a"), Err(RegionCodeError::Format));
        assert_eq!(RegionCode::parse("990000"), Err(RegionCodeError::Province));
        assert_eq!(RegionCode::parse("320508000"), Err(RegionCodeError::ZeroPart));
        assert_eq!(RegionCode::parse("320500001"), Err(RegionCodeError::ZeroPart));
    }
}
