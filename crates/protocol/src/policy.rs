//! The color policy: the rules, signed by the health authority, from which
//! every phone derives its own color.
//!
//! The policy is published, so anyone can read the rules a color came from,
//! and signed, so no one but the authority can change them. A phone keeps
//! every version it has verified and applies the one with the highest
//! [`sequence`](PolicyParams::sequence); [`crate::color::decide`] turns the
//! policy and the phone's own matches into a color.
//!
//! The policy travels as a signed file (see [`crate::signing`]) of kind
//! [`POLICY_MAGIC`] whose body is one of two fixed layouts, all integers
//! little-endian. Format version 2 (50 bytes) gives every venue kind
//! ([`VenueKind`], wire order) its own minimum overlap:
//!
//! ```text
//! offset size field
//!      0    1 format_version                 = 2
//!      1    4 sequence                       u32
//!      5    8 issued_at                      u64, Unix seconds
//!     13    3 attenuation_thresholds_db      3 × u8, strictly ascending
//!     16    8 bucket_weights_percent         4 × u16, each 0..=1000
//!     24    2 min_weighted_minutes_per_day   u16, ≥ 1
//!     26    1 min_transmission_risk          u8, 0..=8
//!     27   18 min_venue_overlap_minutes      9 × u16, one per VenueKind in
//!                                            wire order; 0 = never alerts
//!     45    1 yellow_days                    u8, 1..=lookback_days
//!     46    1 red_days                       u8, 1..=28
//!     47    2 stale_after_hours              u16, 1..=336
//!     49    1 lookback_days                  u8, 1..=14
//! ```
//!
//! Format version 1 (34 bytes) is the same with one `u16 ≥ 1` at offset 27
//! that applies to every kind. A policy whose overlap is the same non-zero
//! value for every kind is encoded as version 1, so phones that read only
//! version 1 keep applying it; any other is encoded as version 2. Every
//! policy has exactly one encoding: a version-2 body that could have been
//! version 1 is refused.
//!
//! The normative description is `spec/protocol.md` §13–§14;
//! `spec/vectors/policy.json` holds known-answer vectors.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::report::TransmissionRisk;
use crate::signing::{SigningKey, TrustedKeys, open_file, seal_file};
use crate::time::UnixTime;
use crate::venue::VenueKind;

/// Magic bytes of a signed color-policy file.
pub const POLICY_MAGIC: [u8; 8] = *b"GL_POLCY";
/// The newest policy body format this implementation reads and writes
/// (per-kind venue overlaps).
pub const POLICY_FORMAT_VERSION: u8 = 2;
/// The first policy body format (one venue overlap for every kind); still
/// read, and written for a policy it can carry.
pub const POLICY_FORMAT_VERSION_1: u8 = 1;
/// Length of an encoded policy body of format version 2.
pub const POLICY_BODY_LEN: usize = 50;
/// Length of an encoded policy body of format version 1.
pub const POLICY_BODY_LEN_V1: usize = 34;
/// Highest bucket weight, in percent (10×).
pub const MAX_BUCKET_WEIGHT_PERCENT: u16 = 1000;
/// Longest lookback window, in days: the key server keeps keys for 14 days,
/// so older exposures could never be complete anyway.
pub const MAX_LOOKBACK_DAYS: u8 = 14;
/// Longest red period, in days after the diagnosis day. A red code must end
/// (the centralized health codes that never go away are what Greenlight
/// replaces); four weeks is twice any isolation period used in 2020–2022.
pub const MAX_RED_DAYS: u8 = 28;
/// Longest time without a sync before the color turns stale, in hours. A
/// phone that has not synced for longer than the key server's 14-day
/// retention may have missed keys for good, so its green means nothing.
pub const MAX_STALE_AFTER_HOURS: u16 = 14 * 24;

