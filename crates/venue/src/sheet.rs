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
//! Text: a PDF whose text is all Latin-1 uses the standard font Helvetica
//! (nothing embedded); any other PDF embeds a subset of the installed fonts
//! ([`crate::font`]: Noto Sans CJK for Chinese, Japanese and Korean names)
//! with a `ToUnicode` map, so the text can be searched and copied. PNGs are
//! drawn with the same fonts by a real rasterizer (anti-aliased outlines).
//! SVGs name the font families and leave drawing to the viewer. A character
//! that no installed font has is drawn as the font's missing-glyph box, and
//! [`crate::font::Fonts::missing`] lets the tool say so; the QR code always
//! holds the exact poster text.

use crate::font::{FONT_HINT, Fonts, Pick};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};
use std::collections::BTreeMap;
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
    /// The text needs a font and none is installed (the characters that
    /// need one).
    NoFont(String),
    /// A font could not be embedded.
    Font(String),
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
            SheetError::NoFont(chars) if chars.is_empty() => {
                write!(f, "a PNG poster needs an installed font and none was found: {FONT_HINT}")
            }
            SheetError::NoFont(chars) => {
                write!(
                    f,
                    "the poster's text has characters the built-in PDF font cannot show ({chars}) and no installed font was found: {FONT_HINT}"
                )
            }
            SheetError::Font(e) => write!(f, "cannot embed the poster's font: {e}"),
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
/// top), as large as `size` allows within the margins, down to `min_size`;
/// a line that may `wrap` becomes two when it does not fit at `min_size`
/// ([`wrap`]).
#[derive(Clone)]
struct Line {
    text: String,
    baseline: f32,
    size: f32,
    min_size: f32,
    bold: bool,
    wrap: bool,
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
        wrap: false,
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
        Line { wrap: true, ..line(sheet.venue.trim().to_owned(), 128.0, 40.0, 16.0, true) },
        line(place, 158.0, 15.0, 10.0, false),
        line(sheet.date.clone(), 196.0, 22.0, 12.0, true),
        line("Scan with Greenlight to check in.".into(), 676.0, 20.0, 12.0, true),
        line(format!("Valid on {} only.", sheet.date), 702.0, 14.0, 9.0, false),
        line("No personal data leaves your phone.".into(), 722.0, 14.0, 9.0, false),
        line(format!("{} · venue key {}", sheet.valid, sheet.fingerprint), 796.0, 9.0, 7.0, false),
        line("Print at 100% size, black on white. Put up a new sheet every day.".into(), 810.0, 9.0, 7.0, false),
    ]
}

