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
mod strategies;
mod truth;
mod venues;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layout::{PlaceKind, STEPS_PER_DAY, Town};
pub(crate) use phones::PolicyChoice;
use score::Scores;
use serde_json::{Value, json};
use std::time::Instant;
use strategies::{Metrics, Strategy};
pub(crate) use truth::Behaviour;

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
    /// How residents respond to a yellow code in the strategy passes.
    pub(crate) behaviour: Behaviour,
    /// Run the strategy passes.
    pub(crate) strategies: bool,
    /// Candidate policies: each adds a pass of Greenlight (Bluetooth +
    /// venues) under it, beside the signed policy's.
    pub(crate) candidates: Vec<PolicyChoice>,
}

/// One strategy's pass: its metrics, and what the tests compare.
pub(crate) struct StrategyRun {
    /// Its name in the table and its key in `--json`.
    pub(crate) name: String,
    pub(crate) key: String,
    /// Wall time of the pass and its metrics, seconds.
    pub(crate) seconds: f64,
    pub(crate) metrics: Metrics,
    /// Every infection: who infected whom, where and when.
    pub(crate) transmissions: Vec<truth::Transmission>,
    /// The first positive result and the first upload, steps from day 0.
    pub(crate) first_result: Option<u64>,
    pub(crate) first_upload: Option<u64>,
}

/// What happened and how well the phones did.
pub(crate) struct Outcome {
    options: Options,
    /// Each place's kind, by place.
    place_kinds: Vec<PlaceKind>,
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
    /// Each strategy's pass, in [`Strategy::ALL`]'s order.
    pub(crate) strategies: Vec<StrategyRun>,
    /// Seconds: ground truth, radio pass, strategy passes, total.
    seconds: [f64; 4],
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
        let bar = ProgressBar::with_draw_target(Some(2 * total_steps + 13 + 5), ProgressDrawTarget::stderr());
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
    let policy = phones::policy(&options.policy, START_DAY.start());
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
    let radio_secs = radio_started.elapsed().as_secs_f64();

