//! Taste profiles over the network: the live side of the recommender's exchange rules.
//!
//! Every peer describes its taste as a [`TasteProfile`] built from its own listening history and
//! ratings (one weight per track, [`Feedback::weight`]), signs the canonical bytes with its peer
//! key, and swaps profiles with other peers in push-pull exchanges over its own protocol
//! ([`protocol`], `/busker/taste/1`). Which peers it keeps, whom it asks next and
//! how much each kept profile weighs are the pure rules of
//! [`busker_recommender::Neighbourhood`], the same code the `busker-eval` gossip simulation runs.
//!
//! Every owner also signs the [`ProfileDigest`] of its profile (its items as 64-bit fingerprints
//! with one-byte weights, a quarter of the size), under its own signing context. A taste message
//! carries the sender's own signed profile first, then the signed profiles of its closest
//! neighbours, then the signed digests of its other kept neighbours (all forwarded untouched, so
//! their owners' signatures still hold; which and how many is
//! [`Neighbourhood::gossip_profiles`] and [`Neighbourhood::gossip_digests`], within
//! [`busker_recommender::MAX_GOSSIP_BYTES`] counted with this framing), and a hint of peer keys.
//! Each profile travels with its digest's signature, so whoever keeps it can forward its digest
//! later. A digest only feeds the receiver's streamed statistics and is never kept itself. A
//! message is accepted only whole: it must fit [`MAX_TASTE_BYTES`], be of [`MESSAGE_VERSION`],
//! decode exactly, and every profile and digest must carry a valid signature of the key it
//! names, the first profile being the sender's own, no peer twice. Anything else is rejected
//! with [`Error::Taste`] and nothing of it is kept.
//!
//! Kept profiles are stored with their digest signatures (`profiles` tree) so recommendations
//! work after a restart, and without a running node, and the kept neighbours' digests can still
//! be forwarded. (Profiles stored by a version before digests, without a digest signature, are
//! dropped at start.) A peer answers at most [`MAX_ANSWERS_PER_WINDOW`] exchanges per
//! [`ANSWER_WINDOW`]: more are refused, so a flood cannot make it do unbounded work.
//!
//! Keys: a peer's [`Key`] is its ed25519 public key (the libp2p identity of every Busker peer),
//! an item's [`Key`] is a [`TrackId`].

mod message;
pub mod protocol;

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use busker_recommender::{Feedback, Key, Neighbourhood, NeighbourhoodConfig, Reason, TasteProfile};
use libp2p::PeerId;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::error::{Error, Result};
use crate::model::{ArtistKeypair, TrackId};
use crate::store::{ListenKind, Store};

#[cfg(test)]
use message::{DIGEST_SIGNING_CONTEXT, SIGNING_CONTEXT};
pub use message::{
    MAX_HINT, MAX_MESSAGE_DIGESTS, MAX_MESSAGE_PROFILES, MESSAGE_VERSION, SignedDigest,
    SignedProfile, TasteMessage, key_peer, peer_key,
};
pub use protocol::{MAX_TASTE_BYTES, exchange, offer};

/// Most exchanges answered per [`ANSWER_WINDOW`].
pub const MAX_ANSWERS_PER_WINDOW: usize = 20;
/// The window of [`MAX_ANSWERS_PER_WINDOW`].
pub const ANSWER_WINDOW: Duration = Duration::from_secs(10);
/// Share of recommendation slots given to new releases.
pub const PROMOTION_SHARE: f32 = 0.2;

/// The exchange rules' parameters on the live network: the simulation's defaults (the closest
/// profiles in full, digests of the other kept ones), so that the live network runs the rules
/// `busker-eval` measures.
pub fn live_config() -> NeighbourhoodConfig {
    NeighbourhoodConfig::default()
}

/// A recommended track with its score and the reason to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    /// The track.
    pub id: TrackId,
    /// Higher is better; comparable within one list.
    pub score: f32,
    /// Why, as a sentence ("liked by 3 peers whose taste is close to yours").
    pub reason: String,
}

