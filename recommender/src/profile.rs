//! Taste profiles: what a peer tells other peers about its taste, and their wire format.
//!
//! A [`TasteProfile`] is a bounded, sorted list of `(item, weight)` pairs (at most
//! [`MAX_PROFILE_ITEMS`], weights in `(0, MAX_WEIGHT]`, see [`crate::Feedback::weight`]), the
//! peers its owner follows (at most [`MAX_FOLLOWS`]) and a version number that grows with every
//! change, so that a newer profile replaces an older one.
//!
//! [`TasteProfile::encode`] gives the canonical bytes; [`TasteProfile::decode`] accepts exactly
//! those bytes and rejects anything else (wrong magic or format, truncation, trailing bytes,
//! counts over the limits, unsorted or duplicate keys, NaN, infinite, zero or negative weights,
//! a peer that follows itself) with [`crate::Error::InvalidProfile`], never a panic.
//!
//! **Signing** is done by `busker-core`, not here: the owner signs the canonical bytes with its
//! ed25519 peer key, and a receiver checks the signature against [`TasteProfile::peer`] before
//! it calls `decode`'s result useful. The recommender stays free of cryptography.
//!
//! ```
//! use busker_recommender::{Key, TasteProfile};
//! let p = TasteProfile::new(Key::from_u64(1), 3, [(Key::from_u64(7), 2.5)], [Key::from_u64(2)]);
//! let bytes = p.encode();
//! assert_eq!(TasteProfile::decode(&bytes).unwrap(), p);
//! assert!(TasteProfile::decode(&bytes[..bytes.len() - 1]).is_err());
//! ```

use crate::error::{Error, Result};

/// Most items a profile may list.
pub const MAX_PROFILE_ITEMS: usize = 100;
/// Most peers a profile may list as followed.
pub const MAX_FOLLOWS: usize = 100;
/// Largest item weight (`ln(1 + 352,698)` is about 12.8; room for stars on top).
pub const MAX_WEIGHT: f32 = 16.0;
/// Wire format version written by [`TasteProfile::encode`].
pub const PROFILE_FORMAT: u8 = 1;
const MAGIC: &[u8; 3] = b"BTP";
const HEADER: usize = 3 + 1 + 32 + 8;
/// Largest encoded profile in bytes.
pub const MAX_PROFILE_BYTES: usize = HEADER + 2 + MAX_PROFILE_ITEMS * 36 + 2 + MAX_FOLLOWS * 32;

/// A 32-byte identifier: a track or artist id, or a peer id, in the live network. The
/// simulation makes keys from Last.fm ids with [`Key::from_u64`], which keeps their order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// A key whose first 8 bytes are `x` big-endian and the rest zero (so keys sort like the
    /// numbers, and compare as fast as random keys do).
    pub fn from_u64(x: u64) -> Key {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&x.to_be_bytes());
        Key(k)
    }

    /// The number a [`Key::from_u64`] key was made from (the first 8 bytes).
    pub fn low_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0[8..].iter().all(|&b| b == 0) {
            write!(f, "Key({})", self.low_u64())
        } else {
            for b in &self.0[..6] {
                write!(f, "{b:02x}")?;
            }
            write!(f, "…")
        }
    }
}

/// What a peer shares about its taste.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TasteProfile {
    /// The peer this profile describes (and whose key signs it).
    pub peer: Key,
    /// Grows with every change; a receiver keeps the highest version it has seen.
    pub version: u64,
    /// Items and weights, sorted by key, distinct, weights in `(0, MAX_WEIGHT]`.
    pub items: Vec<(Key, f32)>,
    /// Followed peers, sorted, distinct, never `peer` itself.
    pub follows: Vec<Key>,
}

impl TasteProfile {
    /// The profile of row `user` of a user-item matrix (user, item and friend indices as keys,
    /// version 1), as the simulation, the benches and the examples build peers from a dataset.
    pub fn of_user(m: &crate::SparseRows, friends: &[u32], user: usize) -> Self {
        let (items, weights) = m.row(user);
        Self::new(
            Key::from_u64(user as u64),
            1,
            items
                .iter()
                .zip(weights)
                .map(|(&i, &x)| (Key::from_u64(u64::from(i)), x)),
            friends.iter().map(|&f| Key::from_u64(u64::from(f))),
        )
    }

