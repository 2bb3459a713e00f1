//! PostgreSQL implementation of the entry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use sentinel_core::{DeviceId, PersonId, RegionCode};
use tokio_postgres::Row;

use super::rows::{device_row, venue_row_at};
use super::{PostgresStore, boxed, refs};
use crate::entry_rows::*;
use crate::model::{Device, Page, PageRequest, Venue};
use crate::query::{self, Dialect, Where};
use sentinel_core::Scope;

use crate::{
    Alert, AlertFilter, AlertStatus, EntryStore, NewAlert, NewUnvaccinated, NewVisit, PolicyRecord,
    PolicyScope, PolicyStatus, RecordedVisit, StoreError, Unvaccinated, Visit, VisitFilter,
};

type R<T> = Result<T, tokio_postgres::Error>;

fn policy_row(r: &Row) -> R<PolicyRow> {
    Ok(PolicyRow {
        id: r.try_get(0)?,
        scope_kind: r.try_get(1)?,
        scope_value: r.try_get(2)?,
        version: r.try_get(3)?,
        body: r.try_get(4)?,
        status: r.try_get(5)?,
        effective_from: r.try_get(6)?,
        created_by: r.try_get(7)?,
        created_at: r.try_get(8)?,
        published_by: r.try_get(9)?,
        published_at: r.try_get(10)?,
    })
}

fn visit_row(r: &Row) -> R<VisitRow> {
    Ok(VisitRow {
        id: r.try_get(0)?,
        person_id: r.try_get(1)?,
        venue_id: r.try_get(2)?,
        device_id: r.try_get(3)?,
        channel: r.try_get(4)?,
        entered_at: r.try_get(5)?,
        left_at: r.try_get(6)?,
        outcome: r.try_get(7)?,
        reasons: r.try_get(8)?,
        policy_id: r.try_get(9)?,
        temperature_c: r.try_get(10)?,
        mask: r.try_get(11)?,
        registrar: r.try_get(12)?,
        category: r.try_get(13)?,
        prompt_zh: r.try_get(14)?,
        prompt_en: r.try_get(15)?,
        policy_version: r.try_get(16)?,
    })
}

fn alert_row(r: &Row) -> R<AlertRow> {
    Ok(AlertRow {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        visit_id: r.try_get(2)?,
        venue_id: r.try_get(3)?,
        person_id: r.try_get(4)?,
        region_code: r.try_get(5)?,
        status: r.try_get(6)?,
        created_at: r.try_get(7)?,
        acknowledged_at: r.try_get(8)?,
        acknowledged_by: r.try_get(9)?,
        resolved_at: r.try_get(10)?,
        resolved_by: r.try_get(11)?,
        note: r.try_get(12)?,
        level: r.try_get(13)?,
    })
}

async fn select_policy(c: &impl GenericClient, id: i64) -> Result<PolicyRecord, StoreError> {
    let row = c
        .query_opt(&format!("SELECT {POLICY_COLUMNS} FROM policies WHERE id = $1"), &[&id])
        .await?
        .ok_or(StoreError::NotFound)?;
    policy_row(&row)?.decode()
}

async fn select_alert(c: &impl GenericClient, id: i64) -> Result<Alert, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = $1");
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    alert_row(&row)?.decode()
}

/// The visit columns a batch binds as arrays, in this order, as a table `i` in input order (`ord`).
macro_rules! unnested_visits {
    () => {
        "unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[],
                $8::bigint[], $9::float8[], $10::bool[], $11::text[], $12::text[], $13::text[], $14::text[],
                $15::text[])
         WITH ORDINALITY AS i(person_id, venue_id, device_id, channel, entered_at, outcome, reasons, policy_id,
                              temperature_c, mask, idempotency_key, registrar, prompt_zh, prompt_en,
                              policy_version, ord)"
    };
}

