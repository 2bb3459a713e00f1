//! `sentinel-bench`: Sentinel's benchmarks. Every figure is printed with the anchor it is judged
//! against, both measured in the same run on the same machine.

// A scan allocates a few dozen small objects on whichever worker thread runs it; glibc's arenas lock and
// consolidate under that pattern, mimalloc's per-thread heaps do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[macro_use]
mod report;
mod credential;
mod gate;
mod trace;
mod trace_postgres;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sentinel-bench", about = "Sentinel benchmarks (build with --release)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Health-code decode + verify against raw Ed25519, and status lookups from a 1 M-person cache.
    Credential {
        /// One JSON line per figure.
        #[arg(long)]
        json: bool,
        /// Persons in the status cache.
        #[arg(long, default_value_t = 1_000_000)]
        persons: usize,
        /// Verifications per side.
        #[arg(long, default_value_t = 20_000)]
        iterations: usize,
    },
    /// Gate decisions over HTTP on loopback (visit committed) against raw Ed25519 verifications/s, on
    /// SQLite and, with SENTINEL_BENCH_POSTGRES_URL, PostgreSQL.
    Gate {
        #[arg(long)]
        json: bool,
        /// Seconds of load per phase (1–35: three phases run on codes that live two minutes).
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Simulated devices, each on its own keep-alive connection. Enough scans must be outstanding to
        /// cover a commit: with 64, 10–20 % of the machine sat idle waiting on PostgreSQL's.
        #[arg(long, default_value_t = 256)]
        connections: usize,
    },
    /// Exposure tracing: the co-presence index against an indexed SQL range join in SQLite on the same
    /// synthetic city and cases (answers compared), plus p50/slowest over sampled cases, a batch, the index's
    /// bytes a visit and its rebuild rate.
    Trace(trace::TraceOptions),
    /// Print a NAT-results CSV for the demo city of `--seed` (the same residents as `sentinel demo`),
    /// with a few deliberately bad rows, for trying `sentinel import`.
    NatCsv {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 3000)]
        persons: usize,
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
    },
}

fn main() -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        note!("warning: a debug build measures nothing useful; run with --release");
    }
    match Cli::parse().command {
        Command::Credential { json, persons, iterations } => credential::run(json, persons, iterations),
        Command::NatCsv { seed, persons, rows } => credential::nat_csv(seed, persons, rows),
        Command::Gate { json, seconds, connections } => gate::run(json, seconds, connections),
        Command::Trace(options) => trace::run(options),
    }
}