/// One of the four attenuation buckets a Bluetooth contact falls in, from
/// the closest to the farthest. Attenuation is TX power minus RSSI in dB:
/// the lower, the closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttenuationBucket {
    /// Below the first threshold.
    Immediate,
    /// From the first threshold up to (excluding) the second.
    Near,
    /// From the second threshold up to (excluding) the third.
    Medium,
    /// At or above the third threshold.
    Other,
}

impl AttenuationBucket {
    /// The four buckets in order, closest first; `ALL[b.index()] == b`.
    pub const ALL: [AttenuationBucket; 4] =
        [AttenuationBucket::Immediate, AttenuationBucket::Near, AttenuationBucket::Medium, AttenuationBucket::Other];

    /// Position of the bucket, `0..4`, matching the order of
    /// [`PolicyParams::bucket_weights_percent`].
    pub fn index(self) -> usize {
        match self {
            AttenuationBucket::Immediate => 0,
            AttenuationBucket::Near => 1,
            AttenuationBucket::Medium => 2,
            AttenuationBucket::Other => 3,
        }
    }

    /// Lower-case English name, as used in explanations and vectors.
    pub fn as_str(self) -> &'static str {
        match self {
            AttenuationBucket::Immediate => "immediate",
            AttenuationBucket::Near => "near",
            AttenuationBucket::Medium => "medium",
            AttenuationBucket::Other => "other",
        }
    }
}

/// The minimum overlap, in minutes, with a traced visit that makes a
/// check-in qualify for yellow, for each [`VenueKind`]; the kind is the one
/// printed on the poster the phone itself scanned.
///
/// [`VenueOverlaps::NEVER`] (0) means visits of that kind never qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VenueOverlaps {
    minutes: [u16; VenueKind::ALL.len()],
}

impl VenueOverlaps {
    /// The value that means "visits of this kind never turn a phone yellow".
    pub const NEVER: u16 = 0;

    /// The same minimum for every kind (what a version-1 policy says).
    pub const fn uniform(minutes: u16) -> Self {
        VenueOverlaps { minutes: [minutes; VenueKind::ALL.len()] }
    }

    /// The minimum for each kind, in [`VenueKind::ALL`] (wire) order.
    pub const fn from_wire_order(minutes: [u16; VenueKind::ALL.len()]) -> Self {
        VenueOverlaps { minutes }
    }

    /// The minimum for each kind, in [`VenueKind::ALL`] (wire) order.
    pub fn to_wire_order(&self) -> [u16; VenueKind::ALL.len()] {
        self.minutes
    }

    /// The same, changed for one kind.
    #[must_use]
    pub fn with(mut self, kind: VenueKind, minutes: u16) -> Self {
        self.minutes[usize::from(kind.to_byte())] = minutes;
        self
    }

    /// The minimum overlap for a visit of `kind`, or `None` when visits of
    /// that kind never qualify.
    pub fn minutes(&self, kind: VenueKind) -> Option<u16> {
        Some(self.minutes[usize::from(kind.to_byte())]).filter(|&m| m != Self::NEVER)
    }

    /// The single minimum every kind shares, if they all share one.
    pub fn as_uniform(&self) -> Option<u16> {
        let first = self.minutes[0];
        self.minutes.iter().all(|&m| m == first).then_some(first)
    }
}

