//! Local matching: published daily keys against the IDs this phone heard.
//!
//! This is the hot path of every sync. A peak day publishes about 360,000
//! keys and a phone holds 14 days of sightings, so the matcher avoids work in
//! three ways:
//!
//! 1. A key whose day has no sighting at all costs one table look-up: no
//!    key derivation.
//! 2. For the other keys it derives only the ChaCha20 blocks (four IDs each)
//!    whose intervals could contain a sighting, given the clock tolerance,
//!    instead of all 144 IDs of the day.
//! 3. Each derived ID is first tested against a bitmap of sighted-ID
//!    prefixes that fits in the L2 cache (about 3% false positives); only
//!    hits go on to the sorted array of sighted IDs, behind a radix table,
//!    so a look-up is a few comparisons. An attacker who broadcasts crafted
//!    IDs can lengthen a bucket but not beyond a binary search (no hash
//!    flooding).
//!
//! A candidate is accepted only if the sighting was recorded inside the ID's
//! own interval, widened by the clock tolerance (relays and replays outside
//! it are rejected), the key's day had ended plus the embargo margin before
//! the batch was published (no "time travel"), and the metadata's
//! authentication tag verifies (no tampered transmit power).

use crate::daily_key::{
    BLOCKS_PER_DAY, EPHEMERAL_ID_LEN, EncryptedMetadata, EphemeralId, IDS_PER_BLOCK, IdBlock, IdKeyDeriver, Metadata,
    PublishedKey,
};
use crate::time::{DayNumber, IntervalNumber, UnixTime};

/// Tunables of the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchConfig {
    /// How far outside its own 10-minute interval a sighting of an ID may
    /// lie and still count, in seconds. It absorbs clock error between the
    /// two phones. Default 300 s, so one ID counts for at most 20 minutes.
    pub tolerance_secs: u64,
    /// How long after the end of its day a key may first be published, in
    /// seconds. Default 7200 s (two hours), as the key server's embargo.
    pub embargo_secs: u64,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig { tolerance_secs: 300, embargo_secs: 7200 }
    }
}

/// One reception of an advertisement, as the phone recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// The ID heard.
    pub id: EphemeralId,
    /// The sealed metadata that came with it.
    pub metadata: EncryptedMetadata,
    /// Received signal strength, dBm.
    pub rssi: i8,
    /// When it was heard, by this phone's clock.
    pub seen_at: UnixTime,
}

/// A sighting that matched a published key and passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedSighting {
    /// Position of the sighting in the matcher's input.
    pub sighting: usize,
    /// The interval the ID belongs to.
    pub interval: IntervalNumber,
    /// The decrypted, authenticated metadata.
    pub metadata: Metadata,
}

/// Why a sighting of a published key's ID was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Heard outside the ID's interval plus tolerance: a replay or relay.
    OutsideInterval,
    /// The metadata's tag did not verify: altered in transit.
    TamperedMetadata,
    /// Authentic metadata of a major version this implementation does not
    /// know.
    UnknownVersion,
}

/// Everything the matcher found for one published key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMatch {
    /// Position of the key in the matcher's input.
    pub key: usize,
    /// The day the key was published for.
    pub day: DayNumber,
    /// Sightings that count.
    pub sightings: Vec<VerifiedSighting>,
    /// Sightings of this key's IDs that were refused, and why.
    pub rejected: Vec<(usize, Rejection)>,
}

/// Counters from one matching run, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchStats {
    /// Keys looked at.
    pub keys: u64,
    /// Keys skipped because no sighting falls on their day.
    pub keys_without_sightings: u64,
    /// Keys ignored because they were published before their day had ended
    /// plus the embargo margin.
    pub keys_violating_embargo: u64,
    /// ChaCha20 blocks (four IDs each) in the runs derived: the candidate
    /// blocks and the gaps bridged between them. Each run is generated as a
    /// whole number of SIMD batches, so up to three blocks more per run are
    /// computed; they cost nothing extra and are not counted.
    pub blocks_derived: u64,
}

