//! Printable venue posters: one A4 sheet per day with the venue's name, the
//! date, a large QR code of the signed poster text and short instructions for
//! visitors, as a PDF (one page per sheet), a standalone SVG or a 150 dpi PNG.
//!
//! All three formats share one layout, measured in PostScript points from
//! the top left of an A4 page (595 × 842 pt). Sheets are black on white, the
//! QR code has its four-module quiet zone and error-correction level Q, and
//! its symbol is about 13 cm wide: a phone reads it from arm's length even
//! when the sheet is creased or partly covered.
//!
//! Text uses the PDF standard font Helvetica (no font is embedded), SVG's
//! `Helvetica, Arial, sans-serif`, and in PNGs the public-domain 8×8 bitmap
//! glyphs of the `font8x8` crate scaled up. Characters a format cannot show
//! (e.g. CJK in Helvetica's WinAnsi encoding) are printed as `?`; the QR code
//! always holds the exact poster text.

use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write as _;
use std::path::Path;

/// One printed sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    /// The venue's name.
    pub venue: String,
    /// Its address or room (may be empty).
    pub address: String,
    /// What kind of place it is, as a human word (e.g. "restaurant").
    pub kind: String,
    /// The day the sheet is valid, e.g. "Monday 23 November 2026".
    pub date: String,
    /// Its validity window, e.g. "Valid 00:00–24:00 UTC".
    pub valid: String,
    /// The venue key's fingerprint (16 hex digits).
    pub fingerprint: String,
    /// The poster text the QR code holds (`GL1:…`).
    pub qr_text: String,
}

/// The file format of a poster sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    /// A PDF with one A4 page per sheet.
    Pdf,
    /// One standalone A4 SVG document.
    Svg,
    /// One A4 PNG at 150 dpi.
    Png,
}

impl SheetFormat {
    /// From the `--out` file's extension (pdf/svg/png, case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self, SheetError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "pdf" => Ok(SheetFormat::Pdf),
            "svg" => Ok(SheetFormat::Svg),
            "png" => Ok(SheetFormat::Png),
            _ => Err(SheetError::UnknownFormat(path.display().to_string())),
        }
    }
}

/// Why sheets could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetError {
    /// The output file name does not end in `.pdf`, `.svg` or `.png`.
    UnknownFormat(String),
    /// No sheet was given.
    NoSheets,
    /// The poster text does not fit in a QR code.
    QrCode(String),
    /// The PNG encoder failed.
    Png(String),
}

impl std::fmt::Display for SheetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SheetError::UnknownFormat(path) => {
                write!(f, "cannot tell the poster format of {path:?}: the file name must end in .pdf, .svg or .png")
            }
            SheetError::NoSheets => f.write_str("there are no poster sheets to print"),
            SheetError::QrCode(e) => write!(f, "the poster text does not fit in a QR code: {e}"),
            SheetError::Png(e) => write!(f, "cannot encode the poster as PNG: {e}"),
        }
    }
}

impl std::error::Error for SheetError {}

/// A4 in PostScript points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
/// Left and right margin of every text line.
const MARGIN: f32 = 48.0;
/// Width and height of the QR code including its quiet zone (15 cm).
const QR_BOX: f32 = 425.0;
/// Top edge of the QR code's quiet zone.
const QR_TOP: f32 = 214.0;
/// Quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4).
const QUIET_MODULES: u32 = 4;
/// PNG resolution: A4 at 150 dpi is 1240 × 1754 pixels.
const PNG_DPI: f32 = 150.0;
/// PNG width and height in pixels.
const PNG_WIDTH: u32 = 1240;
const PNG_HEIGHT: u32 = 1754;

/// One line of text: centred on the page at `baseline` (points from the
/// top), as large as `size` allows within the margins, down to `min_size`.
struct Line {
    text: String,
    baseline: f32,
    size: f32,
    min_size: f32,
    bold: bool,
}