/// The fields of a color policy, not yet checked.
///
/// Build one, then turn it into a [`ColorPolicy`] with [`ColorPolicy::new`],
/// which refuses values outside the documented ranges. The ranges are
/// listed on each field and are checked in the order the fields are listed,
/// except that `lookback_days` is checked before `yellow_days` (whose range
/// depends on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyParams {
    /// Version number of the policy. Every published version is kept; a
    /// phone applies the highest it has verified.
    pub sequence: u32,
    /// When the authority issued the policy.
    pub issued_at: UnixTime,
    /// Attenuation thresholds `[t0, t1, t2]` in dB, strictly ascending. They
    /// split attenuation into four buckets: immediate `< t0 ≤` near `< t1 ≤`
    /// medium `< t2 ≤` other.
    pub attenuation_thresholds_db: [u8; 3],
    /// Weight of each bucket in percent, `0..=1000` (0–10×), in the order
    /// immediate, near, medium, other.
    pub bucket_weights_percent: [u16; 4],
    /// Weighted Bluetooth minutes on one day that make the day qualify for
    /// yellow; at least 1.
    pub min_weighted_minutes_per_day: u16,
    /// Contacts whose key has a lower transmission risk level are ignored;
    /// `0..=8`.
    pub min_transmission_risk: u8,
    /// Minutes a check-in must overlap a traced visit to qualify for
    /// yellow, per kind of venue; any value, [`VenueOverlaps::NEVER`] for a
    /// kind whose visits never qualify.
    pub min_venue_overlap_minutes: VenueOverlaps,
    /// Yellow ends this many days after the end of the last qualifying
    /// exposure day; `1..=lookback_days`, so an exposure never drops out of
    /// the lookback window while it still holds the color yellow.
    pub yellow_days: u8,
    /// Red ends this many days after the end of the diagnosis day;
    /// `1..=28`.
    pub red_days: u8,
    /// The color is stale when the last sync is more than this many hours
    /// ago; `1..=336`.
    pub stale_after_hours: u16,
    /// Exposures on days that ended more than this many days ago are
    /// ignored; `1..=14`.
    pub lookback_days: u8,
}

impl PolicyParams {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<()> {
        let [t0, t1, t2] = self.attenuation_thresholds_db;
        if !(t0 < t1 && t1 < t2) {
            return Err(Error::InvalidField("attenuation_thresholds_db"));
        }
        if self.bucket_weights_percent.iter().any(|&w| w > MAX_BUCKET_WEIGHT_PERCENT) {
            return Err(Error::InvalidField("bucket_weights_percent"));
        }
        if self.min_weighted_minutes_per_day == 0 {
            return Err(Error::InvalidField("min_weighted_minutes_per_day"));
        }
        if self.min_transmission_risk > TransmissionRisk::MAX.level() {
            return Err(Error::InvalidField("min_transmission_risk"));
        }
        if !(1..=MAX_LOOKBACK_DAYS).contains(&self.lookback_days) {
            return Err(Error::InvalidField("lookback_days"));
        }
        if !(1..=self.lookback_days).contains(&self.yellow_days) {
            return Err(Error::InvalidField("yellow_days"));
        }
        if !(1..=MAX_RED_DAYS).contains(&self.red_days) {
            return Err(Error::InvalidField("red_days"));
        }
        if !(1..=MAX_STALE_AFTER_HOURS).contains(&self.stale_after_hours) {
            return Err(Error::InvalidField("stale_after_hours"));
        }
        Ok(())
    }
}

/// A checked color policy: every field is inside its documented range.
///
/// Obtain one from [`ColorPolicy::new`], [`ColorPolicy::recommended`],
/// [`ColorPolicy::decode_body`] or [`ColorPolicy::verify`]; read its fields
/// with [`ColorPolicy::params`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColorPolicy {
    params: PolicyParams,
}

impl ColorPolicy {
    /// A policy with `params`, refusing any field outside its range with
    /// [`Error::InvalidField`] naming the field.
    pub fn new(params: PolicyParams) -> Result<Self> {
        params.validate()?;
        Ok(ColorPolicy { params })
    }

