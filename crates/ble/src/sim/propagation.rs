//! The physical model of the simulated radio: log-distance path loss with
//! log-normal shadowing, walls and bodies, and the deterministic random
//! numbers that drive it.
//!
//! ```text
//! loss(d)   = loss_at_1m + 10 · exponent · log10(max(d, min_distance) / 1 m)   dB
//! attenuation = loss(d) + walls · wall_loss + body(sender) + body(receiver) + X
//! rssi      = tx_power(sender) − attenuation − rssi_correction(receiver)      dBm
//! X         ~ Normal(0, shadowing_sigma²), drawn once per link and scan window
//! ```
//!
//! A phone model's calibration ([`crate::calibration`]) is taken as its
//! physical truth: a client that applies the right calibration recovers
//! `attenuation` exactly (rounding aside), and one that applies the wrong
//! calibration is off by the difference, as a real phone would be.
//!
//! Randomness is counter-based: every draw is a hash of the world's keys
//! (derived from the seed with ChaCha8), the scanner, the window's start and
//! the advertiser. Results therefore depend only on the seed and on what
//! happened in the world, never on the order in which links are evaluated
//! or on how often the caller advances time.

/// Parameters of signal propagation.
///
/// The defaults are a starting point, not a measurement: free-space loss at
/// 1 m, an exponent for a cluttered indoor space, and a few decibels of
/// shadowing. Measured indoor exponents run from about 1.6 to 3.3 with
/// shadowing deviations of 3 to 14 dB depending on the building
/// (Rappaport, *Wireless Communications*, 2nd ed., §4.11).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Propagation {
    /// Path loss at 1 m, dB. Default 40.2: the Friis free-space loss at
    /// 2.44 GHz, `20·log10(4π · 1 m / 0.123 m)`.
    pub loss_at_1m_db: f32,
    /// Path-loss exponent. Default 3.0: people and furniture in the way
    /// (free space is 2). With it, attenuation reaches 63 dB (the recommended
    /// policy's first bucket edge) at about 6 m without walls or bodies.
    pub exponent: f32,
    /// Standard deviation of the log-normal shadowing, dB. Default 4.
    pub shadowing_sigma_db: f32,
    /// Attenuation of one wall, dB. Default 6, an estimate between light
    /// partitions (≈ 3 dB at 2.4 GHz) and brick (≈ 10 dB).
    pub wall_loss_db: f32,
    /// Distances below this count as this, m. Default 0.1: the model has no
    /// meaning inside the near field, and `log10(0)` none at all.
    pub min_distance_m: f32,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation {
            loss_at_1m_db: 40.2,
            exponent: 3.0,
            shadowing_sigma_db: 4.0,
            wall_loss_db: 6.0,
            min_distance_m: 0.1,
        }
    }
}

impl Propagation {
    /// The mean path loss over `distance_m`, without walls, bodies or
    /// shadowing, dB.
    pub fn path_loss_db(&self, distance_m: f32) -> f32 {
        self.loss_at_1m_db + 10.0 * self.exponent * distance_m.max(self.min_distance_m).log10()
    }

    /// Path loss from a squared distance, for the hot loop: no square
    /// root, and `log2` from a table.
    pub(crate) fn path_loss_db_squared(&self, distance_squared_m2: f32, log: &FastLog2) -> f32 {
        let min = self.min_distance_m * self.min_distance_m;
        self.loss_at_1m_db + 5.0 * self.exponent * core::f32::consts::LOG10_2 * log.log2(distance_squared_m2.max(min))
    }

    /// The distance at which the mean path loss reaches `loss_db`, m.
    pub fn distance_for_loss_m(&self, loss_db: f32) -> f32 {
        10f32.powf((loss_db - self.loss_at_1m_db) / (10.0 * self.exponent)).max(self.min_distance_m)
    }
}

/// `log2` by table look-up on the exponent and the top 10 bits of the
/// mantissa, for the hot loop: the error stays below 0.0008, which is
/// 0.004 dB of path loss at exponent 3, far inside the rounding of an RSSI.
#[derive(Debug, Clone)]
pub(crate) struct FastLog2(Box<[f32; 1024]>);

impl FastLog2 {
    #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "small integers; f32 results")]
    pub(crate) fn new() -> Self {
        let mut table = Box::new([0f32; 1024]);
        for (i, v) in table.iter_mut().enumerate() {
            // The middle of each bin halves the worst error.
            *v = (1.0 + (i as f64 + 0.5) / 1024.0).log2() as f32;
        }
        FastLog2(table)
    }

    /// `log2(x)` for a positive, normal `x`.
    #[expect(clippy::cast_precision_loss, clippy::cast_possible_wrap, reason = "an 8-bit exponent")]
    pub(crate) fn log2(&self, x: f32) -> f32 {
        let bits = x.to_bits();
        let exponent = ((bits >> 23) & 0xFF) as i32 - 127;
        exponent as f32 + self.0[((bits >> 13) & 0x3FF) as usize]
    }
}

