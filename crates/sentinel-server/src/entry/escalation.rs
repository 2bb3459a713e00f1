//! Escalation: an alert nobody acknowledged within the configured minutes goes up a level — from the
//! venue's grid to its community, its street, then its district — and is pushed again to the live streams
//! there.

use crate::entry::AlertEvent;
use crate::state::AppState;

const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Escalates what is due now; returns how many alerts went up.
pub async fn escalate_due(state: &AppState) -> usize {
    escalate_untouched_since(state, state.now() - state.escalate_after).await
}

/// Escalates every open alert untouched since `cutoff` and pushes it to its new level's streams.
pub async fn escalate_untouched_since(state: &AppState, cutoff: chrono::DateTime<chrono::Utc>) -> usize {
    let now = state.now();
    let escalated = match state.store.escalate_alerts(cutoff, now).await {
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

/// Streams what other nodes commit: alerts announced by the PostgreSQL store (LISTEN/NOTIFY), read back and
/// published here unless this node already did. Reconnects after a lost connection; an alert announced
/// while disconnected is in the store and the alert list, not on the stream.
pub async fn follow_other_nodes(state: AppState, database_url: String) {
    loop {
        match sentinel_store::postgres::notify::listen_alerts(&database_url).await {
            Ok(mut listener) => {
                tracing::debug!("listening for alerts committed by other nodes");
                while let Some((id, level)) = listener.recv().await {
                    if state.alerts.was_published(id, level) {
                        continue;
                    }
                    let alert = match state.store.get_alert(id).await {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(alert = id, error = %e, "announced alert unreadable");
                            continue;
                        }
                    };
                    match state.store.get_venue(alert.venue_id).await {
                        // At the level announced: if it went up since, that announcement follows.
                        Ok(venue) => state.alerts.publish(AlertEvent::new(&alert, &venue).at_level(level)),
                        Err(e) => {
                            tracing::warn!(alert = id, error = %e, "announced alert's venue unreadable")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for other nodes' alerts"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

/// Runs until the task is aborted.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        escalate_due(&state).await;
    }
}
