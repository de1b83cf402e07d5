//! A seized phone (spec §15.5): someone copies a phone's whole data
//! directory, device key included. With the visit diary off, it must not
//! say where its owner was — not in the files' bytes, and not through the
//! store opened with the device key once the check-in day key is erased.

use greenlight_client::os_rng;
use greenlight_phone::Store as _;
use greenlight_phone::store::CheckInDayState;
use greenlight_protocol::time::{DayNumber, UnixTime};
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use rand_core::SeedableRng;
use std::path::{Path, PathBuf};

/// Monday 2026-05-11, 00:00 UTC.
const MONDAY: u64 = 20_584 * 86_400;
const HOUR: u64 = 3600;

struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("greenlight-seized-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Monday's poster of a café.
fn cafe_poster() -> Poster {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(15);
    let authority = AuthorityShareKey::generate(&mut rng);
    let master = VenueMasterSecret::generate(&mut rng);
    let info = VenueInfo { name: "Café Aurora".into(), address: "Main St 5".into(), kind: VenueKind::Restaurant };
    let epoch = Epoch::new(UnixTime(MONDAY), 1440).expect("epoch");
    let opened = master.open_epoch(epoch, &authority.public_key(), &mut rng).expect("open");
    master.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster")
}

/// Every byte of every file in `dir` (the database, its WAL and shared
/// memory), the device key included: what a copy of the storage holds.
fn every_byte(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).expect("data directory") {
        all.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    all
}

/// What of `poster` the bytes show in the clear.
fn venue_traces(bytes: &[u8], poster: &Poster) -> Vec<&'static str> {
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    [
        ("the venue's name", poster.info().name.as_bytes()),
        ("the venue's address", poster.info().address.as_bytes()),
        ("the venue's key", poster.venue_key().as_bytes().as_slice()),
        ("the poster's trace key", poster.poster_epoch().trace_key.as_slice()),
    ]
    .into_iter()
    .filter(|(_, needle)| contains(needle))
    .map(|(what, _)| what)
    .collect()
}

async fn with_the_diary_off(label: &str, check_out: bool) {
    let dir = Dir::new(label);
    let poster = cafe_poster();
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    phone.set_diary(false).expect("diary off");
    phone.check_in(&poster, UnixTime(MONDAY + 12 * HOUR), &mut os_rng()).expect("check in");
    if check_out {
        phone.check_out(UnixTime(MONDAY + 13 * HOUR), &mut os_rng()).expect("check out");
    }
    drop(phone);
    let found = venue_traces(&every_byte(&dir.0), &poster);
    assert!(found.is_empty(), "on the day of the visit, the phone's files hold {found:?} in the clear");

    // Wednesday: Monday's check-in day key is erased, as every sync does.
    let mut phone = greenlight_client::open(&dir.0).expect("store");
    phone.housekeeping(UnixTime(MONDAY + 2 * 86_400 + HOUR)).expect("erase");
    assert!(
        matches!(phone.store().checkin_day_key(DayNumber(20_584)).expect("day key"), CheckInDayState::Erased),
        "Monday's key is gone"
    );
    assert!(phone.visits().expect("diary").is_empty(), "the diary is off");
    assert_eq!(phone.store().checkins().expect("records").len(), 1, "the sealed record stays, for alerts");
    drop(phone);
    let found = venue_traces(&every_byte(&dir.0), &poster);
    assert!(found.is_empty(), "two days later, the phone's files hold {found:?} in the clear");
}

#[tokio::test]
async fn with_the_diary_off_a_seized_phone_does_not_say_where_its_owner_is() {
    with_the_diary_off("in", false).await;
}

#[tokio::test]
async fn with_the_diary_off_a_seized_phone_does_not_say_where_its_owner_was() {
    with_the_diary_off("out", true).await;
}
