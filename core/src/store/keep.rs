//! What outlives a database that no longer opens: the signed manifests of the tracks held here,
//! as files, and a journal of what the user did.
//!
//! - `manifests/<track id>`: the encoded manifest of every track whose audio is here, written
//!   (through a temporary name) before the track is marked local. Signed, so a rebuild checks
//!   each one like a manifest from the network.
//! - `journal`: one line per rating, block, follow, listen and playlist change, appended as they happen
//!   (`rate ID STARS`, `block KEY 0|1`, `follow KEY 0|1`, `listen AT_MS ID play|skip:POS|complete`,
//!   `playlist RECORD_HEX`, `unplaylist ID`, `star ID 0|1`). Started with a snapshot of
//!   what the database held when the journal did not exist yet.
//!
//! When sled refuses to open the database (damaged files, a foreign version), [`Store::open`]
//! renames it aside (never deletes it), creates a new one, and rebuilds it from these: every
//! manifest, local when its blob is here, then the journal replayed. The search index follows
//! on its own (it is rebuilt when it disagrees with the store).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Listen, ListenKind, Store};
use crate::error::{Error, Result};
use crate::model::{ArtistKey, Manifest, TrackId};

/// Where the manifest files and the journal live.
#[derive(Debug)]
pub(super) struct Keep {
    manifests: PathBuf,
    journal_path: PathBuf,
    journal: Mutex<Option<File>>,
}

/// What a rebuild found, for the message that says what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebuilt {
    /// Where the database that would not open was moved.
    pub set_aside: PathBuf,
    /// Why it would not open.
    pub reason: String,
    /// Tracks brought back from their manifest files.
    pub tracks: usize,
    /// Journal lines replayed (ratings, blocks, listens).
    pub replayed: usize,
}

impl std::fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database would not open ({}); it was set aside as {} and rebuilt from the \
             files beside it: {} tracks, {} ratings, blocks and listens",
            self.reason,
            self.set_aside.display(),
            self.tracks,
            self.replayed
        )
    }
}

impl Keep {
    pub(super) fn new(root: &Path) -> Result<Self> {
        let manifests = root.join("manifests");
        fs::create_dir_all(&manifests).map_err(|e| Error::io(&manifests, e))?;
        Ok(Self {
            manifests,
            journal_path: root.join("journal"),
            journal: Mutex::new(None),
        })
    }

    /// Whether a journal or any manifest file is here (a data dir that held something).
    pub(super) fn holds_anything(&self) -> Result<bool> {
        let mut files = fs::read_dir(&self.manifests).map_err(|e| Error::io(&self.manifests, e))?;
        Ok(self.journal_path.exists() || files.next().is_some())
    }

    fn manifest_path(&self, id: &TrackId) -> PathBuf {
        self.manifests.join(id.to_hex())
    }

