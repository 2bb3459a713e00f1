//! The PostgreSQL anchor of `sentinel-bench trace`: the same city copied into a scratch database (COPY), the
//! stays resolved the same way, the same two indexes, and the same bounded range join in PostgreSQL's dialect
//! (`greatest`/`least`, plain joins: PostgreSQL orders joins itself and keeps `MATERIALIZED` steps apart).

use anyhow::Context;
use futures_util::SinkExt;
use sentinel_sim::zipf_city::VisitCity;
use sentinel_store::testing::TestDatabase;
use sentinel_trace::{Case, RuleSet};

use crate::trace::{Tiers, min_overlaps, resolve_stays_sql, slot, sql_params};

pub const TRACE_SQL_PG: &str = "
WITH src AS MATERIALIZED (
    SELECT venue, entered, greatest(entered, $2) AS s, ends + $5 AS e
    FROM visits WHERE person = $1 AND entered < $3 AND ends > $2),
close_pairs AS (
    SELECT v.person, greatest(v.entered, src.s) AS start
    FROM src JOIN venues m ON m.venue = src.venue
    JOIN visits v ON v.venue = src.venue AND v.entered >= src.s - m.max_stay AND v.entered < src.e
    WHERE v.person <> $1 AND least(v.ends, src.e) - greatest(v.entered, src.s) >= m.min_overlap),
close AS MATERIALIZED (SELECT person, min(start) AS first FROM close_pairs GROUP BY person),
src2 AS MATERIALIZED (
    SELECT v.venue, greatest(v.entered, c.first) AS s, v.ends + $5 AS e
    FROM close c JOIN visits v ON v.person = c.person AND v.entered < $4 AND v.ends > c.first),
secondary AS MATERIALIZED (
    SELECT DISTINCT v.person
    FROM src2 JOIN venues m ON m.venue = src2.venue
    JOIN visits v ON v.venue = src2.venue AND v.entered >= src2.s - m.max_stay AND v.entered < src2.e
    WHERE least(v.ends, src2.e) - greatest(v.entered, src2.s) >= m.min_overlap
      AND v.person <> $1 AND v.person NOT IN (SELECT person FROM close)),
companion AS (
    SELECT DISTINCT v.person
    FROM src JOIN visits v ON v.venue = src.venue
     AND v.entered >= ((src.entered + $6) / 86400) * 86400 - $6
     AND v.entered < ((src.entered + $6) / 86400) * 86400 - $6 + 86400
    WHERE v.person <> $1)
SELECT 'close'::text, person FROM close
UNION ALL SELECT 'secondary', person FROM secondary
UNION ALL SELECT 'companion', person FROM companion
    WHERE person NOT IN (SELECT person FROM close) AND person NOT IN (SELECT person FROM secondary)";

fn params_of(params: &[i64; 6]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect()
}

/// A scratch database holding the city, and a connection to it.
pub struct PgAnchor {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
    db: Option<TestDatabase>,
    /// Bytes of the visits table and its indexes, a visit.
    pub bytes_a_visit: f64,
}

const COPY_CHUNK: usize = 100_000;

impl PgAnchor {
    /// Creates a scratch database on the server `admin_url` names and loads the city into it.
    pub fn load(admin_url: &str, city: &VisitCity, rules: &RuleSet) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let (client, db) = runtime.block_on(async {
            let db = TestDatabase::create(admin_url).await?;
            let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
                .batch_execute(
                    "CREATE UNLOGGED TABLE raw (id bigint, person bigint, venue bigint, entered bigint,
                                                left_at bigint, default_stay bigint)",
                )
                .await?;
            let sink = client.copy_in("COPY raw FROM STDIN").await?;
            let mut sink = std::pin::pin!(sink);
            for (c, chunk) in city.visits.chunks(COPY_CHUNK).enumerate() {
                let mut text = String::with_capacity(chunk.len() * 48);
                for (i, v) in chunk.iter().enumerate() {
                    let stay = rules.default_stay_minutes(city.categories[v.venue as usize]);
                    let left = v.left.map_or("\\N".to_owned(), |l| l.to_string());
                    let id = c * COPY_CHUNK + i;
                    text.push_str(&format!(
                        "{id}\t{}\t{}\t{}\t{left}\t{stay}\n",
                        v.person, v.venue, v.entered
                    ));
                }
                sink.send(bytes::Bytes::from(text)).await?;
            }
            sink.as_mut().finish().await?;
            client
                .batch_execute(&format!(
                    "CREATE UNLOGGED TABLE visits AS {stays};
                     DROP TABLE raw;
                     CREATE INDEX visits_venue ON visits (venue, entered);
                     CREATE INDEX visits_person ON visits (person, entered);
                     CREATE TABLE venues (venue bigint PRIMARY KEY, max_stay bigint, min_overlap bigint);",
                    stays = resolve_stays_sql("greatest", "least")
                ))
                .await?;
            let longest =
                client.query("SELECT venue, max(ends - entered) FROM visits GROUP BY venue", &[]).await?;
            let mut max_stay = vec![0i64; city.categories.len()];
            for row in longest {
                let (venue, stay): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
                max_stay[venue as usize] = stay;
            }
            let venues: Vec<i64> = (0..city.categories.len() as i64).collect();
            let overlaps = min_overlaps(city, rules);
            client
                .execute(
                    "INSERT INTO venues SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])",
                    &[&venues, &max_stay, &overlaps],
                )
                .await?;
            // One statement each: several in one string run as one transaction, where VACUUM cannot.
            client.batch_execute("VACUUM ANALYZE visits").await?;
            client.batch_execute("ANALYZE venues").await?;
            anyhow::Ok((client, db))
        })?;
        let mut anchor = Self { runtime, client, db: Some(db), bytes_a_visit: f64::NAN };
        let bytes: i64 = anchor
            .runtime
            .block_on(anchor.client.query_one("SELECT pg_total_relation_size('visits')", &[]))?
            .try_get(0)?;
        anchor.bytes_a_visit = bytes as f64 / city.visits.len().max(1) as f64;
        Ok(anchor)
    }

    pub fn plan(&self, case: &Case, now: i64, rules: &RuleSet) -> anyhow::Result<String> {
        let params = sql_params(case, now, rules);
        let refs = params_of(&params);
        let rows = self.runtime.block_on(self.client.query(&format!("EXPLAIN {TRACE_SQL_PG}"), &refs))?;
        Ok(rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>().join("\n  "))
    }

    pub fn trace(&self, case: &Case, now: i64, rules: &RuleSet) -> anyhow::Result<Tiers> {
        let params = sql_params(case, now, rules);
        let refs = params_of(&params);
        let rows =
            self.runtime.block_on(self.client.query(TRACE_SQL_PG, &refs)).context("PostgreSQL trace")?;
        let mut found = Tiers::default();
        for row in rows {
            let (tier, person): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            found[slot(&tier)].insert(u32::try_from(person)?);
        }
        Ok(found)
    }

    /// Drops the scratch database.
    pub fn finish(mut self) -> anyhow::Result<()> {
        if let Some(db) = self.db.take() {
            self.runtime.block_on(db.drop_database())?;
        }
        Ok(())
    }
}
