//! Audio: probing, decoding, sinks and resampling, over any byte source.
//!
//! How the parts fit: a [`TrackDecoder`] turns any symphonia `MediaSource` (a file, bytes in
//! memory, or a track streaming in from the chunk store, [`crate::stream::ChunkSource`]) into
//! [`PcmBlock`]s at the track's own bit depth; an [`AudioSink`] records them ([`WavSink`]), keeps
//! time with them ([`NullSink`]) or plays them ([`PulseSink`]); for a device sink, `DeviceOut`
//! maps the channels and runs a [`Resampler`] to the device's rate. [`crate::Player`] and the
//! radio listener drive all this. A source whose bytes are still arriving speaks
//! [`StreamingSource`], so a chunk that did not come is reported as such. This module knows
//! nothing of the store or the network.
//!
//! [`probe`] reads a whole file's bytes and answers what a manifest needs, cheaply: it reads the
//! container headers and tags, decodes the first packet to prove the codec really works, and, when
//! the container declares its length, decodes the last second to prove the file is whole. A file
//! that is not audio, is damaged or is cut short gets a [`MediaError`] naming the reason.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use symphonia::core::codecs::{CODEC_TYPE_NULL, Decoder, DecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTagKey};
use symphonia::core::probe::Hint;

use crate::model::{Format, TrackInfo};

mod decode;
mod device_out;
mod packets;
mod picture;
mod resample;
mod sink;
mod streaming;

pub use decode::{Pcm, PcmBlock, PcmSpec, SampleFormat, TrackDecoder};
pub(crate) use device_out::DeviceOut;
pub use packets::{
    EncodedPacket, MAX_SETUP, PacketCodec, PacketDecoder, PacketReader, PacketSetup, RadioSource,
};
pub use resample::Resampler;
#[cfg(feature = "cpal")]
pub use sink::CpalSink;
pub use sink::{AudioSink, NullSink, PulseSink, SinkInput, WavSink, open_device, wav_header};
pub use streaming::{FailureSlot, SourceError, StreamingSource};

/// Why a file cannot be published or played. Errors that came from the operating system keep
/// it as their [`source`](std::error::Error::source).
#[derive(Debug, Clone, thiserror::Error)]
pub enum MediaError {
    /// Not a container or codec Busker reads (MP3, FLAC, Ogg Vorbis, WAV).
    #[error("not a supported audio file ({0})")]
    Unsupported(String),
    /// The container holds no audio track.
    #[error("no audio track in the file")]
    NoAudioTrack,
    /// The audio data is damaged.
    #[error("damaged audio data: {0}")]
    Corrupt(String),
    /// The file ends before the length its header declares, or before its stream's end mark.
    #[error("file is truncated: {}", describe_truncation(*found_ms, *declared_ms))]
    Truncated {
        /// Where the audio really ends.
        found_ms: u64,
        /// The length the header declares, when it declares one.
        declared_ms: Option<u64>,
    },
    /// A chunk of a track that is not here did not arrive in time (no peer sent it).
    #[error("chunk {0} of the track did not arrive in time")]
    ChunkTimeout(usize),
    /// The read was cancelled (a skip, a seek or a shutdown); not a failure.
    #[error("cancelled")]
    Cancelled,
    /// Reading the track's bytes failed (the store, or the file).
    #[error("could not read the track: {0}")]
    Source(String),
    /// Reading the track's bytes failed with an I/O error.
    #[error("could not read the track: {0}")]
    Read(#[source] Arc<std::io::Error>),
    /// The audio output failed (device gone, a recording refused a second format).
    #[error("audio output: {0}")]
    Output(String),
    /// The recording file could not be created.
    #[error("audio output: {}: {source}", path.display())]
    CreateFile {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: Arc<std::io::Error>,
    },
    /// Writing the recording failed (disk full, file gone).
    #[error("audio output: {0}")]
    Write(#[source] Arc<std::io::Error>),
}

fn describe_truncation(found_ms: u64, declared_ms: Option<u64>) -> String {
    match declared_ms {
        Some(declared) => format!("audio ends at {found_ms} ms of a declared {declared} ms"),
        None => format!("the stream stops at {found_ms} ms without its end-of-stream mark"),
    }
}

impl From<SourceError> for MediaError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Timeout { index, .. } => MediaError::ChunkTimeout(index),
            SourceError::Cancelled => MediaError::Cancelled,
            SourceError::Store(s) => MediaError::Source(s),
        }
    }
}

