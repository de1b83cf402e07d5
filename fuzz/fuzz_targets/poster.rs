//! Posters, in bytes and in their `GL1:` text form (spec §7.5), and the
//! poster epoch they carry.
#![no_main]
use greenlight_protocol::time::UnixTime;
use greenlight_protocol::venue::{Poster, PosterEpoch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(poster) = Poster::from_bytes(data) {
        assert_eq!(poster.to_bytes(), data);
        let _ = poster.check_live(UnixTime(u64::MAX), u64::MAX);
        let _ = poster.check_live(poster.live_from(), 0);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(poster) = Poster::from_text(text)
    {
        assert_eq!(Poster::from_text(&poster.to_text()).as_ref(), Ok(&poster));
    }
    if let Ok(epoch) = PosterEpoch::from_bytes(data) {
        assert_eq!(epoch.to_bytes(), data);
    }
});