/// What the taste exchange did with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Received {
    /// Profiles kept (new or newer than before).
    pub kept: usize,
    /// Profiles in the message.
    pub offered: usize,
    /// Digests in the message.
    pub digests: usize,
    /// Digests of peers not counted before, added to the streamed statistics.
    pub digests_counted: usize,
}

struct State {
    hood: Neighbourhood,
    /// Signed forms of the kept profiles, to forward and store.
    signed: HashMap<Key, SignedProfile>,
    own: SignedProfile,
    rng: StdRng,
    answered: VecDeque<Instant>,
    /// Digests counted into the streamed statistics since opening.
    digests_counted: usize,
}

/// One peer's side of the taste exchange. Thread-safe; methods touching the store block.
pub struct Taste {
    key: ArtistKeypair,
    me: Key,
    store: Store,
    state: Mutex<State>,
}

impl std::fmt::Debug for Taste {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taste")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The owner's taste from the listening history and ratings in `store`.
pub fn own_items(store: &Store) -> Result<HashMap<TrackId, Feedback>> {
    let mut feedback: HashMap<TrackId, Feedback> = HashMap::new();
    for listen in store.listens()? {
        let f = feedback.entry(listen.id).or_default();
        match listen.kind {
            ListenKind::Play => f.plays += 1,
            ListenKind::Skip { .. } => f.skips += 1,
            ListenKind::Complete => {}
        }
    }
    for (id, stars) in store.ratings()? {
        feedback.entry(id).or_default().stars = Some(stars);
    }
    Ok(feedback)
}

impl Taste {
    /// Opens the exchange for the peer with secret `peer_seed`: builds the own profile from
    /// `store` and takes back the profiles kept before (each verified again; broken ones are
    /// dropped from the store).
    pub fn open(store: Store, peer_seed: [u8; 32]) -> Result<Self> {
        let key = ArtistKeypair::from_seed(peer_seed);
        let me = Key(key.public().0);
        let profile = Self::profile_from(&store, me, now_ms())?;
        let own = SignedProfile::sign(profile.clone(), &key);
        let hood = Neighbourhood::new(profile, live_config()).map_err(Error::TasteProfile)?;
        let taste = Self {
            key,
            me,
            state: Mutex::new(State {
                hood,
                signed: HashMap::new(),
                own,
                rng: StdRng::from_entropy(),
                answered: VecDeque::new(),
                digests_counted: 0,
            }),
            store,
        };
        for stored in taste.store.profiles()? {
            match SignedProfile::from_stored(&stored) {
                Ok(p) => {
                    taste.consider(p)?;
                }
                Err(e) => tracing::warn!(error = %e, "dropping a stored taste profile"),
            }
        }
        // Whatever did not make it back in (broken, or no longer among the best) is forgotten.
        let kept: Vec<Key> = taste.state().signed.keys().copied().collect();
        for stored in taste.store.profiles()? {
            if let Some(peer) = stored.get(4..36).and_then(|b| <[u8; 32]>::try_from(b).ok())
                && !kept.contains(&Key(peer))
            {
                taste.store.remove_profile(&peer)?;
            }
        }
        Ok(taste)
    }

