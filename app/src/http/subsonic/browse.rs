//! The methods that read and change the library (everything but the audio): the catalog as
//! artists, albums and songs, search, playlists, stars, ratings and scrobbles. They run on the
//! blocking pool (every call into the library waits on the disk).
//!
//! Ids: a song is its track id (64 hex digits); an artist `ar-` and its key; an album `al-` and
//! 16 hex digits of the hash of its artist key and album name; a playlist its playlist id.

use std::collections::{BTreeMap, HashMap};

use busker_core::model::{ArtistKey, ImageHash, TrackId};
use busker_core::playlist::Playlist;
use busker_core::{Library, Listen, ListenKind, Node, PlaylistEdit, TrackSummary};
use serde_json::{Value, json};

use super::ids::{album_id, album_name, artist_id, cover_id, local_cover};
use super::{Answer, Failure, Params};

/// Carries out `method`.
pub(super) fn answer(node: &Node, method: &str, params: &Params) -> Result<Answer, Failure> {
    let library = node.library();
    match method {
        "ping" => Ok(Answer::empty()),
        "getLicense" => Ok(Answer::one("license", json!({"valid": true}))),
        "getOpenSubsonicExtensions" => Ok(Answer::one("openSubsonicExtensions", json!([]))),
        "getMusicFolders" => Ok(Answer::one(
            "musicFolders",
            json!({"musicFolder": [{"id": 1, "name": "Busker"}]}),
        )),
        "getArtists" => Ok(Answer::one("artists", artists(&Catalog::read(library)?))),
        "getArtist" => {
            let catalog = Catalog::read(library)?;
            let id = params.need("id")?;
            let artist = catalog
                .artists()
                .into_iter()
                .find(|a| a.id == id)
                .ok_or_else(|| Failure::not_found("artist"))?;
            let mut v = artist.json();
            v["album"] = catalog
                .albums()
                .iter()
                .filter(|a| a.artist_id == id)
                .map(|a| a.json())
                .collect();
            Ok(Answer::one("artist", v))
        }
        "getAlbum" => {
            let catalog = Catalog::read(library)?;
            let album = catalog.album(params.need("id")?)?;
            let mut v = album.json();
            v["song"] = album
                .songs
                .iter()
                .map(|t| song(library, t))
                .collect::<Result<_, _>>()?;
            Ok(Answer::one("album", v))
        }
        "getAlbumList2" | "getAlbumList" => {
            let list = album_list(library, params)?;
            let name = if method == "getAlbumList2" {
                "albumList2"
            } else {
                "albumList"
            };
            Ok(Answer::one(name, json!({"album": list})))
        }
        "getSong" => {
            let id = track_id(params.need("id")?)?;
            let manifest = library.manifest(&id)?;
            Ok(Answer::one(
                "song",
                song(library, &library.summary(&manifest)?)?,
            ))
        }
        "search3" | "search2" => search(library, params, method),
        "getPlaylists" => {
            let lists: Vec<Value> = library
                .playlists()?
                .iter()
                .map(|l| playlist(library, l, false))
                .collect::<Result<_, _>>()?;
            Ok(Answer::one("playlists", json!({"playlist": lists})))
        }
        "getPlaylist" => {
            let list = library.find_playlist(params.need("id")?)?;
            Ok(Answer::one("playlist", playlist(library, &list, true)?))
        }
        "createPlaylist" => create_playlist(library, params),
        "updatePlaylist" => {
            update_playlist(library, params)?;
            Ok(Answer::empty())
        }
        "deletePlaylist" => {
            let list = library.find_playlist(params.need("id")?)?;
            library.delete_playlist(&list.id)?;
            Ok(Answer::empty())
        }
        "star" | "unstar" => {
            for id in params.all("id") {
                library
                    .store()
                    .set_starred(&track_id(id)?, method == "star")?;
            }
            Ok(Answer::empty())
        }
        "setRating" => {
            let id = track_id(params.need("id")?)?;
            let stars = params
                .need("rating")?
                .parse::<u8>()
                .ok()
                .filter(|s| *s <= 5);
            let stars = stars.ok_or_else(|| Failure::new(0, "rating is 0 to 5"))?;
            library.rate(&id, stars)?;
            Ok(Answer::empty())
        }
        "scrobble" => {
            let complete = params.get("submission") != Some("false");
            for id in params.all("id") {
                let at_ms = params
                    .get("time")
                    .and_then(|t| t.parse().ok())
                    .unwrap_or_else(busker_core::release::unix_ms);
                let kind = if complete {
                    ListenKind::Complete
                } else {
                    ListenKind::Play
                };
                library.store().record_listen(&Listen {
                    id: track_id(id)?,
                    at_ms,
                    kind,
                })?;
            }
            Ok(Answer::empty())
        }
        "getUser" => Ok(Answer::one("user", user())),
        "getScanStatus" => Ok(Answer::one(
            "scanStatus",
            json!({"scanning": false, "count": library.store().manifest_count()}),
        )),
        "getNowPlaying" => Ok(Answer::one("nowPlaying", json!({}))),
        "getIndexes" => {
            let mut v = artists(&Catalog::read(library)?);
            v["lastModified"] = json!(0);
            Ok(Answer::one("indexes", v))
        }
        "getMusicDirectory" => directory(library, params.need("id")?),
        "getRandomSongs" => {
            let mut songs = library.list()?;
            rand::seq::SliceRandom::shuffle(&mut songs[..], &mut rand::thread_rng());
            songs.truncate(params.number("size", 10).min(500));
            let songs: Vec<Value> = songs
                .iter()
                .map(|t| song(library, t))
                .collect::<Result<_, _>>()?;
            Ok(Answer::one("randomSongs", json!({"song": songs})))
        }
        "getStarred2" | "getStarred" => {
            let store = library.store();
            let songs: Vec<Value> = library
                .list()?
                .iter()
                .filter(|t| store.is_starred(&t.id).unwrap_or(false))
                .map(|t| song(library, t))
                .collect::<Result<_, _>>()?;
            let name = if method == "getStarred2" {
                "starred2"
            } else {
                "starred"
            };
            Ok(Answer::one(
                name,
                json!({"artist": [], "album": [], "song": songs}),
            ))
        }
        "getGenres" => Ok(Answer::one("genres", genres(library)?)),
        other => Err(Failure::new(0, format!("{other} is not served by Busker"))),
    }
}

