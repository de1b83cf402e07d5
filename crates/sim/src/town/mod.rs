//! The town simulation: residents with homes, offices, buses, restaurants
//! and shops over days; posters at every bus, restaurant and shop; an
//! epidemic; positive tests, upload codes issued through the staff portal
//! and reports through the real client; venue cases traced through the
//! portal and the venue tool; the real server on loopback; every phone
//! matching and deciding its color; all of it scored against ground truth
//! and against a GAEN-style baseline.
//!
//! Two passes over the same deterministic schedule: [`truth`] walks the
//! true positions (close contacts, venue stays, infections, who reports
//! when); [`phones`] runs the radio, the venues, the server and the phones.

mod html;
mod layout;
mod phones;
mod score;
mod services;
mod shared;
mod truth;
mod venues;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layout::{PlaceKind, STEPS_PER_DAY, Town};
pub(crate) use phones::PolicyChoice;
use score::Scores;
use serde_json::{Value, json};
use std::time::Instant;

/// The first simulated day: Monday 2026-05-11.
pub(crate) const START_DAY: greenlight_protocol::time::DayNumber = greenlight_protocol::time::DayNumber(20_584);

/// What to simulate.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Residents.
    pub(crate) residents: u32,
    /// Days (the first is a Monday).
    pub(crate) days: u32,
    /// Residents infected in the five days before the first.
    pub(crate) seed_cases: u32,
    /// Seed of every random choice.
    pub(crate) seed: u64,
    /// The server's database; `None`: SQLite in a temporary directory.
    pub(crate) database_url: Option<String>,
    /// Show a progress bar on the terminal.
    pub(crate) progress: bool,
    /// The color policy the authority signs.
    pub(crate) policy: PolicyChoice,
    /// Phones take the town's shared work (see [`shared`]); without it
    /// each matches everything alone, with the same result.
    pub(crate) shared_work: bool,
}

/// What happened and how well the phones did.
pub(crate) struct Outcome {
    options: Options,
    places: Vec<(PlaceKind, usize)>,
    colors: Vec<[u32; 3]>,
    infections_per_day: Vec<u32>,
    infected: usize,
    reports_per_day: Vec<u32>,
    reported: usize,
    should_be_yellow: usize,
    venue_only: usize,
    greenlight: Scores,
    bluetooth_only: Scores,
    gaen: Scores,
    histogram: [[u64; phones::BINS]; 2],
    batches: usize,
    keys_downloaded: usize,
    receptions: u64,
    stored_sightings: usize,
    exposures: usize,
    stays: usize,
    scans: u64,
    revealed: usize,
    cases: usize,
    trace_batches: usize,
    policy: greenlight_protocol::policy::PolicyParams,
    seconds: [f64; 3],
    /// What each phone ended with: its exposures and colour history.
    #[cfg_attr(not(test), expect(dead_code, reason = "compared by the tests"))]
    ends: Vec<String>,
}

/// Runs the whole simulation.
pub(crate) async fn run(options: Options) -> Result<Outcome, String> {
    let started = Instant::now();
    let town = Town::new(options.residents, options.seed);
    let total_steps = u64::from(options.days) * u64::from(STEPS_PER_DAY);
    let bar = if options.progress {
        let bar = ProgressBar::with_draw_target(Some(2 * total_steps + 13), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:40}] {percent:>3}% {msg} ({elapsed})")
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    bar.set_prefix("ground truth");
    let mut n = 0u64;
    let truth = truth::simulate(&town, options.days, options.seed_cases, options.seed, || {
        n += 1;
        if n.is_multiple_of(48) {
            bar.inc(48);
        }
    });
    bar.set_position(total_steps);
    let truth_secs = started.elapsed().as_secs_f64();

    let scratch = services::ScratchDir::new(options.seed)?;
    let database_url = match &options.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", scratch.0.join("server.sqlite").display()),
    };
    let server_dir = scratch.0.join("server");
    services::private_dir(&server_dir)?;
    let mut services = services::Services::start(&server_dir, &database_url, START_DAY.start()).await?;
    bar.set_prefix("town");
    let policy = phones::policy(options.policy, START_DAY.start());
    let radio_started = Instant::now();
    let mut m = 0u64;
    let run = phones::run(
        &town,
        &truth,
        options.days,
        START_DAY,
        options.seed,
        &mut services,
        &scratch.0,
        &policy,
        options.shared_work,
        || {
            m += 1;
            if m.is_multiple_of(12) {
                bar.inc(12);
                bar.set_message(format!("day {}", 1 + m / u64::from(STEPS_PER_DAY)));
            }
        },
    )
    .await;
    services.stop().await;
    let run = run?;
    bar.finish_and_clear();
    let radio_secs = radio_started.elapsed().as_secs_f64();

    let min_risk = policy.params().min_transmission_risk;
    let should = score::should_be_yellow(&truth, &run.reported, min_risk, START_DAY);
    let greenlight = score::score(&run.phones, &run.reported, &should.at, |p| p.yellow_at);
    let bluetooth_only = score::score(&run.phones, &run.reported, &should.at, |p| p.yellow_ble_at);
    let gaen = score::score(&run.phones, &run.reported, &should.at, |p| p.gaen_at);
    let mut reports_per_day = vec![0u32; options.days as usize];
    for (_, at) in &run.reported {
        if let Some(d) = reports_per_day.get_mut(usize::try_from(at.day().0 - START_DAY.0).unwrap_or(usize::MAX)) {
            *d += 1;
        }
    }
    Ok(Outcome {
        places: PlaceKind::ALL.iter().map(|&k| (k, town.count(k))).collect(),
        colors: run.colors,
        infections_per_day: truth.infections_per_day.clone(),
        infected: truth.infected_at.iter().filter(|i| i.is_some()).count(),
        reports_per_day,
        reported: run.reported.len(),
        should_be_yellow: should.at.len(),
        venue_only: should.venue_only,
        greenlight,
        bluetooth_only,
        gaen,
        histogram: run.histogram,
        batches: run.batches,
        keys_downloaded: run.keys_downloaded,
        receptions: run.receptions,
        stored_sightings: run.phones.iter().map(|p| p.store().sighting_count()).sum(),
        exposures: stored_exposures(&run.phones)?,
        ends: if cfg!(test) { phones::ends(&run.phones)? } else { Vec::new() },
        stays: truth.stays.len(),
        scans: run.scans,
        revealed: run.revealed,
        cases: run.cases,
        trace_batches: run.trace_batches,
        policy: *policy.params(),
        seconds: [truth_secs, radio_secs, started.elapsed().as_secs_f64()],
        options,
    })
}

