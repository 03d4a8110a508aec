//! How results are printed: one JSON object per line with `--json`, readable text otherwise.

use busker_core::model::{ArtistKey, CoverRef, Manifest, TrackInfo};
use busker_core::{ArtistCatalog, Recommended, TrackSummary};
use serde_json::{Value, json};

/// The `publish` object of `CLI.md` (with `cover` as [`cover_json`], `track` and `disc`).
pub fn track_json(manifest: &Manifest) -> Value {
    let info = manifest.info();
    let mut v = json!({
        "id": manifest.id().to_hex(),
        "title": info.title,
        "artist": info.artist,
        "album": info.album,
        "duration_secs": info.duration_ms as f64 / 1000.0,
        "format": info.format.as_str(),
    });
    numbers_and_cover(&mut v, info, None);
    v
}

/// A track's cover as `CLI.md` gives it: `{"hash", "bytes", "width", "height", "format"}`
/// (`format` a MIME type), plus `"local"` where it is known whether the image is here.
pub fn cover_json(cover: &CoverRef, local: Option<bool>) -> Value {
    let mut v = json!({
        "hash": cover.hash.to_hex(),
        "bytes": cover.bytes,
        "width": cover.width,
        "height": cover.height,
        "format": cover.format.mime(),
    });
    if let (Some(local), Value::Object(map)) = (local, &mut v) {
        map.insert("local".into(), json!(local));
    }
    v
}

fn numbers_and_cover(v: &mut Value, info: &TrackInfo, cover_local: Option<bool>) {
    if let Value::Object(map) = v {
        map.insert("track".into(), json!(info.track));
        map.insert("disc".into(), json!(info.disc));
        let cover = info.cover.as_ref().map(|c| cover_json(c, cover_local));
        map.insert("cover".into(), cover.unwrap_or(Value::Null));
    }
}

/// The `list` / `search` object of `CLI.md`: the track plus availability, and for a re-signed
/// copy of another key's audio the original (`same_audio_as`, `original_title`,
/// `original_artist`, `original_artist_key`).
pub fn summary_json(t: &TrackSummary) -> Value {
    let mut v = json!({
        "id": t.id.to_hex(),
        "title": t.info.title,
        "artist": t.info.artist,
        "album": t.info.album,
        "duration_secs": t.info.duration_ms as f64 / 1000.0,
        "format": t.info.format.as_str(),
        "local": t.local,
        "remote": t.remote,
        "providers": t.providers,
        "artist_key": t.artist_key.to_hex(),
    });
    numbers_and_cover(&mut v, &t.info, Some(t.cover_local));
    if let (Some(original), Value::Object(map)) = (&t.same_audio_as, &mut v) {
        map.insert("same_audio_as".into(), json!(original.id.to_hex()));
        map.insert("original_title".into(), json!(original.title));
        map.insert("original_artist".into(), json!(original.artist));
        map.insert(
            "original_artist_key".into(),
            json!(original.artist_key.to_hex()),
        );
    }
    v
}

/// The `recommend` object of `CLI.md`: the track as in `list`, its score and the reason.
pub fn recommendation_json(r: &Recommended) -> Value {
    let mut v = summary_json(&r.track);
    if let Value::Object(map) = &mut v {
        map.insert("score".into(), json!(r.score));
        map.insert("reason".into(), json!(r.reason));
    }
    v
}

/// Prints recommendations (objects as [`recommendation_json`] makes them).
pub fn print_recommendations(json_out: bool, list: &[Value]) {
    if list.is_empty() && !json_out {
        eprintln!("nothing to recommend yet: listen to and rate some tracks, and connect to peers");
    }
    for r in list {
        if json_out {
            print_json(r);
        } else {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
            println!(
                "{}  {} - {}  ({})",
                s("id").get(..12).unwrap_or_default(),
                s("artist"),
                s("title"),
                s("reason")
            );
        }
    }
}

/// The `artist` object of artist `key`: its key, the profile's name (`null` when it has
/// published nothing) and every release, as in `list` when its manifest is known, else `{"id"}`
/// alone.
pub fn artist_json(key: &ArtistKey, catalog: Option<&ArtistCatalog>) -> Value {
    let Some(catalog) = catalog else {
        return json!({"key": key.to_hex(), "artist_key": key.to_hex(), "name": null, "releases": []});
    };
    let releases: Vec<Value> = catalog
        .releases
        .iter()
        .map(|(id, summary)| match summary {
            Some(t) => summary_json(t),
            None => json!({"id": id.to_hex()}),
        })
        .collect();
    let successor = catalog.profile.successor.map(|k| k.to_hex());
    json!({
        "key": key.to_hex(),
        "artist_key": key.to_hex(),
        "name": catalog.profile.name,
        "releases": releases,
        "successor": successor,
    })
}

