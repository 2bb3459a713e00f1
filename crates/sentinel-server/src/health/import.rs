//! Bulk imports of health records from CSV (UTF-8 with or without BOM, or GBK as Excel on Chinese
//! Windows saves it) and XLSX: every row is validated, good rows are loaded in one transaction per batch,
//! bad rows come back with their line number and reason, and loading the same file twice changes nothing.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use sentinel_core::health::{NatKind, NatOutcome};
use sentinel_core::{PersonId, RegionCode, ResidentIdNumber};
use sentinel_store::{NewItinerary, NewNatResult, NewVaccination, Store, StoreError};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

const UNKNOWN_PERSON: &str = "人员未登记 / no person with this ID number";

/// Rows per transaction.
pub const BATCH: usize = 5_000;
/// How far in the future a timestamp may lie (device clocks drift).
const FUTURE_TOLERANCE_MINUTES: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    NatResults,
    Vaccinations,
    Itineraries,
}

impl ImportKind {
    pub const ALL: [ImportKind; 3] =
        [ImportKind::NatResults, ImportKind::Vaccinations, ImportKind::Itineraries];

    pub fn code(self) -> &'static str {
        match self {
            ImportKind::NatResults => "nat-results",
            ImportKind::Vaccinations => "vaccinations",
            ImportKind::Itineraries => "itineraries",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            ImportKind::NatResults => &["id_number", "sampled_at", "reported_at", "result", "kind"],
            ImportKind::Vaccinations => &["id_number", "dose", "date", "product", "manufacturer"],
            ImportKind::Itineraries => &["id_number", "region_code", "from", "to"],
        }
    }
}

/// Column names in Chinese that operators' spreadsheets use, and the names they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("身份证号", "id_number"),
    ("身份证号码", "id_number"),
    ("采样时间", "sampled_at"),
    ("报告时间", "reported_at"),
    ("检测结果", "result"),
    ("结果", "result"),
    ("检测类型", "kind"),
    ("类型", "kind"),
    ("检测机构", "lab"),
    ("来源编号", "source_id"),
    ("剂次", "dose"),
    ("接种日期", "date"),
    ("疫苗名称", "product"),
    ("生产企业", "manufacturer"),
    ("地区代码", "region_code"),
    ("开始日期", "from"),
    ("结束日期", "to"),
];

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ImportError {
    #[error("文件为空 / the file is empty")]
    Empty,
    #[error("文件编码无法识别（应为UTF-8或GBK）/ the file is neither UTF-8 nor GBK text")]
    Encoding,
    #[error("无法读取CSV / the CSV cannot be read: {0}")]
    Csv(String),
    #[error("无法读取XLSX / the XLSX workbook cannot be read: {0}")]
    Xlsx(String),
    #[error("缺少列 / missing columns: {0}")]
    MissingColumns(String),
    #[error("数据库 / database: {0}")]
    Store(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> Self {
        ImportError::Store(e.to_string())
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RowError {
    /// Line in the file (the header is line 1).
    pub row: usize,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ImportReport {
    /// Valid rows (stored now or already stored before).
    pub accepted: usize,
    /// Rows newly stored by this import.
    pub inserted: usize,
    /// Valid rows that were stored already (re-imports).
    pub duplicates: usize,
    pub rejected: Vec<RowError>,
    /// `utf-8` or `gbk` (CSV), `xlsx`.
    pub encoding: &'static str,
    #[serde(skip)]
    #[schema(ignore)]
    pub touched: Vec<PersonId>,
}

/// The file as text cells: a header and numbered rows.
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
    encoding: &'static str,
}

fn read_table(bytes: &[u8]) -> Result<Table, ImportError> {
    if bytes.starts_with(b"PK\x03\x04") {
        return read_xlsx(bytes);
    }
    let without_bom = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (text, encoding) = match std::str::from_utf8(without_bom) {
        Ok(t) => (std::borrow::Cow::Borrowed(t), "utf-8"),
        Err(_) => {
            let decoded = encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(without_bom);
            (decoded.ok_or(ImportError::Encoding)?, "gbk")
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(h) => h.map_err(|e| ImportError::Csv(e.to_string()))?.iter().map(str::to_owned).collect(),
        None => return Err(ImportError::Empty),
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| ImportError::Csv(e.to_string()))?;
        let line = record.position().map_or(rows.len() + 2, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Table { header, rows, encoding })
}

fn read_xlsx(bytes: &[u8]) -> Result<Table, ImportError> {
    use calamine::{Data, Reader, Xlsx};
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| ImportError::Xlsx(e.to_string()))?;
    let range = workbook
        .worksheet_range_at(0)
        .ok_or(ImportError::Empty)?
        .map_err(|e| ImportError::Xlsx(e.to_string()))?;
    let cell = |d: &Data| match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_owned(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => {
            dt.as_datetime().map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#ERROR {e}"),
    };
    let mut rows = range.rows().enumerate().map(|(i, r)| (i + 1, r.iter().map(cell).collect::<Vec<_>>()));
    let (_, header) = rows.next().ok_or(ImportError::Empty)?;
    let rows = rows.filter(|(_, r)| r.iter().any(|c| !c.is_empty())).collect();
    Ok(Table { header, rows, encoding: "xlsx" })
}

/// Accepts RFC 3339, or a local time `YYYY-MM-DD HH:MM[:SS]` (also with `/`) in the city's zone.
pub fn parse_time(s: &str, tz: FixedOffset) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in
        ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
    {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return tz
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| format!("时间无效 / invalid time {s}"));
        }
    }
    Err(format!("时间格式无效 / invalid time {s:?}: use 2024-04-29 14:03:05 or RFC 3339"))
}

/// Accepts `YYYY-MM-DD`, `YYYY/MM/DD` or `YYYYMMDD`.
pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let s = s.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        .ok_or_else(|| format!("日期无效 / invalid date {s:?}: use 2024-04-29"))
}

