//! Sealed check-ins on the phone, and matching them against trace entries.
//!
//! A phone keeps one X25519 **check-in day key** `e_d` per UTC day (the day
//! an epoch starts on). Checking in at a poster with trace key `P`:
//!
//! ```text
//! E   = X25519(e_d, 9)                      (the day's public key, kept)
//! Z   = X25519(e_d, P)                      (refused if all zero)
//! hk  = HKDF-Extract("greenlight/v1 check-in", Z ‖ E ‖ epoch)
//! tag = HKDF-Expand(hk, "greenlight/v1 check-in tag", 16)
//! key = HKDF-Expand(hk, "greenlight/v1 check-in key", 32)
//! record = day ‖ tag ‖ nonce ‖ ChaCha20-Poly1305(key, nonce, aad = day ‖ tag, visit)
//! ```
//!
//! The phone erases `e_d` at the end of day `d + 1`, when no epoch that
//! started on day `d` can still be live (epochs last at most one day), so
//! from then on the record can be linked to its venue by nobody — the phone
//! included — until the venue is traced: a trace entry publishes
//! `t = s_o + s_a`, and `t·E = e_d·P = Z` lets the phone recompute the tag
//! with one scalar multiplication per entry, look the record up, and open
//! it. Sharing `E` across a day's check-ins is what makes matching one
//! multiplication per entry rather than per entry *and* record; all records
//! under one `E` are this phone's own, so nothing is linked that was not
//! already on the same device.

use crate::codec::{Reader, Writer};
use crate::color::VenueExposure;
use crate::crypto::{AEAD_NONCE_LEN, AEAD_TAG_LEN, aead_open, aead_seal, hkdf_expand, hkdf_extract};
use crate::error::{Error, Result};
use crate::time::{DayNumber, UnixTime};
use crate::trace::TraceEntry;
use crate::venue::{Epoch, Poster, PosterEpoch, VenueInfo};
use curve25519_dalek::{MontgomeryPoint, Scalar};
use rand_core::CryptoRng;
use std::collections::HashMap;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// HKDF salt of check-in keys.
pub const LABEL_CHECKIN_SALT: &[u8] = b"greenlight/v1 check-in";
/// HKDF label of the look-up tag.
pub const LABEL_CHECKIN_TAG: &[u8] = b"greenlight/v1 check-in tag";
/// HKDF label of the record key.
pub const LABEL_CHECKIN_KEY: &[u8] = b"greenlight/v1 check-in key";
/// Length of a record's look-up tag.
pub const CHECKIN_TAG_LEN: usize = 16;

/// A phone's secret key for the check-ins of one UTC day.
pub struct CheckInDayKey {
    day: DayNumber,
    secret: StaticSecret,
    /// `E = X25519(e_d, 9)`, computed once: every seal mixes it in.
    public: [u8; 32],
}

impl CheckInDayKey {
    /// When the phone must erase this key: the end of the day after its
    /// day, when no epoch starting on its day can still be live.
    pub fn erase_at(&self) -> UnixTime {
        self.day.plus(1).end()
    }

    /// Draws a new key for `day` from the caller's RNG.
    pub fn generate<R: CryptoRng + ?Sized>(day: DayNumber, rng: &mut R) -> Self {
        Self::with_secret(day, StaticSecret::random_from_rng(rng))
    }

    /// Restores a key from the phone's sealed store.
    pub fn from_bytes(day: DayNumber, secret: [u8; 32]) -> Self {
        Self::with_secret(day, StaticSecret::from(secret))
    }

    /// Restores a key from the phone's store with the public half kept
    /// beside it ([`CheckInDayKey::public`] of the same key), saving the
    /// scalar multiplication that [`CheckInDayKey::from_bytes`] spends on
    /// it; the key's day is `public`'s. The store vouches that the two
    /// halves belong together, as it vouches for the secret.
    pub fn from_parts(secret: [u8; 32], public: &CheckInDay) -> Self {
        CheckInDayKey { day: public.day, secret: StaticSecret::from(secret), public: public.public }
    }

    fn with_secret(day: DayNumber, secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret).to_bytes();
        CheckInDayKey { day, secret, public }
    }

    /// The secret bytes, for the phone's sealed store.
    pub fn expose_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The day this key serves.
    pub fn day(&self) -> DayNumber {
        self.day
    }

    /// The public half, which the phone keeps after erasing the secret.
    pub fn public(&self) -> CheckInDay {
        CheckInDay { day: self.day, public: self.public }
    }
}

