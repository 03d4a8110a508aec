//! `busker playlist ...`: one [`PlaylistOp`] per command (clap reads it, serde carries it),
//! carried out by [`apply`] on a [`Library`], the same whether the CLI opened the data dir
//! itself or sent the op to a running node (`POST /v1/playlist`, whose answer is what [`apply`]
//! returns). Files stay on the CLI's side: `export` answers the M3U text and the CLI writes
//! it, `import` carries the file's text.

use std::path::PathBuf;

use anyhow::{Context, Result};
use busker_core::Library;
use busker_core::model::{ArtistKey, TrackId};
use busker_core::playlist::Playlist;
use busker_core::{PlaylistEdit, TrackSummary};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::output::{self, summary_json};

/// One playlist command: `busker playlist ...` as clap reads it, and the body of
/// `POST /v1/playlist`. A playlist is named by its id, its name, a unique prefix of 6+ hex digits
/// of its id, or the start of its name; tracks by id or unique prefix; positions count from 1
/// (as `playlist show` lists). Files stay on the CLI's side: `export` answers the M3U text for
/// the CLI to write, and [`PlaylistOp::prepared`] reads an `import`'s file into the op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PlaylistOp {
    /// Make a playlist, with tracks to start with.
    Create {
        /// Its name.
        name: String,
        /// Tracks, in order.
        #[arg(value_name = "ID")]
        ids: Vec<String>,
    },
    /// Every playlist (yours and those opened from links).
    List,
    /// A playlist's tracks, in order.
    Show {
        /// The playlist.
        playlist: String,
    },
    /// Add tracks at the end.
    Add {
        /// The playlist.
        playlist: String,
        /// Tracks, in order.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Take tracks out, by position.
    Remove {
        /// The playlist.
        playlist: String,
        /// Positions, from 1.
        #[arg(required = true, value_name = "POSITION")]
        positions: Vec<usize>,
    },
    /// Move a track to another position.
    Move {
        /// The playlist.
        playlist: String,
        /// Its position now.
        from: usize,
        /// Its new position.
        to: usize,
    },
    /// Give a playlist a new name.
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
    /// Write a playlist as an M3U file: tracks held here point at their audio file (any player
    /// opens them), others at their busker:// link.
    Export {
        /// The playlist.
        playlist: String,
        /// The M3U file to write.
        #[arg(value_name = "FILE.m3u")]
        file: PathBuf,
    },
    /// Make a playlist of an M3U file (Busker's own, or another player's: entries are matched
    /// to known tracks by title and tags).
    Import {
        /// The M3U file (relative entries in it are read against its folder).
        #[arg(value_name = "FILE.m3u")]
        file: PathBuf,
        /// The playlist's name (default: the file's own, else its file name).
        #[arg(long)]
        name: Option<String>,
        // The file's text, read by `prepared` (not a command-line argument).
        #[arg(skip)]
        #[serde(default)]
        m3u: String,
    },
}

impl PlaylistOp {
    /// The op ready to carry out anywhere: an import with its file read and its path absolute.
    pub fn prepared(self) -> Result<Self> {
        let Self::Import { file, name, .. } = self else {
            return Ok(self);
        };
        let bytes =
            std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let m3u = String::from_utf8(bytes)
            .map_err(|_| busker_core::playlist::m3u::M3uError::NotText)
            .with_context(|| format!("cannot import {}", file.display()))?;
        let file = std::path::absolute(&file).unwrap_or(file);
        Ok(Self::Import { file, name, m3u })
    }
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
        PlaylistOp::Export { playlist, .. } => {
            let list = library.find_playlist(playlist)?;
            let m3u = library.export_playlist(&list)?;
            Ok(json!({"playlist": playlist_json(&list, &own), "m3u": m3u}))
        }
        PlaylistOp::Import { file, name, m3u } => {
            let fallback = file.file_stem().map_or_else(
                || "Imported".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            );
            let imported = library.import_playlist(
                m3u.as_bytes(),
                file.parent(),
                name.as_deref(),
                &fallback,
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

/// Prints `answer` to `op` (one JSON value per line with `--json`; for `show` one track per
/// line, as `list` prints them), and for `export` writes the file first.
pub fn print(json_out: bool, op: &PlaylistOp, answer: &Value) -> Result<()> {
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
        PlaylistOp::Export { file: path, .. } => {
            let m3u = answer
                .get("m3u")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let list = answer.get("playlist").unwrap_or(&Value::Null);
            std::fs::write(path, m3u)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if json_out {
                print_playlist(json_out, list);
            } else {
                let tracks = list["tracks"].as_array().map_or(0, Vec::len);
                let name = text(list, "name");
                println!("wrote {name:?} ({tracks} tracks) to {}", path.display());
            }
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