    fn profile_from(store: &Store, me: Key, version: u64) -> Result<TasteProfile> {
        let items = own_items(store)?
            .into_iter()
            .map(|(id, f)| (Key(id.0), f.weight()));
        Ok(TasteProfile::new(me, version, items, []))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This peer's taste key.
    pub fn me(&self) -> Key {
        self.me
    }

    /// The own profile as it stands.
    pub fn own(&self) -> TasteProfile {
        self.state().own.profile.clone()
    }

    /// Rebuilds the own profile from the store; a change gets a new version and signature.
    pub fn refresh(&self) -> Result<()> {
        let fresh = Self::profile_from(&self.store, self.me, 0)?;
        let mut state = self.state();
        let old = &state.own.profile;
        if fresh.items == old.items && fresh.follows == old.follows {
            return Ok(());
        }
        let version = now_ms().max(old.version + 1);
        let profile = TasteProfile { version, ..fresh };
        state
            .hood
            .set_own(profile.clone())
            .map_err(Error::TasteProfile)?;
        state.own = SignedProfile::sign(profile, &self.key);
        Ok(())
    }

    /// Offers one verified profile to the neighbourhood; stores it when kept.
    fn consider(&self, p: SignedProfile) -> Result<bool> {
        use busker_recommender::Admission;
        let peer = p.profile.peer;
        let admission = {
            let mut state = self.state();
            let admission = state.hood.consider(p.profile.clone());
            match admission {
                Admission::Admitted | Admission::Updated => {
                    state.signed.insert(peer, p.clone());
                }
                Admission::Replaced(old) => {
                    state.signed.remove(&old);
                    state.signed.insert(peer, p.clone());
                }
                _ => {}
            }
            admission
        };
        match admission {
            Admission::Admitted | Admission::Updated => {
                self.store.put_profile(&peer.0, &p.to_stored())?;
                Ok(true)
            }
            Admission::Replaced(old) => {
                self.store.remove_profile(&old.0)?;
                self.store.put_profile(&peer.0, &p.to_stored())?;
                Ok(true)
            }
            Admission::Rejected(e) => Err(Error::TasteProfile(e)),
            _ => Ok(false),
        }
    }

    /// The message to send to a partner (or to answer with): the own signed profile first,
    /// then the closest neighbours' as the rules allow, and a hint.
    pub fn message(&self) -> Vec<u8> {
        let mut state = self.state();
        let State {
            hood,
            signed,
            own,
            rng,
            ..
        } = &mut *state;
        let full = hood.gossip_profiles();
        let mut profiles = vec![own.clone()];
        profiles.extend(
            full.iter()
                .skip(1)
                .filter_map(|p| signed.get(&p.peer).cloned())
                .take(MAX_MESSAGE_PROFILES - 1),
        );
        let digests: Vec<SignedDigest> = hood
            .gossip_digests(&full)
            .into_iter()
            .filter_map(|p| signed.get(&p.peer).map(|s| s.digest.clone()))
            .take(MAX_MESSAGE_DIGESTS)
            .collect();
        let mut hint = hood.gossip_hint(rng);
        hint.truncate(MAX_HINT);
        TasteMessage {
            profiles,
            digests,
            hint,
        }
        .encode()
    }

    /// Takes a message from `from` (checked whole, see the module docs) into the
    /// neighbourhood.
    pub fn receive(&self, from: &PeerId, bytes: &[u8]) -> Result<Received> {
        let sender =
            peer_key(from).ok_or_else(|| Error::Taste("sender has no ed25519 key".into()))?;
        let message = TasteMessage::decode(bytes, Some(&sender))?;
        let offered = message.profiles.len();
        let digests = message.digests.len();
        let mut kept = 0;
        for p in message.profiles {
            if p.profile.peer != self.me && self.consider(p)? {
                kept += 1;
            }
        }
        let mut state = self.state();
        let digests_counted = message
            .digests
            .iter()
            .filter(|d| state.hood.consider_digest(&d.digest))
            .count();
        state.digests_counted += digests_counted;
        state.hood.learn_peers(message.hint);
        state.hood.learn_peers([sender]);
        Ok(Received {
            kept,
            offered,
            digests,
            digests_counted,
        })
    }

    /// Answers an exchange: takes `from`'s message and returns the own one, or `None` when the
    /// message is bad or too many exchanges came in lately.
    pub fn answer(&self, from: &PeerId, bytes: &[u8]) -> Option<Vec<u8>> {
        {
            let mut state = self.state();
            let now = Instant::now();
            while state
                .answered
                .front()
                .is_some_and(|t| now.duration_since(*t) > ANSWER_WINDOW)
            {
                state.answered.pop_front();
            }
            if state.answered.len() >= MAX_ANSWERS_PER_WINDOW {
                return None;
            }
            state.answered.push_back(now);
        }
        if let Err(e) = self.refresh() {
            tracing::warn!(error = %e, "cannot refresh the taste profile");
        }
        match self.receive(from, bytes) {
            Ok(_) => Some(self.message()),
            Err(e) => {
                tracing::info!(peer = %from, error = %e, "refused a taste message");
                None
            }
        }
    }

    /// Notes a peer met on the network as a possible partner.
    pub fn learn_peer(&self, peer: &PeerId) {
        if let Some(k) = peer_key(peer) {
            self.state().hood.learn_peers([k]);
        }
    }

    /// The next partner to exchange with, if any peer is known; ends a round of the rules.
    /// Call [`Taste::warm`] after it, as after [`Taste::receive`] and [`Taste::answer`] (off the
    /// async runtime), so that the next recommendation does not pay for the fit.
    pub fn next_partner(&self) -> Option<PeerId> {
        let mut state = self.state();
        let State { hood, rng, .. } = &mut *state;
        hood.tick();
        hood.choose_partner(rng).and_then(|k| key_peer(&k))
    }

    /// Computes what a recommendation needs once per change of the neighbourhood or round
    /// (the neighbours' influence with its clique check, and the local EASE fit), so that the
    /// next [`Taste::recommend`] is warm. Cheap when nothing changed.
    pub fn warm(&self) {
        let state = self.state();
        state.hood.influence();
        state.hood.ease_scores();
    }

    /// How many neighbours' profiles are kept.
    pub fn neighbour_count(&self) -> usize {
        self.state().hood.neighbours().len()
    }

    /// The taste keys of the kept neighbours, sorted.
    pub fn neighbour_keys(&self) -> Vec<Key> {
        let mut keys: Vec<Key> = self
            .state()
            .hood
            .neighbours()
            .iter()
            .map(|n| n.profile.peer)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// How many distinct peers the streamed statistics have counted (kept neighbours, profiles
    /// that passed by and digests).
    pub fn streamed_peers(&self) -> usize {
        self.state().hood.stream().peers()
    }

    /// How many received digests were counted into the streamed statistics since opening.
    pub fn digests_counted(&self) -> usize {
        self.state().digests_counted
    }

    /// Up to `limit` tracks for the owner: what close neighbours like that the owner has not
    /// heard (`known` is also excluded), with [`PROMOTION_SHARE`] of the slots, and any slots
    /// left empty, given to `new_releases` (best first).
    pub fn recommend(
        &self,
        limit: usize,
        new_releases: &[TrackId],
        known: impl Fn(&TrackId) -> bool,
    ) -> Vec<Suggestion> {
        let heard: HashMap<TrackId, Feedback> = own_items(&self.store).unwrap_or_default();
        let skip = |id: &TrackId| heard.contains_key(id) || known(id);
        let fresh: Vec<Key> = new_releases
            .iter()
            .filter(|id| !skip(id))
            .map(|id| Key(id.0))
            .collect();
        let state = self.state();
        let mut out: Vec<Suggestion> = state
            .hood
            .recommend(limit, |k| skip(&TrackId(k.0)), &fresh, PROMOTION_SHARE)
            .into_iter()
            .map(|r| Suggestion {
                id: TrackId(r.item.0),
                score: r.score,
                reason: r.reason.to_string(),
            })
            .collect();
        // A newcomer with no neighbours yet still gets something to listen to.
        for k in &fresh {
            if out.len() >= limit {
                break;
            }
            if !out.iter().any(|s| s.id.0 == k.0) {
                out.push(Suggestion {
                    id: TrackId(k.0),
                    score: 0.0,
                    reason: Reason::NewRelease.to_string(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
