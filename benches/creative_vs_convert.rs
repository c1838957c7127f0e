//! The creative pipeline next to ImageMagick's `convert` doing the same work on the same file.
//!
//! Input: a 12-megapixel (4000×3000) photo-like JPEG (gradients plus per-pixel noise, quality 90),
//! written to a temporary directory. Both sides read that file and write a 1080×1920 cover-and-
//! centre-crop rendition (quality 85, no metadata) and a 270×480 thumbnail derived from it:
//!
//! * **statusd**: read the file, `media::process(.., &PipelineSpec::CREATIVE)` (sniff, header
//!   checks, decode, orient, fit, thumbnail, encode), write both renditions.
//! * **convert**: `convert in.jpg -auto-orient -resize 1080x1920^ -gravity center -extent 1080x1920
//!   -strip -quality 85 -write full.jpg -resize 270x480 thumb.jpg` — one process, one decode, the
//!   thumbnail taken from the full rendition, exactly like the pipeline. It runs once as installed
//!   (OpenMP on every core) and once with `MAGICK_THREAD_LIMIT=1`, since the pipeline uses one core
//!   per image and statusd processes `media.max_concurrent` images side by side.
//!
//! statusd is timed in-process; `convert` as a process, so its start-up (loading the program and
//! its delegates) is timed too, as `convert` turning a 1×1 JPEG into another, and reported apart:
//! the work-only comparison subtracts it.
//!
//! The runs alternate (statusd, convert, convert ×1 thread, convert start-up, statusd, …) so that
//! a busy machine slows all of them alike; medians are reported. `convert` is the Debian package's
//! `/usr/bin/convert` (`apt-get install imagemagick`), or `$STATUSD_BENCH_CONVERT`; without it the
//! bench says so and skips. `STATUSD_BENCH_ROUNDS` sets the number of rounds (default 15).
//!
//! Run: `cargo bench --bench creative_vs_convert`.

#[path = "support/photo.rs"]
mod photo;
use image::codecs::jpeg::JpegEncoder;
use photo::synthetic_photo;
use statusd::media::{MediaLimits, PipelineSpec, process};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LIMITS: MediaLimits = MediaLimits {
    max_upload_bytes: 32 * 1024 * 1024,
    max_pixels: 50_000_000,
    max_side: 16_384,
};

fn find_convert() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("STATUSD_BENCH_CONVERT") {
        return Some(PathBuf::from(path));
    }
    let debian = Path::new("/usr/bin/convert");
    debian.exists().then(|| debian.to_path_buf())
}

fn statusd_once(input: &Path, out: &Path) -> Duration {
    let started = Instant::now();
    let bytes = std::fs::read(input).expect("read input");
    let result = process(&bytes, &LIMITS, &PipelineSpec::CREATIVE).expect("pipeline");
    std::fs::write(out.join("statusd-full.jpg"), &result.full.bytes).expect("write");
    std::fs::write(out.join("statusd-thumb.jpg"), &result.thumb.bytes).expect("write");
    started.elapsed()
}

fn convert_once(convert: &Path, input: &Path, out: &Path, threads: Option<u32>) -> Duration {
    let mut cmd = Command::new(convert);
    cmd.arg(input)
        .args([
            "-auto-orient",
            "-resize",
            "1080x1920^",
            "-gravity",
            "center",
            "-extent",
            "1080x1920",
        ])
        .args(["-strip", "-quality", "85", "-write"])
        .arg(out.join("convert-full.jpg"))
        .args(["-resize", "270x480"])
        .arg(out.join("convert-thumb.jpg"));
    if let Some(n) = threads {
        cmd.env("MAGICK_THREAD_LIMIT", n.to_string());
    }
    let started = Instant::now();
    let status = cmd.status().expect("convert runs");
    let took = started.elapsed();
    assert!(status.success(), "convert failed: {status}");
    took
}

/// `convert` doing almost nothing: a 1×1 JPEG in, a 1×1 JPEG out.
fn convert_startup_once(convert: &Path, tiny: &Path, out: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(convert)
        .arg(tiny)
        .args(["-strip", "-quality", "85"])
        .arg(out.join("convert-tiny.jpg"))
        .status()
        .expect("convert runs");
    let took = started.elapsed();
    assert!(status.success(), "convert failed: {status}");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this with no such flag: keep
    // that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("creative_vs_convert: run with `cargo bench --bench creative_vs_convert`");
        return;
    }
    let Some(convert) = find_convert() else {
        println!("creative_vs_convert: skipped, ImageMagick's convert is not installed (apt-get install imagemagick)");
        return;
    };
    let rounds: usize = std::env::var("STATUSD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let dir = std::env::temp_dir().join(format!("statusd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("in.jpg");
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&synthetic_photo(4000, 3000))
        .expect("encode input");
    std::fs::write(&input, &jpeg).expect("write input");
    let tiny = dir.join("tiny.jpg");
    image::RgbImage::new(1, 1).save(&tiny).expect("write the 1x1 input");
    println!(
        "input: 4000x3000 JPEG, {:.1} MB; {rounds} alternating rounds; convert = {}",
        jpeg.len() as f64 / 1e6,
        convert.display()
    );

    // Warm-up (page cache, lazy initialisation), and a check that both produce the same shapes.
    statusd_once(&input, &dir);
    convert_once(&convert, &input, &dir, None);
    for (name, w, h) in [("full", 1080, 1920), ("thumb", 270, 480)] {
        for tool in ["statusd", "convert"] {
            let img = image::open(dir.join(format!("{tool}-{name}.jpg"))).expect("output decodes");
            assert_eq!((img.width(), img.height()), (w, h), "{tool} {name}");
        }
    }

    let (mut ours, mut theirs, mut theirs_single, mut startup) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(statusd_once(&input, &dir));
        theirs.push(convert_once(&convert, &input, &dir, None));
        theirs_single.push(convert_once(&convert, &input, &dir, Some(1)));
        startup.push(convert_startup_once(&convert, &tiny, &dir));
    }
    let (a, b, c, d) = (median(ours), median(theirs), median(theirs_single), median(startup));
    println!("statusd media::process (1 thread)      median {:>7.1} ms", ms(a));
    println!("convert (as installed, all cores)      median {:>7.1} ms", ms(b));
    println!("convert (MAGICK_THREAD_LIMIT=1)        median {:>7.1} ms", ms(c));
    println!("convert start-up (1x1 JPEG)            median {:>7.1} ms", ms(d));
    println!(
        "ratio convert / statusd: {:.2}x (all cores), {:.2}x (one thread); without convert's start-up: {:.2}x, {:.2}x; above 1 means statusd is faster",
        ms(b) / ms(a),
        ms(c) / ms(a),
        (ms(b) - ms(d)) / ms(a),
        (ms(c) - ms(d)) / ms(a)
    );
    std::fs::remove_dir_all(&dir).ok();
}
