//! The playlist part of [`Library`]: this peer's playlists, signed with its artist key and kept
//! in the store, the ones opened from other peers (read-only here), and M3U in and out.

use std::path::Path;

use super::{Library, TrackSummary};
use crate::error::{Error, Result};
use crate::link::Link;
use crate::model::{PlaylistId, TrackId};
use crate::playlist::{self, Playlist, m3u};
use crate::release::unix_ms;

/// A change to one playlist. Positions count from 1, as lists show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistEdit {
    /// Append tracks.
    Add(Vec<TrackId>),
    /// Take out the tracks at these positions.
    Remove(Vec<usize>),
    /// Move the track at `from` to `to`.
    Move {
        /// Where it is.
        from: usize,
        /// Where it goes.
        to: usize,
    },
    /// A new name.
    Rename(String),
}

/// What [`Library::import_playlist`] made of an M3U file.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The new playlist.
    pub playlist: Playlist,
    /// Entries that named no release this peer knows, with the reason.
    pub skipped: Vec<String>,
}

impl Library {
    /// A new playlist of this peer's, of known tracks.
    pub fn create_playlist(&self, name: &str, tracks: &[TrackId]) -> Result<Playlist> {
        self.check_known(tracks)?;
        let list = Playlist::create(&self.artist, name, tracks.to_vec(), unix_ms())?;
        self.store.put_playlist(&list)?;
        Ok(list)
    }

    /// Every playlist here (own and opened), by name.
    pub fn playlists(&self) -> Result<Vec<Playlist>> {
        let mut lists = self.store.playlists()?;
        lists.sort_by_cached_key(|l| (l.name.to_lowercase(), l.id));
        Ok(lists)
    }

    /// The playlist `reference` names, first match wins: its id, its name (ignoring case), a
    /// prefix of 6+ hex digits of its id, the start of its name; each only when one playlist
    /// answers.
    pub fn find_playlist(&self, reference: &str) -> Result<Playlist> {
        let text = reference.trim();
        if let Ok(id) = text.parse::<PlaylistId>()
            && let Some(list) = self.store.playlist(&id)?
        {
            return Ok(list);
        }
        let lower = text.to_lowercase();
        let is_prefix = lower.len() >= 6 && lower.chars().all(|c| c.is_ascii_hexdigit());
        let lists = self.store.playlists()?;
        let mut found: Vec<&Playlist> = lists
            .iter()
            .filter(|l| l.name.to_lowercase() == lower)
            .collect();
        if found.is_empty() && is_prefix {
            found = lists
                .iter()
                .filter(|l| l.id.to_hex().starts_with(&lower))
                .collect();
        }
        if found.is_empty() && !lower.is_empty() {
            found = lists
                .iter()
                .filter(|l| l.name.to_lowercase().starts_with(&lower))
                .collect();
        }
        match found[..] {
            [list] => Ok(list.clone()),
            [] => Err(Error::BadPlaylistRef(format!(
                "no playlist is called or starts with {reference:?} (see `busker playlist list`)"
            ))),
            _ => Err(Error::BadPlaylistRef(format!(
                "{reference:?} names more than one playlist; give its id"
            ))),
        }
    }

    /// Changes one of this peer's playlists and signs it again.
    pub fn edit_playlist(&self, id: &PlaylistId, edit: PlaylistEdit) -> Result<Playlist> {
        let mut list = self.own_playlist(id)?;
        if let PlaylistEdit::Add(tracks) = &edit {
            self.check_known(tracks)?;
        }
        list.edit(&self.artist, unix_ms(), |name, tracks| {
            match edit {
                PlaylistEdit::Add(more) => tracks.extend(more),
                PlaylistEdit::Remove(at) => {
                    let mut at = playlist::positions(&at, tracks.len())?;
                    at.sort_unstable();
                    at.dedup();
                    for i in at.into_iter().rev() {
                        tracks.remove(i);
                    }
                }
                PlaylistEdit::Move { from, to } => {
                    let at = playlist::positions(&[from, to], tracks.len())?;
                    let track = tracks.remove(at[0]);
                    tracks.insert(at[1], track);
                }
                PlaylistEdit::Rename(new) => *name = new,
            }
            Ok(())
        })?;
        self.store.put_playlist(&list)?;
        Ok(list)
    }

    /// Forgets a playlist (an opened one too: it can be opened again from its link).
    pub fn delete_playlist(&self, id: &PlaylistId) -> Result<()> {
        if !self.store.remove_playlist(id)? {
            return Err(Error::BadPlaylistRef(format!("no playlist {id} here")));
        }
        Ok(())
    }

    /// Keeps a playlist opened from another peer, when it is newer than the copy here.
    pub fn keep_playlist(&self, list: &Playlist) -> Result<()> {
        match self.store.playlist(&list.id)? {
            Some(held) if held.version >= list.version => Ok(()),
            _ => self.store.put_playlist(list),
        }
    }