/// A phone's sightings, indexed for matching. Build it once per sync and
/// match every downloaded batch against it.
#[derive(Debug, Clone)]
pub struct SightingIndex {
    config: MatchConfig,
    sightings: Vec<Sighting>,
    /// `(id, sighting position)` sorted by id.
    sorted: Vec<(u128, u32)>,
    /// `buckets[b]..buckets[b + 1]` is the range of `sorted` whose ids start
    /// with the `radix_bits`-bit prefix `b`.
    buckets: Vec<u32>,
    radix_bits: u32,
    /// Bit `p` is set if some sighted id starts with the `prefix_bits`-bit
    /// prefix `p`: 32 bits per sighting, so few absent ids pass.
    prefixes: Vec<u64>,
    prefix_bits: u32,
    /// First day with any candidate block, and per day from there the
    /// ChaCha20 blocks (bit `b` = IDs `4b..4b+4`) that could match.
    first_day: u32,
    day_blocks: Vec<u64>,
    /// Per day, the keystream runs `(first block, blocks)` to generate: the
    /// candidate blocks, with gaps of up to [`MERGE_GAP_BLOCKS`] filled in
    /// because one longer call is cheaper than two short ones.
    day_runs: Vec<Vec<(u8, u8)>>,
}

/// Largest gap between candidate blocks that is bridged by generating the
/// blocks in between: a separate keystream call costs about as much as two
/// blocks generated in bulk (measured by `benches/matching.rs`).
pub const MERGE_GAP_BLOCKS: u32 = 2;

/// Blocks that ChaCha20's AVX2 (and NEON) backend computes in one go: a run
/// is generated as a multiple of this, since a shorter tail costs as much.
/// Runs are at least [`MERGE_GAP_BLOCKS`]` + 1` blocks apart, so the
/// rounded-up runs never overlap.
const PAR_BLOCKS: u8 = 4;
const _: () = assert!(PAR_BLOCKS as u32 <= MERGE_GAP_BLOCKS + 2, "rounded-up runs would overlap");

fn plan_runs(mut blocks: u64) -> Vec<(u8, u8)> {
    let mut runs: Vec<(u8, u8)> = Vec::new();
    while blocks != 0 {
        let first = blocks.trailing_zeros();
        let len = (blocks >> first).trailing_ones();
        blocks &= !(((1u64 << len) - 1) << first);
        match runs.last_mut() {
            Some((start, run)) if first - (u32::from(*start) + u32::from(*run)) <= MERGE_GAP_BLOCKS => {
                *run = u8::try_from(first + len - u32::from(*start)).expect("at most 36 blocks");
            }
            _ => runs.push((u8::try_from(first).expect("block < 36"), u8::try_from(len).expect("at most 36 blocks"))),
        }
    }
    runs
}