/// Exposures stored by every phone.
fn stored_exposures(phones: &[phones::Phone]) -> Result<usize, String> {
    use greenlight_phone::Store as _;
    phones.iter().try_fold(0, |n, p| Ok(n + p.store().exposures().map_err(|e| e.to_string())?.len()))
}

fn scores_json(s: &Scores) -> Value {
    json!({
        "true_positives": s.true_positives,
        "false_positives": s.false_positives,
        "false_negatives": s.false_negatives,
        "precision": s.precision(),
        "recall": s.recall(),
        "f1": s.f1(),
        "hours_to_notification": {
            "median": s.delay_quantile(0.5),
            "p90": s.delay_quantile(0.9),
            "max": s.delay_quantile(1.0),
        },
    })
}

impl Outcome {
    /// Everything, for scripts.
    pub(crate) fn json(&self) -> Value {
        let o = &self.options;
        let days: Vec<Value> = self
            .colors
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "date": START_DAY.plus(u32::try_from(i).unwrap_or(0)).iso_date().to_string(),
                    "green": c[0], "yellow": c[1], "red": c[2],
                    "new_infections": self.infections_per_day.get(i),
                    "reports": self.reports_per_day.get(i),
                })
            })
            .collect();
        let p = &self.policy;
        json!({
            "residents": o.residents,
            "days": o.days,
            "seed": o.seed,
            "seed_cases": o.seed_cases,
            "database": if o.database_url.as_deref().is_some_and(|u| u.starts_with("postgres")) { "postgresql" } else { "sqlite" },
            "places": self.places.iter().map(|(k, n)| (k.name().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "per_day": days,
            "infected": self.infected,
            "reported": self.reported,
            "should_be_yellow": self.should_be_yellow,
            "should_be_yellow_venue_only": self.venue_only,
            "greenlight": scores_json(&self.greenlight),
            "greenlight_bluetooth_only": scores_json(&self.bluetooth_only),
            "gaen_baseline": scores_json(&self.gaen),
            "policy": {
                "name": format!("{:?}", o.policy).to_lowercase(),
                "attenuation_thresholds_db": p.attenuation_thresholds_db,
                "bucket_weights_percent": p.bucket_weights_percent,
                "min_weighted_minutes_per_day": p.min_weighted_minutes_per_day,
                "min_transmission_risk": p.min_transmission_risk,
                "min_venue_overlap_minutes": p.min_venue_overlap_minutes,
            },
            "gaen_configuration": {
                "attenuation_thresholds_db": score::GAEN_THRESHOLDS_DB,
                "weights_percent": [100, 50, 0],
                "min_weighted_minutes_per_day": score::GAEN_MIN_WEIGHTED_SECS / 60,
            },
            "attenuation_histogram": {
                "bin_db": phones::BIN_DB,
                "within_2m": self.histogram[0].to_vec(),
                "farther": self.histogram[1].to_vec(),
            },
            "radio": {
                "receptions": self.receptions,
                "stored_sightings": self.stored_sightings,
                "exposures": self.exposures,
            },
            "venues": {
                "stays": self.stays,
                "check_ins": self.scans,
                "visits_revealed": self.revealed,
                "cases": self.cases,
                "trace_batches": self.trace_batches,
            },
            "server": { "export_batches": self.batches, "keys_downloaded": self.keys_downloaded },
            "seconds": { "ground_truth": self.seconds[0], "town": self.seconds[1], "total": self.seconds[2] },
        })
    }

    /// The terminal summary.
    pub(crate) fn print(&self) {
        let o = &self.options;
        println!(
            "Greenlight town: {} residents, {} days from {}, seed {}",
            o.residents,
            o.days,
            START_DAY.iso_date(),
            o.seed
        );
        let places: Vec<String> = self.places.iter().map(|(k, n)| format!("{n} {}", k.name())).collect();
        println!("places: {}", places.join(", "));
        let p = &self.policy;
        println!(
            "policy ({:?}): buckets at {:?} dB weighted {:?} %, {} weighted minutes a day",
            o.policy, p.attenuation_thresholds_db, p.bucket_weights_percent, p.min_weighted_minutes_per_day
        );
        println!();
        println!(
            "{:<12} {:>7} {:>7} {:>7} {:>14} {:>9}",
            "day", "green", "yellow", "red", "newly infected", "reported"
        );
        for (i, c) in self.colors.iter().enumerate() {
            let date = START_DAY.plus(u32::try_from(i).unwrap_or(0)).iso_date().to_string();
            println!(
                "{date:<12} {:>7} {:>7} {:>7} {:>14} {:>9}",
                c[0],
                c[1],
                c[2],
                self.infections_per_day.get(i).copied().unwrap_or(0),
                self.reports_per_day.get(i).copied().unwrap_or(0)
            );
        }
        println!("(residents by color at the end of each day; newly infected: the simulation's truth, which no phone");
        println!(" knows; reported: residents who reported a positive test that day)");
        println!();
        println!(
            "infected {} · reported through the portal and the client {} · ground-truth close contacts of reporters {} \
             ({} through a venue visit only)",
            self.infected, self.reported, self.should_be_yellow, self.venue_only
        );
        println!();
        println!(
            "{:<22} {:>9} {:>9} {:>7} {:>6} {:>6} {:>6} {:>16}",
            "", "precision", "recall", "F1", "right", "false", "missed", "hours to alert"
        );
        for (name, s) in [
            ("Greenlight", &self.greenlight),
            ("  Bluetooth alone", &self.bluetooth_only),
            ("GAEN-style default", &self.gaen),
        ] {
            let delay = match (s.delay_quantile(0.5), s.delay_quantile(0.9)) {
                (Some(m), Some(p)) => format!("{m:.1} (p90 {p:.1})"),
                _ => "-".into(),
            };
            println!(
                "{name:<22} {:>8.1}% {:>8.1}% {:>7.3} {:>6} {:>6} {:>6} {delay:>16}",
                100.0 * s.precision(),
                100.0 * s.recall(),
                s.f1(),
                s.true_positives,
                s.false_positives,
                s.false_negatives
            );
        }
        println!();
        println!("(precision: of the phones that turned yellow, the share that were close contacts; recall: of the");
        println!(" close contacts, the share whose phone turned yellow; right, false, missed: alerted contacts,");
        println!(" alerted non-contacts and contacts never alerted; hours to alert: from the positive result to");
        println!(" the phone's first yellow, median and 90th percentile)");
        println!();
        println!(
            "Bluetooth: phones heard one another's broadcasts {} times and held {} of those sightings at the end; \
             they checked {} published files with {} keys of people who reported",
            self.receptions, self.stored_sightings, self.batches, self.keys_downloaded
        );
        println!(
            "venues: {} check-ins; {} visits revealed, {} venue cases traced through the portal, {} trace batches",
            self.scans, self.revealed, self.cases, self.trace_batches
        );
        println!(
            "time: ground truth {:.1} s, radio + server + phones {:.1} s, total {:.1} s",
            self.seconds[0], self.seconds[1], self.seconds[2]
        );
    }

    /// The self-contained HTML report.
    pub(crate) fn html(&self) -> String {
        html::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(shared_work: bool) -> Options {
        Options {
            residents: 300,
            days: 5,
            seed_cases: 4,
            seed: 11,
            database_url: None,
            progress: false,
            policy: PolicyChoice::Close,
            shared_work,
        }
    }

    /// The town's shared work (each published key's IDs derived once and
    /// looked up in what phones stored; trace entries opened only against
    /// records made at the traced venue) leaves every phone with exactly
    /// the exposures, colours and alerts it finds matching everything on
    /// its own.
    #[tokio::test(flavor = "multi_thread")]
    async fn shared_work_finds_what_every_phone_finds_alone() {
        let shared = run(small(true)).await.expect("the town runs");
        let alone = run(small(false)).await.expect("the town runs");
        let summary = |o: &Outcome| {
            format!("{} reported, {} exposures, {} trace batches", o.reported, o.exposures, o.trace_batches)
        };
        // Enough happened for the comparison to mean something.
        assert!(shared.reported >= 2 && shared.exposures >= 100 && shared.trace_batches >= 1, "{}", summary(&shared));
        assert_eq!(summary(&shared), summary(&alone));
        assert_eq!(shared.ends.len(), alone.ends.len());
        for (r, (a, b)) in shared.ends.iter().zip(&alone.ends).enumerate() {
            assert_eq!(a, b, "phone {r}: with shared work (left) and alone (right)");
        }
        assert_eq!(shared.colors, alone.colors);
    }
}
