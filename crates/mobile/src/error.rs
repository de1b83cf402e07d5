//! The one error type every SDK call returns: a typed exception in Kotlin,
//! Swift and Python. Each variant says what the app should do; `detail` is
//! an English sentence for logs, not for the user (render the variant).

use greenlight_phone::{CheckInError, StoreError};

/// Why a call failed. Nothing was written unless the variant says so.
#[derive(Debug, uniffi::Error)]
pub enum GreenlightError {
    /// The device key or passphrase is not the one the store was sealed
    /// with. Nothing was written; the store still opens with the right one.
    WrongKey {
        /// Details, for logs.
        detail: String,
    },
    /// A stored record does not open: the store was altered or copied from
    /// another device.
    Tampered {
        /// Details, for logs.
        detail: String,
    },
    /// A stored value does not parse: the store is damaged.
    Corrupt {
        /// Details, for logs.
        detail: String,
    },
    /// The store was written by a newer version of the SDK; update the app.
    /// Nothing was written.
    NewerStore {
        /// The store's schema version.
        found: u32,
        /// The newest schema this SDK knows.
        known: u32,
    },
    /// The storage underneath failed (disk full, permissions).
    Storage {
        /// Details, for logs.
        detail: String,
    },
    /// An argument is malformed (a key of the wrong length, sighting bytes
    /// that are not a Greenlight advertisement, an unknown visit).
    InvalidArgument {
        /// Details, for logs.
        detail: String,
    },
    /// A call that needs the servers came before [`crate::GreenlightPhone::configure`].
    NotConfigured {
        /// Details, for logs.
        detail: String,
    },
    /// The scanned QR code is not a genuine Greenlight poster (garbage,
    /// edited, another app's code).
    NotAPoster {
        /// Details, for logs.
        detail: String,
    },
    /// The poster is genuine but not live now (an old poster or a photo of
    /// one, a clock far off, or its day is over).
    PosterNotLive {
        /// Details, for logs.
        detail: String,
    },
    /// Check-out with no visit in progress.
    NotCheckedIn,
    /// A server could not be reached, or answered an error; try again.
    /// Nothing was changed.
    Network {
        /// Details, for logs.
        detail: String,
    },
    /// The authority or key server refused a report step (an unknown or
    /// used code, for instance).
    Refused {
        /// `verify`, `certificate` or `publish`.
        step: String,
        /// The server's status code, e.g. `invalid_code`.
        code: String,
        /// The server's explanation.
        detail: String,
    },
    /// A downloaded file was refused (bad signature or hash, a rollback);
    /// nothing from it was applied.
    Rejected {
        /// Details, for logs.
        detail: String,
    },
    /// A report with nothing to report: no keys and no visits of the last
    /// 14 days (a phone that never broadcast nor checked in). The code
    /// was not used.
    NothingToReport,
    /// This phone reported already (at `at`, Unix seconds) and has nothing
    /// new to report. The code was not used.
    AlreadyReported {
        /// When the earlier report was made.
        at: u64,
    },
    /// The upload was sent but no answer came back, even to the retries:
    /// it may have been published. Tell the person so; do not report
    /// again with a new code.
    Unconfirmed {
        /// Details, for logs.
        detail: String,
    },
    /// The phone was wiped: open a new one.
    Closed,
}

impl std::fmt::Display for GreenlightError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GreenlightError::WrongKey { detail } => write!(f, "wrong device key or passphrase: {detail}"),
            GreenlightError::Tampered { detail } => write!(f, "{detail}"),
            GreenlightError::Corrupt { detail } => write!(f, "local store is damaged: {detail}"),
            GreenlightError::NewerStore { found, known } => {
                write!(f, "the store was written by a newer Greenlight (schema {found}, this one knows {known})")
            }
            GreenlightError::Storage { detail } => write!(f, "local storage failed: {detail}"),
            GreenlightError::InvalidArgument { detail } => write!(f, "invalid argument: {detail}"),
            GreenlightError::NotConfigured { detail } => write!(f, "not configured: {detail}"),
            GreenlightError::NotAPoster { detail } => write!(f, "not a genuine Greenlight poster: {detail}"),
            GreenlightError::PosterNotLive { detail } => write!(f, "{detail}"),
            GreenlightError::NotCheckedIn => f.write_str("not checked in anywhere"),
            GreenlightError::Network { detail } => write!(f, "network: {detail}"),
            GreenlightError::Unconfirmed { detail } => {
                write!(f, "the upload was sent but its answer was lost: it may have been published ({detail})")
            }
            GreenlightError::Refused { step, code, detail } => write!(f, "{step} refused ({code}): {detail}"),
            GreenlightError::Rejected { detail } => write!(f, "a downloaded file was refused: {detail}"),
            GreenlightError::NothingToReport => f.write_str("nothing to report"),
            GreenlightError::AlreadyReported { at } => {
                write!(f, "already reported on {} UTC", greenlight_protocol::time::UnixTime(*at).iso_minute())
            }
            GreenlightError::Closed => f.write_str("this phone was wiped"),
        }
    }
}

impl std::error::Error for GreenlightError {}

impl From<StoreError> for GreenlightError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Tampered => GreenlightError::Tampered { detail: e.to_string() },
            StoreError::Corrupt(what) => GreenlightError::Corrupt { detail: what },
            StoreError::NewerVersion { found, known } => GreenlightError::NewerStore { found, known },
            StoreError::Backend(e) => GreenlightError::Storage { detail: e.to_string() },
        }
    }
}

impl From<CheckInError> for GreenlightError {
    fn from(e: CheckInError) -> Self {
        match e {
            CheckInError::Forged(detail) => GreenlightError::NotAPoster { detail },
            CheckInError::Stale(detail) => GreenlightError::PosterNotLive { detail },
            CheckInError::NoActiveVisit => GreenlightError::NotCheckedIn,
            CheckInError::Store(e) => e.into(),
        }
    }
}

impl From<greenlight_phone::SyncError> for GreenlightError {
    fn from(e: greenlight_phone::SyncError) -> Self {
        match e {
            greenlight_phone::SyncError::Store(e) => e.into(),
            other => GreenlightError::Rejected { detail: other.to_string() },
        }
    }
}

impl From<greenlight_client::sync::SyncError> for GreenlightError {
    fn from(e: greenlight_client::sync::SyncError) -> Self {
        match e {
            greenlight_client::sync::SyncError::Network(detail)
            | greenlight_client::sync::SyncError::Unusable(detail) => GreenlightError::Network { detail },
            greenlight_client::sync::SyncError::Phone(e) => e.into(),
        }
    }
}

impl From<greenlight_phone::ReportError> for GreenlightError {
    fn from(e: greenlight_phone::ReportError) -> Self {
        match e {
            greenlight_phone::ReportError::NothingToReport => GreenlightError::NothingToReport,
            greenlight_phone::ReportError::AlreadyReported(at) => GreenlightError::AlreadyReported { at: at.0 },
            greenlight_phone::ReportError::Store(e) => e.into(),
            other => GreenlightError::InvalidArgument { detail: other.to_string() },
        }
    }
}

impl From<greenlight_client::report::ReportError> for GreenlightError {
    fn from(e: greenlight_client::report::ReportError) -> Self {
        use greenlight_client::report::ReportError as R;
        match e {
            R::Network(detail) => GreenlightError::Network { detail },
            R::Unconfirmed(detail) => GreenlightError::Unconfirmed { detail },
            R::Refused { step, code, message } => {
                GreenlightError::Refused { step: step.to_owned(), code, detail: message }
            }
            R::Phone(e) => e.into(),
        }
    }
}
