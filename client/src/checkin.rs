//! Reading a poster on Linux: its QR text given as text, as a text file, or
//! as a photo or screenshot of the QR code. Checking it and checking in
//! are the core's ([`greenlight_phone::checkin`]).

use greenlight_protocol::venue::POSTER_PREFIX;
use std::path::Path;

pub use greenlight_phone::checkin::{CheckInError, CheckedIn, POSTER_TOLERANCE_SECS, verify_poster};

/// No poster could be read from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read a poster: {}", self.0)
    }
}

impl std::error::Error for Unreadable {}

/// The QR text of a poster given as text, as a text file, or as an image
/// (PNG or JPEG) of the QR code. A path to a file that does not exist is
/// said to be one, not read as a forged poster.
pub fn read_poster_text(input: &str) -> Result<String, Unreadable> {
    let path = Path::new(input);
    if !input.starts_with(POSTER_PREFIX) && path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| Unreadable(format!("{}: {e}", path.display())))?;
        if let Ok(text) = std::str::from_utf8(&bytes)
            && text.trim_start().starts_with(POSTER_PREFIX)
        {
            return Ok(text.trim().to_owned());
        }
        return decode_qr(&bytes);
    }
    if !input.trim_start().starts_with(POSTER_PREFIX) && crate::settings::looks_like_path(input) {
        return Err(Unreadable(format!("{input}: no such file")));
    }
    Ok(input.trim().to_owned())
}

fn decode_qr(bytes: &[u8]) -> Result<String, Unreadable> {
    let image =
        image::load_from_memory(bytes).map_err(|e| Unreadable(format!("not a PNG or JPEG image ({e})")))?.to_luma8();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(image.width() as usize, image.height() as usize, |x, y| {
            image.get_pixel(u32::try_from(x).unwrap_or(0), u32::try_from(y).unwrap_or(0)).0[0]
        });
    for grid in prepared.detect_grids() {
        if let Ok((_, text)) = grid.decode()
            && text.starts_with(POSTER_PREFIX)
        {
            return Ok(text);
        }
    }
    Err(Unreadable("no Greenlight QR code found in the image".into()))
}