    /// Writes the manifest file of a track about to be marked local: whole or not at all
    /// (through a temporary name). Not synced: it is the copy of what the database holds, and
    /// a publish of many small files would pay a second sync for each.
    pub(super) fn put_manifest(&self, manifest: &Manifest) -> Result<()> {
        let path = self.manifest_path(&manifest.id());
        if path.is_file() {
            return Ok(());
        }
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, manifest.encoded()).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Removes the manifest files of tracks that `keep` says no to.
    pub(super) fn sweep_manifests(&self, keep: impl Fn(&TrackId) -> bool) -> Result<()> {
        for entry in fs::read_dir(&self.manifests).map_err(|e| Error::io(&self.manifests, e))? {
            let path = entry.map_err(|e| Error::io(&self.manifests, e))?.path();
            let id = path.file_name().and_then(|n| n.to_str()?.parse().ok());
            if id.is_none_or(|id| !keep(&id)) {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    /// Appends one line to the journal. A journal that cannot be written is reported in the
    /// log, never in the way of what the user did (the database has it).
    fn append(&self, line: &str) {
        let mut journal = self
            .journal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if journal.is_none() {
            *journal = OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.journal_path)
                .map_err(|e| tracing::warn!(error = %e, "cannot open the journal"))
                .ok();
        }
        if let Some(file) = journal.as_mut()
            && let Err(e) = writeln!(file, "{line}")
        {
            tracing::warn!(error = %e, "cannot write the journal");
        }
    }
}

impl Listen {
    fn journal_line(&self) -> String {
        let kind = match self.kind {
            ListenKind::Play => "play".to_owned(),
            ListenKind::Skip { position_ms } => format!("skip:{position_ms}"),
            ListenKind::Complete => "complete".to_owned(),
        };
        format!("listen {} {} {kind}", self.at_ms, self.id)
    }
}

impl Store {
    pub(super) fn journal_rating(&self, id: &TrackId, stars: u8) {
        self.keep.append(&rate_line(id, stars));
    }

    pub(super) fn journal_block(&self, key: &ArtistKey, blocked: bool) {
        self.keep.append(&block_line(key, blocked));
    }

    pub(super) fn journal_follow(&self, key: &ArtistKey, followed: bool) {
        self.keep
            .append(&format!("follow {key} {}", u8::from(followed)));
    }

    pub(super) fn journal_playlist(&self, record: &[u8]) {
        self.keep.append(&format!(
            "playlist {}",
            data_encoding::HEXLOWER.encode(record)
        ));
    }

    pub(super) fn journal_playlist_removed(&self, id: &crate::model::PlaylistId) {
        self.keep.append(&format!("unplaylist {id}"));
    }

    pub(super) fn journal_star(&self, id: &TrackId, starred: bool) {
        self.keep
            .append(&format!("star {id} {}", u8::from(starred)));
    }

    pub(super) fn journal_listen(&self, listen: &Listen) {
        self.keep.append(&listen.journal_line());
    }

    /// At every open: brings back kept manifests the database lost. Once, in a data dir made
    /// before these files (no journal yet): starts the journal with what the database holds and
    /// writes the manifest file of every local track (from then on, marking a track local
    /// writes its file).
    pub(super) fn start_keeping(&self) -> Result<()> {
        let restored = self.restore_manifests()?;
        if restored > 0 {
            tracing::warn!(
                restored,
                "brought back tracks the database had lost, from their manifest files"
            );
        }
        if self.keep.journal_path.exists() {
            return Ok(());
        }
        for id in self.local_ids()? {
            if let Some(m) = self.manifest(&id)? {
                self.keep.put_manifest(&m)?;
            }
        }
        // The snapshot appears whole (through a temporary name) or not at all, so that a crash
        // takes it again; it has a first line even when the database holds nothing.
        let mut lines = vec!["# busker journal 1".to_owned()];
        lines.extend(
            self.ratings()?
                .iter()
                .map(|(id, stars)| rate_line(id, *stars)),
        );
        lines.extend(self.blocked_keys()?.iter().map(|key| block_line(key, true)));
        lines.extend(self.listens()?.iter().map(Listen::journal_line));
        lines.push(String::new());
        let path = &self.keep.journal_path;
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, lines.join("\n")).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    /// Moves the database at `path` that would not open aside, opens a new one there, and
    /// fills it from the manifest files and the journal.
    pub(super) fn rebuild(path: &Path, reason: String) -> Result<Self> {
        let stamp = crate::release::unix_now();
        let set_aside = path.with_file_name(format!("db.damaged-{stamp}"));
        fs::rename(path, &set_aside).map_err(|e| Error::io(&set_aside, e))?;
        let mut store = Self::open_db(path)?;
        let tracks = store.restore_manifests()?;
        let replayed = store.replay_journal()?;
        store.db.flush()?;
        store.created = false;
        store.rebuilt = Some(Rebuilt {
            set_aside,
            reason,
            tracks,
            replayed,
        });
        Ok(store)
    }

    /// Brings back every kept manifest the database lacks, local when its audio is here. How
    /// many came back.
    fn restore_manifests(&self) -> Result<usize> {
        let mut tracks = 0;
        let dir = &self.keep.manifests;
        for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let file = entry.map_err(|e| Error::io(dir, e))?.path();
            let id = file
                .file_name()
                .and_then(|n| n.to_str()?.parse::<TrackId>().ok());
            if id.is_none_or(|id| self.has_manifest(&id).unwrap_or(true)) {
                continue;
            }
            let bytes = fs::read(&file).map_err(|e| Error::io(&file, e))?;
            let manifest = match Manifest::decode(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "a kept manifest does not verify: skipped");
                    continue;
                }
            };
            if self.has_audio(&manifest.audio_id()) {
                match self.commit_local_track(&manifest) {
                    Ok(()) | Err(Error::Duplicate(_)) => {}
                    Err(e) => return Err(e),
                }
            } else {
                self.put_manifest(&manifest)?;
            }
            tracks += 1;
        }
        Ok(tracks)
    }

    /// Applies every journal line to the database (without journaling it again).
    fn replay_journal(&self) -> Result<usize> {
        let path = &self.keep.journal_path;
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut replayed = 0;
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::io(path, e))?;
            let words: Vec<&str> = line.split(' ').collect();
            let applied = match words.as_slice() {
                ["rate", id, stars] => match (id.parse::<TrackId>(), stars.parse::<u8>()) {
                    (Ok(id), Ok(stars)) => self.put_rating(&id, stars).is_ok(),
                    _ => false,
                },
                ["block", key, on] => match key.parse::<ArtistKey>() {
                    Ok(key) => self.put_blocked(&key, *on == "1").is_ok(),
                    _ => false,
                },
                ["follow", key, on] => match key.parse::<ArtistKey>() {
                    Ok(key) => self.put_followed(&key, *on == "1").is_ok(),
                    _ => false,
                },
                ["playlist", hex] => data_encoding::HEXLOWER
                    .decode(hex.as_bytes())
                    .ok()
                    .and_then(|record| crate::playlist::Playlist::decode(&record).ok())
                    .is_some_and(|list| self.put_playlist_record(list.id, &list.encode()).is_ok()),
                ["unplaylist", id] => id.parse().is_ok_and(|id| self.drop_playlist(&id).is_ok()),
                ["star", id, on] => match id.parse::<TrackId>() {
                    Ok(id) => self.put_starred(&id, *on == "1").is_ok(),
                    _ => false,
                },
                ["listen", at, id, kind] => match parse_listen(at, id, kind) {
                    Some(listen) => self.put_listen(&listen).is_ok(),
                    None => false,
                },
                _ => false,
            };
            replayed += usize::from(applied);
        }
        Ok(replayed)
    }
}

fn rate_line(id: &TrackId, stars: u8) -> String {
    format!("rate {id} {stars}")
}

fn block_line(key: &ArtistKey, blocked: bool) -> String {
    format!("block {key} {}", u8::from(blocked))
}

fn parse_listen(at: &str, id: &str, kind: &str) -> Option<Listen> {
    let kind = match kind {
        "play" => ListenKind::Play,
        "complete" => ListenKind::Complete,
        skip => ListenKind::Skip {
            position_ms: skip.strip_prefix("skip:")?.parse().ok()?,
        },
    };
    Some(Listen {
        id: id.parse().ok()?,
        at_ms: at.parse().ok()?,
        kind,
    })
}