/// The text of a sheet, top to bottom; the QR code sits between the date and
/// the instructions.
fn lines(sheet: &Sheet) -> Vec<Line> {
    let line = |text: String, baseline: f32, size: f32, min_size: f32, bold: bool| Line {
        text,
        baseline,
        size,
        min_size,
        bold,
    };
    let mut kind: Vec<char> = sheet.kind.trim().chars().collect();
    if let Some(first) = kind.first_mut() {
        *first = first.to_uppercase().next().unwrap_or(*first);
    }
    let kind: String = kind.into_iter().collect();
    let place = match (kind.is_empty(), sheet.address.trim().is_empty()) {
        (false, false) => format!("{kind} · {}", sheet.address.trim()),
        (false, true) => kind,
        (true, _) => sheet.address.trim().to_owned(),
    };
    vec![
        line("Greenlight venue check-in".into(), 78.0, 13.0, 9.0, false),
        line(sheet.venue.trim().to_owned(), 128.0, 40.0, 16.0, true),
        line(place, 158.0, 15.0, 10.0, false),
        line(sheet.date.clone(), 196.0, 22.0, 12.0, true),
        line("Scan with Greenlight to check in.".into(), 676.0, 20.0, 12.0, true),
        line(format!("Valid on {} only.", sheet.date), 702.0, 14.0, 9.0, false),
        line("No personal data leaves your phone.".into(), 722.0, 14.0, 9.0, false),
        line(format!("{} · venue key {}", sheet.valid, sheet.fingerprint), 796.0, 9.0, 7.0, false),
        line("Print at 100% size, black on white. Put up a new sheet every day.".into(), 810.0, 9.0, 7.0, false),
    ]
}

/// The QR code of a sheet: its modules, dark or light, row by row.
struct Matrix {
    width: usize,
    dark: Vec<bool>,
}

impl Matrix {
    fn new(text: &str) -> Result<Self, SheetError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
            .map_err(|e| SheetError::QrCode(format!("{e} ({} bytes)", text.len())))?;
        Ok(Matrix { width: code.width(), dark: code.to_colors().into_iter().map(|c| c == Color::Dark).collect() })
    }

    /// Runs of dark modules as (row, first column, length): one rectangle
    /// each, so a page draws a few hundred rectangles instead of thousands.
    fn runs(&self) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        for (y, row) in self.dark.chunks(self.width).enumerate() {
            let mut x = 0;
            for run in row.chunk_by(|a, b| a == b) {
                if run[0] {
                    out.push((y, x, run.len()));
                }
                x += run.len();
            }
        }
        out
    }

    /// Module size in points so that symbol and quiet zone fill `QR_BOX`.
    fn module_pt(&self) -> f32 {
        QR_BOX / (self.width as f32 + 2.0 * QUIET_MODULES as f32)
    }

    /// Top-left corner of the symbol (inside the quiet zone), in points.
    fn origin_pt(&self) -> (f32, f32) {
        let quiet = QUIET_MODULES as f32 * self.module_pt();
        ((PAGE_WIDTH - QR_BOX) / 2.0 + quiet, QR_TOP + quiet)
    }
}

// ---------------------------------------------------------------------------
// Text measurement and encoding for Helvetica (PDF, SVG).

/// Advance widths (1/1000 em) of Helvetica for ASCII 32..=126, from Adobe's
/// Core 14 AFM files; index 7 (') is `quotesingle` and 64 (`) is `grave`, as
/// in WinAnsiEncoding.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556,
    556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334,
    260, 334, 584,
];

/// The same for Helvetica-Bold.
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833,
    722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611,
    556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389,
    280, 389, 584,
];

/// A character in WinAnsiEncoding (PDF 32000-1 Annex D), or `?`.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).unwrap_or(b'?'),
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => b'?',
    }
}