/// Prints an [`artist_json`] object: as it is with `--json`, else a header and a line per
/// release.
pub fn print_artist(json_out: bool, v: &Value) {
    if json_out {
        print_json(v);
        return;
    }
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let releases = v
        .get("releases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    match v.get("name").and_then(Value::as_str) {
        Some(name) => println!("{name}  (artist key {})", s(v, "key")),
        None => println!("artist key {} (nothing published yet)", s(v, "key")),
    }
    if let Some(next) = v.get("successor").and_then(Value::as_str) {
        println!("  this key is retired: the artist moved to {next}");
    }
    for r in releases {
        let id = s(r, "id");
        match r.get("title").and_then(Value::as_str) {
            Some(title) => println!("  {}  {title}", id.get(..12).unwrap_or(&id)),
            None => println!(
                "  {}  (not described by any reachable peer)",
                id.get(..12).unwrap_or(&id)
            ),
        }
    }
}

/// `m:ss`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// One readable line for a track, from its [`summary_json`] object (so that the CLI prints the
/// same line whether it opened the data dir or asked the running node).
pub fn summary_line(t: &Value) -> String {
    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
    let album = match s("album") {
        "" => String::new(),
        album => format!(" [{album}]"),
    };
    let providers = t.get("providers").and_then(Value::as_u64).unwrap_or(0);
    let availability = if t.get("remote").and_then(Value::as_bool) == Some(true) {
        "from peers".to_owned()
    } else if t.get("local").and_then(Value::as_bool) == Some(true) {
        "here".to_owned()
    } else if providers > 0 {
        format!("{providers} peers")
    } else {
        "announced".to_owned()
    };
    let secs = t
        .get("duration_secs")
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let copy = match t.get("same_audio_as") {
        // Display names can be copied, keys cannot: say whose key signed the original.
        Some(_) => format!(
            "  same audio as '{}' by {} (key {}), heard of first",
            s("original_title"),
            s("original_artist"),
            s("original_artist_key").get(..8).unwrap_or_default()
        ),
        None => String::new(),
    };
    format!(
        "{}  {} - {}{}  {} {}  ({}){}",
        s("id").get(..12).unwrap_or_default(),
        s("artist"),
        s("title"),
        album,
        duration((secs * 1000.0) as u64),
        s("format"),
        availability,
        copy
    )
}

/// Prints the outcome of `key export` (`{"artist_key", "file"}`) or `key import`
/// (`{"artist_key", "replaced"}`).
pub fn print_key(json_out: bool, v: &Value) {
    if json_out {
        return print_json(v);
    }
    let key = v["artist_key"].as_str().unwrap_or_default();
    if let Some(file) = v.get("file").and_then(Value::as_str) {
        println!("artist key {key} backed up to {file}: keep it safe, it is your identity");
    } else if let Some(old) = v["replaced"].as_str() {
        println!("artist key is now {key} (the old key {old} is kept in keys/retired/)");
    } else {
        println!("artist key is {key}");
    }
}

/// Prints a track as its JSON object or its [`summary_line`].
pub fn print_track(json_out: bool, t: &Value) {
    if json_out {
        print_json(t);
    } else {
        println!("{}", summary_line(t));
    }
}

/// Prints a JSON value as one line.
pub fn print_json(v: &Value) {
    println!("{v}");
}

/// The answer to `block` and `unblock`.
pub fn block_json(key: &ArtistKey, blocked: bool) -> Value {
    json!({"artist_key": key.to_hex(), "blocked": blocked})
}

/// Prints the answer to `block` or `unblock`.
pub fn print_block(json_out: bool, v: &Value) {
    if json_out {
        print_json(v);
        return;
    }
    let key = v
        .get("artist_key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let short = key.get(..12).unwrap_or(key);
    match v.get("blocked").and_then(Value::as_bool) {
        Some(true) => println!("blocked artist {short}: its releases are hidden and not relayed"),
        _ => println!("unblocked artist {short}"),
    }
}

/// `{"artist_key", "following"}`: the answer to `follow` and `unfollow`.
pub fn follow_json(key: &ArtistKey, following: bool) -> Value {
    json!({"artist_key": key.to_hex(), "following": following})
}

/// Prints a [`follow_json`] object.
pub fn print_follow(json_out: bool, v: &Value) {
    if json_out {
        print_json(v);
        return;
    }
    let key = v.get("artist_key").and_then(Value::as_str).unwrap_or("?");
    if v.get("following").and_then(Value::as_bool) == Some(true) {
        println!("following {key}: its new releases come first in Discover");
    } else {
        println!("no longer following {key}");
    }
}

/// What `share ID` links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareTarget {
    /// A known track.
    Track(busker_core::model::TrackId),
    /// A playlist kept here.
    Playlist(busker_core::model::PlaylistId),
    /// An artist key.
    Artist(ArtistKey),
}

/// What `share ID` links to: a known track (by id or unique prefix), else a playlist (by id,
/// prefix or name), else an artist key (64 hex digits); the track lookup's error when it is
/// none of them.
pub fn share_target(library: &busker_core::Library, id: &str) -> busker_core::Result<ShareTarget> {
    let track = library
        .resolve(id)
        .and_then(|t| match library.store().has_manifest(&t)? {
            true => Ok(t),
            false => Err(busker_core::Error::UnknownTrack(t)),
        });
    let error = match track {
        Ok(t) => return Ok(ShareTarget::Track(t)),
        Err(e) => e,
    };
    if let Ok(list) = library.find_playlist(id) {
        return Ok(ShareTarget::Playlist(list.id));
    }
    id.parse::<ArtistKey>()
        .map(ShareTarget::Artist)
        .map_err(|_| error)
}
