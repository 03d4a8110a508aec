//! How results are printed: one JSON object per line with `--json`, readable text otherwise.

use busker_core::model::Manifest;
use busker_core::{Recommended, TrackSummary};
use serde_json::{Value, json};

/// The `publish` object of `CLI.md`.
pub fn track_json(manifest: &Manifest) -> Value {
    let info = manifest.info();
    json!({
        "id": manifest.id().to_hex(),
        "title": info.title,
        "artist": info.artist,
        "album": info.album,
        "duration_secs": info.duration_ms as f64 / 1000.0,
        "format": info.format.as_str(),
    })
}

/// The `list` / `search` object of `CLI.md`: the track plus availability.
pub fn summary_json(t: &TrackSummary) -> Value {
    json!({
        "id": t.id.to_hex(),
        "title": t.info.title,
        "artist": t.info.artist,
        "album": t.info.album,
        "duration_secs": t.info.duration_ms as f64 / 1000.0,
        "format": t.info.format.as_str(),
        "local": t.local,
        "providers": t.providers,
    })
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

/// `m:ss`.
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

/// One readable line for a track.
pub fn summary_line(t: &TrackSummary) -> String {
    let album = if t.info.album.is_empty() {
        String::new()
    } else {
        format!(" [{}]", t.info.album)
    };
    let availability = if t.local {
        "here".to_owned()
    } else if t.providers > 0 {
        format!("{} peers", t.providers)
    } else {
        "announced".to_owned()
    };
    format!(
        "{}  {} - {}{}  {} {}  ({})",
        &t.id.to_hex()[..12],
        t.info.artist,
        t.info.title,
        album,
        duration(t.info.duration_ms),
        t.info.format,
        availability
    )
}

/// Prints a JSON value as one line.
pub fn print_json(v: &Value) {
    println!("{v}");
}
