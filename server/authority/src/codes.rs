//! Upload codes: what staff give a diagnosed person so that their phone can
//! ask for a certificate.
//!
//! - A **short code** is 8 decimal digits (10⁸ values), read out over the
//!   phone, valid 15 minutes by default; shown as `1234 5678`.
//! - A **long code** is 16 characters of Crockford's base32 alphabet
//!   (`0-9 A-Z` without `I L O U`: 32⁸·32⁸ = 2⁸⁰ values), for links and QR
//!   codes, valid 24 hours by default; shown as `ABCD-EFGH-JKMN-PQRS`.
//!
//! Codes are drawn uniformly from the system RNG and stored only as
//! [`CodeKey::hash`](crate::keys::CodeKey::hash). Typing
//! mistakes are forgiven before hashing: spaces and dashes are dropped,
//! letters upper-cased, and `I`/`L` read as `1`, `O` as `0`.
//!
//! [`issue`] issues one: it draws a code, stores its hash under the daily
//! quota and audits it; the portal shows it once.

use crate::AuthorityState;
use crate::store::{CodeRow, NewCode};
use greenlight_protocol::certificate::DayKind;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::time::DayNumber;
use rand_core::Rng;

/// Digits of a short code.
pub const SHORT_CODE_LEN: usize = 8;
/// Characters of a long code.
pub const LONG_CODE_LEN: usize = 16;
/// The long-code alphabet (Crockford's base32).
pub const LONG_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Which kind of code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// 8 digits, for phone calls.
    Short,
    /// 16 characters, for links and QR codes.
    Long,
}

impl CodeKind {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Short => "short",
            CodeKind::Long => "long",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<CodeKind> {
        match name {
            "short" => Some(CodeKind::Short),
            "long" => Some(CodeKind::Long),
            _ => None,
        }
    }
}

/// A fresh code of `kind`, in normalized form.
pub fn generate(kind: CodeKind) -> String {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    match kind {
        CodeKind::Short => {
            // 10^8 < 2^27: rejection sampling on 27 bits keeps it uniform.
            let n = loop {
                let n = rng.next_u32() & ((1 << 27) - 1);
                if n < 100_000_000 {
                    break n;
                }
            };
            format!("{n:08}")
        }
        CodeKind::Long => {
            (0..LONG_CODE_LEN).map(|_| char::from(LONG_ALPHABET[(rng.next_u32() & 31) as usize])).collect()
        }
    }
}

/// How a normalized code is shown to people.
pub fn display(kind: CodeKind, code: &str) -> String {
    let (group, separator) = match kind {
        CodeKind::Short => (4, " "),
        CodeKind::Long => (4, "-"),
    };
    code.as_bytes().chunks(group).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(separator)
}

/// Reads what a person typed: the kind and normalized code, or `None` if it
/// is neither kind.
pub fn normalize(input: &str) -> Option<(CodeKind, String)> {
    if input.len() > 64 {
        return None;
    }
    let cleaned: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if cleaned.len() == SHORT_CODE_LEN && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        return Some((CodeKind::Short, cleaned));
    }
    if cleaned.chars().count() != LONG_CODE_LEN {
        return None;
    }
    let mut out = String::with_capacity(LONG_CODE_LEN);
    for c in cleaned.chars() {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !c.is_ascii() || !LONG_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    Some((CodeKind::Long, out))
}

/// A random handle for a code: 10 lower-case characters (50 bits), which
/// staff use to check or expire the code without knowing it.
pub fn handle() -> String {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    (0..10).map(|_| char::from(LONG_ALPHABET[(rng.next_u32() & 31) as usize].to_ascii_lowercase())).collect()
}

/// What a long code's QR holds: a link the resident app opens.
pub fn link(region: &str, code: &str) -> String {
    format!("greenlight://report?r={region}&c={code}")
}

/// A code just issued: the only time the code itself is known.
pub struct Issued {
    /// The code, normalized (shown with [`display`]).
    pub code: String,
    /// Its handle, for status checks and expiring it.
    pub handle: String,
    /// When it expires, as stored.
    pub expires_at: i64,
}

