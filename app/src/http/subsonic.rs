//! The Subsonic API (and the OpenSubsonic flag), so that the phone and desktop apps people
//! already use with Navidrome or Funkwhale (DSub, Symfonium, Ultrasonic, Feishin, Sublime
//! Music) browse, search, stream and rate this peer's library.
//!
//! It listens on its own address (`config.toml`'s `subsonic_listen`, 127.0.0.1:4533 by default;
//! a port already taken falls back to a free one), as user `busker` with the password in the
//! data dir's `subsonic.password` (owner-only, made on first use); `busker subsonic` prints both.
//! Every request carries `u` and either the token `t` = md5(password + `s`) with its salt `s`,
//! or the password `p` (plain or `enc:` hex); anything else gets Subsonic error 40 and no data.
//! Parameters come in the query string or a form body (POST); `f=json` answers JSON, otherwise
//! XML, both from one [`Value`] (see [`xml`]).
//!
//! The library as Subsonic sees it ([`browse`]): every track this peer knows is a song; an
//! album is one artist key's tracks with one album tag; an artist is an artist key. Songs
//! stream from the store, or from peers on the fly, verified chunk by chunk, from the asked
//! range first ([`media`]). `getCoverArt` sends a cover held here as it was published (JPEG or PNG; `size` is
//! not honoured: covers are at most 4096 px a side and 1 MiB).

mod art;
mod browse;
mod ids;
mod media;
mod xml;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use busker_core::Node;
use md5::Digest;
use serde_json::{Map, Value, json};

use super::{HttpServer, constant_time_eq, limit_body};

/// The user clients log in as.
pub const USER: &str = "busker";
/// The file in the data dir that holds the password.
pub const PASSWORD_FILE: &str = "subsonic.password";
/// The API version answered.
const VERSION: &str = "1.16.1";
/// Largest form body read.
const MAX_FORM: usize = 64 * 1024;

/// Where the Subsonic API is and how to log in: what `busker subsonic` prints.
#[derive(Debug, Clone)]
pub struct SubsonicDoor {
    /// The base URL (clients add `/rest/ping.view` and so on).
    pub url: String,
    /// The user.
    pub user: String,
    /// The password.
    pub password: Arc<str>,
}

impl SubsonicDoor {
    /// `{"url", "user", "password"}`.
    pub fn json(&self) -> Value {
        json!({"url": self.url, "user": self.user, "password": &*self.password})
    }
}

/// Serves the Subsonic API for `node` at `listen` (or a free port of 127.0.0.1 when that is
/// taken).
pub async fn start(
    node: Node,
    data_dir: &Path,
    listen: &str,
) -> anyhow::Result<(HttpServer, SubsonicDoor)> {
    let password: Arc<str> = super::secret(data_dir, PASSWORD_FILE)?.into();
    let listener = match listen.parse::<SocketAddr>() {
        Ok(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(%addr, error = %e, "the Subsonic address is taken: using a free port");
                HttpServer::bind().await?
            }
        },
        Err(_) => anyhow::bail!("subsonic_listen {listen:?} is not a host:port address"),
    };
    let state = Arc::new(Api {
        node,
        password: password.clone(),
    });
    let router = Router::new()
        .route("/rest/{method}", get(handle).post(handle))
        .with_state(state)
        .layer(from_fn_with_state(MAX_FORM, limit_body));
    let server = HttpServer::serve(listener, router);
    let door = SubsonicDoor {
        url: format!("http://{}", server.addr()),
        user: USER.to_owned(),
        password,
    };
    Ok((server, door))
}

struct Api {
    node: Node,
    password: Arc<str>,
}

/// The request's parameters, from the query string and a form body, in order.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    fn read(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut all: Vec<(String, String)> = uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form {
            all.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(all)
    }

    /// The first value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `name`, which the method needs.
    pub(crate) fn need(&self, name: &str) -> Result<&str, Failure> {
        self.get(name)
            .ok_or_else(|| Failure::new(10, format!("required parameter {name:?} is missing")))
    }

    /// `name` as a number, or `default`.
    pub(crate) fn number(&self, name: &str, default: usize) -> usize {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
}

