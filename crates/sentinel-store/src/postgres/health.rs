//! PostgreSQL implementation of the health registry contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use sentinel_core::PersonId;
use sentinel_core::health::{HealthRecord, RiskArea};
use tokio_postgres::Row;

use super::{Param, PostgresStore, refs};
use crate::health_rows::*;
use crate::{
    Appeal, AppealStatus, AssignmentRecord, HealthStore, NewAssignment, NewItinerary, NewNatResult,
    NewRiskArea, NewVaccination, NewVaccineExemption, StoreError,
};

type R<T> = Result<T, tokio_postgres::Error>;

fn assignment_row(r: &Row) -> R<AssignmentRow> {
    Ok(AssignmentRow {
        id: r.try_get(0)?,
        person_id: r.try_get(1)?,
        colour: r.try_get(2)?,
        reason: r.try_get(3)?,
        source: r.try_get(4)?,
        set_by: r.try_get(5)?,
        valid_from: r.try_get(6)?,
        valid_until: r.try_get(7)?,
        lifted_at: r.try_get(8)?,
        lifted_by: r.try_get(9)?,
        lift_reason: r.try_get(10)?,
        created_at: r.try_get(11)?,
    })
}

fn appeal_row(r: &Row) -> R<AppealRow> {
    Ok(AppealRow {
        id: r.try_get(0)?,
        assignment_id: r.try_get(1)?,
        person_id: r.try_get(2)?,
        filed_by: r.try_get(3)?,
        statement: r.try_get(4)?,
        filed_at: r.try_get(5)?,
        status: r.try_get(6)?,
        decided_by: r.try_get(7)?,
        decision_note: r.try_get(8)?,
        decided_at: r.try_get(9)?,
    })
}

fn risk_area_row(r: &Row) -> R<RiskAreaRow> {
    Ok(RiskAreaRow {
        id: r.try_get(0)?,
        region_code: r.try_get(1)?,
        name: r.try_get(2)?,
        level: r.try_get(3)?,
        effective_from: r.try_get(4)?,
        effective_to: r.try_get(5)?,
    })
}

async fn select_assignment(c: &impl GenericClient, id: i64) -> Result<AssignmentRecord, StoreError> {
    let sql = format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE id = $1");
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    assignment_row(&row)?.decode()
}

async fn select_appeal(c: &impl GenericClient, id: i64) -> Result<Appeal, StoreError> {
    let sql = format!(
        "SELECT {APPEAL_COLUMNS} FROM appeals a JOIN code_assignments c ON c.id = a.assignment_id WHERE a.id = $1"
    );
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    appeal_row(&row)?.decode()
}

async fn lift(c: &impl GenericClient, id: i64, at: i64, by: &str, reason: &str) -> Result<(), StoreError> {
    let changed = c
        .execute(
            "UPDATE code_assignments SET lifted_at = $2, lifted_by = $3, lift_reason = $4
             WHERE id = $1 AND lifted_at IS NULL",
            &[&id, &at, &by, &reason],
        )
        .await?;
    if changed == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Logs that a person's records changed (same transaction as the change).
async fn log_change(c: &impl GenericClient, person: i64, at: i64) -> Result<(), StoreError> {
    log_changes(c, &[person], at).await
}

/// Logs that these persons' records changed, in one statement (same transaction as the change).
pub(super) async fn log_changes(c: &impl GenericClient, persons: &[i64], at: i64) -> Result<(), StoreError> {
    if persons.is_empty() {
        return Ok(());
    }
    // Readers follow the log by sequence number. An identity value is taken at insert but seen at commit,
    // so without this lock a later number could commit first and a reader would skip the earlier one.
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&super::LOG_ORDER_LOCK]).await?;
    let stmt = c
        .prepare_cached("INSERT INTO health_changes (person_id, at) SELECT unnest($1::bigint[]), $2")
        .await?;
    c.execute(&stmt, &[&persons, &at]).await?;
    Ok(())
}

async fn select_risk_area(c: &impl GenericClient, id: i64) -> Result<RiskArea, StoreError> {
    let sql = format!("SELECT {RISK_AREA_COLUMNS} FROM risk_areas WHERE id = $1");
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    risk_area_row(&row)?.decode()
}

impl PostgresStore {
    /// Runs one prepared insert per item in a transaction, logging each changed person once; returns how
    /// many rows were new. `row` gives an item's person and its parameters. The inserts are issued together
    /// and pipelined on the connection: one round trip's wait for the batch, not one per row.
    async fn insert_all<T>(
        &self,
        sql: &str,
        items: &[T],
        now: DateTime<Utc>,
        row: impl Fn(&T) -> (i64, Vec<Param>),
    ) -> Result<usize, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let stmt = tx.prepare_cached(sql).await?;
        let rows: Vec<(i64, Vec<Param>)> = items.iter().map(row).collect();
        let counts = futures_util::future::try_join_all(
            rows.iter().map(|(_, params)| async { tx.execute(&stmt, &refs(params)).await }),
        )
        .await?;
        let changed: std::collections::BTreeSet<i64> =
            rows.iter().zip(&counts).filter(|(_, n)| **n > 0).map(|((person, _), _)| *person).collect();
        let inserted = counts.iter().sum::<u64>() as usize;
        let changed: Vec<i64> = changed.into_iter().collect();
        log_changes(&tx, &changed, now.timestamp_millis()).await?;
        tx.commit().await?;
        Ok(inserted)
    }
}

