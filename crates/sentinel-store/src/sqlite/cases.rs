//! SQLite implementation of the tracing contract.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use sentinel_core::{PersonId, RegionCode, VenueCategory, VenueId};

use super::SqliteStore;
use super::health::insert_assignment;
use crate::cases::{CASE_COLUMNS, CONTACT_COLUMNS, CONTACT_ORDER, CaseRow, ContactRow, carry_assignments};
use crate::query::{category, region_code};
use crate::{
    Applied, ApplyPlan, BulkVisit, CaseContact, CaseStatus, CaseStore, NewAssignment, NewCase, Page,
    PageRequest, StoreError, TraceCase, TraceVisitRow,
};
use sentinel_core::health::AssignmentSource;

/// The visit indexes a bulk load drops and rebuilds (name, columns); also re-created at start-up if a load
/// was cut short.
const VISIT_INDEXES: [(&str, &str); 2] =
    [("visits_venue_time", "venue_id, entered_at"), ("visits_person_time", "person_id, entered_at")];

/// Creates the visit indexes that are missing.
pub(super) fn create_visit_indexes(c: &Connection) -> rusqlite::Result<()> {
    for (name, columns) in VISIT_INDEXES {
        c.execute_batch(&format!("CREATE INDEX IF NOT EXISTS {name} ON visits ({columns})"))?;
    }
    Ok(())
}

fn case_row(r: &Row<'_>) -> rusqlite::Result<CaseRow> {
    Ok(CaseRow {
        id: r.get(0)?,
        person_id: r.get(1)?,
        onset_at: r.get(2)?,
        onset_kind: r.get(3)?,
        rule_set: r.get(4)?,
        rule_set_version: r.get(5)?,
        opened_by: r.get(6)?,
        opened_at: r.get(7)?,
        traced_at: r.get(8)?,
        applied_at: r.get(9)?,
        closed_at: r.get(10)?,
        closed_by: r.get(11)?,
    })
}

fn contact_row(r: &Row<'_>) -> rusqlite::Result<ContactRow> {
    Ok(ContactRow {
        person_id: r.get(0)?,
        tier: r.get(1)?,
        venue_id: r.get(2)?,
        via_person_id: r.get(3)?,
        from_at: r.get(4)?,
        to_at: r.get(5)?,
        overlap_secs: r.get(6)?,
        exposures: r.get(7)?,
        assignment_id: r.get(8)?,
    })
}

fn select_case(c: &Connection, id: i64) -> Result<TraceCase, StoreError> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM trace_cases WHERE id = ?1");
    c.query_row(&sql, [id], case_row)?.decode()
}

/// The case, unless it is closed.
fn open_case(c: &Connection, id: i64) -> Result<TraceCase, StoreError> {
    let case = select_case(c, id)?;
    if case.status == CaseStatus::Closed {
        return Err(StoreError::Conflict("case_closed".into()));
    }
    Ok(case)
}

fn select_contacts(
    c: &Connection,
    id: i64,
    tier: Option<&str>,
    window: Option<(u32, u32)>,
) -> Result<Vec<CaseContact>, StoreError> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM case_contacts WHERE case_id = ?1 AND (?2 IS NULL OR tier = ?2)
         {CONTACT_ORDER} LIMIT ?3 OFFSET ?4"
    );
    let (offset, limit) = window.map_or((0, -1), |(o, l)| (i64::from(o), i64::from(l)));
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![id, tier, limit, offset], contact_row)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(ContactRow::decode)).collect()
}

#[async_trait]
impl CaseStore for SqliteStore {
    async fn visits_for_trace(
        &self,
        since: DateTime<Utc>,
        after_id: i64,
        up_to_id: i64,
    ) -> Result<Vec<TraceVisitRow>, StoreError> {
        let since = since.timestamp_millis();
        self.read(Box::new(move |c, _| {
            // Not by an index: the window is most of the table, and a scan in rowid order reads it fastest.
            let mut stmt = c.prepare_cached(
                "SELECT id, person_id, venue_id, entered_at, left_at FROM visits
                 WHERE id > ?2 AND id <= ?3 AND entered_at >= ?1 AND person_id IS NOT NULL AND outcome <> 'deny'",
            )?;
            let rows = stmt.query_map([since, after_id, up_to_id], |r| {
                Ok(TraceVisitRow {
                    id: r.get(0)?,
                    person_id: r.get(1)?,
                    venue_id: r.get(2)?,
                    entered_at_ms: r.get(3)?,
                    left_at_ms: r.get(4)?,
                })
            })?;
            rows.map(|r| r.map_err(StoreError::from)).collect()
        }))
        .await
    }

