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
//!
//! Every HKDF here, the GAEN baseline's included, is [`SaltedHkdf`]: the
//! salt's HMAC states computed once, six SHA-256 compressions per key, so
//! the ratios compare the ciphers, not two ways of calling SHA-256. Every
//! keystream is written by ChaCha20's core in one call, so its widest
//! backend (AVX-512 where `.cargo/config.toml`'s `chacha20_avx512` is in
//! force and the CPU has it, else AVX2) does many blocks at once.
//!
//! Two rows measure the protocol change that spec §6.3 proposes (IDs from
//! ChaCha8 or ChaCha12 instead of ChaCha20): its worst-case limit.

#[path = "../../../bench/summary.rs"]
mod summary;

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use chacha20::cipher::{KeyIvInit, StreamCipherCore};
use chacha20::variants::Ietf;
use chacha20::{ChaChaCore, R8, R12, R20, Rounds};
use greenlight_protocol::daily_key::{
    DailyKey, EncryptedMetadata, EphemeralId, LABEL_DAILY_KEY_SALT, LABEL_ID_KEY, Metadata, PublishedKey,
};
use greenlight_protocol::kdf::SaltedHkdf;
use greenlight_protocol::matcher::{MatchConfig, Sighting, SightingIndex};
use greenlight_protocol::time::DayNumber;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use std::hint::black_box;
use std::time::Instant;
use summary::{Figure, dry_run, quick, record, size, verdict};

const FIRST_DAY: u32 = 20_000;
const DAYS: u32 = 14;

/// Seconds per operation of `f` over one run of `n` iterations.
fn time_per_op(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        f(i);
    }
    start.elapsed().as_secs_f64() / n as f64
}

/// Rounds of the whole set of measurements; each row keeps its fastest.
/// The rows take turns within a round, so a load that comes and goes on a
/// shared machine slows every row alike rather than the few measured while
/// it lasted.
const ROUNDS: usize = 5;

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

/// GAEN's RPIK: HKDF with no salt (RFC 5869: 32 zero bytes), info "EN-RPIK".
fn gaen_style(hkdf: &SaltedHkdf, tek: &[u8; 16], sighted: &SightingIndex, start_interval: u32) -> usize {
    let rpik: [u8; 16] = hkdf.derive(tek, &[b"EN-RPIK"]);
    let cipher = Aes128::new(&rpik.into());
    let mut blocks = [aes::Block::default(); 144];
    for (j, block) in blocks.iter_mut().enumerate() {
        block[..6].copy_from_slice(b"EN-RPI");
        block[12..].copy_from_slice(&(start_interval + u32::try_from(j).expect("j < 144")).to_le_bytes());
    }
    cipher.encrypt_blocks(&mut blocks);
    blocks.iter().filter(|b| sighted.contains(&EphemeralId((**b).into()))).count()
}

type Block = chacha20::cipher::Block<ChaChaCore<R20, Ietf>>;

/// The raw derivation of `blocks` keystream blocks for one key: HKDF (id
/// key), then ChaCha with `R` rounds from block 0, in one call.
fn limit<R: Rounds>(hkdf: &SaltedHkdf, key: &PublishedKey, day: DayNumber, out: &mut [Block]) {
    let id_key: [u8; 32] = hkdf.derive(&key.0, &[LABEL_ID_KEY, &day.0.to_le_bytes()]);
    ChaChaCore::<R, Ietf>::new(&id_key.into(), &[0u8; 12].into()).write_keystream_blocks(out);
}