/// The one user, and what it may do.
fn user() -> Value {
    json!({
        "username": super::USER, "scrobblingEnabled": true, "adminRole": false,
        "settingsRole": false, "downloadRole": true, "uploadRole": false, "playlistRole": true,
        "coverArtRole": false, "commentRole": false, "podcastRole": false, "streamRole": true,
        "jukeboxRole": false, "shareRole": false, "videoConversionRole": false, "folder": [1],
    })
}

/// The folder view older clients browse: an artist's albums, or an album's songs.
fn directory(library: &Library, id: &str) -> Result<Answer, Failure> {
    let catalog = Catalog::read(library)?;
    let albums = catalog.albums();
    let dir = if let Some(artist) = catalog.artists().into_iter().find(|a| a.id == id) {
        let children: Vec<Value> = albums
            .iter()
            .filter(|a| a.artist_id == id)
            .map(|a| {
                let mut v = a.json();
                v["parent"] = json!(id);
                v
            })
            .collect();
        json!({"id": id, "name": artist.name, "child": children})
    } else {
        let album = albums
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Failure::not_found("directory"))?;
        let children: Vec<Value> = album
            .songs
            .iter()
            .map(|t| song(library, t))
            .collect::<Result<_, _>>()?;
        json!({"id": id, "name": album.name, "parent": album.artist_id, "child": children})
    };
    Ok(Answer::one("directory", dir))
}

