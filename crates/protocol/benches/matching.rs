//! Matching throughput on one core, beside the primitives it is made of and
//! a GAEN-style derivation (HKDF + AES-128 over all 144 intervals) measured
//! in the same run on the same machine.
//!
//! `cargo bench -p greenlight-protocol --bench matching` prints one table.
//! Set `KEYS=1000000` to change the publication size (default: a peak day,
//! 360,000 keys).
//!
//! Each scenario is also shown beside its limit, measured in the same run:
//! the raw HKDF (id key) and ChaCha20 keystream for as many blocks per key
//! as the matcher derived in that scenario, with nothing else around them.

#[path = "../../../bench/summary.rs"]
mod summary;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use greenlight_protocol::daily_key::{DailyKey, EncryptedMetadata, EphemeralId, Metadata, PublishedKey};
use greenlight_protocol::matcher::{MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::time::DayNumber;
use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::Sha256;
use std::hint::black_box;
use std::time::Instant;
use summary::{Figure, record, size, verdict};

const FIRST_DAY: u32 = 20_000;
const DAYS: u32 = 14;

/// Seconds per operation of `f`, best of three runs of `n` iterations.
fn time_per_op(n: usize, mut f: impl FnMut(usize)) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            for i in 0..n {
                f(i);
            }
            start.elapsed().as_secs_f64() / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Sightings of 14 days: on each of `days` days, three strangers' IDs are
/// heard in every interval of the contiguous `hours` window (a phone scans
/// every few minutes and hears whoever is around), plus a few sightings of
/// each `met` key inside that window.
fn sightings(rng: &mut ChaCha20Rng, days: u32, hours: (u8, u8), met: &[(DailyKey, DayNumber)]) -> Vec<Sighting> {
    let mut out = Vec::new();
    let slots = hours.0 * 6..hours.1 * 6;
    for day in FIRST_DAY..FIRST_DAY + days {
        for slot in slots.clone() {
            for _ in 0..3 {
                let mut id = [0u8; 16];
                rng.fill_bytes(&mut id);
                out.push(Sighting {
                    id: EphemeralId(id),
                    metadata: EncryptedMetadata([0; 4]),
                    rssi: -70,
                    seen_at: DayNumber(day).interval(slot).start().plus(120),
                });
            }
        }
    }
    for (key, day) in met {
        let s = key.schedule(*day);
        for slot in slots.clone().step_by(7).take(4) {
            let id = s.id(slot);
            out.push(Sighting {
                id,
                metadata: s.seal_metadata(&id, Metadata::v1(-10)),
                rssi: -55,
                seen_at: day.interval(slot).start().plus(60),
            });
        }
    }
    out
}

fn gaen_style(tek: &[u8; 16], sighted: &SightingIndex, start_interval: u32) -> usize {
    let hk = Hkdf::<Sha256>::new(None, tek);
    let mut rpik = [0u8; 16];
    hk.expand(b"EN-RPIK", &mut rpik).expect("hkdf");
    let cipher = Aes128::new(&rpik.into());
    let mut blocks = [aes::Block::default(); 144];
    for (j, block) in blocks.iter_mut().enumerate() {
        block[..6].copy_from_slice(b"EN-RPI");
        block[12..].copy_from_slice(&(start_interval + u32::try_from(j).expect("j < 144")).to_le_bytes());
    }
    cipher.encrypt_blocks(&mut blocks);
    blocks.iter().filter(|b| sighted.contains(&EphemeralId((**b).into()))).count()
}

fn main() {
    let n_keys = size("KEYS", 360_000, 30_000);
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let keys: Vec<(PublishedKey, DayNumber)> = (0..n_keys)
        .map(|i| {
            let mut k = [0u8; 16];
            rng.fill_bytes(&mut k);
            (PublishedKey(k), DayNumber(FIRST_DAY + u32::try_from(i % DAYS as usize).expect("< 14")))
        })
        .collect();
    let met: Vec<(DailyKey, DayNumber)> =
        (0..4).map(|i| (DailyKey::generate(&mut rng), DayNumber(FIRST_DAY + i))).collect();
    let mut published = keys.clone();
    published.extend(met.iter().map(|(k, d)| (k.clone().release(), *d)));
    let published_at = DayNumber(FIRST_DAY + DAYS).end().plus(7200);

    println!("matching {} published keys against 14 days of sightings, one core", published.len());
    println!("{:<52} {:>12} {:>14} {:>8} {:>9}", "measurement", "µs/key", "keys/s/core", "vs GAEN", "vs limit");

    // The GAEN-style baseline: every key costs HKDF + 144 AES blocks.
    let dense = sightings(&mut rng, DAYS, (0, 24), &met);
    // Same look-up structure as the matcher, so the comparison isolates the
    // cost of deriving IDs.
    let sighted = SightingIndex::new(dense, MatchConfig::default());
    let gaen = time_per_op(published.len(), |i| {
        let (k, d) = &published[i];
        black_box(gaen_style(&k.0, &sighted, d.interval(0).0));
    });
    let row = |name: &str, secs: f64| {
        println!("{name:<52} {:>12.3} {:>14.0} {:>7.2}x", secs * 1e6, 1.0 / secs, gaen / secs);
    };
    row("GAEN-style: HKDF + 144 AES-128 blocks + look-ups", gaen);
    let mut limits = Vec::new();

    for (label, days, hours) in [
        ("Greenlight: contact all day, every day (worst case)", DAYS, (0, 24)),
        ("Greenlight: contact 08-20 h every day", DAYS, (8, 20)),
        ("Greenlight: contact 09-17 h every day", DAYS, (9, 17)),
        ("Greenlight: contact 18-20 h every day", DAYS, (18, 20)),
        ("Greenlight: contact 09-17 h on 4 of 14 days", 4, (9, 17)),
    ] {
        let index = SightingIndex::new(sightings(&mut rng, days, hours, &met), MatchConfig::default());
        let mut found = 0;
        let mut blocks = 0;
        let secs = time_per_op(1, |_| {
            let (matches, stats) = index.match_keys(published.iter().copied(), published_at);
            found = matches.iter().filter(|m| !m.sightings.is_empty()).count();
            blocks = stats.blocks_derived;
        }) / published.len() as f64;
        assert_eq!(found, met.len(), "every met key is found");
        // The limit: HKDF + the same number of keystream blocks per key, in
        // one run (the matcher's fastest case), nothing else.
        let per_key = usize::try_from(blocks.div_ceil(published.len() as u64)).expect("≤ 36 blocks");
        let limit = time_per_op(published.len(), |i| {
            let (k, d) = &published[i];
            let hk = Hkdf::<Sha256>::new(Some(b"greenlight/v1 daily key"), &k.0);
            let mut id_key = [0u8; 32];
            hk.expand_multi_info(&[b"greenlight/v1 id key", &d.0.to_le_bytes()], &mut id_key).expect("hkdf");
            let mut stream = [0u8; 64 * 36];
            let mut cipher = ChaCha20::new(&id_key.into(), &[0u8; 12].into());
            cipher.apply_keystream(&mut stream[..64 * per_key]);
            black_box(stream);
        });
        println!("{label:<52} {:>12.3} {:>14.0} {:>7.2}x {:>8.2}x", secs * 1e6, 1.0 / secs, gaen / secs, limit / secs);
        limits.push((label, secs, limit, per_key));
    }

    // The primitives the matcher is made of.
    let hkdf_only = time_per_op(published.len(), |i| {
        let hk = Hkdf::<Sha256>::new(Some(b"greenlight/v1 daily key"), &published[i].0.0);
        let mut id_key = [0u8; 32];
        hk.expand_multi_info(&[b"greenlight/v1 id key", &published[i].1.0.to_le_bytes()], &mut id_key).expect("hkdf");
        black_box(id_key);
    });
    row("primitive: HKDF-SHA256 extract + expand (id key)", hkdf_only);
    let mut cipher = ChaCha20::new(&[7u8; 32].into(), &[0u8; 12].into());
    let one_block = time_per_op(1_000_000, |i| {
        let mut block = [0u8; 64];
        cipher.seek((i % 36) as u64 * 64);
        cipher.apply_keystream(&mut block);
        black_box(block);
    });
    row("primitive: one ChaCha20 block (4 IDs)", one_block);
    let full_day = time_per_op(published.len(), |i| {
        black_box(published[i].0.schedule(published[i].1).all_ids());
    });
    row("primitive: key schedule + all 144 IDs", full_day);
    let aes_only = time_per_op(published.len(), |i| {
        let cipher = Aes128::new(&published[i].0.0.into());
        let mut blocks = [aes::Block::default(); 144];
        cipher.encrypt_blocks(&mut blocks);
        black_box(blocks);
    });
    row("primitive: AES-128 key schedule + 144 blocks", aes_only);
    for (label, secs, limit, per_key) in &limits {
        println!(
            "{:<52} {:>12.3} {:>14.0} {:>7.2}x",
            format!("limit: HKDF + {per_key} ChaCha20 blocks"),
            limit * 1e6,
            1.0 / limit,
            gaen / limit
        );
        let scenario = label.trim_start_matches("Greenlight: ");
        record(&Figure {
            group: "matching",
            measurement: format!("{} keys vs 14 d sightings, {scenario}", published.len()),
            value: format!("{:.0}", 1.0 / secs),
            unit: "keys/s/core",
            baseline: format!("limit HKDF+{per_key} ChaCha20 blocks {:.0}/s; GAEN {:.0}/s", 1.0 / limit, 1.0 / gaen),
            ratio: format!("{:.2}x limit, {:.1}x GAEN", limit / secs, gaen / secs),
            target: "faster than GAEN".into(),
            verdict: verdict(*secs < gaen),
        });
    }
    // DESIGN.md: a peak day (360k keys) against 14 days of sightings in well
    // under 1 s on one core; the worst case (contact all day) is the first.
    let (_, worst, _, _) = limits[0];
    let peak_day = worst * 360_000.0;
    println!("peak day (360,000 keys), worst case, one core: {peak_day:.3} s");
    record(&Figure {
        group: "matching",
        measurement: "peak day 360k keys, worst case (from per-key cost)".into(),
        value: format!("{peak_day:.3}"),
        unit: "s",
        baseline: format!("GAEN-style {:.3} s", gaen * 360_000.0),
        ratio: format!("{:.2}x", peak_day / (gaen * 360_000.0)),
        target: "well under 1 s".into(),
        verdict: verdict(peak_day < 1.0),
    });
}
