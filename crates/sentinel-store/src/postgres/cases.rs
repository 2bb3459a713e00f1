//! PostgreSQL implementation of the tracing contract. Bulk writes go as arrays through `unnest`: one
//! statement for thousands of rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use sentinel_core::{PersonId, RegionCode, VenueCategory, VenueId};
use tokio_postgres::Row;

use super::PostgresStore;
use super::health::log_changes;
use crate::cases::{CASE_COLUMNS, CONTACT_COLUMNS, CONTACT_ORDER, CaseRow, ContactRow, carry_assignments};
use crate::query::{category, region_code};
use crate::{
    Applied, ApplyPlan, BulkVisit, CaseContact, CaseStatus, CaseStore, NewCase, Page, PageRequest,
    StoreError, TraceCase, TraceVisitRow,
};

type R<T> = Result<T, tokio_postgres::Error>;

fn case_row(r: &Row) -> R<CaseRow> {
    Ok(CaseRow {
        id: r.try_get(0)?,
        person_id: r.try_get(1)?,
        onset_at: r.try_get(2)?,
        onset_kind: r.try_get(3)?,
        rule_set: r.try_get(4)?,
        rule_set_version: r.try_get(5)?,
        opened_by: r.try_get(6)?,
        opened_at: r.try_get(7)?,
        traced_at: r.try_get(8)?,
        applied_at: r.try_get(9)?,
        closed_at: r.try_get(10)?,
        closed_by: r.try_get(11)?,
    })
}

fn contact_row(r: &Row) -> R<ContactRow> {
    Ok(ContactRow {
        person_id: r.try_get(0)?,
        tier: r.try_get(1)?,
        venue_id: r.try_get(2)?,
        via_person_id: r.try_get(3)?,
        from_at: r.try_get(4)?,
        to_at: r.try_get(5)?,
        overlap_secs: r.try_get(6)?,
        exposures: r.try_get(7)?,
        assignment_id: r.try_get(8)?,
    })
}