/// Genres: each track's first tag.
fn genres(library: &Library) -> Result<Value, Failure> {
    let mut counts: BTreeMap<String, (usize, std::collections::HashSet<String>)> = BTreeMap::new();
    for t in library.list()? {
        if let Some(genre) = t.info.tags.first() {
            let entry = counts.entry(genre.clone()).or_default();
            entry.0 += 1;
            entry.1.insert(album_id(&t.artist_key, album_name(&t)));
        }
    }
    let genre: Vec<Value> = counts
        .into_iter()
        .map(|(name, (songs, albums))| {
            json!({"value": name, "songCount": songs, "albumCount": albums.len()})
        })
        .collect();
    Ok(json!({"genre": genre}))
}

fn track_id(text: &str) -> Result<TrackId, Failure> {
    text.parse()
        .map_err(|_| Failure::not_found(format!("song {text:?}")))
}

/// An artist key's releases with one album tag.
pub(super) struct Album<'a> {
    id: String,
    name: String,
    artist: String,
    artist_id: String,
    songs: Vec<&'a TrackSummary>,
    newest: u64,
}

impl Album<'_> {
    fn json(&self) -> Value {
        let secs: u64 = self.songs.iter().map(|t| t.info.duration_ms / 1000).sum();
        let mut v = json!({
            "id": self.id, "name": self.name, "title": self.name, "artist": self.artist,
            "artistId": self.artist_id, "songCount": self.songs.len(), "duration": secs,
            "created": iso8601(self.newest * 1000), "isDir": true,
        });
        if let Some(hash) = self.cover() {
            v["coverArt"] = json!(cover_id(&hash));
        }
        v
    }

    /// The album's cover: the first song's (in album order) that is held here.
    pub(super) fn cover(&self) -> Option<ImageHash> {
        self.songs.iter().find_map(|t| local_cover(t))
    }
}

struct Artist {
    id: String,
    name: String,
    albums: usize,
}

impl Artist {
    fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "albumCount": self.albums})
    }
}

/// Every track this peer knows (blocked keys left out), grouped on demand.
struct Catalog {
    songs: Vec<TrackSummary>,
}

/// The cover of album `id` (`al-...`), when one of its songs' covers is held here.
pub(super) fn album_cover(library: &Library, id: &str) -> Result<Option<ImageHash>, Failure> {
    Ok(Catalog::read(library)?.album(id)?.cover())
}

impl Catalog {
    fn read(library: &Library) -> Result<Self, Failure> {
        Ok(Self {
            songs: library.list()?,
        })
    }

    fn albums(&self) -> Vec<Album<'_>> {
        let mut by_id: BTreeMap<String, Album<'_>> = BTreeMap::new();
        for t in &self.songs {
            let id = album_id(&t.artist_key, album_name(t));
            let album = by_id.entry(id.clone()).or_insert_with(|| Album {
                id,
                name: album_name(t).to_owned(),
                artist: t.info.artist.clone(),
                artist_id: artist_id(&t.artist_key),
                songs: Vec::new(),
                newest: 0,
            });
            album.newest = album.newest.max(t.published_at);
            album.songs.push(t);
        }
        let mut albums: Vec<_> = by_id.into_values().collect();
        for album in &mut albums {
            album.songs.sort_by_cached_key(|t| t.album_order());
        }
        albums.sort_by_cached_key(|a| (a.name.to_lowercase(), a.id.clone()));
        albums
    }

    fn album(&self, id: &str) -> Result<Album<'_>, Failure> {
        self.albums()
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| Failure::not_found("album"))
    }

    fn artists(&self) -> Vec<Artist> {
        let mut of_key: HashMap<ArtistKey, Vec<&TrackSummary>> = HashMap::new();
        for t in &self.songs {
            of_key.entry(t.artist_key).or_default().push(t);
        }
        let mut out: Vec<Artist> = of_key
            .into_iter()
            .map(|(key, songs)| {
                let albums: std::collections::HashSet<&str> =
                    songs.iter().map(|t| album_name(t)).collect();
                Artist {
                    id: artist_id(&key),
                    name: TrackSummary::key_name(songs).unwrap_or_default().to_owned(),
                    albums: albums.len(),
                }
            })
            .collect();
        out.sort_by_cached_key(|a| (a.name.to_lowercase(), a.id.clone()));
        out
    }
}

