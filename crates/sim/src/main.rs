//! `greenlight-sim`: today a deterministic walkthrough of the Greenlight
//! protocol — a small town over three days, in one process, through the
//! real protocol API — that checks its own story; later the town
//! simulation.
//!
//! `main` only parses the command line, runs the story and prints; the
//! story lives in `story`, a resident's phone in `phone`.
#![forbid(unsafe_code)]

mod authority;
mod clock;
mod error;
mod expectations;
mod exposure;
mod key_server;
mod narration;
mod phone;
mod radio;
mod report;
mod story;
mod venue_owner;

use clap::Parser;
use narration::emit;
use std::process::ExitCode;

/// Runs the Greenlight protocol walkthrough: a small town over three days,
/// in one process, with no network. Exits 0 only if every expectation of
/// the story holds.
#[derive(Debug, Parser)]
#[command(name = "greenlight-sim", version)]
struct Args {
    /// Seed of the ChaCha20 RNG every key and nonce is drawn from.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print only the final per-resident decisions, as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match story::run(args.seed, narration::Narrator::new(!args.json)) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("greenlight-sim: the walkthrough stopped at {e}");
            return ExitCode::from(2);
        }
    };
    let expectations = expectations::check(&outcome);
    if args.json {
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
