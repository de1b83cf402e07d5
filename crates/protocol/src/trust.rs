//! Which key signs what, and for how long: the region's key set
//! (`GL_TRUST`, protocol §2.3).
//!
//! One key signing everything means one stolen online key signs anything:
//! a thief of the authority's certificate key could sign a color policy
//! with sequence 2³²−1 that phones would keep forever. So every key has one
//! **purpose** (the file kinds it may sign) and a **validity window**, and
//! the health authority's **root key**, which can be kept offline, signs
//! the list of keys in use: the key set. Phones, key servers and venue
//! tools are configured with the root key (and, before any key set, the
//! key server's export key) and learn every other key from the newest key
//! set they verified. A key is trusted for its purpose only inside its
//! window, so rotating a key is publishing a key set in which the old and
//! the new key overlap, and revoking one is publishing a set without it.
//!
//! Body: `version u8 ‖ region ‖ sequence u64 ‖ issued_at u64 ‖ count u8 ‖
//! entries`, each entry `purpose u8 ‖ key [32] ‖ not_before u64 ‖
//! not_after u64`, strictly ascending by `(purpose, key)`.

use crate::codec::{Reader, Writer};
use crate::error::{Error, Result};
use crate::export::Region;
use crate::signing::{KeyId, SignedFile, SigningKey, TrustedKeys, VerifyingKey, decode_public_key, seal_file};
use crate::time::UnixTime;

/// Magic of a key set.
pub const KEY_SET_MAGIC: [u8; 8] = *b"GL_TRUST";
/// The key-set body format this implementation reads and writes.
pub const KEY_SET_VERSION: u8 = 1;
/// The most keys one set may list: a few per purpose, with room for
/// rotations in progress.
pub const MAX_KEY_SET_ENTRIES: usize = 64;

/// What a key may sign (protocol §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Purpose {
    /// Key sets (`GL_TRUST`): the health authority's root key, kept
    /// offline.
    Root,
    /// The key server's export batches (`GL_KEYS_`) and index (`GL_INDEX`).
    Export,
    /// Upload certificates (`GL_CERT_`) and feed requests (`GL_FEED_`):
    /// the authority's online key.
    Certificate,
    /// Color policies (`GL_POLCY`).
    Policy,
    /// Trace batches (`GL_TRACE`) and release requests (`GL_RQST_`).
    Tracing,
}

impl Purpose {
    /// Every purpose, in the order of their codes.
    pub const ALL: [Purpose; 5] =
        [Purpose::Root, Purpose::Export, Purpose::Certificate, Purpose::Policy, Purpose::Tracing];

    /// The purpose's code in a key set.
    pub fn to_byte(self) -> u8 {
        match self {
            Purpose::Root => 1,
            Purpose::Export => 2,
            Purpose::Certificate => 3,
            Purpose::Policy => 4,
            Purpose::Tracing => 5,
        }
    }

    /// The purpose with code `byte`.
    pub fn from_byte(byte: u8) -> Result<Self> {
        Purpose::ALL.into_iter().find(|p| p.to_byte() == byte).ok_or(Error::InvalidField("purpose"))
    }