    /// The tracks of `list` this peer knows, in playlist order (ids it does not know are left
    /// out; [`Playlist::tracks`] has them all).
    pub fn playlist_tracks(&self, list: &Playlist) -> Result<Vec<TrackSummary>> {
        let mut out = Vec::with_capacity(list.tracks.len());
        for id in &list.tracks {
            if let Some(m) = self.store.manifest(id)? {
                out.push(self.summary(&m)?);
            }
        }
        Ok(out)
    }

    /// The M3U text of `list`: per track its `#EXTINF`, its id, and its audio file when whole
    /// here (any player opens it), else its `busker://track/...` link.
    pub fn export_playlist(&self, list: &Playlist) -> Result<String> {
        let mut entries = Vec::with_capacity(list.tracks.len());
        for &id in &list.tracks {
            let manifest = self.store.manifest(&id)?;
            let file = manifest.as_ref().and_then(|m| self.store.audio_file(m));
            let location = match file {
                Some(path) => path.display().to_string(),
                None => Link::Track(crate::link::TrackLink {
                    id,
                    hints: Vec::new(),
                })
                .to_string(),
            };
            entries.push(m3u::Entry {
                seconds: manifest
                    .as_ref()
                    .map(|m| (m.info().duration_ms / 1000) as i64),
                title: manifest
                    .as_ref()
                    .map(|m| format!("{} - {}", m.info().artist, m.info().title)),
                track: Some(id),
                location,
            });
        }
        Ok(m3u::write(&list.name, &entries))
    }

    /// A new playlist from an M3U file's bytes. Each entry is matched, first hit wins: Busker's
    /// own `#BUSKER:` id, a track link or id as location, the `#EXTINF` title or the file's
    /// tags (a path, relative to `base`) or its name against known tracks as "Artist - Title"
    /// or title. The name is `name`, else the file's `#PLAYLIST:`, else `fallback_name`.
    pub fn import_playlist(
        &self,
        bytes: &[u8],
        base: Option<&Path>,
        name: Option<&str>,
        fallback_name: &str,
    ) -> Result<Imported> {
        let (own_name, entries) = m3u::parse(bytes)?;
        let mut tracks = Vec::new();
        let mut skipped = Vec::new();
        for entry in &entries {
            match self.match_entry(entry, base)? {
                Some(id) => tracks.push(id),
                None => skipped.push(format!(
                    "{}: no known track matches it",
                    entry.title.as_deref().unwrap_or(&entry.location)
                )),
            }
        }
        let name = name.or(own_name.as_deref()).unwrap_or(fallback_name);
        let playlist = Playlist::create(&self.artist, name, tracks, unix_ms())?;
        self.store.put_playlist(&playlist)?;
        Ok(Imported { playlist, skipped })
    }