impl MediaError {
    fn from_symphonia(e: SymphoniaError) -> Self {
        match e {
            SymphoniaError::Unsupported(what) => Self::Unsupported(what.to_owned()),
            SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                Self::Corrupt("unexpected end of file".to_owned())
            }
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// What [`probe`] learns of a file. `info.title` falls back to the file name when there is no
/// title tag; `info.artist` is empty when there is no artist tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Tags and stream parameters, ready for a manifest.
    pub info: TrackInfo,
    /// Total frames (samples per channel), when known.
    pub frames: Option<u64>,
    /// The picture embedded in the tags (ID3v2 APIC, FLAC PICTURE, Vorbis
    /// METADATA_BLOCK_PICTURE): the front cover, else the first one. Unchecked bytes: the
    /// caller decides whether it is a usable cover.
    pub picture: Option<Vec<u8>>,
}

/// Opens a container with symphonia. `extension` (without the dot) helps it guess the format.
/// Errors keep their meaning for streaming sources (a chunk that timed out, a cancelled wait);
/// anything else that stops the probe means the bytes are not a container Busker reads.
pub(crate) fn open_format(
    source: Box<dyn MediaSource>,
    extension: Option<&str>,
) -> Result<(Box<dyn FormatReader>, Option<MetadataRevision>), MediaError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let mut probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions {
                enable_gapless: true,
                ..FormatOptions::default()
            },
            &MetadataOptions::default(),
        )
        .map_err(|e| match decode::map_error(e) {
            MediaError::Corrupt(_) | MediaError::Source(_) | MediaError::Read(_) => {
                MediaError::Unsupported("unrecognised container".to_owned())
            }
            other => other,
        })?;
    let tags = probed.metadata.get().and_then(|m| m.current().cloned());
    Ok((probed.format, tags))
}

/// Probes a file's bytes: format, codec, rate, channels, duration and tags. `file_name` gives
/// the extension hint and the title fallback.
pub fn probe(bytes: Vec<u8>, file_name: &Path) -> Result<Probe, MediaError> {
    guard(|| probe_unguarded(Cursor::new(bytes), file_name))
}

/// [`probe`] of a file on disk, read as a stream: never held in memory whole.
pub fn probe_file(path: &Path) -> Result<Probe, MediaError> {
    let file = std::fs::File::open(path).map_err(|e| MediaError::Read(Arc::new(e)))?;
    guard(|| probe_unguarded(file, path))
}

/// Runs symphonia code so that a panic inside it (its demuxers have arithmetic that overflows on
/// some damaged files) becomes a [`MediaError::Corrupt`] instead of taking the peer down.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(MediaError::Corrupt(
            "the decoder gave up on damaged data".to_owned(),
        ))
    })
}

