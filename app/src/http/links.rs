//! The links part of the control API: invites, joining, sharing and opening `busker://` links,
//! following artists (see [`busker_core::link`]). Merged into [`super::control::router`], behind
//! its token.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/invite` | `{"hours"}` (default a week) | `{"link", "expires"}` |
//! | `POST /v1/join` | `{"link"}` | `{"peer_id"}` |
//! | `POST /v1/share` | `{"id"}`: a track (id or prefix), a playlist (id, prefix or name) or an artist key | `{"link"}` |
//! | `POST /v1/open` | `{"link", "show", "resolve"}` | what it opened: a track, `{"artist_key", "name", "releases", "following"}`, a playlist (`{"id", "name", "tracks", "releases"}`), or `{"peer_id"}`; in the app with `show`, also handed to the window (`"handed_to_app": true`), and with `"resolve": false` only that: `{"link", "handed_to_app": true}` |
//! | `POST /v1/follow` | `{"key", "following"}` | `{"artist_key", "following"}` |
//!
//! In the desktop app the server also carries a [`LinkSink`]: `open` with `show` hands the link
//! to the window (a second `busker open --app LINK` lands in the running app).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::extract::{Extension, State};
use axum::routing::post;
use axum::{Json, Router};
use busker_core::Node;
use busker_core::link::{INVITE_LIFETIME, Link};
use busker_core::model::ArtistKey;
use serde_json::{Value, json};

use super::ApiError;
use super::JsonBody;
use crate::output::{ShareTarget, artist_json, summary_json};

type ApiResult = Result<Json<Value>, ApiError>;

/// Where `open` with `show` hands a link: the desktop app's window, when there is one.
#[derive(Clone, Default)]
pub struct LinkSink(Option<Arc<dyn Fn(String) + Send + Sync>>);

impl LinkSink {
    /// Hands links to `f`.
    pub fn new(f: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }
}

/// The routes, over the node (state) and a [`LinkSink`] (extension).
pub fn routes() -> Router<Node> {
    Router::new()
        .route("/v1/invite", post(invite))
        .route("/v1/join", post(join))
        .route("/v1/share", post(share))
        .route("/v1/open", post(open))
        .route("/v1/follow", post(follow))
}

fn link_field(body: &Value) -> anyhow::Result<Link> {
    let text = body
        .get("link")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing field \"link\""))?;
    Ok(Link::parse(text)?)
}

async fn invite(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let lifetime = match body.get("hours").and_then(Value::as_u64) {
        Some(h) if (1..=24 * 365).contains(&h) => Duration::from_secs(h * 3600),
        Some(_) => return Err(anyhow!("an invite lasts 1 hour to a year").into()),
        None => INVITE_LIFETIME,
    };
    let link = node.invite(lifetime).await?;
    let Link::Join(invite) = &link else {
        return Err(anyhow!("an invite came out as another link").into());
    };
    Ok(Json(
        json!({"link": link.to_string(), "expires": invite.expires}),
    ))
}

async fn join(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let Link::Join(invite) = link_field(&body)? else {
        return Err(anyhow!("this is not an invite link (busker://join/...)").into());
    };
    let peer = node.join(&invite).await?;
    Ok(Json(json!({"peer_id": peer.to_string()})))
}

async fn share(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing field \"id\""))?;
    let link = match crate::output::share_target(node.library(), id)? {
        ShareTarget::Track(track) => node.share_track(track).await?,
        ShareTarget::Playlist(list) => node.share_playlist(list).await?,
        ShareTarget::Artist(key) => Link::Artist(key),
    };
    Ok(Json(json!({"link": link.to_string()})))
}

async fn open(
    State(node): State<Node>,
    Extension(sink): Extension<LinkSink>,
    JsonBody(body): JsonBody,
) -> ApiResult {
    let link = link_field(&body)?;
    let flag =
        |name: &str, default: bool| body.get(name).and_then(Value::as_bool).unwrap_or(default);
    let mut handed = false;
    if flag("show", false)
        && let LinkSink(Some(hand)) = &sink
    {
        hand(link.to_string());
        handed = true;
        if !flag("resolve", true) {
            return Ok(Json(
                json!({"link": link.to_string(), "handed_to_app": true}),
            ));
        }
    }
    let mut opened = open_link(&node, &link).await?;
    if handed {
        opened["handed_to_app"] = json!(true);
    }
    Ok(Json(opened))
}

/// Opens `link` on `node`: what it leads to, as the CLI prints it.
pub async fn open_link(node: &Node, link: &Link) -> Result<Value, ApiError> {
    match link {
        Link::Join(invite) => {
            let peer = node.join(invite).await?;
            Ok(json!({"peer_id": peer.to_string()}))
        }
        Link::Track(track) => Ok(summary_json(&node.open_track(track).await?)),
        Link::Playlist(list) => {
            let opened = node.open_playlist(list).await?;
            let own = node.library().artist_key();
            Ok(crate::playlists::opened_json(
                &opened.playlist,
                &own,
                &opened.tracks,
            ))
        }
        Link::Artist(key) => {
            let mut v = match node.artist_catalog(*key).await {
                Ok(catalog) => artist_json(key, Some(&catalog)),
                // No profile in reach (offline, or nobody holds it): its tracks known here.
                Err(e) => {
                    let known = node.known_releases(*key).await?;
                    let Some(name) = busker_core::TrackSummary::key_name(&known) else {
                        return Err(e.into());
                    };
                    json!({
                        "key": key.to_hex(),
                        "artist_key": key.to_hex(),
                        "name": name,
                        "releases": known.iter().map(summary_json).collect::<Vec<_>>(),
                        "note": format!("no signed profile was found ({e}): its tracks known here"),
                    })
                }
            };
            v["following"] = json!(node.library().is_followed(key));
            Ok(v)
        }
    }
}

async fn follow(State(node): State<Node>, JsonBody(body): JsonBody) -> ApiResult {
    let key: ArtistKey = body
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing field \"key\""))?
        .parse()
        .context("an artist key is 64 hex digits")?;
    let following = body
        .get("following")
        .and_then(Value::as_bool)
        .ok_or_else(|| anyhow!("following must be true or false"))?;
    node.library().follow(&key, following)?;
    Ok(Json(crate::output::follow_json(&key, following)))
}