    fn match_entry(&self, entry: &m3u::Entry, base: Option<&Path>) -> Result<Option<TrackId>> {
        if let Some(id) = entry.track {
            return Ok(Some(id));
        }
        let location = entry.location.as_str();
        if let Ok(Link::Track(link)) = Link::parse(location) {
            return Ok(Some(link.id));
        }
        if let Ok(id) = location.parse::<TrackId>() {
            return Ok(Some(id));
        }
        let mut names: Vec<String> = entry.title.iter().cloned().collect();
        if !location.contains("://") {
            let path = Path::new(location);
            let path = match base {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.to_path_buf(),
            };
            if let Ok(probe) = crate::media::probe_file(&path) {
                names.push(format!("{} - {}", probe.info.artist, probe.info.title));
                names.push(probe.info.title);
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            names.extend(stem);
        }
        for name in names {
            if let Some(id) = self.track_named(&name)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// A known track whose "Artist - Title" or title is `name`, ignoring case.
    fn track_named(&self, name: &str) -> Result<Option<TrackId>> {
        let wanted = name.trim().to_lowercase();
        if wanted.is_empty() {
            return Ok(None);
        }
        let hits = self.search(&wanted, 10)?;
        let full =
            |t: &TrackSummary| format!("{} - {}", t.info.artist, t.info.title).to_lowercase();
        Ok(hits
            .iter()
            .find(|t| full(t) == wanted)
            .or_else(|| hits.iter().find(|t| t.info.title.to_lowercase() == wanted))
            .map(|t| t.id))
    }

    fn own_playlist(&self, id: &PlaylistId) -> Result<Playlist> {
        let list = self
            .store
            .playlist(id)?
            .ok_or_else(|| Error::BadPlaylistRef(format!("no playlist {id} here")))?;
        if list.owner != self.artist.public() {
            return Err(Error::ForeignPlaylist(list.name));
        }
        Ok(list)
    }

    fn check_known(&self, tracks: &[TrackId]) -> Result<()> {
        for id in tracks {
            if !self.store.has_manifest(id)? {
                return Err(Error::UnknownTrack(*id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::{LibraryOptions, PublishOptions};
    use crate::test_utils::audio_fixture;

    const FILES: [&str; 3] = [
        "opsound_manolo_camp-morning_coffee.tagged.flac",
        "sonicpi_ambi_piano.flac",
        "pg10284_spring_of_love_1903.id3v2_3.mp3",
    ];

    fn open(dir: &Path) -> Library {
        Library::open(LibraryOptions::new(dir).seed_demo(false)).unwrap()
    }

    fn publish_all(lib: &Library) -> Vec<TrackId> {
        FILES
            .iter()
            .map(|f| {
                let m = lib.publish_file(&audio_fixture(f), &PublishOptions::default());
                m.unwrap().id()
            })
            .collect()
    }

    #[test]
    fn a_playlist_is_made_changed_and_kept_across_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let (id, ids) = {
            let lib = open(tmp.path());
            let ids = publish_all(&lib);
            let list = lib.create_playlist("Morning", &ids[..2]).unwrap();
            let id = list.id;
            lib.edit_playlist(&id, PlaylistEdit::Add(vec![ids[2], ids[0]]))
                .unwrap();
            lib.edit_playlist(&id, PlaylistEdit::Move { from: 4, to: 1 })
                .unwrap();
            lib.edit_playlist(&id, PlaylistEdit::Remove(vec![3, 3]))
                .unwrap();
            lib.edit_playlist(&id, PlaylistEdit::Rename("Dawn".into()))
                .unwrap();
            let unknown = TrackId([9; 32]);
            assert!(matches!(
                lib.edit_playlist(&id, PlaylistEdit::Add(vec![unknown])),
                Err(Error::UnknownTrack(t)) if t == unknown
            ));
            assert!(matches!(
                lib.edit_playlist(&id, PlaylistEdit::Move { from: 9, to: 1 }),
                Err(Error::Playlist(_))
            ));
            (id, ids)
        };
        let lib = open(tmp.path());
        let list = lib.find_playlist("dawn").unwrap();
        assert_eq!(list.id, id);
        assert_eq!(list.tracks, vec![ids[0], ids[0], ids[2]]);
        assert_eq!(lib.find_playlist(&id.to_hex()[..8]).unwrap().id, id);
        assert_eq!(
            lib.find_playlist("DA").unwrap().id,
            id,
            "the start of its name"
        );
        let shown: Vec<TrackId> = lib
            .playlist_tracks(&list)
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(shown, list.tracks);
        lib.delete_playlist(&id).unwrap();
        assert!(matches!(
            lib.find_playlist("dawn"),
            Err(Error::BadPlaylistRef(_))
        ));
    }

    #[test]
    fn another_keys_playlist_is_kept_but_cannot_be_changed_here() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = open(tmp.path());
        let ids = publish_all(&lib);
        let other = crate::model::ArtistKeypair::generate();
        let theirs = Playlist::create(&other, "Theirs", ids.clone(), 5).unwrap();
        lib.keep_playlist(&theirs).unwrap();
        let older = Playlist::decode(&theirs.encode()).unwrap();
        lib.keep_playlist(&older).unwrap();
        assert_eq!(lib.playlists().unwrap(), vec![theirs.clone()]);
        assert!(matches!(
            lib.edit_playlist(&theirs.id, PlaylistEdit::Remove(vec![1])),
            Err(Error::ForeignPlaylist(_))
        ));
    }

    #[test]
    fn an_exported_playlist_points_at_the_audio_and_imports_back_the_same_tracks() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = open(tmp.path());
        let ids = publish_all(&lib);
        let list = lib.create_playlist("All", &ids).unwrap();
        let text = lib.export_playlist(&list).unwrap();
        let (_, entries) = m3u::parse(text.as_bytes()).unwrap();
        for (entry, file) in entries.iter().zip(FILES) {
            // The location is the published file's exact bytes, for any player.
            let exported = std::fs::read(&entry.location).unwrap();
            assert_eq!(exported, std::fs::read(audio_fixture(file)).unwrap());
        }
        let back = lib
            .import_playlist(text.as_bytes(), None, None, "x")
            .unwrap();
        assert_eq!(back.playlist.tracks, ids);
        assert_eq!(back.playlist.name, "All");
        assert!(back.skipped.is_empty());
        assert_ne!(back.playlist.id, list.id);
    }

    #[test]
    fn another_players_playlist_is_matched_by_title_and_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let lib = open(tmp.path());
        let ids = publish_all(&lib);
        let music = audio_fixture(FILES[2]);
        let text = format!(
            "#EXTM3U\n#EXTINF:73,Manolo Camp - Morning Coffee\nD:\\music\\coffee.flac\n\
             {}\n#EXTINF:10,Nobody - Nothing\nnothing.mp3\nsonicpi_ambi_piano.flac\n",
            music.file_name().unwrap().to_string_lossy()
        );
        let imported = lib
            .import_playlist(text.as_bytes(), music.parent(), Some("Mine"), "x")
            .unwrap();
        assert_eq!(imported.playlist.tracks, vec![ids[0], ids[2], ids[1]]);
        assert_eq!(imported.playlist.name, "Mine");
        assert_eq!(imported.skipped.len(), 1, "{:?}", imported.skipped);
        assert!(imported.skipped[0].starts_with("Nobody - Nothing"));
    }
}
