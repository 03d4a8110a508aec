//! `busker playlist ...`: one [`PlaylistOp`] per command, carried out by [`apply`] on a
//! [`Library`], the same whether the CLI opened the data dir itself or sent the op to a running
//! node (`POST /v1/playlist`, whose answer is what [`apply`] returns). Files stay on the CLI's
//! side: `export` answers the M3U text and the CLI writes it, `import` sends the file's text.

use std::path::PathBuf;

use anyhow::{Context, Result};
use busker_core::Library;
use busker_core::model::{ArtistKey, TrackId};
use busker_core::playlist::Playlist;
use busker_core::{PlaylistEdit, TrackSummary};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::output::{self, summary_json};

/// One playlist command. Playlists are named by id, a unique prefix of 6+ hex digits or name;
/// tracks by id or unique prefix; positions count from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PlaylistOp {
    /// A new playlist.
    Create {
        /// Its name.
        name: String,
        /// Tracks to start with.
        ids: Vec<String>,
    },
    /// Every playlist.
    List,
    /// One playlist's tracks.
    Show {
        /// The playlist.
        playlist: String,
    },
    /// Append tracks.
    Add {
        /// The playlist.
        playlist: String,
        /// The tracks.
        ids: Vec<String>,
    },
    /// Take out tracks by position.
    Remove {
        /// The playlist.
        playlist: String,
        /// Positions (from 1).
        positions: Vec<usize>,
    },
    /// Move one track.
    Move {
        /// The playlist.
        playlist: String,
        /// Its position now.
        from: usize,
        /// Its position after.
        to: usize,
    },
    /// A new name.
    Rename {
        /// The playlist.
        playlist: String,
        /// The new name.
        name: String,
    },
    /// Forget a playlist.
    Delete {
        /// The playlist.
        playlist: String,
    },
    /// The M3U text of a playlist (`{"playlist", "m3u"}`).
    Export {
        /// The playlist.
        playlist: String,
    },
    /// A new playlist from an M3U file's text (`{"playlist", "skipped"}`).
    Import {
        /// The file's text.
        m3u: String,
        /// The file's folder, for relative paths in it.
        base: Option<PathBuf>,
        /// The name to give (else the file's own, else `fallback_name`).
        name: Option<String>,
        /// The file's name without extension.
        fallback_name: String,
    },
}

/// The playlist object of `CLI.md`: `{"id", "name", "tracks": [id, ..]}`, plus `owner` and
/// whether it is this peer's (`own`: only those can be changed here).
pub fn playlist_json(list: &Playlist, own: &ArtistKey) -> Value {
    json!({
        "id": list.id.to_hex(),
        "name": list.name,
        "tracks": list.tracks.iter().map(TrackId::to_hex).collect::<Vec<_>>(),
        "owner": list.owner.to_hex(),
        "own": list.owner == *own,
        "version": list.version,
    })
}

/// Carries out `op` on `library`. The answer: the playlist object for edits, a list of them
/// for `list`, a list of track objects for `show`, and for `delete` `{"id", "deleted": true}`.
pub fn apply(library: &Library, op: &PlaylistOp) -> Result<Value> {
    let own = library.artist_key();
    let ids = |refs: &[String]| -> Result<Vec<TrackId>> {
        refs.iter()
            .map(|r| library.resolve(r).map_err(Into::into))
            .collect()
    };
    let edit = |playlist: &str, edit: PlaylistEdit| -> Result<Value> {
        let id = library.find_playlist(playlist)?.id;
        Ok(playlist_json(&library.edit_playlist(&id, edit)?, &own))
    };
    match op {
        PlaylistOp::Create { name, ids: refs } => {
            let list = library.create_playlist(name, &ids(refs)?)?;
            Ok(playlist_json(&list, &own))
        }
        PlaylistOp::List => Ok(Value::Array(
            library
                .playlists()?
                .iter()
                .map(|l| playlist_json(l, &own))
                .collect(),
        )),
        PlaylistOp::Show { playlist } => {
            let list = library.find_playlist(playlist)?;
            let tracks = library.playlist_tracks(&list)?;
            Ok(Value::Array(tracks.iter().map(summary_json).collect()))
        }
        PlaylistOp::Add {
            playlist,
            ids: refs,
        } => edit(playlist, PlaylistEdit::Add(ids(refs)?)),
        PlaylistOp::Remove {
            playlist,
            positions,
        } => edit(playlist, PlaylistEdit::Remove(positions.clone())),
        PlaylistOp::Move { playlist, from, to } => edit(
            playlist,
            PlaylistEdit::Move {
                from: *from,
                to: *to,
            },
        ),
        PlaylistOp::Rename { playlist, name } => edit(playlist, PlaylistEdit::Rename(name.clone())),
        PlaylistOp::Delete { playlist } => {
            let list = library.find_playlist(playlist)?;
            library.delete_playlist(&list.id)?;
            Ok(json!({"id": list.id.to_hex(), "name": list.name, "deleted": true}))
        }
        PlaylistOp::Export { playlist } => {
            let list = library.find_playlist(playlist)?;
            let m3u = library.export_playlist(&list)?;
            Ok(json!({"playlist": playlist_json(&list, &own), "m3u": m3u}))
        }
        PlaylistOp::Import {
            m3u,
            base,
            name,
            fallback_name,
        } => {
            let imported = library.import_playlist(
                m3u.as_bytes(),
                base.as_deref(),
                name.as_deref(),
                fallback_name,
            )?;
            Ok(json!({
                "playlist": playlist_json(&imported.playlist, &own),
                "skipped": imported.skipped,
            }))
        }
    }
}