/// The golden-ratio increment of SplitMix64.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer: a bijection of 64-bit words whose outputs pass
/// statistical test batteries even for consecutive inputs.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A pseudo-random word for `(key, a, b)`.
pub(crate) fn draw(key: u64, a: u64, b: u64) -> u64 {
    mix64(mix64(key ^ a.wrapping_mul(GOLDEN)) ^ b.wrapping_add(GOLDEN))
}

/// A uniform number in `[0, 1)` from the top 53 bits of `word`.
#[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 mantissa exactly")]
pub(crate) fn unit(word: u64) -> f64 {
    (word >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal deviate from `word` (inverse transform of a uniform
/// in the open interval `(0, 1)`); the reference for [`FastNormal`].
#[cfg(test)]
#[expect(clippy::cast_precision_loss, reason = "53 bits fit an f64 mantissa exactly")]
pub(crate) fn standard_normal(word: u64) -> f64 {
    normal_quantile(((word >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64))
}

/// Standard normal deviates for the hot loop: the central 95 % of the
/// distribution by linear interpolation between 4,097 points of the
/// quantile function (error below 2e-5 standard deviations), the tails by
/// [`normal_quantile`] itself.
#[derive(Debug, Clone)]
pub(crate) struct FastNormal(Box<[f32]>);

const CENTRAL: (f64, f64) = (0.025, 0.975);
const STEPS: usize = 4_096;

impl FastNormal {
    #[expect(clippy::cast_precision_loss, clippy::cast_possible_truncation, reason = "small integers; f32 deviates")]
    pub(crate) fn new() -> Self {
        let (low, high) = CENTRAL;
        FastNormal((0..=STEPS).map(|i| normal_quantile(low + (high - low) * i as f64 / STEPS as f64) as f32).collect())
    }

    /// The deviate for `word`, as [`standard_normal`] gives it (to 2e-5).
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "53-bit fractions; an index below STEPS"
    )]
    pub(crate) fn deviate(&self, word: u64) -> f32 {
        let u = ((word >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        let (low, high) = CENTRAL;
        if !(low..high).contains(&u) {
            return normal_quantile(u) as f32;
        }
        let x = (u - low) * (STEPS as f64 / (high - low));
        // Through i32: a single instruction, where f64 → usize is several.
        let i = x as i32 as usize;
        let f = (x - i as f64) as f32;
        self.0[i] + f * (self.0[i + 1] - self.0[i])
    }
}

/// The standard normal quantile function, by Peter Acklam's rational
/// approximation (relative error below 1.2e-9 over `(0, 1)`).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const P_LOW: f64 = 0.024_25;

    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_match_the_tables() {
        for (p, z) in
            [(0.5, 0.0), (0.975, 1.959_963_985), (0.841_344_746, 1.0), (0.001, -3.090_232_306), (1e-9, -5.997_807_015)]
        {
            assert!((normal_quantile(p) - z).abs() < 1e-6, "p = {p}: {}", normal_quantile(p));
            assert!((normal_quantile(1.0 - p) + z).abs() < 1e-6, "1 - p = {}", 1.0 - p);
        }
    }

    #[test]
    fn the_fast_normal_is_the_normal() {
        let fast = FastNormal::new();
        for i in 0..200_000u64 {
            let word = draw(5, i, 0);
            let (exact, quick) = (standard_normal(word), f64::from(fast.deviate(word)));
            assert!((exact - quick).abs() < 1e-4 * exact.abs().max(1.0), "{exact} vs {quick}");
        }
    }

    #[test]
    fn free_space_loss_at_one_metre_is_friis() {
        // 2.44 GHz: λ = c / f = 0.1229 m; 20·log10(4π / λ) = 40.2 dB.
        let wavelength = 299_792_458.0_f64 / 2.44e9;
        let friis = 20.0 * (4.0 * std::f64::consts::PI / wavelength).log10();
        assert!((friis - f64::from(Propagation::default().loss_at_1m_db)).abs() < 0.05, "{friis}");
    }

    #[test]
    fn loss_and_distance_are_inverse() {
        let p = Propagation::default();
        let log = FastLog2::new();
        for d in [0.5_f32, 1.0, 2.0, 7.5, 30.0] {
            assert!((p.distance_for_loss_m(p.path_loss_db(d)) - d).abs() < 1e-3 * d);
        }
        // The table's path loss is within 0.005 dB everywhere that matters.
        for i in 1..200_000u32 {
            let d = i as f32 * 0.001;
            assert!((p.path_loss_db_squared(d * d, &log) - p.path_loss_db(d)).abs() < 0.005, "{d} m");
        }
        assert_eq!(p.path_loss_db(0.0), p.path_loss_db(0.1));
    }

    #[test]
    fn draws_are_uniform_enough() {
        let n = 100_000u64;
        let mean = (0..n).map(|i| unit(draw(7, i, 3))).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        let normals: Vec<f64> = (0..n).map(|i| standard_normal(draw(9, 1, i))).collect();
        let m = normals.iter().sum::<f64>() / 100_000.0;
        let var = normals.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 100_000.0;
        assert!(m.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {m}, variance {var}");
    }
}
