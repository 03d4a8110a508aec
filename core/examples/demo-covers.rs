//! Draws the demo library's covers (`assets/covers/*.jpg`, CC0, credited in
//! `assets/CREDITS.md`): one procedural picture per demo track, 600 x 600 px JPEG. Run once
//! from the repository root; the output is committed, so builds never run this.
//!
//! ```sh
//! cargo run -p busker-core --example demo-covers
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::f32::consts::PI;
use std::path::Path;

use image::{Rgb, RgbImage};

const SIDE: u32 = 600;

/// A picture: the colour at `(x, y)`, both from 0 to 1.
type Draw = fn(f32, f32) -> [f32; 3];

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * t)
}

fn rgb(c: [f32; 3]) -> Rgb<u8> {
    Rgb(c.map(|v| v.clamp(0.0, 255.0) as u8))
}

/// A wax cylinder seen end on: sepia grooves around a dark core.
fn cylinder(x: f32, y: f32) -> [f32; 3] {
    let (dx, dy) = (x - 0.5, y - 0.5);
    let r = (dx * dx + dy * dy).sqrt();
    let groove = (r * 260.0).sin() * 0.5 + 0.5;
    let paper = mix([112.0, 74.0, 38.0], [226.0, 196.0, 150.0], y);
    if r < 0.12 {
        return [60.0, 40.0, 24.0];
    }
    if r > 0.44 {
        return paper;
    }
    mix([70.0, 46.0, 26.0], [150.0, 104.0, 60.0], groove * (1.0 - r))
}

/// A cup from above, steam curling over it.
fn coffee(x: f32, y: f32) -> [f32; 3] {
    let (dx, dy) = (x - 0.5, y - 0.62);
    let r = (dx * dx + dy * dy).sqrt();
    let background = mix([250.0, 214.0, 160.0], [214.0, 120.0, 60.0], y);
    let steam = ((y * 9.0 + (x * 12.0).sin() * 0.6) * PI).sin().abs();
    let mut c = if r < 0.2 {
        mix([60.0, 32.0, 16.0], [120.0, 70.0, 36.0], r / 0.2)
    } else if r < 0.25 {
        [245.0, 240.0, 232.0]
    } else {
        background
    };
    if y < 0.4 && (x - 0.5).abs() < 0.2 && steam > 0.92 {
        c = mix(c, [255.0, 255.0, 255.0], 0.7);
    }
    c
}

/// Red and black strikes.
fn strike(x: f32, y: f32) -> [f32; 3] {
    let band = ((x + y) * 7.0).fract();
    let zigzag = ((y * 4.0).fract() - 0.5).abs() * 0.4 - 0.1;
    let bolt = (x - 0.5 - zigzag).abs() < 0.035;
    if bolt {
        return [255.0, 230.0, 90.0];
    }
    if band < 0.5 {
        mix([150.0, 0.0, 10.0], [230.0, 30.0, 20.0], y)
    } else {
        [18.0, 14.0, 16.0]
    }
}

/// A moon over a row of stones.
fn graveyard(x: f32, y: f32) -> [f32; 3] {
    let sky = mix([20.0, 24.0, 60.0], [90.0, 40.0, 110.0], y);
    let (mx, my) = (x - 0.7, y - 0.25);
    if (mx * mx + my * my).sqrt() < 0.1 {
        return [240.0, 236.0, 200.0];
    }
    let dx = (x * 5.0).fract() - 0.5;
    let stone = dx.abs() < 0.18;
    let top = 0.66 + (dx / 0.18).powi(2) * 0.05;
    if y > 0.88 {
        return [20.0, 50.0, 30.0];
    }
    if stone && y > top {
        return [120.0, 124.0, 130.0];
    }
    sky
}

/// Ridges fading into the distance.
fn mountain(x: f32, y: f32) -> [f32; 3] {
    let mut c = mix([180.0, 214.0, 240.0], [250.0, 240.0, 220.0], y);
    for (i, tone) in [
        [90.0, 120.0, 160.0],
        [50.0, 80.0, 120.0],
        [24.0, 44.0, 70.0],
    ]
    .into_iter()
    .enumerate()
    {
        let i = i as f32;
        let peak = 0.3 + i * 0.2;
        let ridge = peak + ((x * (3.0 + i) + i).sin() * 0.5 + 0.5) * 0.18
            - (0.5 - (x - 0.3 - i * 0.2).abs()).max(0.0) * 0.5;
        if y > ridge {
            c = tone;
        }
    }
    c
}

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/covers");
    std::fs::create_dir_all(&out).unwrap();
    let covers: [(&str, Draw); 5] = [
        ("spring_of_love", cylinder),
        ("morning_coffee", coffee),
        ("time_to_strike", strike),
        ("graveyard", graveyard),
        ("mountain", mountain),
    ];
    for (name, draw) in covers {
        let image = RgbImage::from_fn(SIDE, SIDE, |x, y| {
            rgb(draw(x as f32 / SIDE as f32, y as f32 / SIDE as f32))
        });
        let path = out.join(format!("{name}.jpg"));
        let mut file = std::fs::File::create(&path).unwrap();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 85)
            .encode_image(&image)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let cover = busker_core::cover::check(&bytes).expect("a usable cover");
        println!(
            "{}: {} bytes, {} x {}",
            path.display(),
            cover.bytes,
            cover.width,
            cover.height
        );
    }
    // Whether the demo files carry pictures of their own (their embedded picture would win).
    for name in [
        "pg10284_spring_of_love_1903.id3v2_3.mp3",
        "opsound_manolo_camp-morning_coffee.tagged.ogg",
        "asc_kievernagel_time_to_strike.mp3",
        "hyperrogue_parrotte_graveyard.ogg",
        "hyperrogue_domina_mountain.ogg",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/audio")
            .join(name);
        let probe = busker_core::media::probe_file(&path).unwrap();
        println!("{name}: embedded picture: {}", probe.picture.is_some());
    }
}
