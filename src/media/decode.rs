//! Sniffing and decoding: the format from magic bytes, the limits from the header before any
//! pixel buffer exists, completeness of streams whose decoder tolerates truncation.

use super::{MediaError, MediaLimits};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use std::io::Cursor;

/// Extra allowance on top of the pixel buffer for decoder bookkeeping
/// (PNG ancillary chunks, ICC profiles, row buffers, ...).
const ALLOC_SLACK: u64 = 32 * 1024 * 1024;

/// Bytes per pixel assumed for the memory budget. 4 covers every 8-bit
/// colour type we decode (RGBA8 being the largest); 16-bit PNGs get their
/// real size (up to 8 for RGBA16) so that they are not refused by the second
/// guard while being within the pixel limits.
const BUDGET_BYTES_PER_PIXEL: u64 = 4;
const MAX_BYTES_PER_PIXEL: u64 = 8;

pub(super) const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Identifies JPEG, PNG and WebP from their magic bytes. Anything else is `None`.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        Some(ImageFormat::Png)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

/// Decodes `bytes` (already sniffed as `format`), enforcing the limits from
/// the header before any pixel buffer exists. Returns the pixels as stored
/// together with the EXIF orientation, which [`fit_oriented`] applies.
pub(super) fn decode(bytes: &[u8], format: ImageFormat, limits: &MediaLimits) -> Result<(DynamicImage, Orientation), MediaError> {
    // Budget for the header stage (before the colour type is known). Only the
    // PNG decoder allocates here (ancillary chunks such as iCCP/zTXt are
    // decompressed up front) and it honours `max_alloc`.
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(alloc_budget(limits.max_pixels, MAX_BYTES_PER_PIXEL));

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(header_limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| map_image_error(err, fallback_dimensions(bytes, format)))?;

    // Header check: nothing but the header has been parsed so far.
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::Invalid(format!("image has no pixels ({width}x{height})")));
    }
    check_dimensions(width, height, limits)?;

    // Second guard: strict dimension limits plus an allocation budget.
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel()).max(BUDGET_BYTES_PER_PIXEL);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(alloc_budget(limits.max_pixels, bytes_per_pixel));
    decoder
        .set_limits(decoder_limits.clone())
        .map_err(|err| map_image_error(err, (width, height)))?;
    // `DynamicImage::from_decoder` does not consult `max_alloc` itself, so
    // reserve the output buffer explicitly (as `ImageReader::decode` does).
    decoder_limits
        .reserve(decoder.total_bytes())
        .map_err(|err| map_image_error(err, (width, height)))?;

    let complete = match format {
        ImageFormat::Jpeg => jpeg_is_complete(bytes),
        ImageFormat::WebP => webp_is_complete(bytes),
        // The PNG decoder reports truncated image data itself.
        _ => true,
    };
    if !complete {
        return Err(MediaError::Invalid("the image data is truncated".to_owned()));
    }

    // Broken or missing EXIF data is not a reason to refuse an otherwise
    // decodable image; it just means "no transformation".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(|err| map_image_error(err, (width, height)))?;
    Ok((image, orientation))
}

fn alloc_budget(max_pixels: u64, bytes_per_pixel: u64) -> u64 {
    max_pixels.saturating_mul(bytes_per_pixel).saturating_add(ALLOC_SLACK)
}

fn check_dimensions(width: u32, height: u32, limits: &MediaLimits) -> Result<(), MediaError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels || width > limits.max_side || height > limits.max_side {
        Err(MediaError::ImageTooLarge { width, height })
    } else {
        Ok(())
    }
}

fn map_image_error(err: ImageError, (width, height): (u32, u32)) -> MediaError {
    match err {
        ImageError::Limits(_) => MediaError::ImageTooLarge { width, height },
        // Includes `ImageError::Unsupported` for exotic variants of a supported
        // container (e.g. arithmetic-coded JPEG): the type is one we accept,
        // this particular file is just not decodable.
        other => MediaError::Invalid(other.to_string()),
    }
}

/// Dimensions for an error raised while the decoder was still being
/// constructed (so `dimensions()` is not available). Only PNG has a
/// fixed-position header that is worth reading here; the JPEG and WebP
/// decoders do not allocate based on limits during construction.
fn fallback_dimensions(bytes: &[u8], format: ImageFormat) -> (u32, u32) {
    if format == ImageFormat::Png && bytes.get(12..16) == Some(b"IHDR") {
        let read = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(0, u32::from_be_bytes)
        };
        (read(16..20), read(20..24))
    } else {
        (0, 0)
    }
}

