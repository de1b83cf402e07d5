//! Venue matching on one core: `ENTRIES` published trace entries (default
//! 10,000) against a phone's `CHECKINS` sealed check-ins (default 500, over
//! 14 days), beside what it is made of, measured in the same run.
//!
//! Every entry falls on a day on which the phone checked in, so each costs
//! the matcher one X25519 scalar multiplication and one HKDF (the worst
//! case); ten of them trace real check-ins, which must be found. The
//! baselines: the limit (one multiplication + HKDF per entry, nothing else)
//! and a naive matcher that tries every (entry, check-in) pair — projected
//! from the measured cost of one pair, since running it would take minutes.
//!
//! `cargo bench -p greenlight-protocol --bench venue_matching`.

#[path = "../../../bench/summary.rs"]
mod summary;

use curve25519_dalek::{MontgomeryPoint, Scalar};
use greenlight_protocol::checkin::{CheckInDayKey, VenueMatcher};
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::trace::{TraceEntry, TraceSecret};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, VenueInfo, VenueKind, VenueMasterSecret};
use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;
use std::hint::black_box;
use std::time::Instant;
use summary::{Figure, record, size, verdict};

const FIRST_DAY: u32 = 20_000;
const DAYS: u32 = 14;
/// Entries that trace one of the phone's own check-ins.
const TRACED: usize = 10;

/// Seconds per run of `f`, best of three.
fn best_of_three<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..3 {
        let started = Instant::now();
        let result = f();
        best = best.min(started.elapsed().as_secs_f64());
        out = Some(result);
    }
    (best, out.expect("three runs"))
}

/// A 30-minute epoch on day `FIRST_DAY + day`, starting at half hour `slot`.
fn epoch(day: u32, slot: u32) -> Epoch {
    let start = DayNumber(FIRST_DAY + day).start().plus(u64::from(slot) * 1800);
    Epoch::new(start, 30).expect("epoch")
}

fn main() {
    let n_entries = size("ENTRIES", 10_000, 10_000);
    let n_checkins = size("CHECKINS", 500, 500);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let authority = AuthorityShareKey::generate(&mut rng);
    let day_keys: Vec<CheckInDayKey> =
        (0..DAYS).map(|d| CheckInDayKey::generate(DayNumber(FIRST_DAY + d), &mut rng)).collect();
    let venues: Vec<(VenueMasterSecret, VenueInfo)> = (0..50)
        .map(|i| {
            let info = VenueInfo { name: format!("Venue {i}"), address: "Main St".into(), kind: VenueKind::Restaurant };
            (VenueMasterSecret::generate(&mut rng), info)
        })
        .collect();

    // The phone's check-ins: spread over 14 days, 50 venues, 30-minute epochs.
    let mut records = Vec::with_capacity(n_checkins);
    let mut traced = Vec::new();
    for i in 0..n_checkins {
        let day = u32::try_from(i).expect("few check-ins") % DAYS;
        let slot = u32::try_from(i).expect("few check-ins") / DAYS % 48;
        let (venue, info) = &venues[i % venues.len()];
        let opened = venue.open_epoch(epoch(day, slot), &authority.public_key(), &mut rng).expect("open epoch");
        let poster = venue.poster(info, &opened, opened.epoch.start(), opened.epoch.end()).expect("poster");
        let arrival = opened.epoch.start();
        records.push(
            poster.check_in(&day_keys[day as usize], arrival, arrival.plus(20 * 60), &mut rng).expect("check in"),
        );
        if traced.len() < TRACED {
            traced.push((i % venues.len(), opened));
        }
    }

    // Published entries: ten real traces of the phone's visits, the rest
    // other venues' traces on the same days (random secrets).
    let mut entries: Vec<TraceEntry> = traced
        .iter()
        .map(|(v, opened)| {
            let (venue, _) = &venues[*v];
            let share = authority.open_share(&venue.public_key(), opened).expect("authority share");
            let secret = TraceSecret::combine(&venue.owner_share(&opened.epoch), &share, opened).expect("combine");
            let start = opened.epoch.start();
            TraceEntry::new(&secret, opened, start, start.plus(1800), "Get tested if unwell.", &mut rng).expect("entry")
        })
        .collect();
    let template = entries[0].to_bytes();
    while entries.len() < n_entries {
        let mut bytes = template.clone();
        let day = rng.next_u32() % DAYS;
        bytes[..Epoch::LEN].copy_from_slice(&epoch(day, rng.next_u32() % 48).to_bytes());
        let mut wide = [0u8; 32];
        rng.fill_bytes(&mut wide);
        bytes[Epoch::LEN..Epoch::LEN + 32].copy_from_slice(&Scalar::from_bytes_mod_order(wide).to_bytes());
        entries.push(TraceEntry::from_bytes(&bytes).expect("entry"));
    }

    let days: Vec<_> = day_keys.iter().map(CheckInDayKey::public).collect();
    let matcher = VenueMatcher::new(&days, records);
    let (secs, found) = best_of_three(|| matcher.match_entries(&entries).len());
    assert_eq!(found, TRACED, "every traced check-in is found, nothing else");

    // The limit: one X25519 multiplication and the HKDF of the tag and key
    // per entry, with nothing around them.
    let scalars: Vec<Scalar> = (0..n_entries)
        .map(|_| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            Scalar::from_bytes_mod_order(b)
        })
        .collect();
    let one_pair = |i: usize| {
        let public = days[i % days.len()].public;
        let shared = (MontgomeryPoint(public) * scalars[i]).to_bytes();
        let hk = Hkdf::<Sha256>::new(Some(b"greenlight/v1 check-in"), &[&shared[..], &public[..]].concat());
        let mut tag = [0u8; 16];
        let mut key = [0u8; 32];
        hk.expand(b"greenlight/v1 check-in tag", &mut tag).expect("hkdf");
        hk.expand(b"greenlight/v1 check-in key", &mut key).expect("hkdf");
        black_box((tag, key));
    };
    let (limit, ()) = best_of_three(|| (0..n_entries).for_each(one_pair));
    let per_pair = limit / n_entries as f64;
    let naive = per_pair * n_entries as f64 * n_checkins as f64;

    println!("venue matching: {n_entries} trace entries against {n_checkins} check-ins (14 days), one core");
    println!(
        "matcher:                                 {:>10.1} ms  ({:.2} µs/entry)",
        secs * 1e3,
        secs / n_entries as f64 * 1e6
    );
    println!("limit: X25519 + HKDF per entry:          {:>10.1} ms  ({:.2}x the matcher)", limit * 1e3, secs / limit);
    println!(
        "naive: every (entry, check-in) pair:     {:>10.1} s   (projected from {:.2} µs/pair)",
        naive,
        per_pair * 1e6
    );
    record(&Figure {
        group: "venue matching",
        measurement: format!("{n_entries} trace entries vs {n_checkins} check-ins"),
        value: format!("{:.1}", secs * 1e3),
        unit: "ms",
        baseline: format!("limit (X25519+HKDF/entry) {:.1} ms", limit * 1e3),
        ratio: format!("{:.2}x", secs / limit),
        target: "< 1 s".into(),
        verdict: verdict(secs < 1.0),
    });
    record(&Figure {
        group: "venue matching",
        measurement: "naive all-pairs (projected from measured pair cost)".into(),
        value: format!("{naive:.1}"),
        unit: "s",
        baseline: format!("matcher {:.1} ms", secs * 1e3),
        ratio: format!("matcher {:.0}x faster", naive / secs),
        target: String::new(),
        verdict: "",
    });
}