fn probe_unguarded(
    mut source: impl MediaSource + 'static,
    file_name: &Path,
) -> Result<Probe, MediaError> {
    let (id3v1, ogg_complete) =
        pre_checks(&mut source).map_err(|e| MediaError::Read(Arc::new(e)))?;
    let extension = file_name
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let (mut format, outer_tags) = open_format(Box::new(source), extension.as_deref())?;

    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(MediaError::NoAudioTrack)?
        .clone();
    let params = &track.codec_params;
    let codecs = symphonia::default::get_codecs();
    let codec = codecs
        .get_codec(params.codec)
        .map(|d| d.short_name.to_owned())
        .ok_or_else(|| MediaError::Unsupported("unknown codec".to_owned()))?;
    let mut decoder = codecs
        .make(params, &DecoderOptions::default())
        .map_err(MediaError::from_symphonia)?;
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| MediaError::Corrupt("no sample rate".to_owned()))?;

    // The first packet must decode: this is what proves the file is real audio.
    let first_channels = decode_first(&mut *format, &mut *decoder, track.id)?;
    let channels = params
        .channels
        .map(|c| c.count())
        .unwrap_or(first_channels)
        .min(u8::MAX as usize) as u8;

    let frames = match params.n_frames {
        Some(declared) => {
            check_tail(&mut *format, &mut *decoder, track.id, declared, sample_rate)?;
            Some(declared)
        }
        None => count_frames(&mut *format, track.id)?,
    };
    let duration_ms = frames.map_or(0, |f| f * 1000 / sample_rate as u64);
    if !ogg_complete {
        return Err(MediaError::Truncated {
            found_ms: duration_ms,
            declared_ms: None,
        });
    }

    let inner = format.metadata();
    let revisions = [outer_tags.as_ref(), inner.current()];
    let picture = picture::embedded(revisions.iter().flatten().copied());
    let mut info = TrackInfo {
        format: format_of(&codec, extension.as_deref()),
        codec,
        sample_rate,
        channels,
        duration_ms,
        ..TrackInfo::default()
    };
    for revision in revisions.into_iter().flatten() {
        apply_tags(&mut info, revision);
    }
    if let Some(v1) = id3v1 {
        for (field, value) in [
            (&mut info.title, v1.title),
            (&mut info.artist, v1.artist),
            (&mut info.album, v1.album),
        ] {
            if field.is_empty() {
                *field = value;
            }
        }
    }
    if info.title.trim().is_empty() {
        info.title = title_from_file_name(file_name);
    }
    Ok(Probe {
        info: info.normalized(),
        frames,
        picture,
    })
}

fn decode_first(
    format: &mut dyn FormatReader,
    decoder: &mut dyn Decoder,
    track_id: u32,
) -> Result<usize, MediaError> {
    // Skip packets that decode to nothing (encoder delay, headers); give up after a few.
    for _ in 0..64 {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(_)) => {
                return Err(MediaError::Corrupt(
                    "no audio packet could be read".to_owned(),
                ));
            }
            Err(e) => return Err(MediaError::from_symphonia(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let audio = decoder
            .decode(&packet)
            .map_err(MediaError::from_symphonia)?;
        if audio.frames() > 0 {
            return Ok(audio.spec().channels.count());
        }
    }
    Err(MediaError::Corrupt(
        "no audio in the first packets".to_owned(),
    ))
}

/// Seeks to the last second the header promises and decodes to the end, so a file cut short is
/// caught without decoding all of it.
fn check_tail(
    format: &mut dyn FormatReader,
    decoder: &mut dyn Decoder,
    track_id: u32,
    declared: u64,
    sample_rate: u32,
) -> Result<(), MediaError> {
    let rate = sample_rate as u64;
    let tail_start = declared.saturating_sub(rate);
    let to_ms = |frames: u64| frames * 1000 / rate;
    let truncated = |found: u64| MediaError::Truncated {
        found_ms: to_ms(found),
        declared_ms: Some(to_ms(declared)),
    };
    let seeked = format.seek(
        SeekMode::Accurate,
        SeekTo::TimeStamp {
            ts: tail_start,
            track_id,
        },
    );
    let mut end = match seeked {
        Ok(to) => to.actual_ts,
        Err(SymphoniaError::SeekError(_)) | Err(SymphoniaError::IoError(_)) => {
            return Err(truncated(0));
        }
        Err(e) => return Err(MediaError::from_symphonia(e)),
    };
    decoder.reset();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymphoniaError::IoError(_)) => break,
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => return Err(MediaError::from_symphonia(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(audio) => end = end.max(packet.ts() + audio.frames() as u64),
            // A damaged last packet is what a cut file looks like; judge by where audio ends.
            Err(SymphoniaError::DecodeError(_)) | Err(SymphoniaError::IoError(_)) => break,
            Err(e) => return Err(MediaError::from_symphonia(e)),
        }
    }
    // Allow for encoder padding and the granularity of the last packet (a tenth of a second).
    if end + rate / 10 < declared {
        return Err(truncated(end));
    }
    Ok(())
}

