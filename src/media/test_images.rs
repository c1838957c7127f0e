//! Images made in memory for the media tests: encoders, hand-built headers and segments.

use super::decode::PNG_SIGNATURE;
use super::*;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};

pub(crate) const LIMITS: MediaLimits = MediaLimits {
    max_upload_bytes: 20 * 1024 * 1024,
    max_pixels: 40_000_000,
    max_side: 10_000,
};

pub(crate) const RED: Rgb<u8> = Rgb([220, 20, 20]);
pub(crate) const BLUE: Rgb<u8> = Rgb([20, 20, 220]);

/// Smooth gradient with a little texture.
pub(crate) fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x ^ y) & 0xFF) as u8,
        ])
    })
}

/// Left half red, right half blue.
pub(crate) fn halves(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| if x < width / 2 { RED } else { BLUE })
}

pub(crate) fn jpeg_bytes(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(image)
        .expect("encode test JPEG");
    out
}

pub(crate) fn png_bytes(buf: &[u8], width: u32, height: u32, color: ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(buf, width, height, color)
        .expect("encode test PNG");
    out
}

pub(crate) fn webp_lossless_bytes(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)
        .expect("encode test WebP");
    out
}

pub(crate) fn decode_jpeg(bytes: &[u8]) -> RgbImage {
    image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .expect("output decodes")
        .into_rgb8()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn close_to(actual: Rgb<u8>, expected: Rgb<u8>) -> bool {
    actual.0.iter().zip(expected.0).all(|(&a, e)| a.abs_diff(e) <= 24)
}

pub(crate) fn assert_dims(rendition: &Rendition, width: u32, height: u32) {
    assert_eq!((rendition.width, rendition.height), (width, height));
    let decoded = decode_jpeg(&rendition.bytes);
    assert_eq!(decoded.dimensions(), (width, height));
}

/// Markers of the header segments (up to and including the first SOS).
pub(crate) fn header_markers(jpeg: &[u8]) -> Vec<u8> {
    let mut markers = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpeg.len() && jpeg[pos] == 0xFF {
        let marker = jpeg[pos + 1];
        markers.push(marker);
        if marker == 0xDA {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        pos += 2 + len;
    }
    markers
}

pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

pub(crate) fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = Vec::with_capacity(12 + data.len());
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    chunk
}

/// A syntactically valid PNG whose IHDR claims `width` x `height` RGB8
/// pixels but whose IDAT is a tiny (empty) zlib stream.
pub(crate) fn png_with_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let empty_zlib = [0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01];
    let mut png = PNG_SIGNATURE.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", &empty_zlib));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// An EXIF APP1 segment (big-endian TIFF) with the given orientation and
/// a GPS IFD (version, latitude, longitude), optionally followed by an
/// embedded thumbnail JPEG as cameras do.
pub(crate) fn exif_app1(orientation: u16, embedded_thumbnail: Option<&[u8]>) -> Vec<u8> {
    fn entry(tiff: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]) {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&kind.to_be_bytes());
        tiff.extend_from_slice(&count.to_be_bytes());
        tiff.extend_from_slice(&value);
    }
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const BYTE: u16 = 1;
    const ASCII: u16 = 2;
    const RATIONAL: u16 = 5;

    let ifd0_entries = 2u16;
    let gps_ifd_offset = 8 + 2 + 12 * u32::from(ifd0_entries) + 4;
    let gps_entries = 5u16;
    let gps_data_offset = gps_ifd_offset + 2 + 12 * u32::from(gps_entries) + 4;

    let mut tiff = b"MM\x00\x2A\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&ifd0_entries.to_be_bytes());
    let [o_hi, o_lo] = orientation.to_be_bytes();
    entry(&mut tiff, 0x0112, SHORT, 1, [o_hi, o_lo, 0, 0]);
    entry(&mut tiff, 0x8825, LONG, 1, gps_ifd_offset.to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(tiff.len() as u32, gps_ifd_offset);

    tiff.extend_from_slice(&gps_entries.to_be_bytes());
    entry(&mut tiff, 0x0000, BYTE, 4, [2, 3, 0, 0]); // GPSVersionID
    entry(&mut tiff, 0x0001, ASCII, 2, *b"N\0\0\0"); // GPSLatitudeRef
    entry(&mut tiff, 0x0002, RATIONAL, 3, gps_data_offset.to_be_bytes());
    entry(&mut tiff, 0x0003, ASCII, 2, *b"E\0\0\0"); // GPSLongitudeRef
    entry(&mut tiff, 0x0004, RATIONAL, 3, (gps_data_offset + 24).to_be_bytes());
    tiff.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(tiff.len() as u32, gps_data_offset);
    for (num, den) in [(52u32, 1u32), (31, 1), (1234, 100), (13, 1), (24, 1), (5678, 100)] {
        tiff.extend_from_slice(&num.to_be_bytes());
        tiff.extend_from_slice(&den.to_be_bytes());
    }
    if let Some(thumbnail) = embedded_thumbnail {
        tiff.extend_from_slice(thumbnail);
    }

    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    segment.extend(payload);
    segment
}

pub(crate) fn splice_after_soi(jpeg: &[u8], segment: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}
