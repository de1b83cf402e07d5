//! What every benchmark of the suite shares: whether it runs in quick mode,
//! and the one line per figure it hands to `bench/run`, which prints them
//! all as one table.
//!
//! Each benchmark includes this file with `#[path = …] mod summary;`.
//! `bench/run` sets `BENCH_QUICK=1` for `--quick` and `BENCH_SUMMARY` to a
//! file to which every figure is appended as one tab-separated line:
//! group, measurement, value, unit, baseline, ratio, target, verdict.
#![allow(dead_code)]

use std::io::Write as _;

/// Whether `bench/run --quick` asked for small sizes and short durations.
pub(crate) fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Whether `bench/run --dry-run` asked for one pass at the smallest sizes,
/// to prove each benchmark runs (its figures mean nothing).
pub(crate) fn dry_run() -> bool {
    std::env::var("BENCH_DRY_RUN").is_ok_and(|v| v == "1")
}

/// A number from the environment, else `full`, or `quick` in quick mode;
/// in a dry run at most a tenth of `quick` (and at least 1).
pub(crate) fn size(var: &str, full: usize, quick_size: usize) -> usize {
    if dry_run() {
        return (quick_size / 10).max(1);
    }
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(if quick() { quick_size } else { full })
}

/// One figure of the table.
pub(crate) struct Figure<'a> {
    /// Which benchmark: `matching`, `uploads`, …
    pub(crate) group: &'a str,
    /// What was measured.
    pub(crate) measurement: String,
    /// The number, formatted.
    pub(crate) value: String,
    /// Its unit.
    pub(crate) unit: &'a str,
    /// What it is compared with in the same run (empty if nothing).
    pub(crate) baseline: String,
    /// The figure over its baseline, formatted (empty if no baseline).
    pub(crate) ratio: String,
    /// The target from DESIGN.md (empty if none).
    pub(crate) target: String,
    /// `met`, `MISSED` or empty.
    pub(crate) verdict: &'a str,
}

/// Appends `figure` to `$BENCH_SUMMARY`, if set.
pub(crate) fn record(figure: &Figure<'_>) {
    let Ok(path) = std::env::var("BENCH_SUMMARY") else { return };
    let clean = |s: &str| s.replace(['\t', '\n'], " ");
    let line = [
        clean(figure.group),
        clean(&figure.measurement),
        clean(&figure.value),
        clean(figure.unit),
        clean(&figure.baseline),
        clean(&figure.ratio),
        clean(&figure.target),
        clean(figure.verdict),
    ]
    .join("\t");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("open BENCH_SUMMARY");
    writeln!(file, "{line}").expect("write BENCH_SUMMARY");
}

/// `met` or `MISSED`.
pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Peak and current resident memory of this process in bytes (`VmHWM`,
/// `VmRSS` from `/proc/self/status`).
pub(crate) fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Resets the peak (`VmHWM`) to the current resident size, so that a later
/// [`memory`] reports the peak of what ran in between.
pub(crate) fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS through /proc/self/clear_refs");
}