/// Counts frames by reading packets without decoding them (for containers with no length).
fn count_frames(format: &mut dyn FormatReader, track_id: u32) -> Result<Option<u64>, MediaError> {
    let mut end = 0;
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == track_id => end = end.max(p.ts() + p.dur()),
            Ok(_) => {}
            Err(SymphoniaError::IoError(_)) => return Ok(Some(end)),
            Err(e) => return Err(MediaError::from_symphonia(e)),
        }
    }
}

fn format_of(codec: &str, extension: Option<&str>) -> Format {
    match (codec, extension) {
        ("mp3", _) | (_, Some("mp3")) => Format::Mp3,
        ("flac", _) => Format::Flac,
        ("vorbis", _) | (_, Some("ogg" | "oga")) => Format::Ogg,
        (c, _) if c.starts_with("pcm") => Format::Wav,
        _ => Format::Other,
    }
}

fn apply_tags(info: &mut TrackInfo, revision: &MetadataRevision) {
    for tag in revision.tags() {
        let value = tag.value.to_string();
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let slot = match tag.std_key {
            Some(StandardTagKey::TrackTitle) => &mut info.title,
            Some(StandardTagKey::Artist) | Some(StandardTagKey::AlbumArtist)
                if info.artist.is_empty() =>
            {
                &mut info.artist
            }
            Some(StandardTagKey::Album) => &mut info.album,
            Some(StandardTagKey::TrackNumber) if info.track == 0 => {
                info.track = picture::leading_number(value);
                continue;
            }
            Some(StandardTagKey::DiscNumber) if info.disc == 0 => {
                info.disc = picture::leading_number(value);
                continue;
            }
            Some(StandardTagKey::Genre) => {
                info.tags
                    .extend(value.split([';', ',', '/']).map(|s| s.trim().to_owned()));
                continue;
            }
            _ => continue,
        };
        if slot.is_empty() {
            *slot = value.to_owned();
        }
    }
}

/// What a probe checks in the file itself before symphonia reads the stream: the ID3v1 tag in
/// the last 128 bytes, and whether an Ogg file is complete. Reads the tail and, for Ogg, the page
/// headers only; leaves `source` at its start.
fn pre_checks(source: &mut (impl Read + Seek)) -> std::io::Result<(Option<Id3v1>, bool)> {
    let len = source.seek(SeekFrom::End(0))?;
    let mut id3v1 = None;
    if len >= 128 {
        let mut tag = [0; 128];
        source.seek(SeekFrom::End(-128))?;
        source.read_exact(&mut tag)?;
        id3v1 = read_id3v1(&tag);
    }
    let mut magic = [0; 4];
    source.seek(SeekFrom::Start(0))?;
    let is_ogg = len >= 4 && source.read_exact(&mut magic).is_ok() && &magic == b"OggS";
    let complete = !is_ogg || ogg_ends_with_eos(source, len)?;
    source.seek(SeekFrom::Start(0))?;
    Ok((id3v1, complete))
}

