//! SQLite implementation of the health registry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};
use sentinel_core::PersonId;
use sentinel_core::health::{HealthRecord, RiskArea};

use super::SqliteStore;
use crate::health_rows::*;
use crate::{
    Appeal, AppealStatus, AssignmentRecord, HealthStore, NewAssignment, NewItinerary, NewNatResult,
    NewRiskArea, NewVaccination, NewVaccineExemption, StoreError,
};

fn assignment_row(r: &Row<'_>) -> rusqlite::Result<AssignmentRow> {
    Ok(AssignmentRow {
        id: r.get(0)?,
        person_id: r.get(1)?,
        colour: r.get(2)?,
        reason: r.get(3)?,
        source: r.get(4)?,
        set_by: r.get(5)?,
        valid_from: r.get(6)?,
        valid_until: r.get(7)?,
        lifted_at: r.get(8)?,
        lifted_by: r.get(9)?,
        lift_reason: r.get(10)?,
        created_at: r.get(11)?,
    })
}

fn appeal_row(r: &Row<'_>) -> rusqlite::Result<AppealRow> {
    Ok(AppealRow {
        id: r.get(0)?,
        assignment_id: r.get(1)?,
        person_id: r.get(2)?,
        filed_by: r.get(3)?,
        statement: r.get(4)?,
        filed_at: r.get(5)?,
        status: r.get(6)?,
        decided_by: r.get(7)?,
        decision_note: r.get(8)?,
        decided_at: r.get(9)?,
    })
}

fn risk_area_row(r: &Row<'_>) -> rusqlite::Result<RiskAreaRow> {
    Ok(RiskAreaRow {
        id: r.get(0)?,
        region_code: r.get(1)?,
        name: r.get(2)?,
        level: r.get(3)?,
        effective_from: r.get(4)?,
        effective_to: r.get(5)?,
    })
}

fn select_assignment(c: &Connection, id: i64) -> Result<AssignmentRecord, StoreError> {
    let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE id = ?1");
    c.query_row(&sql, [id], assignment_row)?.decode()
}

fn select_appeal(c: &Connection, id: i64) -> Result<Appeal, StoreError> {
    let sql = format!(
        "SELECT {APPEAL_COLUMNS} FROM appeals a JOIN code_assignments c ON c.id = a.assignment_id WHERE a.id = ?1"
    );
    c.query_row(&sql, [id], appeal_row)?.decode()
}

fn lift(c: &Connection, id: i64, at: i64, by: &str, reason: &str) -> Result<(), StoreError> {
    let changed = c.execute(
        "UPDATE code_assignments SET lifted_at = ?2, lifted_by = ?3, lift_reason = ?4
         WHERE id = ?1 AND lifted_at IS NULL",
        params![id, at, by, reason],
    )?;
    if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Logs that a person's records changed (same transaction as the change).
pub(super) fn log_change(c: &Connection, person: i64, at: i64) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO health_changes (person_id, at) VALUES (?1, ?2)")?
        .execute(params![person, at])?;
    Ok(())
}

/// Inserts a code assignment and logs the person's change; returns its id.
pub(super) fn insert_assignment(
    c: &Connection,
    a: &NewAssignment,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    c.prepare_cached(
        "INSERT INTO code_assignments (person_id, colour, reason, source, set_by, valid_from, valid_until, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        a.person_id.0,
        a.colour.code(),
        a.reason,
        a.source.code(),
        a.set_by,
        a.valid_from.timestamp_millis(),
        a.valid_until.map(|t| t.timestamp_millis()),
        now.timestamp_millis()
    ])?;
    let id = c.last_insert_rowid();
    log_change(c, a.person_id.0, now.timestamp_millis())?;
    Ok(id)
}

fn select_risk_area(c: &Connection, id: i64) -> Result<RiskArea, StoreError> {
    let sql = format!("SELECT {RISK_AREA_COLUMNS} FROM risk_areas WHERE id = ?1");
    c.query_row(&sql, [id], risk_area_row)?.decode()
}