/// `line` as drawn: itself, or, if it may wrap and is wider than the
/// margins even at its smallest size (`measure` gives the width in em), two
/// lines of about half the text each (broken at the space nearest the
/// middle, or in the middle for text without spaces, as Chinese), at 55 %
/// of the size and at least the smallest, 1.15 em apart, the second just
/// below the original baseline. A name of 40 Chinese characters prints whole this
/// way, in two lines of 20.
fn wrap(line: Line, measure: impl Fn(&str, bool) -> f32) -> Vec<Line> {
    let max = PAGE_WIDTH - 2.0 * MARGIN;
    if !line.wrap || measure(&line.text, line.bold) * line.min_size <= max {
        return vec![line];
    }
    let chars: Vec<char> = line.text.chars().collect();
    let mid = chars.len() / 2;
    let split = (0..=chars.len() / 4)
        .flat_map(|d| [mid.checked_sub(d), Some(mid + d)])
        .flatten()
        .find(|&i| chars.get(i) == Some(&' '))
        .unwrap_or(mid);
    let first = chars[..split].iter().collect::<String>().trim_end().to_owned();
    let second = chars[split..].iter().collect::<String>().trim_start().to_owned();
    let size = (line.size * 0.55).max(line.min_size);
    let top = line.baseline - 0.8 * size;
    vec![
        Line { text: first, baseline: top, size, wrap: false, ..line.clone() },
        Line { text: second, baseline: top + 1.15 * size, size, wrap: false, ..line },
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
// Text in the installed fonts (PDF with embedded fonts, PNG).

/// A line fitted in the installed fonts: its size, left edge and glyphs.
struct Laid {
    size: f32,
    x: f32,
    baseline: f32,
    glyphs: Vec<Placed>,
}

/// One glyph of a line: which face, which glyph, where (points from the
/// line's left edge) and for which character.
#[derive(Clone, Copy)]
struct Placed {
    slot: usize,
    glyph: u16,
    fake_bold: bool,
    x: f32,
    c: char,
}

/// The lines of a sheet, wrapped as measured in `fonts`.
fn fonts_lines(sheet: &Sheet, fonts: &Fonts) -> Vec<Line> {
    let measure = |s: &str, bold: bool| fonts.width_em(s, bold).unwrap_or(0.0);
    lines(sheet).into_iter().flat_map(|l| wrap(l, measure)).collect()
}

/// Fits `line` in `fonts` and places its glyphs; `None` without fonts.
fn lay_out(line: &Line, fonts: &Fonts) -> Option<Laid> {
    fonts.width_em(&line.text, line.bold)?;
    let measure = |s: &str| fonts.width_em(s, line.bold).unwrap_or(0.0);
    let (text, size) = fit(line, measure);
    let mut glyphs = Vec::new();
    let mut x = 0.0;
    for c in text.chars() {
        let Pick { glyph, fake_bold, slot, .. } = fonts.pick(c, line.bold)?;
        glyphs.push(Placed { slot, glyph, fake_bold, x, c });
        x += fonts.advance_em(c, line.bold)? * size;
    }
    Some(Laid { size, x: (PAGE_WIDTH - x) / 2.0, baseline: line.baseline, glyphs })
}

/// The characters of `sheets`' text that Helvetica's WinAnsi encoding
/// cannot show.
fn beyond_win_ansi(sheets: &[Sheet]) -> String {
    let mut out = String::new();
    for line in sheets.iter().flat_map(lines) {
        for c in line.text.chars() {
            if win_ansi(c) == b'?' && c != '?' && !out.contains(c) {
                out.push(c);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// PDF.

/// A PDF with one A4 page per sheet. Text all in Latin-1 is set in
/// Helvetica; any other text embeds subsets of `fonts` (an error if there
/// are none).
pub fn render_pdf(sheets: &[Sheet], fonts: &Fonts) -> Result<Vec<u8>, SheetError> {
    if sheets.is_empty() {
        return Err(SheetError::NoSheets);
    }
    let beyond = beyond_win_ansi(sheets);
    let embed = !beyond.is_empty();
    if embed && fonts.is_empty() {
        return Err(SheetError::NoFont(beyond));
    }
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let info = Ref::new(5);
    let first_page = 6;
    let page_ids: Vec<Ref> = (0..sheets.len()).map(|i| Ref::new(first_page + 2 * page_index(i))).collect();
    let mut next_ref = first_page + 2 * page_index(sheets.len());

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(page_index(sheets.len()));
    let title = format!("Greenlight posters: {}", sheets[0].venue);
    pdf.document_info(info).title(TextStr(&title)).creator(TextStr("greenlight venue posters"));

    // Embedded fonts: every page's lines laid out first, so that each face
    // is subset once with every glyph the document uses.
    let mut embedded: BTreeMap<usize, Embedded> = BTreeMap::new();
    let mut pages: Vec<Vec<Laid>> = Vec::new();
    if embed {
        for sheet in sheets {
            let laid: Vec<Laid> = fonts_lines(sheet, fonts)
                .iter()
                .map(|l| lay_out(l, fonts).ok_or_else(|| SheetError::NoFont(beyond.clone())))
                .collect::<Result<_, _>>()?;
            for g in laid.iter().flat_map(|l| &l.glyphs) {
                let used = embedded.entry(g.slot).or_insert_with(|| Embedded {
                    remapper: subsetter::GlyphRemapper::new(),
                    chars: BTreeMap::new(),
                    font: Ref::new(1),
                });
                let new = used.remapper.remap(g.glyph);
                used.chars.entry(new).or_insert(g.c);
            }
            pages.push(laid);
        }
        for used in embedded.values_mut() {
            used.font = Ref::new(next_ref);
            next_ref += 5;
        }
    } else {
        pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
        pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    }

    for (i, (sheet, &page_id)) in sheets.iter().zip(&page_ids).enumerate() {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT)).parent(tree).contents(content_id);
        {
            let mut resources = page.resources();
            let mut names = resources.fonts();
            if embed {
                for (slot, used) in &embedded {
                    names.pair(Name(font_name(*slot).as_bytes()), used.font);
                }
            } else {
                names.pair(Name(b"F1"), regular).pair(Name(b"F2"), bold);
            }
        }
        page.finish();
        let content = if embed { pdf_content_embedded(sheet, &pages[i], &embedded)? } else { pdf_content(sheet)? };
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&content, 9);
        pdf.stream(content_id, &compressed).filter(Filter::FlateDecode);
    }
    // The fonts after the pages, so the pages' content streams come first.
    let faces = fonts.faces();
    for (&slot, used) in &embedded {
        write_font(&mut pdf, used, faces[slot])?;
    }
    Ok(pdf.finish())
}

/// The resource name of the embedded face in `slot`.
fn font_name(slot: usize) -> String {
    format!("G{slot}")
}

/// One face as the document uses it.
struct Embedded {
    /// Old glyph IDs to the subset's.
    remapper: subsetter::GlyphRemapper,
    /// The subset's glyph IDs to the characters they show.
    chars: BTreeMap<u16, char>,
    /// The Type 0 font; its CID font, descriptor and file follow it.
    font: Ref,
}

/// Writes one subset face as a Type 0 font with Identity-H encoding (the
/// content shows 2-byte glyph IDs of the subset) and a ToUnicode map.
fn write_font(pdf: &mut Pdf, used: &Embedded, face: &crate::font::Face) -> Result<(), SheetError> {
    let (data, index) = face.data();
    let subset = subsetter::subset(data, index, &used.remapper)
        .map_err(|e| SheetError::Font(format!("{}: {e}", face.path().display())))?;
    let parsed = face.parsed();
    let per_em = 1000.0 / f32::from(parsed.units_per_em());
    let scale = |v: i16| f32::from(v) * per_em;
    let cff = subset.starts_with(b"OTTO");

    // A subset's name starts with a tag of six capitals (PDF 32000-1
    // §9.6.4), here from the glyphs it holds.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(
        used.remapper.remapped_gids().flat_map(u16::to_be_bytes).collect::<Vec<u8>>(),
    );
    let tag: String = digest.iter().take(6).map(|b| char::from(b'A' + b % 26)).collect();
    let base = format!("{tag}+{}", face.name());

    let font = used.font;
    let (cid, descriptor, file, cmap) =
        (Ref::new(font.get() + 1), Ref::new(font.get() + 2), Ref::new(font.get() + 3), Ref::new(font.get() + 4));
    let system = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

    pdf.type0_font(font)
        .base_font(Name(base.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(if cff { CidFontType::Type0 } else { CidFontType::Type2 })
        .base_font(Name(base.as_bytes()))
        .system_info(system)
        .font_descriptor(descriptor)
        .default_width(1000.0);
    if !cff {
        cid_font.cid_to_gid_map_predefined(Name(b"Identity"));
    }
    let widths: Vec<f32> = used
        .remapper
        .remapped_gids()
        .map(|old| f32::from(parsed.glyph_hor_advance(ttf_parser::GlyphId(old)).unwrap_or(0)) * per_em)
        .collect();
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();

    let bbox = parsed.global_bounding_box();
    let mut desc = pdf.font_descriptor(descriptor);
    desc.name(Name(base.as_bytes()))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
        .italic_angle(0.0)
        .ascent(scale(parsed.ascender()))
        .descent(scale(parsed.descender()))
        .cap_height(scale(parsed.capital_height().unwrap_or(parsed.ascender())))
        .stem_v(80.0);
    if cff {
        desc.font_file3(file);
    } else {
        desc.font_file2(file);
    }
    desc.finish();
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 9);
    let mut stream = pdf.stream(file, &compressed);
    stream.filter(Filter::FlateDecode);
    if cff {
        stream.pair(Name(b"Subtype"), Name(b"OpenType"));
    }
    stream.finish();

    let mut unicode =
        UnicodeCmap::new(Name(b"Custom"), SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"UCS"), supplement: 0 });
    for (&gid, &c) in &used.chars {
        unicode.pair(gid, c);
    }
    let unicode = miniz_oxide::deflate::compress_to_vec_zlib(&unicode.finish(), 9);
    pdf.cmap(cmap, &unicode).filter(Filter::FlateDecode);
    Ok(())
}

/// `i` as a PDF object number (sheets are a few hundred at most).
fn page_index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX / 4)
}