/// Whether an Ogg file is a whole chain of pages whose last one carries the end-of-stream flag.
/// Ogg declares no length up front, so this is how a file cut short is told from a short file.
/// Walking the page headers reads 27 bytes and a segment table per page.
fn ogg_ends_with_eos(source: &mut (impl Read + Seek), len: u64) -> std::io::Result<bool> {
    const HEADER: u64 = 27;
    let (mut pos, mut last_header_type) = (0u64, 0u8);
    let (mut header, mut table) = ([0u8; HEADER as usize], [0u8; 255]);
    while pos < len {
        if len - pos < HEADER {
            return Ok(false);
        }
        source.seek(SeekFrom::Start(pos))?;
        source.read_exact(&mut header)?;
        let segments = header[26] as usize;
        if &header[..4] != b"OggS" || len - pos < HEADER + segments as u64 {
            return Ok(false);
        }
        source.read_exact(&mut table[..segments])?;
        let body: u64 = table[..segments].iter().map(|&b| u64::from(b)).sum();
        let page = HEADER + segments as u64 + body;
        if len - pos < page {
            return Ok(false);
        }
        last_header_type = header[5];
        pos += page;
    }
    Ok(last_header_type & 0x04 != 0)
}

/// The fields of an ID3v1 tag (the last 128 bytes of many MP3 files).
struct Id3v1 {
    title: String,
    artist: String,
    album: String,
}

fn read_id3v1(bytes: &[u8]) -> Option<Id3v1> {
    let tag = bytes.get(bytes.len().checked_sub(128)?..)?;
    if &tag[..3] != b"TAG" {
        return None;
    }
    // ID3v1 text is Latin-1, padded with NULs or spaces.
    let field = |range: std::ops::Range<usize>| -> String {
        let raw = &tag[range];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        raw[..end]
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .trim()
            .to_owned()
    };
    Some(Id3v1 {
        title: field(3..33),
        artist: field(33..63),
        album: field(63..93),
    })
}

