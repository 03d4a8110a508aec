//! What a peer keeps about other peers: their taste profiles, the bans it gave them, and the
//! peers it joined through an invite (`known_peers`: peer id bytes -> its addresses, dialled
//! again at every start).

use super::Store;
use crate::error::Result;

impl Store {
    /// Keeps a neighbour's signed taste profile (replacing the one kept for that peer).
    pub fn put_profile(&self, peer: &[u8; 32], signed: &[u8]) -> Result<()> {
        self.profiles.insert(peer, signed)?;
        Ok(())
    }

    /// Forgets a neighbour's taste profile.
    pub fn remove_profile(&self, peer: &[u8; 32]) -> Result<()> {
        self.profiles.remove(peer)?;
        Ok(())
    }

    /// Every kept taste profile, as stored (the caller verifies them again).
    pub fn profiles(&self) -> Result<Vec<Vec<u8>>> {
        self.profiles
            .iter()
            .values()
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }

    /// Keeps a ban of the peer with these id bytes until `until` (seconds since the Unix
    /// epoch), and drops bans that have ended. Written through before it returns.
    pub fn put_ban(&self, peer: &[u8], until: u64) -> Result<()> {
        let now = crate::release::unix_now();
        for (key, _) in self.bans()?.into_iter().filter(|(_, u)| *u <= now) {
            self.bans.remove(key)?;
        }
        self.bans.insert(peer, &until.to_be_bytes())?;
        self.bans.flush()?;
        Ok(())
    }

    /// Every kept ban: the peer's id bytes and when the ban ends.
    pub fn bans(&self) -> Result<Vec<(Vec<u8>, u64)>> {
        let mut out = Vec::new();
        for entry in self.bans.iter() {
            let (key, value) = entry?;
            if let Ok(until) = <[u8; 8]>::try_from(value.as_ref()) {
                out.push((key.to_vec(), u64::from_be_bytes(until)));
            }
        }
        Ok(out)
    }

    /// Keeps a peer joined through an invite with its addresses (encoded multiaddrs), replacing
    /// what was kept for it. Written through before it returns.
    pub fn put_known_peer(&self, peer: &[u8], addrs: &[Vec<u8>]) -> Result<()> {
        let tree = self.db.open_tree(KNOWN_PEERS)?;
        let mut w = crate::wire::Writer::default();
        w.byte_list(addrs);
        tree.insert(peer, w.into_bytes())?;
        tree.flush()?;
        Ok(())
    }

    /// Every kept peer: its id bytes and its addresses (entries that do not read are skipped).
    pub fn known_peers(&self) -> Result<Vec<KnownPeer>> {
        let tree = self.db.open_tree(KNOWN_PEERS)?;
        let mut out = Vec::new();
        for entry in tree.iter() {
            let (key, value) = entry?;
            let mut r = crate::wire::Reader::new(&value);
            if let Ok(addrs) = r.byte_list("addresses", 64, 1024) {
                out.push((key.to_vec(), addrs));
            }
        }
        Ok(out)
    }
}

const KNOWN_PEERS: &str = "known_peers";

/// A kept peer: its id bytes and its addresses (encoded multiaddrs).
pub type KnownPeer = (Vec<u8>, Vec<Vec<u8>>);
