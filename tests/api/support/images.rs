//! Test images, drawn in code: no binary fixtures.

#![allow(dead_code)]

use image::{ImageFormat, RgbImage, RgbaImage};
use std::io::Cursor;

/// A `w`×`h` image whose left half is red and right half blue (so orientation is checkable).
pub fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| {
        if x < w / 2 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    })
}

pub fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(&halves(w, h), ImageFormat::Jpeg)
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    encode(&halves(w, h), ImageFormat::Png)
}

pub fn webp(w: u32, h: u32) -> Vec<u8> {
    let rgba: RgbaImage = image::DynamicImage::ImageRgb8(halves(w, h)).to_rgba8();
    let mut out = Cursor::new(Vec::new());
    rgba.write_to(&mut out, ImageFormat::WebP).unwrap();
    out.into_inner()
}

/// A JPEG carrying an EXIF segment with orientation 6 (rotate 90° clockwise to display) and a GPS
/// position, spliced in after SOI.
pub fn jpeg_with_exif_rotation_and_gps(w: u32, h: u32) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut tiff: Vec<u8> = Vec::new();
    tiff.extend_from_slice(b"II*\0");
    tiff.extend_from_slice(&8u32.to_le_bytes());
    // IFD0: 2 entries.
    tiff.extend_from_slice(&2u16.to_le_bytes());
    // Orientation = 6.
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&[6, 0, 0, 0]);
    // GPS IFD pointer.
    let gps_offset: u32 = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&0x8825u16.to_le_bytes());
    tiff.extend_from_slice(&4u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&gps_offset.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    // GPS IFD: GPSLatitudeRef = "N".
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0001u16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&2u32.to_le_bytes());
    tiff.extend_from_slice(b"N\0\0\0");
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

/// A few hundred bytes of PNG whose header claims `w`×`h` pixels.
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// True when the bytes hold an EXIF segment or GPS tag marker.
pub fn has_exif(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"Exif\0\0")
}

/// Uploads every image endpoint refuses, with the status and problem code each must get: not an
/// image (415), a decompression bomb (422, refused from the header), truncated or corrupt (400).
/// Each is well under a 200 KB upload limit.
pub fn bad_uploads() -> Vec<(Vec<u8>, u16, &'static str)> {
    let jpeg = jpeg(600, 600);
    vec![
        (b"just some text, not an image".to_vec(), 415, "unsupported_media_type"),
        (b"%PDF-1.4 nope".to_vec(), 415, "unsupported_media_type"),
        (b"GIF89a....".to_vec(), 415, "unsupported_media_type"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(), 415, "unsupported_media_type"),
        (png_bomb(30_000, 30_000), 422, "image_too_large"),
        (png_bomb(20_000, 10), 422, "image_too_large"),
        (jpeg[..jpeg.len() / 2].to_vec(), 400, "invalid_image"),
        (png(300, 300)[..200].to_vec(), 400, "invalid_image"),
        (vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 0, 0], 400, "invalid_image"),
    ]
}
