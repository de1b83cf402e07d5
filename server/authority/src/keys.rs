//! The health authority's secrets on disk and `greenlight-server authority
//! init`, which creates them and the first admin account.
//!
//! `DATA_DIR/authority/` (mode 0700) holds, each as hex in its own file
//! (secrets mode 0600):
//!
//! - `signing-key` / `signing-key.pub`: the Ed25519 key that signs
//!   certificates, release requests, trace batches and color policies;
//! - `trace-key` / `trace-key.pub`: the X25519 trace key
//!   ([`AuthorityShareKey`]) whose public half venue tools seal authority
//!   shares to;
//! - `code-key`: the HMAC key under which upload codes are stored.
//!
//! A key server started on the same data directory trusts `signing-key.pub`
//! as if it had been given with `--authority-key`.

use crate::accounts::{self, Role, RoleSet};
use crate::store::AuthorityStore;
use greenlight_protocol::signing::{SigningKey, VerifyingKey};
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
    /// Ed25519: certificates, release requests, trace batches, policies.
    pub signing: SigningKey,
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
    Ok(Some(AuthorityKeys { signing, trace, code }))
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
    let keys = load(data_dir)?.ok_or_else(|| StartError("the keys just written cannot be read".into()))?;
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