    /// The policy Greenlight recommends, grounded in what deployed
    /// exposure-notification apps used (sources in `PRIOR-ART.md` §1.3):
    ///
    /// - **Attenuation thresholds 63 / 73 / 79 dB**, Corona-Warn-App's
    ///   bucket edges, tuned on the largest deployment with per-model
    ///   calibration. SwissCovid's 50 / 55 dB are stricter, but 50–70 dB can
    ///   mean anything from 2 to 15 m, so a 55 dB cut misses many close
    ///   contacts of badly calibrated phones.
    /// - **Weights 100 / 100 / 10 / 0 %**. CWA weighs the closest bucket at
    ///   0.8, below the next one (1.0); we use 1.0 for both, so that being
    ///   closer never counts less, which is a rule a person reading their
    ///   explanation can follow. The separate immediate bucket stays visible
    ///   in explanations and lets an authority weigh it higher without a
    ///   format change. Medium contacts count a tenth (CWA's 0.1) and
    ///   anything from 79 dB on not at all (CWA drops it too).
    /// - **15 weighted minutes per day**: SwissCovid's 15 min/day and the
    ///   classic "15 minutes closer than 2 m" close-contact rule (CWA uses
    ///   13 weighted minutes).
    /// - **Minimum transmission risk 3**: CWA ignores keys with transmission
    ///   risk levels 1 and 2 (days far from symptom onset).
    /// - **10 overlap minutes** for a venue, as CWA's presence tracing, which
    ///   also drops shorter stays.
    /// - **Yellow for 14 days** after the last exposure day: the usual upper
    ///   bound of the incubation period, and the quarantine most
    ///   authorities used.
    /// - **Red for 10 days** after the diagnosis day: WHO's 2020 criterion
    ///   for releasing an asymptomatic case from isolation (10 days after
    ///   the positive test).
    /// - **Stale after 48 hours** without a sync: phones sync at least
    ///   daily, so this allows a full missed day (doze, no network) before
    ///   warning; CWA users reported apps silently not checking for 24 h to
    ///   4 days (cwa-app-ios#916), which is exactly what this surfaces.
    /// - **Lookback 14 days**: the key server's retention; older keys are
    ///   deleted, so older matches cannot be complete.
    pub fn recommended(sequence: u32, issued_at: UnixTime) -> Self {
        let params = PolicyParams {
            sequence,
            issued_at,
            attenuation_thresholds_db: [63, 73, 79],
            bucket_weights_percent: [100, 100, 10, 0],
            min_weighted_minutes_per_day: 15,
            min_transmission_risk: 3,
            min_venue_overlap_minutes: VenueOverlaps::uniform(10),
            yellow_days: 14,
            red_days: 10,
            stale_after_hours: 48,
            lookback_days: 14,
        };
        ColorPolicy::new(params).expect("the recommended policy is valid")
    }

    /// The policy's fields.
    pub fn params(&self) -> &PolicyParams {
        &self.params
    }

    /// The policy's version number.
    pub fn sequence(&self) -> u32 {
        self.params.sequence
    }

    /// Whether this policy replaces `other`: a higher sequence number wins.
    pub fn supersedes(&self, other: &ColorPolicy) -> bool {
        self.params.sequence > other.params.sequence
    }

    /// The bucket a contact with `attenuation_db` falls in.
    pub fn bucket(&self, attenuation_db: u8) -> AttenuationBucket {
        let [t0, t1, t2] = self.params.attenuation_thresholds_db;
        if attenuation_db < t0 {
            AttenuationBucket::Immediate
        } else if attenuation_db < t1 {
            AttenuationBucket::Near
        } else if attenuation_db < t2 {
            AttenuationBucket::Medium
        } else {
            AttenuationBucket::Other
        }
    }

    /// The weight of `bucket` in percent.
    pub fn weight_percent(&self, bucket: AttenuationBucket) -> u16 {
        self.params.bucket_weights_percent[bucket.index()]
    }

    /// The format version [`encode_body`](Self::encode_body) writes: 1 when
    /// every kind of venue has the same non-zero minimum overlap (phones
    /// that read only version 1 then keep applying the policy), else 2.
    pub fn format_version(&self) -> u8 {
        match self.params.min_venue_overlap_minutes.as_uniform() {
            Some(m) if m != VenueOverlaps::NEVER => POLICY_FORMAT_VERSION_1,
            _ => POLICY_FORMAT_VERSION,
        }
    }

