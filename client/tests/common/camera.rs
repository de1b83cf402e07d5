//! A deterministic synthetic camera: what a phone's photo of a printed
//! venue poster looks like. A poster page (greyscale, as the venue tool
//! prints it) is scaled, turned in its plane, tilted away from the camera
//! (a pinhole projection, so the far edge shrinks), placed on a cluttered
//! wall, blurred, dimmed or unevenly lit, sprinkled with sensor noise and
//! saved as JPEG. No randomness: the same shot is the same bytes every run.
#![allow(dead_code, unreachable_pub)]
// Pixel arithmetic: every float is rounded and clamped to the range of
// the integer it becomes (grey levels, coordinates inside the page).
#![allow(clippy::cast_possible_truncation)]

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{GrayImage, ImageBuffer, ImageEncoder, RgbImage};

/// How one photo is taken. Angles in degrees, sizes in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Shot {
    /// Width of the poster page in the photo when seen head-on.
    pub poster_width: u32,
    /// The photo's size; `None` is the poster page itself, cropped to its
    /// own (scaled) outline.
    pub frame: Option<(u32, u32)>,
    /// Turn in the poster's plane (the phone held askew).
    pub roll: f64,
    /// Tilt about the vertical axis (photographed from the side).
    pub yaw: f64,
    /// Tilt about the horizontal axis (photographed from below).
    pub pitch: f64,
    /// Gaussian blur sigma (out of focus, hand shake); 0 for none.
    pub blur: f32,
    /// Light: the darkest and brightest grey the page shows.
    pub black: u8,
    pub white: u8,
    /// Light falling off from left to right: the right edge gets this
    /// fraction of the left edge's light (1.0: even light).
    pub falloff: f64,
    /// Sensor noise amplitude in grey levels (uniform, ±).
    pub noise: u8,
    /// JPEG quality, or `None` for a lossless PNG (a screenshot).
    pub jpeg: Option<u8>,
}

impl Shot {
    /// The poster page head-on at `width` pixels, well lit, as a JPEG of
    /// quality 80 (what a phone's camera app saves).
    pub fn at(width: u32) -> Shot {
        Shot {
            poster_width: width,
            frame: None,
            roll: 0.0,
            yaw: 0.0,
            pitch: 0.0,
            blur: 0.0,
            black: 0,
            white: 255,
            falloff: 1.0,
            noise: 0,
            jpeg: Some(80),
        }
    }

    fn is_head_on(&self) -> bool {
        self.roll == 0.0 && self.yaw == 0.0 && self.pitch == 0.0 && self.frame.is_none()
    }
}

/// A printed poster page and the sizes it has been scaled to so far.
pub struct Camera {
    page: GrayImage,
    scaled: Vec<GrayImage>,
}

impl Camera {
    /// A camera pointed at `page` (the venue tool's PNG, decoded).
    pub fn new(page: GrayImage) -> Camera {
        Camera { page, scaled: Vec::new() }
    }

    /// The poster page scaled (once per size) to `width` pixels wide.
    fn page_at(&mut self, width: u32) -> &GrayImage {
        if let Some(i) = self.scaled.iter().position(|p| p.width() == width) {
            return &self.scaled[i];
        }
        let height = scale(self.page.height(), f64::from(width) / f64::from(self.page.width()));
        // Triangle widens with the scale factor: an area average, as a
        // sensor's pixels are, not a point sample that aliases.
        self.scaled.push(image::imageops::resize(&self.page, width, height, FilterType::Triangle));
        self.scaled.last().expect("just pushed")
    }

