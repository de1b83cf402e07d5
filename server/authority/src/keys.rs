//! The health authority's secrets on disk and `greenlight-server authority
//! init`, which creates them and the first admin account.
//!
//! `DATA_DIR/authority/` (mode 0700) holds, each as hex in its own file
//! (secrets mode 0600):
//!
//! - `signing-key` / `signing-key.pub`: the Ed25519 **root** key. It signs
//!   the region's key set only (protocol §2.3); phones, key servers and
//!   venue tools are set up with its public half (`--authority-key`);
//! - `certificate-key`, `policy-key`, `tracing-key` (and `.pub`): the
//!   Ed25519 keys of one purpose each: upload certificates and feed
//!   requests (the online key); color policies; trace batches and release
//!   requests. A stolen certificate key cannot sign a policy;
//! - `key-set`: the signed key set naming those keys and their windows
//!   (binary, public), published to the key server at every start;
//! - `trace-key` / `trace-key.pub`: the X25519 trace key
//!   ([`AuthorityShareKey`]) whose public half venue tools seal authority
//!   shares to;
//! - `code-key`: the HMAC key under which upload codes are stored.
//!
//! A key server started on the same data directory trusts `signing-key.pub`
//! as if it had been given with `--authority-key`.

use crate::accounts::{self, Role, RoleSet};
use crate::store::AuthorityStore;
use greenlight_protocol::export::Region;
use greenlight_protocol::signing::{KeyId, SignedFile, TrustedKeys};
use greenlight_protocol::signing::{SigningKey, VerifyingKey};
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::trust::{KEY_SET_MAGIC, KeyEntry, KeySet, Purpose};
use greenlight_protocol::venue::AuthorityShareKey;
use greenlight_service::db::Db;
use greenlight_service::{StartError, write_private};
use hmac::{Hmac, KeyInit, Mac};
use rand_core::Rng;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The authority's key directory inside a data directory.
pub fn authority_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("authority")
}

/// The secret under which upload codes are stored (HMAC-SHA256).
pub struct CodeKey(Zeroizing<[u8; 32]>);

impl CodeKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CodeKey(Zeroizing::new(bytes))
    }

    /// The keyed hash of a normalized code of the given kind.
    pub fn hash(&self, kind: &str, code: &str) -> [u8; 32] {
        self.tag(b"greenlight/v1 upload code", &[kind.as_bytes(), code.as_bytes()])
    }

    /// The tag binding a login form's token to this server (issue 19
    /// item 11): only the server can make a token it will accept.
    pub fn login_form_tag(&self, token: &[u8]) -> [u8; 32] {
        self.tag(b"greenlight/v1 login form", &[token])
    }

    /// HMAC-SHA256 of `label`, then each part after a zero byte (protocol
    /// §17: the authority's labels).
    fn tag(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.as_ref()).expect("HMAC takes any key length");
        mac.update(label);
        for part in parts {
            mac.update(&[0]);
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The token a code claimed with a phone's request id gets (issue 19
    /// item 6): derived, so that the same request sent again after a lost
    /// answer gets the same token without the code's row naming it, and no
    /// one without this key or the request id can derive it.
    pub fn token(&self, code_hash: &[u8], request_id: &[u8]) -> [u8; 32] {
        self.tag(b"greenlight/v1 token", &[code_hash, request_id])
    }

    /// The tag of the upload a token was used for: the same upload asked
    /// again gets its certificate again, any other is refused.
    pub fn upload_tag(&self, token_hash: &[u8], upload_hmac: &[u8]) -> [u8; 32] {
        self.tag(b"greenlight/v1 certified upload", &[token_hash, upload_hmac])
    }

    /// The id of the certificate for an upload under a token: the same for
    /// the same upload, so that the key server answers a second
    /// certificate for it "already accepted".
    pub fn certificate_id(&self, token_hash: &[u8], upload_hmac: &[u8]) -> [u8; 16] {
        let tag = self.tag(b"greenlight/v1 certificate id", &[token_hash, upload_hmac]);
        tag[..16].try_into().expect("16 of 32 bytes")
    }

    /// The digest a revealed visit is remembered by once deleted.
    pub fn done_visit(&self, checkin: &[u8]) -> [u8; 32] {
        self.tag(b"greenlight/v1 reviewed visit", &[checkin])
    }

    /// The tag of a color policy's preview (issue 21 item 20): the
    /// confirmation a "Sign and publish" form must carry, binding the
    /// values shown in the preview and the version they were compared to.
    pub fn policy_preview_tag(&self, preview: &[u8]) -> [u8; 32] {
        self.tag(b"greenlight/v1 policy preview", &[preview])
    }
}

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(<secret>)")
    }
}

