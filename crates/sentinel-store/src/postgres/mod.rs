//! The PostgreSQL backend for larger deployments: a connection pool, migrations serialised by an advisory
//! lock so several `sentinel serve` nodes can start at once.

mod cases;
mod connection;
mod credentials;
mod entry;
mod health;
pub mod notify;
mod outbox;
mod residents;
mod rows;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use sentinel_core::{DeviceId, PersonId, PhoneNumber, RegionCode, ResidentIdNumber, UserId, VenueId};
use std::sync::Arc;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use crate::model::*;
use crate::query::{self, Dialect, EncryptedPerson, SqlValue, Where};
use crate::query::{AuditRow, DeviceRow, RegionRow, UserRow, VenueRow};
use crate::{PersonalDataCipher, Store, StoreError};
use rows::*;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_registry.sql")),
    (2, include_str!("migrations/0002_health.sql")),
    (3, include_str!("migrations/0003_health_changes.sql")),
    (4, include_str!("migrations/0004_entry.sql")),
    (5, include_str!("migrations/0005_outbox.sql")),
    (6, include_str!("migrations/0006_unvaccinated.sql")),
    (7, include_str!("migrations/0007_escalation.sql")),
    (8, include_str!("migrations/0008_visit_prompt.sql")),
    (9, include_str!("migrations/0009_vaccine_exemptions.sql")),
    (10, include_str!("migrations/0010_visit_policy_version.sql")),
    (11, include_str!("migrations/0011_trace_cases.sql")),
    (12, include_str!("migrations/0012_unvaccinated_idempotency.sql")),
    (13, include_str!("migrations/0013_residents.sql")),
    (14, include_str!("migrations/0014_alert_notify.sql")),
    (15, include_str!("migrations/0015_webhook_regions.sql")),
    (16, include_str!("migrations/0016_alert_chain.sql")),
];
const _: () = assert!(MIGRATIONS[MIGRATIONS.len() - 1].0 == crate::SCHEMA_VERSION);
/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x05e4_71e1;
const POOL_SIZE: usize = 16;
/// Advisory lock that makes appends to the sequence-numbered logs (health changes, revocations) commit
/// in sequence order.
const LOG_ORDER_LOCK: i64 = 0x05e4_71e2;

pub struct PostgresStore {
    pool: Pool,
    cipher: Arc<PersonalDataCipher>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

fn boxed(params: Vec<SqlValue>) -> Vec<Param> {
    params
        .into_iter()
        .map(|p| -> Param {
            match p {
                SqlValue::Int(i) => Box::new(i),
                SqlValue::Text(s) => Box::new(s),
            }
        })
        .collect()
}

fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()
}

fn decode_all<T, R>(
    rows: Vec<tokio_postgres::Row>,
    read: impl Fn(&tokio_postgres::Row) -> Result<R, tokio_postgres::Error>,
    decode: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|r| decode(read(r)?)).collect()
}

async fn select_venue(c: &impl GenericClient, id: i64) -> Result<Venue, StoreError> {
    let sql =
        format!("SELECT {} FROM venues v WHERE v.id = $1 AND v.deleted_at IS NULL", query::VENUE_COLUMNS);
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    venue_row(&row)?.decode()
}

