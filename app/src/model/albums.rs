//! The Library's Albums and Artists: the catalog grouped once per catalog refresh (not per
//! frame), as indexes into [`super::Model::tracks`].
//!
//! An album is one artist key's tracks with one album tag (a name alone can be copied, a key
//! cannot); an artist is an artist key, named as on its tracks.

use std::collections::HashMap;

use busker_core::TrackSummary;
use busker_core::model::{ArtistKey, ImageHash};

/// Shown for tracks without an album tag.
pub const NO_ALBUM: &str = "[no album]";

/// One album.
#[derive(Debug, Clone, PartialEq)]
pub struct AlbumRow {
    /// Its artist key.
    pub key: ArtistKey,
    /// The album tag.
    pub name: String,
    /// The artist name on its first track.
    pub artist: String,
    /// Its tracks in album order: disc, track number (unnumbered ones last), title (indexes
    /// into the catalog).
    pub tracks: Vec<usize>,
    /// Its cover: the first track's (in album order) that is held here, else the first one
    /// named.
    pub cover: Option<ImageHash>,
}

/// One artist key.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtistRow {
    /// The key.
    pub key: ArtistKey,
    /// The name it goes by (see [`TrackSummary::key_name`]).
    pub name: String,
    /// How many albums.
    pub albums: usize,
    /// How many tracks.
    pub tracks: usize,
}

/// Albums by name, then artist; artists by name.
pub fn group(tracks: &[TrackSummary]) -> (Vec<AlbumRow>, Vec<ArtistRow>) {
    let mut albums: HashMap<(ArtistKey, &str), AlbumRow> = HashMap::new();
    for (i, t) in tracks.iter().enumerate() {
        let name = if t.info.album.is_empty() {
            NO_ALBUM
        } else {
            t.info.album.as_str()
        };
        albums
            .entry((t.artist_key, name))
            .or_insert_with(|| AlbumRow {
                key: t.artist_key,
                name: name.to_owned(),
                artist: t.info.artist.clone(),
                tracks: Vec::new(),
                cover: None,
            })
            .tracks
            .push(i);
    }
    let mut albums: Vec<AlbumRow> = albums.into_values().collect();
    for album in &mut albums {
        album
            .tracks
            .sort_by_cached_key(|&i| tracks[i].album_order());
        let covers = || album.tracks.iter().map(|&i| &tracks[i]);
        album.cover = covers()
            .find(|t| t.cover_local)
            .or_else(|| covers().find(|t| t.info.cover.is_some()))
            .and_then(|t| t.info.cover.map(|c| c.hash));
    }
    albums.sort_by_cached_key(|a| (a.name.to_lowercase(), a.artist.to_lowercase(), a.key));
    let mut artists: HashMap<ArtistKey, ArtistRow> = HashMap::new();
    let mut releases: HashMap<ArtistKey, Vec<&TrackSummary>> = HashMap::new();
    for album in &albums {
        let row = artists.entry(album.key).or_insert_with(|| ArtistRow {
            key: album.key,
            name: String::new(),
            albums: 0,
            tracks: 0,
        });
        row.albums += 1;
        row.tracks += album.tracks.len();
        releases
            .entry(album.key)
            .or_default()
            .extend(album.tracks.iter().map(|&i| &tracks[i]));
    }
    for (key, row) in &mut artists {
        let name = TrackSummary::key_name(releases[key].iter().copied());
        row.name = name.unwrap_or_default().to_owned();
    }
    let mut artists: Vec<ArtistRow> = artists.into_values().collect();
    artists.sort_by_cached_key(|a| (a.name.to_lowercase(), a.key));
    (albums, artists)
}

#[cfg(test)]
mod tests {
    use super::*;
    use busker_core::model::TrackInfo;

    fn track(n: u8, key: u8, album: &str, title: &str) -> TrackSummary {
        let info = TrackInfo {
            title: title.into(),
            artist: format!("artist {key}"),
            album: album.into(),
            ..TrackInfo::default()
        };
        busker_core::test_utils::summary(n, key, info)
    }

    #[test]
    fn an_album_plays_in_disc_and_track_order_and_shows_a_held_cover() {
        let numbered = |n: u8, disc: u16, number: u16, title: &str, cover: Option<u8>| {
            let mut t = track(n, 1, "Road", title);
            (t.info.disc, t.info.track) = (disc, number);
            t.info.cover = cover.map(|c| busker_core::model::CoverRef {
                hash: ImageHash([c; 32]),
                bytes: 10,
                width: 1,
                height: 1,
                format: busker_core::model::ImageFormat::Png,
            });
            t.cover_local = cover == Some(9);
            t
        };
        let tracks = vec![
            numbered(1, 2, 1, "a", Some(8)),
            numbered(2, 1, 2, "b", Some(9)),
            numbered(3, 1, 1, "c", None),
            numbered(4, 1, 0, "d", None),
        ];
        let (albums, _) = group(&tracks);
        assert_eq!(albums[0].tracks, vec![2, 1, 3, 0]);
        assert_eq!(
            albums[0].cover,
            Some(ImageHash([9; 32])),
            "the one held here"
        );
    }

    #[test]
    fn albums_belong_to_a_key_and_list_their_tracks_by_title() {
        let tracks = vec![
            track(1, 1, "Road", "b"),
            track(2, 1, "Road", "a"),
            track(3, 2, "Road", "c"),
            track(4, 1, "", "d"),
        ];
        let (albums, artists) = group(&tracks);
        let names: Vec<(&str, u8, Vec<usize>)> = albums
            .iter()
            .map(|a| (a.name.as_str(), a.key.0[0], a.tracks.clone()))
            .collect();
        assert_eq!(
            names,
            vec![
                (NO_ALBUM, 1, vec![3]),
                ("Road", 1, vec![1, 0]),
                ("Road", 2, vec![2])
            ]
        );
        assert_eq!(
            artists
                .iter()
                .map(|a| (a.albums, a.tracks))
                .collect::<Vec<_>>(),
            vec![(2, 3), (1, 1)]
        );
    }
}