/// Everything the authority signs and opens with.
#[derive(Debug)]
pub struct AuthorityKeys {
    /// Ed25519 root key: signs key sets (and, in a data directory from
    /// before key sets that has no `key-set`, everything).
    pub signing: SigningKey,
    /// Ed25519: upload certificates and feed requests.
    pub certificate: SigningKey,
    /// Ed25519: color policies.
    pub policy: SigningKey,
    /// Ed25519: trace batches and release requests.
    pub tracing: SigningKey,
    /// The signed key set naming the three (protocol §2.3), once made.
    pub key_set: Option<Vec<u8>>,
    /// X25519: opens the authority share of a poster's epoch.
    pub trace: AuthorityShareKey,
    /// HMAC key of stored upload codes.
    pub code: CodeKey,
}

fn read_hex32(path: &Path) -> Result<Zeroizing<[u8; 32]>, StartError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| StartError(format!("cannot read {}: {e}", path.display())))?,
    );
    let mut bytes = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), bytes.as_mut())
        .map_err(|_| StartError(format!("{} does not hold 64 hex digits", path.display())))?;
    Ok(bytes)
}

/// The authority's keys in `data_dir`, or `None` if `authority init` was
/// never run there.
pub fn load(data_dir: &Path) -> Result<Option<AuthorityKeys>, StartError> {
    let dir = authority_dir(data_dir);
    if !dir.join("signing-key").exists() {
        return Ok(None);
    }
    let seed = read_hex32(&dir.join("signing-key"))?;
    let signing = SigningKey::from_bytes(&seed);
    let trace_secret = read_hex32(&dir.join("trace-key"))?;
    let trace = AuthorityShareKey::from_bytes(&trace_secret)
        .map_err(|_| StartError(format!("{} is not a valid X25519 key", dir.join("trace-key").display())))?;
    let code = CodeKey(read_hex32(&dir.join("code-key"))?);
    // A data directory from before key sets has no purpose keys: the root
    // key signs everything until `ensure_key_set` creates them.
    let purpose_key = |purpose: Purpose| -> Result<SigningKey, StartError> {
        let path = dir.join(purpose_file(purpose));
        if path.exists() { Ok(SigningKey::from_bytes(&*read_hex32(&path)?)) } else { Ok(signing.clone()) }
    };
    let key_set_path = dir.join(KEY_SET_FILE);
    let key_set = match std::fs::read(&key_set_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StartError(format!("cannot read {}: {e}", key_set_path.display()))),
    };
    Ok(Some(AuthorityKeys {
        certificate: purpose_key(Purpose::Certificate)?,
        policy: purpose_key(Purpose::Policy)?,
        tracing: purpose_key(Purpose::Tracing)?,
        key_set,
        signing,
        trace,
        code,
    }))
}

/// The authority's public signing key in `data_dir`, if it was initialized
/// there: the key server trusts it.
pub fn public_signing_key(data_dir: &Path) -> Result<Option<VerifyingKey>, StartError> {
    Ok(load(data_dir)?.map(|keys| keys.signing.verifying_key()))
}