/// Returns whether a JPEG stream reaches its EOI marker.
///
/// The JPEG decoder used by `image` (zune-jpeg, which `image` runs in
/// non-strict mode) silently fills missing entropy-coded data with grey, so a
/// truncated upload would otherwise turn into a half-grey photo. Simply
/// checking that the file *ends* with `FF D9` is not good enough:
///
/// * many real files carry data after EOI (Google/Samsung "motion photos"
///   append an MP4, some cameras append maker trailers), which must be accepted;
/// * an EXIF APP1 segment may embed a complete thumbnail JPEG (with its own
///   SOS and EOI) that must not be mistaken for the main image's end.
///
/// So the stream is walked structurally: marker segments are skipped by their
/// declared length, entropy-coded data after each SOS is scanned for the next
/// real marker (`FF 00` stuffing and `RSTn` are part of the data), and the
/// walk succeeds at the first EOI. Entropy-coded data cannot contain `FF D9`,
/// so a file cut anywhere before its EOI is reported incomplete. Like libjpeg,
/// the walk tolerates fill bytes and stray bytes between segments.
fn jpeg_is_complete(data: &[u8]) -> bool {
    let len = data.len();
    // Position 0..2 is SOI (guaranteed by `sniff`).
    let mut pos = 2;
    loop {
        // Find the next marker prefix, skipping stray bytes, then fill bytes.
        match data.get(pos..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) {
            Some(offset) => pos += offset,
            None => return false,
        }
        while data.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = data.get(pos) else {
            return false;
        };
        pos += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers without a length field (and a stray `FF 00`).
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(&[hi, lo]) = data.get(pos..pos + 2) else {
            return false;
        };
        let segment_len = usize::from(u16::from_be_bytes([hi, lo]));
        if segment_len < 2 || pos + segment_len > len {
            return false;
        }
        pos += segment_len;
        if marker == 0xDA {
            // Entropy-coded data follows the SOS header.
            match skip_entropy_coded_data(data, pos) {
                Some(next) => pos = next,
                None => return false,
            }
        }
    }
}

/// Starting inside entropy-coded data, returns the position of the `FF` that
/// introduces the next real marker, or `None` if the data runs out first.
fn skip_entropy_coded_data(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        let mut next = pos + 1;
        while data.get(next) == Some(&0xFF) {
            next += 1;
        }
        match *data.get(next)? {
            // Byte stuffing and restart markers belong to the scan.
            0x00 | 0xD0..=0xD7 => pos = next + 1,
            _ => return Some(next - 1),
        }
    }
}

