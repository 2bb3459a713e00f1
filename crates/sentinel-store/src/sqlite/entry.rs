//! SQLite implementation of the entry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use sentinel_core::{DeviceId, PersonId, RegionCode};

use super::rows::{device_row, venue_row_at};
use super::{SqliteStore, values};
use crate::entry_rows::*;
use crate::model::{Device, Page, PageRequest, Venue};
use crate::query::{self, Dialect, Where};
use sentinel_core::Scope;

use crate::{
    Alert, AlertFilter, AlertStatus, EntryStore, NewUnvaccinated, NewVisit, PolicyRecord, PolicyScope,
    PolicyStatus, RecordedVisit, StoreError, Unvaccinated, Visit, VisitFilter,
};

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRow> {
    Ok(PolicyRow {
        id: r.get(0)?,
        scope_kind: r.get(1)?,
        scope_value: r.get(2)?,
        version: r.get(3)?,
        body: r.get(4)?,
        status: r.get(5)?,
        effective_from: r.get(6)?,
        created_by: r.get(7)?,
        created_at: r.get(8)?,
        published_by: r.get(9)?,
        published_at: r.get(10)?,
    })
}

fn visit_row(r: &Row<'_>) -> rusqlite::Result<VisitRow> {
    Ok(VisitRow {
        id: r.get(0)?,
        person_id: r.get(1)?,
        venue_id: r.get(2)?,
        device_id: r.get(3)?,
        channel: r.get(4)?,
        entered_at: r.get(5)?,
        left_at: r.get(6)?,
        outcome: r.get(7)?,
        reasons: r.get(8)?,
        policy_id: r.get(9)?,
        temperature_c: r.get(10)?,
        mask: r.get(11)?,
        registrar: r.get(12)?,
        category: r.get(13)?,
        prompt_zh: r.get(14)?,
        prompt_en: r.get(15)?,
        policy_version: r.get(16)?,
    })
}

fn alert_row(r: &Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        visit_id: r.get(2)?,
        venue_id: r.get(3)?,
        person_id: r.get(4)?,
        region_code: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
        acknowledged_at: r.get(8)?,
        acknowledged_by: r.get(9)?,
        resolved_at: r.get(10)?,
        resolved_by: r.get(11)?,
        note: r.get(12)?,
        level: r.get(13)?,
    })
}

fn select_policy(c: &Connection, id: i64) -> Result<PolicyRecord, StoreError> {
    c.query_row(&format!("SELECT {POLICY_COLUMNS} FROM policies WHERE id = ?1"), [id], policy_row)?.decode()
}

fn select_alert(c: &Connection, id: i64) -> Result<Alert, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts a WHERE a.id = ?1");
    c.query_row(&sql, [id], alert_row)?.decode()
}

/// Inserts one visit and its alerts, or finds the visit its idempotency key names.
fn insert_visit(c: &Connection, v: &NewVisit) -> Result<RecordedVisit, StoreError> {
    // The unique index on (device, idempotency key) finds a retry while inserting: no lookup first.
    let inserted = c
        .prepare_cached(
            "INSERT INTO visits (person_id, venue_id, device_id, channel, entered_at, outcome, reasons, policy_id,
                                 temperature_c, mask, idempotency_key, registrar, prompt_zh, prompt_en, policy_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (device_id, idempotency_key) DO NOTHING",
        )?
        .execute(params![
            v.person_id.map(|p| p.0),
            v.venue_id.0,
            v.device_id.map(|d| d.0),
            v.channel,
            v.entered_at.timestamp_millis(),
            v.outcome,
            join_reasons(&v.reasons),
            v.policy_id,
            v.temperature_c.map(f64::from),
            v.mask,
            v.idempotency_key,
            v.registrar,
            v.prompt.as_ref().map(|p| p.0.as_str()),
            v.prompt.as_ref().map(|p| p.1.as_str()),
            v.policy_version
        ])?;
    if inserted == 0 {
        let visit_id: i64 = c
            .prepare_cached("SELECT id FROM visits WHERE device_id = ?1 AND idempotency_key = ?2")?
            .query_row(params![v.device_id.map(|d| d.0), v.idempotency_key], |r| r.get(0))?;
        return Ok(RecordedVisit { visit_id, duplicate: true, alert_ids: Vec::new() });
    }
    let visit_id = c.last_insert_rowid();
    let mut alert_ids = Vec::with_capacity(v.alerts.len());
    for a in &v.alerts {
        let at = v.entered_at.timestamp_millis();
        alert_ids.push(insert_alert(
            c,
            &a.kind,
            Some(visit_id),
            v.venue_id.0,
            v.person_id,
            &a.region_code,
            at,
        )?);
    }
    Ok(RecordedVisit { visit_id, duplicate: false, alert_ids })
}