impl core::fmt::Debug for CheckInDayKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CheckInDayKey").field("day", &self.day).finish_non_exhaustive()
    }
}

/// The public key `E` of one day's check-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckInDay {
    /// The day.
    pub day: DayNumber,
    /// `E = X25519(e_d, 9)`.
    pub public: [u8; 32],
}

/// What a sealed check-in holds: the visit as the phone saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// When the visitor arrived.
    pub arrival: UnixTime,
    /// When the visitor left (or is expected to leave).
    pub departure: UnixTime,
    /// The venue as its poster described it.
    pub info: VenueInfo,
    /// The poster's epoch and public keys.
    pub epoch: PosterEpoch,
}

impl Visit {
    fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(160));
        out.put_u32(minute(self.arrival));
        out.put_u32(minute(self.departure));
        self.epoch.write(&mut out);
        self.info.write(&mut out);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let arrival = UnixTime::from_minutes(r.u32()?);
        let departure = UnixTime::from_minutes(r.u32()?);
        let epoch = PosterEpoch::read(&mut r)?;
        let info = VenueInfo::read(&mut r)?;
        r.finish()?;
        if departure <= arrival {
            return Err(Error::InvalidField("departure"));
        }
        Ok(Visit { arrival, departure, info, epoch })
    }

    /// Minutes of this visit inside `[from, until)` (spec §8.3), computed on
    /// the record's whole minutes: `max(0, min(t_d, w_e) − max(t_a, w_s))`
    /// with every time the minute the record or entry stores.
    pub fn overlap_minutes(&self, from: UnixTime, until: UnixTime) -> u32 {
        let start = minute(self.arrival).max(minute(from));
        let end = minute(self.departure).min(minute(until));
        end.saturating_sub(start)
    }

    /// The venue exposure this visit gives against the trace window
    /// `[from, until)` (spec §8.3, §14.1): the whole overlap, never split at
    /// UTC midnight, dated on the UTC day of its last minute (of its start
    /// when it is empty).
    pub fn exposure(&self, from: UnixTime, until: UnixTime) -> VenueExposure {
        let overlap = self.overlap_minutes(from, until);
        let start = minute(self.arrival).max(minute(from));
        let last = if overlap == 0 { start } else { start + overlap - 1 };
        VenueExposure {
            day: UnixTime::from_minutes(last).day(),
            start: self.arrival,
            end: self.departure,
            overlap_minutes: u16::try_from(overlap).unwrap_or(u16::MAX),
            kind: self.info.kind,
        }
    }
}

fn minute(t: UnixTime) -> u32 {
    u32::try_from(t.minutes()).unwrap_or(u32::MAX)
}

/// One check-in as the phone stores it: unreadable and unlinkable until its
/// epoch is traced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCheckIn {
    /// The day of the epoch (which day key sealed it).
    pub day: DayNumber,
    /// The look-up tag.
    pub tag: [u8; CHECKIN_TAG_LEN],
    nonce: [u8; AEAD_NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl SealedCheckIn {
    /// `day u32 ‖ tag [16] ‖ nonce [12] ‖ length u16 ‖ ciphertext`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(34 + self.ciphertext.len());
        out.put_u32(self.day.0);
        out.put(&self.tag);
        out.put(&self.nonce);
        out.put_u16(u16::try_from(self.ciphertext.len()).expect("visits are short"));
        out.put(&self.ciphertext);
        out
    }

    /// Parses [`SealedCheckIn::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let day = DayNumber(r.u32()?);
        let tag = r.array()?;
        let nonce = r.array()?;
        let len = usize::from(r.u16()?);
        if len < AEAD_TAG_LEN {
            return Err(Error::InvalidField("ciphertext"));
        }
        let ciphertext = r.take(len)?.to_vec();
        r.finish()?;
        Ok(SealedCheckIn { day, tag, nonce, ciphertext })
    }

    fn aad(&self) -> [u8; 4 + CHECKIN_TAG_LEN] {
        let mut aad = [0u8; 4 + CHECKIN_TAG_LEN];
        aad[..4].copy_from_slice(&self.day.0.to_le_bytes());
        aad[4..].copy_from_slice(&self.tag);
        aad
    }
}

struct RecordKeys {
    tag: [u8; CHECKIN_TAG_LEN],
    key: Zeroizing<[u8; 32]>,
}

