//! `greenlight-sim`: the town simulation — residents, venues, an epidemic
//! and phones against the real server and client library, scored against
//! ground truth — and the protocol walkthrough (`greenlight-sim
//! walkthrough`), a small self-checking story told step by step.
//!
//! `main` only parses the command line and dispatches: the town lives in
//! `town`, the walkthrough in `story`.
#![forbid(unsafe_code)]

mod clock;
mod error;
mod expectations;
mod narration;
mod report;
mod story;
mod town;

use clap::{Parser, Subcommand};
use narration::emit;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Simulates a town using Greenlight: residents meet at home, at work, on
/// buses, in restaurants and shops; an epidemic spreads; residents who test
/// positive get a code from the health authority's portal and report with
/// the real client against the real server on loopback; every phone
/// matches and shows its color. Prints how many phones turned yellow that
/// should have (recall) and how many of the yellow ones were right
/// (precision), beside a GAEN-style baseline scoring the same sightings.
#[derive(Debug, Parser)]
#[command(name = "greenlight-sim", version, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    town: TownArgs,
}

#[derive(Debug, clap::Args)]
struct TownArgs {
    /// Residents.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(10..=200_000))]
    residents: u32,
    /// Days to simulate, from Monday 2026-05-11.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=28))]
    days: u32,
    /// Residents infected in the five days before the first (default: one in 150).
    #[arg(long)]
    seed_cases: Option<u32>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the town once per seed of `FIRST-LAST` (say `6-10`) and print
    /// each strategy's figures as mean ± standard deviation over them
    /// (thresholds are chosen on seeds 1–5 and reported on 6–10).
    #[arg(long, value_name = "FIRST-LAST", value_parser = seed_range, conflicts_with_all = ["seed", "report"])]
    seeds: Option<(u64, u64)>,
    /// The server's database: `postgres://…` for an empty PostgreSQL
    /// database; by default SQLite in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// The color policy the health authority signs for the town:
    /// `close`, `recommended`, or a candidate policy to evaluate before it
    /// is signed: a JSON file of the staff portal's policy form fields
    /// (`{"t0": 55, "w0": 100, "min_venue_overlap": 30, …}`; fields left
    /// out keep the recommended policy's values).
    #[arg(long, default_value = "close", value_name = "close|recommended|FILE", value_parser = town::PolicyChoice::parse)]
    policy: town::PolicyChoice,
    /// Every phone matches every published key against every sighting it
    /// stored and opens every trace entry against every check-in, as a
    /// phone alone does, instead of taking the town's shared work (the
    /// same result, many times slower).
    #[arg(long)]
    no_shared_work: bool,
    /// A candidate policy (a JSON file of the portal's policy form fields,
    /// or `close` / `recommended`) to compare with the signed one: adds a
    /// pass of Greenlight (Bluetooth + venues) under it to the strategies.
    /// May be given several times.
    #[arg(long, value_name = "FILE", value_parser = town::PolicyChoice::parse)]
    candidate: Vec<town::PolicyChoice>,
    /// Skip the strategy passes (the town as it ran before they existed:
    /// ground truth, radio pass and scores only).
    #[arg(long)]
    no_strategies: bool,
    /// Share of yellow residents who stay home for the seven days, in the
    /// strategy passes (0–1).
    #[arg(long, default_value_t = 0.8, value_parser = compliance)]
    compliance: f32,
    /// Also write a self-contained HTML report with charts to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the results as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A walkthrough of the whole protocol with a handful of residents, on
    /// the real resident core, server, portal and venue tool in one process
    /// (loopback HTTP only); checks its own story and exits non-zero if an
    /// expectation fails.
    Walkthrough {
        /// Seed of the ChaCha20 RNG the phones' and venues' keys are drawn
        /// from (the server draws its own).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print only the final per-resident decisions, as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Command::Walkthrough { seed, json }) => walkthrough(seed, json),
        None => town(args.town),
    }
}

/// `FIRST-LAST`, at most 20 seeds.
fn seed_range(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = text.split_once('-').ok_or("FIRST-LAST, say 6-10")?;
    let (a, b): (u64, u64) = (a.parse().map_err(|e| format!("{e}"))?, b.parse().map_err(|e| format!("{e}"))?);
    if a <= b && b - a < 20 { Ok((a, b)) } else { Err("FIRST-LAST with FIRST ≤ LAST, at most 20 seeds".into()) }
}

fn town(args: TownArgs) -> ExitCode {
    let options = town::Options {
        residents: args.residents,
        days: args.days,
        seed_cases: args.seed_cases.unwrap_or((args.residents / 150).max(3)),
        seed: args.seed,
        database_url: args.database_url,
        progress: !args.json && std::io::stderr().is_terminal(),
        policy: args.policy,
        shared_work: !args.no_shared_work,
        behaviour: town::Behaviour { compliance: args.compliance },
        strategies: !args.no_strategies,
        candidates: args.candidate,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("greenlight-sim: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((first, last)) = args.seeds {
        let mut outcomes = Vec::new();
        for seed in first..=last {
            match runtime.block_on(town::run(town::Options { seed, ..options.clone() })) {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    eprintln!("greenlight-sim: the town simulation of seed {seed} stopped: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        if args.json {
            emit(&format!("{:#}", town::seeds_json(&outcomes)));
        } else {
            town::print_seeds(&outcomes);
        }
        return ExitCode::SUCCESS;
    }
    let outcome = match runtime.block_on(town::run(options)) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("greenlight-sim: the town simulation stopped: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.report
        && let Err(e) = std::fs::write(path, outcome.html())
    {
        eprintln!("greenlight-sim: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if args.json {
        emit(&format!("{:#}", outcome.json()));
    } else {
        outcome.print();
        if let Some(path) = &args.report {
            println!("report: {}", path.display());
        }
    }
    ExitCode::SUCCESS
}

/// A share from 0 to 1.
fn compliance(text: &str) -> Result<f32, String> {
    let share: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&share) { Ok(share) } else { Err("a share from 0 to 1".into()) }
}

fn walkthrough(seed: u64, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("greenlight-sim: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match runtime.block_on(story::run(seed, narration::Narrator::new(!json))) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("greenlight-sim: the walkthrough stopped at {e}");
            return ExitCode::from(2);
        }
    };
    let expectations = expectations::check(&outcome);
    if json {
        emit(&format!("{:#}", report::json(&outcome, &expectations)));
    } else {
        report::print_plain(&outcome, &expectations);
    }
    let failed: Vec<_> = expectations.iter().filter(|e| !e.holds).collect();
    for expectation in &failed {
        eprintln!("greenlight-sim: expectation failed: {}", expectation.what);
    }
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