    /// The photo's file bytes (JPEG or PNG).
    pub fn take(&mut self, shot: &Shot) -> Vec<u8> {
        let page = self.page_at(shot.poster_width).clone();
        let (width, height) = shot.frame.unwrap_or(page.dimensions());
        let mut light = if shot.is_head_on() {
            page.clone()
        } else {
            let to_page = projection(shot, page.dimensions(), (width, height));
            warp(&page, (width, height), &to_page)
        };
        if shot.blur > 0.0 {
            light = image::imageops::blur(&light, shot.blur);
        }
        let photo = if (shot.black, shot.white, shot.falloff, shot.noise) == (0, 255, 1.0, 0) {
            light
        } else {
            lit(&light, shot)
        };
        if shot.frame.is_some() {
            // A photo of a wall is in colour: warm light on a grey page.
            encode(
                &RgbImage::from_raw(
                    width,
                    height,
                    photo
                        .as_raw()
                        .iter()
                        .flat_map(|&g| [g, (f64::from(g) * 0.96) as u8, (f64::from(g) * 0.86) as u8])
                        .collect(),
                )
                .expect("size"),
                shot.jpeg,
            )
        } else {
            encode(&photo, shot.jpeg)
        }
    }
}

/// The photo in the shot's light: contrast squeezed between its black and
/// white, light falling off to the right, sensor noise.
fn lit(light: &GrayImage, shot: &Shot) -> GrayImage {
    let (width, height) = light.dimensions();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(width) << 32 ^ u64::from(height);
    let span = f64::from(shot.white) - f64::from(shot.black);
    let mut pixels = light.as_raw().clone();
    let mut i = 0;
    for _ in 0..height {
        for x in 0..width {
            let falloff = 1.0 - (1.0 - shot.falloff) * f64::from(x) / f64::from(width.max(2) - 1);
            let grey = (f64::from(shot.black) + span * f64::from(pixels[i]) / 255.0) * falloff;
            let noise = if shot.noise == 0 {
                0.0
            } else {
                seed = xorshift(seed);
                (seed % (2 * u64::from(shot.noise) + 1)) as f64 - f64::from(shot.noise)
            };
            pixels[i] = (grey + noise).round().clamp(0.0, 255.0) as u8;
            i += 1;
        }
    }
    GrayImage::from_raw(width, height, pixels).expect("size")
}