/// Width in points of WinAnsi `bytes` in Helvetica at `size`. Characters
/// outside ASCII are measured as a wide lower-case letter: close enough to
/// centre a line, and never too narrow to fit it.
fn helvetica_width(bytes: &[u8], size: f32, bold: bool) -> f32 {
    let table = if bold { &HELVETICA_BOLD } else { &HELVETICA };
    let units: u32 = bytes
        .iter()
        .map(|&b| match b {
            0x20..=0x7e => u32::from(table[usize::from(b - 0x20)]),
            0x85 | 0x97 | 0x89 | 0x8c | 0x99 | 0xc6 => 1000,
            0xc0..=0xdf => 778,
            _ => 611,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Fits `line` between the margins: the largest size down to `min_size`,
/// then cut with an ellipsis. Returns the text and its size.
fn fit(line: &Line, measure: impl Fn(&str) -> f32) -> (String, f32) {
    let max = PAGE_WIDTH - 2.0 * MARGIN;
    let width = measure(&line.text) * line.size;
    if width <= max {
        return (line.text.clone(), line.size);
    }
    let size = (line.size * max / width).max(line.min_size);
    if measure(&line.text) * size <= max {
        return (line.text.clone(), size);
    }
    let mut chars: Vec<char> = line.text.chars().collect();
    loop {
        chars.pop();
        let candidate = format!("{}…", chars.iter().collect::<String>().trim_end());
        if chars.is_empty() || measure(&candidate) * size <= max {
            return (candidate, size);
        }
    }
}

/// A line fitted for Helvetica: WinAnsi bytes, size, and left edge.
fn fit_helvetica(line: &Line) -> (Vec<u8>, f32, f32) {
    let encode = |s: &str| s.chars().map(win_ansi).collect::<Vec<u8>>();
    let measure = |s: &str| helvetica_width(&encode(s), 1.0, line.bold);
    let (text, size) = fit(line, measure);
    let bytes = encode(&text);
    let x = (PAGE_WIDTH - helvetica_width(&bytes, size, line.bold)) / 2.0;
    (bytes, size, x)
}

// ---------------------------------------------------------------------------
// PDF.

/// A PDF with one A4 page per sheet.
pub fn render_pdf(sheets: &[Sheet]) -> Result<Vec<u8>, SheetError> {
    if sheets.is_empty() {
        return Err(SheetError::NoSheets);
    }
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..sheets.len()).map(|i| Ref::new(first_page + 2 * page_index(i))).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_index(sheets.len()));
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    let title = format!("Greenlight posters: {}", sheets[0].venue);
    pdf.document_info(info).title(TextStr(&title)).creator(TextStr("greenlight venue posters"));

    for (sheet, &page_id) in sheets.iter().zip(&page_ids) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(tree).contents(content_id);
        page.resources().fonts().pair(Name(b"F1"), regular).pair(Name(b"F2"), bold);
        page.finish();
        let content = pdf_content(sheet)?;
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&content, 9);
        pdf.stream(content_id, &compressed).filter(Filter::FlateDecode);
    }
    Ok(pdf.finish())
}

/// `i` as a PDF object number (sheets are a few hundred at most).
fn page_index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX / 4)
}

/// The drawing operators of one page.
fn pdf_content(sheet: &Sheet) -> Result<Vec<u8>, SheetError> {
    let matrix = Matrix::new(&sheet.qr_text)?;
    let mut content = Content::new();
    content.set_fill_gray(0.0);
    let module = matrix.module_pt();
    let (left, top) = matrix.origin_pt();
    for (row, col, len) in matrix.runs() {
        let y = PAGE_HEIGHT - top - (row + 1) as f32 * module;
        content.rect(left + col as f32 * module, y, len as f32 * module, module);
    }
    content.fill_nonzero();
    for line in lines(sheet) {
        let (bytes, size, x) = fit_helvetica(&line);
        content.begin_text();
        content.set_font(Name(if line.bold { b"F2" } else { b"F1" }), size);
        content.next_line(x, PAGE_HEIGHT - line.baseline);
        content.show(Str(&bytes));
        content.end_text();
    }
    Ok(content.finish().into_vec())
}

// ---------------------------------------------------------------------------
// SVG.

