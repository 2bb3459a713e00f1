//! The live status cache the gate reads. Each person's health record is kept in memory together with
//! the status computed from it and the moment until which that status holds (the next expiry, report,
//! midnight or risk-area change, see `HealthRecord::status_valid_until`), so a lookup is a hash probe,
//! a comparison and a reference-count increment. Every write through this server forgets the person at
//! once; writes elsewhere arrive through the store's change log at the next refresh.

use crate::single_flight::SingleFlight;
use chrono::{DateTime, FixedOffset, Utc};
use sentinel_core::PersonId;
use sentinel_core::health::{HealthRecord, LiveStatus, RiskArea};
use sentinel_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

struct Entry {
    record: Arc<HealthRecord>,
    status: Option<Arc<LiveStatus>>,
    /// The status holds for [computed_at, valid_until).
    computed_at: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    areas_version: u64,
}

impl Entry {
    fn unevaluated(record: Arc<HealthRecord>) -> Self {
        Entry {
            record,
            status: None,
            computed_at: DateTime::<Utc>::MIN_UTC,
            valid_until: DateTime::<Utc>::MIN_UTC,
            areas_version: 0,
        }
    }
}

pub struct StatusCache {
    records: RwLock<HashMap<PersonId, Entry>>,
    /// Most persons kept (see `crate::bounded`).
    capacity: usize,
    risk_areas: RwLock<Arc<Vec<RiskArea>>>,
    /// Bumped whenever the risk areas change: every cached status then counts as stale.
    areas_version: AtomicU64,
    /// Position in the store's health change log up to which this cache is current.
    change_seq: AtomicI64,
    /// Bumped (under the write lock) by every forgetting, so a record loaded before a change is not
    /// stored after it.
    generation: AtomicU64,
    /// Reads of a person's record under way, shared by the scans that miss meanwhile.
    loading: SingleFlight<PersonId, (Arc<HealthRecord>, bool)>,
}

impl Default for StatusCache {
    fn default() -> Self {
        Self::with_capacity(crate::bounded::DEFAULT_CACHED_PERSONS)
    }
}

impl StatusCache {
    pub fn with_capacity(capacity: usize) -> Self {
        StatusCache {
            records: RwLock::default(),
            capacity,
            risk_areas: RwLock::default(),
            areas_version: AtomicU64::default(),
            change_seq: AtomicI64::default(),
            generation: AtomicU64::default(),
            loading: SingleFlight::default(),
        }
    }