/// A Subsonic error: its code and message.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u32,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Error 70: the thing asked for is not here.
    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(70, format!("{what} not found"))
    }
}

impl From<busker_core::Error> for Failure {
    fn from(e: busker_core::Error) -> Self {
        match e {
            busker_core::Error::UnknownTrack(_)
            | busker_core::Error::BadTrackRef(_)
            | busker_core::Error::BadPlaylistRef(_) => Self::new(70, e.to_string()),
            busker_core::Error::ForeignPlaylist(_) => Self::new(50, e.to_string()),
            other => Self::new(0, other.to_string()),
        }
    }
}

/// What a method answers: fields of `subsonic-response`, or bytes (a stream).
pub(crate) enum Answer {
    Fields(Map<String, Value>),
    Bytes(Response),
}

impl Answer {
    /// One field.
    pub(crate) fn one(name: &str, value: Value) -> Self {
        let mut map = Map::new();
        map.insert(name.to_owned(), value);
        Self::Fields(map)
    }

    pub(crate) fn empty() -> Self {
        Self::Fields(Map::new())
    }
}

async fn handle(
    State(api): State<Arc<Api>>,
    UrlPath(method): UrlPath<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::read(&uri, &headers, &body);
    let json_out = matches!(params.get("f"), Some("json" | "jsonp"));
    let method = method.trim_end_matches(".view").to_owned();
    let answer = match authenticate(&api.password, &params) {
        Ok(()) => answer(&api, &method, params, &headers).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(Answer::Bytes(response)) => response,
        Ok(Answer::Fields(fields)) => envelope(json_out, "ok", fields),
        Err(failure) => {
            let mut fields = Map::new();
            fields.insert(
                "error".into(),
                json!({"code": failure.code, "message": failure.message}),
            );
            envelope(json_out, "failed", fields)
        }
    }
}

fn authenticate(password: &str, params: &Params) -> Result<(), Failure> {
    let refused = || Failure::new(40, "wrong username or password");
    if params.get("u") != Some(USER) {
        return Err(refused());
    }
    let ok = match (params.get("t"), params.get("s"), params.get("p")) {
        (Some(token), Some(salt), _) => {
            let digest = md5::Md5::digest(format!("{password}{salt}").as_bytes());
            let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            constant_time_eq(token.to_ascii_lowercase().as_bytes(), expected.as_bytes())
        }
        (_, _, Some(given)) => {
            let given = match given.strip_prefix("enc:") {
                Some(hex) => data_encoding::HEXUPPER_PERMISSIVE
                    .decode(hex.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default(),
                None => given.to_owned(),
            };
            constant_time_eq(given.as_bytes(), password.as_bytes())
        }
        _ => {
            return Err(Failure::new(
                10,
                "required parameter \"t\" and \"s\", or \"p\", is missing",
            ));
        }
    };
    if ok { Ok(()) } else { Err(refused()) }
}

async fn answer(
    api: &Api,
    method: &str,
    params: Params,
    headers: &HeaderMap,
) -> Result<Answer, Failure> {
    match method {
        "stream" | "download" => media::stream(&api.node, &params, headers).await,
        "getCoverArt" => art::cover_art(&api.node, &params).await,
        _ => {
            let node = api.node.clone();
            let method = method.to_owned();
            tokio::task::spawn_blocking(move || browse::answer(&node, &method, &params))
                .await
                .unwrap_or_else(|e| Err(Failure::new(0, format!("the request stopped: {e}"))))
        }
    }
}

fn envelope(json_out: bool, status: &str, fields: Map<String, Value>) -> Response {
    let mut body = Map::new();
    body.insert("status".into(), json!(status));
    body.insert("version".into(), json!(VERSION));
    body.insert("type".into(), json!("busker"));
    body.insert("serverVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    body.insert("openSubsonic".into(), json!(true));
    body.extend(fields);
    if json_out {
        let value = json!({"subsonic-response": Value::Object(body)});
        return (
            [(header::CONTENT_TYPE, "application/json")],
            value.to_string(),
        )
            .into_response();
    }
    let text = xml::document("subsonic-response", &Value::Object(body));
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], text).into_response()
}
