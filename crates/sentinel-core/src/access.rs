//! Roles (DESIGN.md §1), what each may do, and the scope that bounds where it may do it.
//!
//! A request is allowed when the caller's role grants the permission *and* its scope covers the
//! object: a grid worker of one community cannot read the persons of another.

use crate::{RegionCode, VenueCategory, VenueId};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    CommandCentre,
    Supervisor,
    GridWorker,
    Investigator,
    VenueManager,
    VenueStaff,
    EnterpriseHr,
    Auditor,
}

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Regions, venue categories, venues and devices (no personal data).
    ReadRegistry,
    ManageRegions,
    ManageVenues,
    ManageDevices,
    /// Persons, masked.
    ReadPersons,
    WritePersons,
    /// Persons unmasked: needs a stated purpose and is audited.
    UnmaskPersons,
    ManageUsers,
    ReadAudit,
    /// Code assignments, NAT results, vaccinations, itineraries (authority feeds, investigators).
    WriteHealth,
    /// Issue health codes and paper codes for persons (and revoke paper codes).
    IssueCredentials,
    /// Publish and end risk areas; decide appeals.
    ManageRiskAreas,
    DecideAppeals,
    /// Rotate and retire signing keys.
    ManageKeys,
    /// Draft and publish entry policies.
    ManagePolicies,
    /// Visits (who entered where, when).
    ReadVisits,
    ReadAlerts,
    /// Acknowledge and resolve alerts.
    HandleAlerts,
    /// Register outbound alert channels.
    ManageWebhooks,
    /// Take an unvaccinated person's details at a venue (未接种登记).
    RegisterUnvaccinated,
    /// Open, trace, apply and close exposure cases (流调).
    TraceCases,
    /// Register a person's entry at a venue by hand or by their paper code (手工登记).
    RegisterEntries,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Admin,
        Role::CommandCentre,
        Role::Supervisor,
        Role::GridWorker,
        Role::Investigator,
        Role::VenueManager,
        Role::VenueStaff,
        Role::EnterpriseHr,
        Role::Auditor,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CommandCentre => "command_centre",
            Role::Supervisor => "supervisor",
            Role::GridWorker => "grid_worker",
            Role::Investigator => "investigator",
            Role::VenueManager => "venue_manager",
            Role::VenueStaff => "venue_staff",
            Role::EnterpriseHr => "enterprise_hr",
            Role::Auditor => "auditor",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Admin => "系统管理员",
            Role::CommandCentre => "指挥部",
            Role::Supervisor => "行业主管部门",
            Role::GridWorker => "社区网格员",
            Role::Investigator => "流调人员",
            Role::VenueManager => "场所责任人",
            Role::VenueStaff => "场所工作人员",
            Role::EnterpriseHr => "企业人事/前台",
            Role::Auditor => "审计员",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        use Role::*;
        match permission {
            ReadRegistry => true,
            ManageRegions => matches!(self, Admin | CommandCentre),
            ManageVenues => matches!(self, Admin | CommandCentre | Supervisor | VenueManager),
            ManageDevices => matches!(self, Admin | VenueManager),
            ReadPersons => matches!(self, Admin | CommandCentre | GridWorker | Investigator),
            WritePersons | UnmaskPersons => matches!(self, Admin | GridWorker | Investigator),
            ManageUsers | ManageKeys => matches!(self, Admin),
            ReadAudit => matches!(self, Admin | Auditor),
            WriteHealth => matches!(self, Admin | CommandCentre | Investigator),
            IssueCredentials => matches!(self, Admin | GridWorker),
            ManageRiskAreas | DecideAppeals => matches!(self, Admin | CommandCentre),
            ManagePolicies => matches!(self, Admin | CommandCentre | VenueManager),
            ReadVisits => {
                matches!(self, Admin | CommandCentre | Supervisor | GridWorker | Investigator | VenueManager)
            }
            ReadAlerts => matches!(self, Admin | CommandCentre | Supervisor | GridWorker | VenueManager),
            HandleAlerts => matches!(self, Admin | GridWorker),
            ManageWebhooks => matches!(self, Admin | CommandCentre),
            RegisterUnvaccinated => matches!(self, Admin | VenueManager | VenueStaff | GridWorker),
            TraceCases => matches!(self, Admin | CommandCentre | Investigator),
            RegisterEntries => matches!(self, Admin | VenueManager | VenueStaff | GridWorker),
        }
    }
}

