//! Group commit: scans arriving together are written in one transaction, and each answer waits for the
//! commit that holds its visit, so an admitted person is never missing from the record.

use sentinel_store::{NewVisit, RecordedVisit, Store, StoreError};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::batches::spawn_batches;

/// Most visits in one transaction.
const MAX_BATCH: usize = 512;

struct Job {
    visit: NewVisit,
    reply: oneshot::Sender<Result<RecordedVisit, String>>,
}

#[derive(Clone)]
pub struct VisitWriter {
    jobs: mpsc::Sender<Job>,
}

/// Writes one batch in one transaction and answers every scan in it.
async fn commit(store: &dyn Store, batch: Vec<Job>) {
    let (visits, replies): (Vec<NewVisit>, Vec<_>) = batch.into_iter().map(|j| (j.visit, j.reply)).unzip();
    match store.record_visits(&visits).await {
        Ok(recorded) => {
            for (reply, r) in replies.into_iter().zip(recorded) {
                let _ = reply.send(Ok(r));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, visits = visits.len(), "writing visits failed");
            for reply in replies {
                let _ = reply.send(Err(e.to_string()));
            }
        }
    }
}

impl VisitWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>(16 * MAX_BATCH);
        // Batches in flight at once: while one commits, the next gathers and writes.
        let in_flight = store.concurrent_visit_batches();
        spawn_batches(rx, MAX_BATCH, in_flight, move |batch| {
            let store = store.clone();
            async move { commit(&*store, batch).await }
        });
        Self { jobs }
    }

    /// Stores a visit; returns once the transaction that holds it has committed.
    pub async fn record(&self, visit: NewVisit) -> Result<RecordedVisit, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { visit, reply })
            .await
            .map_err(|_| StoreError::Backend("visit writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("visit writer stopped".into()))?
            .map_err(StoreError::Backend)
    }
}