/// Creates the keys that do not exist yet (never replacing one).
fn create_keys(data_dir: &Path) -> Result<AuthorityKeys, StartError> {
    let dir = authority_dir(data_dir);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|e| StartError(format!("cannot create {}: {e}", dir.display())))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let fail = |path: &Path, e: std::io::Error| StartError(format!("cannot create {}: {e}", path.display()));
    let write_secret = |name: &str, bytes: &[u8]| -> Result<(), StartError> {
        let path = dir.join(name);
        if path.exists() {
            return Ok(());
        }
        write_private(&path, &format!("{}\n", hex::encode(bytes))).map_err(|e| fail(&path, e))
    };
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    write_secret("signing-key", seed.as_ref())?;
    write_secret("trace-key", AuthorityShareKey::generate(&mut rng).to_bytes().as_ref())?;
    rng.fill_bytes(seed.as_mut());
    write_secret("code-key", seed.as_ref())?;
    for purpose in PURPOSES {
        rng.fill_bytes(seed.as_mut());
        write_secret(purpose_file(purpose), seed.as_ref())?;
    }
    let keys = load(data_dir)?.ok_or_else(|| StartError("the keys just written cannot be read".into()))?;
    write_purpose_publics(&dir, &keys)?;
    for (name, public) in
        [("signing-key.pub", *keys.signing.verifying_key().as_bytes()), ("trace-key.pub", keys.trace.public_key().0)]
    {
        let path = dir.join(name);
        std::fs::write(&path, format!("{}\n", hex::encode(public))).map_err(|e| fail(&path, e))?;
    }
    Ok(keys)
}

/// What `authority init` did.
#[derive(Debug)]
pub struct Initialized {
    /// The public signing key (give it to key servers: `--authority-key`).
    pub signing_public: VerifyingKey,
    /// The public trace key (give it to venue tools).
    pub trace_public: [u8; 32],
    /// The admin's one-time password, when it was generated.
    pub one_time_password: Option<Zeroizing<String>>,
}

/// `greenlight-server authority init`: creates the keys in `data_dir` (those
/// that exist are kept) and the first admin account, holding every role.
/// With `password` `None` a one-time password is generated, which must be
/// changed at the first login. Refuses if any staff account exists.
pub async fn init(
    data_dir: &Path,
    database: &Db,
    admin: &str,
    password: Option<Zeroizing<String>>,
    now: i64,
) -> Result<Initialized, StartError> {
    accounts::check_username(admin).map_err(|e| StartError(format!("--admin {admin:?}: {e}")))?;
    if let Some(password) = &password {
        accounts::check_password(password).map_err(|e| StartError(format!("the password from stdin: {e}")))?;
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StartError(format!("cannot create data directory {}: {e}", data_dir.display())))?;
    let keys = create_keys(data_dir)?;
    let authority = AuthorityStore::new(database.clone());
    let db = |e: greenlight_service::db::StoreError| StartError(format!("database: {e}"));
    let existing = authority.staff_count().await.map_err(db)?;
    if existing > 0 {
        return Err(StartError(format!(
            "the authority is already initialized ({existing} staff account(s) exist); an admin adds accounts in the portal"
        )));
    }
    let generated = password.is_none();
    let password = password.unwrap_or_else(accounts::one_time_password);
    let hash = accounts::hash_password(&password).await.map_err(StartError)?;
    let roles = RoleSet::of(&Role::ALL);
    let id = authority
        .create_staff(admin, &hash, &roles.to_text(), generated, now)
        .await
        .map_err(db)?
        .ok_or_else(|| StartError(format!("an account named {admin:?} exists already")))?;
    authority
        .audit(
            now,
            Some(id),
            admin,
            "authority_initialized",
            &format!("first admin account; roles {}", roles.to_text()),
        )
        .await
        .map_err(db)?;
    Ok(Initialized {
        signing_public: keys.signing.verifying_key(),
        trace_public: keys.trace.public_key().0,
        one_time_password: generated.then_some(password),
    })
}

/// The purposes the authority holds a key of (the root aside).
pub const PURPOSES: [Purpose; 3] = [Purpose::Certificate, Purpose::Policy, Purpose::Tracing];

/// How long export keys listed before stay trusted once a combined server
/// starts with a new export key: as long as a phone may go without syncing
/// before it shows stale (48 h, protocol §13.4).
pub const EXPORT_OVERLAP_SECS: u64 = 48 * 3600;

/// The file of the signed key set in the authority directory.
pub const KEY_SET_FILE: &str = "key-set";

/// The secret key file of `purpose` in the authority directory.
pub fn purpose_file(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Certificate => "certificate-key",
        Purpose::Policy => "policy-key",
        Purpose::Tracing => "tracing-key",
        Purpose::Root => "signing-key",
        Purpose::Export => "export-key",
    }
}

