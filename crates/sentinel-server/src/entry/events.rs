//! The live alert feed: every alert committed on this node, and (on PostgreSQL) every alert another node
//! committed, is published to the console streams (SSE) once, each subscriber seeing only what its scope
//! covers.

use chrono::{DateTime, Utc};
use sentinel_core::{RegionCode, Scope, VenueCategory, VenueId};
use serde::Serialize;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
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
    /// Where it was raised: the venue's region (its grid, for most venues), or an unvaccinated report's
    /// home community.
    pub region_code: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Escalations so far: 0 when raised (heard in the venue's region, its grid for most venues); each one
    /// moves it a level up, grid → community → street → district (`RegionLevel::hears_alert`).
    pub level: u8,
    /// The region whose workers are asked to act now: `region_code` lifted one level per escalation
    /// (`RegionCode::alert_audience`).
    pub audience_region: String,
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
            audience_region: alert.region_code.alert_audience(alert.level).to_string(),
            category: Some(venue.category),
        }
    }

    /// The same event at escalation `level` (an announcement that arrives after the alert moved on).
    pub fn at_level(self, level: u8) -> Self {
        let audience_region = RegionCode::parse(&self.region_code)
            .map_or_else(|_| self.audience_region.clone(), |r| r.alert_audience(level).to_string());
        Self { level, audience_region, ..self }
    }

    /// Who is pushed this event: region scopes at the event's level (the venue's grid first, then its
    /// community, street and district, one per escalation: `RegionLevel::hears_alert`), and every other
    /// scope covering the venue.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        let (Ok(region), Some(category)) = (RegionCode::parse(&self.region_code), self.category) else {
            return false;
        };
        if !scope.covers_venue(VenueId(self.venue_id), category, &region) {
            return false;
        }
        match scope {
            Scope::Region(r) => r.level().hears_alert(region.level(), self.level),
            _ => true,
        }
    }
}

#[derive(Clone)]
pub struct AlertFeed {
    sender: broadcast::Sender<AlertEvent>,
    /// The (alert, level) pairs published lately: an alert is heard both from this node's own commit and
    /// from the store's announcement of it, in either order, and is published once.
    published: std::sync::Arc<Mutex<Published>>,
}

/// How many published (alert, level) pairs are remembered: far more than arrive while an announcement
/// travels.
const REMEMBERED: usize = 65_536;

#[derive(Default)]
struct Published {
    order: VecDeque<(i64, u8)>,
    seen: HashSet<(i64, u8)>,
}

impl Default for AlertFeed {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(4096);
        Self { sender, published: std::sync::Arc::default() }
    }
}

impl AlertFeed {
    /// Publishes the event unless this alert was already published at this level.
    pub fn publish(&self, event: AlertEvent) {
        let key = (event.id, event.level);
        {
            let mut published = self.published.lock().unwrap_or_else(|p| p.into_inner());
            if !published.seen.insert(key) {
                return;
            }
            published.order.push_back(key);
            if published.order.len() > REMEMBERED
                && let Some(old) = published.order.pop_front()
            {
                published.seen.remove(&old);
            }
        }
        // No subscriber is fine: the alert is stored either way.
        let _ = self.sender.send(event);
    }

    /// Whether this alert was published at this level already (by this node or an announcement).
    pub fn was_published(&self, id: i64, level: u8) -> bool {
        self.published.lock().unwrap_or_else(|p| p.into_inner()).seen.contains(&(id, level))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AlertEvent> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, level: u8) -> AlertEvent {
        AlertEvent {
            id,
            kind: "fever".into(),
            venue_id: 1,
            venue_name: "x".into(),
            person_id: None,
            visit_id: 1,
            region_code: "320508001001".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            level,
            audience_region: "320508001001".into(),
            category: None,
        }
    }

    #[test]
    fn an_alert_is_streamed_once_per_level() {
        let feed = AlertFeed::default();
        let mut heard = feed.subscribe();
        // This node's commit and the store's announcement of it, in either order.
        feed.publish(event(1, 0));
        feed.publish(event(1, 0));
        assert!(feed.was_published(1, 0) && !feed.was_published(1, 1));
        feed.publish(event(1, 1));
        let levels: Vec<u8> = std::iter::from_fn(|| heard.try_recv().ok()).map(|e| e.level).collect();
        assert_eq!(levels, [0, 1]);
    }
}