/// One sheet as a standalone A4 SVG document.
pub fn render_svg(sheet: &Sheet) -> Result<String, SheetError> {
    let matrix = Matrix::new(&sheet.qr_text)?;
    let mut svg = String::with_capacity(64 * 1024);
    // `write!` to a String cannot fail.
    let _ = write!(
        svg,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" viewBox="0 0 {w} {h}">"#,
            "\n<title>Greenlight poster: {title}</title>\n",
            r##"<rect width="{w}" height="{h}" fill="#fff"/>"##,
            "\n"
        ),
        w = PAGE_WIDTH,
        h = PAGE_HEIGHT,
        title = xml_escape(&format!("{}, {}", sheet.venue, sheet.date)),
    );
    let module = matrix.module_pt();
    let (left, top) = matrix.origin_pt();
    svg.push_str(r##"<g id="qr" fill="#000" shape-rendering="crispEdges">"##);
    svg.push('\n');
    for (row, col, len) in matrix.runs() {
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}"/>"#,
            num(left + col as f32 * module),
            num(top + row as f32 * module),
            num(len as f32 * module),
            num(module),
        );
    }
    svg.push_str("</g>\n");
    svg.push_str(r##"<g fill="#000" font-family="Helvetica, Arial, sans-serif" text-anchor="middle">"##);
    svg.push('\n');
    for line in lines(sheet) {
        let measure = |s: &str| helvetica_width(&s.chars().map(win_ansi).collect::<Vec<u8>>(), 1.0, line.bold);
        let (text, size) = fit(&line, measure);
        let weight = if line.bold { r#" font-weight="bold""# } else { "" };
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="{}"{weight}>{}</text>"#,
            num(PAGE_WIDTH / 2.0),
            num(line.baseline),
            num(size),
            xml_escape(&text),
        );
    }
    svg.push_str("</g>\n</svg>\n");
    Ok(svg)
}

/// A coordinate with at most three decimals and no trailing zeros.
fn num(v: f32) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Escapes text for XML character data and attribute values.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// PNG.

/// Pixels per point at 150 dpi.
const PX_PER_PT: f32 = PNG_DPI / 72.0;

/// One sheet as an A4 PNG at 150 dpi (1240×1754), 8-bit greyscale.
pub fn render_png(sheet: &Sheet) -> Result<Vec<u8>, SheetError> {
    let matrix = Matrix::new(&sheet.qr_text)?;
    let mut canvas = Canvas::new(PNG_WIDTH, PNG_HEIGHT);

    // Whole pixels per module keep every module edge sharp.
    let total = px_count(matrix.width) + 2 * QUIET_MODULES;
    let module = (px(QR_BOX) / total).max(1);
    let left = PNG_WIDTH.saturating_sub(module * total) / 2 + module * QUIET_MODULES;
    let top = px(QR_TOP) + module * QUIET_MODULES;
    for (row, col, len) in matrix.runs() {
        let (row, col, len) = (px_count(row), px_count(col), px_count(len));
        canvas.fill(left + col * module, top + row * module, len * module, module);
    }

    for line in lines(sheet) {
        canvas.text(&line);
    }

    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(encoder, &canvas.pixels, PNG_WIDTH, PNG_HEIGHT, image::ExtendedColorType::L8)
        .map_err(|e| SheetError::Png(e.to_string()))?;
    Ok(out)
}

/// Points to whole pixels.
// Page coordinates are small and non-negative: nothing to truncate.
#[allow(clippy::cast_possible_truncation)]
fn px(pt: f32) -> u32 {
    (pt * PX_PER_PT).round() as u32
}