fn artists(catalog: &Catalog) -> Value {
    let mut index: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for artist in catalog.artists() {
        let first = artist
            .name
            .chars()
            .next()
            .filter(|c| c.is_alphabetic())
            .map_or_else(|| "#".to_owned(), |c| c.to_uppercase().to_string());
        index.entry(first).or_default().push(artist.json());
    }
    let index: Vec<Value> = index
        .into_iter()
        .map(|(name, artist)| json!({"name": name, "artist": artist}))
        .collect();
    json!({"ignoredArticles": "", "index": index})
}

/// A song as Subsonic clients read it.
fn song(library: &Library, t: &TrackSummary) -> Result<Value, Failure> {
    let manifest = library.manifest(&t.id)?;
    let format = t.info.format;
    let mut v = json!({
        "id": t.id.to_hex(), "parent": album_id(&t.artist_key, album_name(t)), "isDir": false,
        "title": t.info.title, "album": album_name(t), "artist": t.info.artist,
        "albumId": album_id(&t.artist_key, album_name(t)), "artistId": artist_id(&t.artist_key),
        "duration": t.info.duration_ms / 1000, "size": manifest.file_size(),
        "suffix": format.extension(), "contentType": super::media::content_type(format),
        "type": "music", "created": iso8601(t.published_at * 1000),
    });
    if let Some(genre) = t.info.tags.first() {
        v["genre"] = json!(genre);
    }
    if t.info.track > 0 {
        v["track"] = json!(t.info.track);
    }
    if t.info.disc > 0 {
        v["discNumber"] = json!(t.info.disc);
    }
    if let Some(hash) = local_cover(t) {
        v["coverArt"] = json!(cover_id(&hash));
    }
    if let Some(stars) = library.store().rating(&t.id)? {
        v["userRating"] = json!(stars);
    }
    if library.store().is_starred(&t.id)? {
        v["starred"] = json!(iso8601(0));
    }
    Ok(v)
}

fn album_list(library: &Library, params: &Params) -> Result<Vec<Value>, Failure> {
    let catalog = Catalog::read(library)?;
    let mut albums = catalog.albums();
    match params.need("type")? {
        "alphabeticalByName" => {}
        "alphabeticalByArtist" => albums.sort_by_cached_key(|a| a.artist.to_lowercase()),
        "random" => rand::seq::SliceRandom::shuffle(&mut albums[..], &mut rand::thread_rng()),
        "starred" => {
            let store = library.store();
            albums.retain(|a| {
                a.songs
                    .iter()
                    .any(|t| store.is_starred(&t.id).unwrap_or(false))
            });
        }
        "highest" => {
            let store = library.store();
            let best = |a: &Album<'_>| {
                a.songs
                    .iter()
                    .filter_map(|t| store.rating(&t.id).ok().flatten())
                    .max()
                    .unwrap_or(0)
            };
            albums.retain(|a| best(a) > 0);
            albums.sort_by_key(|a| std::cmp::Reverse(best(a)));
        }
        // newest, and what Busker does not count yet (recent, frequent): newest first.
        _ => albums.sort_by_key(|a| std::cmp::Reverse(a.newest)),
    }
    let size = params.number("size", 10).min(500);
    Ok(albums
        .iter()
        .skip(params.number("offset", 0))
        .take(size)
        .map(Album::json)
        .collect())
}

