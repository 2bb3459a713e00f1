//! Self-clocking batches: what arrives while a batch is being handled gathers into the next, so a quiet
//! server handles each item at once and a busy one in ever larger batches (group commit, batched
//! signature checks).

use std::future::Future;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};

/// Spawns a task on the current runtime that takes what has arrived on `jobs` (up to `max` at a time)
/// and hands it to `handle`, with at most `in_flight` batches being handled at once. It ends when every
/// sender is gone.
pub fn spawn_batches<J, F, Fut>(mut jobs: mpsc::Receiver<J>, max: usize, in_flight: usize, handle: F)
where
    J: Send + 'static,
    F: Fn(Vec<J>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else { return };
            let mut batch = Vec::with_capacity(max);
            if jobs.recv_many(&mut batch, max).await == 0 {
                return;
            }
            let handled = handle(batch);
            tokio::spawn(async move {
                handled.await;
                drop(slot);
            });
        }
    });
}
