//! A deterministic synthetic camera: what a phone's photo of a printed
//! venue poster looks like. A poster page (greyscale, as the venue tool
//! prints it) is scaled, turned in its plane, tilted away from the camera
//! (a pinhole projection, so the far edge shrinks), placed on a cluttered
//! wall, blurred, dimmed or unevenly lit, sprinkled with sensor noise and
//! saved as JPEG. No randomness: the same shot is the same bytes every run.
#![allow(dead_code, unreachable_pub)]

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{GrayImage, ImageEncoder, Luma, Rgb, RgbImage};

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
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(width) << 32 ^ u64::from(height);
        let span = f64::from(shot.white) - f64::from(shot.black);
        let pixels: Vec<u8> = light
            .enumerate_pixels()
            .map(|(x, _, p)| {
                let falloff = 1.0 - (1.0 - shot.falloff) * f64::from(x) / f64::from(width.max(2) - 1);
                let grey = (f64::from(shot.black) + span * f64::from(p.0[0]) / 255.0) * falloff;
                let noise = if shot.noise == 0 {
                    0.0
                } else {
                    seed = xorshift(seed);
                    (seed % (2 * u64::from(shot.noise) + 1)) as f64 - f64::from(shot.noise)
                };
                (grey + noise).round().clamp(0.0, 255.0) as u8
            })
            .collect();
        let photo = GrayImage::from_raw(width, height, pixels).expect("size");
        if shot.frame.is_some() {
            // A photo of a wall is in colour: warm light on a grey page.
            encode_rgb(
                &RgbImage::from_fn(width, height, |x, y| {
                    let g = f64::from(photo.get_pixel(x, y).0[0]);
                    Rgb([g.min(255.0) as u8, (g * 0.96) as u8, (g * 0.86) as u8])
                }),
                shot.jpeg,
            )
        } else {
            encode_grey(&photo, shot.jpeg)
        }
    }
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

fn apply(h: &Homography, x: f64, y: f64) -> (f64, f64) {
    let w = h[6] * x + h[7] * y + h[8];
    ((h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w)
}

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
/// off the page it sees the wall.
fn warp(page: &GrayImage, frame: (u32, u32), to_page: &Homography) -> GrayImage {
    let (pw, ph) = (page.width() as usize, page.height() as usize);
    let src = page.as_raw();
    let at = |x: usize, y: usize| f64::from(src[y * pw + x]);
    GrayImage::from_fn(frame.0, frame.1, |x, y| {
        let (u, v) = apply(to_page, f64::from(x) + 0.5, f64::from(y) + 0.5);
        let (u, v) = (u - 0.5, v - 0.5);
        if u < 0.0 || v < 0.0 || u > (pw - 1) as f64 || v > (ph - 1) as f64 {
            return Luma([wall(x, y)]);
        }
        let (x0, y0) = (u.floor() as usize, v.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(pw - 1), (y0 + 1).min(ph - 1));
        let (fx, fy) = (u - x0 as f64, v - y0 as f64);
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        Luma([(top * (1.0 - fy) + bottom * fy).round() as u8])
    })
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

fn encode_grey(image: &GrayImage, jpeg: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = image.dimensions();
    match jpeg {
        Some(q) => {
            JpegEncoder::new_with_quality(&mut out, q).write_image(image.as_raw(), w, h, image::ExtendedColorType::L8)
        }
        None => image::codecs::png::PngEncoder::new(&mut out).write_image(
            image.as_raw(),
            w,
            h,
            image::ExtendedColorType::L8,
        ),
    }
    .expect("encodes");
    out
}

fn encode_rgb(image: &RgbImage, jpeg: Option<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = image.dimensions();
    match jpeg {
        Some(q) => {
            JpegEncoder::new_with_quality(&mut out, q).write_image(image.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        }
        None => image::codecs::png::PngEncoder::new(&mut out).write_image(
            image.as_raw(),
            w,
            h,
            image::ExtendedColorType::Rgb8,
        ),
    }
    .expect("encodes");
    out
}