fn record_keys(shared: &[u8; 32], day_public: &[u8; 32], epoch: &Epoch) -> RecordKeys {
    let hk = hkdf_extract(LABEL_CHECKIN_SALT, &[shared, day_public, &epoch.to_bytes()]);
    let tag = *hkdf_expand::<CHECKIN_TAG_LEN>(&hk, &[LABEL_CHECKIN_TAG]);
    RecordKeys { tag, key: hkdf_expand::<32>(&hk, &[LABEL_CHECKIN_KEY]) }
}

impl Poster {
    /// Seals a check-in at this poster. `day_key` must be the key of the
    /// epoch's start day. Checking in again at the same epoch with the same
    /// day key yields the same tag, so a rescan replaces (extends) the
    /// stored record instead of adding a second one.
    ///
    /// The caller checks freshness first ([`Poster::check_live`]).
    pub fn check_in<R: CryptoRng + ?Sized>(
        &self,
        day_key: &CheckInDayKey,
        arrival: UnixTime,
        departure: UnixTime,
        rng: &mut R,
    ) -> Result<SealedCheckIn> {
        let epoch = self.poster_epoch();
        if day_key.day != epoch.epoch.day() {
            return Err(Error::InvalidField("day_key"));
        }
        if minute(departure) <= minute(arrival) {
            return Err(Error::InvalidField("departure"));
        }
        let shared = day_key.secret.diffie_hellman(&PublicKey::from(epoch.trace_key));
        if !shared.was_contributory() {
            return Err(Error::BadPublicKey);
        }
        let keys = record_keys(shared.as_bytes(), &day_key.public, &epoch.epoch);
        let visit = Visit { arrival, departure, info: self.info().clone(), epoch: *epoch };
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut record = SealedCheckIn { day: day_key.day, tag: keys.tag, nonce, ciphertext: Vec::new() };
        record.ciphertext = aead_seal(&keys.key, &nonce, &record.aad(), &visit.encode());
        Ok(record)
    }
}

/// A stored check-in that a trace entry matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueMatch {
    /// Position of the record in the matcher's input.
    pub record: usize,
    /// Position of the trace entry.
    pub entry: usize,
    /// The opened visit.
    pub visit: Visit,
    /// Minutes of the visit inside the entry's exposure window (may be 0:
    /// same epoch, but the visitor had left before the window).
    pub overlap_minutes: u32,
    /// The authority's message for visitors, decrypted.
    pub message: String,
}

/// A phone's sealed check-ins, indexed for matching against trace entries.
#[derive(Debug, Clone)]
pub struct VenueMatcher {
    days: HashMap<DayNumber, [u8; 32]>,
    records: Vec<SealedCheckIn>,
    by_tag: HashMap<(DayNumber, [u8; CHECKIN_TAG_LEN]), usize>,
}

impl VenueMatcher {
    /// Indexes `records`, given the public keys of their days.
    pub fn new(days: &[CheckInDay], records: Vec<SealedCheckIn>) -> Self {
        let days = days.iter().map(|d| (d.day, d.public)).collect();
        let by_tag = records.iter().enumerate().map(|(i, r)| ((r.day, r.tag), i)).collect();
        VenueMatcher { days, records, by_tag }
    }

    /// The records, in input order.
    pub fn records(&self) -> &[SealedCheckIn] {
        &self.records
    }

    /// Opens every record that one of `entries` traces. Entries for days on
    /// which this phone has no check-in cost nothing; the others cost one
    /// scalar multiplication each.
    pub fn match_entries(&self, entries: &[TraceEntry]) -> Vec<VenueMatch> {
        let mut matches = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let Some(day_public) = self.days.get(&entry.epoch.day()) else { continue };
            let secret: Scalar = entry.secret();
            let shared = (MontgomeryPoint(*day_public) * secret).to_bytes();
            if shared == [0u8; 32] {
                continue;
            }
            let keys = record_keys(&shared, day_public, &entry.epoch);
            let Some(&record_index) = self.by_tag.get(&(entry.epoch.day(), keys.tag)) else { continue };
            let record = &self.records[record_index];
            let Ok(plain) = aead_open(&keys.key, &record.nonce, &record.aad(), &record.ciphertext) else {
                continue;
            };
            let Ok(visit) = Visit::decode(&plain) else { continue };
            if visit.epoch.epoch != entry.epoch {
                continue;
            }
            let Ok(message) = entry.open_message(&visit.epoch) else { continue };
            matches.push(VenueMatch {
                record: record_index,
                entry: index,
                overlap_minutes: visit.overlap_minutes(entry.window_start, entry.window_end),
                visit,
                message,
            });
        }
        matches
    }
}