    /// The minimum overlap for a visit of `kind`, or `None` when visits of
    /// that kind never turn a phone yellow.
    pub fn venue_overlap_minutes(&self, kind: VenueKind) -> Option<u16> {
        self.params.min_venue_overlap_minutes.minutes(kind)
    }

    /// Encodes the body (the bytes between the magic and the signature), in
    /// the format [`format_version`](Self::format_version) names.
    pub fn encode_body(&self) -> Vec<u8> {
        let p = &self.params;
        let version = self.format_version();
        let mut out = Vec::with_capacity(POLICY_BODY_LEN);
        out.put_u8(version);
        out.put_u32(p.sequence);
        out.put_u64(p.issued_at.0);
        out.put(&p.attenuation_thresholds_db);
        for weight in p.bucket_weights_percent {
            out.put_u16(weight);
        }
        out.put_u16(p.min_weighted_minutes_per_day);
        out.put_u8(p.min_transmission_risk);
        if version == POLICY_FORMAT_VERSION_1 {
            out.put_u16(p.min_venue_overlap_minutes.minutes[0]);
        } else {
            for minutes in p.min_venue_overlap_minutes.minutes {
                out.put_u16(minutes);
            }
        }
        out.put_u8(p.yellow_days);
        out.put_u8(p.red_days);
        out.put_u16(p.stale_after_hours);
        out.put_u8(p.lookback_days);
        out
    }

