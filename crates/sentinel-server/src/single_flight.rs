//! One store read at a time per person: callers that miss the same person's cache entry while a read of it
//! is under way wait for that read instead of starting their own. Without it, every scan of a person
//! arriving during the read reads too — after a refresh forgets a busy person, or at a cold start, a gate
//! line's whole queue goes to the database at once (measured on PostgreSQL: ~1 000 reads of 50 persons in
//! 0.5 s, stalling the gate for that long).

use sentinel_store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Flight<V> = Arc<OnceCell<Result<V, StoreError>>>;

pub struct SingleFlight<K, V> {
    /// The read under way per key, with the epoch it started in.
    in_flight: Mutex<HashMap<K, (u64, Flight<V>)>>,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        SingleFlight { in_flight: Mutex::default() }
    }
}

impl<K: Eq + Hash + Copy, V: Clone> SingleFlight<K, V> {
    /// Runs `read` for `key`, or waits for the read of `key` already under way if it started in the same
    /// `epoch`. The caller bumps its epoch whenever it forgets something, so nobody is handed a read that
    /// began before a change they must see. If the reading caller goes away (its request dropped), a waiting
    /// one runs its own `read` instead.
    pub async fn run<F, Fut>(&self, key: K, epoch: u64, read: F) -> Result<V, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, StoreError>>,
    {
        let flight = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some((started, flight)) if *started == epoch => flight.clone(),
                _ => {
                    let flight = Flight::default();
                    in_flight.insert(key, (epoch, flight.clone()));
                    flight
                }
            }
        };
        // Done, failed or dropped: the next miss (after a forgetting) reads afresh, and a caller that went
        // away leaves nothing behind.
        let _done = Landing { flights: self, key, flight: flight.clone() };
        flight.get_or_init(read).await.clone()
    }

    /// Removes `flight`'s entry, not a newer one that replaced it.
    fn land(&self, key: &K, flight: &Flight<V>) {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight.get(key).is_some_and(|(_, f)| Arc::ptr_eq(f, flight)) {
            in_flight.remove(key);
        }
    }

    /// Reads under way (for tests and metrics).
    pub fn len(&self) -> usize {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a flight's entry when its caller is done with it, however that ends.
struct Landing<'a, K: Eq + Hash + Copy, V: Clone> {
    flights: &'a SingleFlight<K, V>,
    key: K,
    flight: Flight<V>,
}

impl<K: Eq + Hash + Copy, V: Clone> Drop for Landing<'_, K, V> {
    fn drop(&mut self) {
        self.flights.land(&self.key, &self.flight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_read_per_epoch() {
        let flights = Arc::new(SingleFlight::<u32, u32>::default());
        let reads = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut waiting = Vec::new();
        for _ in 0..20 {
            let (flights, reads, gate) = (flights.clone(), reads.clone(), gate.clone());
            waiting.push(tokio::spawn(async move {
                flights
                    .run(7, 0, || async move {
                        reads.fetch_add(1, Ordering::SeqCst);
                        gate.notified().await;
                        Ok(42)
                    })
                    .await
            }));
        }
        // Everyone has joined before the read finishes.
        while reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // A caller in a later epoch (after a forgetting) does not join the earlier read.
        let later = flights.run(7, 1, || async { Ok(43) }).await;
        assert_eq!(later.unwrap(), 43);
        gate.notify_one();
        for w in waiting {
            assert_eq!(w.await.unwrap().unwrap(), 42);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1, "twenty callers, one read");
        assert!(flights.is_empty(), "finished reads are not kept");
        // A failure reaches every waiter and is not remembered.
        let failed = flights.run(7, 1, || async { Err(StoreError::Backend("down".into())) }).await;
        assert!(matches!(failed, Err(StoreError::Backend(_))));
        assert_eq!(flights.run(7, 1, || async { Ok(44) }).await.unwrap(), 44);
    }

    #[tokio::test]
    async fn a_dropped_reader_hands_over_to_a_waiting_one() {
        let flights = Arc::new(SingleFlight::<u32, u32>::default());
        let first = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(1, 0, std::future::pending).await })
        };
        tokio::task::yield_now().await;
        let second = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(1, 0, || async { Ok(5) }).await })
        };
        tokio::task::yield_now().await;
        first.abort();
        assert_eq!(second.await.unwrap().unwrap(), 5);
        // A reader dropped with nobody waiting leaves no entry behind.
        let alone = {
            let flights = flights.clone();
            tokio::spawn(async move { flights.run(2, 0, std::future::pending).await })
        };
        tokio::task::yield_now().await;
        assert_eq!(flights.len(), 1);
        alone.abort();
        let _ = alone.await;
        assert!(flights.is_empty());
    }
}
