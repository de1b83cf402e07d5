//! Redirect-after-POST: a form that changed something is answered with a
//! `303 See Other` to a page, and what that page must say once (a notice,
//! a one-time password) waits here, under the session's hash, until the
//! page is shown. Reloading the page then shows it without the message
//! and never posts the form again.
//!
//! A one-time password or an upload code waits here too, until its page
//! shows it once.
//!
//! Kept in the process's memory only: a one-time password is never
//! written anywhere, and a message not shown within [`FLASH_SECS`] is
//! dropped (the one-time password with it: an admin issues a new one).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use zeroize::Zeroizing;

/// How long a message waits for its page.
pub const FLASH_SECS: i64 = 300;

/// What a page shows once.
#[derive(Default)]
pub struct Flash {
    /// A confirmation.
    pub notice: String,
    /// A one-time password and the account it is for.
    pub one_time_password: Option<(Zeroizing<String>, String)>,
    /// An upload code just issued.
    pub issued_code: Option<crate::portal::codes::IssuedCode>,
    /// The message a venue case was just published with (shown once, so
    /// the tracer sees what the visitors read).
    pub sent_message: String,
}

/// The waiting messages, one per session.
#[derive(Default)]
pub struct Flashes(Mutex<HashMap<[u8; 32], (i64, Flash)>>);

impl std::fmt::Debug for Flashes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flashes(<one-time messages>)")
    }
}

impl Flashes {
    /// Leaves `flash` for the next page the session `session` sees
    /// (replacing one not shown yet); drops every expired message.
    pub fn put(&self, session: &[u8; 32], flash: Flash, now: i64) {
        let mut waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        waiting.retain(|_, (expires, _)| *expires > now);
        waiting.insert(*session, (now + FLASH_SECS, flash));
    }

    /// Takes the message waiting for `session`, if any and not expired.
    pub fn take(&self, session: &[u8; 32], now: i64) -> Flash {
        let mut waiting = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match waiting.remove(session) {
            Some((expires, flash)) if expires > now => flash,
            _ => Flash::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_shown_once_to_its_session_only_and_not_after_it_expired() {
        let flashes = Flashes::default();
        let (mine, other) = ([1u8; 32], [2u8; 32]);
        flashes.put(&mine, Flash { notice: "saved".into(), ..Flash::default() }, 100);
        assert_eq!(flashes.take(&other, 101).notice, "");
        assert_eq!(flashes.take(&mine, 101).notice, "saved");
        assert_eq!(flashes.take(&mine, 102).notice, "", "shown once");
        flashes.put(&mine, Flash { notice: "late".into(), ..Flash::default() }, 100);
        assert_eq!(flashes.take(&mine, 100 + FLASH_SECS).notice, "", "expired");
    }
}