    async fn venue_categories(&self) -> Result<Vec<(VenueId, VenueCategory)>, StoreError> {
        self.read(Box::new(move |c, _| {
            let mut stmt = c.prepare_cached("SELECT id, category FROM venues ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|r| {
                let (id, cat) = r?;
                Ok((VenueId(id), category(&cat)?))
            })
            .collect()
        }))
        .await
    }

    async fn max_visit_id(&self) -> Result<i64, StoreError> {
        self.read(Box::new(move |c, _| {
            Ok(c.query_row("SELECT COALESCE(MAX(id), 0) FROM visits", [], |r| r.get(0))?)
        }))
        .await
    }

    async fn person_homes(&self) -> Result<Vec<(PersonId, RegionCode)>, StoreError> {
        self.read(Box::new(move |c, _| {
            let mut stmt = c.prepare_cached("SELECT id, region_code FROM persons ORDER BY id")?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            rows.map(|r| {
                let (id, region) = r?;
                Ok((PersonId(id), region_code(&region)?))
            })
            .collect()
        }))
        .await
    }

    async fn bulk_insert_visits(&self, visits: &[BulkVisit]) -> Result<usize, StoreError> {
        let visits = visits.to_vec();
        self.write(Box::new(move |c, _| {
            // A transaction per chunk: see MAX_BULK_VISITS (SQLite commits in id order, but the contract is one).
            for chunk in visits.chunks(crate::MAX_BULK_VISITS) {
                let tx = c.transaction()?;
                {
                    let mut stmt = tx.prepare_cached(
                        "INSERT INTO visits (person_id, venue_id, channel, entered_at, left_at, outcome, reasons)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pass', '')",
                    )?;
                    for v in chunk {
                        stmt.execute(params![
                            v.person_id.0,
                            v.venue_id.0,
                            v.channel,
                            v.entered_at_ms,
                            v.left_at_ms
                        ])?;
                    }
                }
                tx.commit()?;
            }
            Ok(visits.len())
        }))
        .await
    }

    async fn begin_bulk_load(&self) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| {
            for (name, _) in VISIT_INDEXES {
                c.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
            }
            Ok(())
        }))
        .await
    }

    async fn end_bulk_load(&self) -> Result<(), StoreError> {
        self.write(Box::new(move |c, _| Ok(create_visit_indexes(c)?))).await
    }

    async fn create_case(&self, case: &NewCase, now: DateTime<Utc>) -> Result<TraceCase, StoreError> {
        let case = case.clone();
        self.write(Box::new(move |c, _| {
            c.execute(
                "INSERT INTO trace_cases (person_id, onset_at, onset_kind, rule_set, rule_set_version, opened_by, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    case.person_id.0,
                    case.onset_at.timestamp_millis(),
                    case.onset_kind.code(),
                    case.rule_set,
                    case.rule_set_version,
                    case.opened_by,
                    now.timestamp_millis()
                ],
            )?;
            select_case(c, c.last_insert_rowid())
        }))
        .await
    }

    async fn get_case(&self, id: i64) -> Result<TraceCase, StoreError> {
        self.read(Box::new(move |c, _| select_case(c, id))).await
    }

    async fn list_cases(
        &self,
        open_only: bool,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<TraceCase>, StoreError> {
        let prefix = region.map(|r| r.subtree_like());
        self.read(Box::new(move |c, _| {
            let sql = format!(
                "SELECT {CASE_COLUMNS} FROM trace_cases WHERE (?1 = 0 OR closed_at IS NULL) AND (?2 IS NULL OR id < ?2)
                   AND (?4 IS NULL OR person_id IN (SELECT id FROM persons WHERE region_code LIKE ?4))
                 ORDER BY id DESC LIMIT ?3"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![open_only, page.after, page.limit + 1, prefix], case_row)?;
            let cases = rows.map(|r| r.map_err(StoreError::from).and_then(CaseRow::decode)).collect::<Result<_, _>>()?;
            Ok(Page::from_rows(cases, page.limit, |c: &TraceCase| c.id))
        }))
        .await
    }

    async fn save_case_trace(
        &self,
        id: i64,
        contacts: &[CaseContact],
        now: DateTime<Utc>,
    ) -> Result<(TraceCase, Vec<CaseContact>), StoreError> {
        let mut contacts = contacts.to_vec();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            open_case(&tx, id)?;
            let previous = select_contacts(&tx, id, None, None)?;
            carry_assignments(&previous, &mut contacts);
            tx.execute("DELETE FROM case_contacts WHERE case_id = ?1", [id])?;
            {
                let mut stmt = tx.prepare_cached(&format!(
                    "INSERT INTO case_contacts (case_id, {CONTACT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ))?;
                for k in &contacts {
                    stmt.execute(params![
                        id,
                        k.person_id.0,
                        k.tier,
                        k.venue_id.0,
                        k.via.0,
                        k.from.timestamp_millis(),
                        k.to.timestamp_millis(),
                        k.overlap_secs,
                        k.exposures,
                        k.assignment_id
                    ])?;
                }
            }
            tx.execute("UPDATE trace_cases SET traced_at = ?2 WHERE id = ?1", params![id, now.timestamp_millis()])?;
            let case = select_case(&tx, id)?;
            tx.commit()?;
            Ok((case, previous))
        }))
        .await
    }

    async fn case_contacts(
        &self,
        id: i64,
        tier: Option<&str>,
        window: Option<(u32, u32)>,
    ) -> Result<Vec<CaseContact>, StoreError> {
        let tier = tier.map(str::to_owned);
        self.read(Box::new(move |c, _| select_contacts(c, id, tier.as_deref(), window))).await
    }

    async fn apply_case(&self, id: i64, plan: &ApplyPlan, now: DateTime<Utc>) -> Result<Applied, StoreError> {
        let plan = plan.clone();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            open_case(&tx, id)?;
            let prefix = plan.region.as_ref().map(|r| r.subtree_like());
            let pending: Vec<(i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT k.person_id, k.tier FROM case_contacts k JOIN persons p ON p.id = k.person_id
                     WHERE k.case_id = ?1 AND k.assignment_id IS NULL AND (?2 IS NULL OR p.region_code LIKE ?2)
                     ORDER BY k.person_id",
                )?;
                let rows = stmt.query_map(params![id, prefix], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut applied = Vec::new();
            {
                let mut mark = tx.prepare_cached(
                    "UPDATE case_contacts SET assignment_id = ?3 WHERE case_id = ?1 AND person_id = ?2",
                )?;
                for (person, tier) in pending {
                    let Some((_, colour, until)) = plan.tiers.iter().find(|(t, _, _)| *t == tier) else { continue };
                    let assignment = NewAssignment {
                        person_id: PersonId(person),
                        colour: *colour,
                        reason: format!("{} {tier}", plan.reason),
                        source: AssignmentSource::Tracing,
                        set_by: plan.set_by.clone(),
                        valid_from: now,
                        valid_until: Some(*until),
                    };
                    let assignment_id = insert_assignment(&tx, &assignment, now)?;
                    mark.execute(params![id, person, assignment_id])?;
                    applied.push((PersonId(person), tier));
                }
            }
            tx.execute("UPDATE trace_cases SET applied_at = ?2 WHERE id = ?1", params![id, now.timestamp_millis()])?;
            let not_applied: i64 = tx.query_row(
                "SELECT count(*) FROM case_contacts WHERE case_id = ?1 AND assignment_id IS NULL",
                [id],
                |r| r.get(0),
            )?;
            let case = select_case(&tx, id)?;
            tx.commit()?;
            Ok(Applied { case, assigned: applied, not_applied: not_applied as usize })
        }))
        .await
    }

    async fn close_case(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<TraceCase, StoreError> {
        let by = by.to_owned();
        self.write(Box::new(move |c, _| {
            let tx = c.transaction()?;
            open_case(&tx, id)?;
            tx.execute(
                "UPDATE trace_cases SET closed_at = ?2, closed_by = ?3 WHERE id = ?1",
                params![id, now.timestamp_millis(), by],
            )?;
            let case = select_case(&tx, id)?;
            tx.commit()?;
            Ok(case)
        }))
        .await
    }
}