/// Inserts an open alert and owes it to every active webhook, in the caller's transaction; returns its id.
fn insert_alert(
    c: &Connection,
    kind: &str,
    visit_id: Option<i64>,
    venue_id: i64,
    person_id: Option<PersonId>,
    region: &RegionCode,
    at: i64,
) -> Result<i64, StoreError> {
    c.prepare_cached(
        "INSERT INTO alerts (kind, visit_id, venue_id, person_id, region_code, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6)",
    )?
    .execute(params![kind, visit_id, venue_id, person_id.map(|p| p.0), region.as_str(), at])?;
    let alert_id = c.last_insert_rowid();
    owe_to_webhooks(c, alert_id, at)?;
    Ok(alert_id)
}

/// Owes an alert to every active webhook whose audience it reaches at its level (again, after an
/// escalation), in the caller's transaction.
fn owe_to_webhooks(c: &Connection, alert_id: i64, at: i64) -> Result<(), StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO outbox (webhook_id, alert_id, next_attempt_at)
             SELECT w.id, a.id, ?2 FROM webhooks w JOIN alerts a ON a.id = ?1
             WHERE w.active = 1 AND (w.region_prefix IS NULL
                                     OR (a.region_code LIKE w.region_prefix || '%' AND w.audience_level = {}))",
            query::alert_audience_rank("a.region_code", "a.level")
        )
    });
    c.prepare_cached(&SQL)?.execute(params![alert_id, at])?;
    Ok(())
}

fn unvaccinated_row(r: &Row<'_>) -> rusqlite::Result<UnvaccinatedRow> {
    Ok(UnvaccinatedRow {
        id: r.get(0)?,
        venue_id: r.get(1)?,
        person_id: r.get(2)?,
        name_enc: r.get(3)?,
        phone_enc: r.get(4)?,
        address_enc: r.get(5)?,
        home_region: r.get(6)?,
        reason: r.get(7)?,
        registrar: r.get(8)?,
        alert_id: r.get(9)?,
        created_at: r.get(10)?,
    })
}

#[async_trait]
impl EntryStore for SqliteStore {
    async fn register_unvaccinated(
        &self,
        r: &NewUnvaccinated,
        now: DateTime<Utc>,
    ) -> Result<(Unvaccinated, bool), StoreError> {
        let r = r.clone();
        self.write(Box::new(move |c, cipher| {
            let [name_f, phone_f, address_f] = UNVACCINATED_FIELDS;
            let tx = c.transaction()?;
            let at = now.timestamp_millis();
            let select = format!("SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u WHERE u.id = ?1");
            // The registration first: the unique index on (venue, key) tells a retry before anything is reported.
            let inserted = tx.execute(
                "INSERT INTO unvaccinated_registrations (venue_id, person_id, name_enc, phone_enc, address_enc, home_region,
                                                         reason, registrar, created_at, idempotency_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (venue_id, idempotency_key) DO NOTHING",
                params![
                    r.venue_id.0,
                    r.person_id.map(|p| p.0),
                    cipher.encrypt(name_f, &r.name),
                    r.phone.as_ref().map(|p| cipher.encrypt(phone_f, p)),
                    r.address.as_ref().map(|a| cipher.encrypt(address_f, a)),
                    r.home_region.as_str(),
                    r.reason,
                    r.registrar,
                    at,
                    r.idempotency_key
                ],
            )?;
            if inserted == 0 {
                let sql = format!(
                    "SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u
                     WHERE u.venue_id = ?1 AND u.idempotency_key = ?2"
                );
                let row = tx.query_row(&sql, params![r.venue_id.0, r.idempotency_key], unvaccinated_row)?;
                return Ok((row.decode(cipher)?, true));
            }
            let id = tx.last_insert_rowid();
            let alert_id =
                insert_alert(&tx, "unvaccinated_report", None, r.venue_id.0, r.person_id, &r.home_region.community(), at)?;
            tx.execute("UPDATE unvaccinated_registrations SET alert_id = ?2 WHERE id = ?1", params![id, alert_id])?;
            let row = tx.query_row(&select, [id], unvaccinated_row)?;
            tx.commit()?;
            Ok((row.decode(cipher)?, false))
        }))
        .await
    }

