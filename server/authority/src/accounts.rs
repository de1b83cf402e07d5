//! Staff accounts: roles and who may grant them, argon2id password hashes,
//! session tokens and the CSRF tokens derived from them.
//!
//! **Roles.** `admin` (staff accounts, color policy), `issuer` (upload
//! codes), `tracer` (venue alerts), `auditor` (audit log, statistics). An
//! account holds any set of them. Managing accounts needs `admin`, and
//! **nobody grants a role above their own**: an admin may give, take away or
//! reset only accounts whose roles, before and after, are all roles the
//! admin holds. The first admin holds all four.
//!
//! **Sessions.** A session is 32 random bytes sent as an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` unless the server listens on
//! loopback); the database keeps only its SHA-256. It ends after
//! [`SESSION_IDLE_SECS`] without a request, after [`SESSION_MAX_SECS`] in
//! all, at logout, and when the account's password or status changes.
//!
//! **CSRF.** Synchronizer tokens: every form after login carries
//! `csrf = HMAC-SHA256(session token, "greenlight/v1 csrf")`, which only a
//! page rendered for that session can know, and every state-changing
//! request is refused unless it matches (constant-time comparison). The
//! login form, before any session exists, uses a double-submit cookie.

use hmac::{Hmac, KeyInit, Mac};
use rand_core::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A session ends after this long without a request.
pub const SESSION_IDLE_SECS: i64 = 30 * 60;
/// A session ends this long after login, whatever happens.
pub const SESSION_MAX_SECS: i64 = 12 * 3600;
/// Failed logins after which an account is locked for [`LOCK_SECS`].
pub const MAX_LOGIN_FAILURES: i64 = 5;
/// How long a locked account stays locked.
pub const LOCK_SECS: i64 = 15 * 60;
/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 12;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Staff accounts and the color policy.
    Admin,
    /// Upload codes.
    Issuer,
    /// Venue alerts.
    Tracer,
    /// Audit log and statistics.
    Auditor,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Issuer, Role::Tracer, Role::Auditor];

    /// Stable name, as stored and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Issuer => "issuer",
            Role::Tracer => "tracer",
            Role::Auditor => "auditor",
        }
    }

    /// What the role allows, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Admin => "staff accounts and the color policy",
            Role::Issuer => "upload codes",
            Role::Tracer => "venue alerts",
            Role::Auditor => "audit log and statistics",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RoleSet(u8);

impl RoleSet {
    /// The set of `roles`.
    pub fn of(roles: &[Role]) -> Self {
        RoleSet(roles.iter().fold(0, |acc, r| acc | r.bit()))
    }

    /// Parses the stored form (comma-separated names); unknown names are
    /// ignored, so a role removed from the code grants nothing.
    pub fn parse(text: &str) -> Self {
        RoleSet::of(&text.split(',').filter_map(|r| Role::parse(r.trim())).collect::<Vec<_>>())
    }

    /// The stored form.
    pub fn to_text(self) -> String {
        self.roles().iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }

    /// Whether `role` is in the set.
    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| self.has(*r)).collect()
    }

    /// Whether every role of `self` is in `other`.
    pub fn is_subset_of(self, other: RoleSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Whether someone holding `granter` may change an account from `before`
/// to `after` (creating one: `before` empty): only admins manage accounts,
/// and nobody grants, removes or resets a role they do not hold.
pub fn may_manage(granter: RoleSet, before: RoleSet, after: RoleSet) -> bool {
    granter.has(Role::Admin) && before.is_subset_of(granter) && after.is_subset_of(granter)
}

/// Checks a login name: 1 to 64 of `a-z 0-9 . _ -`.
pub fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a user name has 1 to 64 characters".into());
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        return Err("a user name uses only a-z, 0-9, '.', '_' and '-'".into());
    }
    Ok(())
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(format!("a password needs at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > 256 {
        return Err("a password has at most 256 bytes".into());
    }
    Ok(())
}

/// A random one-time password: 20 characters of an unambiguous alphabet in
/// groups of four (100 bits).
pub fn one_time_password() -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789-";
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let mut out = Zeroizing::new(String::with_capacity(24));
    for i in 0..20 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        // 31 letters and digits: rejection sampling keeps them uniform.
        let c = loop {
            let b = rng.next_u32().to_le_bytes()[0] & 31;
            if b < 31 {
                break ALPHABET[usize::from(b)];
            }
        };
        out.push(char::from(c));
    }
    out
}

/// The argon2id hash (PHC string) of `password`, computed off the async
/// threads (it takes tens of milliseconds on purpose).
pub async fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| format!("cannot hash the password: {e}"))
    })
    .await
    .map_err(|e| format!("password hashing failed: {e}"))?
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never
/// matches.
pub async fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    let password = Zeroizing::new(password.to_owned());
    let hash = hash.to_owned();
    tokio::task::spawn_blocking(move || {
        argon2::password_hash::phc::PasswordHash::new(&hash)
            .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// A hash with the same cost as real ones, checked when a login names no
/// account, so that the answer takes as long as for a wrong password.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8D+3+VHI8fSiWQ6uBqSPbGaNdFpmS2m0xNyVPdvF4pE";

/// A fresh session (or login-form) token: 32 random bytes, base64url.
pub fn new_token() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(bytes.as_mut());
    Zeroizing::new(greenlight_protocol::codec::to_base64url(bytes.as_ref()))
}

/// What the database stores for a session or device token: its SHA-256.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The CSRF token of the session whose cookie is `session_token`.
pub fn csrf_token(session_token: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(session_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"greenlight/v1 csrf");
    greenlight_protocol::codec::to_base64url(&mac.finalize().into_bytes())
}

/// Constant-time equality of two tokens.
pub fn tokens_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_grants_a_role_they_do_not_hold() {
        let all = RoleSet::of(&Role::ALL);
        let admin_issuer = RoleSet::of(&[Role::Admin, Role::Issuer]);
        let issuer = RoleSet::of(&[Role::Issuer]);
        assert!(may_manage(all, RoleSet::default(), all));
        assert!(may_manage(admin_issuer, RoleSet::default(), issuer));
        assert!(!may_manage(admin_issuer, RoleSet::default(), RoleSet::of(&[Role::Tracer])));
        assert!(!may_manage(admin_issuer, RoleSet::of(&[Role::Tracer]), issuer), "nor takes one away");
        assert!(!may_manage(issuer, RoleSet::default(), issuer), "only admins manage accounts");
        assert_eq!(RoleSet::parse(&all.to_text()), all);
        assert_eq!(RoleSet::parse("issuer,root"), issuer);
    }

    #[test]
    fn one_time_passwords_are_long_enough_and_differ() {
        let (a, b) = (one_time_password(), one_time_password());
        assert_ne!(*a, *b);
        assert!(check_password(&a).is_ok());
        assert_eq!(a.len(), 24);
    }

    #[tokio::test]
    async fn password_hashes_verify_and_the_dummy_hash_parses() {
        let hash = hash_password("correct horse battery").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash).await);
        assert!(!verify_password("wrong horse battery", &hash).await);
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify_password("anything", "not a hash").await);
    }
}
