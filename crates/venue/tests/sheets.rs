//! Printed venue posters as the venue owner prints them and a visitor's
//! phone reads them: every format (PDF, SVG, PNG) is A4, shows the venue and
//! the date, and its QR code scans back to exactly the signed poster text.
//!
//! The QR codes are read back the way a camera would see them: the PNG as
//! rendered; the SVG's and the PDF's vector rectangles drawn into a bitmap;
//! and, where poppler's `pdftoppm` is installed (CI installs it), the PDF
//! rendered by a real PDF renderer. Text is printed in the installed fonts
//! (CI installs Debian's `fonts-noto-cjk`): Chinese names are checked in
//! the PDF's text layer (poppler's `pdftotext`), in its embedded fonts
//! (`pdffonts`) and by comparing the PNG's name, drawn by our rasterizer,
//! with the same name drawn by poppler from the PDF.
// Pixel and module arithmetic on images of a few thousand pixels.
#![allow(clippy::cast_possible_truncation)]

use greenlight_protocol::time::DayNumber;
use greenlight_protocol::venue::{AuthorityShareKey, Epoch, Poster, VenueInfo, VenueKind, VenueMasterSecret};
use greenlight_venue::font::Fonts;
use greenlight_venue::sheet::{Sheet, SheetError, SheetFormat, render_pdf, render_png, render_svg};
use greenlight_venue::{fingerprint, long_date};
use rand_core::SeedableRng;
use std::path::{Path, PathBuf};
use std::process::Command;

/// 23 November 2026.
const FIRST_DAY: DayNumber = DayNumber(20_780);

/// The sheets of `days` consecutive days of a real venue, with the posters
/// whose text their QR codes must hold.
fn venue_sheets(name: &str, address: &str, days: u32) -> Vec<(Sheet, Poster)> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let authority = AuthorityShareKey::generate(&mut rng).public_key();
    let venue = VenueMasterSecret::generate(&mut rng);
    let info = VenueInfo { name: name.into(), address: address.into(), kind: VenueKind::Restaurant };
    (0..days)
        .map(|i| {
            let day = FIRST_DAY.plus(i);
            let epoch = Epoch::new(day.start(), 24 * 60).expect("a day epoch");
            let opened = venue.open_epoch(epoch, &authority, &mut rng).expect("epoch opens");
            let poster = venue.poster(&info, &opened, epoch.start(), epoch.end()).expect("poster signs");
            let sheet = Sheet {
                venue: name.into(),
                address: address.into(),
                kind: VenueKind::Restaurant.as_str().into(),
                date: long_date(day),
                valid: "Valid 00:00–24:00 UTC".into(),
                fingerprint: fingerprint(&venue.public_key()),
                qr_text: poster.to_text(),
            };
            (sheet, poster)
        })
        .collect()
}

/// The installed fonts; CI installs Noto Sans CJK, so a machine without
/// any font fails here with what to install.
fn fonts() -> Fonts {
    let fonts = Fonts::system(&[]).expect("the fonts load");
    assert!(!fonts.is_empty(), "no font installed: apt-get install fonts-noto-cjk (tests/run.sh does)");
    fonts
}

/// Whether Noto Sans CJK is among the installed fonts (CI installs it; the
/// Chinese checks need it).
fn cjk_fonts() -> Option<Fonts> {
    let fonts = fonts();
    if fonts.missing("朝阳区人民医院门诊部").is_empty() {
        return Some(fonts);
    }
    assert!(std::env::var_os("CI").is_none(), "fonts-noto-cjk is missing on CI: tests/run.sh must install it");
    eprintln!("\n*** SKIPPED: no CJK font installed (apt-get install fonts-noto-cjk) ***\n");
    None
}

/// Decodes every QR code in a greyscale image.
fn read_qr_codes(width: usize, height: usize, pixel: impl FnMut(usize, usize) -> u8) -> Vec<(String, f64)> {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| {
            let [a, b, ..] = grid.bounds;
            let side = f64::from(a.x - b.x).hypot(f64::from(a.y - b.y));
            grid.decode().ok().map(|(_, text)| (text, side))
        })
        .collect()
}