impl AuthorityKeys {
    /// The key of `purpose` (the root for root and export, which the
    /// authority does not hold).
    pub fn for_purpose(&self, purpose: Purpose) -> &SigningKey {
        match purpose {
            Purpose::Certificate => &self.certificate,
            Purpose::Policy => &self.policy,
            Purpose::Tracing => &self.tracing,
            Purpose::Root | Purpose::Export => &self.signing,
        }
    }

    /// The key set in force, decoded (it was verified when made).
    pub fn decoded_key_set(&self) -> Option<KeySet> {
        let bytes = self.key_set.as_ref()?;
        KeySet::decode_body(SignedFile::parse(&KEY_SET_MAGIC, bytes).ok()?.body).ok()
    }
}

fn write_purpose_publics(dir: &Path, keys: &AuthorityKeys) -> Result<(), StartError> {
    for purpose in PURPOSES {
        let path = dir.join(format!("{}.pub", purpose_file(purpose)));
        std::fs::write(&path, format!("{}\n", hex::encode(keys.for_purpose(purpose).verifying_key().as_bytes())))
            .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn write_key_set(dir: &Path, bytes: &[u8]) -> Result<(), StartError> {
    // Written aside and renamed: a crash never leaves half a key set.
    let path = dir.join(KEY_SET_FILE);
    let partial = dir.join(format!("{KEY_SET_FILE}.partial"));
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))
}

/// The key set held in `dir`, verified with the root key.
fn held_key_set(dir: &Path, keys: &AuthorityKeys) -> Result<Option<KeySet>, StartError> {
    let Some(bytes) = &keys.key_set else { return Ok(None) };
    let root = TrustedKeys::from_keys([keys.signing.verifying_key()]);
    KeySet::verify(bytes, &root).map(Some).map_err(|e| {
        StartError(format!(
            "{} is not a key set signed by this authority's root key: {e}",
            dir.join(KEY_SET_FILE).display()
        ))
    })
}

/// At every start (protocol §2.3): creates the purpose keys a data
/// directory lacks (one from before key sets, or an `authority init` of
/// this version) and, if the key set in `dir` does not name every key in
/// use for `region` at `now`, signs a new one with the root key: the held
/// entries still valid, and each key in use from `now` on. Returns the keys
/// with their key set.
///
/// `export`, the key server's export key when it runs in the same process,
/// is named too (purpose `export`): a new export key is listed from `now`
/// and the others listed end [`EXPORT_OVERLAP_SECS`] later, so phones
/// follow a changed export key through the key set (protocol §2.3).
pub fn ensure_key_set(
    data_dir: &Path,
    region: &Region,
    export: Option<VerifyingKey>,
    now: UnixTime,
) -> Result<AuthorityKeys, StartError> {
    let dir = authority_dir(data_dir);
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    for purpose in PURPOSES {
        let path = dir.join(purpose_file(purpose));
        if !path.exists() {
            let mut seed = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(seed.as_mut());
            write_private(&path, &format!("{}\n", hex::encode(seed.as_ref())))
                .map_err(|e| StartError(format!("cannot create {}: {e}", path.display())))?;
        }
    }
    let mut keys = load(data_dir)?.ok_or_else(|| StartError(format!("no health authority in {}", dir.display())))?;
    write_purpose_publics(&dir, &keys)?;
    let held = held_key_set(&dir, &keys)?;
    let in_use = |e: &KeyEntry| e.valid_at(now) && keys.for_purpose(e.purpose).verifying_key() == e.key;
    let export_listed =
        |set: &KeySet| export.is_none_or(|key| set.listed(Purpose::Export).any(|e| e.key == key && e.valid_at(now)));
    let complete = held.as_ref().is_some_and(|set| {
        &set.region == region
            && PURPOSES.iter().all(|p| set.listed(*p).any(|e| e.purpose == *p && in_use(e)))
            && export_listed(set)
    });
    if complete {
        return Ok(keys);
    }
    let mut entries: Vec<KeyEntry> = held
        .as_ref()
        .filter(|set| &set.region == region)
        .map(|set| set.entries().iter().filter(|e| e.not_after > now).copied().collect())
        .unwrap_or_default();
    for purpose in PURPOSES {
        let key = keys.for_purpose(purpose).verifying_key();
        if !entries.iter().any(|e| e.purpose == purpose && e.key == key && e.valid_at(now)) {
            entries.retain(|e| !(e.purpose == purpose && e.key == key));
            entries.push(KeyEntry { purpose, key, not_before: now, not_after: UnixTime(u64::MAX) });
        }
    }
    if let Some(key) = export
        && !entries.iter().any(|e| e.purpose == Purpose::Export && e.key == key && e.valid_at(now))
    {
        // The export key changed: the ones listed before end after the
        // overlap (a phone that missed it asks GET /v1/trust).
        let retire_at = now.plus(EXPORT_OVERLAP_SECS);
        for entry in entries.iter_mut().filter(|e| e.purpose == Purpose::Export) {
            entry.not_after = entry.not_after.min(retire_at).max(entry.not_before.plus(1));
        }
        entries.retain(|e| !(e.purpose == Purpose::Export && e.key == key));
        entries.push(KeyEntry { purpose: Purpose::Export, key, not_before: now, not_after: UnixTime(u64::MAX) });
    }
    let sequence = held.map_or(1, |set| set.sequence + 1);
    let set = KeySet::new(region.clone(), sequence, now, entries)
        .map_err(|e| StartError(format!("cannot make the key set: {e}")))?;
    let bytes = set.sign(&keys.signing);
    write_key_set(&dir, &bytes)?;
    tracing::info!(sequence, "signed a new key set for {region}");
    keys.key_set = Some(bytes);
    Ok(keys)
}

