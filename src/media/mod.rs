//! Image pipeline for story photos and advertiser creatives.
//!
//! [`process`] takes the raw bytes of an upload and produces two re-encoded
//! baseline JPEG renditions (a full-size one and a thumbnail). The steps are:
//!
//! 1. **Size check** against [`MediaLimits::max_upload_bytes`] ([`MediaError::TooLarge`]).
//! 2. **Sniffing** of the container from its magic bytes ([`sniff`]); declared
//!    content types and file names are never trusted ([`MediaError::Unsupported`]).
//! 3. **Header check**: the decoder is created from the sniffed format and only
//!    the header is parsed. Images whose header claims more than
//!    [`MediaLimits::max_pixels`] pixels or a side longer than
//!    [`MediaLimits::max_side`] are refused *before* any pixel buffer is
//!    allocated ([`MediaError::ImageTooLarge`]). [`image::Limits`] are then set
//!    on the decoder as a second guard.
//! 4. **Completeness check** for formats whose decoder tolerates truncation
//!    (see `jpeg_is_complete` and `webp_is_complete`), reading of the EXIF
//!    orientation from the decoder, then **decoding**. Anything corrupt,
//!    truncated or otherwise undecodable is [`MediaError::Invalid`].
//! 5. **Normalisation** to 8-bit RGB (alpha is flattened onto white),
//!    **resizing** with `fast_image_resize` according to [`Fit`] (computed on
//!    the oriented dimensions), application of the EXIF orientation (after
//!    the resize, see `fit_oriented`) and **re-encoding** as baseline JPEG.
//!    Because the output is encoded from raw pixels, no metadata of the
//!    upload (EXIF incl. GPS, XMP, IPTC, ICC profiles, comments, trailers)
//!    survives. The thumbnail is derived from the full rendition.
//!
//! The function is synchronous and CPU-bound; callers are expected to run it
//! on a blocking thread (e.g. `tokio::task::spawn_blocking`).

mod decode;
mod encode;
mod resize;
#[cfg(test)]
mod test_images;

pub use decode::sniff;

use decode::decode;
use encode::encode_jpeg;
use fast_image_resize::Resizer;
use image::ImageFormat;
use resize::{fit_image, fit_oriented, flatten_to_rgb8};
use std::panic::{self, AssertUnwindSafe};

/// Resource limits applied to every upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLimits {
    /// Maximum size of the uploaded (encoded) bytes.
    pub max_upload_bytes: usize,
    /// Maximum `width * height` claimed by the image header.
    pub max_pixels: u64,
    /// Maximum length of either side claimed by the image header.
    pub max_side: u32,
}

/// How an image is fitted into the target box of a [`PipelineSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Scale down to fit inside the box, keeping the aspect ratio. Never upscales.
    Within,
    /// Produce exactly the box size: scale to cover the box and centre-crop the overflow.
    Canvas,
}

/// Which of an image's stored sizes: the full image or its thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageSize {
    Full,
    Thumb,
}

/// One encoded output image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// Baseline JPEG bytes.
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Quoted strong entity tag: `"<first 16 bytes of sha256(bytes) in hex>"`.
    pub etag: String,
}

/// Result of [`process`]: the full-size rendition and its thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub full: Rendition,
    pub thumb: Rendition,
}

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MediaError {
    /// The upload is larger than [`MediaLimits::max_upload_bytes`] (HTTP 413 `payload_too_large`).
    #[error("upload exceeds the maximum allowed size")]
    TooLarge,
    /// The bytes are not a JPEG, PNG or WebP image (HTTP 415).
    #[error("unsupported media type: expected a JPEG, PNG or WebP image")]
    Unsupported,
    /// The image header claims more pixels or a longer side than allowed (HTTP 422).
    #[error("image dimensions {width}x{height} exceed the allowed limits")]
    ImageTooLarge { width: u32, height: u32 },
    /// The image is corrupt, truncated or cannot be decoded (HTTP 400 `invalid_image`).
    #[error("invalid image: {0}")]
    Invalid(String),
}

/// Target geometry and encoding parameters of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineSpec {
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    pub thumb_width: u32,
    pub thumb_height: u32,
    /// JPEG quality, 1..=100 (values outside are clamped).
    pub jpeg_quality: u8,
}

impl PipelineSpec {
    /// Story photos: fit within 1080x1920, thumbnail within 270x480.
    pub const STORY: PipelineSpec = PipelineSpec {
        width: 1080,
        height: 1920,
        fit: Fit::Within,
        thumb_width: 270,
        thumb_height: 480,
        jpeg_quality: 85,
    };

    /// Advertiser creatives: exactly 1080x1920 (cover + centre crop), thumbnail exactly 270x480.
    pub const CREATIVE: PipelineSpec = PipelineSpec {
        width: 1080,
        height: 1920,
        fit: Fit::Canvas,
        thumb_width: 270,
        thumb_height: 480,
        jpeg_quality: 85,
    };
}