/// A validated row waiting for its person id.
enum Pending {
    Nat {
        sampled_at: DateTime<Utc>,
        reported_at: DateTime<Utc>,
        outcome: NatOutcome,
        kind: NatKind,
        lab: Option<String>,
        source_id: Option<String>,
    },
    Vaccination {
        dose: u8,
        date: NaiveDate,
        product: String,
        manufacturer: String,
    },
    Itinerary {
        region: RegionCode,
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// What every row is checked against.
pub struct Context<'a> {
    pub now: DateTime<Utc>,
    pub tz: FixedOffset,
    /// Whether the importing user may write for persons living in this region.
    pub in_scope: &'a (dyn Fn(&RegionCode) -> bool + Sync),
}

fn text(row: &[String], col: Option<usize>) -> &str {
    col.and_then(|c| row.get(c)).map_or("", String::as_str)
}

fn required<'r>(row: &'r [String], cols: &HashMap<&str, usize>, name: &str) -> Result<&'r str, String> {
    let v = text(row, cols.get(name).copied());
    if v.is_empty() { Err(format!("{name} 为空 / {name} is empty")) } else { Ok(v) }
}

fn optional(
    row: &[String],
    cols: &HashMap<&str, usize>,
    name: &str,
    max: usize,
) -> Result<Option<String>, String> {
    let v = text(row, cols.get(name).copied());
    if v.chars().count() > max {
        return Err(format!("{name} 过长 / {name} longer than {max} characters"));
    }
    Ok((!v.is_empty()).then(|| v.to_owned()))
}

