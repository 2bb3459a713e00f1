//! Escalation: an alert nobody acknowledged within the configured minutes goes up a level — from the
//! venue's community to its street, then to its district — and is pushed again to the live streams there.

use crate::entry::AlertEvent;
use crate::state::AppState;

/// The highest level: the district.
pub const MAX_LEVEL: u8 = 2;
const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Escalates what is due now; returns how many alerts went up.
pub async fn escalate_due(state: &AppState) -> usize {
    escalate_untouched_since(state, state.now() - state.escalate_after).await
}

/// Escalates every open alert untouched since `cutoff` and pushes it to its new level's streams.
pub async fn escalate_untouched_since(state: &AppState, cutoff: chrono::DateTime<chrono::Utc>) -> usize {
    let now = state.now();
    let escalated = match state.store.escalate_alerts(cutoff, MAX_LEVEL, now).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "escalating alerts failed");
            return 0;
        }
    };
    for a in &escalated {
        let venue = state.store.get_venue(a.venue_id).await.ok();
        tracing::info!(alert = a.id, level = a.level, "alert escalated");
        state.alerts.publish(AlertEvent {
            id: a.id,
            kind: a.kind.clone(),
            venue_id: a.venue_id.0,
            venue_name: venue.as_ref().map(|v| v.name.clone()).unwrap_or_default(),
            person_id: a.person_id.map(|p| p.0),
            visit_id: a.visit_id.unwrap_or_default(),
            region_code: venue
                .as_ref()
                .map_or_else(|| a.region_code.to_string(), |v| v.region_code.to_string()),
            created_at: a.created_at,
            level: a.level,
            category: venue.map(|v| v.category),
        });
    }
    escalated.len()
}

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        escalate_due(&state).await;
    }
}
