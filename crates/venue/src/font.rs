//! The fonts posters are printed in: installed OpenType or TrueType files
//! (Noto Sans CJK, DejaVu Sans, or any file the owner names), read with
//! `ttf-parser`, subset into the PDF with `subsetter` and rasterized into the
//! PNG with `ab_glyph`.
//!
//! A poster's text is the venue's name and address as its owner typed them,
//! in any script, so the PDF cannot rely on the 14 standard fonts (Latin
//! only) and a PNG needs real outlines. [`Fonts::system`] looks for the
//! files Debian's `fonts-noto-cjk` and `fonts-dejavu-core` install (and the
//! same fonts where other distributions put them); `--font FILE` or
//! `GREENLIGHT_POSTER_FONT` puts other files first. Each character is drawn
//! in the first font that has it; a character no font has is drawn as that
//! font's missing-glyph box and reported by [`Fonts::missing`], never as a
//! silent `?`.
//!
//! In a font collection (`.ttc`, as Noto Sans CJK ships) the face for
//! Simplified Chinese is chosen (`SC` in its family name), since the same
//! code point is drawn differently in Chinese, Japanese and Korean.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files tried by [`Fonts::system`], in order: regular and bold, where
/// Debian, Ubuntu, Fedora and Arch install them.
const SYSTEM_FONTS: [(&str, &str); 5] = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    ),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
];

/// The environment variable naming font files to try first (separated by
/// `:`), as `--font` does.
pub const FONT_ENV: &str = "GREENLIGHT_POSTER_FONT";

/// What to tell an owner whose poster needs a font this machine lacks.
pub const FONT_HINT: &str = "install fonts-noto-cjk (Debian, Ubuntu: apt install fonts-noto-cjk) or pass --font FILE (an .otf, .ttf or .ttc font)";

/// Why a font file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for FontError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot use the font {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for FontError {}

/// One face of a font file, kept in memory.
#[derive(Clone)]
pub struct Face {
    data: Arc<Vec<u8>>,
    index: u32,
    path: PathBuf,
    /// The PostScript name (or the file's stem), for the PDF's font names.
    name: String,
}

impl std::fmt::Debug for Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Face").field("path", &self.path).field("index", &self.index).field("name", &self.name).finish()
    }
}

impl Face {
    /// Reads a font file; in a collection, the Simplified Chinese face, else
    /// the first.
    pub fn load(path: &Path) -> Result<Face, FontError> {
        let fail = |reason: String| FontError { path: path.to_owned(), reason };
        let data = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail("no such file".into()),
            _ => fail(e.to_string()),
        })?;
        let count = ttf_parser::fonts_in_collection(&data).unwrap_or(1);
        let mut chosen = None;
        for index in 0..count {
            let face = ttf_parser::Face::parse(&data, index)
                .map_err(|e| fail(format!("not an OpenType or TrueType font ({e})")))?;
            let family = name(&face, ttf_parser::name_id::TYPOGRAPHIC_FAMILY)
                .or_else(|| name(&face, ttf_parser::name_id::FAMILY))
                .unwrap_or_default();
            if chosen.is_none() || family.split_whitespace().any(|w| w == "SC") {
                let ps = name(&face, ttf_parser::name_id::POST_SCRIPT_NAME);
                chosen = Some((index, ps));
                if family.split_whitespace().any(|w| w == "SC") {
                    break;
                }
            }
        }
        let (index, ps) = chosen.ok_or_else(|| fail("the collection holds no font".into()))?;
        ab_glyph::FontRef::try_from_slice_and_index(&data, index)
            .map_err(|_| fail("its outlines cannot be read".into()))?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("Font").to_owned();
        let name: String =
            ps.unwrap_or(stem).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(60).collect();
        Ok(Face { data: Arc::new(data), index, path: path.to_owned(), name })
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its PostScript name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parsed face (cheap: reads the table directory).
    pub(crate) fn parsed(&self) -> ttf_parser::Face<'_> {
        ttf_parser::Face::parse(&self.data, self.index).expect("checked when loaded")
    }

    /// The face for rasterizing.
    pub(crate) fn outlines(&self) -> ab_glyph::FontRef<'_> {
        ab_glyph::FontRef::try_from_slice_and_index(&self.data, self.index).expect("checked when loaded")
    }

    /// The raw file and the face's index in it, for subsetting.
    pub(crate) fn data(&self) -> (&[u8], u32) {
        (&self.data, self.index)
    }
}

/// A name from the `name` table, in English or the first Unicode record.
fn name(face: &ttf_parser::Face<'_>, id: u16) -> Option<String> {
    let records = face.names();
    let english = records.into_iter().filter(|n| n.name_id == id && n.is_unicode()).find(|n| n.language_id == 0x409);
    english.or_else(|| records.into_iter().find(|n| n.name_id == id && n.is_unicode())).and_then(|n| n.to_string())
}