fn parse_row(
    kind: ImportKind,
    row: &[String],
    cols: &HashMap<&str, usize>,
    ctx: &Context<'_>,
) -> Result<(ResidentIdNumber, Pending), String> {
    let today = ctx.now.with_timezone(&ctx.tz).date_naive();
    let latest = ctx.now + chrono::Duration::minutes(FUTURE_TOLERANCE_MINUTES);
    let id = ResidentIdNumber::parse(required(row, cols, "id_number")?, today).map_err(|e| e.to_string())?;
    let pending = match kind {
        ImportKind::NatResults => {
            let sampled_at = parse_time(required(row, cols, "sampled_at")?, ctx.tz)?;
            let reported_at = parse_time(required(row, cols, "reported_at")?, ctx.tz)?;
            if sampled_at > latest || reported_at > latest {
                return Err("时间在未来 / time lies in the future".into());
            }
            if reported_at < sampled_at {
                return Err("报告时间早于采样时间 / reported before sampled".into());
            }
            let outcome = required(row, cols, "result")?;
            let kind_text = required(row, cols, "kind")?;
            Pending::Nat {
                sampled_at,
                reported_at,
                outcome: NatOutcome::from_code(&outcome.to_lowercase()).ok_or_else(|| {
                    format!("结果应为 negative/positive（阴性/阳性）/ unknown result {outcome:?}")
                })?,
                kind: NatKind::from_code(&kind_text.to_lowercase()).ok_or_else(|| {
                    format!("类型应为 pcr/antigen（核酸/抗原）/ unknown kind {kind_text:?}")
                })?,
                lab: optional(row, cols, "lab", 100)?,
                source_id: optional(row, cols, "source_id", 64)?,
            }
        }
        ImportKind::Vaccinations => {
            let dose_text = required(row, cols, "dose")?;
            let dose = dose_text
                .parse::<u8>()
                .ok()
                .filter(|d| (1..=10).contains(d))
                .ok_or_else(|| format!("剂次应为1–10 / dose must be 1–10, got {dose_text:?}"))?;
            let date = parse_date(required(row, cols, "date")?)?;
            if date > today {
                return Err("接种日期在未来 / vaccination date lies in the future".into());
            }
            let product = optional(row, cols, "product", 100)?.ok_or("product 为空 / product is empty")?;
            let manufacturer = optional(row, cols, "manufacturer", 100)?
                .ok_or("manufacturer 为空 / manufacturer is empty")?;
            Pending::Vaccination { dose, date, product, manufacturer }
        }
        ImportKind::Itineraries => {
            let region = RegionCode::parse(required(row, cols, "region_code")?).map_err(|e| e.to_string())?;
            let from = parse_date(required(row, cols, "from")?)?;
            let to = parse_date(required(row, cols, "to")?)?;
            if from > to || to > today {
                return Err(
                    "日期区间无效 / from must not follow to, and to must not lie in the future".into()
                );
            }
            Pending::Itinerary { region, from, to }
        }
    };
    Ok((id, pending))
}

async fn store_batch(
    store: &dyn Store,
    batch: Vec<(PersonId, Pending)>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut nats = Vec::new();
    let mut vaccinations = Vec::new();
    let mut stops = Vec::new();
    for (person_id, p) in batch {
        match p {
            Pending::Nat { sampled_at, reported_at, outcome, kind, lab, source_id } => {
                nats.push(NewNatResult { person_id, sampled_at, reported_at, outcome, kind, lab, source_id })
            }
            Pending::Vaccination { dose, date, product, manufacturer } => {
                vaccinations.push(NewVaccination { person_id, dose, date, product, manufacturer })
            }
            Pending::Itinerary { region, from, to } => {
                stops.push(NewItinerary { person_id, region, from, to })
            }
        }
    }
    let mut inserted = 0;
    if !nats.is_empty() {
        inserted += store.add_nat_results(&nats, now).await?;
    }
    if !vaccinations.is_empty() {
        inserted += store.add_vaccinations(&vaccinations, now).await?;
    }
    if !stops.is_empty() {
        inserted += store.add_itineraries(&stops, now).await?;
    }
    Ok(inserted)
}