/// Whether a batch may hold keys stored before.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Assumed new (nearly every batch): a plain INSERT, without ON CONFLICT's speculative insertion
    /// (about a quarter of the database's CPU for a batch of 30 in pgbench). A stored key fails the
    /// whole statement with a unique violation, and the batch is written again as `MaybeRetried`.
    New,
    /// ON CONFLICT DO NOTHING, and the visits stored earlier under the retried keys read back.
    MaybeRetried,
}

/// Inserts a batch's visits in one statement (arrays unnested: one parse, plan and executor start for
/// the whole batch, where a statement per visit cost the database more CPU than the gate itself). Ids come
/// from the visits' sequence in input order, so each row is matched to its scan without relying on the
/// order of RETURNING. Returns each visit's id and whether it was new.
async fn insert_visits(
    c: &impl GenericClient,
    visits: &[NewVisit],
    keys: Keys,
) -> Result<Vec<(i64, bool)>, StoreError> {
    let sql = match keys {
        // nextval is evaluated as the rows leave the sort, so the ids ascend in input order.
        Keys::New => concat!(
            "INSERT INTO visits (id, person_id, venue_id, device_id, channel, entered_at, outcome, reasons,
                                 policy_id, temperature_c, mask, idempotency_key, registrar, prompt_zh,
                                 prompt_en, policy_version)
             SELECT nextval('visits_id_seq'), person_id, venue_id, device_id, channel, entered_at, outcome,
                    reasons, policy_id, temperature_c, mask, idempotency_key, registrar, prompt_zh, prompt_en,
                    policy_version
             FROM (SELECT * FROM ",
            unnested_visits!(),
            " ORDER BY ord) AS input
             RETURNING id"
        ),
        Keys::MaybeRetried => concat!(
            "WITH input AS MATERIALIZED (SELECT nextval('visits_id_seq') AS id, i.* FROM ",
            unnested_visits!(),
            "),
             inserted AS (
                 INSERT INTO visits (id, person_id, venue_id, device_id, channel, entered_at, outcome, reasons,
                                     policy_id, temperature_c, mask, idempotency_key, registrar, prompt_zh,
                                     prompt_en, policy_version)
                 SELECT id, person_id, venue_id, device_id, channel, entered_at, outcome, reasons, policy_id,
                        temperature_c, mask, idempotency_key, registrar, prompt_zh, prompt_en, policy_version
                 FROM input ORDER BY ord
                 ON CONFLICT (device_id, idempotency_key) DO NOTHING
                 RETURNING id
             )
             SELECT input.id, inserted.id IS NOT NULL FROM input LEFT JOIN inserted USING (id) ORDER BY input.ord"
        ),
    };
    let stmt = c.prepare_cached(sql).await?;
    let column = |f: &dyn Fn(&NewVisit) -> Option<i64>| visits.iter().map(f).collect::<Vec<_>>();
    let person_ids = column(&|v| v.person_id.map(|p| p.0));
    let venue_ids = column(&|v| Some(v.venue_id.0));
    let device_ids = column(&|v| v.device_id.map(|d| d.0));
    let entered = column(&|v| Some(v.entered_at.timestamp_millis()));
    let policy_ids = column(&|v| v.policy_id);
    let text = |f: &dyn Fn(&NewVisit) -> Option<&str>| visits.iter().map(f).collect::<Vec<_>>();
    let reasons: Vec<String> = visits.iter().map(|v| join_reasons(&v.reasons)).collect();
    let temperatures: Vec<Option<f64>> = visits.iter().map(|v| v.temperature_c.map(f64::from)).collect();
    let masks: Vec<Option<bool>> = visits.iter().map(|v| v.mask).collect();
    let rows = c
        .query(
            &stmt,
            &[
                &person_ids,
                &venue_ids,
                &device_ids,
                &text(&|v| Some(v.channel.as_str())),
                &entered,
                &text(&|v| Some(v.outcome.as_str())),
                &reasons,
                &policy_ids,
                &temperatures,
                &masks,
                &text(&|v| v.idempotency_key.as_deref()),
                &text(&|v| v.registrar.as_deref()),
                &text(&|v| v.prompt.as_ref().map(|p| p.0.as_str())),
                &text(&|v| v.prompt.as_ref().map(|p| p.1.as_str())),
                &text(&|v| Some(v.policy_version.as_str())),
            ],
        )
        .await?;
    if keys == Keys::New {
        if rows.len() != visits.len() {
            return Err(StoreError::Backend(format!("{} visits inserted of {}", rows.len(), visits.len())));
        }
        let mut ids = rows.iter().map(|r| r.try_get::<_, i64>(0)).collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        return Ok(ids.into_iter().map(|id| (id, true)).collect());
    }
    let mut ids = rows
        .iter()
        .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, bool>(1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()?;
    // A retried key: the visit stored before (by an earlier batch, another node, or earlier in this one),
    // read in a new statement so rows committed meanwhile are seen.
    let retried: Vec<usize> = (0..ids.len()).filter(|&i| !ids[i].1).collect();
    if !retried.is_empty() {
        let devices: Vec<Option<i64>> = retried.iter().map(|&i| device_ids[i]).collect();
        let keys: Vec<Option<&str>> = retried.iter().map(|&i| visits[i].idempotency_key.as_deref()).collect();
        let stmt = c
            .prepare_cached(
                "SELECT v.device_id, v.idempotency_key, v.id FROM visits v
                 JOIN unnest($1::bigint[], $2::text[]) AS k(device_id, idempotency_key)
                   ON v.device_id = k.device_id AND v.idempotency_key = k.idempotency_key",
            )
            .await?;
        let mut earlier = std::collections::HashMap::new();
        for r in c.query(&stmt, &[&devices, &keys]).await? {
            let key: (Option<i64>, Option<String>) = (r.try_get(0)?, r.try_get(1)?);
            earlier.insert(key, r.try_get::<_, i64>(2)?);
        }
        for i in retried {
            let key = (device_ids[i], visits[i].idempotency_key.clone());
            let id = earlier
                .get(&key)
                .ok_or_else(|| StoreError::Backend("a retried visit's earlier row is missing".into()))?;
            ids[i].0 = *id;
        }
    }
    Ok(ids)
}

/// Inserts the alerts of a batch's new visits and owes each to the webhooks that hear it at once (the
/// whole deployment's, and region hooks whose rank is the raising region's), in one statement; returns the
/// alert ids in order.
async fn insert_visit_alerts(
    c: &impl GenericClient,
    alerts: &[(&NewAlert, i64, &NewVisit)],
) -> Result<Vec<i64>, StoreError> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH input AS MATERIALIZED (
                 SELECT nextval('alerts_id_seq') AS id, i.*
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[])
                      WITH ORDINALITY AS i(kind, visit_id, venue_id, person_id, region_code, created_at, ord)
             ),
             inserted AS (
                 INSERT INTO alerts (id, kind, visit_id, venue_id, person_id, region_code, status, created_at)
                 SELECT id, kind, visit_id, venue_id, person_id, region_code, 'open', created_at
                 FROM input ORDER BY ord
                 RETURNING id
             ),
             owed AS (
                 INSERT INTO outbox (webhook_id, alert_id, next_attempt_at)
                 SELECT w.id, input.id, input.created_at FROM input JOIN webhooks w
                   ON w.active AND (w.region_prefix IS NULL
                                    OR (input.region_code LIKE w.region_prefix || '%' AND w.audience_level = {}))
             )
             SELECT input.id FROM input JOIN inserted USING (id) ORDER BY input.ord",
            query::region_rank("input.region_code")
        )
    });
    let stmt = c.prepare_cached(&SQL).await?;
    let kinds: Vec<&str> = alerts.iter().map(|(a, _, _)| a.kind.as_str()).collect();
    let visit_ids: Vec<i64> = alerts.iter().map(|(_, id, _)| *id).collect();
    let venue_ids: Vec<i64> = alerts.iter().map(|(_, _, v)| v.venue_id.0).collect();
    let person_ids: Vec<Option<i64>> = alerts.iter().map(|(_, _, v)| v.person_id.map(|p| p.0)).collect();
    let regions: Vec<&str> = alerts.iter().map(|(a, _, _)| a.region_code.as_str()).collect();
    let created: Vec<i64> = alerts.iter().map(|(_, _, v)| v.entered_at.timestamp_millis()).collect();
    let rows = c.query(&stmt, &[&kinds, &visit_ids, &venue_ids, &person_ids, &regions, &created]).await?;
    Ok(rows.iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?)
}