    /// The purpose's name, as operators type it (`--purpose policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Root => "root",
            Purpose::Export => "export",
            Purpose::Certificate => "certificate",
            Purpose::Policy => "policy",
            Purpose::Tracing => "tracing",
        }
    }

    /// The purpose named `name` (see [`Purpose::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Purpose::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The purpose whose keys sign files of kind `magic`, if any key set
    /// purpose does (release bundles are signed by the venue's own key).
    pub fn signing(magic: &[u8; 8]) -> Option<Self> {
        match magic {
            b"GL_TRUST" => Some(Purpose::Root),
            b"GL_KEYS_" | b"GL_INDEX" => Some(Purpose::Export),
            b"GL_CERT_" | b"GL_FEED_" => Some(Purpose::Certificate),
            b"GL_POLCY" => Some(Purpose::Policy),
            b"GL_TRACE" | b"GL_RQST_" => Some(Purpose::Tracing),
            _ => None,
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One key of a key set: what it may sign, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEntry {
    /// What the key may sign.
    pub purpose: Purpose,
    /// The public key.
    pub key: VerifyingKey,
    /// The first second at which the key is trusted.
    pub not_before: UnixTime,
    /// The first second at which it is no longer trusted (`> not_before`).
    pub not_after: UnixTime,
}

impl KeyEntry {
    /// Whether the key is trusted at `now`: `not_before ≤ now < not_after`.
    pub fn valid_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && now < self.not_after
    }

    fn order(&self) -> (u8, [u8; 32]) {
        (self.purpose.to_byte(), self.key.to_bytes())
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.purpose.to_byte());
        out.put(self.key.as_bytes());
        out.put_u64(self.not_before.0);
        out.put_u64(self.not_after.0);
    }

    fn read(r: &mut Reader<'_>) -> Result<Self> {
        let purpose = Purpose::from_byte(r.u8()?)?;
        let key = decode_public_key(&r.array()?)?;
        let not_before = UnixTime(r.u64()?);
        let not_after = UnixTime(r.u64()?);
        if not_before >= not_after {
            return Err(Error::InvalidField("not_after"));
        }
        Ok(KeyEntry { purpose, key, not_before, not_after })
    }
}

/// A region's signed list of keys (protocol §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// The region the keys are for.
    pub region: Region,
    /// Numbers the region's key sets from 1; the highest verified wins.
    pub sequence: u64,
    /// When the root key signed the set (informational).
    pub issued_at: UnixTime,
    entries: Vec<KeyEntry>,
}

impl KeySet {
    /// A key set (entries sorted here). Refuses sequence 0, no entry or
    /// more than [`MAX_KEY_SET_ENTRIES`], a key listed twice for one
    /// purpose, and an empty window.
    pub fn new(region: Region, sequence: u64, issued_at: UnixTime, mut entries: Vec<KeyEntry>) -> Result<Self> {
        if sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        if entries.iter().any(|e| e.not_before >= e.not_after) {
            return Err(Error::InvalidField("not_after"));
        }
        entries.sort_by_key(KeyEntry::order);
        Self::check_entries(&entries)?;
        Ok(KeySet { region, sequence, issued_at, entries })
    }

    fn check_entries(entries: &[KeyEntry]) -> Result<()> {
        if entries.is_empty() || entries.len() > MAX_KEY_SET_ENTRIES {
            return Err(Error::InvalidField("count"));
        }
        if entries.windows(2).any(|w| w[0].order() >= w[1].order()) {
            return Err(Error::InvalidField("entries"));
        }
        Ok(())
    }

    /// Every entry, ascending by `(purpose, key)`.
    pub fn entries(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The keys listed for `purpose` (at any time).
    pub fn listed(&self, purpose: Purpose) -> impl Iterator<Item = &KeyEntry> {
        self.entries.iter().filter(move |e| e.purpose == purpose)
    }

    /// The keys trusted for `purpose` at `now`.
    pub fn trusted(&self, purpose: Purpose, now: UnixTime) -> TrustedKeys {
        TrustedKeys::from_keys(self.listed(purpose).filter(|e| e.valid_at(now)).map(|e| e.key))
    }

    /// The body's bytes.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(28 + self.entries.len() * 49);
        out.put_u8(KEY_SET_VERSION);
        self.region.write(&mut out);
        out.put_u64(self.sequence);
        out.put_u64(self.issued_at.0);
        out.put_u8(u8::try_from(self.entries.len()).expect("at most 64 entries"));
        for entry in &self.entries {
            entry.write(&mut out);
        }
        out
    }