/// "opsound_manolo_camp-morning_coffee.tagged.flac" -> "opsound manolo camp-morning coffee.tagged"
fn title_from_file_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let title = stem.replace('_', " ");
    if title.trim().is_empty() {
        "Untitled".to_owned()
    } else {
        title
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> (Vec<u8>, PathBuf) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../assets/audio")
            .join(name);
        (std::fs::read(&path).unwrap(), path)
    }

    fn probe_fixture(name: &str) -> Probe {
        let (bytes, path) = fixture(name);
        probe(bytes, &path).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    #[test]
    fn reads_id3v2_tags_and_mp3_parameters() {
        let p = probe_fixture("pg10284_spring_of_love_1903.id3v2_3.mp3");
        assert_eq!(p.info.title, "Spring of love");
        assert_eq!(p.info.album, "Edison Concert cylinder 8404");
        assert_eq!(p.info.format, Format::Mp3);
        assert_eq!(p.info.sample_rate, 44_100);
        assert_eq!(p.info.channels, 1);
        assert!(
            (138_000..140_000).contains(&p.info.duration_ms),
            "{}",
            p.info.duration_ms
        );
    }

    #[test]
    fn reads_vorbis_comments_in_flac_and_ogg() {
        for name in [
            "opsound_manolo_camp-morning_coffee.tagged.flac",
            "opsound_manolo_camp-morning_coffee.tagged.ogg",
        ] {
            let p = probe_fixture(name);
            assert_eq!(p.info.title, "Morning Coffee", "{name}");
            assert_eq!(p.info.artist, "Manolo Camp", "{name}");
            assert_eq!(p.info.sample_rate, 8000);
            assert_eq!((p.info.track, p.info.disc), (4, 0), "{name}: TRACKNUMBER=4");
            assert_eq!(p.picture, None);
            assert!(
                (73_000..73_200).contains(&p.info.duration_ms),
                "{name}: {}",
                p.info.duration_ms
            );
        }
        let flac = probe_fixture("opsound_manolo_camp-morning_coffee.tagged.flac");
        assert_eq!(flac.frames, Some(584_771));
        assert_eq!(flac.info.format, Format::Flac);
    }

    #[test]
    fn an_embedded_front_cover_comes_out_of_the_probe_as_it_was_put_in() {
        let (flac, path) = fixture("opsound_manolo_camp-morning_coffee.tagged.flac");
        let png = crate::test_utils::cover_png(40, 30, 3);
        let with = crate::test_utils::flac_with_picture(&flac, &png, "image/png");
        let p = probe(with, &path).unwrap();
        assert_eq!(p.picture, Some(png));
        assert_eq!(p.info.title, "Morning Coffee", "the tags are still read");
        assert_eq!(p.frames, Some(584_771), "and the audio");
    }

    #[test]
    fn an_id3v2_apic_picture_comes_out_of_the_probe_as_it_was_put_in() {
        let (mp3, path) = fixture("pg10284_spring_of_love_1903.id3v2_3.mp3");
        let jpeg = crate::test_utils::cover_jpeg(48, 48, 4);
        let with = crate::test_utils::mp3_with_picture(&mp3, "Pictured", &jpeg, "image/jpeg");
        let p = probe(with, &path).unwrap();
        assert_eq!(p.picture, Some(jpeg));
        assert_eq!(p.info.title, "Pictured");
    }

    #[test]
    fn every_bundled_file_probes_and_untagged_ones_use_the_file_name() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/audio");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !["mp3", "flac", "ogg", "oga", "wav"].contains(&ext) {
                continue;
            }
            let p = probe(std::fs::read(&path).unwrap(), &path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!p.info.title.is_empty());
            assert!(p.info.duration_ms > 0, "{}", path.display());
            n += 1;
        }
        assert_eq!(n, 15);
        // The demo library's music: tags read from ID3v2 and Vorbis comments, whole durations.
        for (name, title, artist, secs) in [
            (
                "asc_kievernagel_time_to_strike.mp3",
                "Time to Strike",
                "Michael Kievernagel",
                324,
            ),
            (
                "hyperrogue_parrotte_graveyard.ogg",
                "Graveyard",
                "Shawn Parrotte",
                126,
            ),
            (
                "hyperrogue_domina_mountain.ogg",
                "Mountain",
                "Lincoln Domina",
                87,
            ),
        ] {
            let p = probe_fixture(name);
            assert_eq!(
                (p.info.title.as_str(), p.info.artist.as_str()),
                (title, artist)
            );
            assert_eq!(p.info.duration_ms / 1000, secs, "{name}");
        }
        let wav = probe_fixture("opsound_manolo_camp-morning_coffee.wav");
        assert_eq!(wav.info.format, Format::Wav);
        assert_eq!(wav.frames, Some(584_771));
        let kick = probe_fixture("sonicpi_drum_heavy_kick.flac");
        assert_eq!(kick.info.title, "sonicpi drum heavy kick");
        assert_eq!(kick.frames, Some(11_913));
    }

    #[test]
    fn not_audio_is_unsupported() {
        let err = probe(
            b"just some text, not audio at all".repeat(100),
            Path::new("notes.mp3"),
        )
        .unwrap_err();
        assert!(
            matches!(err, MediaError::Unsupported(_) | MediaError::Corrupt(_)),
            "{err}"
        );
        assert!(probe(Vec::new(), Path::new("empty.flac")).is_err());
    }

    #[test]
    fn truncated_files_are_caught() {
        for name in [
            "opsound_manolo_camp-morning_coffee.tagged.flac",
            "opsound_manolo_camp-morning_coffee.wav",
            "opsound_manolo_camp-morning_coffee.tagged.ogg",
            "sonicpi_loop_tabla.flac",
        ] {
            let (mut bytes, path) = fixture(name);
            bytes.truncate(bytes.len() / 2);
            let err = probe(bytes, &path).expect_err(name);
            assert!(
                matches!(err, MediaError::Truncated { .. } | MediaError::Corrupt(_)),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let (bytes, path) = fixture("sonicpi_guit_em9.flac");
        for step in [7usize, 101, 997, 4099] {
            let mut damaged = bytes.clone();
            for i in (0..damaged.len()).step_by(step) {
                damaged[i] ^= 0x5a;
            }
            let _ = probe(damaged, &path);
        }
    }
}
