//! Alerts committed by any node, heard through PostgreSQL's LISTEN/NOTIFY: a trigger on `alerts`
//! (migration 14) announces each new alert and each escalation as `id:level` at commit, so every node's
//! live streams hear what another node's gate raised.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::StoreError;

/// The channel the trigger notifies.
pub const ALERT_CHANNEL: &str = "sentinel_alerts";

/// An open LISTEN connection: `recv` gives `(alert id, level)`; `None` once the connection is gone (the
/// caller connects again; what was announced meanwhile is in the store, not on the stream).
pub struct AlertListener {
    notices: mpsc::UnboundedReceiver<(i64, u8)>,
    /// Kept so the connection stays open.
    _client: tokio_postgres::Client,
}

impl AlertListener {
    pub async fn recv(&mut self) -> Option<(i64, u8)> {
        self.notices.recv().await
    }
}

fn parse(payload: &str) -> Option<(i64, u8)> {
    let (id, level) = payload.split_once(':')?;
    Some((id.parse().ok()?, level.parse().ok()?))
}

/// Connects to `url` and listens for alerts.
pub async fn listen_alerts(url: &str) -> Result<AlertListener, StoreError> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (tx, notices) = mpsc::unbounded_channel();
    // The connection delivers notifications only while it is polled: a task of its own does that.
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if let Some(notice) = parse(n.payload())
                        && tx.send(notice).is_err()
                    {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "alert notification connection failed");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {ALERT_CHANNEL}")).await?;
    Ok(AlertListener { notices, _client: client })
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_are_id_and_level() {
        assert_eq!(super::parse("42:1"), Some((42, 1)));
        assert_eq!(super::parse("42"), None);
        assert_eq!(super::parse("x:1"), None);
    }
}