/// Runs one prepared insert per item inside a transaction, logging each changed person once; returns
/// how many rows were new.
fn insert_all<T>(
    c: &mut Connection,
    sql: &str,
    items: &[T],
    person: impl Fn(&T) -> i64,
    bind: impl Fn(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
    now: i64,
) -> Result<usize, StoreError> {
    let tx = c.transaction()?;
    let mut inserted = 0;
    let mut changed = std::collections::BTreeSet::new();
    {
        let mut stmt = tx.prepare_cached(sql)?;
        for item in items {
            let n = bind(&mut stmt, item)?;
            if n > 0 {
                changed.insert(person(item));
            }
            inserted += n;
        }
    }
    for p in changed {
        log_change(&tx, p, now)?;
    }
    tx.commit()?;
    Ok(inserted)
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn add_assignment(
        &self,
        a: &NewAssignment,
        now: DateTime<Utc>,
    ) -> Result<AssignmentRecord, StoreError> {
        let a = a.clone();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let id = insert_assignment(&tx, &a, now)?;
            let record = select_assignment(&tx, id)?;
            tx.commit()?;
            Ok(record)
        }))
        .await
    }

    async fn get_assignment(&self, id: i64) -> Result<AssignmentRecord, StoreError> {
        self.read(Box::new(move |c, _| select_assignment(c, id))).await
    }

    async fn lift_assignment(
        &self,
        id: i64,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<AssignmentRecord, StoreError> {
        let (by, reason) = (by.to_owned(), reason.to_owned());
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            lift(&tx, id, at.timestamp_millis(), &by, &reason)?;
            let record = select_assignment(&tx, id)?;
            log_change(&tx, record.person_id.0, at.timestamp_millis())?;
            tx.commit()?;
            Ok(record)
        }))
        .await
    }

    async fn assignments_of(&self, person: PersonId) -> Result<Vec<AssignmentRecord>, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql =
                format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE person_id = ?1 ORDER BY id");
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([person.0], assignment_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(AssignmentRow::decode)).collect()
        }))
        .await
    }

    async fn add_nat_results(
        &self,
        results: &[NewNatResult],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let results = results.to_vec();
        self.write(Box::new(move |c, _| {
            insert_all(
                c,
                "INSERT INTO nat_results (person_id, sampled_at, reported_at, outcome, kind, lab, source_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
                &results,
                |r| r.person_id.0,
                |stmt, r| {
                    stmt.execute(params![
                        r.person_id.0,
                        r.sampled_at.timestamp_millis(),
                        r.reported_at.timestamp_millis(),
                        r.outcome.code(),
                        r.kind.code(),
                        r.lab,
                        r.source_id,
                        now.timestamp_millis()
                    ])
                },
                now.timestamp_millis(),
            )
        }))
        .await
    }

    async fn add_vaccinations(&self, v: &[NewVaccination], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let v = v.to_vec();
        self.write(Box::new(move |c, _| {
            insert_all(
                c,
                "INSERT INTO vaccinations (person_id, dose, date, product, manufacturer, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                &v,
                |x| x.person_id.0,
                |stmt, x| {
                    stmt.execute(params![
                        x.person_id.0,
                        x.dose,
                        date_text(x.date),
                        x.product,
                        x.manufacturer,
                        now.timestamp_millis()
                    ])
                },
                now.timestamp_millis(),
            )
        }))
        .await
    }

    async fn add_vaccine_exemptions(
        &self,
        v: &[NewVaccineExemption],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let v = v.to_vec();
        self.write(Box::new(move |c, _| {
            insert_all(
                c,
                "INSERT INTO vaccine_exemptions (person_id, reason, issued_by, date_from, date_until, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                &v,
                |x| x.person_id.0,
                |stmt, x| {
                    let e = &x.exemption;
                    stmt.execute(params![
                        x.person_id.0,
                        e.reason.code(),
                        e.issued_by,
                        date_text(e.from),
                        e.until.map(date_text),
                        now.timestamp_millis()
                    ])
                },
                now.timestamp_millis(),
            )
        }))
        .await
    }

    async fn add_itineraries(&self, v: &[NewItinerary], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let v = v.to_vec();
        self.write(Box::new(move |c, _| {
            insert_all(
                c,
                "INSERT INTO itineraries (person_id, region_code, date_from, date_to, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                &v,
                |x| x.person_id.0,
                |stmt, x| {
                    stmt.execute(params![
                        x.person_id.0,
                        x.region.as_str(),
                        date_text(x.from),
                        date_text(x.to),
                        now.timestamp_millis()
                    ])
                },
                now.timestamp_millis(),
            )
        }))
        .await
    }

    async fn health_record(&self, person: PersonId) -> Result<HealthRecord, StoreError> {
        self.read(Box::new(move |conn, _| {
            // One snapshot for the five reads, so a record never mixes before and after a write.
            let c = conn.transaction()?;
            let p = person.0;
            let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE person_id = ?1 ORDER BY id");
            let assignments = c
                .prepare_cached(&sql)?
                .query_map([p], assignment_row)?
                .map(|r| r.map_err(StoreError::from).and_then(AssignmentRow::decode).map(|a| a.assignment))
                .collect::<Result<_, _>>()?;
            let nat_results = c
                .prepare_cached("SELECT sampled_at, reported_at, outcome, kind, lab FROM nat_results WHERE person_id = ?1")?
                .query_map([p], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get(4)?)))?
                .map(|r| r.map_err(StoreError::from).and_then(|(s, rep, o, k, l)| nat(s, rep, &o, &k, l)))
                .collect::<Result<_, _>>()?;
            let vaccinations = c
                .prepare_cached("SELECT dose, date, product, manufacturer FROM vaccinations WHERE person_id = ?1 ORDER BY dose")?
                .query_map([p], |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)))?
                .map(|r| r.map_err(StoreError::from).and_then(|(d, date, pr, m)| vaccination(d, &date, pr, m)))
                .collect::<Result<_, _>>()?;
            let vaccine_exemptions = c
                .prepare_cached("SELECT reason, issued_by, date_from, date_until FROM vaccine_exemptions WHERE person_id = ?1 ORDER BY date_from, id")?
                .query_map([p], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?)))?
                .map(|r| r.map_err(StoreError::from).and_then(|(re, by, f, u)| vaccine_exemption(&re, by, &f, u)))
                .collect::<Result<_, _>>()?;
            let itinerary = c
                .prepare_cached("SELECT region_code, date_from, date_to FROM itineraries WHERE person_id = ?1 ORDER BY date_from")?
                .query_map([p], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?
                .map(|r| r.map_err(StoreError::from).and_then(|(reg, f, t)| itinerary(&reg, &f, &t)))
                .collect::<Result<_, _>>()?;
            c.commit()?;
            Ok(HealthRecord { assignments, nat_results, vaccinations, vaccine_exemptions, itinerary })
        }))
        .await
    }

    async fn add_risk_area(&self, a: &NewRiskArea, now: DateTime<Utc>) -> Result<RiskArea, StoreError> {
        let a = a.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO risk_areas (region_code, name, level, effective_from, effective_to, published_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    a.region.as_str(),
                    a.name,
                    a.level.code(),
                    a.effective_from.timestamp_millis(),
                    a.effective_to.map(|t| t.timestamp_millis()),
                    a.published_by,
                    now.timestamp_millis()
                ],
            )?;
            select_risk_area(c, c.last_insert_rowid())
        }))
        .await
    }

    async fn risk_areas(&self, at: Option<DateTime<Utc>>) -> Result<Vec<RiskArea>, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {RISK_AREA_COLUMNS} FROM risk_areas WHERE ?1 IS NULL OR effective_to IS NULL OR effective_to > ?1 ORDER BY id"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([at.map(|t| t.timestamp_millis())], risk_area_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(RiskAreaRow::decode)).collect()
        }))
        .await
    }

    async fn end_risk_area(&self, id: i64, at: DateTime<Utc>) -> Result<RiskArea, StoreError> {
        self.write(Box::new(move |c, _| {
            let changed = c.execute(
                "UPDATE risk_areas SET effective_to = ?2 WHERE id = ?1 AND (effective_to IS NULL OR effective_to > ?2)",
                params![id, at.timestamp_millis()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            select_risk_area(c, id)
        }))
        .await
    }

    async fn file_appeal(
        &self,
        assignment_id: i64,
        filed_by: &str,
        statement: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError> {
        let (filed_by, statement) = (filed_by.to_owned(), statement.to_owned());
        self.write(Box::new(move |c, _| {
            let exists: Option<i64> =
                c.query_row("SELECT id FROM code_assignments WHERE id = ?1", [assignment_id], |r| r.get(0)).optional()?;
            exists.ok_or(StoreError::NotFound)?;
            c.execute(
                "INSERT INTO appeals (assignment_id, filed_by, statement, filed_at, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![assignment_id, filed_by, statement, at.timestamp_millis(), AppealStatus::Pending.code()],
            )?;
            select_appeal(c, c.last_insert_rowid())
        }))
        .await
    }

    async fn decide_appeal(
        &self,
        id: i64,
        upheld: bool,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError> {
        let (by, note) = (by.to_owned(), note.to_owned());
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            let status = if upheld { AppealStatus::Upheld } else { AppealStatus::Rejected };
            let changed = tx.execute(
                "UPDATE appeals SET status = ?2, decided_by = ?3, decision_note = ?4, decided_at = ?5
                 WHERE id = ?1 AND status = 'pending'",
                params![id, status.code(), by, note, at.timestamp_millis()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            let appeal = select_appeal(&tx, id)?;
            if upheld {
                // An assignment that expired or was lifted meanwhile needs no lifting.
                let reason = format!("申诉成立 / appeal {id} upheld: {note}");
                match lift(&tx, appeal.assignment_id, at.timestamp_millis(), &by, &reason) {
                    Ok(()) => log_change(&tx, appeal.person_id.0, at.timestamp_millis())?,
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            tx.commit()?;
            Ok(appeal)
        }))
        .await
    }

    async fn health_changes_since(&self, since: i64, limit: u32) -> Result<Vec<(i64, PersonId)>, StoreError> {
        self.read(Box::new(move |c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, person_id FROM health_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![since, limit], |r| Ok((r.get(0)?, PersonId(r.get(1)?))))?;
            rows.map(|r| r.map_err(StoreError::from)).collect()
        }))
        .await
    }

    async fn latest_health_change(&self) -> Result<i64, StoreError> {
        self.read(Box::new(|c, _| {
            Ok(c.query_row("SELECT COALESCE(MAX(seq), 0) FROM health_changes", [], |r| r.get(0))?)
        }))
        .await
    }

    async fn get_appeal(&self, id: i64) -> Result<Appeal, StoreError> {
        self.read(Box::new(move |c, _| select_appeal(c, id))).await
    }

    async fn appeals_of(&self, person: PersonId) -> Result<Vec<Appeal>, StoreError> {
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {APPEAL_COLUMNS} FROM appeals a JOIN code_assignments c ON c.id = a.assignment_id
                 WHERE c.person_id = ?1 ORDER BY a.id"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map([person.0], appeal_row)?;
            rows.map(|r| r.map_err(StoreError::from).and_then(AppealRow::decode)).collect()
        }))
        .await
    }
}