/// Inserts an open alert and owes it to every active webhook, in the caller's transaction; returns its id.
async fn insert_alert(
    c: &impl GenericClient,
    kind: &str,
    visit_id: Option<i64>,
    venue_id: i64,
    person_id: Option<PersonId>,
    region: &RegionCode,
    at: i64,
) -> Result<i64, StoreError> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO alerts (kind, visit_id, venue_id, person_id, region_code, status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'open', $6) RETURNING id",
        )
        .await?;
    let row = c
        .query_one(&stmt, &[&kind, &visit_id, &venue_id, &person_id.map(|p| p.0), &region.as_str(), &at])
        .await?;
    let alert_id: i64 = row.try_get(0)?;
    static OWE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO outbox (webhook_id, alert_id, next_attempt_at) SELECT id, $1, $2 FROM webhooks
             WHERE active AND (region_prefix IS NULL OR ($3 LIKE region_prefix || '%' AND audience_level = {}))",
            query::region_rank("$3::text")
        )
    });
    let stmt = c.prepare_cached(&OWE).await?;
    c.execute(&stmt, &[&alert_id, &at, &region.as_str()]).await?;
    Ok(alert_id)
}

fn unvaccinated_row(r: &Row) -> R<UnvaccinatedRow> {
    Ok(UnvaccinatedRow {
        id: r.try_get(0)?,
        venue_id: r.try_get(1)?,
        person_id: r.try_get(2)?,
        name_enc: r.try_get(3)?,
        phone_enc: r.try_get(4)?,
        address_enc: r.try_get(5)?,
        home_region: r.try_get(6)?,
        reason: r.try_get(7)?,
        registrar: r.try_get(8)?,
        alert_id: r.try_get(9)?,
        created_at: r.try_get(10)?,
    })
}