impl SightingIndex {
    /// Indexes `sightings`.
    ///
    /// # Panics
    /// If there are more than `u32::MAX` sightings.
    pub fn new(sightings: Vec<Sighting>, config: MatchConfig) -> Self {
        assert!(u32::try_from(sightings.len()).is_ok(), "too many sightings");
        let mut sorted: Vec<(u128, u32)> = sightings
            .iter()
            .enumerate()
            .map(|(i, s)| (u128::from_be_bytes(s.id.0), u32::try_from(i).expect("checked above")))
            .collect();
        sorted.sort_unstable();

        // About one id per bucket, at most 2^20 buckets (4 MiB).
        let radix_bits = (usize::BITS - sorted.len().leading_zeros()).clamp(1, 20);
        let mut buckets = vec![0u32; (1 << radix_bits) + 1];
        for &(id, _) in &sorted {
            buckets[(id >> (128 - radix_bits)) as usize + 1] += 1;
        }
        for b in 1..buckets.len() {
            buckets[b] += buckets[b - 1];
        }

        let prefix_bits = radix_bits + 5;
        let mut prefixes = vec![0u64; (1usize << prefix_bits).div_ceil(64)];
        for &(id, _) in &sorted {
            let p = (id >> (128 - prefix_bits)) as usize;
            prefixes[p / 64] |= 1 << (p % 64);
        }

        let mut windows = Vec::with_capacity(sightings.len());
        for s in &sightings {
            let first = s.seen_at.minus(config.tolerance_secs).interval();
            // `t < end + tol` and `t >= start - tol`, see `in_window`.
            let last = s.seen_at.plus(config.tolerance_secs).interval();
            windows.push((first, last));
        }
        let first_day = windows.iter().map(|(f, _)| f.day().0).min().unwrap_or(0);
        let last_day = windows.iter().map(|(_, l)| l.day().0).max().unwrap_or(0);
        let mut day_blocks = vec![0u64; (last_day - first_day) as usize + usize::from(!windows.is_empty())];
        for (first, last) in windows {
            for interval in first.0..=last.0 {
                let interval = IntervalNumber(interval);
                let block = interval.slot() / IDS_PER_BLOCK;
                day_blocks[(interval.day().0 - first_day) as usize] |= 1 << block;
            }
        }
        let day_runs = day_blocks.iter().map(|&b| plan_runs(b)).collect();
        SightingIndex {
            day_runs,
            config,
            sightings,
            sorted,
            buckets,
            radix_bits,
            prefixes,
            prefix_bits,
            first_day,
            day_blocks,
        }
    }

    /// The sightings, in input order.
    pub fn sightings(&self) -> &[Sighting] {
        &self.sightings
    }

    /// The candidate blocks of `day` and the runs that cover them.
    fn plan_for(&self, day: DayNumber) -> Option<(u64, &[(u8, u8)])> {
        let d = day.0.checked_sub(self.first_day)? as usize;
        let blocks = *self.day_blocks.get(d)?;
        (blocks != 0).then(|| (blocks, self.day_runs[d].as_slice()))
    }

    /// Whether `id` was sighted at all, at any time.
    pub fn contains(&self, id: &EphemeralId) -> bool {
        self.maybe_contains(&id.0) && !self.lookup(u128::from_be_bytes(id.0)).is_empty()
    }

    /// Whether some sighted ID has the prefix of `id` (a prefix is at most
    /// 25 bits, so the first 8 bytes suffice).
    fn maybe_contains(&self, id: &[u8]) -> bool {
        let high = u64::from_be_bytes(id[..8].try_into().expect("an ID has 16 bytes"));
        let p = usize::try_from(high >> (64 - self.prefix_bits)).expect("a prefix has at most 25 bits");
        self.prefixes[p / 64] & (1 << (p % 64)) != 0
    }

    fn lookup(&self, id: u128) -> &[(u128, u32)] {
        let b = (id >> (128 - self.radix_bits)) as usize;
        let bucket = &self.sorted[self.buckets[b] as usize..self.buckets[b + 1] as usize];
        let start = bucket.partition_point(|&(x, _)| x < id);
        let end = start + bucket[start..].partition_point(|&(x, _)| x == id);
        &bucket[start..end]
    }

    fn in_window(&self, interval: IntervalNumber, seen_at: UnixTime) -> bool {
        let tol = self.config.tolerance_secs;
        seen_at.plus(tol) >= interval.start() && seen_at < interval.end().plus(tol)
    }