/// Draws dark rectangles `(x, y from the top, width, height)` of a QR code
/// into a bitmap (4 pixels per module, 4-module quiet zone) and decodes it.
fn read_rectangles(rects: &[(f32, f32, f32, f32)]) -> String {
    assert!(rects.len() > 100, "a QR code of a poster has hundreds of dark runs, not {}", rects.len());
    let module = rects.iter().map(|r| r.3).fold(f32::MAX, f32::min);
    let left = rects.iter().map(|r| r.0).fold(f32::MAX, f32::min);
    let top = rects.iter().map(|r| r.1).fold(f32::MAX, f32::min);
    let right = rects.iter().map(|r| r.0 + r.2).fold(f32::MIN, f32::max);
    let modules = ((right - left) / module).round() as usize;
    let side = (modules + 8) * 4;
    let mut bitmap = vec![255u8; side * side];
    for &(x, y, w, h) in rects {
        let cell = |v: f32| (v / module).round() as usize;
        let (col, row, cols, rows) = (cell(x - left), cell(y - top), cell(w), cell(h));
        for py in (row + 4) * 4..(row + rows + 4) * 4 {
            for px in (col + 4) * 4..(col + cols + 4) * 4 {
                bitmap[py * side + px] = 0;
            }
        }
    }
    let codes = read_qr_codes(side, side, |x, y| bitmap[y * side + x]);
    assert_eq!(codes.len(), 1, "one QR code in the rectangles");
    codes.into_iter().next().expect("one code").0
}

/// The decompressed content streams of a PDF, in order.
fn pdf_content_streams(pdf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pdf;
    while let Some(start) = find(rest, b"\nstream\n") {
        let data = &rest[start + 8..];
        let end = find(data, b"\nendstream").expect("every stream ends");
        out.push(miniz_oxide::inflate::decompress_to_vec_zlib(&data[..end]).expect("a Flate stream"));
        rest = &data[end..];
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The `re` rectangles of a content stream, converted to top-left
/// coordinates of an A4 page.
fn pdf_rectangles(content: &[u8]) -> Vec<(f32, f32, f32, f32)> {
    let text = String::from_utf8_lossy(content);
    let mut numbers: Vec<f32> = Vec::new();
    let mut rects = Vec::new();
    for token in text.split_ascii_whitespace() {
        if let Ok(n) = token.parse::<f32>() {
            numbers.push(n);
            continue;
        }
        if token == "re" {
            let [x, y, w, h] = numbers[numbers.len() - 4..] else { unreachable!() };
            rects.push((x, 842.0 - y - h, w, h));
        }
        numbers.clear();
    }
    rects
}

/// Keeps a rendered file in `$GREENLIGHT_SHEETS_OUT`, if set, for a person
/// to look at.
fn keep(name: &str, bytes: &[u8]) {
    if let Some(dir) = std::env::var_os("GREENLIGHT_SHEETS_OUT") {
        std::fs::create_dir_all(&dir).expect("output dir");
        std::fs::write(Path::new(&dir).join(name), bytes).expect("written");
        eprintln!("{name}: {} bytes", bytes.len());
    }
}

fn temp(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("greenlight-sheets-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Whether a poppler tool can be used; without it the test is skipped
/// loudly on a developer machine and fails on CI (which installs it).
fn poppler(tool: &str) -> bool {
    if Command::new(tool).arg("-v").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} (Debian package poppler-utils) is missing on CI: tests/run.sh must install it"
    );
    eprintln!("\n*** SKIPPED: {tool} not installed (apt-get install poppler-utils) ***\n");
    false
}

#[test]
fn png_sheet_scans_back_to_the_poster_and_shows_the_venue() {
    let (sheet, poster) = venue_sheets("Chez Marie", "12 Rue de la Paix", 1).remove(0);
    let png = render_png(&sheet, &fonts()).expect("renders");
    keep("sheet.png", &png);
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png).expect("a PNG").to_luma8();
    assert_eq!(image.dimensions(), (1240, 1754), "A4 at 150 dpi");

    let codes = read_qr_codes(1240, 1754, |x, y| image.get_pixel(x as u32, y as u32).0[0]);
    assert_eq!(codes.len(), 1, "exactly one QR code on the sheet");
    let (text, side_px) = &codes[0];
    assert_eq!(text, &poster.to_text());
    assert_eq!(Poster::from_text(text).expect("a genuine poster"), poster);
    let side_cm = side_px / 150.0 * 2.54;
    assert!(side_cm >= 12.0, "the QR code is {side_cm:.1} cm wide");

    // The venue's name is printed above the QR code, the instructions below.
    let dark_rows = |from_pt: f32, to_pt: f32| {
        let px = |pt: f32| (pt * 150.0 / 72.0) as u32;
        (px(from_pt)..px(to_pt)).filter(|&y| (0..1240).any(|x| image.get_pixel(x, y).0[0] < 128)).count()
    };
    assert!(dark_rows(90.0, 135.0) > 40, "the venue name is printed in large type");
    assert!(dark_rows(655.0, 725.0) > 40, "the instructions are printed under the QR code");
    assert_eq!(dark_rows(0.0, 50.0), 0, "the top margin stays blank for the printer");
}

#[test]
fn svg_sheet_is_well_formed_escaped_and_its_qr_scans_back() {
    let (sheet, poster) = venue_sheets("Bar <&\"> 'Zoë'", "", 1).remove(0);
    let svg = render_svg(&sheet, &fonts()).expect("renders");
    keep("sheet.svg", svg.as_bytes());
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!((root.attribute("width"), root.attribute("height")), (Some("210mm"), Some("297mm")));
    assert!(svg.contains("Bar &lt;&amp;&quot;&gt; &apos;Zoë&apos;"), "the name is escaped");

    let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
    assert!(texts.contains(&"Bar <&\"> 'Zoë'"), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains(&sheet.date)), "{texts:?}");
    assert!(texts.contains(&"Scan with Greenlight to check in."), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains(&sheet.fingerprint)), "{texts:?}");

    let qr = doc.descendants().find(|n| n.attribute("id") == Some("qr")).expect("the QR group");
    let attr =
        |n: roxmltree::Node<'_, '_>, a: &str| -> f32 { n.attribute(a).expect("attribute").parse().expect("num") };
    let rects: Vec<_> = qr
        .children()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| (attr(n, "x"), attr(n, "y"), attr(n, "width"), attr(n, "height")))
        .collect();
    let right = rects.iter().map(|r| r.0 + r.2).fold(0.0, f32::max);
    let left = rects.iter().map(|r| r.0).fold(f32::MAX, f32::min);
    assert!((right - left) / 72.0 * 2.54 >= 12.0, "the QR code is at least 12 cm wide");
    assert_eq!(read_rectangles(&rects), poster.to_text());
}

