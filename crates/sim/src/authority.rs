//! The health authority at protocol level: it signs the color policy,
//! certifies a diagnosed person's upload without seeing it, and traces a
//! revealed venue visit together with the venue's owner.
//!
//! Its staff portal, one-time codes and audit log belong to the server
//! crate; here the authority is the two keys it holds and the messages it
//! signs.

use crate::error::{During, SimError};
use greenlight_protocol::certificate::{Certificate, CertificateId, DayKind, UPLOAD_HMAC_LEN};
use greenlight_protocol::export::Region;
use greenlight_protocol::policy::ColorPolicy;
use greenlight_protocol::report::ReportType;
use greenlight_protocol::signing::{SigningKey, TrustedKeys, VerifyingKey};
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::trace::{ReleaseBundle, ReleaseRequest, RevealedCheckIn, TraceBatch, TraceEntry, TraceSecret};
use greenlight_protocol::venue::{AuthorityPublicKey, AuthorityShare, AuthorityTraceKey};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

/// How long a certificate stays valid: minutes, so that the key server's
/// record of used certificate ids stays small (see `certificate`).
pub(crate) const CERTIFICATE_LIFETIME_SECS: u64 = 15 * 60;

/// The health authority's keys.
pub(crate) struct HealthAuthority {
    signing: SigningKey,
    trace_key: AuthorityTraceKey,
}

/// A trace the authority has started: the revealed visit, its share of the
/// epoch's trace secret, and the signed request for the owner's share.
pub(crate) struct PendingTrace {
    /// The diagnosed visitor's revealed check-in, poster signature checked.
    pub(crate) revealed: RevealedCheckIn,
    /// The signed release request, for the venue's owner.
    pub(crate) request: Vec<u8>,
    share: AuthorityShare,
}

/// A published trace batch and what it holds.
pub(crate) struct SignedTrace {
    /// The signed `GL_TRACE` file.
    pub(crate) bytes: Vec<u8>,
    /// The batch as signed.
    pub(crate) batch: TraceBatch,
}

impl HealthAuthority {
    /// Draws the authority's Ed25519 signing key and HPKE trace key.
    pub(crate) fn generate(rng: &mut ChaCha20Rng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        HealthAuthority { signing: SigningKey::from_bytes(&seed), trace_key: AuthorityTraceKey::generate(rng) }
    }

    /// The signing key's public half, which phones, venue owners and the key
    /// server trust.
    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The trust set holding only this authority.
    pub(crate) fn trusted(&self) -> TrustedKeys {
        TrustedKeys::from_keys([self.verifying_key()])
    }

    /// The public key venue tools seal the authority share to.
    pub(crate) fn trace_public_key(&self) -> AuthorityPublicKey {
        self.trace_key.public_key()
    }

    /// Signs the color policy.
    pub(crate) fn sign_policy(&self, policy: &ColorPolicy) -> Vec<u8> {
        policy.sign(&self.signing)
    }

    /// Certifies an upload the authority knows only by its HMAC.
    pub(crate) fn certify(
        &self,
        upload_hmac: [u8; UPLOAD_HMAC_LEN],
        report_type: ReportType,
        day_kind: DayKind,
        day: DayNumber,
        now: UnixTime,
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, SimError> {
        let certificate = Certificate::new(
            report_type,
            day_kind,
            day,
            upload_hmac,
            now,
            now.plus(CERTIFICATE_LIFETIME_SECS),
            CertificateId::generate(rng),
        )
        .during("authority certifies the upload")?;
        Ok(certificate.sign(&self.signing))
    }

    /// Starts tracing a revealed check-in: parses it (which checks the
    /// poster's signature), recomputes the authority share from the
    /// poster's HPKE encapsulation, and signs a request for the owner share
    /// of exactly that epoch.
    pub(crate) fn request_release(&self, revealed: &[u8], now: UnixTime) -> Result<PendingTrace, SimError> {
        let revealed = RevealedCheckIn::from_bytes(revealed).during("authority parses the revealed check-in")?;
        let venue = *revealed.poster.venue_key();
        let epoch = *revealed.poster.poster_epoch();
        let share = self.trace_key.open_share(&venue, &epoch).during("authority opens its share")?;
        let request = ReleaseRequest::new(venue, now, vec![epoch.epoch])
            .during("authority writes the release request")?
            .sign(&self.signing);
        Ok(PendingTrace { revealed, request, share })
    }

    /// Finishes a trace with the owner's signed release: checks the bundle,
    /// combines the shares (which must open the poster's trace key), and
    /// signs a trace batch whose entry covers the revealed visit.
    pub(crate) fn publish_trace(
        &self,
        pending: &PendingTrace,
        release: &[u8],
        message: &str,
        now: UnixTime,
        rng: &mut ChaCha20Rng,
    ) -> Result<SignedTrace, SimError> {
        let bundle = ReleaseBundle::verify(release).during("authority verifies the release")?;
        let poster = &pending.revealed.poster;
        if bundle.venue != *poster.venue_key() {
            return Err(SimError::story("authority verifies the release", "signed by another venue"));
        }
        let epoch = poster.poster_epoch();
        let owner_share = bundle
            .releases
            .iter()
            .find(|r| r.epoch == *epoch)
            .map(|r| &r.owner_share)
            .ok_or_else(|| SimError::story("authority verifies the release", "the requested epoch is missing"))?;
        let secret =
            TraceSecret::combine(owner_share, &pending.share, epoch).during("authority combines the shares")?;
        let entry = TraceEntry::new(&secret, epoch, pending.revealed.arrival, pending.revealed.departure, message, rng)
            .during("authority writes the trace entry")?;
        let region = Region::new(crate::story::REGION).during("authority seals the trace batch")?;
        let batch = TraceBatch::new(region, 1, now, vec![entry]).during("authority seals the trace batch")?;
        Ok(SignedTrace { bytes: batch.sign(&self.signing), batch })
    }
}