    /// Matches published keys, each with its day, against the sightings.
    ///
    /// `published_at` is the batch's publication time: the smaller of its
    /// signed `end` and the time this phone first obtained it (spec §6.2),
    /// so that neither a server nor a phone clock set forward can make a key
    /// look older than it is. Keys whose day had not ended plus the embargo
    /// margin by then are ignored, whatever their IDs.
    pub fn match_keys<I>(&self, keys: I, published_at: UnixTime) -> (Vec<KeyMatch>, MatchStats)
    where
        I: IntoIterator<Item = (PublishedKey, DayNumber)>,
    {
        let deriver = IdKeyDeriver::new();
        let mut stats = MatchStats::default();
        let mut matches = Vec::new();
        let mut stream = [IdBlock::default(); BLOCKS_PER_DAY as usize];
        for (position, (key, day)) in keys.into_iter().enumerate() {
            stats.keys += 1;
            if day.end().plus(self.config.embargo_secs) > published_at {
                stats.keys_violating_embargo += 1;
                continue;
            }
            let Some((blocks, runs)) = self.plan_for(day) else {
                stats.keys_without_sightings += 1;
                continue;
            };
            let mut keystream = deriver.keystream(&key.0, day);
            let mut found: Vec<u8> = Vec::new();
            for &(first, len) in runs {
                // A run's length rounded up to whole SIMD batches costs
                // nothing more: the blocks past it are computed anyway.
                stats.blocks_derived += u64::from(len);
                let len = len.next_multiple_of(PAR_BLOCKS).min(BLOCKS_PER_DAY - first);
                let run = &mut stream[..usize::from(len)];
                keystream.blocks(first, run);
                for (block, ids) in (first..).zip(run.iter()) {
                    if blocks & (1 << block) == 0 {
                        continue; // a bridged gap or a SIMD batch's tail: no sighting could match here
                    }
                    for (slot, id) in (block * IDS_PER_BLOCK..).zip(ids.chunks_exact(EPHEMERAL_ID_LEN)) {
                        if self.maybe_contains(id)
                            && !self.lookup(u128::from_be_bytes(id.try_into().expect("16-byte chunk"))).is_empty()
                        {
                            found.push(slot);
                        }
                    }
                }
            }
            if !found.is_empty() {
                matches.push(self.verify(position, key, day, &found));
            }
        }
        (matches, stats)
    }