    /// Builds a valid profile from arbitrary input: drops non-finite and non-positive weights,
    /// clamps to [`MAX_WEIGHT`], keeps the [`MAX_PROFILE_ITEMS`] heaviest items (sums
    /// duplicates), drops self-follows and duplicates and keeps the first [`MAX_FOLLOWS`].
    pub fn new(
        peer: Key,
        version: u64,
        items: impl IntoIterator<Item = (Key, f32)>,
        follows: impl IntoIterator<Item = Key>,
    ) -> Self {
        let mut all: Vec<(Key, f32)> = items.into_iter().filter(|(_, w)| w.is_finite()).collect();
        all.sort_by_key(|a| a.0);
        let mut merged: Vec<(Key, f32)> = Vec::with_capacity(all.len());
        for (k, w) in all {
            match merged.last_mut() {
                Some(last) if last.0 == k => last.1 += w,
                _ => merged.push((k, w)),
            }
        }
        merged.retain(|(_, w)| *w > 0.0);
        merged.iter_mut().for_each(|(_, w)| *w = w.min(MAX_WEIGHT));
        if merged.len() > MAX_PROFILE_ITEMS {
            merged.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            merged.truncate(MAX_PROFILE_ITEMS);
            merged.sort_by_key(|a| a.0);
        }
        let mut f: Vec<Key> = Vec::new();
        for k in follows {
            if k != peer && !f.contains(&k) && f.len() < MAX_FOLLOWS {
                f.push(k);
            }
        }
        f.sort_unstable();
        TasteProfile {
            peer,
            version,
            items: merged,
            follows: f,
        }
    }

