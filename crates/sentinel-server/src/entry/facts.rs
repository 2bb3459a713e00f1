//! What the gate needs of a person besides the health status — the birth date (for age exemptions) and the
//! masked name shown on the screen — kept in memory so a scan does not read and decrypt the person.

use crate::single_flight::SingleFlight;
use chrono::NaiveDate;
use sentinel_core::PersonId;
use sentinel_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonFacts {
    pub birth_date: NaiveDate,
    pub masked_name: String,
}

pub struct FactsCache {
    facts: RwLock<HashMap<PersonId, PersonFacts>>,
    /// Most persons kept (see `crate::bounded`).
    capacity: usize,
    /// Reads of a person under way, shared by the scans that miss meanwhile.
    loading: SingleFlight<PersonId, PersonFacts>,
}

impl Default for FactsCache {
    fn default() -> Self {
        Self::with_capacity(crate::bounded::DEFAULT_CACHED_PERSONS)
    }
}

impl FactsCache {
    pub fn with_capacity(capacity: usize) -> Self {
        FactsCache { facts: RwLock::default(), capacity, loading: SingleFlight::default() }
    }

    /// The facts, reading the person once on a miss. ID numbers and names do not change, so entries stay
    /// until the cache is full.
    pub async fn get(&self, store: &dyn Store, person: PersonId) -> Result<PersonFacts, StoreError> {
        if let Some(f) = self.facts.read().unwrap_or_else(|p| p.into_inner()).get(&person) {
            return Ok(f.clone());
        }
        // Facts never change, so every miss may share the read under way (one epoch).
        self.loading
            .run(person, 0, || async {
                let p = store.get_person(person).await?;
                let facts =
                    PersonFacts { birth_date: p.id_number.birth_date(), masked_name: p.name.masked() };
                let mut all = self.facts.write().unwrap_or_else(|p| p.into_inner());
                let evicted = crate::bounded::make_room(&mut all, self.capacity);
                all.insert(person, facts.clone());
                drop(all);
                drop(evicted);
                Ok(facts)
            })
            .await
    }
}
