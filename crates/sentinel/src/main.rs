//! `sentinel`: the one command of the platform: `serve`, `demo`, `gen`, `migrate`, `import`, `load`, `keys`.

// A scan allocates a few dozen small objects on whichever worker thread runs it; glibc's arenas lock and
// consolidate under that pattern, mimalloc's per-thread heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[macro_use]
mod console;
mod demo;
mod generate;
mod import;
mod keys;
mod trace;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sentinel_server::{Config, LogFormat, Secret};
use sentinel_sim::DemoOptions;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sentinel",
    version,
    about = "Sentinel 数字哨兵: venue check-in, health-pass verification and exposure tracing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite in the data directory unless --database-url names PostgreSQL).
    Serve(Common),
    /// Seed a demo Suzhou (idempotently) and serve it.
    Demo {
        #[command(flatten)]
        common: Common,
        /// Seed of the generated city: the same seed gives the same city.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many residents to generate.
        #[arg(long, default_value_t = 3000)]
        persons: usize,
    },
    /// Generate a city's visits for tracing: seeds the demo city unless this data set has one, then writes
    /// the last DAYS days of every resident's scans (ending today unless --end).
    Gen {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 3000)]
        persons: usize,
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Last day generated, YYYY-MM-DD (local); today when absent.
        #[arg(long)]
        end: Option<chrono::NaiveDate>,
    },
    /// Trace one case (--person with --onset-at or --sampled-at) or a batch (--cases FILE.csv with columns
    /// person, onset_at or sampled_at) on the stored visits; prints counts per tier, writes the contacts
    /// with --out. Read-only: cases are opened and applied through the API.
    Trace {
        #[command(flatten)]
        common: Common,
        /// china-2022 or cwa-like.
        #[arg(long, default_value = "china-2022")]
        rule_set: String,
        /// Person id or resident ID number.
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        onset_at: Option<String>,
        #[arg(long)]
        sampled_at: Option<String>,
        #[arg(long)]
        cases: Option<PathBuf>,
        /// Write the contacts here as CSV.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply pending database migrations and print the schema version.
    Migrate(Common),
    /// Import health records from a CSV or XLSX file: nat-results, vaccinations or itineraries.
    Import {
        #[command(flatten)]
        common: Common,
        /// nat-results, vaccinations or itineraries
        kind: String,
        /// The CSV (UTF-8 or GBK) or XLSX file.
        file: PathBuf,
        /// Write the rejected rows to this CSV file (UTF-8 with BOM, opens in Excel).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Drive simulated gate devices against a running server and report throughput and latency.
    Load {
        /// The server, e.g. http://127.0.0.1:8080
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// A user who may register devices and issue health codes (admin).
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long, env = "SENTINEL_LOAD_PASSWORD")]
        password: String,
        /// Simulated devices, each scanning as fast as it is answered.
        #[arg(long, default_value_t = 8)]
        devices: usize,
        /// Residents whose codes are shown.
        #[arg(long, default_value_t = 200)]
        persons: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Key management.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new random personal-data key (64 hex characters) for SENTINEL_DATA_KEY.
    GenerateDataKey,
    /// Create the data directory's key file if it does not exist, and print its path.
    Init(Common),
    /// List the signing keys (trust anchor and issuer keys) with their periods.
    List(Common),
    /// Start a new issuer key; the old one stops signing after a short grace and its codes stay valid.
    Rotate(Common),
    /// Withdraw a key at once (compromise): every code it signed stops verifying.
    Retire {
        #[command(flatten)]
        common: Common,
        /// The key id (hex) from `keys list`.
        kid: String,
    },
}

/// Options every server-side command shares; flags override the file and the environment.
#[derive(Args, Clone)]
struct Common {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (embedded database, key file).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://USER@HOST/DB
    #[arg(long)]
    database_url: Option<String>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<SocketAddr>,
}

