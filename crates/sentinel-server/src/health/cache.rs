//! The live status cache: each person's health record in memory, evaluated at lookup time (colours
//! expire, NAT results age), so a lookup is a hash probe plus a few comparisons. Every write through
//! the server invalidates the person's entry; a miss loads the record from the store.

use chrono::{DateTime, FixedOffset, Utc};
use sentinel_core::PersonId;
use sentinel_core::health::{HealthRecord, LiveStatus, RiskArea};
use sentinel_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Default)]
pub struct StatusCache {
    records: RwLock<HashMap<PersonId, Arc<HealthRecord>>>,
    risk_areas: RwLock<Arc<Vec<RiskArea>>>,
    /// Position in the store's health change log up to which this cache is current.
    change_seq: AtomicI64,
}

impl StatusCache {
    /// The status from the cache alone, if the person is loaded.
    pub fn cached_status(&self, person: PersonId, now: DateTime<Utc>, tz: FixedOffset) -> Option<LiveStatus> {
        let record = self.records.read().unwrap_or_else(|p| p.into_inner()).get(&person).cloned()?;
        let areas = self.risk_areas.read().unwrap_or_else(|p| p.into_inner()).clone();
        Some(record.status(&areas, now, tz))
    }

    /// The status, loading the person's record on a miss.
    pub async fn status(
        &self,
        store: &dyn Store,
        person: PersonId,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Result<LiveStatus, StoreError> {
        if let Some(status) = self.cached_status(person, now, tz) {
            return Ok(status);
        }
        let record = Arc::new(store.health_record(person).await?);
        self.insert(person, record.clone());
        let areas = self.risk_areas.read().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(record.status(&areas, now, tz))
    }

    pub fn insert(&self, person: PersonId, record: Arc<HealthRecord>) {
        self.records.write().unwrap_or_else(|p| p.into_inner()).insert(person, record);
    }

    /// Forgets a person's record after any change to it; the next lookup reloads.
    pub fn invalidate(&self, person: PersonId) {
        self.records.write().unwrap_or_else(|p| p.into_inner()).remove(&person);
    }

    pub fn invalidate_all(&self) {
        self.records.write().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Replaces the risk areas every itinerary is checked against.
    pub fn set_risk_areas(&self, areas: Vec<RiskArea>) {
        *self.risk_areas.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(areas);
    }

    /// Starts following the change log from the store's current end (the cache starts empty).
    pub async fn follow_changes_from_now(&self, store: &dyn Store) -> Result<(), StoreError> {
        self.change_seq.store(store.latest_health_change().await?, Ordering::SeqCst);
        Ok(())
    }

    /// Forgets persons changed by other nodes or by command-line imports since the last call.
    pub async fn sync_changes(&self, store: &dyn Store) -> Result<usize, StoreError> {
        let mut forgotten = 0;
        loop {
            let since = self.change_seq.load(Ordering::SeqCst);
            let changes = store.health_changes_since(since, 10_000).await?;
            let Some(&(last, _)) = changes.last() else { return Ok(forgotten) };
            {
                let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
                for (_, person) in &changes {
                    forgotten += usize::from(records.remove(person).is_some());
                }
            }
            self.change_seq.fetch_max(last, Ordering::SeqCst);
        }
    }

    pub fn len(&self) -> usize {
        self.records.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
