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
        tracing::info!(alert = a.id, level = a.level, "alert escalated");
        match state.store.get_venue(a.venue_id).await {
            Ok(venue) => state.alerts.publish(AlertEvent::new(a, &venue)),
            Err(e) => {
                tracing::warn!(alert = a.id, error = %e, "escalated alert's venue unreadable; not streamed")
            }
        }
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
