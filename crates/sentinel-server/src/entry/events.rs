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
    #[serde(serialize_with = "as_text")]
    #[schema(value_type = String)]
    pub region_code: RegionCode,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Escalations so far: 0 when raised (heard in the venue's region, its grid for most venues); each one
    /// moves it a level up, grid → community → street → district (`RegionLevel::hears_alert`).
    pub level: u8,
    /// The region whose workers are asked to act now: `region_code` lifted one level per escalation
    /// (`RegionCode::alert_audience`).
    #[serde(serialize_with = "as_text")]
    #[schema(value_type = String)]
    pub audience_region: RegionCode,
    #[serde(skip)]
    pub category: Option<VenueCategory>,
}

/// A region code in JSON: its digits.
fn as_text<S: serde::Serializer>(code: &RegionCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

impl AlertEvent {
    /// An alert as raised (not yet escalated) at `venue` in `region`, about the visit `visit_id` if any.
    pub fn raised(
        id: i64,
        kind: String,
        venue: &sentinel_store::Venue,
        person_id: Option<i64>,
        visit_id: i64,
        region: RegionCode,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            kind,
            venue_id: venue.id.0,
            venue_name: venue.name.clone(),
            person_id,
            visit_id,
            audience_region: region.clone(),
            region_code: region,
            created_at,
            level: 0,
            category: Some(venue.category),
        }
    }

    /// The event for a stored alert at its venue, routed by the alert's own region (the venue's grid, or
    /// the home community of an unvaccinated report), at the level it has reached.
    pub fn new(alert: &sentinel_store::Alert, venue: &sentinel_store::Venue) -> Self {
        let visit_id = alert.visit_id.unwrap_or_default();
        let person_id = alert.person_id.map(|p| p.0);
        Self::raised(
            alert.id,
            alert.kind.clone(),
            venue,
            person_id,
            visit_id,
            alert.region_code.clone(),
            alert.created_at,
        )
        .at_level(alert.level)
    }

    /// The same event at escalation `level` (also for an announcement that arrives after the alert moved on).
    pub fn at_level(self, level: u8) -> Self {
        Self { level, audience_region: self.region_code.alert_audience(level), ..self }
    }

    /// Who is pushed this event: region scopes at the event's level (the venue's grid first, then its
    /// community, street and district, one per escalation: `RegionLevel::hears_alert`), and every other
    /// scope covering the venue.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        let Some(category) = self.category else { return false };
        if !scope.covers_venue(VenueId(self.venue_id), category, &self.region_code) {
            return false;
        }
        match scope {
            Scope::Region(r) => r.level().hears_alert(self.region_code.level(), self.level),
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
            region_code: RegionCode::parse("320508001001").unwrap(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            level,
            audience_region: RegionCode::parse("320508001001").unwrap(),
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