/// A font family: its regular face and, where installed, its bold one.
#[derive(Debug, Clone)]
pub struct Family {
    /// For most lines.
    pub regular: Face,
    /// For the venue's name and the date; `None` draws bold as a thicker
    /// regular.
    pub bold: Option<Face>,
}

/// The fonts a poster may use, the first that has a character wins.
#[derive(Debug, Clone, Default)]
pub struct Fonts {
    families: Vec<Family>,
}

/// Where a character is drawn from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pick<'a> {
    /// The face.
    pub face: &'a Face,
    /// Its glyph for the character (0, the missing-glyph box, if no font
    /// has one).
    pub glyph: u16,
    /// Bold asked for, but the family has no bold face: thicken the regular.
    pub fake_bold: bool,
    /// Index of the face among all faces, for naming PDF fonts.
    pub slot: usize,
}

impl Fonts {
    /// No fonts: PDFs fall back to Helvetica (Latin text only), PNGs cannot
    /// be drawn.
    pub fn none() -> Fonts {
        Fonts::default()
    }

    /// The given files first (each a regular face; a bold face is not looked
    /// for), then [`FONT_ENV`]'s, then the installed fonts of
    /// [`SYSTEM_FONTS`]. A given file that cannot be read is an error; a
    /// missing system file is skipped.
    pub fn system(given: &[PathBuf]) -> Result<Fonts, FontError> {
        let mut families = Vec::new();
        let env: Vec<PathBuf> = std::env::var_os(FONT_ENV)
            .map(|v| std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect())
            .unwrap_or_default();
        for path in given.iter().chain(&env) {
            families.push(Family { regular: Face::load(path)?, bold: None });
        }
        for (regular, bold) in SYSTEM_FONTS {
            let (regular, bold) = (Path::new(regular), Path::new(bold));
            if !regular.is_file() {
                continue;
            }
            let Ok(regular) = Face::load(regular) else { continue };
            let bold = if bold.is_file() { Face::load(bold).ok() } else { None };
            families.push(Family { regular, bold });
        }
        Ok(Fonts { families })
    }

    /// Exactly these families, in this order.
    pub fn from_families(families: Vec<Family>) -> Fonts {
        Fonts { families }
    }

    /// Whether no font was found.
    pub fn is_empty(&self) -> bool {
        self.families.is_empty()
    }

    /// The families, first choice first.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The characters of `text` that no font has (spaces and controls
    /// aside), each once.
    pub fn missing(&self, text: &str) -> Vec<char> {
        let faces: Vec<ttf_parser::Face<'_>> = self.families.iter().map(|f| f.regular.parsed()).collect();
        let mut out: Vec<char> = Vec::new();
        for c in text.chars() {
            if c.is_whitespace() || c.is_control() || out.contains(&c) {
                continue;
            }
            if !faces.iter().any(|f| f.glyph_index(c).is_some_and(|g| g.0 != 0)) {
                out.push(c);
            }
        }
        out
    }

    /// Every face, regular and bold, in a fixed order (their slots).
    pub(crate) fn faces(&self) -> Vec<&Face> {
        self.families.iter().flat_map(|f| std::iter::once(&f.regular).chain(f.bold.as_ref())).collect()
    }

    /// The face and glyph to draw `c` with; `None` only if there are no
    /// fonts at all.
    pub(crate) fn pick(&self, c: char, bold: bool) -> Option<Pick<'_>> {
        let mut slot = 0;
        let mut first = None;
        for family in &self.families {
            let regular_slot = slot;
            let bold_slot = family.bold.as_ref().map(|_| slot + 1);
            slot += 1 + usize::from(family.bold.is_some());
            let glyph = family.regular.parsed().glyph_index(c).map_or(0, |g| g.0);
            let pick = |glyph: u16| match (bold, &family.bold, bold_slot) {
                (true, Some(face), Some(s)) => {
                    let glyph = face.parsed().glyph_index(c).map_or(glyph, |g| g.0);
                    Pick { face, glyph, fake_bold: false, slot: s }
                }
                _ => Pick { face: &family.regular, glyph, fake_bold: bold, slot: regular_slot },
            };
            if glyph != 0 {
                return Some(pick(glyph));
            }
            if first.is_none() {
                first = Some(pick(0));
            }
        }
        first
    }

    /// Advance width of `c` in em (1.0 = the font size); `None` without
    /// fonts.
    pub(crate) fn advance_em(&self, c: char, bold: bool) -> Option<f32> {
        let pick = self.pick(c, bold)?;
        let face = pick.face.parsed();
        let units = face.glyph_hor_advance(ttf_parser::GlyphId(pick.glyph)).unwrap_or(0);
        Some(f32::from(units) / f32::from(face.units_per_em()))
    }

    /// Width of `text` in em, or `None` without fonts.
    pub(crate) fn width_em(&self, text: &str, bold: bool) -> Option<f32> {
        text.chars().map(|c| self.advance_em(c, bold)).sum()
    }
}