fn main() {
    let n_keys = size("KEYS", 360_000, 30_000);
    let rounds = if dry_run() {
        1
    } else if quick() {
        3
    } else {
        ROUNDS
    };
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
    let n = published.len();
    let published = &published;

    println!("matching {n} published keys against 14 days of sightings, one core, fastest of {rounds} rounds");
    #[cfg(target_arch = "x86_64")]
    println!(
        "cpu: avx2 {}, avx512f {}, vaes {}, aes {}, sha {}",
        std::is_x86_feature_detected!("avx2"),
        std::is_x86_feature_detected!("avx512f"),
        std::is_x86_feature_detected!("vaes"),
        std::is_x86_feature_detected!("aes"),
        std::is_x86_feature_detected!("sha"),
    );
    let ours = &SaltedHkdf::new(LABEL_DAILY_KEY_SALT);
    let gaen_hkdf = &SaltedHkdf::new(&[0; 32]);

    // The GAEN-style baseline: every key costs HKDF + 144 AES blocks. Same
    // look-up structure as the matcher, so the comparison isolates the cost
    // of deriving IDs.
    let sighted = &SightingIndex::new(sightings(&mut rng, DAYS, (0, 24), &met), MatchConfig::default());
    let scenarios = [
        ("Greenlight: contact all day, every day (worst case)", DAYS, (0, 24)),
        ("Greenlight: contact 08-20 h every day", DAYS, (8, 20)),
        ("Greenlight: contact 09-17 h every day", DAYS, (9, 17)),
        ("Greenlight: contact 18-20 h every day", DAYS, (18, 20)),
        ("Greenlight: contact 09-17 h on 4 of 14 days", 4, (9, 17)),
    ];
    // Each scenario's index, and the blocks per key the matcher derives
    // there (from one untimed run, which also checks every met key is found).
    let indexes: Vec<(SightingIndex, usize)> = scenarios
        .iter()
        .map(|&(_, days, hours)| {
            let index = SightingIndex::new(sightings(&mut rng, days, hours, &met), MatchConfig::default());
            let (matches, stats) = index.match_keys(published.iter().copied(), published_at);
            assert_eq!(matches.iter().filter(|m| !m.sightings.is_empty()).count(), met.len(), "every met key is found");
            let per_key = usize::try_from(stats.blocks_derived.div_ceil(n as u64)).expect("≤ 36 blocks");
            (index, per_key)
        })
        .collect();

    type Measure<'a> = Box<dyn FnMut() -> f64 + 'a>;
    let mut measures: Vec<(String, Measure<'_>)> = Vec::new();
    measures.push((
        "GAEN-style: HKDF + 144 AES-128 blocks + look-ups".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                let (k, d) = &published[i];
                black_box(gaen_style(gaen_hkdf, &k.0, sighted, d.interval(0).0));
            })
        }),
    ));
    // GAEN's derivation alone, to set beside Greenlight's limits.
    measures.push((
        "GAEN-style limit: HKDF + 144 AES-128 blocks".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                let rpik: [u8; 16] = gaen_hkdf.derive(&published[i].0.0, &[b"EN-RPIK"]);
                let cipher = Aes128::new(&rpik.into());
                let mut blocks = [aes::Block::default(); 144];
                for (j, block) in blocks.iter_mut().enumerate() {
                    block[..6].copy_from_slice(b"EN-RPI");
                    block[12..].copy_from_slice(&u32::try_from(j).expect("j < 144").to_le_bytes());
                }
                cipher.encrypt_blocks(&mut blocks);
                black_box(blocks);
            })
        }),
    ));
    for ((label, _, _), (index, _)) in scenarios.iter().zip(&indexes) {
        measures.push((
            (*label).into(),
            Box::new(move || {
                time_per_op(1, |_| {
                    black_box(index.match_keys(published.iter().copied(), published_at));
                }) / n as f64
            }),
        ));
    }
    // The limits: HKDF + the same number of keystream blocks per key as the
    // matcher derived, in one run (the matcher's fastest case), nothing else.
    for &(_, per_key) in &indexes {
        let mut stream = [Block::default(); 36];
        measures.push((
            format!("limit: HKDF + {per_key} ChaCha20 blocks"),
            Box::new(move || {
                time_per_op(n, |i| {
                    let (k, d) = &published[i];
                    limit::<R20>(ours, k, *d, &mut stream[..per_key]);
                    black_box(&stream);
                })
            }),
        ));
    }
    // The primitives the matcher is made of.
    measures.push((
        "primitive: HKDF-SHA256 extract + expand (id key)".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                let id_key: [u8; 32] = ours.derive(&published[i].0.0, &[LABEL_ID_KEY, &published[i].1.0.to_le_bytes()]);
                black_box(id_key);
            })
        }),
    ));
    let mut stream = [Block::default(); 36];
    measures.push((
        "primitive: 36 ChaCha20 blocks (144 IDs), one call".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                let mut core = ChaChaCore::<R20, Ietf>::new(&[7u8; 32].into(), &[0u8; 12].into());
                stream[0][0] = i.to_le_bytes()[0];
                core.write_keystream_blocks(&mut stream);
                black_box(&stream);
            })
        }),
    ));
    measures.push((
        "primitive: key schedule + all 144 IDs".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                black_box(published[i].0.schedule(published[i].1).all_ids());
            })
        }),
    ));
    measures.push((
        "primitive: AES-128 key schedule + 144 blocks".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                let cipher = Aes128::new(&published[i].0.0.into());
                let mut blocks = [aes::Block::default(); 144];
                cipher.encrypt_blocks(&mut blocks);
                black_box(blocks);
            })
        }),
    ));
    // The proposal of spec §6.3: the same IDs' layout from fewer rounds.
    let mut stream = [Block::default(); 36];
    measures.push((
        "proposal limit: HKDF + 36 ChaCha8 blocks".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                limit::<R8>(ours, &published[i].0, published[i].1, &mut stream);
                black_box(&stream);
            })
        }),
    ));
    let mut stream = [Block::default(); 36];
    measures.push((
        "proposal limit: HKDF + 36 ChaCha12 blocks".into(),
        Box::new(move || {
            time_per_op(n, |i| {
                limit::<R12>(ours, &published[i].0, published[i].1, &mut stream);
                black_box(&stream);
            })
        }),
    ));

    let mut best = vec![f64::INFINITY; measures.len()];
    for _ in 0..rounds {
        for ((_, measure), best) in measures.iter_mut().zip(&mut best) {
            *best = best.min(measure());
        }
    }
    let secs = |name: &str| best[measures.iter().position(|(n, _)| n == name).expect("a measured row")];
    let gaen = best[0];
    let gaen_limit = best[1];

    println!("{:<52} {:>12} {:>14} {:>8} {:>9}", "measurement", "µs/key", "keys/s/core", "vs GAEN", "vs limit");
    let row = |name: &str, secs: f64| {
        println!("{name:<52} {:>12.3} {:>14.0} {:>7.2}x", secs * 1e6, 1.0 / secs, gaen / secs);
    };
    row("GAEN-style: HKDF + 144 AES-128 blocks + look-ups", gaen);
    let mut results = Vec::new();
    for (i, ((label, _, _), (_, per_key))) in scenarios.iter().zip(&indexes).enumerate() {
        let secs = best[2 + i];
        let limit = best[2 + scenarios.len() + i];
        println!("{label:<52} {:>12.3} {:>14.0} {:>7.2}x {:>8.2}x", secs * 1e6, 1.0 / secs, gaen / secs, limit / secs);
        results.push((*label, secs, limit, *per_key));
    }
    for (name, _) in measures.iter().skip(2 + 2 * scenarios.len()) {
        row(name, secs(name));
    }
    row("GAEN-style limit: HKDF + 144 AES-128 blocks", gaen_limit);
    println!("(limits and proposals beside GAEN's limit, which has no look-ups either:)");
    let limits = 2 + scenarios.len()..2 + 2 * scenarios.len();
    for i in limits.chain(measures.len() - 2..measures.len()) {
        let (name, secs) = (&measures[i].0, best[i]);
        println!("{name:<52} {:>12.3} {:>14.0} {:>7.2}x GAEN limit", secs * 1e6, 1.0 / secs, gaen_limit / secs);
    }

    for (label, secs, limit, per_key) in &results {
        let scenario = label.trim_start_matches("Greenlight: ");
        record(&Figure {
            group: "matching",
            measurement: format!("{n} keys vs 14 d sightings, {scenario}"),
            value: format!("{:.0}", 1.0 / secs),
            unit: "keys/s/core",
            baseline: format!("limit HKDF+{per_key} ChaCha20 blocks {:.0}/s; GAEN {:.0}/s", 1.0 / limit, 1.0 / gaen),
            ratio: format!("{:.2}x limit, {:.2}x GAEN", limit / secs, gaen / secs),
            target: "faster than GAEN".into(),
            verdict: verdict(*secs < gaen),
        });
    }
    // DESIGN.md: a worst-case peak day (360k keys) against 14 days of
    // sightings under 0.4 s on one core; the worst case is the first.
    let (_, worst, worst_limit, _) = results[0];
    let peak_day = worst * 360_000.0;
    println!("peak day (360,000 keys), worst case, one core: {peak_day:.3} s");
    record(&Figure {
        group: "matching",
        measurement: "peak day 360k keys, worst case (from per-key cost)".into(),
        value: format!("{peak_day:.3}"),
        unit: "s",
        baseline: format!("GAEN-style {:.3} s", gaen * 360_000.0),
        ratio: format!("{:.2}x", peak_day / (gaen * 360_000.0)),
        target: "under 0.4 s".into(),
        verdict: verdict(peak_day < 0.4),
    });
    // The limit of the worst case beside GAEN's own limit: whether the
    // cipher alone can beat GAEN on this CPU.
    record(&Figure {
        group: "matching",
        measurement: "worst-case limit HKDF + 36 ChaCha20 blocks".into(),
        value: format!("{:.0}", 1.0 / worst_limit),
        unit: "keys/s/core",
        baseline: format!("GAEN limit (HKDF+144 AES) {:.0}/s", 1.0 / gaen_limit),
        ratio: format!("{:.2}x GAEN limit", gaen_limit / worst_limit),
        target: String::new(),
        verdict: "",
    });
    for rounds in [8, 12] {
        let secs = secs(&format!("proposal limit: HKDF + 36 ChaCha{rounds} blocks"));
        record(&Figure {
            group: "matching",
            measurement: format!("proposal (spec §6.3): IDs from ChaCha{rounds}, worst-case limit"),
            value: format!("{:.0}", 1.0 / secs),
            unit: "keys/s/core",
            baseline: format!("GAEN limit {:.0}/s", 1.0 / gaen_limit),
            ratio: format!("{:.2}x GAEN limit", gaen_limit / secs),
            target: String::new(),
            verdict: "",
        });
    }
}
