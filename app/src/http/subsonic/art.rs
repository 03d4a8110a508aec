//! `getCoverArt`: a cover held here, as it was published (JPEG or PNG, at most 4096 px a side
//! and 1 MiB, so `size` is not honoured), checked against its hash on the way out.

use axum::http::header;
use axum::response::IntoResponse;
use busker_core::model::{ImageFormat, ImageHash, TrackId};
use busker_core::{Library, Node};

use super::{Answer, Failure, Params};

/// The image bytes of the cover `id` names, with their MIME type.
pub(super) async fn cover_art(node: &Node, params: &Params) -> Result<Answer, Failure> {
    let id = params.need("id")?.to_owned();
    let library = node.library().clone();
    let image = tokio::task::spawn_blocking(move || {
        let hash = cover_of(&library, &id)?;
        library
            .store()
            .cover(&hash)?
            .ok_or_else(|| Failure::not_found("cover art"))
    })
    .await
    .unwrap_or_else(|e| Err(Failure::new(0, format!("the request stopped: {e}"))))?;
    let mime = ImageFormat::sniff(&image).map_or("application/octet-stream", ImageFormat::mime);
    let response = (
        [
            (header::CONTENT_TYPE, mime.to_owned()),
            (
                header::CACHE_CONTROL,
                "max-age=31536000, immutable".to_owned(),
            ),
        ],
        image,
    );
    Ok(Answer::Bytes(response.into_response()))
}

/// The cover `getCoverArt` is asked for: a `coverArt` id (`co-<hash>`), or an album's or a
/// song's id (clients send those when they have no `coverArt`).
fn cover_of(library: &Library, id: &str) -> Result<ImageHash, Failure> {
    let none = || Failure::not_found("cover art");
    if let Some(hash) = id.strip_prefix("co-") {
        return hash.parse().map_err(|_| none());
    }
    if id.starts_with("al-") {
        return super::browse::album_cover(library, id)?.ok_or_else(none);
    }
    let track: TrackId = id.parse().map_err(|_| none())?;
    let song = library.manifest(&track).map_err(|_| none())?;
    song.cover().map(|c| c.hash).ok_or_else(none)
}
