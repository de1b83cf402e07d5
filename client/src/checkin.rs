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
        return read_poster_image(&bytes);
    }
    if !input.trim_start().starts_with(POSTER_PREFIX) && crate::settings::looks_like_path(input) {
        return Err(Unreadable(format!("{input}: no such file")));
    }
    Ok(input.trim().to_owned())
}

/// The poster text in a photo or screenshot (PNG or JPEG) of a poster.
///
/// Phones photograph posters small, at an angle, out of focus and in dim
/// light. The ZXing port `rxing` locates the code by its finder patterns
/// with a locally adaptive threshold and samples it through a perspective
/// transform; a second pass over a pyramid of downscaled (and, for small
/// images, upscaled) copies, each also morphologically closed, catches
/// codes the full-size pass misses, and a QR code that is not a poster
/// (a menu's, say) does not hide the poster beside it. `rqrr` gets a last
/// look at what both miss.
pub fn read_poster_image(bytes: &[u8]) -> Result<String, Unreadable> {
    let image =
        image::load_from_memory(bytes).map_err(|e| Unreadable(format!("not a PNG or JPEG image ({e})")))?.to_luma8();
    let (width, height) = image.dimensions();
    let pixels = image.into_raw();
    zxing_poster(&pixels, width, height)
        .or_else(|| rqrr_poster(&pixels, width, height))
        .ok_or_else(|| Unreadable("no Greenlight QR code found in the image".into()))
}

/// The poster found by `rxing`, if any.
fn zxing_poster(pixels: &[u8], width: u32, height: u32) -> Option<String> {
    use rxing::common::HybridBinarizer;
    use rxing::multi::{MultipleBarcodeReader, qrcode::QRCodeMultiReader};
    use rxing::{
        BarcodeFormat, BinaryBitmap, DecodeHints, FilteredImageReader, Luma8Source, MultiFormatReader, Reader,
    };

    let hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some([BarcodeFormat::QR_CODE].into_iter().collect()),
        ..DecodeHints::default()
    };
    let poster = |text: &str| text.starts_with(POSTER_PREFIX).then(|| text.to_owned());
    let source = || Luma8Source::new_with_slice(pixels, width, height).ok();

    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source()?));
    if let Ok(found) = MultiFormatReader::default().decode_with_hints(&mut bitmap, &hints)
        && let Some(text) = poster(found.getText())
    {
        return Some(text);
    }
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source()?));
    if let Ok(found) = FilteredImageReader::new(MultiFormatReader::default()).decode_with_hints(&mut bitmap, &hints)
        && let Some(text) = poster(found.getText())
    {
        return Some(text);
    }
    // Several codes in one photo: the poster may not be the first found.
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source()?));
    let all = QRCodeMultiReader::new().decode_multiple_with_hints(&mut bitmap, &hints).ok()?;
    all.iter().find_map(|found| poster(found.getText()))
}

/// The poster found by `rqrr`, if any.
fn rqrr_poster(pixels: &[u8], width: u32, height: u32) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, |x, y| {
        pixels[y * width as usize + x]
    });
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text).filter(|text| text.starts_with(POSTER_PREFIX)))
}
