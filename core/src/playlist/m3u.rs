//! Extended M3U, the playlist format every player reads: `#EXTM3U`, then per entry an optional
//! `#EXTINF:SECONDS,Artist - Title` line and a location (a path, a URL).
//!
//! Busker writes one more comment per entry, `#BUSKER:<track id>`, which other players skip and
//! Busker reads back to find exactly the release it exported; the location is the audio's file
//! when the track is whole here (any player opens it) and its `busker://track/...` link when not.
//! A playlist made elsewhere has only `#EXTINF` titles and paths: the library matches those
//! against what it knows (see `Library::import_playlist`).

use crate::model::TrackId;

/// The largest M3U file read.
pub const MAX_M3U_BYTES: usize = 1 << 20;
const BUSKER_TAG: &str = "#BUSKER:";

/// One entry of an M3U file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Seconds, from `#EXTINF` (-1 or absent when unknown).
    pub seconds: Option<i64>,
    /// The display text of `#EXTINF`, usually `Artist - Title`.
    pub title: Option<String>,
    /// The release, from Busker's own `#BUSKER:` line.
    pub track: Option<TrackId>,
    /// The path or URL.
    pub location: String,
}

/// Why an M3U file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum M3uError {
    /// Over [`MAX_M3U_BYTES`].
    #[error("the playlist file is {0} bytes; at most {MAX_M3U_BYTES} are read")]
    TooLarge(usize),
    /// Not text.
    #[error("the playlist file is not UTF-8 text")]
    NotText,
}

/// The M3U text of a playlist called `name`.
pub fn write(name: &str, entries: &[Entry]) -> String {
    let mut out = String::from("#EXTM3U\n");
    out.push_str(&format!("#PLAYLIST:{}\n", one_line(name)));
    for e in entries {
        if e.seconds.is_some() || e.title.is_some() {
            out.push_str(&format!(
                "#EXTINF:{},{}\n",
                e.seconds.unwrap_or(-1),
                one_line(e.title.as_deref().unwrap_or_default())
            ));
        }
        if let Some(id) = e.track {
            out.push_str(&format!("{BUSKER_TAG}{id}\n"));
        }
        out.push_str(&one_line(&e.location));
        out.push('\n');
    }
    out
}

/// Reads an M3U (plain or extended; CRLF or LF; a UTF-8 byte order mark skipped): the
/// `#PLAYLIST:` name if any, and the entries in order. Unknown comments are skipped.
pub fn parse(bytes: &[u8]) -> Result<(Option<String>, Vec<Entry>), M3uError> {
    if bytes.len() > MAX_M3U_BYTES {
        return Err(M3uError::TooLarge(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| M3uError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut name = None;
    let mut entries = Vec::new();
    let mut next = Entry::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(info) = line.strip_prefix("#EXTINF:") {
            let (seconds, title) = info.split_once(',').unwrap_or((info, ""));
            // Attributes (`#EXTINF:-1 tvg-id="..",Title`) follow the seconds: keep the number.
            let seconds = seconds.split_whitespace().next().unwrap_or_default();
            next.seconds = seconds.parse().ok().filter(|s| *s >= 0);
            next.title = Some(title.trim().to_owned()).filter(|t| !t.is_empty());
        } else if let Some(id) = line.strip_prefix(BUSKER_TAG) {
            next.track = id.trim().parse().ok();
        } else if let Some(n) = line.strip_prefix("#PLAYLIST:") {
            name = Some(n.trim().to_owned()).filter(|n| !n.is_empty());
        } else if !line.starts_with('#') {
            next.location = line.to_owned();
            entries.push(std::mem::take(&mut next));
        }
    }
    Ok((name, entries))
}

fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back() {
        let entries = vec![
            Entry {
                seconds: Some(139),
                title: Some("Ada - Spring\nof love".into()),
                track: Some(TrackId([3; 32])),
                location: "/music/a b.mp3".into(),
            },
            Entry {
                location: "busker://track/AQ".into(),
                ..Entry::default()
            },
        ];
        let text = write("Evening", &entries);
        assert!(text.starts_with("#EXTM3U\n#PLAYLIST:Evening\n#EXTINF:139,Ada - Spring of love\n"));
        let (name, back) = parse(text.as_bytes()).unwrap();
        assert_eq!(name.as_deref(), Some("Evening"));
        assert_eq!(back[0].title.as_deref(), Some("Ada - Spring of love"));
        assert_eq!(back[0].track, entries[0].track);
        assert_eq!(back[1], entries[1]);
    }

    #[test]
    fn playlists_from_other_players_read_with_their_quirks() {
        let text = "\u{feff}#EXTM3U\r\n#EXTINF:-1 tvg-id=\"x\",Radio\r\n\r\nhttp://h/s\r\n\
                    # a comment\r\nrelative/song.ogg\r\n#EXTINF:oops,\r\nC:\\m\\x.flac\r\n";
        let (name, entries) = parse(text.as_bytes()).unwrap();
        assert_eq!(name, None);
        let got: Vec<_> = entries
            .iter()
            .map(|e| (e.seconds, e.title.as_deref(), e.location.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, Some("Radio"), "http://h/s"),
                (None, None, "relative/song.ogg"),
                (None, None, "C:\\m\\x.flac"),
            ]
        );
    }

    #[test]
    fn an_oversized_or_binary_file_is_refused() {
        let big = vec![b'a'; MAX_M3U_BYTES + 1];
        assert_eq!(parse(&big), Err(M3uError::TooLarge(MAX_M3U_BYTES + 1)));
        assert_eq!(parse(&[0xff, 0xfe, 0x00]), Err(M3uError::NotText));
    }
}
