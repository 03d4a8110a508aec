//! Reading files for the Publish view (scans of files and folders, folder listings for the
//! in-app browser) and publishing them.

use std::path::{Path, PathBuf};

use busker_core::{Library, PublishOptions};

use super::net::Net;
use super::{DirEntry, PublishItem, PublishStep, ScannedFile, Tags};

/// At most this many files are taken from one folder scan.
const MAX_SCAN_FILES: usize = 10_000;

pub(super) fn scan(paths: &[PathBuf]) -> Vec<ScannedFile> {
    let mut files = Vec::new();
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let room = MAX_SCAN_FILES.saturating_sub(files.len());
            match busker_core::audio_files(path, room) {
                Ok(found) => files.extend(found),
                Err(e) => out.push(ScannedFile {
                    path: path.clone(),
                    tags: Err(format!("cannot read folder: {e}")),
                }),
            }
        } else {
            files.push(path.clone());
        }
    }
    for path in files {
        let tags = std::fs::read(&path)
            .map_err(|e| format!("cannot read file: {e}"))
            .and_then(|bytes| {
                busker_core::media::probe(bytes, &path)
                    .map(|p| Tags {
                        title: p.info.title,
                        artist: p.info.artist,
                        album: p.info.album,
                        duration_ms: p.info.duration_ms,
                    })
                    .map_err(|e| e.to_string())
            });
        out.push(ScannedFile { path, tags });
    }
    out
}

pub(super) fn list_dir(dir: &Path) -> Result<Vec<DirEntry>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    let mut entries: Vec<DirEntry> = read
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                return None;
            }
            let path = e.path();
            let is_dir = path.is_dir();
            (is_dir || busker_core::is_audio_file(&path)).then_some(DirEntry { name, path, is_dir })
        })
        .collect();
    entries.sort_by(|a, b| {
        (!a.is_dir, a.name.to_lowercase()).cmp(&(!b.is_dir, b.name.to_lowercase()))
    });
    Ok(entries)
}

/// Publishes one file with its edited tags, and says why its cover was refused if it was.
/// Peers are told on the node's runtime: the worker goes on without waiting for the network.
pub(super) fn publish(
    library: &Library,
    net: &Net,
    item: &PublishItem,
) -> (PublishStep, Option<String>) {
    let non_empty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let options = PublishOptions {
        title: non_empty(&item.title),
        artist: non_empty(&item.artist),
        album: non_empty(&item.album),
    };
    let (manifest, refused) = match library.publish_file_noting(&item.path, &options) {
        Ok(published) => published,
        Err(e) => return (PublishStep::Failed(e.source.to_string()), None),
    };
    let note = refused.map(|r| format!("{}: {r}", item.path.display()));
    let step = match library.summary(&manifest) {
        Ok(s) => PublishStep::Done(Box::new(s)),
        Err(e) => PublishStep::Failed(e.to_string()),
    };
    net.announce(manifest);
    (step, note)
}
