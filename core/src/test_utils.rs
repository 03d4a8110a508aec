//! Helpers for tests and benches in other crates (feature `test-utils`). They panic on setup
//! failures, as test code does.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use crate::{Library, LibraryOptions};

/// The repository's `assets/audio/` folder of free test recordings.
pub fn audio_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/audio")
}

/// One file of `assets/audio/`.
pub fn audio_fixture(name: &str) -> PathBuf {
    audio_dir().join(name)
}

/// A data dir as an older build left it: `tests/fixtures/<name>`, copied into `to` (see
/// `tests/fixtures/datadir-v1/README.md`).
pub fn copy_fixture_dir(name: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name);
    copy_dir(&from, to);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a fixture copy");
    for entry in std::fs::read_dir(from).expect("read a fixture dir") {
        let entry = entry.expect("read a fixture dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("fixture file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a fixture file");
        }
    }
}

/// A library on a fresh temporary data dir, without the demo tracks. Keep the `TempDir` alive
/// as long as the library.
pub fn temp_library() -> (tempfile::TempDir, Library) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let library = Library::open(LibraryOptions::new(dir.path()).seed_demo(false))
        .expect("open a library on a fresh data dir");
    (dir, library)
}

/// A valid 16-bit stereo 44.1 kHz WAV file of about `bytes` bytes whose samples depend on `seed`,
/// so that every seed gives a different track.
pub fn wav_bytes(bytes: usize, seed: u32) -> Vec<u8> {
    wav_pcm16(44_100, 2, (bytes.saturating_sub(44) / 4) as u32, seed)
}

/// A 16-bit PCM WAV file of `frames` frames at `rate` Hz with `channels` channels, samples from
/// a noise generator seeded by `seed` (every seed a different track).
pub fn wav_pcm16(rate: u32, channels: u16, frames: u32, seed: u32) -> Vec<u8> {
    let data_len = frames * channels as u32 * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
    out.extend_from_slice(&(channels * 2).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    for _ in 0..data_len / 2 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&((x >> 18) as i16 - 8192).to_le_bytes());
    }
    out
}

/// Writes [`wav_bytes`] to `dir/name` and returns the path.
pub fn write_wav(dir: &Path, name: &str, bytes: usize, seed: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wav_bytes(bytes, seed)).expect("write a test wav file");
    path
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until a network has settled: `connections` (a count over all its peers) stays the same
/// over three checks 500 ms apart, or 60 s pass. Returns the last count. A network of peers that
/// all joined at once keeps dialling for 10-25 s (Kademlia's bootstrap queries): figures taken
/// in that storm measure the storm.
pub async fn settle<F, Fut>(mut connections: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = usize::MAX;
    let mut stable = 0;
    loop {
        let total = connections().await;
        stable = if total == last { stable + 1 } else { 0 };
        last = total;
        if stable >= 3 || tokio::time::Instant::now() > deadline {
            return total;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// What a three-minute 44.1 kHz stereo MP3 says of itself, with these names: the track info
/// of the benches' made-up catalogs.
pub fn mp3_info(
    title: String,
    artist: String,
    album: String,
    tags: Vec<String>,
) -> crate::model::TrackInfo {
    crate::model::TrackInfo {
        title,
        artist,
        album,
        tags,
        format: crate::model::Format::Mp3,
        codec: "mp3".into(),
        sample_rate: 44_100,
        channels: 2,
        duration_ms: 180_000,
        track: 0,
        disc: 0,
        cover: None,
    }
}

/// A release of `content` titled `title`, signed by `key` and dated `published_at` (Unix
/// seconds): what a peer would announce.
pub fn signed_release(
    key: &crate::model::ArtistKeypair,
    content: &[u8],
    title: &str,
    published_at: u64,
) -> crate::model::Manifest {
    let (chunk_size, chunks) = crate::model::split_chunks(content).expect("publishable content");
    crate::model::ManifestDraft {
        info: crate::model::TrackInfo {
            title: title.to_owned(),
            ..crate::model::TrackInfo::default()
        },
        file_size: content.len() as u64,
        chunk_size,
        chunks,
        published_at,
    }
    .sign(key)
}

/// A node on a fresh temporary data dir (no demo tracks), listening on loopback. Keep the
/// `TempDir` alive as long as the node, and where the process goes on afterwards, drop the
/// node before it (the tuple drops the `TempDir` first): sled can hang for good in the flush
/// it runs on drop when its directory is gone.
pub async fn start_node(options: crate::NodeOptions) -> (tempfile::TempDir, crate::Node) {
    let (dir, library) = temp_library();
    let node = crate::Node::start(std::sync::Arc::new(library), options)
        .await
        .expect("start a node");
    (dir, node)
}

/// A content source that holds nothing (no manifest, no chunk, an empty catalog, no radio
/// segment): for raw peers in tests and benches that only ask (flooders, listeners of gossip).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptySource;

impl crate::transfer::protocol::Source for EmptySource {
    fn manifest(&self, _: &crate::model::TrackId) -> Option<Vec<u8>> {
        None
    }
    fn chunks(&self, _: &crate::model::TrackId, _: u32, _: u16, _: usize) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

impl crate::catalog::protocol::Source for EmptySource {
    fn catalog(
        &self,
        _: Option<crate::model::TrackId>,
        _: usize,
    ) -> (Vec<crate::catalog::CatalogEntry>, bool) {
        (Vec::new(), false)
    }
    fn manifest(&self, _: &crate::model::TrackId) -> Option<Vec<u8>> {
        None
    }
}

impl crate::radio::protocol::Source for EmptySource {
    fn segments(&self, _: &crate::radio::ChannelId, _: Option<u64>) -> Vec<Vec<u8>> {
        Vec::new()
    }
}

/// The services of a raw peer that holds nothing ([`EmptySource`]): it speaks every protocol
/// of a node (the transfer, the catalog and the radio protocols answer empty, the taste
/// exchange refuses) and takes the release topic, so it can ask and gossip like one.
pub fn empty_services() -> crate::net::Services {
    let source = std::sync::Arc::new(EmptySource);
    crate::net::Services::default()
        .protocol(crate::transfer::offer(source.clone()))
        .protocol(crate::catalog::offer(source.clone()))
        .topic(crate::catalog::releases_topic())
        .max_message(crate::catalog::MAX_ANNOUNCE_BYTES)
        .protocol(crate::taste::offer(|_, _| None))
        .protocol(crate::radio::offer(source))
        .max_message(crate::radio::MAX_SEGMENT_BYTES)
}

/// A track as lists show it, for tests of code that only reads summaries: id and key made of
/// the bytes `id` and `key`, a local track held by one peer, published at time 0.
pub fn summary(id: u8, key: u8, info: crate::model::TrackInfo) -> crate::TrackSummary {
    crate::TrackSummary {
        id: crate::model::TrackId([id; 32]),
        artist_key: crate::model::ArtistKey([key; 32]),
        info,
        published_at: 0,
        local: true,
        providers: 1,
        cover_local: false,
        same_audio_as: None,
        remote: false,
    }
}

/// A `width` x `height` RGB image of colour bands that depend on `seed`, pixels only.
fn cover_pixels(width: u32, height: u32, seed: u8) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let band = ((x / 8 + y / 8) as u8).wrapping_mul(37).wrapping_add(seed);
        image::Rgb([band, seed.wrapping_mul(91), (x ^ y) as u8])
    })
}

/// A PNG cover of `width` x `height` pixels; every seed a different image.
pub fn cover_png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    cover_pixels(width, height, seed)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a PNG");
    out.into_inner()
}