/// Validates, decodes, orients, resizes and re-encodes an uploaded image.
///
/// See the [module documentation](self) for the exact sequence of checks.
/// This function never panics: as a last line of defence against bugs in
/// third-party decoders, a panic during decoding is caught and reported as
/// [`MediaError::Invalid`] (this requires the default `panic = "unwind"`).
///
/// # Errors
///
/// In this order: [`MediaError::TooLarge`] (upload bytes),
/// [`MediaError::Unsupported`] (not JPEG/PNG/WebP by magic bytes),
/// [`MediaError::ImageTooLarge`] (header dimensions, or a decoder limit),
/// [`MediaError::Invalid`] (zero-sized, truncated, corrupt or undecodable).
pub fn process(bytes: &[u8], limits: &MediaLimits, spec: &PipelineSpec) -> Result<Processed, MediaError> {
    if bytes.len() > limits.max_upload_bytes {
        return Err(MediaError::TooLarge);
    }
    let format = sniff(bytes).ok_or(MediaError::Unsupported)?;
    panic::catch_unwind(AssertUnwindSafe(|| process_format(bytes, format, limits, spec)))
        .unwrap_or_else(|_| Err(MediaError::Invalid("the image could not be decoded".to_owned())))
}

fn process_format(bytes: &[u8], format: ImageFormat, limits: &MediaLimits, spec: &PipelineSpec) -> Result<Processed, MediaError> {
    let (image, orientation) = decode(bytes, format, limits)?;
    let rgb = flatten_to_rgb8(image)?;

    let mut resizer = Resizer::new();
    let full = fit_oriented(&mut resizer, rgb, orientation, spec.width, spec.height, spec.fit)?;
    let full_rendition = encode_jpeg(&full, spec.jpeg_quality)?;
    // The full rendition is already oriented.
    let thumb = fit_image(&mut resizer, full, spec.thumb_width, spec.thumb_height, spec.fit)?;
    let thumb_rendition = encode_jpeg(&thumb, spec.jpeg_quality)?;

    Ok(Processed {
        full: full_rendition,
        thumb: thumb_rendition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_images::*;
    use image::{ExtendedColorType, Rgba, RgbaImage};

    #[test]
    fn non_images_are_unsupported() {
        let text = b"Hello, this is definitely not an image.\n".repeat(10);
        assert_eq!(process(&text, &LIMITS, &PipelineSpec::STORY), Err(MediaError::Unsupported));
        assert_eq!(
            process(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", &LIMITS, &PipelineSpec::STORY),
            Err(MediaError::Unsupported)
        );
        assert_eq!(process(b"", &LIMITS, &PipelineSpec::STORY), Err(MediaError::Unsupported));
    }

    #[test]
    fn oversized_upload_is_too_large_before_sniffing() {
        let jpeg = jpeg_bytes(&gradient(32, 32));
        let limits = MediaLimits {
            max_upload_bytes: jpeg.len() - 1,
            ..LIMITS
        };
        assert_eq!(process(&jpeg, &limits, &PipelineSpec::STORY), Err(MediaError::TooLarge));
        let text = vec![b'a'; jpeg.len()];
        assert_eq!(process(&text, &limits, &PipelineSpec::STORY), Err(MediaError::TooLarge));
        // Exactly at the limit is fine.
        let limits = MediaLimits {
            max_upload_bytes: jpeg.len(),
            ..LIMITS
        };
        assert!(process(&jpeg, &limits, &PipelineSpec::STORY).is_ok());
    }

    #[test]
    fn webp_input_works() {
        let webp = webp_lossless_bytes(&gradient(640, 480));
        assert_eq!(sniff(&webp), Some(ImageFormat::WebP));
        let out = process(&webp, &LIMITS, &PipelineSpec::STORY).unwrap();
        assert_dims(&out.full, 640, 480);
        assert_dims(&out.thumb, 270, 203);
        let out = process(&webp, &LIMITS, &PipelineSpec::CREATIVE).unwrap();
        assert_dims(&out.full, 1080, 1920);
    }

    #[test]
    fn mutated_inputs_never_panic() {
        // Exercises the pipeline *without* the catch_unwind guard of `process`.
        let image = gradient(48, 32);
        let alpha = RgbaImage::from_fn(40, 30, |x, y| Rgba([x as u8, y as u8, 7, (x * y) as u8]));
        let seeds = [
            splice_after_soi(&jpeg_bytes(&image), &exif_app1(6, None)),
            png_bytes(image.as_raw(), 48, 32, ExtendedColorType::Rgb8),
            png_bytes(alpha.as_raw(), 40, 30, ExtendedColorType::Rgba8),
            webp_lossless_bytes(&image),
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in &seeds {
            for _ in 0..150 {
                let mut bytes = seed.clone();
                let flips = 1 + next() % 4;
                for _ in 0..flips {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = next() as u8;
                }
                if next() % 4 == 0 {
                    let keep = (next() % bytes.len() as u64) as usize;
                    bytes.truncate(keep);
                }
                if let Some(format) = sniff(&bytes) {
                    let _ = process_format(&bytes, format, &LIMITS, &PipelineSpec::STORY);
                }
            }
        }
    }
}