#[test]
fn pdf_has_one_a4_page_per_day_and_each_qr_scans_back_to_its_day() {
    let days = venue_sheets("Café Zoë", "Rue de l'Église 4", 7);
    let sheets: Vec<Sheet> = days.iter().map(|(s, _)| s.clone()).collect();
    let pdf = render_pdf(&sheets, &fonts()).expect("renders");
    keep("posters.pdf", &pdf);
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(count(&pdf, b"/Type /Page\n"), 7, "one page per sheet");
    assert_eq!(count(&pdf, b"/Count 7"), 1);
    assert_eq!(count(&pdf, b"/MediaBox [0 0 595 842]"), 7, "every page is A4");
    assert_eq!(count(&pdf, b"/BaseFont /Helvetica"), 2, "standard fonts, nothing embedded");

    let streams = pdf_content_streams(&pdf);
    assert_eq!(streams.len(), 7);
    for (content, (_, poster)) in streams.iter().zip(&days) {
        let text = read_rectangles(&pdf_rectangles(content));
        assert_eq!(Poster::from_text(&text).expect("a genuine poster"), *poster);
        assert!(find(content, b"(Scan with Greenlight to check in.) Tj").is_some());
    }
}

#[test]
fn longest_and_non_latin_names_still_print_and_scan() {
    // The longest name and address a poster holds (40 characters each; 120
    // bytes each in Chinese) make the largest QR code; it must stay 12 cm
    // wide and readable, and the name must fit between the margins.
    let latin = ("W".repeat(40), "M".repeat(40));
    let chinese = (
        "朝阳区人民医院门诊部".repeat(4),
        "北京市朝阳区工人体育场北路甲二号".repeat(3).chars().take(40).collect::<String>(),
    );
    let cases = [
        ("朝阳区人民医院门诊部", "朝阳区工体北路"),
        ("東京ラーメン", "駅前 1-2"),
        ("Café 🍜 Zoë", ""),
        ("Ωmega Bar", "Οδός 5"),
        (latin.0.as_str(), latin.1.as_str()),
        (chinese.0.as_str(), chinese.1.as_str()),
    ];
    let fonts = fonts();
    for (name, address) in cases {
        if !fonts.missing(name).iter().all(|c| *c == '🍜') {
            eprintln!("*** SKIPPED {name}: no installed font has its characters ***");
            continue;
        }
        let (sheet, poster) = venue_sheets(name, address, 1).remove(0);
        let pdf = render_pdf(std::slice::from_ref(&sheet), &fonts).expect("PDF renders");
        let text = read_rectangles(&pdf_rectangles(&pdf_content_streams(&pdf)[0]));
        assert_eq!(text, poster.to_text());
        let svg = render_svg(&sheet, &fonts).expect("SVG renders");
        let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
        let texts: Vec<&str> = doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).collect();
        // Whole, on one line or broken over two (a name wider than the page
        // at its smallest size), never cut.
        let whole = texts.contains(&name)
            || texts
                .windows(2)
                .any(|w| [format!("{}{}", w[0], w[1]), format!("{} {}", w[0], w[1])].contains(&name.to_owned()));
        assert!(whole, "SVG shows the whole name: {texts:?}");
        let png = render_png(&sheet, &fonts).expect("PNG renders");
        keep(&format!("{}.png", name.chars().take(8).collect::<String>()), &png);
        let image = image::load_from_memory(&png).expect("a PNG").to_luma8();
        let codes = read_qr_codes(1240, 1754, |x, y| image.get_pixel(x as u32, y as u32).0[0]);
        assert_eq!(codes.len(), 1, "{name}: one QR code");
        assert_eq!(codes[0].0, text);
        assert!(codes[0].1 / 150.0 * 2.54 >= 12.0, "{name}: the QR code is at least 12 cm wide");
        // The name's ink stays inside the margins (48 pt = 100 px at 150 dpi).
        let inked = |x: u32| (px(90.0)..px(146.0)).any(|y| image.get_pixel(x, y).0[0] < 128);
        let (first, last) = ((0..1240).find(|&x| inked(x)), (0..1240).rev().find(|&x| inked(x)));
        let (first, last) = (first.expect("the name is printed"), last.expect("the name is printed"));
        assert!(first >= 95 && last <= 1240 - 95, "{name}: the name runs from pixel {first} to {last}");
    }
}