/// The playlist an op changed, as its answer names it (for a node to share the new record).
pub fn changed(op: &PlaylistOp, answer: &Value) -> Option<busker_core::model::PlaylistId> {
    let id = match op {
        PlaylistOp::List | PlaylistOp::Show { .. } | PlaylistOp::Export { .. } => return None,
        PlaylistOp::Import { .. } => answer.get("playlist")?.get("id")?,
        _ => answer.get("id")?,
    };
    id.as_str()?.parse().ok()
}

/// Reads an M3U file into an import op.
pub fn import_op(file: &std::path::Path, name: Option<String>) -> Result<PlaylistOp> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let m3u = String::from_utf8(bytes)
        .map_err(|_| busker_core::playlist::m3u::M3uError::NotText)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    Ok(PlaylistOp::Import {
        m3u,
        base: absolute.parent().map(std::path::Path::to_path_buf),
        name,
        fallback_name: file.file_stem().map_or_else(
            || "Imported".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        ),
    })
}

/// Prints `answer` to `op` (one JSON value per line with `--json`; for `show` one track per
/// line, as `list` prints them), and for `export` writes the file first.
pub fn print(
    json_out: bool,
    op: &PlaylistOp,
    answer: &Value,
    export_to: Option<&std::path::Path>,
) -> Result<()> {
    match op {
        PlaylistOp::List => {
            let lists = answer.as_array().cloned().unwrap_or_default();
            if !json_out && lists.is_empty() {
                eprintln!("no playlists yet; make one with `busker playlist create NAME [ID...]`");
            }
            for list in &lists {
                print_playlist(json_out, list);
            }
        }
        PlaylistOp::Show { .. } => {
            for track in answer.as_array().into_iter().flatten() {
                output::print_track(json_out, track);
            }
        }
        PlaylistOp::Delete { .. } if !json_out => {
            println!("deleted playlist {:?}", text(answer, "name"));
        }
        PlaylistOp::Export { .. } => {
            let m3u = answer
                .get("m3u")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let list = answer.get("playlist").unwrap_or(&Value::Null);
            if let Some(path) = export_to {
                std::fs::write(path, m3u)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                if !json_out {
                    let tracks = list["tracks"].as_array().map_or(0, Vec::len);
                    let name = text(list, "name");
                    println!("wrote {name:?} ({tracks} tracks) to {}", path.display());
                    return Ok(());
                }
            }
            print_playlist(json_out, list);
        }
        PlaylistOp::Import { .. } => {
            for skipped in answer["skipped"].as_array().into_iter().flatten() {
                eprintln!("skipped {}", skipped.as_str().unwrap_or_default());
            }
            print_playlist(json_out, answer.get("playlist").unwrap_or(&Value::Null));
        }
        _ => print_playlist(json_out, answer),
    }
    Ok(())
}

fn print_playlist(json_out: bool, list: &Value) {
    if json_out {
        output::print_json(list);
        return;
    }
    let tracks = list["tracks"].as_array().map_or(0, Vec::len);
    let owner = if list["own"].as_bool() == Some(false) {
        " (shared with you)"
    } else {
        ""
    };
    println!(
        "{}  {}  {tracks} tracks{owner}",
        &text(list, "id")[..text(list, "id").len().min(12)],
        text(list, "name")
    );
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The tracks of an opened playlist as `open` answers them: the playlist object with
/// `releases`, a track object (or `{"id"}` when nobody reachable described it) per entry.
pub fn opened_json(
    list: &Playlist,
    own: &ArtistKey,
    tracks: &[(TrackId, Option<TrackSummary>)],
) -> Value {
    let mut v = playlist_json(list, own);
    v["releases"] = tracks
        .iter()
        .map(|(id, t)| {
            t.as_ref()
                .map_or_else(|| json!({"id": id.to_hex()}), summary_json)
        })
        .collect();
    v
}