/// The QR code of a page, as filled rectangles.
fn pdf_qr(sheet: &Sheet, content: &mut Content) -> Result<(), SheetError> {
    let matrix = Matrix::new(&sheet.qr_text)?;
    content.set_fill_gray(0.0);
    let module = matrix.module_pt();
    let (left, top) = matrix.origin_pt();
    for (row, col, len) in matrix.runs() {
        let y = PAGE_HEIGHT - top - (row + 1) as f32 * module;
        content.rect(left + col as f32 * module, y, len as f32 * module, module);
    }
    content.fill_nonzero();
    Ok(())
}

/// The drawing operators of one page in Helvetica.
fn pdf_content(sheet: &Sheet) -> Result<Vec<u8>, SheetError> {
    let mut content = Content::new();
    pdf_qr(sheet, &mut content)?;
    let measure = |s: &str, bold: bool| helvetica_width(&s.chars().map(win_ansi).collect::<Vec<u8>>(), 1.0, bold);
    for line in lines(sheet).into_iter().flat_map(|l| wrap(l, measure)) {
        let (bytes, size, x) = fit_helvetica(&line);
        content.begin_text();
        content.set_font(Name(if line.bold { b"F2" } else { b"F1" }), size);
        content.next_line(x, PAGE_HEIGHT - line.baseline);
        content.show(Str(&bytes));
        content.end_text();
    }
    Ok(content.finish().into_vec())
}