/// Points to pixels at 150 dpi.
fn px(pt: f32) -> u32 {
    (pt * 150.0 / 72.0) as u32
}

/// The dark pixels of the band `from_pt..to_pt` (points from the top) of
/// a page image of `dpi`, resampled to 150 dpi.
fn band(image: &image::GrayImage, dpi: f32, from_pt: f32, to_pt: f32) -> Vec<bool> {
    let (w, h) = (1240u32, px(to_pt) - px(from_pt));
    let scale = dpi / 150.0;
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = ((x as f32 * scale) as u32, ((px(from_pt) + y) as f32 * scale) as u32);
            out.push(image.get_pixel(sx.min(image.width() - 1), sy.min(image.height() - 1)).0[0] < 128);
        }
    }
    out
}

#[test]
fn a_chinese_name_is_real_text_in_the_pdf_and_the_same_glyphs_in_the_png() {
    let Some(fonts) = cjk_fonts() else { return };
    if !poppler("pdftoppm") || !poppler("pdftotext") || !poppler("pdffonts") {
        return;
    }
    let name = "朝阳区人民医院门诊部";
    let (sheet, poster) = venue_sheets(name, "朝阳区工人体育场北路", 1).remove(0);
    let dir = temp("chinese");
    let file = dir.join("posters.pdf");
    std::fs::write(&file, render_pdf(std::slice::from_ref(&sheet), &fonts).expect("renders")).expect("written");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("poppler runs");
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{cmd:?} complains: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // The text layer holds the name itself, not question marks.
    let text = run(Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&file).arg("-"));
    assert!(text.contains(name), "{text}");
    assert!(text.contains("朝阳区工人体育场北路"), "{text}");
    assert!(text.contains("Scan with Greenlight to check in."), "{text}");
    assert!(!text.contains('?'), "{text}");
    // Its font is a subset of Noto Sans CJK SC, embedded.
    let listed = run(Command::new("pdffonts").arg(&file));
    let cjk = listed.lines().find(|l| l.contains("NotoSansCJKsc")).unwrap_or_else(|| panic!("{listed}"));
    let columns: Vec<&str> = cjk.split_whitespace().collect();
    assert!(columns[0].len() > 7 && columns[0].as_bytes()[6] == b'+', "a subset's tag: {cjk}");
    assert!(columns.contains(&"yes"), "embedded: {cjk}");

    // Poppler draws the PDF's name; our rasterizer draws the PNG's: the two
    // agree on where the ink is (the same glyphs, in the same place).
    let out = dir.join("page");
    run(Command::new("pdftoppm").args(["-r", "150", "-gray", "-png", "-singlefile"]).arg(&file).arg(&out));
    let poppler_page = image::open(out.with_extension("png")).expect("a PNG").to_luma8();
    let png = render_png(&sheet, &fonts).expect("renders");
    keep("chinese.png", &png);
    let ours = image::load_from_memory(&png).expect("a PNG").to_luma8();
    let (a, b) = (band(&poppler_page, 150.0, 90.0, 135.0), band(&ours, 150.0, 90.0, 135.0));
    let both = a.iter().zip(&b).filter(|(x, y)| **x && **y).count();
    let either = a.iter().zip(&b).filter(|(x, y)| **x || **y).count();
    let overlap = both as f64 / either as f64;
    assert!(either > 5_000, "the name is printed large: {either} dark pixels");
    assert!(overlap > 0.6, "the PNG's name and poppler's differ: overlap {overlap:.2}");
    // A name drawn as one repeated box or question mark would match poppler
    // too if both were wrong; its ten characters are ten different glyphs.
    let columns_inked: Vec<bool> = (0..1240).map(|x| (0..b.len() / 1240).any(|y| b[y * 1240 + x])).collect();
    let glyphs = columns_inked.chunk_by(|p, q| p == q).filter(|run| run[0]).count();
    assert!(glyphs >= 10, "ten characters, {glyphs} inked runs");

    let codes = read_qr_codes(1240, 1754, |x, y| ours.get_pixel(x as u32, y as u32).0[0]);
    assert_eq!(Poster::from_text(&codes[0].0).expect("a genuine poster").info().name, name);
    assert_eq!(codes[0].0, poster.to_text());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pdf_renders_in_poppler_with_text_and_a_scannable_qr() {
    if !poppler("pdftoppm") || !poppler("pdfinfo") || !poppler("pdftotext") {
        return;
    }
    let mut days = venue_sheets("Café Zoë", "Rue de l'Église 4", 3);
    days[1].0.venue = "東京ラーメン".into();
    let sheets: Vec<Sheet> = days.iter().map(|(s, _)| s.clone()).collect();
    let dir = temp("poppler");
    let file = dir.join("posters.pdf");
    std::fs::write(&file, render_pdf(&sheets, &fonts()).expect("renders")).expect("written");
    let run = |cmd: &mut Command| {
        let out = cmd.output().expect("poppler runs");
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{cmd:?} complains: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let info = run(Command::new("pdfinfo").arg(&file));
    assert!(info.lines().any(|l| l.starts_with("Pages:") && l.ends_with(" 3")), "{info}");
    assert!(info.contains("595 x 842 pts (A4)"), "{info}");

    let text = run(Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&file).arg("-"));
    let pages: Vec<&str> = text.split('\u{c}').collect();
    assert!(pages[0].contains("Café Zoë") && pages[0].contains("Rue de l'Église 4"), "{}", pages[0]);
    assert!(pages[0].contains(&sheets[0].date), "{}", pages[0]);
    assert!(pages[0].contains("Valid 00:00–24:00 UTC"), "{}", pages[0]);
    assert!(pages[1].contains("東京ラーメン"), "CJK prints as itself: {}", pages[1]);

    for page in 1..=3 {
        let out = dir.join(format!("page{page}"));
        run(Command::new("pdftoppm")
            .args(["-r", "100", "-gray", "-png", "-singlefile"])
            .args(["-f".to_owned(), page.to_string(), "-l".to_owned(), page.to_string()])
            .arg(&file)
            .arg(&out));
        let image = image::open(out.with_extension("png")).expect("a PNG").to_luma8();
        let (w, h) = image.dimensions();
        assert_eq!((w, h), (827, 1170), "A4 at 100 dpi");
        let codes = read_qr_codes(w as usize, h as usize, |x, y| image.get_pixel(x as u32, y as u32).0[0]);
        assert_eq!(codes.len(), 1, "page {page}: one QR code");
        assert_eq!(codes[0].0, days[page - 1].1.to_text(), "page {page} holds its own day's poster");
        let side_cm = codes[0].1 / 100.0 * 2.54;
        assert!(side_cm >= 12.0, "page {page}: the QR code is {side_cm:.1} cm wide");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refusals_say_what_to_do() {
    let (mut sheet, _) = venue_sheets("Chez Marie", "", 1).remove(0);
    assert_eq!(SheetFormat::from_path(Path::new("out/posters.Pdf")), Ok(SheetFormat::Pdf));
    let err = SheetFormat::from_path(Path::new("posters.docx")).expect_err("not offered");
    assert!(err.to_string().contains(".pdf, .svg or .png"), "{err}");
    assert_eq!(render_pdf(&[], &fonts()), Err(SheetError::NoSheets));

    sheet.qr_text = "GL1:".to_owned() + &"A".repeat(4000);
    for err in [
        render_pdf(std::slice::from_ref(&sheet), &fonts()).expect_err("too long"),
        render_svg(&sheet, &fonts()).expect_err("too long"),
        render_png(&sheet, &fonts()).expect_err("too long"),
    ] {
        assert!(matches!(err, SheetError::QrCode(_)), "{err:?}");
        assert!(err.to_string().contains("does not fit in a QR code"), "{err}");
    }
}
