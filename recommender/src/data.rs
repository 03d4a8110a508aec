//! Loading the Last.fm HetRec 2011 files (and anything in the same layout).
//!
//! The files are tab-separated with one header line. Their quirks, all handled here: mixed CRLF
//! and LF line endings, ISO-8859-1 text in some files (only the numeric columns are read, as bytes,
//! so no text decoding is needed), and sparse ids (users 2..2100, artists 1..18745), which
//! [`Dataset`] maps to contiguous indices.
//!
//! ```
//! use busker_recommender::{parse_interactions, Dataset};
//! let rows = parse_interactions(b"userID\tartistID\tweight\r\n2\t51\t13883\r\n7\t51\t5\n").unwrap();
//! let data = Dataset::new(&rows, &[]).unwrap();
//! assert_eq!((data.users.len(), data.items.len()), (2, 1));
//! ```

use crate::error::{Error, Result};
use crate::matrix::SparseRows;

/// One `user, item, weight` row as written in the file (raw ids).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RawInteraction {
    /// The user's id in the file.
    pub user: u32,
    /// The item's (artist's) id in the file.
    pub item: u32,
    /// The weight column (a play count in Last.fm).
    pub weight: f32,
}

/// Splits a file into lines without their `\r\n` or `\n`, with one-based line numbers.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes.split(|&b| b == b'\n').enumerate().map(|(i, line)| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        (i + 1, line)
    })
}

fn field<T: std::str::FromStr>(line: usize, raw: Option<&[u8]>, name: &str) -> Result<T> {
    let raw = raw.ok_or_else(|| Error::Parse {
        line,
        reason: format!("missing column {name}"),
    })?;
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| Error::Parse {
            line,
            reason: format!("column {name} is not a number"),
        })
}

/// Parses `user<TAB>item<TAB>weight` rows after one header line. Blank lines are skipped;
/// weights must be finite and non-negative.
pub fn parse_interactions(bytes: &[u8]) -> Result<Vec<RawInteraction>> {
    let mut out = Vec::new();
    for (n, line) in lines(bytes).skip(1) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut cols = line.split(|&b| b == b'\t');
        let user = field(n, cols.next(), "user")?;
        let item = field(n, cols.next(), "item")?;
        let weight: f32 = field(n, cols.next(), "weight")?;
        if !weight.is_finite() || weight < 0.0 {
            return Err(Error::Parse {
                line: n,
                reason: "weight must be finite and non-negative".into(),
            });
        }
        out.push(RawInteraction { user, item, weight });
    }
    Ok(out)
}

/// Parses `user<TAB>friend` rows after one header line (the `user_friends.dat` layout).
pub fn parse_friends(bytes: &[u8]) -> Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for (n, line) in lines(bytes).skip(1) {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut cols = line.split(|&b| b == b'\t');
        out.push((
            field(n, cols.next(), "user")?,
            field(n, cols.next(), "friend")?,
        ));
    }
    Ok(out)
}

/// Interactions with contiguous user and item indices, plus the (symmetric) friend graph.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Raw user id of each user index, ascending.
    pub users: Vec<u32>,
    /// Raw item id of each item index, ascending.
    pub items: Vec<u32>,
    /// Raw weights (play counts), one row per user; duplicate rows of the file are summed.
    pub counts: SparseRows,
    /// Friends of each user (indices, sorted, distinct, never the user itself).
    pub friends: Vec<Vec<u32>>,
}