/// The drawing operators of one page in the embedded fonts: each run of
/// glyphs from one face shown at its place; bold without a bold face is
/// filled and stroked.
fn pdf_content_embedded(
    sheet: &Sheet,
    laid: &[Laid],
    embedded: &BTreeMap<usize, Embedded>,
) -> Result<Vec<u8>, SheetError> {
    let mut content = Content::new();
    pdf_qr(sheet, &mut content)?;
    content.set_stroke_gray(0.0);
    for line in laid {
        for run in line.glyphs.chunk_by(|a, b| a.slot == b.slot && a.fake_bold == b.fake_bold) {
            let first = run[0];
            let used = &embedded[&first.slot];
            let bytes: Vec<u8> =
                run.iter().flat_map(|g| used.remapper.get(g.glyph).unwrap_or(0).to_be_bytes()).collect();
            content.begin_text();
            content.set_font(Name(font_name(first.slot).as_bytes()), line.size);
            if first.fake_bold {
                content.set_text_rendering_mode(TextRenderingMode::FillStroke);
                content.set_line_width(line.size * 0.03);
            }
            content.next_line(line.x + first.x, PAGE_HEIGHT - line.baseline);
            content.show(Str(&bytes));
            content.end_text();
        }
    }
    Ok(content.finish().into_vec())
}

