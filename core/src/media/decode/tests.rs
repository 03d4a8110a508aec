use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::Duration;

use md5::{Digest, Md5};

use super::*;

fn audio_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/audio")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(audio_dir().join(name)).unwrap()
}

fn ext(name: &str) -> Option<&str> {
    Path::new(name).extension().and_then(|e| e.to_str())
}

/// Decodes a whole file; returns the spec, the frames and the MD5 of the little-endian PCM.
fn decode_all(name: &str) -> (PcmSpec, u64, [u8; 16], Vec<PcmBlock>) {
    let mut d = TrackDecoder::from_bytes(fixture(name), ext(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let spec = d.spec();
    let mut md5 = Md5::new();
    let mut frames = 0u64;
    let mut blocks = Vec::new();
    let mut bytes = Vec::new();
    while let Some(block) = d.next_block().unwrap_or_else(|e| panic!("{name}: {e}")) {
        assert_eq!(block.start_frame, frames, "{name}: blocks are contiguous");
        frames += (block.pcm.len() / spec.channels as usize) as u64;
        bytes.clear();
        block.pcm.write_le(&spec, &mut bytes);
        md5.update(&bytes);
        blocks.push(block);
    }
    (spec, frames, md5.finalize().into(), blocks)
}

fn audio_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(audio_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            crate::library::AUDIO_EXTENSIONS
                .iter()
                .any(|x| n.ends_with(x))
        })
        .collect();
    names.sort();
    names
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_bundled_file_decodes_and_flac_matches_its_streaminfo_md5() {
    let names = audio_files();
    assert_eq!(names.len(), 15);
    let mut flacs = 0;
    for name in &names {
        let (spec, frames, md5, _) = decode_all(name);
        assert!(frames > 1000, "{name}: {frames} frames");
        let declared = TrackDecoder::from_bytes(fixture(name), ext(name))
            .unwrap()
            .declared_md5();
        if name.ends_with(".flac") {
            flacs += 1;
            assert_eq!(spec.format, SampleFormat::Int(16), "{name}");
            let declared = declared.unwrap_or_else(|| panic!("{name}: no STREAMINFO MD5"));
            assert_eq!(hex(&md5), hex(&declared), "{name}: decoded PCM differs");
        }
        if name.ends_with(".mp3") || name.ends_with(".ogg") || name.ends_with(".oga") {
            assert_eq!(spec.format, SampleFormat::Float, "{name}");
        }
    }
    assert_eq!(flacs, 6);
}

#[test]
fn decoded_sample_counts_match_the_published_figures() {
    for (name, frames) in [
        ("sonicpi_ambi_piano.flac", 123_998),
        ("sonicpi_guit_em9.flac", 439_768),
        ("sonicpi_guit_em9.tagged.flac", 439_768),
        ("sonicpi_loop_tabla.flac", 470_723),
        ("sonicpi_drum_heavy_kick.flac", 11_913),
        ("opsound_manolo_camp-morning_coffee.tagged.flac", 584_771),
        ("opsound_manolo_camp-morning_coffee.wav", 584_771),
    ] {
        assert_eq!(decode_all(name).1, frames, "{name}");
    }
}

#[test]
fn tagged_flac_decodes_to_exactly_the_samples_of_its_wav() {
    let (flac_spec, flac_frames, flac_md5, flac) =
        decode_all("opsound_manolo_camp-morning_coffee.tagged.flac");
    let (wav_spec, wav_frames, wav_md5, wav) = decode_all("opsound_manolo_camp-morning_coffee.wav");
    assert_eq!(flac_spec, wav_spec);
    assert_eq!(
        flac_spec,
        PcmSpec {
            sample_rate: 8000,
            channels: 1,
            format: SampleFormat::Int(16)
        }
    );
    assert_eq!((flac_frames, wav_frames), (584_771, 584_771));
    assert_eq!(hex(&flac_md5), "2fefa6459d3073bb71817b652530860f");
    assert_eq!(flac_md5, wav_md5);
    let all = |blocks: Vec<PcmBlock>| -> Vec<i16> {
        blocks
            .into_iter()
            .flat_map(|b| match b.pcm {
                Pcm::I16(v) => v,
                other => panic!("not 16-bit: {other:?}"),
            })
            .collect()
    };
    assert!(all(flac) == all(wav));
}

#[test]
fn seeking_lands_on_the_requested_frame_with_the_same_samples() {
    for name in [
        "sonicpi_loop_tabla.flac",
        "opsound_manolo_camp-morning_coffee.wav",
        "opsound_manolo_camp-morning_coffee.tagged.ogg",
        "pg10284_spring_of_love_1903.id3v2_3.mp3",
    ] {
        let (spec, _, _, blocks) = decode_all(name);
        let ch = spec.channels as usize;
        let reference: Vec<f32> = blocks
            .iter()
            .flat_map(|b| b.pcm.to_f32(spec.format))
            .collect();
        let mut d = TrackDecoder::from_bytes(fixture(name), ext(name)).unwrap();
        for target in [300_000u64, 1234, 100_001] {
            d.seek(target).unwrap();
            let block = d.next_block().unwrap().unwrap();
            let landed = block.start_frame;
            // Accurate seeking: at the frame asked for, or within one packet of it (a lossy
            // decoder needs one packet after a seek before it produces audio again).
            assert!(
                landed.abs_diff(target) <= 4608,
                "{name}: asked {target}, got {landed}"
            );
            if spec.format != SampleFormat::Float {
                assert_eq!(landed, target, "{name}: lossless seeks are sample-exact");
            }
            let got = block.pcm.to_f32(spec.format);
            let at = landed as usize * ch;
            let n = got.len().min(256);
            let err = got[..n]
                .iter()
                .zip(&reference[at..at + n])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Lossless formats match exactly; lossy codecs restart their overlap after a seek.
            let tolerance = if spec.format == SampleFormat::Float {
                0.5
            } else {
                0.0
            };
            assert!(err <= tolerance, "{name} at {landed}: error {err}");
        }
    }
}

/// Decodes `bytes` to the end on a thread; fails the test instead of hanging.
fn decode_damaged(bytes: Vec<u8>, name: &str) -> Result<u64, MediaError> {
    let (tx, rx) = sync_channel(1);
    let ext = ext(name).map(str::to_owned);
    std::thread::spawn(move || {
        let result = (|| {
            let mut d = TrackDecoder::from_bytes(bytes, ext.as_deref())?;
            let mut frames = 0u64;
            let _ = d.seek(1000);
            let _ = d.seek(0);
            while let Some(b) = d.next_block()? {
                frames += b.pcm.len() as u64;
            }
            Ok(frames)
        })();
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{name}: decoding damaged data hung or panicked"))
}

#[test]
fn truncated_and_corrupted_files_stop_cleanly_or_fail_without_panic_or_hang() {
    for name in audio_files() {
        let bytes = fixture(&name);
        for cut in [0usize, 10, 100, 1000, bytes.len() / 3, bytes.len() - 7] {
            let _ = decode_damaged(bytes[..cut.min(bytes.len())].to_vec(), &name);
        }
        for (step, seed) in [(97usize, 0x5au8), (1021, 0xff), (4099, 0x01)] {
            let mut damaged = bytes.clone();
            for i in (64..damaged.len()).step_by(step) {
                damaged[i] ^= seed;
            }
            let _ = decode_damaged(damaged, &name);
        }
    }
}

#[test]
fn an_empty_stereo_block_converts_to_no_samples_instead_of_panicking() {
    use symphonia::core::audio::{AsAudioBufferRef, AudioBuffer, Channels, Signal, SignalSpec};
    // A stereo Vorbis stream's first packet decodes to no frames; symphonia's interleaving
    // sliced an empty buffer from the second channel's index and panicked.
    let spec = SignalSpec::new(44_100, Channels::FRONT_LEFT | Channels::FRONT_RIGHT);
    let mut empty = AudioBuffer::<f32>::new(1024, spec);
    empty.render_reserved(Some(0));
    for format in [
        SampleFormat::Int(16),
        SampleFormat::Int(24),
        SampleFormat::Float,
    ] {
        let pcm = to_pcm(empty.as_audio_buffer_ref(), format);
        assert_eq!(pcm.len(), 0, "{format:?}");
    }
}