/// What `greenlight-server authority rotate-key` did.
#[derive(Debug)]
pub struct Rotated {
    /// The retired key's id and when it stops being trusted.
    pub retired: (KeyId, UnixTime),
    /// The new key.
    pub new_key: VerifyingKey,
    /// The new key set's sequence.
    pub sequence: u64,
}

/// `greenlight-server authority rotate-key --purpose P`: a new key of
/// `purpose` signs from `now` on; the old one stays trusted for `overlap`
/// seconds (certificates and files it signed keep verifying meanwhile) and
/// its secret is destroyed. The new key set is signed with the root key and
/// published at the next start of the server (protocol §2.3, and
/// server/README.md "Rotating keys").
pub fn rotate(data_dir: &Path, purpose: Purpose, overlap_secs: u64, now: UnixTime) -> Result<Rotated, StartError> {
    if !PURPOSES.contains(&purpose) {
        return Err(StartError(format!(
            "--purpose {purpose}: the authority rotates its certificate, policy and tracing keys here; \
             see server/README.md \"Rotating keys\" for the root and export keys"
        )));
    }
    let dir = authority_dir(data_dir);
    let keys = load(data_dir)?.ok_or_else(|| StartError(format!("no health authority in {}", dir.display())))?;
    let Some(held) = held_key_set(&dir, &keys)? else {
        return Err(StartError("no key set yet: start the server once before rotating a key".into()));
    };
    let old = keys.for_purpose(purpose).verifying_key();
    let retire_at = now.plus(overlap_secs);
    let mut entries: Vec<KeyEntry> = held.entries().iter().filter(|e| e.not_after > now).copied().collect();
    for entry in entries.iter_mut().filter(|e| e.purpose == purpose && e.key == old) {
        entry.not_after = entry.not_after.min(retire_at).max(entry.not_before.plus(1));
    }
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    let new_key = SigningKey::from_bytes(&seed);
    entries.push(KeyEntry { purpose, key: new_key.verifying_key(), not_before: now, not_after: UnixTime(u64::MAX) });
    let sequence = held.sequence + 1;
    let set = KeySet::new(held.region.clone(), sequence, now, entries)
        .map_err(|e| StartError(format!("cannot make the key set: {e}")))?;
    // The key set first: if the new secret were written and the set not,
    // the next start would list the new key from then, which is safe too.
    write_key_set(&dir, &set.sign(&keys.signing))?;
    let path = dir.join(purpose_file(purpose));
    let partial = dir.join(format!("{}.partial", purpose_file(purpose)));
    write_private(&partial, &format!("{}\n", hex::encode(seed.as_ref())))
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| StartError(format!("cannot write {}: {e}", path.display())))?;
    let keys = load(data_dir)?.ok_or_else(|| StartError("the keys just written cannot be read".into()))?;
    write_purpose_publics(&dir, &keys)?;
    Ok(Rotated { retired: (KeyId::of(&old), retire_at), new_key: new_key.verifying_key(), sequence })
}