/// A JPEG cover of `width` x `height` pixels; every seed a different image.
pub fn cover_jpeg(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    cover_pixels(width, height, seed)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode a JPEG");
    out.into_inner()
}

/// `flac` with a FLAC PICTURE metadata block (type 3, front cover) holding `picture` put right
/// after its STREAMINFO block: what a tagger writes when it embeds a cover.
pub fn flac_with_picture(flac: &[u8], picture: &[u8], mime: &str) -> Vec<u8> {
    assert_eq!(&flac[..4], b"fLaC", "not a FLAC file");
    let streaminfo_len = u32::from_be_bytes([0, flac[5], flac[6], flac[7]]) as usize;
    let streaminfo_end = 8 + streaminfo_len;
    let streaminfo_was_last = flac[4] & 0x80 != 0;
    let mut body = Vec::new();
    for field in [3u32, mime.len() as u32] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    body.extend_from_slice(mime.as_bytes());
    body.extend_from_slice(&0u32.to_be_bytes()); // no description
    for field in [0u32, 0, 0, 0, picture.len() as u32] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    body.extend_from_slice(picture);
    let mut out = Vec::with_capacity(flac.len() + body.len() + 4);
    out.extend_from_slice(b"fLaC");
    out.push(flac[4] & 0x7F); // STREAMINFO is no longer the last block
    out.extend_from_slice(&flac[5..streaminfo_end]);
    let len = body.len() as u32;
    out.push(6 | if streaminfo_was_last { 0x80 } else { 0 });
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&body);
    out.extend_from_slice(&flac[streaminfo_end..]);
    out
}

/// `mp3` with its ID3v2 tag (if any) replaced by an ID3v2.3 tag holding a title and an APIC
/// frame (type 3, front cover) with `picture`: what a tagger writes when it embeds a cover.
pub fn mp3_with_picture(mp3: &[u8], title: &str, picture: &[u8], mime: &str) -> Vec<u8> {
    let syncsafe = |b: &[u8]| {
        b.iter()
            .fold(0usize, |n, &x| (n << 7) | usize::from(x & 0x7F))
    };
    let audio = if mp3.starts_with(b"ID3") {
        &mp3[10 + syncsafe(&mp3[6..10])..]
    } else {
        mp3
    };
    let frame = |id: &[u8; 4], body: &[u8]| {
        let mut f = id.to_vec();
        f.extend_from_slice(&(body.len() as u32).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(body);
        f
    };
    let mut tit2 = vec![0];
    tit2.extend_from_slice(title.as_bytes());
    let mut apic = vec![0];
    apic.extend_from_slice(mime.as_bytes());
    apic.extend_from_slice(&[0, 3, 0]);
    apic.extend_from_slice(picture);
    let frames = [frame(b"TIT2", &tit2), frame(b"APIC", &apic)].concat();
    let size = frames.len();
    let mut out = b"ID3\x03\x00\x00".to_vec();
    out.extend((0..4).rev().map(|i| ((size >> (7 * i)) & 0x7F) as u8));
    out.extend_from_slice(&frames);
    out.extend_from_slice(audio);
    out
}
