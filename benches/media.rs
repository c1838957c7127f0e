//! Benchmarks of the upload image pipeline (`statusd::media::process`).
//!
//! Inputs are generated in the setup: a 12-megapixel (4000x3000) JPEG, as a
//! phone camera would produce, and a 1-megapixel PNG. Both contain gradients
//! plus noise so that they are not trivially compressible.

#[path = "support/photo.rs"]
mod photo;
use photo::synthetic_photo;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};
use statusd::media::{MediaLimits, PipelineSpec, process};

const LIMITS: MediaLimits = MediaLimits {
    max_upload_bytes: 32 * 1024 * 1024,
    max_pixels: 40_000_000,
    max_side: 10_000,
};

fn jpeg_input(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&synthetic_photo(width, height))
        .expect("encode benchmark JPEG");
    out
}

/// Inserts an EXIF APP1 segment with orientation 6 ("rotate 90° clockwise"),
/// as phone cameras write for portrait photos.
fn with_exif_rotate90(jpeg: &[u8]) -> Vec<u8> {
    let mut app1 = vec![0xFF, 0xE1, 0x00, 0x00];
    app1.extend_from_slice(b"Exif\0\0MM\x00\x2A\x00\x00\x00\x08");
    app1.extend_from_slice(&[0x00, 0x01]); // one IFD entry
    app1.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00]);
    app1.extend_from_slice(&[0x00; 4]); // no next IFD
    let len = u16::try_from(app1.len() - 2).expect("small segment");
    app1[2..4].copy_from_slice(&len.to_be_bytes());
    let mut out = jpeg[..2].to_vec();
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn png_input(width: u32, height: u32) -> Vec<u8> {
    let image = synthetic_photo(width, height);
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .expect("encode benchmark PNG");
    out
}

fn bench_process(c: &mut Criterion) {
    let jpeg = jpeg_input(4000, 3000);
    let inputs = [
        ("jpeg_4000x3000_exif6", with_exif_rotate90(&jpeg)),
        ("jpeg_4000x3000", jpeg),
        ("png_1000x1000", png_input(1000, 1000)),
    ];
    let specs = [("story", PipelineSpec::STORY), ("creative", PipelineSpec::CREATIVE)];

    let mut group = c.benchmark_group("media_process");
    for (input_name, bytes) in &inputs {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        for (spec_name, spec) in &specs {
            // Fail loudly in the setup rather than benchmarking an error path.
            process(bytes, &LIMITS, spec).expect("benchmark input processes");
            group.bench_with_input(BenchmarkId::new(*spec_name, input_name), bytes, |b, bytes| {
                b.iter(|| process(black_box(bytes), &LIMITS, spec))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Only two cores on the build machine: keep it short.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench_process
}
criterion_main!(benches);
