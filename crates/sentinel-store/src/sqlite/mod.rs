//! The embedded SQLite backend: one database file in WAL mode, one writer connection and a few readers,
//! each used on Tokio's blocking pool so the async server never waits on disk.

mod cases;
mod credentials;
mod entry;
mod health;
mod outbox;
mod residents;
mod rows;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use sentinel_core::{DeviceId, PersonId, PhoneNumber, RegionCode, ResidentIdNumber, UserId, VenueId};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::*;
use crate::query::{self, Dialect, EncryptedPerson, SqlValue, Where};
use crate::query::{AuditRow, DeviceRow, RegionRow, UserRow, VenueRow};
use crate::{PersonalDataCipher, Store, StoreError};
use rows::*;

/// Embedded migrations, applied in order; each runs once.
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
const READERS: usize = 4;

type Job<T> = Box<dyn FnOnce(&mut Connection, &PersonalDataCipher) -> Result<T, StoreError> + Send>;

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    /// Dropped with the store: stops the checkpointer thread and waits for it.
    _checkpointer: Checkpointer,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
    cipher: Arc<PersonalDataCipher>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // 1 KiB pages (new databases only): every visit lands on a random leaf of the person and idempotency
    // indexes, and a commit writes each page it touched whole into the WAL, so small pages cut the bytes
    // written per visit about threefold (measured: 12 → 4 KiB).
    conn.execute_batch(
        "PRAGMA page_size = 1024;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    Ok(conn)
}

/// How often the WAL is copied back into the database file. Small and often: while a checkpoint
/// writes the database file back and fsyncs it, the writer's appends to the WAL can wait on the disk
/// (seen in kernel stacks: `ext4_block_write_begin` waiting on a buffer's I/O), so a checkpoint's stall
/// grows with what it copies. Measured on the 2-core machine, gate p99 at half load (SQLite): every 1 s
/// 17–106 ms, every 250 ms median 15.6 ms (5.8–29), every 100 ms median 9.5 ms (6.1–23), 19 runs each.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Past this many bytes of WAL the checkpointer works to let the WAL start over.
const WAL_RESTART_BYTES: i64 = 1 << 30;
/// What may be left to copy while holding the writer: a few milliseconds of writing.
const WAL_RESTART_REMAINDER_BYTES: i64 = 2 << 20;

/// The thread that checkpoints the WAL; dropping it stops the thread and waits for it, so the writer
/// connection it shares is released with the store.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the checkpointer. PASSIVE checkpoints never block the writer or the readers, but under writes
/// that never pause they never catch up either, and the WAL only starts over from its beginning once a
/// checkpoint has caught up. So when the WAL has grown past `WAL_RESTART_BYTES`, checkpoints run back to
/// back, and only once little is left is that last stretch copied while holding the writer: a pause of a
/// few tens of milliseconds (its fsync). If the back-to-back checkpoints cannot get there (a reader holds an
/// old snapshot), the writer is left alone and the next tick tries again.
fn start_checkpointer(conn: Connection, writer: Arc<Mutex<Connection>>) -> Result<Checkpointer, StoreError> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let (restart_frames, remainder_frames) =
        (WAL_RESTART_BYTES / page_size.max(512), WAL_RESTART_REMAINDER_BYTES / page_size.max(512));
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let passive = move || -> rusqlite::Result<(i64, i64)> {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))
    };
    let thread = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let mut remaining = match passive() {
                    Ok((frames, copied)) if frames >= restart_frames => frames - copied,
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "sqlite checkpoint failed; retrying");
                        continue;
                    }
                };
                for _ in 0..10 {
                    if remaining <= remainder_frames {
                        break;
                    }
                    remaining = passive().map_or(remaining, |(frames, copied)| frames - copied);
                }
                if remaining > remainder_frames {
                    continue;
                }
                let _writer = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if let Err(e) = passive() {
                    tracing::warn!(error = %e, "sqlite checkpoint failed; retrying");
                }
            }
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpointer: {e}")))?;
    Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 =
        tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration(format!("sqlite migration {version}: {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, Utc::now().timestamp_millis()],
        )?;
        tracing::info!(version, "applied sqlite migration");
    }
    // A bulk load cut short leaves the visit indexes dropped; queries would still be right, only slow.
    cases::create_visit_indexes(&tx)?;
    tx.commit()?;
    Ok(())
}

/// Ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: a list of any length in one parameter.
fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    format!("[{}]", ids.into_iter().map(|id| id.to_string()).collect::<Vec<_>>().join(","))
}