#[async_trait]
impl HealthStore for PostgresStore {
    async fn add_assignment(
        &self,
        a: &NewAssignment,
        now: DateTime<Utc>,
    ) -> Result<AssignmentRecord, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_one(
                "INSERT INTO code_assignments (person_id, colour, reason, source, set_by, valid_from, valid_until, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &a.person_id.0,
                    &a.colour.code(),
                    &a.reason,
                    &a.source.code(),
                    &a.set_by,
                    &a.valid_from.timestamp_millis(),
                    &a.valid_until.map(|t| t.timestamp_millis()),
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        log_change(&tx, a.person_id.0, now.timestamp_millis()).await?;
        let record = select_assignment(&tx, row.try_get(0)?).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_assignment(&self, id: i64) -> Result<AssignmentRecord, StoreError> {
        let c = self.pool.get().await?;
        select_assignment(&c, id).await
    }

    async fn lift_assignment(
        &self,
        id: i64,
        at: DateTime<Utc>,
        by: &str,
        reason: &str,
    ) -> Result<AssignmentRecord, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        lift(&tx, id, at.timestamp_millis(), by, reason).await?;
        let record = select_assignment(&tx, id).await?;
        log_change(&tx, record.person_id.0, at.timestamp_millis()).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn assignments_of(&self, person: PersonId) -> Result<Vec<AssignmentRecord>, StoreError> {
        let c = self.pool.get().await?;
        let sql =
            format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE person_id = $1 ORDER BY id");
        let rows = c.query(&sql, &[&person.0]).await?;
        rows.iter().map(|r| assignment_row(r)?.decode()).collect()
    }

    async fn add_nat_results(
        &self,
        results: &[NewNatResult],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let sql = "INSERT INTO nat_results (person_id, sampled_at, reported_at, outcome, kind, lab, source_id, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
        self.insert_all(sql, results, now, |r| {
            (
                r.person_id.0,
                vec![
                    Box::new(r.person_id.0),
                    Box::new(r.sampled_at.timestamp_millis()),
                    Box::new(r.reported_at.timestamp_millis()),
                    Box::new(r.outcome.code()),
                    Box::new(r.kind.code()),
                    Box::new(r.lab.clone()),
                    Box::new(r.source_id.clone()),
                    Box::new(now.timestamp_millis()),
                ],
            )
        })
        .await
    }

    async fn add_vaccinations(&self, v: &[NewVaccination], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let sql = "INSERT INTO vaccinations (person_id, dose, date, product, manufacturer, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        self.insert_all(sql, v, now, |x| {
            (
                x.person_id.0,
                vec![
                    Box::new(x.person_id.0),
                    Box::new(i64::from(x.dose)),
                    Box::new(date_text(x.date)),
                    Box::new(x.product.clone()),
                    Box::new(x.manufacturer.clone()),
                    Box::new(now.timestamp_millis()),
                ],
            )
        })
        .await
    }

    async fn add_vaccine_exemptions(
        &self,
        v: &[NewVaccineExemption],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let sql =
            "INSERT INTO vaccine_exemptions (person_id, reason, issued_by, date_from, date_until, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";
        self.insert_all(sql, v, now, |x| {
            let e = &x.exemption;
            (
                x.person_id.0,
                vec![
                    Box::new(x.person_id.0),
                    Box::new(e.reason.code()),
                    Box::new(e.issued_by.clone()),
                    Box::new(date_text(e.from)),
                    Box::new(e.until.map(date_text)),
                    Box::new(now.timestamp_millis()),
                ],
            )
        })
        .await
    }

    async fn add_itineraries(&self, v: &[NewItinerary], now: DateTime<Utc>) -> Result<usize, StoreError> {
        let sql = "INSERT INTO itineraries (person_id, region_code, date_from, date_to, created_at)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
        self.insert_all(sql, v, now, |x| {
            (
                x.person_id.0,
                vec![
                    Box::new(x.person_id.0),
                    Box::new(x.region.to_string()),
                    Box::new(date_text(x.from)),
                    Box::new(date_text(x.to)),
                    Box::new(now.timestamp_millis()),
                ],
            )
        })
        .await
    }

    async fn health_record(&self, person: PersonId) -> Result<HealthRecord, StoreError> {
        let mut client = self.pool.get().await?;
        // One snapshot for the five reads, so a record never mixes before and after a write.
        let c = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let p = person.0;
        let sql =
            format!("SELECT {ASSIGNMENT_COLUMNS} FROM code_assignments WHERE person_id = $1 ORDER BY id");
        let assignments = c
            .query(&sql, &[&p])
            .await?
            .iter()
            .map(|r| assignment_row(r)?.decode().map(|a| a.assignment))
            .collect::<Result<_, _>>()?;
        let nat_results = c
            .query(
                "SELECT sampled_at, reported_at, outcome, kind, lab FROM nat_results WHERE person_id = $1",
                &[&p],
            )
            .await?
            .iter()
            .map(|r| nat(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?))
            .collect::<Result<_, _>>()?;
        let vaccinations = c
            .query("SELECT dose, date, product, manufacturer FROM vaccinations WHERE person_id = $1 ORDER BY dose", &[&p])
            .await?
            .iter()
            .map(|r| vaccination(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            .collect::<Result<_, _>>()?;
        let vaccine_exemptions = c
            .query("SELECT reason, issued_by, date_from, date_until FROM vaccine_exemptions WHERE person_id = $1 ORDER BY date_from, id", &[&p])
            .await?
            .iter()
            .map(|r| vaccine_exemption(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?))
            .collect::<Result<_, _>>()?;
        let itinerary = c
            .query("SELECT region_code, date_from, date_to FROM itineraries WHERE person_id = $1 ORDER BY date_from", &[&p])
            .await?
            .iter()
            .map(|r| itinerary(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
            .collect::<Result<_, _>>()?;
        c.commit().await?;
        Ok(HealthRecord { assignments, nat_results, vaccinations, vaccine_exemptions, itinerary })
    }

    async fn add_risk_area(&self, a: &NewRiskArea, now: DateTime<Utc>) -> Result<RiskArea, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO risk_areas (region_code, name, level, effective_from, effective_to, published_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &a.region.as_str(),
                    &a.name,
                    &a.level.code(),
                    &a.effective_from.timestamp_millis(),
                    &a.effective_to.map(|t| t.timestamp_millis()),
                    &a.published_by,
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        select_risk_area(&c, row.try_get(0)?).await
    }

    async fn risk_areas(&self, at: Option<DateTime<Utc>>) -> Result<Vec<RiskArea>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {RISK_AREA_COLUMNS} FROM risk_areas
             WHERE $1::BIGINT IS NULL OR effective_to IS NULL OR effective_to > $1 ORDER BY id"
        );
        let rows = c.query(&sql, &[&at.map(|t| t.timestamp_millis())]).await?;
        rows.iter().map(|r| risk_area_row(r)?.decode()).collect()
    }

    async fn end_risk_area(&self, id: i64, at: DateTime<Utc>) -> Result<RiskArea, StoreError> {
        let c = self.pool.get().await?;
        let changed = c
            .execute(
                "UPDATE risk_areas SET effective_to = $2 WHERE id = $1 AND (effective_to IS NULL OR effective_to > $2)",
                &[&id, &at.timestamp_millis()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        select_risk_area(&c, id).await
    }

    async fn file_appeal(
        &self,
        assignment_id: i64,
        filed_by: &str,
        statement: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError> {
        let c = self.pool.get().await?;
        c.query_opt("SELECT id FROM code_assignments WHERE id = $1", &[&assignment_id])
            .await?
            .ok_or(StoreError::NotFound)?;
        let row = c
            .query_one(
                "INSERT INTO appeals (assignment_id, filed_by, statement, filed_at, status) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&assignment_id, &filed_by, &statement, &at.timestamp_millis(), &AppealStatus::Pending.code()],
            )
            .await?;
        select_appeal(&c, row.try_get(0)?).await
    }

    async fn decide_appeal(
        &self,
        id: i64,
        upheld: bool,
        by: &str,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Appeal, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let status = if upheld { AppealStatus::Upheld } else { AppealStatus::Rejected };
        let changed = tx
            .execute(
                "UPDATE appeals SET status = $2, decided_by = $3, decision_note = $4, decided_at = $5
                 WHERE id = $1 AND status = 'pending'",
                &[&id, &status.code(), &by, &note, &at.timestamp_millis()],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        let appeal = select_appeal(&tx, id).await?;
        if upheld {
            let reason = format!("申诉成立 / appeal {id} upheld: {note}");
            match lift(&tx, appeal.assignment_id, at.timestamp_millis(), by, &reason).await {
                Ok(()) => log_change(&tx, appeal.person_id.0, at.timestamp_millis()).await?,
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        tx.commit().await?;
        Ok(appeal)
    }

    async fn health_changes_since(&self, since: i64, limit: u32) -> Result<Vec<(i64, PersonId)>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT seq, person_id FROM health_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&since, &i64::from(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, PersonId(r.try_get(1)?)))).collect()
    }

    async fn latest_health_change(&self) -> Result<i64, StoreError> {
        let c = self.pool.get().await?;
        Ok(c.query_one("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM health_changes", &[]).await?.try_get(0)?)
    }

    async fn get_appeal(&self, id: i64) -> Result<Appeal, StoreError> {
        let c = self.pool.get().await?;
        select_appeal(&c, id).await
    }

    async fn appeals_of(&self, person: PersonId) -> Result<Vec<Appeal>, StoreError> {
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {APPEAL_COLUMNS} FROM appeals a JOIN code_assignments c ON c.id = a.assignment_id
             WHERE c.person_id = $1 ORDER BY a.id"
        );
        let rows = c.query(&sql, &[&person.0]).await?;
        rows.iter().map(|r| appeal_row(r)?.decode()).collect()
    }
}