/// SQLSTATE of a transaction PostgreSQL aborted to break a deadlock.
const DEADLOCK: &str = "40P01";
const DEADLOCK_RETRIES: u32 = 5;

/// One batch of visits in one transaction, first as new keys, again as possible retries if a key was
/// stored before (the failed statement left nothing behind).
async fn record_batch(store: &PostgresStore, visits: &[NewVisit]) -> Result<Vec<RecordedVisit>, StoreError> {
    match record_batch_as(store, visits, Keys::New).await {
        Err(StoreError::Conflict(_)) => record_batch_as(store, visits, Keys::MaybeRetried).await,
        other => other,
    }
}

/// One batch of visits in one transaction: the visits in one statement, their alerts (and what the
/// webhooks are owed) in another.
async fn record_batch_as(
    store: &PostgresStore,
    visits: &[NewVisit],
    keys: Keys,
) -> Result<Vec<RecordedVisit>, StoreError> {
    let mut c = store.pool.get().await?;
    if visits.iter().all(|v| v.alerts.is_empty()) {
        // One statement is its own transaction: no BEGIN and COMMIT round trips for a batch without alerts
        // (most of a gate's).
        let ids = insert_visits(&c, visits, keys).await?;
        let recorded = ids
            .into_iter()
            .map(|(visit_id, new)| RecordedVisit { visit_id, duplicate: !new, alert_ids: Vec::new() })
            .collect();
        return Ok(recorded);
    }
    let tx = c.transaction().await?;
    let ids = insert_visits(&tx, visits, keys).await?;
    let alerts: Vec<(&NewAlert, i64, &NewVisit)> = visits
        .iter()
        .zip(&ids)
        .filter(|(_, (_, new))| *new)
        .flat_map(|(v, (id, _))| v.alerts.iter().map(move |a| (a, *id, v)))
        .collect();
    let mut alert_ids = insert_visit_alerts(&tx, &alerts).await?.into_iter();
    let recorded = visits
        .iter()
        .zip(ids)
        .map(|(v, (visit_id, new))| RecordedVisit {
            visit_id,
            duplicate: !new,
            alert_ids: if new { alert_ids.by_ref().take(v.alerts.len()).collect() } else { Vec::new() },
        })
        .collect();
    tx.commit().await?;
    Ok(recorded)
}