/// Where a user's role applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The whole deployment (written `*`).
    All,
    /// A region and everything below it (written as the region code).
    Region(RegionCode),
    /// Every venue of one category, for a supervising department (written `category:CODE`).
    Category(VenueCategory),
    /// One venue (written `venue:ID`).
    Venue(VenueId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeParseError {
    #[error(
        "范围应为“*”、区划代码、“category:类别”或“venue:编号” / scope must be `*`, a region code, `category:CODE` or `venue:ID`"
    )]
    Format,
    #[error("未知的场所类别 {0} / unknown venue category {0}")]
    Category(String),
    #[error("区划代码无效 / invalid region code: {0}")]
    Region(#[from] crate::RegionCodeError),
}

impl Scope {
    pub fn parse(input: &str) -> Result<Scope, ScopeParseError> {
        let s = input.trim();
        if s == "*" {
            return Ok(Scope::All);
        }
        if let Some(code) = s.strip_prefix("category:") {
            return VenueCategory::from_code(code)
                .map(Scope::Category)
                .ok_or_else(|| ScopeParseError::Category(code.to_owned()));
        }
        if let Some(id) = s.strip_prefix("venue:") {
            return id.parse::<i64>().map(|v| Scope::Venue(VenueId(v))).map_err(|_| ScopeParseError::Format);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScopeParseError::Format);
        }
        Ok(Scope::Region(RegionCode::parse(s)?))
    }

    /// Whether a region (and what is registered in it, such as a person's home) lies in scope.
    pub fn covers_region(&self, region: &RegionCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Region(r) => r.contains(region),
            Scope::Category(_) | Scope::Venue(_) => false,
        }
    }

    /// Whether a venue lies in scope.
    pub fn covers_venue(&self, id: VenueId, category: VenueCategory, region: &RegionCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Region(r) => r.contains(region),
            Scope::Category(c) => *c == category,
            Scope::Venue(v) => *v == id,
        }
    }

    /// Whether everything `other` covers is also covered by `self` (a user may only grant what it holds).
    pub fn includes(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Region(a), Scope::Region(b)) => a.contains(b),
            (Scope::Category(a), Scope::Category(b)) => a == b,
            (Scope::Venue(a), Scope::Venue(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("*"),
            Scope::Region(r) => write!(f, "{r}"),
            Scope::Category(c) => write!(f, "category:{}", c.code()),
            Scope::Venue(v) => write!(f, "venue:{v}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn scopes_parse_and_print() {
        for s in ["*", "320508001002", "category:wet_market", "venue:42"] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Scope::parse("category:casino"), Err(ScopeParseError::Category("casino".into())));
        assert_eq!(Scope::parse("venue:x"), Err(ScopeParseError::Format));
        assert_eq!(Scope::parse("city"), Err(ScopeParseError::Format));
        assert!(matches!(Scope::parse("3205"), Err(ScopeParseError::Region(_))));
    }

    #[test]
    fn a_community_grid_worker_sees_only_its_community() {
        let scope = Scope::parse("320508001002").unwrap();
        assert!(scope.covers_region(&rc("320508001002")));
        assert!(scope.covers_region(&rc("320508001002003")));
        assert!(!scope.covers_region(&rc("320508001003")));
        assert!(!scope.covers_region(&rc("320508001")));
        assert!(Scope::All.covers_region(&rc("110105")));
        assert!(!Scope::Category(VenueCategory::Bus).covers_region(&rc("320508")));
    }

    #[test]
    fn venue_scopes() {
        let market = VenueCategory::WetMarket;
        let region = rc("320508001002");
        assert!(Scope::Category(market).covers_venue(VenueId(1), market, &region));
        assert!(!Scope::Category(VenueCategory::Bus).covers_venue(VenueId(1), market, &region));
        assert!(Scope::Venue(VenueId(1)).covers_venue(VenueId(1), market, &region));
        assert!(!Scope::Venue(VenueId(2)).covers_venue(VenueId(1), market, &region));
        assert!(Scope::parse("320508").unwrap().covers_venue(VenueId(1), market, &region));
    }

    #[test]
    fn scope_inclusion_for_granting() {
        let district = Scope::parse("320508").unwrap();
        assert!(district.includes(&Scope::parse("320508001002").unwrap()));
        assert!(!district.includes(&Scope::parse("320506").unwrap()));
        assert!(!district.includes(&Scope::All));
        assert!(Scope::All.includes(&Scope::Venue(VenueId(3))));
    }

    #[test]
    fn permissions_follow_roles() {
        assert!(Role::GridWorker.allows(Permission::UnmaskPersons));
        assert!(!Role::VenueStaff.allows(Permission::ReadPersons));
        assert!(Role::Auditor.allows(Permission::ReadAudit));
        assert!(!Role::Investigator.allows(Permission::ReadAudit));
        assert!(!Role::CommandCentre.allows(Permission::UnmaskPersons));
        for r in Role::ALL {
            assert_eq!(Role::from_code(r.code()), Some(r));
            assert!(r.allows(Permission::ReadRegistry));
        }
    }
}