    /// Checks time windows and metadata of the sightings of a key's IDs.
    fn verify(&self, position: usize, key: PublishedKey, day: DayNumber, slots: &[u8]) -> KeyMatch {
        let schedule = key.schedule(day);
        let mut result = KeyMatch { key: position, day, sightings: Vec::new(), rejected: Vec::new() };
        for &slot in slots {
            let id = schedule.id(slot);
            let interval = day.interval(slot);
            for &(_, index) in self.lookup(u128::from_be_bytes(id.0)) {
                let sighting = &self.sightings[index as usize];
                let index = index as usize;
                if !self.in_window(interval, sighting.seen_at) {
                    result.rejected.push((index, Rejection::OutsideInterval));
                    continue;
                }
                match schedule.open_metadata(&id, &sighting.metadata) {
                    Ok(metadata) if metadata.major_version() == 1 => {
                        result.sightings.push(VerifiedSighting { sighting: index, interval, metadata })
                    }
                    Ok(_) => result.rejected.push((index, Rejection::UnknownVersion)),
                    Err(_) => result.rejected.push((index, Rejection::TamperedMetadata)),
                }
            }
        }
        result.sightings.sort_by_key(|s| s.sighting);
        result.rejected.sort_unstable_by_key(|r| r.0);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daily_key::DailyKey;

    const DAY: DayNumber = DayNumber(20_000);

    fn heard(key: &DailyKey, slot: u8, offset_secs: i64) -> Sighting {
        let schedule = key.schedule(DAY);
        let id = schedule.id(slot);
        let start = DAY.interval(slot).start().0 as i64;
        Sighting {
            id,
            metadata: schedule.seal_metadata(&id, Metadata::v1(-10)),
            rssi: -60,
            seen_at: UnixTime((start + offset_secs) as u64),
        }
    }

    fn after_embargo() -> UnixTime {
        DAY.end().plus(7200)
    }

    #[test]
    fn a_heard_key_matches_and_an_unheard_one_does_not() {
        let mut rng = rng(1);
        let met = DailyKey::generate(&mut rng);
        let stranger = DailyKey::generate(&mut rng);
        let index = SightingIndex::new(vec![heard(&met, 60, 30), heard(&met, 61, 10)], MatchConfig::default());
        let keys = [(met.clone().release(), DAY), (stranger.release(), DAY)];
        let (matches, stats) = index.match_keys(keys, after_embargo());
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].key, 0);
        assert_eq!(matches[0].sightings.len(), 2);
        assert_eq!(matches[0].sightings[0].metadata, Metadata::v1(-10));
        assert!(matches[0].rejected.is_empty());
        // Only blocks around slots 60-61 were derived, not 36 per key.
        assert!(stats.blocks_derived <= 4, "{stats:?}");
    }

    #[test]
    fn a_replay_outside_the_interval_is_rejected() {
        let mut rng = rng(2);
        let met = DailyKey::generate(&mut rng);
        // Inside the tolerance on both sides, then 301 s too late and 301 s too early.
        let sightings = vec![heard(&met, 60, -300), heard(&met, 60, 899), heard(&met, 60, 900), heard(&met, 60, -301)];
        let index = SightingIndex::new(sightings, MatchConfig::default());
        let (matches, _) = index.match_keys([(met.release(), DAY)], after_embargo());
        let accepted: Vec<usize> = matches[0].sightings.iter().map(|s| s.sighting).collect();
        assert_eq!(accepted, vec![0, 1]);
        assert_eq!(matches[0].rejected, vec![(2, Rejection::OutsideInterval), (3, Rejection::OutsideInterval)]);
    }

    #[test]
    fn tampered_metadata_is_detected_after_matching() {
        let mut rng = rng(3);
        let met = DailyKey::generate(&mut rng);
        let mut relayed = heard(&met, 10, 60);
        relayed.metadata.0[1] ^= 0x20; // a relay raising the transmit power
        let index = SightingIndex::new(vec![relayed], MatchConfig::default());
        let (matches, _) = index.match_keys([(met.release(), DAY)], after_embargo());
        assert!(matches[0].sightings.is_empty());
        assert_eq!(matches[0].rejected, vec![(0, Rejection::TamperedMetadata)]);
    }

    #[test]
    fn metadata_of_an_unknown_major_version_does_not_count() {
        let mut rng = rng(7);
        let met = DailyKey::generate(&mut rng);
        let schedule = met.schedule(DAY);
        let id = schedule.id(20);
        let future = Metadata { version: 0x20, tx_power: -10 };
        let sighting = Sighting {
            id,
            metadata: schedule.seal_metadata(&id, future),
            rssi: -60,
            seen_at: DAY.interval(20).start().plus(1),
        };
        let index = SightingIndex::new(vec![sighting], MatchConfig::default());
        let (matches, _) = index.match_keys([(met.release(), DAY)], after_embargo());
        assert_eq!(matches[0].rejected, vec![(0, Rejection::UnknownVersion)]);
    }

    #[test]
    fn keys_published_before_their_embargo_ends_never_match() {
        let mut rng = rng(4);
        let met = DailyKey::generate(&mut rng);
        let index = SightingIndex::new(vec![heard(&met, 143, 0)], MatchConfig::default());
        let (matches, stats) = index.match_keys([(met.release(), DAY)], after_embargo().minus(1));
        assert!(matches.is_empty());
        assert_eq!(stats.keys_violating_embargo, 1);
    }

    #[test]
    fn a_key_moved_to_another_day_does_not_match() {
        let mut rng = rng(5);
        let met = DailyKey::generate(&mut rng);
        // The IDs `met` broadcast on DAY, replayed at the same slot times one
        // day earlier, and the key published as DAY-1's: the sightings fall on
        // the key's (relabelled) day and slots, so IDs are derived and
        // compared, and only the day bound into the derivation tells them apart.
        let earlier = DAY.minus(1);
        let relabelled: Vec<Sighting> = [5u8, 60, 143]
            .into_iter()
            .map(|slot| {
                let on_day = heard(&met, slot, 30);
                Sighting { seen_at: earlier.interval(slot).start().plus(30), ..on_day }
            })
            .collect();
        let index = SightingIndex::new(relabelled.clone(), MatchConfig::default());
        let (matches, stats) = index.match_keys([(met.clone().release(), earlier)], after_embargo());
        assert!(matches.is_empty(), "{matches:?}");
        assert_eq!(stats.keys_without_sightings, 0, "the sightings must fall on the key's day: {stats:?}");
        assert!(stats.blocks_derived > 0, "IDs must have been derived and compared: {stats:?}");

        // The control: the same sightings at DAY's times match the key as DAY's.
        let on_day: Vec<Sighting> = [5u8, 60, 143].into_iter().map(|slot| heard(&met, slot, 30)).collect();
        let index = SightingIndex::new(on_day, MatchConfig::default());
        let (matches, _) = index.match_keys([(met.release(), DAY)], after_embargo());
        assert_eq!(matches[0].sightings.len(), 3);
    }

    #[test]
    fn tolerance_reaches_across_midnight() {
        let mut rng = rng(6);
        let met = DailyKey::generate(&mut rng);
        // Heard 2 minutes after midnight by a phone whose clock is ahead:
        // slot 143 of DAY is still within tolerance.
        let index = SightingIndex::new(vec![heard(&met, 143, 720)], MatchConfig::default());
        let (matches, _) = index.match_keys([(met.release(), DAY)], after_embargo());
        assert_eq!(matches[0].sightings.len(), 1);
    }

    #[test]
    fn runs_bridge_small_gaps_only() {
        assert_eq!(plan_runs(0), vec![]);
        assert_eq!(plan_runs(0b1), vec![(0, 1)]);
        assert_eq!(plan_runs(0b1001), vec![(0, 4)]);
        assert_eq!(plan_runs(0b10001), vec![(0, 1), (4, 1)]);
        assert_eq!(plan_runs(0b1110_0111), vec![(0, 8)]);
        assert_eq!(plan_runs(1 << 35 | 1), vec![(0, 1), (35, 1)]);
        assert_eq!(plan_runs((1u64 << 36) - 1), vec![(0, 36)]);
    }

    #[test]
    fn an_empty_index_matches_nothing() {
        let index = SightingIndex::new(Vec::new(), MatchConfig::default());
        let (matches, stats) = index.match_keys([(PublishedKey([1; 16]), DAY)], after_embargo());
        assert!(matches.is_empty());
        assert_eq!(stats.keys_without_sightings, 1);
    }

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_core::SeedableRng::seed_from_u64(seed)
    }

    /// The matcher as the spec states it, one ID at a time through the key
    /// schedule's per-block derivation: every slot of every block that holds
    /// an interval some sighting falls in (widened by the tolerance), every
    /// sighting of that slot's ID checked.
    fn one_id_at_a_time(
        sightings: &[Sighting],
        config: MatchConfig,
        keys: &[(PublishedKey, DayNumber)],
        published_at: UnixTime,
    ) -> Vec<KeyMatch> {
        let tol = config.tolerance_secs;
        let in_window = |i: IntervalNumber, t: UnixTime| t.plus(tol) >= i.start() && t < i.end().plus(tol);
        let mut out = Vec::new();
        for (position, &(key, day)) in keys.iter().enumerate() {
            if day.end().plus(config.embargo_secs) > published_at {
                continue;
            }
            let schedule = key.schedule(day);
            let mut m = KeyMatch { key: position, day, sightings: Vec::new(), rejected: Vec::new() };
            for block in 0..BLOCKS_PER_DAY {
                let slots = block * IDS_PER_BLOCK..(block + 1) * IDS_PER_BLOCK;
                if !sightings.iter().any(|s| slots.clone().any(|slot| in_window(day.interval(slot), s.seen_at))) {
                    continue;
                }
                for slot in slots {
                    let id = schedule.id(slot);
                    let interval = day.interval(slot);
                    for (i, s) in sightings.iter().enumerate().filter(|(_, s)| s.id == id) {
                        if !in_window(interval, s.seen_at) {
                            m.rejected.push((i, Rejection::OutsideInterval));
                            continue;
                        }
                        match schedule.open_metadata(&id, &s.metadata) {
                            Ok(metadata) if metadata.major_version() == 1 => {
                                m.sightings.push(VerifiedSighting { sighting: i, interval, metadata })
                            }
                            Ok(_) => m.rejected.push((i, Rejection::UnknownVersion)),
                            Err(_) => m.rejected.push((i, Rejection::TamperedMetadata)),
                        }
                    }
                }
            }
            if !m.sightings.is_empty() || !m.rejected.is_empty() {
                m.sightings.sort_by_key(|s| s.sighting);
                m.rejected.sort_unstable_by_key(|r| r.0);
                out.push(m);
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The fast path (salted HKDF, runs of blocks in SIMD batches,
        /// prefix bitmap) finds exactly what deriving one ID at a time finds,
        /// for random keys, days, sighting patterns, tolerances, tampered
        /// metadata and strangers.
        #[test]
        fn the_fast_path_equals_one_id_at_a_time(
            seed in proptest::prelude::any::<u64>(),
            heard in proptest::collection::vec(
                // (key, day offset, slot, offset from the slot's start in s, tamper: 0 none, 1 bit flip, 2 version 2)
                (0usize..4, 0u32..3, 0u8..144, -1200i64..1800, 0u8..6),
                0..40,
            ),
            strangers in 0usize..30,
            tolerance_secs in proptest::prop_oneof![proptest::strategy::Just(0u64), proptest::strategy::Just(300), 1u64..1200],
            published_day in 1u32..4,
        ) {
            use rand_core::Rng;
            let mut rng = rng(seed);
            let keys: Vec<DailyKey> = (0..4).map(|_| DailyKey::generate(&mut rng)).collect();
            let mut sightings = Vec::new();
            for &(k, d, slot, offset, tamper) in &heard {
                let day = DAY.plus(d);
                let schedule = keys[k].schedule(day);
                let id = schedule.id(slot);
                let version = if tamper == 2 { 0x20 } else { Metadata::VERSION_1_0 };
                let mut metadata = schedule.seal_metadata(&id, Metadata { version, tx_power: -8 });
                if tamper == 1 {
                    metadata.0[3] ^= 4;
                }
                let seen_at = UnixTime((day.interval(slot).start().0 as i64 + offset) as u64);
                sightings.push(Sighting { id, metadata, rssi: -60, seen_at });
            }
            for _ in 0..strangers {
                let mut id = [0u8; 16];
                rng.fill_bytes(&mut id);
                let seen_at = DAY.start().plus(rng.next_u64() % (3 * 86_400));
                sightings.push(Sighting { id: EphemeralId(id), metadata: EncryptedMetadata([0; 4]), rssi: -70, seen_at });
            }
            // Each key published for each of the three days, in a shuffled order.
            let mut published: Vec<(PublishedKey, DayNumber)> =
                keys.iter().flat_map(|k| (0..3).map(|d| (k.clone().release(), DAY.plus(d)))).collect();
            published.rotate_left(usize::try_from(seed % 12).expect("< 12"));
            let config = MatchConfig { tolerance_secs, ..MatchConfig::default() };
            let published_at = DAY.plus(published_day).end().plus(config.embargo_secs);
            let index = SightingIndex::new(sightings.clone(), config);
            let (fast, _) = index.match_keys(published.iter().copied(), published_at);
            proptest::prop_assert_eq!(fast, one_id_at_a_time(&sightings, config, &published, published_at));
        }
    }
}