    // The strategies, each its own pass over the same town and seed; no
    // app is the ground truth's own pass.
    bar.set_message("strategies");
    let strategies_started = Instant::now();
    let mut detector = strategies::Detector::new(&run.phones, &run.heard, START_DAY, options.days);
    let mut passes = Vec::new();
    let candidates: Vec<(Strategy, String, String, greenlight_protocol::policy::ColorPolicy)> = Strategy::ALL
        .into_iter()
        .map(|s| (s, s.name().to_owned(), s.key().to_owned(), policy))
        .chain(options.candidates.iter().map(|c| {
            let name = c.name();
            (
                Strategy::Greenlight,
                format!("Greenlight BT + venues, {}", name.trim_start_matches("file ")),
                format!("{} {name}", Strategy::Greenlight.key()),
                phones::policy(c, START_DAY.start()),
            )
        }))
        .filter(|_| options.strategies)
        .collect();
    for (strategy, name, key, policy) in candidates {
        let pass_started = Instant::now();
        let own = (strategy != Strategy::NoApp).then(|| {
            strategies::pass(
                strategy,
                &town,
                options.days,
                options.seed_cases,
                options.seed,
                options.behaviour,
                &policy,
                &mut detector,
            )
        });
        let t = own.as_ref().unwrap_or(&truth);
        let metrics = Metrics::of(&town, t, options.days);
        passes.push(StrategyRun {
            name,
            key,
            seconds: pass_started.elapsed().as_secs_f64(),
            metrics,
            transmissions: t.transmissions.clone(),
            first_result: t.reports.iter().flatten().map(|p| p.result_step).min(),
            first_upload: t.reports.iter().flatten().map(|p| p.step).min(),
        });
        bar.inc(1);
    }
    drop(detector);
    let strategies_secs = strategies_started.elapsed().as_secs_f64();
    bar.finish_and_clear();

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
        place_kinds: town.places.iter().map(|p| p.kind).collect(),
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
        strategies: passes,
        seconds: [truth_secs, radio_secs, strategies_secs, started.elapsed().as_secs_f64()],
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
                "name": o.policy.name(),
                "attenuation_thresholds_db": p.attenuation_thresholds_db,
                "bucket_weights_percent": p.bucket_weights_percent,
                "min_weighted_minutes_per_day": p.min_weighted_minutes_per_day,
                "min_transmission_risk": p.min_transmission_risk,
                "min_venue_overlap_minutes": strategies::venue_overlaps_json(&p.min_venue_overlap_minutes),
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
            "behaviour": {
                "yellow_days_at_home": truth::YELLOW_DAYS,
                "red_days_at_home": truth::RED_DAYS,
                "compliance": o.behaviour.compliance,
            },
            "strategies": self.strategies_json(),
            "seconds": {
                "ground_truth": self.seconds[0],
                "town": self.seconds[1],
                "strategies": self.seconds[2],
                "total": self.seconds[3],
            },
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
            "policy ({}): buckets at {:?} dB weighted {:?} %, {} weighted minutes a day",
            o.policy.name(),
            p.attenuation_thresholds_db,
            p.bucket_weights_percent,
            p.min_weighted_minutes_per_day
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
        println!();
        self.print_strategies();
        println!();
        println!(
            "time: ground truth {:.1} s, radio + server + phones {:.1} s, strategies {:.1} s, total {:.1} s",
            self.seconds[0], self.seconds[1], self.seconds[2], self.seconds[3]
        );
    }

    /// The strategies as JSON, by key.
    fn strategies_json(&self) -> Value {
        let Some(no_app) = self.strategies.first().map(|s| &s.metrics) else { return json!({}) };
        self.strategies
            .iter()
            .map(|s| {
                let mut v = s.metrics.json(self.options.residents, no_app);
                v["first_result_step"] = json!(s.first_result);
                v["seconds"] = json!(s.seconds);
                v["first_upload_step"] = json!(s.first_upload);
                v["transmissions"] = s
                    .transmissions
                    .iter()
                    .map(|t| {
                        json!({
                            "from": t.from,
                            "to": t.to,
                            "place": t.place.map(|p| self.place_kinds[p as usize].name()),
                            "step": t.step,
                        })
                    })
                    .collect();
                (s.key.clone(), v)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// The strategies' table.
    fn print_strategies(&self) {
        let Some(no_app) = self.strategies.first().map(|s| &s.metrics) else { return };
        let o = &self.options;
        println!(
            "strategies, each its own pass over the same town and seed (yellow: {} days at home, red: {}; {:.0} % of \
             residents comply):",
            truth::YELLOW_DAYS,
            truth::RED_DAYS,
            100.0 * o.behaviour.compliance
        );
        println!(
            "{:<44} {:>8} {:>8} {:>11} {:>12} {:>8} {:>6} {:>7} {:>7} {:>9}",
            "", "infected", "averted", "quarantine", "(uninfected)", "per case", "SAR", "ever Y", "peak Y", "hours"
        );
        let share = |n: u32| 100.0 * f64::from(n) / f64::from(o.residents.max(1));
        for s in &self.strategies {
            let m = &s.metrics;
            let sar = m.attack_rate().map_or("-".to_owned(), |r| format!("{:.1}%", 100.0 * r));
            let hours = m.hours_quantile(0.5).map_or("-".to_owned(), |h| format!("{h:.1}"));
            println!(
                "{:<44} {:>8} {:>8} {:>11.0} {:>12.0} {:>8.1} {:>6} {:>6.1}% {:>6.1}% {:>9}",
                s.name,
                m.infections,
                i64::from(no_app.infections) - i64::from(m.infections),
                m.quarantine_days,
                m.quarantine_days_uninfected,
                m.notifications_per_reporter(),
                sar,
                share(m.notified),
                share(m.peak_yellow),
                hours
            );
        }
        println!("(infected: new infections from day 1, the truth no phone knows; averted: against no app;");
        println!(" quarantine: person-days yellow, of which (uninfected) never infected; per case: residents");
        println!(" alerted per resident who reported; SAR: share of the alerted infected within 14 days of");
        println!(" their alert; ever Y, peak Y: share of the town ever yellow and yellow at once at most;");
        println!(" hours: median from the case's positive result to the alert)");
    }

    /// The self-contained HTML report.
    pub(crate) fn html(&self) -> String {
        html::render(self)
    }
}

/// Mean and standard deviation (over the runs, n − 1).
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// Each strategy's figures over several seeds: `(name, key, per figure (name, values))`.
type SeedFigures = Vec<(String, String, Vec<(&'static str, Vec<f64>)>)>;

fn seed_figures(outcomes: &[Outcome]) -> SeedFigures {
    let Some(first) = outcomes.first() else { return Vec::new() };
    first
        .strategies
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let figure = |f: &dyn Fn(&Outcome, &Metrics, &Metrics) -> Option<f64>| -> Vec<f64> {
                outcomes
                    .iter()
                    .filter_map(|o| {
                        let (no_app, m) = (&o.strategies.first()?.metrics, &o.strategies.get(i)?.metrics);
                        f(o, no_app, m)
                    })
                    .collect()
            };
            let share = |o: &Outcome, n: u32| f64::from(n) / f64::from(o.options.residents.max(1));
            let figures = vec![
                ("infections", figure(&|_, _, m| Some(f64::from(m.infections)))),
                ("infections_averted", figure(&|_, n, m| Some(f64::from(n.infections) - f64::from(m.infections)))),
                ("quarantine_person_days", figure(&|_, _, m| Some(m.quarantine_days))),
                ("quarantine_person_days_never_infected", figure(&|_, _, m| Some(m.quarantine_days_uninfected))),
                ("notifications_per_reporter", figure(&|_, _, m| Some(m.notifications_per_reporter()))),
                ("secondary_attack_rate_notified", figure(&|_, _, m| m.attack_rate())),
                ("ever_yellow_share", figure(&|o, _, m| Some(share(o, m.notified)))),
                ("peak_yellow_share", figure(&|o, _, m| Some(share(o, m.peak_yellow)))),
                ("hours_to_alert_median", figure(&|_, _, m| m.hours_quantile(0.5))),
            ];
            (run.name.clone(), run.key.clone(), figures)
        })
        .collect()
}

/// Several seeds' strategies: mean and standard deviation of each figure.
pub(crate) fn seeds_json(outcomes: &[Outcome]) -> Value {
    let strategies: serde_json::Map<String, Value> = seed_figures(outcomes)
        .into_iter()
        .map(|(_, key, figures)| {
            let figures: serde_json::Map<String, Value> = figures
                .into_iter()
                .map(|(name, values)| {
                    let (mean, sd) = mean_sd(&values);
                    (name.to_owned(), json!({ "mean": mean, "sd": sd, "values": values }))
                })
                .collect();
            (key, Value::Object(figures))
        })
        .collect();
    json!({
        "seeds": outcomes.iter().map(|o| o.options.seed).collect::<Vec<_>>(),
        "strategies": strategies,
        "runs": outcomes.iter().map(Outcome::json).collect::<Vec<_>>(),
    })
}

/// Several seeds' strategies as a table: mean ± standard deviation.
pub(crate) fn print_seeds(outcomes: &[Outcome]) {
    let Some(first) = outcomes.first() else { return };
    let seeds: Vec<String> = outcomes.iter().map(|o| o.options.seed.to_string()).collect();
    println!(
        "Greenlight town: {} residents, {} days, policy {}, {:.0} % of yellow residents comply; seeds {} \
         (mean ± standard deviation over the seeds)",
        first.options.residents,
        first.options.days,
        first.options.policy.name(),
        100.0 * first.options.behaviour.compliance,
        seeds.join(", ")
    );
    println!();
    println!(
        "{:<44} {:>13} {:>13} {:>15} {:>15} {:>11} {:>13} {:>13} {:>13} {:>11}",
        "", "infected", "averted", "quarantine", "(uninfected)", "per case", "SAR %", "ever Y %", "peak Y %", "hours"
    );
    for (name, _, figures) in seed_figures(outcomes) {
        let cells: Vec<String> = figures
            .iter()
            .map(|(figure, values)| {
                let scale = if figure.ends_with("share") || figure.starts_with("secondary") { 100.0 } else { 1.0 };
                let (mean, sd) = mean_sd(values);
                if mean.is_nan() {
                    "-".to_owned()
                } else if scale > 1.0 || figure.starts_with("notifications") || figure.starts_with("hours") {
                    format!("{:.1} ± {:.1}", mean * scale, sd * scale)
                } else {
                    format!("{mean:.0} ± {sd:.0}")
                }
            })
            .collect();
        println!(
            "{name:<44} {:>13} {:>13} {:>15} {:>15} {:>11} {:>13} {:>13} {:>13} {:>11}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]
        );
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
            behaviour: Behaviour::default(),
            strategies: true,
            candidates: Vec::new(),
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

    /// When nobody complies, an alert changes nobody's day: every strategy
    /// then lives exactly the epidemic of no app, infection for infection,
    /// while still alerting residents (and only after someone reported).
    #[tokio::test(flavor = "multi_thread")]
    async fn alerts_that_nobody_heeds_leave_the_epidemic_as_it_was() {
        let options = Options { behaviour: Behaviour { compliance: 0.0 }, seed: 6, days: 7, ..small(true) };
        let o = run(options).await.expect("the town runs");
        let no_app = &o.strategies[0];
        assert!(no_app.metrics.infections >= 1 && no_app.metrics.reporters >= 1, "{:?}", no_app.metrics);
        for s in &o.strategies[1..] {
            assert_eq!(s.transmissions, no_app.transmissions, "{}", s.name);
            assert!(s.metrics.notified > 0, "{} alerted someone", s.name);
            let first = s.metrics.first_alert.expect("an alert");
            assert!(first > no_app.first_result.expect("a result"), "{}", s.name);
        }
    }
}