    async fn list_unvaccinated(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<Unvaccinated>, StoreError> {
        let scope = scope.clone();
        self.read(Box::new(move |c, cipher| {
            let mut w = Where::new(Dialect::Sqlite);
            unvaccinated_where(&mut w, &scope);
            if let Some(before) = page.after {
                let p = w.bind(query::SqlValue::Int(before));
                w.push(format!("u.id < {p}"));
            }
            let sql = format!(
                "SELECT {UNVACCINATED_COLUMNS} FROM unvaccinated_registrations u JOIN venues v ON v.id = u.venue_id {} ORDER BY u.id DESC LIMIT {}",
                w.sql(),
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), unvaccinated_row)?;
            let items = rows.map(|r| r.map_err(StoreError::from).and_then(|u| u.decode(cipher))).collect::<Result<_, _>>()?;
            Ok(Page::from_rows(items, page.limit, |u: &Unvaccinated| u.id))
        }))
        .await
    }

    async fn create_policy(
        &self,
        scope: &PolicyScope,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError> {
        let (scope, body, by) = (scope.clone(), body.to_owned(), by.to_owned());
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM policies WHERE scope_kind = ?1 AND scope_value = ?2",
                params![scope.kind(), scope.value()],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO policies (scope_kind, scope_value, version, body, status, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, 'draft', ?5, ?6)",
                params![scope.kind(), scope.value(), version, body, by, now.timestamp_millis()],
            )?;
            let policy = select_policy(&tx, tx.last_insert_rowid())?;
            tx.commit()?;
            Ok(policy)
        }))
        .await
    }

    async fn publish_policy(
        &self,
        id: i64,
        effective_from: DateTime<Utc>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<PolicyRecord, StoreError> {
        let by = by.to_owned();
        self.write(Box::new(move |c, _| {
            let changed = c.execute(
                "UPDATE policies SET status = ?2, effective_from = ?3, published_by = ?4, published_at = ?5
                 WHERE id = ?1 AND status = 'draft'",
                params![
                    id,
                    PolicyStatus::Published.code(),
                    effective_from.timestamp_millis(),
                    by,
                    now.timestamp_millis()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            select_policy(c, id)
        }))
        .await
    }

    async fn policies(&self) -> Result<Vec<PolicyRecord>, StoreError> {
        self.read(Box::new(|c, _| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {POLICY_COLUMNS} FROM policies ORDER BY id DESC"))?;
            let rows = stmt.query_map([], policy_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(PolicyRow::decode)).collect()
        }))
        .await
    }

    async fn set_device_token(&self, device: DeviceId, token_hash: Option<&[u8]>) -> Result<(), StoreError> {
        let hash = token_hash.map(<[u8]>::to_vec);
        self.write(Box::new(move |c, _| {
            let changed =
                c.execute("UPDATE devices SET token_hash = ?2 WHERE id = ?1", params![device.0, hash])?;
            if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        }))
        .await
    }

    async fn device_by_token(&self, token_hash: &[u8]) -> Result<Option<(Device, Venue)>, StoreError> {
        let hash = token_hash.to_vec();
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {}, {} FROM devices d JOIN venues v ON v.id = d.venue_id
                 WHERE d.token_hash = ?1 AND v.deleted_at IS NULL",
                query::DEVICE_COLUMNS,
                query::VENUE_COLUMNS
            );
            let found = c
                .query_row(&sql, [hash], |r| {
                    Ok((device_row(r)?, venue_row_at(r, query::DEVICE_COLUMN_COUNT)?))
                })
                .optional()?;
            found.map(|(d, v)| Ok((d.decode()?, v.decode()?))).transpose()
        }))
        .await
    }

    async fn record_visits(&self, visits: &[NewVisit]) -> Result<Vec<RecordedVisit>, StoreError> {
        let visits = visits.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let recorded = visits.iter().map(|v| insert_visit(&tx, v)).collect::<Result<Vec<_>, _>>()?;
            tx.commit()?;
            Ok(recorded)
        }))
        .await
    }

    async fn list_visits(&self, filter: &VisitFilter, page: PageRequest) -> Result<Page<Visit>, StoreError> {
        let filter = filter.clone();
        self.read(Box::new(move |c, _| {
            let mut w = Where::new(Dialect::Sqlite);
            visit_where(&mut w, &filter);
            w.after("x.id", page);
            let sql = format!(
                "SELECT {VISIT_COLUMNS} FROM visits x JOIN venues v ON v.id = x.venue_id {} ORDER BY x.id LIMIT {}",
                w.sql(),
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), visit_row)?;
            let visits = rows.map(|r| r.map_err(StoreError::from).and_then(VisitRow::decode)).collect::<Result<_, _>>()?;
            Ok(Page::from_rows(visits, page.limit, |v: &Visit| v.id))
        }))
        .await
    }

    async fn get_visit(&self, id: i64) -> Result<Visit, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {VISIT_COLUMNS} FROM visits x JOIN venues v ON v.id = x.venue_id WHERE x.id = ?1"
            );
            c.query_row(&sql, [id], visit_row)?.decode()
        }))
        .await
    }

    async fn list_alerts(&self, filter: &AlertFilter, page: PageRequest) -> Result<Page<Alert>, StoreError> {
        let filter = filter.clone();
        self.read(Box::new(move |c, _| {
            let mut w = Where::new(Dialect::Sqlite);
            alert_where(&mut w, &filter);
            if let Some(before) = page.after {
                let p = w.bind(query::SqlValue::Int(before));
                w.push(format!("a.id < {p}"));
            }
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts a JOIN venues v ON v.id = a.venue_id {} ORDER BY a.id DESC LIMIT {}",
                w.sql(),
                page.limit + 1
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(values(w.params)), alert_row)?;
            let alerts = rows.map(|r| r.map_err(StoreError::from).and_then(AlertRow::decode)).collect::<Result<_, _>>()?;
            Ok(Page::from_rows(alerts, page.limit, |a: &Alert| a.id))
        }))
        .await
    }

    async fn get_alert(&self, id: i64) -> Result<Alert, StoreError> {
        self.read(Box::new(move |c, _| select_alert(c, id))).await
    }

    async fn escalate_alerts(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError> {
        self.write(Box::new(move |c, _| {
            // SQLite's RETURNING takes plain column names.
            // An alert stops climbing at the district (`level` reaches its region's rank).
            let sql = format!(
                "UPDATE alerts SET level = level + 1, escalated_at = ?1
                 WHERE status = 'open' AND level < {} AND COALESCE(escalated_at, created_at) <= ?2
                 RETURNING {}",
                query::region_rank("region_code"),
                ALERT_COLUMNS.replace("a.", "")
            );
            let tx = c.transaction()?;
            let escalated: Vec<Alert> = {
                let mut stmt = tx.prepare(&sql)?;
                let rows = stmt
                    .query_map(params![now.timestamp_millis(), older_than.timestamp_millis()], alert_row)?;
                rows.map(|r| r.map_err(StoreError::from).and_then(AlertRow::decode))
                    .collect::<Result<_, _>>()?
            };
            // The webhooks hear of it again, at the new level, as surely as the first time.
            for a in &escalated {
                owe_to_webhooks(&tx, a.id, now.timestamp_millis())?;
            }
            tx.commit()?;
            Ok(escalated)
        }))
        .await
    }

    async fn advance_alert(
        &self,
        id: i64,
        to: AlertStatus,
        by: &str,
        note: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<Alert, StoreError> {
        let (by, note) = (by.to_owned(), note.map(str::to_owned));
        self.write(Box::new(move |c, _| {
            let changed = match to {
                AlertStatus::Acknowledged => c.execute(
                    "UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?2, acknowledged_by = ?3,
                            note = COALESCE(?4, note) WHERE id = ?1 AND status = 'open'",
                    params![id, at.timestamp_millis(), by, note],
                )?,
                AlertStatus::Resolved => c.execute(
                    "UPDATE alerts SET status = 'resolved', resolved_at = ?2, resolved_by = ?3,
                            acknowledged_at = COALESCE(acknowledged_at, ?2), acknowledged_by = COALESCE(acknowledged_by, ?3),
                            note = COALESCE(?4, note) WHERE id = ?1 AND status <> 'resolved'",
                    params![id, at.timestamp_millis(), by, note],
                )?,
                AlertStatus::Open => 0,
            };
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            select_alert(c, id)
        }))
        .await
    }
}