fn values(params: Vec<SqlValue>) -> Vec<Value> {
    params
        .into_iter()
        .map(|p| match p {
            SqlValue::Int(i) => Value::Integer(i),
            SqlValue::Text(s) => Value::Text(s),
        })
        .collect()
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path, cipher: Arc<PersonalDataCipher>) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        // Commits only append to the WAL; copying it back into the database (and the fsync that needs) is
        // the checkpointer's job, so no scan waits for it.
        // The WAL file is not truncated after it starts over: cutting a file of a gigabyte stalls the commit
        // that does it for hundreds of milliseconds, so the space is kept for the next peak.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let readers = (0..READERS).map(|_| connect(path).map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        let writer = Arc::new(Mutex::new(writer));
        let checkpointer = start_checkpointer(connect(path)?, writer.clone())?;
        Ok(Self {
            writer,
            _checkpointer: checkpointer,
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
            cipher,
        })
    }

    async fn read<T: Send + 'static>(&self, job: Job<T>) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        let cipher = self.cipher.clone();
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % readers.len();
        tokio::task::spawn_blocking(move || {
            let mut conn = readers[i].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            job(&mut conn, &cipher)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite task: {e}")))?
    }

    async fn write<T: Send + 'static>(&self, job: Job<T>) -> Result<T, StoreError> {
        let writer = self.writer.clone();
        let cipher = self.cipher.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            job(&mut conn, &cipher)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("sqlite task: {e}")))?
    }
}

fn insert_venue(conn: &Connection, v: &NewVenue, now: i64) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO venues (name, category, region_code, address, lat, lon, capacity, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![v.name, v.category.code(), v.region_code.as_str(), v.address, v.lat, v.lon, v.capacity, now])?;
    Ok(conn.last_insert_rowid())
}

fn select_venue(conn: &Connection, id: i64) -> Result<Venue, StoreError> {
    let sql =
        format!("SELECT {} FROM venues v WHERE v.id = ?1 AND v.deleted_at IS NULL", query::VENUE_COLUMNS);
    conn.query_row(&sql, [id], venue_row)?.decode()
}

/// Inserts one person; `Ok(None)` when the ID number exists and `skip_existing` is set.
fn insert_person(
    conn: &Connection,
    p: &EncryptedPerson,
    now: i64,
    skip_existing: bool,
) -> Result<Option<i64>, StoreError> {
    let verb = if skip_existing { "INSERT OR IGNORE" } else { "INSERT" };
    let changed = conn
        .prepare_cached(&format!(
            "{verb} INTO persons (region_code, id_number_enc, id_number_bidx, name_enc, phone_enc, phone_bidx,
                                  address_enc, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))?
        .execute(params![
            p.region_code,
            p.id_number_enc,
            p.id_number_bidx,
            p.name_enc,
            p.phone_enc,
            p.phone_bidx,
            p.address_enc,
            now
        ])
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict("person.id_number".into()),
            other => other,
        })?;
    Ok((changed == 1).then(|| conn.last_insert_rowid()))
}

fn select_persons(
    conn: &Connection,
    cipher: &PersonalDataCipher,
    condition: &str,
    params: Vec<Value>,
) -> Result<Vec<Person>, StoreError> {
    let sql = format!("SELECT {} FROM persons {condition}", query::PERSON_COLUMNS);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(params), person_row)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|row| row.open(cipher))).collect()
}