    /// Decodes and checks a body of format version 1 or 2. The version
    /// byte is checked first (a later version may have another length),
    /// then the length, then every field's range. A version-1 body's single
    /// overlap applies to every kind of venue and must be at least 1
    /// (version 1 has no "never"); a version-2 body whose nine overlaps are
    /// one non-zero value is refused (it is written as version 1).
    pub fn decode_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != POLICY_FORMAT_VERSION && version != POLICY_FORMAT_VERSION_1 {
            return Err(Error::UnsupportedVersion(version));
        }
        let sequence = r.u32()?;
        let issued_at = UnixTime(r.u64()?);
        let attenuation_thresholds_db = r.array()?;
        let mut bucket_weights_percent = [0u16; 4];
        for weight in &mut bucket_weights_percent {
            *weight = r.u16()?;
        }
        let params = PolicyParams {
            sequence,
            issued_at,
            attenuation_thresholds_db,
            bucket_weights_percent,
            min_weighted_minutes_per_day: r.u16()?,
            min_transmission_risk: r.u8()?,
            min_venue_overlap_minutes: if version == POLICY_FORMAT_VERSION_1 {
                VenueOverlaps::uniform(r.u16()?)
            } else {
                let mut minutes = [0u16; VenueKind::ALL.len()];
                for m in &mut minutes {
                    *m = r.u16()?;
                }
                VenueOverlaps { minutes }
            },
            yellow_days: r.u8()?,
            red_days: r.u8()?,
            stale_after_hours: r.u16()?,
            lookback_days: r.u8()?,
        };
        r.finish()?;
        // Sequence 0 is reserved for a phone's built-in default, which is
        // never encoded (protocol §13.2): a policy on the wire starts at 1,
        // as the index requires of every file it lists.
        if params.sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        // Version 1 has no "never"; and a policy version 1 can carry is
        // written as version 1, so that every policy has one encoding.
        let uniform = params.min_venue_overlap_minutes.as_uniform();
        let canonical = match version {
            POLICY_FORMAT_VERSION_1 => uniform != Some(VenueOverlaps::NEVER),
            _ => uniform.is_none_or(|m| m == VenueOverlaps::NEVER),
        };
        if !canonical {
            return Err(Error::InvalidField("min_venue_overlap_minutes"));
        }
        ColorPolicy::new(params)
    }

    /// Signs the policy into a file of kind [`POLICY_MAGIC`]. Ed25519 is
    /// deterministic, so the same policy and key always give the same bytes.
    pub fn sign(&self, key: &SigningKey) -> Vec<u8> {
        seal_file(&POLICY_MAGIC, &self.encode_body(), key)
    }

    /// Verifies a signed policy file against the authority's `trusted` keys
    /// and decodes it. Nothing in an unverified file is looked at beyond
    /// the magic and the key id.
    pub fn verify(bytes: &[u8], trusted: &TrustedKeys) -> Result<Self> {
        ColorPolicy::decode_body(open_file(&POLICY_MAGIC, bytes, trusted)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn recommended() -> ColorPolicy {
        ColorPolicy::recommended(7, UnixTime(1_778_400_000))
    }

    fn with(change: impl FnOnce(&mut PolicyParams)) -> Result<ColorPolicy> {
        let mut params = *recommended().params();
        change(&mut params);
        ColorPolicy::new(params)
    }

    /// The recommended rules with a different overlap per kind, which only
    /// format version 2 can carry.
    fn per_kind() -> ColorPolicy {
        with(|p| {
            p.min_venue_overlap_minutes = VenueOverlaps::uniform(30)
                .with(VenueKind::Shop, VenueOverlaps::NEVER)
                .with(VenueKind::Restaurant, 45)
                .with(VenueKind::Care, 15)
        })
        .expect("valid")
    }

    #[test]
    fn body_has_the_documented_layout() {
        let body = per_kind().encode_body();
        assert_eq!(body.len(), POLICY_BODY_LEN);
        assert_eq!(body[0], 2);
        assert_eq!(&body[1..5], &7u32.to_le_bytes());
        assert_eq!(&body[5..13], &1_778_400_000u64.to_le_bytes());
        assert_eq!(&body[13..16], &[63, 73, 79]);
        assert_eq!(&body[16..24], &[100, 0, 100, 0, 10, 0, 0, 0]);
        assert_eq!(&body[24..26], &15u16.to_le_bytes());
        assert_eq!(body[26], 3);
        // other, shop, restaurant, transit, workplace, event, leisure,
        // education, care.
        assert_eq!(&body[27..45], &[30, 0, 0, 0, 45, 0, 30, 0, 30, 0, 30, 0, 30, 0, 30, 0, 15, 0]);
        assert_eq!(body[45..47], [14, 10]);
        assert_eq!(&body[47..49], &48u16.to_le_bytes());
        assert_eq!(body[49], 14);
    }

    #[test]
    fn a_policy_with_one_overlap_for_every_kind_is_written_as_version_1() {
        let uniform = with(|p| p.min_venue_overlap_minutes = VenueOverlaps::uniform(10)).expect("valid");
        let body = uniform.encode_body();
        assert_eq!(uniform.format_version(), 1);
        assert_eq!(body.len(), POLICY_BODY_LEN_V1);
        assert_eq!(body[0], 1);
        assert_eq!(&body[27..29], &10u16.to_le_bytes());
        assert_eq!(body[29..31], [14, 10]);
        assert_eq!(&body[31..33], &48u16.to_le_bytes());
        assert_eq!(body[33], 14);
        assert_eq!(ColorPolicy::decode_body(&body), Ok(uniform));
        // "Never" for every kind needs version 2: version 1 has no never.
        let never = with(|p| p.min_venue_overlap_minutes = VenueOverlaps::uniform(0)).expect("valid");
        assert_eq!(never.format_version(), 2);
        assert_eq!(ColorPolicy::decode_body(&never.encode_body()), Ok(never));
    }

    #[test]
    fn a_version_1_overlap_applies_to_every_kind_and_must_be_at_least_1() {
        let mut body = with(|p| p.min_venue_overlap_minutes = VenueOverlaps::uniform(25)).expect("valid").encode_body();
        let policy = ColorPolicy::decode_body(&body).expect("valid");
        for kind in VenueKind::ALL {
            assert_eq!(policy.venue_overlap_minutes(kind), Some(25), "{kind:?}");
        }
        body[27..29].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(ColorPolicy::decode_body(&body), Err(Error::InvalidField("min_venue_overlap_minutes")));
    }

    #[test]
    fn per_kind_overlaps_round_trip_and_never_means_none() {
        let policy = per_kind();
        assert_eq!(ColorPolicy::decode_body(&policy.encode_body()), Ok(policy));
        assert_eq!(policy.venue_overlap_minutes(VenueKind::Shop), None);
        assert_eq!(policy.venue_overlap_minutes(VenueKind::Restaurant), Some(45));
        assert_eq!(policy.venue_overlap_minutes(VenueKind::Transit), Some(30));
        // A version-2 body giving every kind the same non-zero value is
        // not the policy's one encoding (version 1 is): refused.
        let mut body = per_kind().encode_body();
        for i in 0..9 {
            body[27 + 2 * i..29 + 2 * i].copy_from_slice(&20u16.to_le_bytes());
        }
        assert_eq!(ColorPolicy::decode_body(&body), Err(Error::InvalidField("min_venue_overlap_minutes")));
    }

    #[test]
    fn signed_policy_round_trips_and_needs_a_trusted_key() {
        let policy = recommended();
        let file = policy.sign(&key());
        let trusted = TrustedKeys::from_keys([key().verifying_key()]);
        assert_eq!(ColorPolicy::verify(&file, &trusted), Ok(policy));
        assert_eq!(ColorPolicy::verify(&file, &TrustedKeys::new()), Err(Error::BadSignature));
        let stranger = TrustedKeys::from_keys([SigningKey::from_bytes(&[1; 32]).verifying_key()]);
        assert_eq!(ColorPolicy::verify(&file, &stranger), Err(Error::BadSignature));
    }

    #[test]
    fn a_signature_over_another_file_kind_is_refused() {
        let file = seal_file(b"GL_KEYS_", &recommended().encode_body(), &key());
        let trusted = TrustedKeys::from_keys([key().verifying_key()]);
        assert_eq!(ColorPolicy::verify(&file, &trusted), Err(Error::BadMagic));
    }

    #[test]
    fn unknown_versions_are_refused_before_anything_else() {
        let mut body = recommended().encode_body();
        for version in [0, 3, 255] {
            body[0] = version;
            body.truncate(3);
            assert_eq!(ColorPolicy::decode_body(&body), Err(Error::UnsupportedVersion(version)));
        }
        assert_eq!(ColorPolicy::decode_body(&[]), Err(Error::Truncated));
    }

    #[test]
    fn trailing_and_missing_bytes_are_refused() {
        for policy in [recommended(), per_kind()] {
            let mut body = policy.encode_body();
            let len = body.len();
            body.push(0);
            assert_eq!(ColorPolicy::decode_body(&body), Err(Error::TrailingBytes));
            body.truncate(len - 1);
            assert_eq!(ColorPolicy::decode_body(&body), Err(Error::Truncated));
        }
        // A version-1 byte in front of a version-2 body is too long, and
        // the other way round too short.
        let mut body = per_kind().encode_body();
        body[0] = 1;
        assert_eq!(ColorPolicy::decode_body(&body), Err(Error::TrailingBytes));
        let mut body = with(|p| p.min_venue_overlap_minutes = VenueOverlaps::uniform(10)).expect("valid").encode_body();
        body[0] = 2;
        assert_eq!(ColorPolicy::decode_body(&body), Err(Error::Truncated));
    }

    /// A field name and a change that puts it out of range.
    type Breakage = (&'static str, fn(&mut PolicyParams));

    #[test]
    fn every_range_is_enforced_on_construction() {
        let cases: [Breakage; 13] = [
            ("attenuation_thresholds_db", |p| p.attenuation_thresholds_db = [63, 63, 79]),
            ("attenuation_thresholds_db", |p| p.attenuation_thresholds_db = [79, 73, 63]),
            ("bucket_weights_percent", |p| p.bucket_weights_percent[3] = 1001),
            ("min_weighted_minutes_per_day", |p| p.min_weighted_minutes_per_day = 0),
            ("min_transmission_risk", |p| p.min_transmission_risk = 9),
            ("yellow_days", |p| p.yellow_days = 0),
            ("yellow_days", |p| p.lookback_days = 10),
            ("red_days", |p| p.red_days = 0),
            ("red_days", |p| p.red_days = 29),
            ("stale_after_hours", |p| p.stale_after_hours = 0),
            ("stale_after_hours", |p| p.stale_after_hours = 337),
            ("lookback_days", |p| p.lookback_days = 0),
            ("lookback_days", |p| p.lookback_days = 15),
        ];
        for (field, change) in cases {
            assert_eq!(with(change), Err(Error::InvalidField(field)), "{field}");
        }
    }

    #[test]
    fn the_edges_of_every_range_are_accepted() {
        let policy = with(|p| {
            p.attenuation_thresholds_db = [0, 1, 255];
            p.bucket_weights_percent = [1000, 0, 1000, 0];
            p.min_weighted_minutes_per_day = 1;
            p.min_transmission_risk = 8;
            p.min_venue_overlap_minutes = VenueOverlaps::uniform(u16::MAX).with(VenueKind::Other, 0);
            p.yellow_days = 1;
            p.red_days = 28;
            p.stale_after_hours = 336;
            p.lookback_days = 1;
        })
        .expect("edges are valid");
        assert_eq!(ColorPolicy::decode_body(&policy.encode_body()), Ok(policy));
    }

    #[test]
    fn ranges_are_enforced_on_decode_too() {
        let mut body = recommended().encode_body();
        body[26] = 9;
        assert_eq!(ColorPolicy::decode_body(&body), Err(Error::InvalidField("min_transmission_risk")));
    }

    #[test]
    fn buckets_split_at_the_thresholds() {
        let policy = recommended();
        assert_eq!(policy.bucket(0), AttenuationBucket::Immediate);
        assert_eq!(policy.bucket(62), AttenuationBucket::Immediate);
        assert_eq!(policy.bucket(63), AttenuationBucket::Near);
        assert_eq!(policy.bucket(72), AttenuationBucket::Near);
        assert_eq!(policy.bucket(73), AttenuationBucket::Medium);
        assert_eq!(policy.bucket(78), AttenuationBucket::Medium);
        assert_eq!(policy.bucket(79), AttenuationBucket::Other);
        assert_eq!(policy.bucket(255), AttenuationBucket::Other);
        for bucket in AttenuationBucket::ALL {
            assert_eq!(AttenuationBucket::ALL[bucket.index()], bucket);
        }
    }

    #[test]
    fn a_policy_numbered_0_is_never_decoded_or_verified() {
        // Spec §13.2: the index lists files from sequence 1, so a file
        // numbered 0 could never be fetched; only a phone's built-in
        // default, never encoded, uses 0.
        let zero = ColorPolicy::recommended(0, UnixTime(0));
        assert_eq!(ColorPolicy::decode_body(&zero.encode_body()), Err(Error::InvalidField("sequence")));
        let trusted = TrustedKeys::from_keys([key().verifying_key()]);
        assert_eq!(ColorPolicy::verify(&zero.sign(&key()), &trusted), Err(Error::InvalidField("sequence")));
        let one = ColorPolicy::recommended(1, UnixTime(0));
        assert_eq!(ColorPolicy::decode_body(&one.encode_body()), Ok(one));
    }

    #[test]
    fn a_higher_sequence_supersedes() {
        let old = ColorPolicy::recommended(1, UnixTime(0));
        let new = ColorPolicy::recommended(2, UnixTime(0));
        assert!(new.supersedes(&old));
        assert!(!old.supersedes(&new));
        assert!(!old.supersedes(&old));
    }
}