    /// Decodes a body (after its signature was checked).
    pub fn decode_body(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let version = r.u8()?;
        if version != KEY_SET_VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let region = Region::read(&mut r)?;
        let sequence = r.u64()?;
        if sequence == 0 {
            return Err(Error::InvalidField("sequence"));
        }
        let issued_at = UnixTime(r.u64()?);
        let count = usize::from(r.u8()?);
        if count == 0 || count > MAX_KEY_SET_ENTRIES {
            return Err(Error::InvalidField("count"));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            entries.push(KeyEntry::read(&mut r)?);
        }
        r.finish()?;
        Self::check_entries(&entries)?;
        Ok(KeySet { region, sequence, issued_at, entries })
    }

    /// Signs the set with a root key.
    pub fn sign(&self, root: &SigningKey) -> Vec<u8> {
        seal_file(&KEY_SET_MAGIC, &self.encode_body(), root)
    }

    /// Verifies a signed set against the root keys `roots` and decodes it.
    pub fn verify(bytes: &[u8], roots: &TrustedKeys) -> Result<Self> {
        let body = SignedFile::parse(&KEY_SET_MAGIC, bytes)?.verify(roots)?;
        Self::decode_body(body)
    }
}

/// What a verifier trusts: its configured anchors and the newest key set it
/// accepted (protocol §2.3, "Which keys are trusted").
///
/// Before any key set, the configured authority keys are trusted for every
/// authority purpose and the configured export keys for export files (a
/// deployment with one authority key). Once a key set is accepted, it alone
/// decides the certificate, policy and tracing keys; it decides the export
/// and root keys too if it lists any of that purpose, else the configured
/// ones stay.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    export: TrustedKeys,
    authority: TrustedKeys,
    set: Option<KeySet>,
}

impl Keyring {
    /// A keyring of configured anchors only: the key server's export keys
    /// and the health authority's (root) keys.
    pub fn new(export: TrustedKeys, authority: TrustedKeys) -> Self {
        Keyring { export, authority, set: None }
    }

    /// The accepted key set, if any.
    pub fn key_set(&self) -> Option<&KeySet> {
        self.set.as_ref()
    }

    /// The keys trusted for `purpose` at `now`.
    pub fn trusted(&self, purpose: Purpose, now: UnixTime) -> TrustedKeys {
        let Some(set) = &self.set else {
            return match purpose {
                Purpose::Export => self.export.clone(),
                _ => self.authority.clone(),
            };
        };
        match purpose {
            Purpose::Export if set.listed(Purpose::Export).next().is_none() => self.export.clone(),
            Purpose::Root if set.listed(Purpose::Root).next().is_none() => self.authority.clone(),
            _ => set.trusted(purpose, now),
        }
    }

    /// Whether the key named `id` is trusted for `purpose` at `now`.
    pub fn trusts(&self, purpose: Purpose, id: KeyId, now: UnixTime) -> bool {
        self.trusted(purpose, now).get(id).is_some()
    }

    /// Whether the signed file `bytes` of kind `magic` was signed by a key
    /// trusted now for that kind (its signature is not checked again).
    pub fn signer_trusted(&self, magic: &[u8; 8], bytes: &[u8], now: UnixTime) -> bool {
        let Some(purpose) = Purpose::signing(magic) else { return false };
        SignedFile::parse(magic, bytes).is_ok_and(|file| self.trusts(purpose, file.key_id, now))
    }

    /// Verifies a key set for `region` with the root keys trusted at `now`
    /// and, if its sequence is higher than the accepted one's, accepts it.
    /// Returns whether it replaced the accepted set: the same set again is
    /// no change; an older one, one of another region or one no trusted
    /// root signed is refused and changes nothing.
    pub fn accept(&mut self, bytes: &[u8], region: &Region, now: UnixTime) -> Result<bool> {
        let set = KeySet::verify(bytes, &self.trusted(Purpose::Root, now))?;
        if &set.region != region {
            return Err(Error::InvalidField("region"));
        }
        match &self.set {
            Some(current) if current == &set => Ok(false),
            Some(current) if current.sequence >= set.sequence => Err(Error::InvalidField("sequence")),
            _ => {
                self.set = Some(set);
                Ok(true)
            }
        }
    }

