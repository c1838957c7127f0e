//! A synthetic photo for the image benchmarks: diagonal gradients, a soft vignette and per-pixel
//! noise, so that it compresses like a photo rather than a chart.

use image::{Rgb, RgbImage};

pub fn synthetic_photo(width: u32, height: u32) -> RgbImage {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let (cx, cy) = (f64::from(width) / 2.0, f64::from(height) / 2.0);
    let max_r = (cx * cx + cy * cy).sqrt();
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state & 0x1F) as i32 - 16;
        let (fx, fy) = (f64::from(x), f64::from(y));
        let r = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt() / max_r;
        let base = [255.0 * fx / f64::from(width), 255.0 * fy / f64::from(height), 255.0 * (1.0 - r)];
        Rgb(base.map(|v| (v as i32 + noise).clamp(0, 255) as u8))
    })
}