impl Dataset {
    /// Builds the index maps. Rows with weight 0 are dropped; friendships naming a user without
    /// interactions are ignored.
    pub fn new(rows: &[RawInteraction], friend_rows: &[(u32, u32)]) -> Result<Self> {
        let rows: Vec<&RawInteraction> = rows.iter().filter(|r| r.weight > 0.0).collect();
        if rows.is_empty() {
            return Err(Error::Empty);
        }
        let mut users: Vec<u32> = rows.iter().map(|r| r.user).collect();
        users.sort_unstable();
        users.dedup();
        let mut items: Vec<u32> = rows.iter().map(|r| r.item).collect();
        items.sort_unstable();
        items.dedup();
        let index = |ids: &[u32], id: u32| ids.binary_search(&id).ok().map(|i| i as u32);
        let trip: Vec<(u32, u32, f32)> = rows
            .iter()
            .filter_map(|r| Some((index(&users, r.user)?, index(&items, r.item)?, r.weight)))
            .collect();
        let counts = SparseRows::from_triplets(users.len(), items.len(), &trip);
        let mut friends = vec![Vec::new(); users.len()];
        for &(a, b) in friend_rows {
            if let (Some(a), Some(b)) = (index(&users, a), index(&users, b))
                && a != b
            {
                friends[a as usize].push(b);
                friends[b as usize].push(a);
            }
        }
        for f in &mut friends {
            f.sort_unstable();
            f.dedup();
        }
        Ok(Dataset {
            users,
            items,
            counts,
            friends,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_lf_blank_lines_and_sparse_ids() {
        let text = b"userID\tartistID\tweight\r\n2\t51\t10\r\n\n2100\t18745\t3\n2\t18745\t1\r\n";
        let rows = parse_interactions(text).unwrap();
        assert_eq!(rows.len(), 3);
        let d = Dataset::new(&rows, &[(2, 2100), (2100, 2), (2, 9999)]).unwrap();
        assert_eq!(d.users, vec![2, 2100]);
        assert_eq!(d.items, vec![51, 18745]);
        assert_eq!(d.counts.row(0), (&[0u32, 1][..], &[10.0f32, 1.0][..]));
        assert_eq!(d.friends, vec![vec![1], vec![0]]);
    }

    #[test]
    fn latin1_bytes_in_a_numeric_column_are_an_error_not_a_panic() {
        let text = b"userID\tartistID\tweight\n2\t5\xe9\t1\n";
        assert!(matches!(
            parse_interactions(text),
            Err(Error::Parse { line: 2, .. })
        ));
        let text = b"h\n2\t5\n";
        assert!(parse_interactions(text).is_err());
        assert!(parse_interactions(b"h\n1\t2\tNaN\n").is_err());
        assert_eq!(Dataset::new(&[], &[]).unwrap_err(), Error::Empty);
    }

    #[test]
    fn latin1_text_columns_are_skipped_without_decoding() {
        // tags.dat-like layout: id, Latin-1 text. Only the first two numeric columns are read by
        // parse_friends, so a Latin-1 third column is harmless.
        let text = b"a\tb\tname\r\n1\t2\tBj\xf6rk\r\n";
        assert_eq!(parse_friends(text).unwrap(), vec![(1, 2)]);
    }

    #[test]
    fn loads_a_prefix_of_the_real_file() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/lastfm-hetrec2011/user_artists.dat"
        );
        let bytes = std::fs::read(path).unwrap();
        // The first 2000 lines keep the test fast in debug builds.
        let end = bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(2000)
            .map_or(bytes.len(), |(i, _)| i + 1);
        let rows = parse_interactions(&bytes[..end]).unwrap();
        assert_eq!(rows.len(), 2000);
        assert_eq!(
            rows[0],
            RawInteraction {
                user: 2,
                item: 51,
                weight: 13883.0
            }
        );
        let d = Dataset::new(&rows, &[]).unwrap();
        assert!(d.users.len() >= 40);
        assert_eq!(d.counts.nnz(), 2000);
        let tags = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../data/lastfm-hetrec2011/tags.dat"
        );
        let tags = std::fs::read(tags).unwrap();
        assert!(std::str::from_utf8(&tags).is_err(), "tags.dat is Latin-1");
        // A text column where a number belongs is an error, not a panic.
        assert!(parse_friends(&tags).is_err());
    }
}