    /// The status from the cache alone, if the person is loaded.
    pub fn cached_status(
        &self,
        person: PersonId,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Option<Arc<LiveStatus>> {
        let version = self.areas_version.load(Ordering::Acquire);
        let record = {
            let records = self.records.read().unwrap_or_else(|p| p.into_inner());
            let entry = records.get(&person)?;
            match &entry.status {
                Some(status)
                    if entry.areas_version == version
                        && entry.computed_at <= now
                        && now < entry.valid_until =>
                {
                    return Some(status.clone());
                }
                _ => entry.record.clone(),
            }
        };
        Some(self.recompute(person, record, now, tz, version))
    }

    fn recompute(
        &self,
        person: PersonId,
        record: Arc<HealthRecord>,
        now: DateTime<Utc>,
        tz: FixedOffset,
        version: u64,
    ) -> Arc<LiveStatus> {
        let areas = self.risk_areas.read().unwrap_or_else(|p| p.into_inner()).clone();
        let status = Arc::new(record.status(&areas, now, tz));
        let valid_until = record.status_valid_until(&areas, now, tz);
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        // Only if nobody replaced or forgot the record meanwhile.
        if let Some(entry) = records.get_mut(&person).filter(|e| Arc::ptr_eq(&e.record, &record)) {
            *entry = Entry {
                record,
                status: Some(status.clone()),
                computed_at: now,
                valid_until,
                areas_version: version,
            };
        }
        status
    }

    /// The status, loading the person's record on a miss.
    pub async fn status(
        &self,
        store: &dyn Store,
        person: PersonId,
        now: DateTime<Utc>,
        tz: FixedOffset,
    ) -> Result<Arc<LiveStatus>, StoreError> {
        if let Some(status) = self.cached_status(person, now, tz) {
            return Ok(status);
        }
        let generation = self.generation.load(Ordering::Acquire);
        // Scans of the same person that miss together share one read (begun in this generation).
        let (record, kept) = self
            .loading
            .run(person, generation, || async {
                let record = Arc::new(store.health_record(person).await?);
                let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
                if self.generation.load(Ordering::Acquire) != generation {
                    // Something was forgotten while this record loaded: it may be stale, so answer from
                    // it (it was current when read) without keeping it.
                    return Ok((record, false));
                }
                let evicted = crate::bounded::make_room(&mut records, self.capacity);
                records.insert(person, Entry::unevaluated(record.clone()));
                drop(records);
                drop(evicted);
                Ok((record, true))
            })
            .await?;
        if !kept {
            let areas = self.risk_areas.read().unwrap_or_else(|p| p.into_inner()).clone();
            return Ok(Arc::new(record.status(&areas, now, tz)));
        }
        let version = self.areas_version.load(Ordering::Acquire);
        Ok(self.recompute(person, record, now, tz, version))
    }

    pub fn insert(&self, person: PersonId, record: Arc<HealthRecord>) {
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        let evicted = crate::bounded::make_room(&mut records, self.capacity);
        records.insert(person, Entry::unevaluated(record));
        drop(records);
        drop(evicted);
    }

    /// Forgets a person's record after any change to it; the next lookup reloads.
    pub fn invalidate(&self, person: PersonId) {
        let mut records = self.records.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        records.remove(&person);
    }

    /// Replaces the risk areas every itinerary is checked against.
    pub fn set_risk_areas(&self, areas: Vec<RiskArea>) {
        let mut current = self.risk_areas.write().unwrap_or_else(|p| p.into_inner());
        if **current != areas {
            *current = Arc::new(areas);
            self.areas_version.fetch_add(1, Ordering::AcqRel);
        }
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
                self.generation.fetch_add(1, Ordering::AcqRel);
                for (_, person) in &changes {
                    forgotten += usize::from(records.remove(person).is_some());
                }
            }
            self.change_seq.fetch_max(last, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use sentinel_core::health::{Assignment, AssignmentSource, Colour};

    #[test]
    fn a_cached_status_expires_with_its_assignment() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let t0 = Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap();
        let red = Assignment {
            id: 1,
            colour: Colour::Red,
            reason: "x".into(),
            source: AssignmentSource::Manual,
            set_by: "a".into(),
            valid_from: t0,
            valid_until: Some(t0 + Duration::hours(1)),
            lifted_at: None,
        };
        let cache = StatusCache::default();
        cache.insert(PersonId(1), Arc::new(HealthRecord { assignments: vec![red], ..Default::default() }));
        assert_eq!(cache.cached_status(PersonId(1), t0, tz).unwrap().colour, Colour::Red);
        assert_eq!(
            cache.cached_status(PersonId(1), t0 + Duration::minutes(59), tz).unwrap().colour,
            Colour::Red
        );
        assert_eq!(
            cache.cached_status(PersonId(1), t0 + Duration::hours(1), tz).unwrap().colour,
            Colour::Green
        );
        assert_eq!(
            cache.cached_status(PersonId(1), t0, tz).unwrap().colour,
            Colour::Red,
            "an earlier time recomputes"
        );
        assert!(cache.cached_status(PersonId(2), t0, tz).is_none());
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let cache = StatusCache::with_capacity(16);
        for p in 0..100 {
            cache.insert(PersonId(p), Arc::new(HealthRecord::default()));
        }
        let held = cache.records.read().unwrap().len();
        assert!(held <= 16, "{held}");
        // The newest is kept, and what is kept still answers.
        let now = Utc.with_ymd_and_hms(2024, 4, 29, 6, 0, 0).unwrap();
        assert_eq!(cache.cached_status(PersonId(99), now, tz).unwrap().colour, Colour::Green);
    }
}