/// A module count as a pixel factor (QR codes are at most 177 modules wide).
fn px_count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A white greyscale page to draw black on.
struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32) -> Self {
        Canvas { width, height, pixels: vec![255; (width as usize) * (height as usize)] }
    }

    /// Fills a rectangle with black, clipped to the page.
    fn fill(&mut self, x: u32, y: u32, w: u32, h: u32) {
        let (x_end, y_end) = ((x + w).min(self.width), (y + h).min(self.height));
        for row in y.min(y_end)..y_end {
            let start = (row * self.width) as usize;
            self.pixels[start + x.min(x_end) as usize..start + x_end as usize].fill(0);
        }
    }

    /// Draws a line of text centred with 8×8 glyphs, each glyph pixel a
    /// square of whole pixels; bold text is struck twice, slightly offset.
    fn text(&mut self, line: &Line) {
        // A glyph's capitals are 7 rows high; match Helvetica's cap height
        // (0.72 em) at the line's size.
        let scale_for = |size: f32| px(size * 0.72 / 7.0).max(1);
        let max_px = PNG_WIDTH - 2 * px(MARGIN);
        // A line at scale k is 8·k pixels wide per character.
        let fits = |scale: u32, s: &str| px_count(s.chars().count()) * 8 * scale <= max_px;
        let mut scale = scale_for(line.size);
        let min_scale = scale_for(line.min_size);
        while scale > min_scale && !fits(scale, &line.text) {
            scale -= 1;
        }
        let mut text = line.text.clone();
        if !fits(scale, &text) {
            let keep = (max_px / (8 * scale)).saturating_sub(3) as usize;
            text = format!("{}...", text.chars().take(keep).collect::<String>().trim_end());
        }
        let glyphs: Vec<[u8; 8]> = text.chars().map(glyph).collect();
        let width = px_count(glyphs.len()) * 8 * scale;
        let mut x = (self.width.saturating_sub(width)) / 2;
        let top = px(line.baseline).saturating_sub(7 * scale);
        let strike = if line.bold { (scale / 3).max(1) } else { 0 };
        for g in glyphs {
            for (gy, bits) in (0u32..).zip(g) {
                for gx in 0..8u32 {
                    if bits & (1 << gx) != 0 {
                        self.fill(x + gx * scale, top + gy * scale, scale + strike, scale);
                    }
                }
            }
            x += 8 * scale;
        }
    }
}

/// The 8×8 bitmap of `c` (bit 0 of each row byte is the leftmost pixel).
fn glyph(c: char) -> [u8; 8] {
    let c = match c {
        '‘' | '’' | '‚' => '\'',
        '“' | '”' | '„' => '"',
        '–' | '—' | '−' => '-',
        '…' => '.',
        c => c,
    };
    let code = u32::from(c);
    match code {
        0x20..=0x7e => BASIC_LEGACY[code as usize],
        0xa0..=0xff => LATIN_LEGACY[(code - 0xa0) as usize],
        _ => BASIC_LEGACY[usize::from(b'?')],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_ansi_keeps_latin_1_and_replaces_the_rest() {
        let bytes: Vec<u8> = "Café – 東京".chars().map(win_ansi).collect();
        assert_eq!(bytes, b"Caf\xe9 \x96 ??");
    }

    #[test]
    fn long_names_shrink_then_get_an_ellipsis() {
        let line = |text: &str| Line { text: text.into(), baseline: 0.0, size: 40.0, min_size: 16.0, bold: true };
        let (bytes, size, x) = fit_helvetica(&line("Chez Marie"));
        assert_eq!((bytes.as_slice(), size), (&b"Chez Marie"[..], 40.0));
        assert!(x > MARGIN);
        let (bytes, size, x) = fit_helvetica(&line(&"W".repeat(40)));
        assert!((16.0..40.0).contains(&size), "{size}");
        assert!(x >= MARGIN - 0.5, "{x}");
        assert_eq!(bytes.last(), Some(&0x85), "ellipsis in WinAnsi");
        assert!(helvetica_width(&bytes, size, true) <= PAGE_WIDTH - 2.0 * MARGIN);
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(SheetFormat::from_path(Path::new("a/posters.PDF")), Ok(SheetFormat::Pdf));
        assert_eq!(SheetFormat::from_path(Path::new("x.svg")), Ok(SheetFormat::Svg));
        assert_eq!(SheetFormat::from_path(Path::new("x.Png")), Ok(SheetFormat::Png));
        let err = SheetFormat::from_path(Path::new("posters.jpg")).expect_err("jpg is not offered");
        assert!(err.to_string().contains(".pdf, .svg or .png"), "{err}");
        assert!(SheetFormat::from_path(Path::new("posters")).is_err());
    }
}
