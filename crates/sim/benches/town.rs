//! The town simulation's scale target: 10,000 residents × 14 days in under
//! 60 s (DESIGN.md). Runs the release binary on the default town (2,000
//! residents, the baseline measured in the same run) and on 10,000, and
//! prints wall times, the per-resident-day cost of each and their ratio.
//!
//! ```sh
//! cargo bench -p greenlight-sim --bench town
//! GREENLIGHT_BENCH_RESIDENTS=5000 cargo bench -p greenlight-sim --bench town
//! ```

use serde_json::Value;
use std::process::Command;
use std::time::Instant;

fn run(residents: u32, days: u32) -> (f64, Value) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_greenlight-sim"))
        .args(["--residents", &residents.to_string(), "--days", &days.to_string(), "--json"])
        .output()
        .expect("greenlight-sim runs");
    let wall = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    (wall, serde_json::from_str(&String::from_utf8_lossy(&output.stdout)).expect("JSON"))
}

fn main() {
    let big: u32 = std::env::var("GREENLIGHT_BENCH_RESIDENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let days = 14;
    let mut rows = Vec::new();
    for residents in [2_000, big] {
        let (wall, doc) = run(residents, days);
        let per = wall / f64::from(residents * days) * 1e6;
        println!(
            "town {residents:>6} residents × {days} days: {wall:>6.1} s wall (ground truth {:.1} s, radio + server + phones {:.1} s), {per:.1} µs per resident-day; recall {:.3}, precision {:.3}",
            doc["seconds"]["ground_truth"].as_f64().unwrap_or(0.0),
            doc["seconds"]["town"].as_f64().unwrap_or(0.0),
            doc["greenlight"]["recall"].as_f64().unwrap_or(0.0),
            doc["greenlight"]["precision"].as_f64().unwrap_or(0.0),
        );
        let strategies: Vec<String> = doc["strategies"]
            .as_object()
            .map(|o| o.iter().map(|(k, v)| format!("{k} {:.2} s", v["seconds"].as_f64().unwrap_or(0.0))).collect())
            .unwrap_or_default();
        println!(
            "  strategies {:.1} s in all: {}",
            doc["seconds"]["strategies"].as_f64().unwrap_or(0.0),
            strategies.join(", ")
        );
        rows.push((residents, wall, per));
    }
    let (base, target) = (rows[0], rows[1]);
    println!(
        "cost per resident-day at {} vs {} residents: × {:.2}; {} residents × {days} days: {:.1} s (target < 60 s: {})",
        target.0,
        base.0,
        target.2 / base.2,
        target.0,
        target.1,
        if target.1 < 60.0 { "met" } else { "not met" }
    );
}