    /// Installs a key set verified earlier (read back from storage) without
    /// checking it again.
    pub fn restore(&mut self, set: KeySet) {
        self.set = Some(set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn entry(purpose: Purpose, n: u8, from: u64, to: u64) -> KeyEntry {
        KeyEntry { purpose, key: key(n).verifying_key(), not_before: UnixTime(from), not_after: UnixTime(to) }
    }

    fn region() -> Region {
        Region::new("GL-TEST").expect("region")
    }

    fn set(sequence: u64, entries: Vec<KeyEntry>) -> KeySet {
        KeySet::new(region(), sequence, UnixTime(1000), entries).expect("valid set")
    }

    fn anchors() -> Keyring {
        Keyring::new(TrustedKeys::from_keys([key(9).verifying_key()]), TrustedKeys::from_keys([key(1).verifying_key()]))
    }

    #[test]
    fn a_key_set_round_trips_byte_for_byte() {
        let s = set(3, vec![entry(Purpose::Tracing, 5, 0, 10), entry(Purpose::Policy, 4, 0, u64::MAX)]);
        let signed = s.sign(&key(1));
        let back = KeySet::verify(&signed, &TrustedKeys::from_keys([key(1).verifying_key()])).expect("verifies");
        assert_eq!(back, s);
        assert_eq!(back.sign(&key(1)), signed);
        assert_eq!(back.entries()[0].purpose, Purpose::Policy, "sorted by purpose");
    }

    #[test]
    fn malformed_sets_are_refused() {
        let e = entry(Purpose::Policy, 4, 0, 10);
        assert_eq!(KeySet::new(region(), 0, UnixTime(0), vec![e]), Err(Error::InvalidField("sequence")));
        assert_eq!(KeySet::new(region(), 1, UnixTime(0), vec![]), Err(Error::InvalidField("count")));
        assert_eq!(KeySet::new(region(), 1, UnixTime(0), vec![e, e]), Err(Error::InvalidField("entries")));
        let empty_window = entry(Purpose::Policy, 4, 10, 10);
        assert_eq!(KeySet::new(region(), 1, UnixTime(0), vec![empty_window]), Err(Error::InvalidField("not_after")));
        // Decoding applies the same rules to bytes made by hand: the last
        // entry ends with not_before (8) and not_after (8).
        let mut reversed = set(1, vec![e]).encode_body();
        let len = reversed.len();
        reversed[len - 8..].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(KeySet::decode_body(&reversed), Err(Error::InvalidField("not_after")));
        let mut bad_purpose = set(1, vec![e]).encode_body();
        let at = bad_purpose.len() - 49;
        bad_purpose[at] = 9;
        assert_eq!(KeySet::decode_body(&bad_purpose), Err(Error::InvalidField("purpose")));
    }

    #[test]
    fn before_any_set_the_configured_keys_sign_everything() {
        let ring = anchors();
        for purpose in [Purpose::Root, Purpose::Certificate, Purpose::Policy, Purpose::Tracing] {
            assert!(ring.trusted(purpose, UnixTime(5)).get(KeyId::of(&key(1).verifying_key())).is_some());
        }
        assert!(ring.trusted(Purpose::Export, UnixTime(5)).get(KeyId::of(&key(9).verifying_key())).is_some());
    }

    #[test]
    fn a_set_gives_each_purpose_its_own_keys_inside_their_windows() {
        let mut ring = anchors();
        let s = set(1, vec![entry(Purpose::Certificate, 3, 0, u64::MAX), entry(Purpose::Policy, 4, 100, 200)]);
        assert_eq!(ring.accept(&s.sign(&key(1)), &region(), UnixTime(150)), Ok(true));
        let policy = KeyId::of(&key(4).verifying_key());
        let root = KeyId::of(&key(1).verifying_key());
        // The certificate key cannot sign a policy, nor the root.
        assert!(!ring.trusts(Purpose::Policy, KeyId::of(&key(3).verifying_key()), UnixTime(150)));
        assert!(!ring.trusts(Purpose::Policy, root, UnixTime(150)));
        assert!(ring.trusts(Purpose::Policy, policy, UnixTime(150)));
        assert!(!ring.trusts(Purpose::Policy, policy, UnixTime(99)), "not yet valid");
        assert!(!ring.trusts(Purpose::Policy, policy, UnixTime(200)), "expired");
        // No export or root entries: the configured ones stay.
        assert!(ring.trusts(Purpose::Export, KeyId::of(&key(9).verifying_key()), UnixTime(150)));
        assert!(ring.trusts(Purpose::Root, root, UnixTime(150)));
    }

    #[test]
    fn only_a_newer_set_of_the_region_signed_by_a_root_is_accepted() {
        let mut ring = anchors();
        let first = set(2, vec![entry(Purpose::Policy, 4, 0, u64::MAX)]).sign(&key(1));
        assert_eq!(ring.accept(&first, &region(), UnixTime(5)), Ok(true));
        assert_eq!(ring.accept(&first, &region(), UnixTime(5)), Ok(false), "the same set again");
        let older = set(1, vec![entry(Purpose::Policy, 5, 0, u64::MAX)]).sign(&key(1));
        assert_eq!(ring.accept(&older, &region(), UnixTime(5)), Err(Error::InvalidField("sequence")));
        let by_policy_key = set(3, vec![entry(Purpose::Policy, 5, 0, u64::MAX)]).sign(&key(4));
        assert_eq!(ring.accept(&by_policy_key, &region(), UnixTime(5)), Err(Error::BadSignature));
        let elsewhere = KeySet::new(
            Region::new("GL-ELSE").expect("region"),
            3,
            UnixTime(0),
            vec![entry(Purpose::Policy, 5, 0, u64::MAX)],
        )
        .expect("valid")
        .sign(&key(1));
        assert_eq!(ring.accept(&elsewhere, &region(), UnixTime(5)), Err(Error::InvalidField("region")));
        assert_eq!(ring.key_set().map(|s| s.sequence), Some(2), "nothing refused changed the ring");
    }

    #[test]
    fn a_root_hands_over_to_its_successor() {
        let mut ring = anchors();
        let handover = set(1, vec![entry(Purpose::Root, 2, 0, u64::MAX), entry(Purpose::Policy, 4, 0, u64::MAX)]);
        assert_eq!(ring.accept(&handover.sign(&key(1)), &region(), UnixTime(5)), Ok(true));
        let by_old = set(2, vec![entry(Purpose::Policy, 5, 0, u64::MAX)]).sign(&key(1));
        assert_eq!(ring.accept(&by_old, &region(), UnixTime(5)), Err(Error::BadSignature), "the old root is retired");
        let by_new = set(2, vec![entry(Purpose::Root, 2, 0, u64::MAX), entry(Purpose::Policy, 5, 0, u64::MAX)]);
        assert_eq!(ring.accept(&by_new.sign(&key(2)), &region(), UnixTime(5)), Ok(true));
    }

    #[test]
    fn signer_trusted_names_the_files_kind() {
        let mut ring = anchors();
        let s = set(1, vec![entry(Purpose::Policy, 4, 0, 100)]);
        ring.accept(&s.sign(&key(1)), &region(), UnixTime(5)).expect("accepted");
        let file = seal_file(b"GL_POLCY", b"body", &key(4));
        assert!(ring.signer_trusted(b"GL_POLCY", &file, UnixTime(50)));
        assert!(!ring.signer_trusted(b"GL_POLCY", &file, UnixTime(100)));
        assert!(!ring.signer_trusted(b"GL_TRACE", &file, UnixTime(50)), "another kind's magic");
    }
}