// ---------------------------------------------------------------------------
// SVG.

/// One sheet as a standalone A4 SVG document. The viewer draws the text
/// (`Noto Sans CJK SC`, Helvetica, Arial or any sans-serif); lines are
/// measured in `fonts` where installed, else as Helvetica.
pub fn render_svg(sheet: &Sheet, fonts: &Fonts) -> Result<String, SheetError> {
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
    svg.push_str(r##"<g fill="#000" font-family="'Noto Sans CJK SC', 'Noto Sans SC', Helvetica, Arial, sans-serif" text-anchor="middle">"##);
    svg.push('\n');
    let measure = |s: &str, bold: bool| {
        fonts
            .width_em(s, bold)
            .unwrap_or_else(|| helvetica_width(&s.chars().map(win_ansi).collect::<Vec<u8>>(), 1.0, bold))
    };
    for line in lines(sheet).into_iter().flat_map(|l| wrap(l, measure)) {
        let (text, size) = fit(&line, |s| measure(s, line.bold));
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

/// One sheet as an A4 PNG at 150 dpi (1240×1754), 8-bit greyscale, its
/// text drawn in `fonts` (an error if there are none).
pub fn render_png(sheet: &Sheet, fonts: &Fonts) -> Result<Vec<u8>, SheetError> {
    let matrix = Matrix::new(&sheet.qr_text)?;
    if fonts.is_empty() {
        return Err(SheetError::NoFont(String::new()));
    }
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

    let faces = fonts.faces();
    for line in fonts_lines(sheet, fonts) {
        let laid = lay_out(&line, fonts).ok_or(SheetError::NoFont(String::new()))?;
        canvas.text(&laid, &faces);
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

    /// Darkens one pixel by `coverage` (0 to 1), clipped to the page.
    // Pixel coordinates fit in i32 and u32 both.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn ink(&mut self, x: i32, y: i32, coverage: f32) {
        if x < 0 || y < 0 || x >= self.width as i32 || y >= self.height as i32 {
            return;
        }
        let i = y as usize * self.width as usize + x as usize;
        let value = (255.0 * (1.0 - coverage.clamp(0.0, 1.0))).round() as u8;
        self.pixels[i] = self.pixels[i].min(value);
    }

    /// Draws a laid-out line with anti-aliased outlines; bold without a bold
    /// face is drawn three times, a fraction of a pixel apart.
    // Pixel coordinates fit in i32.
    #[allow(clippy::cast_possible_truncation)]
    fn text(&mut self, line: &Laid, faces: &[&crate::font::Face]) {
        use ab_glyph::Font as _;
        let em_px = line.size * PX_PER_PT;
        let baseline = line.baseline * PX_PER_PT;
        for g in &line.glyphs {
            let font = faces[g.slot].outlines();
            let Some(per_em) = font.units_per_em() else { continue };
            let scale = ab_glyph::PxScale::from(em_px * font.height_unscaled() / per_em);
            let x = (line.x + g.x) * PX_PER_PT;
            let strokes: &[f32] = if g.fake_bold { &[0.0, 0.04, 0.08] } else { &[0.0] };
            for dx in strokes {
                let glyph = ab_glyph::GlyphId(g.glyph)
                    .with_scale_and_position(scale, ab_glyph::point(x + dx * em_px, baseline));
                if let Some(outline) = font.outline_glyph(glyph) {
                    let bounds = outline.px_bounds();
                    let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                    outline.draw(|gx, gy, c| {
                        self.ink(left + gx as i32, top + gy as i32, c);
                    });
                }
            }
        }
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
        let line =
            |text: &str| Line { text: text.into(), baseline: 0.0, size: 40.0, min_size: 16.0, bold: true, wrap: false };
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
