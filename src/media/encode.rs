//! Encoding: baseline JPEG from raw pixels (so no metadata of the upload survives) and its
//! entity tag.

use super::{MediaError, Rendition};
use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;
use sha2::{Digest, Sha256};

pub(super) fn encode_jpeg(image: &RgbImage, quality: u8) -> Result<Rendition, MediaError> {
    let (width, height) = image.dimensions();
    // Baseline JPEG; 85 % quality typically needs < 1 byte per pixel.
    let mut bytes = Vec::with_capacity(image.as_raw().len() / 4);
    JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100))
        .encode_image(image)
        .map_err(|err| MediaError::Invalid(format!("JPEG encoding failed: {err}")))?;
    let digest = Sha256::digest(&bytes);
    let etag = format!("\"{}\"", hex::encode(&digest[..16]));
    Ok(Rendition {
        bytes,
        width,
        height,
        etag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_images::*;
    use crate::media::*;

    #[test]
    fn output_is_baseline_jpeg_without_metadata_segments() {
        let input = splice_after_soi(&jpeg_bytes(&gradient(64, 48)), &exif_app1(1, None));
        let out = process(&input, &LIMITS, &PipelineSpec::STORY).unwrap();
        for rendition in [&out.full, &out.thumb] {
            let markers = header_markers(&rendition.bytes);
            assert!(markers.contains(&0xC0), "baseline SOF0 expected: {markers:x?}");
            assert!(!markers.contains(&0xC2), "progressive output: {markers:x?}");
            assert!(
                !markers.iter().any(|m| (0xE1..=0xEF).contains(m)),
                "unexpected APPn segment: {markers:x?}"
            );
            assert_eq!(sniff(&rendition.bytes), Some(ImageFormat::Jpeg));
        }
    }

    #[test]
    fn etags_are_quoted_sha256_prefixes() {
        let jpeg = jpeg_bytes(&gradient(600, 400));
        let out = process(&jpeg, &LIMITS, &PipelineSpec::STORY).unwrap();
        for rendition in [&out.full, &out.thumb] {
            let digest = Sha256::digest(&rendition.bytes);
            let expected = format!("\"{}\"", hex::encode(&digest[..16]));
            assert_eq!(rendition.etag, expected);
            assert_eq!(rendition.etag.len(), 34);
        }
        assert_ne!(out.full.etag, out.thumb.etag);
        // Deterministic: the same upload yields the same etags.
        assert_eq!(process(&jpeg, &LIMITS, &PipelineSpec::STORY).unwrap(), out);
    }
}
