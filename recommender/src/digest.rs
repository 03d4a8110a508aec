//! Profile digests: a compact form of a taste profile that only feeds item statistics.
//!
//! A [`TasteProfile`] names items by 32-byte keys (36 bytes an item with its weight), which is
//! what a peer needs to recommend an item, but most profiles a peer is offered only feed its
//! streamed item statistics ([`crate::WalkStream`], [`crate::CoStream`]), which keep 64-bit
//! fingerprints anyway. A [`ProfileDigest`] carries exactly that: the owner's key and version,
//! and each item as its 64-bit fingerprint ([`item_fingerprint`]) with its weight quantised to
//! one byte (9 bytes an item), so a gossip message can carry four times as many profiles'
//! worth of statistics. A digest does not list follows and cannot be kept as a neighbour: a
//! receiver cannot name its items, only match them with items it knows.
//!
//! [`ProfileDigest::encode`] gives the canonical bytes: `"BTD"`, format byte, peer (32),
//! version (u64 LE), item count (u16 LE), items (fingerprint u64 LE, weight byte), fingerprints
//! strictly increasing, weight bytes non-zero. [`ProfileDigest::decode`] accepts exactly those
//! bytes. Like a profile, a digest is signed by its owner in the live network, so that a
//! forwarder can pass on its kept neighbours' digests but not forge them.
//!
//! ```
//! use busker_recommender::{Key, ProfileDigest, TasteProfile};
//! let p = TasteProfile::new(Key::from_u64(1), 3, [(Key::from_u64(7), 2.5)], []);
//! let d = ProfileDigest::of(&p);
//! assert_eq!(ProfileDigest::decode(&d.encode()).unwrap(), d);
//! assert_eq!(d.encode().len(), 46 + 9);
//! ```

use crate::error::{Error, Result};
use crate::profile::{Key, MAX_PROFILE_ITEMS, MAX_WEIGHT, TasteProfile};

const MAGIC: &[u8; 3] = b"BTD";
/// Wire format version written by [`ProfileDigest::encode`].
pub const DIGEST_FORMAT: u8 = 1;
const HEADER: usize = 3 + 1 + 32 + 8 + 2;
/// Largest encoded digest in bytes.
pub const MAX_DIGEST_BYTES: usize = HEADER + MAX_PROFILE_ITEMS * 9;

/// A 64-bit fingerprint of a key (its four 8-byte words folded), as the streamed statistics
/// and digests name items.
pub fn item_fingerprint(k: &Key) -> u64 {
    k.0.chunks_exact(8).fold(0u64, |acc, c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        acc.rotate_left(17) ^ u64::from_le_bytes(b)
    })
}

/// Hashes 64-bit fingerprints with MurmurHash3's 64-bit finaliser instead of SipHash: the
/// streamed statistics look fingerprints up millions of times per simulation. (The finaliser
/// matters: the simulation's item keys are small numbers, whose fingerprints have all-zero low
/// bits, and a plain multiplication would put them all in one bucket.)
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FingerprintHasher(u64);

fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

impl std::hash::Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = fmix64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = fmix64(self.0 ^ x);
    }
}

/// A map keyed by fingerprints.
pub(crate) type FingerprintMap<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<FingerprintHasher>>;
/// A set of fingerprints.
pub(crate) type FingerprintSet =
    std::collections::HashSet<u64, std::hash::BuildHasherDefault<FingerprintHasher>>;

/// A profile's items as fingerprints with quantised weights (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileDigest {
    /// The peer the profile describes.
    pub peer: Key,
    /// The version of the profile it was made from.
    pub version: u64,
    /// `(fingerprint, weight byte)`, fingerprints strictly increasing, bytes non-zero; the
    /// weight is `byte * MAX_WEIGHT / 255`.
    pub items: Vec<(u64, u8)>,
}

impl ProfileDigest {
    /// The digest of `profile` (weights rounded to the nearest step, at least one step).
    pub fn of(profile: &TasteProfile) -> Self {
        let mut items: Vec<(u64, u8)> = profile
            .items
            .iter()
            .map(|(k, w)| {
                let q = (w / MAX_WEIGHT * 255.0).round().clamp(1.0, 255.0) as u8;
                (item_fingerprint(k), q)
            })
            .collect();
        items.sort_unstable_by_key(|x| x.0);
        // Two keys with one fingerprint: keep the first (the statistics would merge them).
        items.dedup_by_key(|x| x.0);
        ProfileDigest {
            peer: profile.peer,
            version: profile.version,
            items,
        }
    }

    /// The weight a weight byte stands for.
    pub fn weight(byte: u8) -> f32 {
        f32::from(byte) * MAX_WEIGHT / 255.0
    }