    /// The canonical encoding: `"BTP"`, format byte, peer (32), version (u64 LE), item count
    /// (u16 LE), items (32-byte key + f32 LE weight), follow count (u16 LE), follows (32 each).
    pub fn encode(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(HEADER + 4 + self.items.len() * 36 + self.follows.len() * 32);
        out.extend_from_slice(MAGIC);
        out.push(PROFILE_FORMAT);
        out.extend_from_slice(&self.peer.0);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.items.len() as u16).to_le_bytes());
        for (k, w) in &self.items {
            out.extend_from_slice(&k.0);
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(self.follows.len() as u16).to_le_bytes());
        for k in &self.follows {
            out.extend_from_slice(&k.0);
        }
        out
    }

    /// Length of [`TasteProfile::encode`]'s output, without encoding.
    pub fn encoded_len(&self) -> usize {
        HEADER + 4 + self.items.len() * 36 + self.follows.len() * 32
    }

    /// Parses and validates canonical bytes; anything else is an error.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(Error::InvalidProfile("too many bytes"));
        }
        let mut r = Reader(bytes);
        if r.take(3)? != MAGIC {
            return Err(Error::InvalidProfile("bad magic"));
        }
        if r.take(1)?[0] != PROFILE_FORMAT {
            return Err(Error::InvalidProfile("unknown format version"));
        }
        let peer = r.key()?;
        let version = u64::from_le_bytes(r.array()?);
        let n = u16::from_le_bytes(r.array()?) as usize;
        if n > MAX_PROFILE_ITEMS {
            return Err(Error::InvalidProfile("too many items"));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.key()?;
            let w = f32::from_le_bytes(r.array()?);
            items.push((k, w));
        }
        let n = u16::from_le_bytes(r.array()?) as usize;
        if n > MAX_FOLLOWS {
            return Err(Error::InvalidProfile("too many follows"));
        }
        let mut follows = Vec::with_capacity(n);
        for _ in 0..n {
            follows.push(r.key()?);
        }
        if !r.0.is_empty() {
            return Err(Error::InvalidProfile("trailing bytes"));
        }
        let p = TasteProfile {
            peer,
            version,
            items,
            follows,
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the invariants listed on the fields.
    pub fn validate(&self) -> Result<()> {
        if self.items.len() > MAX_PROFILE_ITEMS {
            return Err(Error::InvalidProfile("too many items"));
        }
        if self.follows.len() > MAX_FOLLOWS {
            return Err(Error::InvalidProfile("too many follows"));
        }
        if self.items.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::InvalidProfile("items unsorted or duplicated"));
        }
        if self
            .items
            .iter()
            .any(|(_, w)| !(w.is_finite() && *w > 0.0 && *w <= MAX_WEIGHT))
        {
            return Err(Error::InvalidProfile("weight not in (0, MAX_WEIGHT]"));
        }
        if self.follows.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::InvalidProfile("follows unsorted or duplicated"));
        }
        if self.follows.binary_search(&self.peer).is_ok() {
            return Err(Error::InvalidProfile("peer follows itself"));
        }
        Ok(())
    }

    /// Item keys (sorted) and weights as two slices' worth of vectors, for similarity.
    pub fn split_items(&self) -> (Vec<Key>, Vec<f32>) {
        self.items.iter().copied().unzip()
    }

    /// The weight of `item`, 0 if absent.
    pub fn weight(&self, item: &Key) -> f32 {
        self.items
            .binary_search_by(|(k, _)| k.cmp(item))
            .map_or(0.0, |i| self.items[i].1)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(Error::InvalidProfile("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn key(&mut self) -> Result<Key> {
        Ok(Key(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn k(x: u64) -> Key {
        Key::from_u64(x)
    }

    #[test]
    fn new_sanitises_input() {
        let p = TasteProfile::new(
            k(1),
            0,
            [
                (k(5), 1.0),
                (k(3), f32::NAN),
                (k(5), 2.0),
                (k(4), -1.0),
                (k(9), 99.0),
            ],
            [k(1), k(2), k(2)],
        );
        assert_eq!(p.items, vec![(k(5), 3.0), (k(9), MAX_WEIGHT)]);
        assert_eq!(p.follows, vec![k(2)]);
        p.validate().unwrap();
        let big = TasteProfile::new(
            k(1),
            0,
            (0..500).map(|i| (k(i), i as f32 / 100.0 + 0.1)),
            [],
        );
        assert_eq!(big.items.len(), MAX_PROFILE_ITEMS);
        assert_eq!(big.items[0].0, k(400));
        assert_eq!(big.encoded_len(), big.encode().len());
    }

    #[test]
    fn hostile_profiles_are_rejected() {
        let good = TasteProfile::new(k(1), 2, [(k(2), 1.0), (k(3), 1.0)], [k(4)]);
        let bytes = good.encode();
        assert_eq!(TasteProfile::decode(&bytes).unwrap(), good);
        // NaN weight: bytes of the first weight live after header, count and first key.
        let mut nan = bytes.clone();
        let at = HEADER + 2 + 32;
        nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(TasteProfile::decode(&nan).is_err());
        // Duplicate item.
        let mut dup = good.clone();
        dup.items[1].0 = dup.items[0].0;
        assert!(TasteProfile::decode(&dup.encode()).is_err());
        // Oversized item count.
        let mut big = bytes.clone();
        big[HEADER..HEADER + 2].copy_from_slice(&500u16.to_le_bytes());
        assert!(TasteProfile::decode(&big).is_err());
        let mut over = good.clone();
        over.items = (0..101).map(|i| (k(i), 1.0)).collect();
        assert_eq!(
            TasteProfile::decode(&over.encode()),
            Err(Error::InvalidProfile("too many items"))
        );
        // Trailing garbage, wrong magic, self-follow, huge weight.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(TasteProfile::decode(&trailing).is_err());
        assert!(TasteProfile::decode(b"XYZ\x01").is_err());
        let mut selfish = good.clone();
        selfish.follows = vec![k(1)];
        assert!(TasteProfile::decode(&selfish.encode()).is_err());
        let mut heavy = good.clone();
        heavy.items[0].1 = 1e9;
        assert!(TasteProfile::decode(&heavy.encode()).is_err());
        assert!(TasteProfile::decode(&vec![0u8; MAX_PROFILE_BYTES + 1]).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = TasteProfile::decode(&bytes);
            let mut framed = b"BTP\x01".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = TasteProfile::decode(&framed);
        }

        #[test]
        fn round_trip(
            peer in any::<u64>(),
            version in any::<u64>(),
            items in proptest::collection::vec((any::<u64>(), -1.0f32..20.0), 0..150),
            follows in proptest::collection::vec(any::<u64>(), 0..120),
        ) {
            let p = TasteProfile::new(
                k(peer),
                version,
                items.into_iter().map(|(i, w)| (k(i), w)),
                follows.into_iter().map(k),
            );
            p.validate().unwrap();
            prop_assert_eq!(TasteProfile::decode(&p.encode()).unwrap(), p);
        }
    }
}