/// Imports a file; `progress(done, total)` is called as batches are stored.
pub async fn import(
    store: &dyn Store,
    kind: ImportKind,
    bytes: &[u8],
    ctx: &Context<'_>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<ImportReport, ImportError> {
    // Parsing a large file is CPU work: keep it off the async workers.
    let owned = bytes.to_vec();
    let table = tokio::task::spawn_blocking(move || read_table(&owned))
        .await
        .map_err(|e| ImportError::Store(format!("import task: {e}")))??;
    let normalise = |h: &str| {
        let h = h.trim().trim_start_matches('\u{feff}').to_lowercase();
        ALIASES.iter().find(|(zh, _)| *zh == h).map_or(h, |(_, en)| (*en).to_owned())
    };
    let names: Vec<String> = table.header.iter().map(|h| normalise(h)).collect();
    let cols: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    let missing: Vec<&str> = kind.required().iter().copied().filter(|c| !cols.contains_key(c)).collect();
    if !missing.is_empty() {
        return Err(ImportError::MissingColumns(missing.join(", ")));
    }
    let total = table.rows.len();
    let mut rejected = Vec::new();
    let (mut accepted, mut inserted, mut done) = (0, 0, 0);
    let mut touched = HashSet::new();
    for chunk in table.rows.chunks(BATCH) {
        let mut parsed = Vec::with_capacity(chunk.len());
        for (line, row) in chunk {
            match parse_row(kind, row, &cols, ctx) {
                Ok(ok) => parsed.push((*line, ok)),
                Err(error) => rejected.push(RowError { row: *line, error }),
            }
        }
        let ids: Vec<ResidentIdNumber> = parsed.iter().map(|(_, (id, _))| id.clone()).collect();
        let located = store.locate_persons(&ids).await?;
        let mut batch = Vec::with_capacity(parsed.len());
        for ((line, (_, pending)), found) in parsed.into_iter().zip(located) {
            match found {
                // Outside the importer's scope reads as unknown: a file must not probe ID numbers.
                None => rejected.push(RowError { row: line, error: UNKNOWN_PERSON.into() }),
                Some((_, region)) if !(ctx.in_scope)(&region) => {
                    rejected.push(RowError { row: line, error: UNKNOWN_PERSON.into() })
                }
                Some((person, _)) => {
                    touched.insert(person);
                    batch.push((person, pending));
                }
            }
        }
        accepted += batch.len();
        inserted += store_batch(store, batch, ctx.now).await?;
        done += chunk.len();
        progress(done, total);
    }
    rejected.sort_by_key(|r| r.row);
    Ok(ImportReport {
        accepted,
        inserted,
        duplicates: accepted - inserted,
        rejected,
        encoding: table.encoding,
        touched: touched.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates_in_the_forms_operators_write() {
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let expected = Utc.with_ymd_and_hms(2024, 4, 29, 6, 3, 5).unwrap();
        assert_eq!(parse_time("2024-04-29 14:03:05", tz), Ok(expected));
        assert_eq!(parse_time("2024/04/29 14:03:05", tz), Ok(expected));
        assert_eq!(parse_time("2024-04-29T06:03:05Z", tz), Ok(expected));
        assert!(parse_time("2024-02-30 10:00", tz).is_err());
        assert_eq!(parse_date("20240429"), Ok(NaiveDate::from_ymd_opt(2024, 4, 29).unwrap()));
        assert!(parse_date("2023-02-29").is_err());
    }

    #[test]
    fn gbk_and_bom_files_read_as_text() {
        let utf8 = "\u{feff}身份证号,采样时间\n1,2\n".as_bytes().to_vec();
        let t = read_table(&utf8).unwrap();
        assert_eq!((t.header[0].as_str(), t.encoding), ("身份证号", "utf-8"));
        let (gbk, _, _) = encoding_rs::GBK.encode("身份证号,采样时间\n1,2\n");
        let t = read_table(&gbk).unwrap();
        assert_eq!((t.header[0].as_str(), t.encoding, t.rows.len()), ("身份证号", "gbk", 1));
        assert_eq!(read_table(b"\xff\xfe\xfd\x80\x80").err(), Some(ImportError::Encoding));
        assert_eq!(read_table(b"").err(), Some(ImportError::Empty));
    }
}