fn select_user(conn: &Connection, condition: &str, param: Value) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {} FROM users u WHERE {condition}", query::USER_COLUMNS);
    conn.query_row(&sql, [param], user_row).optional()?.map(UserRow::decode).transpose()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(Box::new(|c, _| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?))).await
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(Box::new(|c, _| {
            Ok(c.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?)
        }))
        .await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.read(Box::new(move |c, _| {
            Ok(c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        }))
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        }))
        .await
    }

    async fn upsert_regions(&self, regions: &[Region]) -> Result<(), StoreError> {
        let regions = regions.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO regions (code, parent_code, level, name_zh, name_en) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (code) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en",
                )?;
                for r in &regions {
                    stmt.execute(params![
                        r.code.as_str(),
                        r.code.parent().map(|p| p.to_string()),
                        r.code.level().code(),
                        r.name_zh,
                        r.name_en
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        }))
        .await
    }

    async fn get_region(&self, code: &RegionCode) -> Result<Region, StoreError> {
        let code = code.to_string();
        self.read(Box::new(move |c, _| {
            c.query_row("SELECT code, name_zh, name_en FROM regions WHERE code = ?1", [code], region_row)?
                .decode()
        }))
        .await
    }

    async fn list_regions(&self, parent: Option<&RegionCode>) -> Result<Vec<Region>, StoreError> {
        let parent = parent.map(|p| p.to_string());
        self.read(Box::new(move |c, _| {
            let (sql, params): (&str, Vec<Value>) = match parent {
                Some(p) => (
                    "SELECT code, name_zh, name_en FROM regions WHERE parent_code = ?1 ORDER BY code",
                    vec![Value::Text(p)],
                ),
                None => (
                    "SELECT code, name_zh, name_en FROM regions r WHERE parent_code IS NULL
                     OR NOT EXISTS (SELECT 1 FROM regions p WHERE p.code = r.parent_code) ORDER BY code",
                    vec![],
                ),
            };
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(params_from_iter(params), region_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(RegionRow::decode)).collect()
        }))
        .await
    }

    async fn create_venue(&self, venue: &NewVenue, now: DateTime<Utc>) -> Result<Venue, StoreError> {
        let venue = venue.clone();
        self.write(Box::new(move |c, _| {
            let id = insert_venue(c, &venue, now.timestamp_millis())?;
            select_venue(c, id)
        }))
        .await
    }

    async fn create_venues(&self, venues: &[NewVenue], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let venues = venues.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            for v in &venues {
                insert_venue(&tx, v, now.timestamp_millis())?;
            }
            tx.commit()?;
            Ok(venues.len())
        }))
        .await
    }

    async fn get_venue(&self, id: VenueId) -> Result<Venue, StoreError> {
        self.read(Box::new(move |c, _| select_venue(c, id.0))).await
    }

    async fn get_venues(&self, ids: &[VenueId]) -> Result<Vec<Venue>, StoreError> {
        let list = id_list(ids.iter().map(|v| v.0));
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {} FROM venues v WHERE v.id IN (SELECT value FROM json_each(?1)) AND v.deleted_at IS NULL",
                query::VENUE_COLUMNS
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([list], venue_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(VenueRow::decode)).collect()
        }))
        .await
    }

    async fn list_venues(&self, filter: &VenueFilter, page: PageRequest) -> Result<Page<Venue>, StoreError> {
        let filter = filter.clone();
        self.read(Box::new(move |c, _| {
            let mut w = Where::new(Dialect::Sqlite);
            w.venue_filter(&filter);
            w.after("v.id", page);
            let sql = format!(
                "SELECT {} FROM venues v {} ORDER BY v.id LIMIT {}",
                query::VENUE_COLUMNS,
                w.sql(),
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), venue_row)?;
            let venues = rows
                .map(|r| r.map_err(StoreError::from).and_then(VenueRow::decode))
                .collect::<Result<_, _>>()?;
            Ok(Page::from_rows(venues, page.limit, |v: &Venue| v.id.0))
        }))
        .await
    }

    async fn update_venue(
        &self,
        id: VenueId,
        u: &VenueUpdate,
        now: DateTime<Utc>,
    ) -> Result<Venue, StoreError> {
        let u = u.clone();
        self.write(Box::new(move |c, _| {
            let changed = c.execute(
                "UPDATE venues SET name = COALESCE(?2, name), category = COALESCE(?3, category),
                        region_code = COALESCE(?4, region_code), address = COALESCE(?5, address),
                        lat = COALESCE(?6, lat), lon = COALESCE(?7, lon), capacity = COALESCE(?8, capacity),
                        updated_at = ?9
                 WHERE id = ?1 AND deleted_at IS NULL",
                params![
                    id.0,
                    u.name,
                    u.category.map(|c| c.code()),
                    u.region_code.as_ref().map(|r| r.to_string()),
                    u.address,
                    u.lat,
                    u.lon,
                    u.capacity,
                    now.timestamp_millis()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            select_venue(c, id.0)
        }))
        .await
    }

    async fn delete_venue(&self, id: VenueId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| {
            let changed = c.execute(
                "UPDATE venues SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                params![id.0, now.timestamp_millis()],
            )?;
            if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        }))
        .await
    }

    async fn create_person(&self, person: &NewPerson, now: DateTime<Utc>) -> Result<Person, StoreError> {
        let person = person.clone();
        self.write(Box::new(move |c, cipher| {
            let sealed = EncryptedPerson::seal(cipher, &person);
            let id = insert_person(c, &sealed, now.timestamp_millis(), false)?.ok_or(StoreError::NotFound)?;
            select_persons(c, cipher, "WHERE id = ?1", vec![Value::Integer(id)])?
                .pop()
                .ok_or(StoreError::NotFound)
        }))
        .await
    }

    async fn create_persons(&self, persons: &[NewPerson], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let persons = persons.to_vec();
        self.write(Box::new(move |c, cipher| {
            let tx = c.transaction()?;
            let mut inserted = 0;
            for p in &persons {
                let sealed = EncryptedPerson::seal(cipher, p);
                inserted += usize::from(insert_person(&tx, &sealed, now.timestamp_millis(), true)?.is_some());
            }
            tx.commit()?;
            Ok(inserted)
        }))
        .await
    }

    async fn get_person(&self, id: PersonId) -> Result<Person, StoreError> {
        self.read(Box::new(move |c, cipher| {
            select_persons(c, cipher, "WHERE id = ?1", vec![Value::Integer(id.0)])?
                .pop()
                .ok_or(StoreError::NotFound)
        }))
        .await
    }

    async fn get_persons(&self, ids: &[PersonId]) -> Result<Vec<Person>, StoreError> {
        let list = id_list(ids.iter().map(|p| p.0));
        self.read(Box::new(move |c, cipher| {
            select_persons(
                c,
                cipher,
                "WHERE id IN (SELECT value FROM json_each(?1))",
                vec![Value::Text(list)],
            )
        }))
        .await
    }

    async fn find_person_by_id_number(
        &self,
        id_number: &ResidentIdNumber,
    ) -> Result<Option<Person>, StoreError> {
        let bidx = query::id_number_index(&self.cipher, id_number);
        self.read(Box::new(move |c, cipher| {
            Ok(select_persons(c, cipher, "WHERE id_number_bidx = ?1", vec![Value::Blob(bidx)])?.pop())
        }))
        .await
    }

    async fn locate_persons(
        &self,
        ids: &[ResidentIdNumber],
    ) -> Result<Vec<Option<(PersonId, RegionCode)>>, StoreError> {
        let indexes: Vec<Vec<u8>> = ids.iter().map(|id| query::id_number_index(&self.cipher, id)).collect();
        self.read(Box::new(move |c, _| {
            let mut stmt =
                c.prepare_cached("SELECT id, region_code FROM persons WHERE id_number_bidx = ?1")?;
            indexes
                .iter()
                .map(|bidx| {
                    let row = stmt
                        .query_row([bidx], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                        .optional()?;
                    row.map(|(id, region)| Ok((PersonId(id), query::region_code(&region)?))).transpose()
                })
                .collect()
        }))
        .await
    }

    async fn find_persons_by_phone(&self, phone: &PhoneNumber) -> Result<Vec<Person>, StoreError> {
        let bidx = query::phone_index(&self.cipher, phone);
        self.read(Box::new(move |c, cipher| {
            select_persons(c, cipher, "WHERE phone_bidx = ?1 ORDER BY id", vec![Value::Blob(bidx)])
        }))
        .await
    }

    async fn list_persons(
        &self,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<Person>, StoreError> {
        let region = region.cloned();
        self.read(Box::new(move |c, cipher| {
            let mut w = Where::new(Dialect::Sqlite);
            if let Some(r) = &region {
                w.region_subtree("region_code", r);
            }
            w.after("id", page);
            let condition = format!("{} ORDER BY id LIMIT {}", w.sql(), page.limit + 1);
            let persons = select_persons(c, cipher, &condition, values(w.params))?;
            Ok(Page::from_rows(persons, page.limit, |p: &Person| p.id.0))
        }))
        .await
    }

    async fn create_device(&self, device: &NewDevice, now: DateTime<Utc>) -> Result<Device, StoreError> {
        let d = device.clone();
        self.write(Box::new(move |c, _| {
            let live: bool = c
                .query_row("SELECT deleted_at IS NULL FROM venues WHERE id = ?1", [d.venue_id.0], |r| {
                    r.get(0)
                })
                .optional()?
                .unwrap_or(false);
            if !live {
                return Err(StoreError::Reference("device.venue_id".into()));
            }
            c.execute(
                "INSERT INTO devices (venue_id, kind, serial, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![d.venue_id.0, d.kind.code(), d.serial, d.name, now.timestamp_millis()],
            )
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict("device.serial".into()),
                other => other,
            })?;
            let sql = format!("SELECT {} FROM devices d WHERE d.id = ?1", query::DEVICE_COLUMNS);
            c.query_row(&sql, [c.last_insert_rowid()], device_row)?.decode()
        }))
        .await
    }

    async fn get_device(&self, id: DeviceId) -> Result<Device, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!("SELECT {} FROM devices d WHERE d.id = ?1", query::DEVICE_COLUMNS);
            c.query_row(&sql, [id.0], device_row)?.decode()
        }))
        .await
    }

    async fn list_devices(
        &self,
        filter: &VenueFilter,
        venue: Option<VenueId>,
        page: PageRequest,
    ) -> Result<Page<Device>, StoreError> {
        let filter = filter.clone();
        self.read(Box::new(move |c, _| {
            let mut w = Where::new(Dialect::Sqlite);
            w.venue_filter(&filter);
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
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), device_row)?;
            let devices = rows
                .map(|r| r.map_err(StoreError::from).and_then(DeviceRow::decode))
                .collect::<Result<_, _>>()?;
            Ok(Page::from_rows(devices, page.limit, |d: &Device| d.id.0))
        }))
        .await
    }

    async fn create_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        let u = user.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO users (username, password_hash, role, scope, display_name, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    u.username,
                    u.password_hash,
                    u.role.code(),
                    u.scope.to_string(),
                    u.display_name,
                    now.timestamp_millis()
                ],
            )
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict("user.username".into()),
                other => other,
            })?;
            select_user(c, "u.id = ?1", Value::Integer(c.last_insert_rowid()))?.ok_or(StoreError::NotFound)
        }))
        .await
    }

    async fn get_user(&self, id: UserId) -> Result<User, StoreError> {
        self.read(Box::new(move |c, _| {
            select_user(c, "u.id = ?1", Value::Integer(id.0))?.ok_or(StoreError::NotFound)
        }))
        .await
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        let username = username.to_owned();
        self.read(Box::new(move |c, _| select_user(c, "u.username = ?1", Value::Text(username)))).await
    }

    async fn list_users(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {} FROM users u WHERE u.id > ?1 ORDER BY u.id LIMIT {}",
                query::USER_COLUMNS,
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([page.after.unwrap_or(i64::MIN)], user_row)?;
            let users = rows
                .map(|r| r.map_err(StoreError::from).and_then(UserRow::decode))
                .collect::<Result<_, _>>()?;
            Ok(Page::from_rows(users, page.limit, |u: &User| u.id.0))
        }))
        .await
    }

    async fn count_users(&self) -> Result<i64, StoreError> {
        self.read(Box::new(|c, _| Ok(c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?))).await
    }

    async fn create_token(&self, t: &AuthToken) -> Result<(), StoreError> {
        let t = t.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO auth_tokens (token_hash, user_id, kind, name, csrf_token, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    t.token_hash,
                    t.user_id.0,
                    t.kind.code(),
                    t.name,
                    t.csrf_token,
                    t.created_at.timestamp_millis(),
                    t.expires_at.map(|e| e.timestamp_millis())
                ],
            )?;
            Ok(())
        }))
        .await
    }

    async fn find_token(&self, token_hash: &[u8]) -> Result<Option<(AuthToken, User)>, StoreError> {
        let hash = token_hash.to_vec();
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT t.token_hash, t.user_id, t.kind, t.name, t.csrf_token, t.created_at, t.expires_at, {}
                 FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
                query::USER_COLUMNS
            );
            let found = c.query_row(&sql, [hash], |r| Ok((token_row(r)?, user_row_at(r, 7)?))).optional()?;
            found.map(|(t, u)| Ok((t.decode()?, u.decode()?))).transpose()
        }))
        .await
    }

    async fn delete_token(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let hash = token_hash.to_vec();
        self.write(Box::new(move |c, _| {
            c.execute("DELETE FROM auth_tokens WHERE token_hash = ?1", [hash])?;
            Ok(())
        }))
        .await
    }

    async fn append_audit(&self, r: &NewAudit) -> Result<i64, StoreError> {
        let r = r.clone();
        self.write(Box::new(move |c, _| {
            c.prepare_cached(
                "INSERT INTO audit_log (at, actor, action, subject, purpose, detail, request_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                r.at.timestamp_millis(),
                r.actor,
                r.action,
                r.subject,
                r.purpose,
                r.detail,
                r.request_id
            ])?;
            Ok(c.last_insert_rowid())
        }))
        .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditRecord>, StoreError> {
        let filter = filter.clone();
        self.read(Box::new(move |c, _| {
            let w = query::audit_where(Dialect::Sqlite, &filter, page);
            let sql = format!(
                "SELECT {} FROM audit_log {} ORDER BY id DESC LIMIT {}",
                query::AUDIT_COLUMNS,
                w.sql(),
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), audit_row)?;
            let records = rows
                .map(|r| r.map_err(StoreError::from).and_then(AuditRow::decode))
                .collect::<Result<_, _>>()?;
            Ok(Page::from_rows(records, page.limit, |a: &AuditRecord| a.id))
        }))
        .await
    }
}