#[async_trait]
impl EntryStore for PostgresStore {
    async fn register_unvaccinated(
        &self,
        r: &NewUnvaccinated,
        now: DateTime<Utc>,
    ) -> Result<(Unvaccinated, bool), StoreError> {
        let [name_f, phone_f, address_f] = UNVACCINATED_FIELDS;
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let at = now.timestamp_millis();
        let select =
            format!("SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u WHERE u.id = $1");
        // The registration first: the unique index on (venue, key) tells a retry (a concurrent one waits for
        // the first to commit) before anything is reported.
        let inserted = tx
            .query_opt(
                "INSERT INTO unvaccinated_registrations (venue_id, person_id, name_enc, phone_enc, address_enc, home_region,
                                                         reason, registrar, created_at, idempotency_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (venue_id, idempotency_key) DO NOTHING RETURNING id",
                &[
                    &r.venue_id.0,
                    &r.person_id.map(|p| p.0),
                    &self.cipher.encrypt(name_f, &r.name),
                    &r.phone.as_ref().map(|p| self.cipher.encrypt(phone_f, p)),
                    &r.address.as_ref().map(|a| self.cipher.encrypt(address_f, a)),
                    &r.home_region.as_str(),
                    &r.reason,
                    &r.registrar,
                    &at,
                    &r.idempotency_key,
                ],
            )
            .await?;
        let Some(inserted) = inserted else {
            let sql = format!(
                "SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u
                 WHERE u.venue_id = $1 AND u.idempotency_key = $2"
            );
            let row = tx.query_one(&sql, &[&r.venue_id.0, &r.idempotency_key]).await?;
            return Ok((unvaccinated_row(&row)?.decode(&self.cipher)?, true));
        };
        let id: i64 = inserted.try_get(0)?;
        let alert_id = insert_alert(
            &tx,
            "unvaccinated_report",
            None,
            r.venue_id.0,
            r.person_id,
            &r.home_region.community(),
            at,
        )
        .await?;
        tx.execute("UPDATE unvaccinated_registrations SET alert_id = $2 WHERE id = $1", &[&id, &alert_id])
            .await?;
        let row = tx.query_one(&select, &[&id]).await?;
        let registration = unvaccinated_row(&row)?.decode(&self.cipher)?;
        tx.commit().await?;
        Ok((registration, false))
    }