/// Returns whether the RIFF container of a WebP file is fully present.
///
/// `image-webp` itself reports truncated bitstreams (both the lossless and
/// the lossy decoder track reads past the end), so this is a cheap,
/// decoder-independent guard with a clearer error: a WebP whose RIFF header
/// announces more data than was uploaded is treated as truncated, which is
/// also what libwebp does when it is told that it has all the data. Trailing
/// bytes after the RIFF payload are ignored.
fn webp_is_complete(data: &[u8]) -> bool {
    let Some(size) = data.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_le_bytes) else {
        return false;
    };
    u64::from(size) + 8 <= data.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_images::*;
    use crate::media::*;
    use image::ExtendedColorType;

    #[test]
    fn sniffs_magic_bytes_only() {
        let png = png_bytes(&[0, 0, 0], 1, 1, ExtendedColorType::Rgb8);
        assert_eq!(sniff(&jpeg_bytes(&gradient(8, 8))), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(&png), Some(ImageFormat::Png));
        assert_eq!(sniff(&webp_lossless_bytes(&gradient(8, 8))), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00"), None);
        assert_eq!(sniff(b"RIFF\x24\x00\x00\x00WAVEfmt "), None);
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(b"\xFF\xD8"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(&png[..7]), None);
    }

    #[test]
    fn png_header_claiming_huge_dimensions_is_refused_before_decoding() {
        let png = png_with_header(30_000, 30_000);
        assert!(png.len() < 200, "test PNG is {} bytes", png.len());
        assert_eq!(
            process(&png, &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::ImageTooLarge {
                width: 30_000,
                height: 30_000
            })
        );
        // Few pixels, but one side is over `max_side`.
        assert_eq!(
            process(&png_with_header(30_000, 10), &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::ImageTooLarge { width: 30_000, height: 10 })
        );
    }

    #[test]
    fn jpeg_header_claiming_huge_dimensions_is_refused() {
        let mut jpeg = jpeg_bytes(&gradient(16, 16));
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).expect("SOF0 present");
        // FF C0, length (2), precision (1), height (2), width (2).
        jpeg[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
        assert_eq!(
            process(&jpeg, &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::ImageTooLarge {
                width: 50_000,
                height: 60_000
            })
        );
    }

    #[test]
    fn zero_sized_image_is_invalid() {
        assert!(matches!(
            process(&png_with_header(0, 0), &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::Invalid(_))
        ));
        assert!(matches!(
            process(&png_with_header(0, 100), &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::Invalid(_))
        ));
    }

    fn assert_invalid(bytes: &[u8], what: &str) {
        match process(bytes, &LIMITS, &PipelineSpec::STORY) {
            Err(MediaError::Invalid(_)) => {}
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn truncated_images_are_invalid() {
        let jpeg = jpeg_bytes(&gradient(320, 240));
        assert_invalid(&jpeg[..jpeg.len() / 2], "JPEG cut in half");
        assert_invalid(&jpeg[..jpeg.len() - 2], "JPEG without EOI");
        assert_invalid(&jpeg[..100], "JPEG cut inside the header");

        let image = gradient(320, 240);
        let png = png_bytes(image.as_raw(), 320, 240, ExtendedColorType::Rgb8);
        assert_invalid(&png[..png.len() / 2], "PNG cut in half");
        assert_invalid(&png[..40], "PNG cut after IHDR");

        let webp = webp_lossless_bytes(&image);
        assert_invalid(&webp[..webp.len() / 2], "WebP cut in half");
    }

    #[test]
    fn truncated_jpeg_with_complete_embedded_thumbnail_is_invalid() {
        // The EXIF segment carries a complete JPEG (SOS … EOI) that must not be
        // mistaken for the end of the main image.
        let thumbnail = jpeg_bytes(&gradient(16, 16));
        let main = jpeg_bytes(&gradient(320, 240));
        let input = splice_after_soi(&main, &exif_app1(1, Some(&thumbnail)));
        assert!(process(&input, &LIMITS, &PipelineSpec::STORY).is_ok());
        assert_invalid(&input[..input.len() - 1000], "main image truncated");
    }

    #[test]
    fn data_after_jpeg_eoi_is_accepted() {
        // e.g. "motion photos" append an MP4 after the JPEG's EOI.
        let mut jpeg = jpeg_bytes(&gradient(320, 240));
        jpeg.extend_from_slice(b"\0\0\0\x18ftypmp42\0\0\0\0isommp42");
        jpeg.extend(std::iter::repeat_n(0xAB, 4096));
        let out = process(&jpeg, &LIMITS, &PipelineSpec::STORY).unwrap();
        assert_dims(&out.full, 320, 240);
    }

    #[test]
    fn jpeg_completeness_walk() {
        let jpeg = jpeg_bytes(&gradient(64, 64));
        assert!(jpeg_is_complete(&jpeg));
        let mut padded = jpeg.clone();
        padded.extend_from_slice(&[0, 0, 0, 0xFF, 0xFF]);
        assert!(jpeg_is_complete(&padded));
        for cut in [3, 20, jpeg.len() / 2, jpeg.len() - 2, jpeg.len() - 1] {
            assert!(!jpeg_is_complete(&jpeg[..cut]), "cut at {cut}");
        }
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF"));
        assert!(!jpeg_is_complete(b"\xFF\xD8\xFF\xE0\x00\x01"));
    }

    #[test]
    fn limits_errors_map_to_image_too_large() {
        let err = ImageError::Limits(image::error::LimitError::from_kind(
            image::error::LimitErrorKind::InsufficientMemory,
        ));
        assert_eq!(map_image_error(err, (7, 9)), MediaError::ImageTooLarge { width: 7, height: 9 });
        assert_eq!(fallback_dimensions(&png_with_header(123, 456), ImageFormat::Png), (123, 456));
    }
}