async fn select_case(c: &impl GenericClient, id: i64, lock: bool) -> Result<TraceCase, StoreError> {
    let sql = format!(
        "SELECT {CASE_COLUMNS} FROM trace_cases WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let row = c.query_opt(&sql, &[&id]).await?.ok_or(StoreError::NotFound)?;
    case_row(&row)?.decode()
}

/// The case, locked for this transaction, unless it is closed.
async fn open_case(c: &impl GenericClient, id: i64) -> Result<TraceCase, StoreError> {
    let case = select_case(c, id, true).await?;
    if case.status == CaseStatus::Closed {
        return Err(StoreError::Conflict("case_closed".into()));
    }
    Ok(case)
}

async fn select_contacts(
    c: &impl GenericClient,
    id: i64,
    tier: Option<&str>,
    window: Option<(u32, u32)>,
) -> Result<Vec<CaseContact>, StoreError> {
    let sql = format!(
        "SELECT {CONTACT_COLUMNS} FROM case_contacts WHERE case_id = $1 AND ($2::text IS NULL OR tier = $2)
         {CONTACT_ORDER} LIMIT $3 OFFSET $4"
    );
    // LIMIT NULL is no limit.
    let (offset, limit) = window.map_or((0, None), |(o, l)| (i64::from(o), Some(i64::from(l))));
    let rows = c.query(&sql, &[&id, &tier, &limit, &offset]).await?;
    rows.iter().map(|r| contact_row(r)?.decode()).collect()
}

#[async_trait]
impl CaseStore for PostgresStore {
    async fn visits_for_trace(
        &self,
        since: DateTime<Utc>,
        after_id: i64,
        up_to_id: i64,
    ) -> Result<Vec<TraceVisitRow>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                "SELECT id, person_id, venue_id, entered_at, left_at FROM visits
                 WHERE id > $2 AND id <= $3 AND entered_at >= $1 AND person_id IS NOT NULL AND outcome <> 'deny'",
                &[&since.timestamp_millis(), &after_id, &up_to_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TraceVisitRow {
                    id: r.try_get(0)?,
                    person_id: r.try_get(1)?,
                    venue_id: r.try_get(2)?,
                    entered_at_ms: r.try_get(3)?,
                    left_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    async fn venue_categories(&self) -> Result<Vec<(VenueId, VenueCategory)>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c.query("SELECT id, category FROM venues ORDER BY id", &[]).await?;
        rows.iter().map(|r| Ok((VenueId(r.try_get(0)?), category(r.try_get::<_, &str>(1)?)?))).collect()
    }

    async fn max_visit_id(&self) -> Result<i64, StoreError> {
        let c = self.pool.get().await?;
        Ok(c.query_one("SELECT COALESCE(MAX(id), 0)::bigint FROM visits", &[]).await?.try_get(0)?)
    }

    async fn person_homes(&self) -> Result<Vec<(PersonId, RegionCode)>, StoreError> {
        let c = self.pool.get().await?;
        let rows = c.query("SELECT id, region_code FROM persons ORDER BY id", &[]).await?;
        rows.iter().map(|r| Ok((PersonId(r.try_get(0)?), region_code(r.try_get::<_, &str>(1)?)?))).collect()
    }

    async fn bulk_insert_visits(&self, visits: &[BulkVisit]) -> Result<usize, StoreError> {
        let c = self.pool.get().await?;
        let mut inserted = 0;
        // One statement (its own transaction) per chunk: see MAX_BULK_VISITS.
        for chunk in visits.chunks(crate::MAX_BULK_VISITS) {
            let persons: Vec<i64> = chunk.iter().map(|v| v.person_id.0).collect();
            let venues: Vec<i64> = chunk.iter().map(|v| v.venue_id.0).collect();
            let channels: Vec<&str> = chunk.iter().map(|v| v.channel).collect();
            let entered: Vec<i64> = chunk.iter().map(|v| v.entered_at_ms).collect();
            let left: Vec<Option<i64>> = chunk.iter().map(|v| v.left_at_ms).collect();
            let n = c
                .execute(
                    "INSERT INTO visits (person_id, venue_id, channel, entered_at, left_at, outcome, reasons)
                     SELECT p, v, ch, e, l, 'pass', ''
                     FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS t(p, v, ch, e, l)",
                    &[&persons, &venues, &channels, &entered, &left],
                )
                .await?;
            inserted += n as usize;
        }
        Ok(inserted)
    }

    async fn create_case(&self, case: &NewCase, now: DateTime<Utc>) -> Result<TraceCase, StoreError> {
        let c = self.pool.get().await?;
        let row = c
            .query_one(
                "INSERT INTO trace_cases (person_id, onset_at, onset_kind, rule_set, rule_set_version, opened_by, opened_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &case.person_id.0,
                    &case.onset_at.timestamp_millis(),
                    &case.onset_kind.code(),
                    &case.rule_set,
                    &i64::from(case.rule_set_version),
                    &case.opened_by,
                    &now.timestamp_millis(),
                ],
            )
            .await?;
        select_case(&c, row.try_get(0)?, false).await
    }

    async fn get_case(&self, id: i64) -> Result<TraceCase, StoreError> {
        let c = self.pool.get().await?;
        select_case(&c, id, false).await
    }

    async fn list_cases(
        &self,
        open_only: bool,
        region: Option<&RegionCode>,
        page: PageRequest,
    ) -> Result<Page<TraceCase>, StoreError> {
        let prefix = region.map(|r| r.subtree_like());
        let c = self.pool.get().await?;
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM trace_cases WHERE (NOT $1 OR closed_at IS NULL) AND ($2::bigint IS NULL OR id < $2)
               AND ($4::text IS NULL OR person_id IN (SELECT id FROM persons WHERE region_code LIKE $4))
             ORDER BY id DESC LIMIT $3"
        );
        let rows = c.query(&sql, &[&open_only, &page.after, &i64::from(page.limit + 1), &prefix]).await?;
        let cases = rows.iter().map(|r| case_row(r)?.decode()).collect::<Result<_, StoreError>>()?;
        Ok(Page::from_rows(cases, page.limit, |c: &TraceCase| c.id))
    }

    async fn save_case_trace(
        &self,
        id: i64,
        contacts: &[CaseContact],
        now: DateTime<Utc>,
    ) -> Result<(TraceCase, Vec<CaseContact>), StoreError> {
        let mut contacts = contacts.to_vec();
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        open_case(&tx, id).await?;
        let previous = select_contacts(&tx, id, None, None).await?;
        carry_assignments(&previous, &mut contacts);
        tx.execute("DELETE FROM case_contacts WHERE case_id = $1", &[&id]).await?;
        let col = |f: fn(&CaseContact) -> i64| contacts.iter().map(f).collect::<Vec<i64>>();
        let tiers: Vec<&str> = contacts.iter().map(|k| k.tier.as_str()).collect();
        let assignments: Vec<Option<i64>> = contacts.iter().map(|k| k.assignment_id).collect();
        tx.execute(
            &format!(
                "INSERT INTO case_contacts (case_id, {CONTACT_COLUMNS})
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                                          $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])"
            ),
            &[
                &id,
                &col(|k| k.person_id.0),
                &tiers,
                &col(|k| k.venue_id.0),
                &col(|k| k.via.0),
                &col(|k| k.from.timestamp_millis()),
                &col(|k| k.to.timestamp_millis()),
                &col(|k| k.overlap_secs),
                &col(|k| i64::from(k.exposures)),
                &assignments,
            ],
        )
        .await?;
        tx.execute("UPDATE trace_cases SET traced_at = $2 WHERE id = $1", &[&id, &now.timestamp_millis()])
            .await?;
        let case = select_case(&tx, id, false).await?;
        tx.commit().await?;
        Ok((case, previous))
    }

    async fn case_contacts(
        &self,
        id: i64,
        tier: Option<&str>,
        window: Option<(u32, u32)>,
    ) -> Result<Vec<CaseContact>, StoreError> {
        let c = self.pool.get().await?;
        select_contacts(&c, id, tier, window).await
    }

    async fn apply_case(&self, id: i64, plan: &ApplyPlan, now: DateTime<Utc>) -> Result<Applied, StoreError> {
        let now = now.timestamp_millis();
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Locks the case row: a second apply (or a re-trace) waits, then sees these assignments.
        open_case(&tx, id).await?;
        let tiers: Vec<&str> = plan.tiers.iter().map(|(t, _, _)| t.as_str()).collect();
        let colours: Vec<&str> = plan.tiers.iter().map(|(_, c, _)| c.code()).collect();
        let until: Vec<i64> = plan.tiers.iter().map(|(_, _, u)| u.timestamp_millis()).collect();
        let prefix = plan.region.as_ref().map(|r| r.subtree_like());
        // A person appears once per case, so each new assignment finds its contact row by person.
        let rows = tx
            .query(
                "WITH plan AS (SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[]) AS t(tier, colour, until)),
                 pending AS (
                     SELECT k.person_id, k.tier, plan.colour, plan.until
                     FROM case_contacts k JOIN plan ON plan.tier = k.tier JOIN persons p ON p.id = k.person_id
                     WHERE k.case_id = $1 AND k.assignment_id IS NULL AND ($5::text IS NULL OR p.region_code LIKE $5)),
                 added AS (
                     INSERT INTO code_assignments (person_id, colour, reason, source, set_by, valid_from, valid_until, created_at)
                     SELECT person_id, colour, $6 || ' ' || tier, 'tracing', $7, $8, until, $8 FROM pending
                     RETURNING id, person_id),
                 marked AS (
                     UPDATE case_contacts k SET assignment_id = added.id FROM added
                     WHERE k.case_id = $1 AND k.person_id = added.person_id
                     RETURNING k.person_id, k.tier)
                 SELECT person_id, tier FROM marked ORDER BY person_id",
                &[&id, &tiers, &colours, &until, &prefix, &plan.reason, &plan.set_by, &now],
            )
            .await?;
        let applied: Vec<(PersonId, String)> = rows
            .iter()
            .map(|r| Ok((PersonId(r.try_get(0)?), r.try_get::<_, String>(1)?)))
            .collect::<Result<_, StoreError>>()?;
        let persons: Vec<i64> = applied.iter().map(|(p, _)| p.0).collect();
        log_changes(&tx, &persons, now).await?;
        tx.execute("UPDATE trace_cases SET applied_at = $2 WHERE id = $1", &[&id, &now]).await?;
        let not_applied: i64 = tx
            .query_one(
                "SELECT count(*) FROM case_contacts WHERE case_id = $1 AND assignment_id IS NULL",
                &[&id],
            )
            .await?
            .try_get(0)?;
        let case = select_case(&tx, id, false).await?;
        tx.commit().await?;
        Ok(Applied { case, assigned: applied, not_applied: not_applied as usize })
    }

    async fn close_case(&self, id: i64, by: &str, now: DateTime<Utc>) -> Result<TraceCase, StoreError> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        open_case(&tx, id).await?;
        tx.execute(
            "UPDATE trace_cases SET closed_at = $2, closed_by = $3 WHERE id = $1",
            &[&id, &now.timestamp_millis(), &by],
        )
        .await?;
        let case = select_case(&tx, id, false).await?;
        tx.commit().await?;
        Ok(case)
    }
}