    /// Items as `(fingerprint, weight)`.
    pub fn weighted_items(&self) -> impl Iterator<Item = (u64, f32)> + '_ {
        self.items.iter().map(|&(f, q)| (f, Self::weight(q)))
    }

    /// Length of the digest of `profile`, without making it (at most: items whose
    /// fingerprints collide are merged).
    pub fn len_of(profile: &TasteProfile) -> usize {
        HEADER + 9 * profile.items.len()
    }

    /// Length of [`ProfileDigest::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        HEADER + 9 * self.items.len()
    }

    /// The canonical encoding (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(DIGEST_FORMAT);
        out.extend_from_slice(&self.peer.0);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.items.len() as u16).to_le_bytes());
        for &(f, q) in &self.items {
            out.extend_from_slice(&f.to_le_bytes());
            out.push(q);
        }
        out
    }

    /// Parses and validates canonical bytes; anything else is [`Error::InvalidProfile`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_DIGEST_BYTES {
            return Err(Error::InvalidProfile("digest too long"));
        }
        if bytes.len() < HEADER || &bytes[..3] != MAGIC {
            return Err(Error::InvalidProfile("bad digest header"));
        }
        if bytes[3] != DIGEST_FORMAT {
            return Err(Error::InvalidProfile("unknown digest format version"));
        }
        let mut peer = [0u8; 32];
        peer.copy_from_slice(&bytes[4..36]);
        let mut v = [0u8; 8];
        v.copy_from_slice(&bytes[36..44]);
        let n = usize::from(u16::from_le_bytes([bytes[44], bytes[45]]));
        if n > MAX_PROFILE_ITEMS || bytes.len() != HEADER + 9 * n {
            return Err(Error::InvalidProfile(
                "digest length does not match its count",
            ));
        }
        let mut items = Vec::with_capacity(n);
        for c in bytes[HEADER..].chunks_exact(9) {
            let mut f = [0u8; 8];
            f.copy_from_slice(&c[..8]);
            items.push((u64::from_le_bytes(f), c[8]));
        }
        if items.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::InvalidProfile("digest items unsorted or duplicated"));
        }
        if items.iter().any(|x| x.1 == 0) {
            return Err(Error::InvalidProfile("digest weight zero"));
        }
        Ok(ProfileDigest {
            peer: Key(peer),
            version: u64::from_le_bytes(v),
            items,
        })
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
    fn digest_quantises_weights_and_sorts_by_fingerprint() {
        let p = TasteProfile::new(
            k(1),
            2,
            [(k(5), MAX_WEIGHT), (k(6), 0.001), (k(7), 8.0)],
            [],
        );
        let d = ProfileDigest::of(&p);
        assert_eq!(d.items.len(), 3);
        assert!(d.items.windows(2).all(|w| w[0].0 < w[1].0));
        let byte = |key: u64| {
            d.items
                .iter()
                .find(|x| x.0 == item_fingerprint(&k(key)))
                .unwrap()
                .1
        };
        // 16 -> 255; 0.001 rounds to 0 and is kept at one step; 8 -> 127.5 rounds to 128.
        assert_eq!((byte(5), byte(6), byte(7)), (255, 1, 128));
        assert!((ProfileDigest::weight(128) - 128.0 * 16.0 / 255.0).abs() < 1e-6);
        // Key::from_u64(x) folds to x rotated by 3 * 17 bits: distinct for distinct x.
        assert_eq!(item_fingerprint(&k(1)), 1u64.to_be().rotate_left(51));
    }

    #[test]
    fn hostile_digests_are_rejected() {
        let d = ProfileDigest::of(&TasteProfile::new(k(1), 2, [(k(5), 1.0), (k(6), 2.0)], []));
        let bytes = d.encode();
        assert_eq!(bytes.len(), 46 + 18);
        assert_eq!(ProfileDigest::decode(&bytes).unwrap(), d);
        assert!(ProfileDigest::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(ProfileDigest::decode(&extra).is_err());
        let mut zero = bytes.clone();
        zero[HEADER + 8] = 0;
        assert!(ProfileDigest::decode(&zero).is_err());
        let mut swapped = d.clone();
        swapped.items.swap(0, 1);
        assert!(ProfileDigest::decode(&swapped.encode()).is_err());
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(ProfileDigest::decode(&magic).is_err());
        let mut format = bytes;
        format[3] = 9;
        assert!(ProfileDigest::decode(&format).is_err());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let _ = ProfileDigest::decode(&bytes);
            let mut framed = b"BTD\x01".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = ProfileDigest::decode(&framed);
        }

        #[test]
        fn round_trip(
            peer in any::<u64>(),
            items in proptest::collection::vec((any::<u64>(), 0.01f32..16.0), 0..120),
        ) {
            let p = TasteProfile::new(k(peer), 1, items.into_iter().map(|(i, w)| (k(i), w)), []);
            let d = ProfileDigest::of(&p);
            prop_assert_eq!(ProfileDigest::decode(&d.encode()).unwrap(), d);
        }
    }
}
