//! Covers on the node: a fetched track's cover asked from the peers that hold the track and
//! kept only once verified against the signed manifest ([`crate::cover`]); and the publish
//! that reports refused covers.

use std::path::PathBuf;

use super::{Node, blocking};
use crate::cover::protocol::{self, Asked};
use crate::error::{PublishError, Result};
use crate::library::CoverRefused;
use crate::library::{PublishEvent, PublishOptions};
use crate::model::{Manifest, TrackId};
use crate::transfer::{Candidates, ProviderSource};

/// Most peers asked for one cover before giving up until the next fetch.
const MAX_ASKED: usize = 8;

/// What [`Node::publish_noting`] returns: each file's result, and the covers refused on the
/// way (by release, with the audio file).
pub type PublishReport = (
    Vec<std::result::Result<Manifest, PublishError>>,
    Vec<(TrackId, PathBuf, CoverRefused)>,
);

impl Node {
    /// Makes the cover `manifest` names local, if it names one: `true` when it is here after
    /// the call. Asks the peers that hold the track (then the other connected peers), one at a
    /// time, and keeps the first answer that [`crate::cover::verify`] accepts; a peer that sends
    /// another image is banned (the hash it had to match was signed by the artist).
    pub async fn fetch_cover(&self, manifest: &Manifest) -> Result<bool> {
        let Some(cover) = manifest.cover().copied() else {
            return Ok(false);
        };
        let store = self.inner.library.store().clone();
        let held = store.clone();
        if blocking(move || Ok(held.cover_path(&cover.hash).is_some())).await? {
            return Ok(true);
        }
        if !self.is_online() {
            return Ok(false);
        }
        let Candidates { holders, others } = self.inner.providers.candidates(&manifest.id());
        for peer in holders.into_iter().chain(others).take(MAX_ASKED) {
            match protocol::ask(&self.inner.client, peer, &cover).await {
                Asked::Verified(bytes) => {
                    let store = store.clone();
                    blocking(move || store.put_cover(&cover, &bytes)).await?;
                    return Ok(true);
                }
                Asked::Lied(error) => {
                    tracing::warn!(%peer, %error, "a peer sent a cover that is not the signed one");
                    self.inner.client.ban(peer).await?;
                }
                Asked::NotThere => {}
            }
        }
        Ok(false)
    }

    /// [`Node::publish`], also saying which covers were refused (each with its release; the
    /// audio was published without the cover).
    pub async fn publish_noting(
        &self,
        paths: Vec<PathBuf>,
        options: PublishOptions,
    ) -> Result<PublishReport> {
        let library = self.inner.library.clone();
        let (results, refused) = blocking(move || {
            let mut refused = Vec::new();
            let results = library.publish_paths(&paths, &options, |event| {
                if let PublishEvent::CoverRefused {
                    track,
                    path,
                    refused: r,
                } = event
                {
                    refused.push((track, path.to_owned(), r.clone()));
                }
            });
            Ok((results, refused))
        })
        .await?;
        if self.is_online() {
            for m in results.iter().flatten() {
                self.announce_track(m).await?;
            }
            if results.iter().any(Result::is_ok) {
                self.publish_artist_profile().await?;
            }
        }
        Ok((results, refused))
    }
}