/// Why no code was issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    /// Today's quota of codes is used up (audited).
    QuotaReached,
    /// The database failed (or drew five collisions in a row): the cause,
    /// to be logged, never shown.
    Unavailable(String),
}

impl std::fmt::Display for IssueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IssueError::QuotaReached => f.write_str("today's quota of codes is used up"),
            IssueError::Unavailable(cause) => write!(f, "unavailable: {cause}"),
        }
    }
}

impl std::error::Error for IssueError {}

/// Issues a code of `kind` for a diagnosis of `report_type` whose `day_kind`
/// date is `day`, by staff member `staff_id` (`username`): draws it, stores
/// its hash within today's quota (a collision with a stored code just draws
/// again), and audits it — or audits the refusal when the quota is reached.
pub async fn issue(
    state: &AuthorityState,
    kind: CodeKind,
    report_type: ReportType,
    day_kind: DayKind,
    day: DayNumber,
    staff_id: i64,
    username: &str,
) -> Result<Issued, IssueError> {
    let unavailable = |e: crate::store::StoreError| IssueError::Unavailable(e.to_string());
    let now = state.now_i64();
    let today = i64::from(state.now().day().0);
    let lifetime = match kind {
        CodeKind::Short => state.settings.short_code_secs,
        CodeKind::Long => state.settings.long_code_secs,
    };
    let expires_at = now + i64::try_from(lifetime).unwrap_or(0);
    let quota = i64::try_from(state.settings.daily_code_quota).unwrap_or(i64::MAX);
    // A collision with a stored code (short codes: 1 in 10^8 per stored
    // code) just draws again.
    for _ in 0..5 {
        let code = generate(kind);
        let row = CodeRow {
            code_hash: state.keys.code.hash(kind.as_str(), &code).to_vec(),
            handle: handle(),
            kind: kind.as_str().to_owned(),
            report_type: i64::from(report_type.to_byte()),
            day_kind: i64::from(day_kind.to_byte()),
            day: i64::from(day.0),
            issued_at: now,
            expires_at,
            claimed_at: None,
            revoked_at: None,
            issued_by: staff_id,
        };
        match state.store.insert_code(&row, today, quota).await.map_err(unavailable)? {
            NewCode::Stored => {
                let detail = format!("{} code {}", kind.as_str(), row.handle);
                state.store.audit(now, Some(staff_id), username, "code_issued", &detail).await.map_err(unavailable)?;
                return Ok(Issued { code, handle: row.handle, expires_at });
            }
            NewCode::Collision => continue,
            NewCode::QuotaReached => {
                let _ = state.store.audit(now, Some(staff_id), username, "code_refused", "daily quota reached").await;
                return Err(IssueError::QuotaReached);
            }
        }
    }
    Err(IssueError::Unavailable("five code collisions in a row".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_documented_shape() {
        for _ in 0..200 {
            let short = generate(CodeKind::Short);
            assert_eq!(short.len(), 8);
            assert_eq!(normalize(&short), Some((CodeKind::Short, short.clone())));
            let long = generate(CodeKind::Long);
            assert_eq!(long.len(), 16);
            assert_eq!(normalize(&long), Some((CodeKind::Long, long.clone())));
        }
    }

    #[test]
    fn typing_mistakes_are_forgiven() {
        assert_eq!(normalize(" 1234 5678 "), Some((CodeKind::Short, "12345678".into())));
        assert_eq!(normalize("abcd-efgh-ijkl-mnop"), Some((CodeKind::Long, "ABCDEFGH1JK1MN0P".into())));
        assert_eq!(display(CodeKind::Long, "ABCDEFGH1JK1MN0P"), "ABCD-EFGH-1JK1-MN0P");
        assert_eq!(display(CodeKind::Short, "12345678"), "1234 5678");
        for bad in ["1234567", "123456789", "ABCDEFGH1JK1MN0U", "", "ÄBCDEFGH1JK1MN0P", &"1".repeat(100)] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }
}