async fn insert_venue(c: &impl GenericClient, v: &NewVenue, now: i64) -> Result<i64, StoreError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO venues (name, category, region_code, address, lat, lon, capacity, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .await?;
    let row = c
        .query_one(
            &stmt,
            &[
                &v.name,
                &v.category.code(),
                &v.region_code.as_str(),
                &v.address,
                &v.lat,
                &v.lon,
                &v.capacity,
                &now,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

async fn insert_person(
    c: &impl GenericClient,
    p: &EncryptedPerson,
    now: i64,
    skip_existing: bool,
) -> Result<Option<i64>, StoreError> {
    let conflict = if skip_existing { "ON CONFLICT (id_number_bidx) DO NOTHING" } else { "" };
    let stmt = c
        .prepare_cached(&format!(
            "INSERT INTO persons (region_code, id_number_enc, id_number_bidx, name_enc, phone_enc, phone_bidx,
                                  address_enc, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {conflict} RETURNING id"
        ))
        .await?;
    let row = c
        .query_opt(
            &stmt,
            &[
                &p.region_code,
                &p.id_number_enc,
                &p.id_number_bidx,
                &p.name_enc,
                &p.phone_enc,
                &p.phone_bidx,
                &p.address_enc,
                &now,
            ],
        )
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("person.id_number".into()),
            other => other,
        })?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

async fn select_persons(
    c: &impl GenericClient,
    cipher: &PersonalDataCipher,
    condition: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Person>, StoreError> {
    let sql = format!("SELECT {} FROM persons {condition}", query::PERSON_COLUMNS);
    let rows = c.query(&sql, params).await?;
    decode_all(rows, person_row, |row| row.open(cipher))
}

async fn select_user(
    c: &impl GenericClient,
    condition: &str,
    param: &(dyn ToSql + Sync),
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {} FROM users u WHERE {condition}", query::USER_COLUMNS);
    let row = c.query_opt(&sql, &[param]).await?;
    row.map(|r| user_row_at(&r, 0).map_err(StoreError::from).and_then(UserRow::decode)).transpose()
}

fn rename_conflict(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what.into()),
        other => other,
    }
}

impl PostgresStore {
    /// Connects a pool to the URL and applies pending migrations.
    pub async fn connect(url: &str, cipher: Arc<PersonalDataCipher>) -> Result<Self, StoreError> {
        let config = connection::connection_config(url)?;
        let manager =
            Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            // The connection used last is taken first: the visit writer's batches then run on one warm
            // backend rather than in turn on every pooled one (gate bench, PostgreSQL: 18–20 k against
            // 14.5–17 k scans/s).
            .queue_mode(deadpool_postgres::QueueMode::Lifo)
            .build()
            .map_err(|e| StoreError::Config(format!("PostgreSQL pool: {e}")))?;
        let store = Self { pool, cipher };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let current: i64 =
            tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.try_get(0)?;
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.batch_execute(sql)
                .await
                .map_err(|e| StoreError::Migration(format!("postgres migration {version}: {e}")))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[version, &Utc::now().timestamp_millis()],
            )
            .await?;
            tracing::info!(version, "applied postgres migration");
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.pool.get().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        let c = self.pool.get().await?;
        Ok(c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?.try_get(0)?)
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let c = self.pool.get().await?;
        let row = c.query_opt("SELECT value FROM meta WHERE key = $1", &[&key]).await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }

    async fn upsert_regions(&self, regions: &[Region]) -> Result<(), StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO regions (code, parent_code, level, name_zh, name_en) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en",
            )
            .await?;
        for r in regions {
            let parent = r.code.parent().map(|p| p.to_string());
            tx.execute(&stmt, &[&r.code.as_str(), &parent, &r.code.level().code(), &r.name_zh, &r.name_en])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_region(&self, code: &RegionCode) -> Result<Region, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_opt("SELECT code, name_zh, name_en FROM regions WHERE code = $1", &[&code.as_str()])
            .await?
            .ok_or(StoreError::NotFound)?;
        region_row(&row)?.decode()
    }

    async fn list_regions(&self, parent: Option<&RegionCode>) -> Result<Vec<Region>, StoreError> {
        let c = self.pool.get().await?;
        let rows = match parent {
            Some(p) => {
                c.query(
                    "SELECT code, name_zh, name_en FROM regions WHERE parent_code = $1 ORDER BY code",
                    &[&p.as_str()],
                )
                .await?
            }
            None => {
                c.query(
                    "SELECT code, name_zh, name_en FROM regions r WHERE parent_code IS NULL
                     OR NOT EXISTS (SELECT 1 FROM regions p WHERE p.code = r.parent_code) ORDER BY code",
                    &[],
                )
                .await?
            }
        };
        decode_all(rows, region_row, RegionRow::decode)
    }

    async fn create_venue(&self, venue: &NewVenue, now: DateTime<Utc>) -> Result<Venue, StoreError> {
        let c = self.pool.get().await?;
        let id = insert_venue(&c, venue, now.timestamp_millis()).await?;
        select_venue(&c, id).await
    }

    async fn create_venues(&self, venues: &[NewVenue], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        for v in venues {
            insert_venue(&tx, v, now.timestamp_millis()).await?;
        }
        tx.commit().await?;
        Ok(venues.len())
    }

    async fn get_venue(&self, id: VenueId) -> Result<Venue, StoreError> {
        let c = self.pool.get().await?;
        select_venue(&c, id.0).await
    }

    async fn get_venues(&self, ids: &[VenueId]) -> Result<Vec<Venue>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|v| v.0).collect();
        let sql = format!(
            "SELECT {} FROM venues v WHERE v.id = ANY($1) AND v.deleted_at IS NULL",
            query::VENUE_COLUMNS
        );
        let c = self.pool.get().await?;
        c.query(&sql, &[&ids]).await?.iter().map(|r| venue_row(r)?.decode()).collect()
    }

    async fn list_venues(&self, filter: &VenueFilter, page: PageRequest) -> Result<Page<Venue>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        w.venue_filter(filter);
        w.after("v.id", page);
        let sql = format!(
            "SELECT {} FROM venues v {} ORDER BY v.id LIMIT {}",
            query::VENUE_COLUMNS,
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let venues = decode_all(rows, venue_row, VenueRow::decode)?;
        Ok(Page::from_rows(venues, page.limit, |v: &Venue| v.id.0))
    }

    async fn update_venue(
        &self,
        id: VenueId,
        u: &VenueUpdate,
        now: DateTime<Utc>,
    ) -> Result<Venue, StoreError> {
        let c = self.pool.get().await?;
        let changed = c
            .execute(
                "UPDATE venues SET name = COALESCE($2, name), category = COALESCE($3, category),
                        region_code = COALESCE($4, region_code), address = COALESCE($5, address),
                        lat = COALESCE($6, lat), lon = COALESCE($7, lon), capacity = COALESCE($8, capacity),
                        updated_at = $9
                 WHERE id = $1 AND deleted_at IS NULL",
                &[
                    &id.0,
                    &u.name,
                    &u.category.map(|c| c.code()),
                    &u.region_code.as_ref().map(|r| r.to_string()),
                    &u.address,
                    &u.lat,
                    &u.lon,
                    &u.capacity,
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        select_venue(&c, id.0).await
    }

    async fn delete_venue(&self, id: VenueId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let changed = c
            .execute(
                "UPDATE venues SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                &[&id.0, &now.timestamp_millis()],
            )
            .await?;
        if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn create_person(&self, person: &NewPerson, now: DateTime<Utc>) -> Result<Person, StoreError> {
        let sealed = EncryptedPerson::seal(&self.cipher, person);
        let c = self.pool.get().await?;
        let id =
            insert_person(&c, &sealed, now.timestamp_millis(), false).await?.ok_or(StoreError::NotFound)?;
        select_persons(&c, &self.cipher, "WHERE id = $1", &[&id]).await?.pop().ok_or(StoreError::NotFound)
    }

    async fn create_persons(&self, persons: &[NewPerson], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let mut inserted = 0;
        for p in persons {
            let sealed = EncryptedPerson::seal(&self.cipher, p);
            inserted +=
                usize::from(insert_person(&tx, &sealed, now.timestamp_millis(), true).await?.is_some());
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn get_person(&self, id: PersonId) -> Result<Person, StoreError> {
        let c = self.pool.get().await?;
        select_persons(&c, &self.cipher, "WHERE id = $1", &[&id.0]).await?.pop().ok_or(StoreError::NotFound)
    }

    async fn get_persons(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|p| p.0).collect();
        let c = self.pool.get().await?;
        select_persons(&c, &self.cipher, "WHERE id = ANY($1)", &[&ids]).await
    }

    async fn find_person_by_id_number(
        &self,
        id_number: &ResidentIdNumber,
    ) -> Result<Option<Person>, StoreError> {
        let bidx = query::id_number_index(&self.cipher, id_number);
        let c = self.pool.get().await?;
        Ok(select_persons(&c, &self.cipher, "WHERE id_number_bidx = $1", &[&bidx]).await?.pop())
    }

    async fn locate_persons(
        &self,
        ids: &[ResidentIdNumber],
    ) -> Result<Vec<Option<(PersonId, RegionCode)>>, StoreError> {
        let indexes: Vec<Vec<u8>> = ids.iter().map(|id| query::id_number_index(&self.cipher, id)).collect();
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT id_number_bidx, id, region_code FROM persons WHERE id_number_bidx = ANY($1)",
                &[&indexes],
            )
            .await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            let bidx: Vec<u8> = r.try_get(0)?;
            let region: String = r.try_get(2)?;
            found.insert(bidx, (PersonId(r.try_get(1)?), query::region_code(&region)?));
        }
        Ok(indexes.iter().map(|i| found.get(i).cloned()).collect())
    }

    async fn find_persons_by_phone(&self, phone: &PhoneNumber) -> Result<Vec<Person>, StoreError> {
        let bidx = query::phone_index(&self.cipher, phone);
        let c = self.pool.get().await?;
        select_persons(&c, &self.cipher, "WHERE phone_bidx = $1 ORDER BY id", &[&bidx]).await
    }

    async fn list_persons(
        &self,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<Person>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        if let Some(r) = region {
            w.region_subtree("region_code", r);
        }
        w.after("id", page);
        let condition = format!("{} ORDER BY id LIMIT {}", w.sql(), page.limit + 1);
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let persons = select_persons(&c, &self.cipher, &condition, &refs(&params)).await?;
        Ok(Page::from_rows(persons, page.limit, |p: &Person| p.id.0))
    }

    async fn create_device(&self, d: &NewDevice, now: DateTime<Utc>) -> Result<Device, StoreError> {
        let c = self.pool.get().await?;
        let live = c
            .query_opt("SELECT 1 FROM venues WHERE id = $1 AND deleted_at IS NULL", &[&d.venue_id.0])
            .await?
            .is_some();
        if !live {
            return Err(StoreError::Reference("device.venue_id".into()));
        }
        let sql = format!(
            "INSERT INTO devices AS d (venue_id, kind, serial, name, created_at) VALUES ($1, $2, $3, $4, $5)
             RETURNING {}",
            query::DEVICE_COLUMNS
        );
        let row = c
            .query_one(&sql, &[&d.venue_id.0, &d.kind.code(), &d.serial, &d.name, &now.timestamp_millis()])
            .await
            .map_err(rename_conflict("device.serial"))?;
        device_row(&row)?.decode()
    }

    async fn get_device(&self, id: DeviceId) -> Result<Device, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!("SELECT {} FROM devices d WHERE d.id = $1", query::DEVICE_COLUMNS);
        let row = c.query_opt(&sql, &[&id.0]).await?.ok_or(StoreError::NotFound)?;
        device_row(&row)?.decode()
    }

    async fn list_devices(
        &self,
        filter: &VenueFilter,
        venue: Option<VenueId>,
        page: PageRequest,
    ) -> Result<Page<Device>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        w.venue_filter(filter);
        if let Some(v) = venue {
            let p = w.bind(SqlValue::Int(v.0));
            w.push(format!("d.venue_id = {p}"));
        }
        w.after("d.id", page);
        let sql = format!(
            "SELECT {} FROM devices d JOIN venues v ON v.id = d.venue_id {} ORDER BY d.id LIMIT {}",
            query::DEVICE_COLUMNS,
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let devices = decode_all(rows, device_row, DeviceRow::decode)?;
        Ok(Page::from_rows(devices, page.limit, |d: &Device| d.id.0))
    }

    async fn create_user(&self, u: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO users (username, password_hash, role, scope, display_name, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                &[
                    &u.username,
                    &u.password_hash,
                    &u.role.code(),
                    &u.scope.to_string(),
                    &u.display_name,
                    &now.timestamp_millis(),
                ],
            )
            .await
            .map_err(rename_conflict("user.username"))?;
        let id: i64 = row.try_get(0)?;
        select_user(&c, "u.id = $1", &id).await?.ok_or(StoreError::NotFound)
    }

    async fn get_user(&self, id: UserId) -> Result<User, StoreError> {
        let c = self.pool.get().await?;
        select_user(&c, "u.id = $1", &id.0).await?.ok_or(StoreError::NotFound)
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let c = self.pool.get().await?;
        select_user(&c, "u.username = $1", &username).await
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {} FROM users u WHERE u.id > $1 ORDER BY u.id LIMIT {}",
            query::USER_COLUMNS,
            page.limit + 1
        );
        let rows = c.query(&sql, &[&page.after.unwrap_or(i64::MIN)]).await?;
        let users = decode_all(rows, |r| user_row_at(r, 0), UserRow::decode)?;
        Ok(Page::from_rows(users, page.limit, |u: &User| u.id.0))
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        let c = self.pool.get().await?;
        Ok(c.query_one("SELECT COUNT(*) FROM users", &[]).await?.try_get(0)?)
    }

    async fn create_token(&self, t: &AuthToken) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute(
            "INSERT INTO auth_tokens (token_hash, user_id, kind, name, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &t.token_hash,
                &t.user_id.0,
                &t.kind.code(),
                &t.name,
                &t.csrf_token,
                &t.created_at.timestamp_millis(),
                &t.expires_at.map(|e| e.timestamp_millis()),
            ],
        )
        .await?;
        Ok(())
    }

    async fn find_token(&self, token_hash: &[u8]) -> Result<Option<(AuthToken, User)>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT t.token_hash, t.user_id, t.kind, t.name, t.csrf_token, t.created_at, t.expires_at, {}
             FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1",
            query::USER_COLUMNS
        );
        let Some(row) = c.query_opt(&sql, &[&token_hash]).await? else {
            return Ok(None);
        };
        Ok(Some((token_row(&row)?.decode()?, user_row_at(&row, 7)?.decode()?)))
    }

    async fn delete_token(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        c.execute("DELETE FROM auth_tokens WHERE token_hash = $1", &[&token_hash]).await?;
        Ok(())
    }

    async fn append_audit(&self, r: &NewAudit) -> Result<i64, StoreError> {
        let c = self.pool.get().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO audit_log (at, actor, action, subject, purpose, detail, request_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .await?;
        let row = c
            .query_one(
                &stmt,
                &[
                    &r.at.timestamp_millis(),
                    &r.actor,
                    &r.action,
                    &r.subject,
                    &r.purpose,
                    &r.detail,
                    &r.request_id,
                ],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let w = query::audit_where(Dialect::Postgres, filter, page);
        let sql = format!(
            "SELECT {} FROM audit_log {} ORDER BY id DESC LIMIT {}",
            query::AUDIT_COLUMNS,
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let records = decode_all(rows, audit_row, AuditRow::decode)?;
        Ok(Page::from_rows(records, page.limit, |a: &AuditRecord| a.id))
    }
}
