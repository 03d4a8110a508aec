//! The artist part of [`Node`]: this peer's signed artist profile in the DHT, and another
//! artist's catalog found by key alone.

use super::{Node, blocking};
use crate::error::{Error, Result};
use crate::library::ArtistCatalog;
use crate::model::ArtistKey;

impl Node {
    /// Puts this peer's signed artist profile (name and releases) into the DHT under its artist
    /// key, so a peer that missed the announcements can still find the whole catalog. Done at
    /// start and after every publish; nothing when this peer has published nothing.
    /// The last profiles of keys this peer retired (naming their successors) go in too.
    pub async fn publish_artist_profile(&self) -> Result<()> {
        let library = self.inner.library.clone();
        let (own, retired) =
            blocking(move || Ok((library.artist_profile()?, library.dir().retired_profiles())))
                .await?;
        for profile in own.into_iter().chain(retired) {
            let key = crate::artist::record_key(&profile.key);
            self.inner.client.put_record(key, profile.encode()).await?;
        }
        Ok(())
    }

    /// The tracks of `artist` this peer knows (with provider counts): what an artist page shows
    /// when no signed profile is in reach (offline, or nobody holds it).
    pub async fn known_releases(&self, artist: ArtistKey) -> Result<Vec<crate::TrackSummary>> {
        let library = self.inner.library.clone();
        let list = blocking(move || library.releases_by(&artist)).await?;
        Ok(self.with_providers(list))
    }

    /// The newest valid profile of `artist` the DHT holds (signatures checked; forged or
    /// foreign records are ignored).
    pub async fn artist(&self, artist: ArtistKey) -> Result<crate::artist::ArtistProfile> {
        let records = self
            .inner
            .client
            .get_record(crate::artist::record_key(&artist))
            .await?;
        crate::artist::ArtistProfile::newest(&artist, &records)
            .ok_or_else(|| Error::UnknownArtist(artist.to_hex()))
    }

    /// An artist's catalog found by key alone: the newest signed profile in the DHT, and each
    /// release that a connected peer or a DHT provider can describe (manifests verified, stored
    /// and indexed here, so the releases can then be searched and fetched). A release nobody
    /// reachable describes is listed by id alone.
    pub async fn artist_catalog(&self, artist: ArtistKey) -> Result<ArtistCatalog> {
        let profile = self.artist(artist).await?;
        let mut releases = Vec::with_capacity(profile.releases.len());
        for &id in &profile.releases {
            releases.push((id, self.describe_release(id).await?));
        }
        Ok(ArtistCatalog { profile, releases })
    }

    /// Release `id` as lists show it: its manifest from the store, a connected peer or a DHT
    /// provider (verified, stored and indexed here, so it can then be searched and fetched);
    /// `None` when nobody reachable describes it.
    pub(super) async fn describe_release(
        &self,
        id: crate::model::TrackId,
    ) -> Result<Option<crate::TrackSummary>> {
        let mut found = self.find_manifest(id).await;
        if found.is_err() {
            let providers = self.inner.client.providers(id.as_bytes()).await;
            for peer in providers.unwrap_or_default() {
                self.inner.providers.add(id, peer);
            }
            found = self.find_manifest(id).await;
        }
        match found {
            Ok(manifest) => {
                let library = self.inner.library.clone();
                let summary = blocking(move || library.summary(&manifest)).await?;
                Ok(self.with_providers(vec![summary]).pop())
            }
            Err(e) => {
                tracing::debug!(track = %id, error = %e, "a release was not found");
                Ok(None)
            }
        }
    }
}
