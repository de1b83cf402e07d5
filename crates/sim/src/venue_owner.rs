//! A venue owner: the offline master secret, the daily posters it prints,
//! the log of opened epochs, and its answer to the authority's release
//! request.

use crate::error::{During, SimError};
use greenlight_protocol::signing::{TrustedKeys, VerifyingKey};
use greenlight_protocol::time::DayNumber;
use greenlight_protocol::trace::ReleaseRequest;
use greenlight_protocol::venue::{
    AuthorityPublicKey, Epoch, Poster, PosterEpoch, VenueInfo, VenueKind, VenueMasterSecret,
};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;

/// Minutes in a printed sheet's epoch: one UTC day.
const DAILY_EPOCH_MINUTES: u16 = 24 * 60;

/// One venue and its owner's tool.
pub(crate) struct VenueOwner {
    secret: VenueMasterSecret,
    info: VenueInfo,
    /// The public part of every epoch opened, for later releases.
    log: Vec<PosterEpoch>,
    posters: BTreeMap<DayNumber, Poster>,
}

impl VenueOwner {
    /// A new venue with a fresh master secret.
    pub(crate) fn generate(name: &str, address: &str, kind: VenueKind, rng: &mut ChaCha20Rng) -> Self {
        let info = VenueInfo { name: name.to_owned(), address: address.to_owned(), kind };
        VenueOwner { secret: VenueMasterSecret::generate(rng), info, log: Vec::new(), posters: BTreeMap::new() }
    }

    /// The venue's name as its posters show it.
    pub(crate) fn name(&self) -> &str {
        &self.info.name
    }

    /// The venue's public key: its identity on every poster.
    pub(crate) fn public_key(&self) -> VerifyingKey {
        self.secret.public_key()
    }

    /// Opens the epoch of `day` (sealing a fresh authority share to the
    /// authority) and signs that day's printed sheet, live all day.
    pub(crate) fn print_daily_poster(
        &mut self,
        day: DayNumber,
        authority: &AuthorityPublicKey,
        rng: &mut ChaCha20Rng,
    ) -> Result<&Poster, SimError> {
        let epoch = Epoch::new(day.start(), DAILY_EPOCH_MINUTES).during("venue opens a daily epoch")?;
        let opened = self.secret.open_epoch(epoch, authority, rng).during("venue opens a daily epoch")?;
        self.log.push(opened);
        let poster =
            self.secret.poster(&self.info, &opened, epoch.start(), epoch.end()).during("venue signs a poster")?;
        Ok(self.posters.entry(day).or_insert(poster))
    }

    /// The QR text of the sheet printed for `day`.
    pub(crate) fn poster_text(&self, day: DayNumber) -> Option<String> {
        self.posters.get(&day).map(Poster::to_text)
    }

    /// Answers a release request: verifies the authority's signature, then
    /// releases the owner shares of exactly the requested epochs.
    pub(crate) fn answer(
        &self,
        request: &[u8],
        authority: &TrustedKeys,
    ) -> Result<(ReleaseRequest, Vec<u8>), SimError> {
        let request = ReleaseRequest::verify(request, authority).during("owner verifies the release request")?;
        let release = self.secret.release(&request, &self.log).during("owner releases the epoch")?;
        Ok((request, release))
    }
}