    async fn list_unvaccinated(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<Unvaccinated>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        unvaccinated_where(&mut w, scope);
        if let Some(before) = page.after {
            let p = w.bind(query::SqlValue::Int(before));
            w.push(format!("u.id < {p}"));
        }
        let sql = format!(
            "SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u JOIN venues v ON v.id = u.venue_id {} ORDER BY u.id DESC LIMIT {}",
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let items =
            rows.iter().map(|r| unvaccinated_row(r)?.decode(&self.cipher)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(items, page.limit, |u: &Unvaccinated| u.id))
    }

    async fn create_policy(
        &self,
        scope: &PolicyScope,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Serialise version numbering per scope between nodes.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            &[&format!("policy:{}:{}", scope.kind(), scope.value())],
        )
        .await?;
        let version: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM policies WHERE scope_kind = $1 AND scope_value = $2",
                &[&scope.kind(), &scope.value()],
            )
            .await?
            .try_get(0)?;
        let row = tx
            .query_one(
                "INSERT INTO policies (scope_kind, scope_value, version, body, status, created_by, created_at)
                 VALUES ($1, $2, $3, $4, 'draft', $5, $6) RETURNING id",
                &[&scope.kind(), &scope.value(), &version, &body, &by, &now.timestamp_millis()],
            )
            .await?;
        let policy = select_policy(&tx, row.try_get(0)?).await?;
        tx.commit().await?;
        Ok(policy)
    }

    async fn publish_policy(
        &self,
        id: i64,
        effective_from: DateTime<Utc>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError> {
        let c = self.pool.get().await?;
        let changed = c
            .execute(
                "UPDATE policies SET status = $2, effective_from = $3, published_by = $4, published_at = $5
                 WHERE id = $1 AND status = 'draft'",
                &[
                    &id,
                    &PolicyStatus::Published.code(),
                    &effective_from.timestamp_millis(),
                    &by,
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        select_policy(&c, id).await
    }

    async fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c.query(&format!("SELECT {POLICY_COLUMNS} FROM policies ORDER BY id DESC"), &[]).await?;
        rows.iter().map(|r| policy_row(r)?.decode()).collect()
    }

    async fn set_device_token(&self, device: DeviceId, token_hash: Option<&[u8]>) -> Result<(), StoreError> {
        let c = self.pool.get().await?;
        let changed =
            c.execute("UPDATE devices SET token_hash = $2 WHERE id = $1", &[&device.0, &token_hash]).await?;
        if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn device_by_token(&self, token_hash: &[u8]) -> Result<Option<(Device, Venue)>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {}, {} FROM devices d JOIN venues v ON v.id = d.venue_id WHERE d.token_hash = $1 AND v.deleted_at IS NULL",
            query::DEVICE_COLUMNS,
            query::VENUE_COLUMNS
        );
        let Some(row) = c.query_opt(&sql, &[&token_hash]).await? else { return Ok(None) };
        Ok(Some((device_row(&row)?.decode()?, venue_row_at(&row, query::DEVICE_COLUMN_COUNT)?.decode()?)))
    }

    async fn record_visits(&self, visits: &[NewVisit]) -> Result<Vec<RecordedVisit>, StoreError> {
        // Two batches in flight holding retries of the same keys in opposite orders wait on each other's
        // unique-index entries; PostgreSQL breaks that by aborting one, whose transaction left nothing
        // behind, so it runs again (after the other committed, its retries find those visits).
        let mut attempt = 0;
        loop {
            match record_batch(self, visits).await {
                Err(StoreError::Backend(e)) if e.starts_with(DEADLOCK) && attempt < DEADLOCK_RETRIES => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    fn concurrent_visit_batches(&self) -> usize {
        // One: while a batch commits the next gathers, and with a batch in one statement, more in flight
        // only means smaller batches and more commits for the same scans. Gate bench, scans/s, runs in pairs
        // on 2026-11-27: one batch 18.4/18.2/17.6/17.6/17.2/19.1/17.5 k against two 16.5/16.8/15.6/15.7/16.7/
        // 16.2/18.8 k (earlier the same day, three and four: 17.2 and 17.4 k, eight: 15.1 k).
        1
    }

    async fn list_visits(&self, filter: &VisitFilter, page: PageRequest) -> Result<Page<Visit>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        visit_where(&mut w, filter);
        w.after("x.id", page);
        let sql = format!(
            "SELECT {VISIT_COLUMNS} FROM visits x JOIN venues v ON v.id = x.venue_id {} ORDER BY x.id LIMIT {}",
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let visits = rows.iter().map(|r| visit_row(r)?.decode()).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(visits, page.limit, |v: &Visit| v.id))
    }

    async fn get_visit(&self, id: i64) -> Result<Visit, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {VISIT_COLUMNS} FROM visits x JOIN venues v ON v.id = x.venue_id WHERE x.id = $1"
        );
        let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
        visit_row(&row)?.decode()
    }

    async fn list_alerts(&self, filter: &AlertFilter, page: PageRequest) -> Result<Page<Alert>, StoreError> {
        let mut w = Where::new(Dialect::Postgres);
        alert_where(&mut w, filter);
        if let Some(before) = page.after {
            let p = w.bind(query::SqlValue::Int(before));
            w.push(format!("a.id < {p}"));
        }
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts a JOIN venues v ON v.id = a.venue_id {} ORDER BY a.id DESC LIMIT {}",
            w.sql(),
            page.limit + 1
        );
        let params = boxed(w.params);
        let c = self.pool.get().await?;
        let rows = c.query(&sql, &refs(&params)).await?;
        let alerts = rows.iter().map(|r| alert_row(r)?.decode()).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(alerts, page.limit, |a: &Alert| a.id))
    }

    async fn get_alert(&self, id: i64) -> Result<Alert, StoreError> {
        let c = self.pool.get().await?;
        select_alert(&c, id).await
    }

    async fn escalate_alerts(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // An alert stops climbing at the district (`level` reaches its region's rank).
        let sql = format!(
            "UPDATE alerts AS a SET level = level + 1, escalated_at = $1
             WHERE status = 'open' AND level < {} AND COALESCE(escalated_at, created_at) <= $2
             RETURNING {ALERT_COLUMNS}",
            query::region_rank("a.region_code")
        );
        let rows = tx.query(&sql, &[&now.timestamp_millis(), &older_than.timestamp_millis()]).await?;
        let escalated = rows.iter().map(|r| alert_row(r)?.decode()).collect::<Result<Vec<_>, _>>()?;
        // The webhooks hear of it again, at the new level, as surely as the first time.
        let ids: Vec<i64> = escalated.iter().map(|a| a.id).collect();
        if ids.is_empty() {
            tx.commit().await?;
            return Ok(escalated);
        }
        let owe = format!(
            "INSERT INTO outbox (webhook_id, alert_id, next_attempt_at)
             SELECT w.id, a.id, $2 FROM webhooks w JOIN alerts a ON a.id = ANY($1::bigint[])
             WHERE w.active AND (w.region_prefix IS NULL
                                 OR (a.region_code LIKE w.region_prefix || '%' AND w.audience_level = {}))",
            query::alert_audience_rank("a.region_code", "a.level")
        );
        tx.execute(&owe, &[&ids, &now.timestamp_millis()]).await?;
        tx.commit().await?;
        Ok(escalated)
    }

    async fn advance_alert(
        &self,
        id: i64,
        to: AlertStatus,
        by: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Alert, StoreError> {
        let c = self.pool.get().await?;
        let at = at.timestamp_millis();
        let changed = match to {
            AlertStatus::Acknowledged => {
                c.execute(
                    "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3,
                            note = COALESCE($4, note) WHERE id = $1 AND status = 'open'",
                    &[&id, &at, &by, &note],
                )
                .await?
            }
            AlertStatus::Resolved => {
                c.execute(
                    "UPDATE alerts SET status = 'resolved', resolved_at = $2, resolved_by = $3,
                            acknowledged_at = COALESCE(acknowledged_at, $2), acknowledged_by = COALESCE(acknowledged_by, $3),
                            note = COALESCE($4, note) WHERE id = $1 AND status <> 'resolved'",
                    &[&id, &at, &by, &note],
                )
                .await?
            }
            AlertStatus::Open => 0,
        };
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        select_alert(&c, id).await
    }
}
