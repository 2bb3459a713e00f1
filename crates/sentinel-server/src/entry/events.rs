//! The live alert feed: every alert committed on this node is published to the console streams (SSE),
//! each subscriber seeing only what its scope covers.

use chrono::{DateTime, Utc};
use sentinel_core::{RegionCode, RegionLevel, Scope, VenueCategory, VenueId};
use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertEvent {
    pub id: i64,
    /// The reason code, e.g. `code_red`, `fever`.
    pub kind: String,
    pub venue_id: i64,
    pub venue_name: String,
    pub person_id: Option<i64>,
    pub visit_id: i64,
    /// The venue's grid.
    pub region_code: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// 0: the venue's community and its grids; 1: escalated to the street; 2: to the district and above.
    pub level: u8,
    #[serde(skip)]
    pub category: Option<VenueCategory>,
}

impl AlertEvent {
    /// The event for a stored alert at its venue, routed by the alert's own region (the venue's grid, or
    /// the home community of an unvaccinated report).
    pub fn new(alert: &sentinel_store::Alert, venue: &sentinel_store::Venue) -> Self {
        Self {
            id: alert.id,
            kind: alert.kind.clone(),
            venue_id: venue.id.0,
            venue_name: venue.name.clone(),
            person_id: alert.person_id.map(|p| p.0),
            visit_id: alert.visit_id.unwrap_or_default(),
            region_code: alert.region_code.to_string(),
            created_at: alert.created_at,
            level: alert.level,
            category: Some(venue.category),
        }
    }

    /// Who is pushed this event: region scopes at the event's level (community and grids first, the street
    /// after one escalation, the district and above after two), and every other scope covering the venue.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        let (Ok(region), Some(category)) = (RegionCode::parse(&self.region_code), self.category) else {
            return false;
        };
        if !scope.covers_venue(VenueId(self.venue_id), category, &region) {
            return false;
        }
        match scope {
            Scope::Region(r) => match self.level {
                0 => r.level() >= RegionLevel::Community,
                1 => r.level() == RegionLevel::Street,
                _ => r.level() <= RegionLevel::District,
            },
            _ => true,
        }
    }
}

#[derive(Clone)]
pub struct AlertFeed {
    sender: broadcast::Sender<AlertEvent>,
}

impl Default for AlertFeed {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { sender }
    }
}

impl AlertFeed {
    pub fn publish(&self, event: AlertEvent) {
        // No subscriber is fine: the alert is stored either way.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AlertEvent> {
        self.sender.subscribe()
    }
}