impl Common {
    fn config(&self) -> anyhow::Result<Config> {
        let env = std::env::vars().filter(|(k, _)| k.starts_with("SENTINEL_"));
        let mut config = Config::load(self.config.as_deref(), env)?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(Secret::new(url.clone()));
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        Ok(config)
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config: &Config, state: sentinel_server::AppState) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = state.store.backend(), "serving");
    say!("Sentinel 数字哨兵 listening on http://{addr}  (API docs: http://{addr}/api/docs)")?;
    sentinel_server::serve(listener, state, sentinel_server::shutdown_signal()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            note!("错误 / error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(common) => {
            let config = common.config()?;
            init_logging(config.log_format);
            tracing::info!(?config, "starting");
            let store = sentinel_server::open_store(&config).await?;
            let state = sentinel_server::build_state(&config, store).await?;
            serve(&config, state).await
        }
        Command::Demo { common, seed, persons } => {
            let mut config = common.config()?;
            // The demo shows residents their one-time code on the page (there is no SMS gateway).
            config.demo_banner = true;
            init_logging(config.log_format);
            let store = sentinel_server::open_store(&config).await?;
            let login =
                demo::seed(&*store, &config, seed, persons, DemoOptions::default().venues_per_district)
                    .await?;
            // Two weeks of residents' scans up to now, so there is something to trace.
            let days = generate::GenOptions { persons, days: 14, seed, end: None };
            note!("{}", generate::write_visits(&*store, &config, &days).await?);
            // After seeding: the state loads the demo's risk areas and policies at once, not at the next refresh.
            let state = sentinel_server::build_state(&config, store.clone()).await?;
            let addr = config.listen;
            say!("")?;
            say!("演示城市已就绪 / demo city ready: 苏州市 (seed {seed})")?;
            say!("  控制台 API / API:   http://{addr}/api/v1   文档 / docs: http://{addr}/api/docs")?;
            say!("  登录 / login:       {login}")?;
            say!("  数据目录 / data:    {}", config.data_dir.display())?;
            for line in demo::gate_walkthrough(&state).await? {
                say!("  {line}")?;
            }
            if let Some((person, market, at)) = demo::market_visitor(&*store, config.utc_offset()?).await? {
                say!(
                    "  流调演示 / tracing: person {person} was at {market} yesterday from {at}; as tracer:"
                )?;
                say!(
                    "      POST /api/v1/cases {{\"person_id\": {person}, \"sampled_at\": \"<now>\"}}, then \
                     POST /api/v1/cases/<id>/trace, GET …/contacts, POST …/apply"
                )?;
            }
            for line in demo::resident_walkthrough(&state, &config).await? {
                say!("  {line}")?;
            }
            say!("")?;
            serve(&config, state).await
        }
        Command::Gen { common, persons, days, seed, end } => {
            let config = common.config()?;
            init_logging(config.log_format);
            generate::run(&config, &generate::GenOptions { persons, days, seed, end }).await
        }
        Command::Trace { common, rule_set, person, onset_at, sampled_at, cases, out } => {
            let config = common.config()?;
            init_logging(config.log_format);
            trace::run(&config, &trace::TraceOptions { rule_set, person, onset_at, sampled_at, cases, out })
                .await
        }
        Command::Migrate(common) => {
            let config = common.config()?;
            init_logging(config.log_format);
            let store = sentinel_server::open_store(&config).await?;
            say!(
                "{}: schema version {}",
                sentinel_store::redact_url(&config.database_url()),
                store.schema_version().await?
            )?;
            Ok(())
        }
        Command::Import { common, kind, file, report } => {
            let config = common.config()?;
            init_logging(config.log_format);
            import::run(&config, &kind, &file, report.as_deref()).await
        }
        Command::Load { url, username, password, devices, persons, seconds, seed } => {
            let opts = sentinel_sim::load::LoadOptions {
                base_url: url.trim_end_matches('/').to_owned(),
                username,
                password,
                devices,
                persons,
                duration: std::time::Duration::from_secs(seconds),
                seed,
            };
            let report = sentinel_sim::load::run(&opts, &|done| progress!("\r  {done} scans")).await?;
            note!("");
            say!(
                "{} scans in {:.1} s: {:.0} scans/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms; {} errors",
                report.scans,
                report.seconds,
                report.per_second(),
                report.percentile(0.50),
                report.percentile(0.95),
                report.percentile(0.99),
                report.errors
            )?;
            say!("channels: {:?}", report.channels)?;
            say!("outcomes: {:?}", report.outcomes)?;
            say!("reasons:  {:?}", report.reasons)?;
            Ok(())
        }
        Command::Keys(KeysCommand::List(common)) => keys::list(&common.config()?).await,
        Command::Keys(KeysCommand::Rotate(common)) => keys::rotate(&common.config()?).await,
        Command::Keys(KeysCommand::Retire { common, kid }) => keys::retire(&common.config()?, &kid).await,
        Command::Keys(KeysCommand::GenerateDataKey) => {
            say!("{}", sentinel_store::DataKey::generate().to_hex())?;
            Ok(())
        }
        Command::Keys(KeysCommand::Init(common)) => {
            let config = common.config()?;
            anyhow::ensure!(
                config.data_key.is_none(),
                "SENTINEL_DATA_KEY is set: the key comes from configuration"
            );
            sentinel_server::data_key(&config)?;
            say!("{}", config.data_dir.join("data.key").display())?;
            Ok(())
        }
    }
}