fn scale(n: u32, factor: f64) -> u32 {
    (f64::from(n) * factor).round() as u32
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A 3 × 3 projective map, row-major, applied to (x, y, 1).
type Homography = [f64; 9];

/// Where each photo pixel looks on the page: the page is a flat rectangle
/// centred in front of a pinhole camera, turned by roll, yaw and pitch,
/// at the distance where head-on it fills `page` pixels of the photo.
fn projection(shot: &Shot, page: (u32, u32), frame: (u32, u32)) -> Homography {
    let (pw, ph) = (f64::from(page.0), f64::from(page.1));
    let (fw, fh) = (f64::from(frame.0), f64::from(frame.1));
    // A phone camera's field of view is about 65° across the longer side.
    let focal = fw.max(fh) / (2.0 * (32.5_f64).to_radians().tan());
    let (roll, yaw, pitch) = (shot.roll.to_radians(), shot.yaw.to_radians(), shot.pitch.to_radians());
    let corner = |x: f64, y: f64| {
        // Page coordinates centred on the page, y down.
        let (x, y) = (x - pw / 2.0, y - ph / 2.0);
        let (x, y) = (x * roll.cos() - y * roll.sin(), x * roll.sin() + y * roll.cos());
        let (x, z) = (x * yaw.cos(), x * yaw.sin());
        let (y, z) = (y * pitch.cos() - z * pitch.sin(), y * pitch.sin() + z * pitch.cos());
        let depth = focal + z;
        (fw / 2.0 + focal * x / depth, fh / 2.0 + focal * y / depth)
    };
    let page_corners = [(0.0, 0.0), (pw, 0.0), (pw, ph), (0.0, ph)];
    let photo_corners = page_corners.map(|(x, y)| corner(x, y));
    // photo → unit square → page.
    let to_square = invert(&square_to_quad(photo_corners));
    let square_to_page = [pw, 0.0, 0.0, 0.0, ph, 0.0, 0.0, 0.0, 1.0];
    multiply(&square_to_page, &to_square)
}

/// The projective map sending the unit square's corners (0,0), (1,0),
/// (1,1), (0,1) to `q` (Heckbert, "Fundamentals of Texture Mapping", 1989).
fn square_to_quad(q: [(f64, f64); 4]) -> Homography {
    let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q;
    let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
    let det = dx1 * dy2 - dx2 * dy1;
    let g = (sx * dy2 - dx2 * sy) / det;
    let h = (dx1 * sy - sx * dy1) / det;
    [x1 - x0 + g * x1, x3 - x0 + h * x3, x0, y1 - y0 + g * y1, y3 - y0 + h * y3, y0, g, h, 1.0]
}

fn invert(m: &Homography) -> Homography {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let adj = [
        e * i - f * h,
        c * h - b * i,
        b * f - c * e,
        f * g - d * i,
        a * i - c * g,
        c * d - a * f,
        d * h - e * g,
        b * g - a * h,
        a * e - b * d,
    ];
    let det = a * adj[0] + b * adj[3] + c * adj[6];
    adj.map(|v| v / det)
}

fn multiply(a: &Homography, b: &Homography) -> Homography {
    let mut out = [0.0; 9];
    for r in 0..3 {
        for c in 0..3 {
            out[r * 3 + c] = (0..3).map(|k| a[r * 3 + k] * b[k * 3 + c]).sum();
        }
    }
    out
}

/// The photo: each pixel samples the page bilinearly where `to_page` says;
/// off the page it sees the wall. Written for a debug build (the corpus
/// runs in tests): plain loops, the projection stepped along each row.
fn warp(page: &GrayImage, frame: (u32, u32), to_page: &Homography) -> GrayImage {
    let (pw, ph) = (page.width() as usize, page.height() as usize);
    let src = page.as_raw();
    let (max_u, max_v) = ((pw - 1) as f64, (ph - 1) as f64);
    let width = frame.0 as usize;
    let h = to_page;
    let mut out = vec![0u8; width * frame.1 as usize];
    let mut i = 0;
    for y in 0..frame.1 {
        let yc = f64::from(y) + 0.5;
        // Both numerators and the denominator are linear in x.
        let (mut nu, mut nv, mut d) =
            (h[0] * 0.5 + h[1] * yc + h[2], h[3] * 0.5 + h[4] * yc + h[5], h[6] * 0.5 + h[7] * yc + h[8]);
        for x in 0..frame.0 {
            let (u, v) = (nu / d - 0.5, nv / d - 0.5);
            nu += h[0];
            nv += h[3];
            d += h[6];
            out[i] = if u >= 0.0 && v >= 0.0 && u <= max_u && v <= max_v {
                // Non-negative: truncation is the floor.
                let (x0, y0) = (u as usize, v as usize);
                let x1 = if x0 + 1 < pw { x0 + 1 } else { x0 };
                let y1 = if y0 + 1 < ph { y0 + 1 } else { y0 };
                let (fx, fy) = (u - x0 as f64, v - y0 as f64);
                let (a, b) = (src[y0 * pw + x0] as f64, src[y0 * pw + x1] as f64);
                let (c, e) = (src[y1 * pw + x0] as f64, src[y1 * pw + x1] as f64);
                let top = a + (b - a) * fx;
                let bottom = c + (e - c) * fx;
                (top + (bottom - top) * fy + 0.5) as u8
            } else {
                wall(x, y)
            };
            i += 1;
        }
    }
    GrayImage::from_raw(frame.0, frame.1, out).expect("size")
}

/// A wall behind the poster: mid-grey plaster with a dark door frame and
/// a shelf's edge, so the photo has straight dark edges that are no QR code.
fn wall(x: u32, y: u32) -> u8 {
    if (60..90).contains(&x) || (y % 400) < 14 {
        return 40;
    }
    let texture = (xorshift(u64::from(x / 3) << 20 | u64::from(y / 3)) % 24) as u8;
    150 + texture
}

/// The photo's file: JPEG at quality `jpeg`, else PNG.
fn encode<P: image::PixelWithColorType<Subpixel = u8>>(image: &ImageBuffer<P, Vec<u8>>, jpeg: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = image.dimensions();
    match jpeg {
        Some(q) => JpegEncoder::new_with_quality(&mut out, q).write_image(image.as_raw(), w, h, P::COLOR_TYPE),
        None => image::codecs::png::PngEncoder::new(&mut out).write_image(image.as_raw(), w, h, P::COLOR_TYPE),
    }
    .expect("encodes");
    out
}
