//! The storage contract both backends fulfil; the contract test suite (tests/contract.rs) runs the same
//! cases against each.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sentinel_core::{DeviceId, PersonId, PhoneNumber, RegionCode, ResidentIdNumber, UserId, VenueId};
use std::fmt;

use crate::model::*;
use crate::{CaseStore, CredentialStore, EntryStore, HealthStore, OutboxStore, ResidentStore, StoreError};

#[async_trait]
pub trait Store:
    HealthStore
    + CredentialStore
    + CaseStore
    + EntryStore
    + OutboxStore
    + ResidentStore
    + Send
    + Sync
    + fmt::Debug
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The highest applied migration.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Inserts regions or renames existing ones, in one transaction.
    async fn upsert_regions(&self, regions: &[Region]) -> Result<(), StoreError>;
    async fn get_region(&self, code: &RegionCode) -> Result<Region, StoreError>;
    /// Children of `parent`, or the top of the stored tree when `None`, ordered by code.
    async fn list_regions(&self, parent: Option<&RegionCode>) -> Result<Vec<Region>, StoreError>;

    async fn create_venue(&self, venue: &NewVenue, now: DateTime<Utc>) -> Result<Venue, StoreError>;
    /// Bulk insert in one transaction (seeding, imports).
    async fn create_venues(&self, venues: &[NewVenue], now: DateTime<Utc>) -> Result<usize, StoreError>;
    async fn get_venue(&self, id: VenueId) -> Result<Venue, StoreError>;
    /// The venues of `ids` that exist and are not deleted, in no particular order: one query for a list.
    async fn get_venues(&self, ids: &[VenueId]) -> Result<Vec<Venue>, StoreError>;
    async fn list_venues(&self, filter: &VenueFilter, page: PageRequest) -> Result<Page<Venue>, StoreError>;
    async fn update_venue(
        &self,
        id: VenueId,
        update: &VenueUpdate,
        now: DateTime<Utc>,
    ) -> Result<Venue, StoreError>;
    /// Retires a venue: it disappears from lists and lookups, while records that refer to it stay valid.
    async fn delete_venue(&self, id: VenueId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Fails with `Conflict` when the ID number is registered already.
    async fn create_person(&self, person: &NewPerson, now: DateTime<Utc>) -> Result<Person, StoreError>;
    /// Bulk insert in one transaction; persons whose ID number exists are skipped. Returns how many were new.
    async fn create_persons(&self, persons: &[NewPerson], now: DateTime<Utc>) -> Result<usize, StoreError>;
    async fn get_person(&self, id: PersonId) -> Result<Person, StoreError>;
    /// The persons of `ids` that exist, in no particular order: one query for a list's names.
    async fn get_persons(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError>;
    async fn find_person_by_id_number(
        &self,
        id_number: &ResidentIdNumber,
    ) -> Result<Option<Person>, StoreError>;
    /// Person ids and home regions for many ID numbers at once (imports), in input order.
    async fn locate_persons(
        &self,
        ids: &[ResidentIdNumber],
    ) -> Result<Vec<Option<(PersonId, RegionCode)>>, StoreError>;
    /// One person's id and home region, without reading (and decrypting) the rest of them.
    async fn locate_person(
        &self,
        id: &ResidentIdNumber,
    ) -> Result<Option<(PersonId, RegionCode)>, StoreError> {
        Ok(self.locate_persons(std::slice::from_ref(id)).await?.pop().flatten())
    }
    /// Family members may share a phone, so this can be several persons.
    async fn find_persons_by_phone(&self, phone: &PhoneNumber) -> Result<Vec<Person>, StoreError>;
    /// Persons whose home lies in `region`'s subtree (everyone when `None`), by id.
    async fn list_persons(
        &self,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<Person>, StoreError>;

    async fn create_device(&self, device: &NewDevice, now: DateTime<Utc>) -> Result<Device, StoreError>;
    async fn get_device(&self, id: DeviceId) -> Result<Device, StoreError>;
    async fn list_devices(
        &self,
        filter: &VenueFilter,
        venue: Option<VenueId>,
        page: PageRequest,
    ) -> Result<Page<Device>, StoreError>;

    async fn create_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<User, StoreError>;
    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError>;
    async fn count_users(&self) -> Result<i64, StoreError>;

    async fn create_token(&self, token: &AuthToken) -> Result<(), StoreError>;
    /// The token and its user, if the token exists (expiry is the caller's to check).
    async fn find_token(&self, token_hash: &[u8]) -> Result<Option<(AuthToken, User)>, StoreError>;
    async fn delete_token(&self, token_hash: &[u8]) -> Result<(), StoreError>;

    async fn append_audit(&self, record: &NewAudit) -> Result<i64, StoreError>;
    /// Newest first; `page.after` is the id the previous page ended at.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError>;
}