fn search(library: &Library, params: &Params, method: &str) -> Result<Answer, Failure> {
    let query = params
        .get("query")
        .unwrap_or_default()
        .trim_matches('"')
        .trim();
    let count = |name: &str| params.number(name, 20).min(500);
    let offset = |name: &str| params.number(name, 0);
    let (songs_n, songs_at) = (count("songCount"), offset("songOffset"));
    let catalog = Catalog::read(library)?;
    // An empty query lists everything (clients sync their library that way).
    let found;
    let songs: &[TrackSummary] = if query.is_empty() {
        &catalog.songs
    } else {
        found = library.search(query, songs_at + songs_n)?;
        &found
    };
    let songs: Vec<Value> = songs
        .iter()
        .skip(songs_at)
        .take(songs_n)
        .map(|t| song(library, t))
        .collect::<Result<_, _>>()?;
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let matches = |name: &str| {
        let name = name.to_lowercase();
        words.iter().all(|w| name.contains(w.as_str()))
    };
    let artists: Vec<Value> = catalog
        .artists()
        .iter()
        .filter(|a| matches(&a.name))
        .skip(offset("artistOffset"))
        .take(count("artistCount"))
        .map(Artist::json)
        .collect();
    let albums: Vec<Value> = catalog
        .albums()
        .iter()
        .filter(|a| matches(&a.name) || matches(&a.artist))
        .skip(offset("albumOffset"))
        .take(count("albumCount"))
        .map(Album::json)
        .collect();
    let name = if method == "search3" {
        "searchResult3"
    } else {
        "searchResult2"
    };
    Ok(Answer::one(
        name,
        json!({"artist": artists, "album": albums, "song": songs}),
    ))
}

fn playlist(library: &Library, list: &Playlist, entries: bool) -> Result<Value, Failure> {
    let tracks = library.playlist_tracks(list)?;
    let secs: u64 = tracks.iter().map(|t| t.info.duration_ms / 1000).sum();
    let owner = if list.owner == library.artist_key() {
        super::USER.to_owned()
    } else {
        list.owner.to_hex()[..12].to_owned()
    };
    let mut v = json!({
        "id": list.id.to_hex(), "name": list.name, "songCount": tracks.len(), "duration": secs,
        "owner": owner, "public": false, "created": iso8601(list.version),
        "changed": iso8601(list.version),
    });
    if entries {
        v["entry"] = tracks
            .iter()
            .map(|t| song(library, t))
            .collect::<Result<Vec<_>, _>>()?
            .into();
    }
    Ok(v)
}

fn create_playlist(library: &Library, params: &Params) -> Result<Answer, Failure> {
    let ids: Vec<TrackId> = params
        .all("songId")
        .into_iter()
        .map(track_id)
        .collect::<Result<_, _>>()?;
    let list = match params.get("playlistId") {
        // With an id: the playlist's tracks are replaced.
        Some(existing) => {
            let list = library.find_playlist(existing)?;
            let all: Vec<usize> = (1..=list.tracks.len()).collect();
            library.edit_playlist(&list.id, PlaylistEdit::Remove(all))?;
            library.edit_playlist(&list.id, PlaylistEdit::Add(ids))?
        }
        None => library.create_playlist(params.need("name")?, &ids)?,
    };
    Ok(Answer::one("playlist", playlist(library, &list, true)?))
}

fn update_playlist(library: &Library, params: &Params) -> Result<(), Failure> {
    let list = library.find_playlist(params.need("playlistId")?)?;
    if let Some(name) = params.get("name") {
        library.edit_playlist(&list.id, PlaylistEdit::Rename(name.to_owned()))?;
    }
    // Indexes count from 0 here (positions from 1 in the library).
    let remove: Vec<usize> = params
        .all("songIndexToRemove")
        .iter()
        .filter_map(|i| i.parse::<usize>().ok())
        .map(|i| i + 1)
        .collect();
    if !remove.is_empty() {
        library.edit_playlist(&list.id, PlaylistEdit::Remove(remove))?;
    }
    let add: Vec<TrackId> = params
        .all("songIdToAdd")
        .into_iter()
        .map(track_id)
        .collect::<Result<_, _>>()?;
    if !add.is_empty() {
        library.edit_playlist(&list.id, PlaylistEdit::Add(add))?;
    }
    Ok(())
}

/// `ms` since the Unix epoch as ISO 8601 in UTC (`2026-12-07T19:04:28.000Z`).
fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_iso_8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_796_670_268_123), "2026-12-07T19:04:28.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn album_ids_depend_on_key_and_name() {
        let (a, b) = (ArtistKey([1; 32]), ArtistKey([2; 32]));
        assert_ne!(album_id(&a, "X"), album_id(&b, "X"));
        assert_ne!(album_id(&a, "X"), album_id(&a, "Y"));
        assert_eq!(album_id(&a, "X").len(), 3 + 16);
    }
}
