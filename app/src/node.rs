//! `busker node` (a headless peer serving the control API) and the commands that go through a
//! running node's API.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use busker_core::net::{Multiaddr, NetworkConfig, is_loopback};
use busker_core::{Node, NodeOptions};
use serde_json::{Value, json};

use crate::cli::{Cli, Command, RadioCommand};
use crate::http::{ApiClient, NodeHttp};
use crate::output;

fn parse_addrs(list: &[String], what: &str) -> Result<Vec<Multiaddr>> {
    list.iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .with_context(|| format!("{what} {a:?} is not a multiaddr"))
        })
        .collect()
}

/// The network flags of `busker node`.
pub struct NodeArgs<'a> {
    pub listen: &'a [String],
    pub peers: &'a [String],
    pub external: &'a [String],
    pub mdns: bool,
}

/// Runs a headless peer until SIGINT or SIGTERM.
pub fn run(cli: &Cli, args: NodeArgs<'_>) -> Result<ExitCode> {
    let mut listen = parse_addrs(args.listen, "--listen")?;
    if listen.is_empty() {
        listen.push(busker_core::DEFAULT_LISTEN.parse()?);
        listen.push(busker_core::DEFAULT_LISTEN_QUIC.parse()?);
    }
    let bootstrap = parse_addrs(args.peers, "--peer")?;
    let external = parse_addrs(args.external, "--external")?;
    // A node that only listens on and dials loopback stays on loopback (tests and demos): it
    // ignores non-loopback addresses learned from other peers.
    let loopback_only = listen.iter().chain(&bootstrap).all(is_loopback);
    let library = Arc::new(crate::open_library(cli, None)?);
    let mdns = args.mdns || library.config().lan_discovery;
    if mdns && loopback_only {
        tracing::warn!("LAN discovery stays off: this node keeps to loopback");
    }
    let dir = library.data_dir().to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let options = NodeOptions {
            network: NetworkConfig {
                listen,
                bootstrap,
                loopback_only,
                external,
                mdns,
                ..NetworkConfig::loopback()
            },
            ..NodeOptions::loopback()
        };
        let node = Node::start(library, options)
            .await
            .context("starting the network")?;
        let api = NodeHttp::start(node.clone(), &dir, crate::http::LinkSink::default()).await?;
        let listen: Vec<String> = node
            .listen_addrs()
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let lan_discovery = mdns && !loopback_only;
        if cli.json {
            output::print_json(&json!({
                "peer_id": node.peer_id().to_string(),
                "listen": listen,
                "api": format!("http://{}", api.addr()),
                "lan_discovery": lan_discovery,
            }));
        } else {
            println!("peer {}", node.peer_id());
            for a in &listen {
                println!("listening on {a}");
            }
            if lan_discovery {
                println!("LAN discovery (mDNS) is on");
            }
            println!("control API on http://{} (Ctrl-C to stop)", api.addr());
        }
        wait_for_signal().await?;
        tracing::info!("shutting down");
        api.stop();
        node.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn wait_for_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

fn list_of(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => vec![other],
    }
}

fn print_tracks(cli: &Cli, tracks: Vec<Value>) {
    for t in tracks {
        output::print_track(cli.json, &t);
    }
}

/// Carries out a command through the running node's API.
pub fn remote(cli: &Cli, api: &ApiClient, command: &Command) -> Result<ExitCode> {
    match command {
        Command::Node { .. } => {
            bail!("a busker node is already running on this data dir")
        }
        Command::Publish {
            paths,
            artist,
            title,
            album,
        } => {
            let paths: Vec<String> = paths
                .iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p)))
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let body = json!({"paths": paths, "artist": artist, "title": title, "album": album});
            let mut failed = 0;
            for item in list_of(api.call("POST", "/v1/publish", Some(&body))?) {
                if let Some(e) = item.get("error").and_then(Value::as_str) {
                    failed += 1;
                    let path = item.get("path").and_then(Value::as_str).unwrap_or("?");
                    eprintln!("error: {path}: {e}");
                    continue;
                }
                if let Some(note) = item.get("cover_refused").and_then(Value::as_str) {
                    eprintln!("warning: {note}");
                }
                if cli.json {
                    output::print_json(&item);
                } else {
                    let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
                    println!(
                        "published {}  {} - {}",
                        s("id").get(..12).unwrap_or_default(),
                        s("artist"),
                        s("title")
                    );
                }
            }
            Ok(if failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::List => {
            print_tracks(cli, list_of(api.call("GET", "/v1/list", None)?));
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, limit } => {
            let body = json!({"query": query.join(" "), "limit": limit});
            let hits = list_of(api.call("POST", "/v1/search", Some(&body))?);
            if hits.is_empty() && !cli.json {
                eprintln!("no tracks match {:?}", query.join(" "));
            }
            print_tracks(cli, hits);
            Ok(ExitCode::SUCCESS)
        }
        Command::Connect { addr } => {
            let v = api.call("POST", "/v1/connect", Some(&json!({"addr": addr})))?;
            if cli.json {
                output::print_json(&v);
            } else {
                println!(
                    "connected to {}",
                    v.get("peer_id").and_then(Value::as_str).unwrap_or("?")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let v = api.call("GET", "/v1/status", None)?;
            if cli.json {
                output::print_json(&v);
            } else {
                let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
                println!("peer {}", s("peer_id"));
                let listen = v.get("listen").and_then(Value::as_array);
                for a in listen.into_iter().flatten().filter_map(Value::as_str) {
                    println!("listening on {a}");
                }
                let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or_default();
                println!(
                    "sent {} bytes, received {} bytes",
                    n("bytes_sent"),
                    n("bytes_received")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Peers => {
            for p in list_of(api.call("GET", "/v1/peers", None)?) {
                if cli.json {
                    output::print_json(&p);
                } else {
                    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or_default();
                    println!("{}  {}", s("peer_id"), s("addr"));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Play { id, out, seconds } => {
            let out = out
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
            let body = json!({"id": id, "out": out, "seconds": seconds});
            let v = api.call("POST", "/v1/play", Some(&body))?;
            if cli.json {
                output::print_json(&v);
            } else {
                crate::play::print_sentence(&v, "", "", out.as_deref());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Block { key } | Command::Unblock { key } => {
            let blocked = matches!(command, Command::Block { .. });
            let body = json!({"key": key, "blocked": blocked});
            let v = api.call("POST", "/v1/block", Some(&body))?;
            output::print_block(cli.json, &v);
            Ok(ExitCode::SUCCESS)
        }
        Command::Rate { id, stars } => {
            let v = api.call("POST", "/v1/rate", Some(&json!({"id": id, "stars": stars})))?;
            if cli.json {
                output::print_json(&v);
            } else {
                let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
                println!(
                    "rated {} {}",
                    id.get(..12).unwrap_or(id),
                    "*".repeat(*stars as usize)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Radio { command } => radio(cli, api, command),
        Command::Key { .. } => anyhow::bail!(
            "a busker node is running on this data dir: stop it before importing an artist key \
             (it signs with the key it started with)"
        ),
        Command::Artist { key } => {
            let v = api.call("POST", "/v1/artist", Some(&json!({"key": key})))?;
            output::print_artist(cli.json, &v);
            Ok(ExitCode::SUCCESS)
        }
        Command::Recommend { limit } => {
            let body = json!({"limit": limit});
            let list = list_of(api.call("POST", "/v1/recommend", Some(&body))?);
            output::print_recommendations(cli.json, &list);
            Ok(ExitCode::SUCCESS)
        }
        Command::Invite { hours } => {
            let v = api.call("POST", "/v1/invite", Some(&json!({"hours": hours})))?;
            print_link(cli, &v);
            Ok(ExitCode::SUCCESS)
        }
        Command::Join { link } => {
            let v = api.call("POST", "/v1/join", Some(&json!({"link": link})))?;
            if cli.json {
                output::print_json(&v);
            } else {
                println!(
                    "joined {}; it is dialled again at every start",
                    v.get("peer_id").and_then(Value::as_str).unwrap_or("?")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Share { id } => {
            print_link(
                cli,
                &api.call("POST", "/v1/share", Some(&json!({"id": id})))?,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Open { link, .. } => {
            // In a running app the window shows it too.
            let body = json!({"link": link, "show": true});
            print_opened(cli, &api.call("POST", "/v1/open", Some(&body))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Subsonic => {
            let v = api.call("GET", "/v1/subsonic", None)?;
            if cli.json {
                output::print_json(&v);
            } else {
                let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
                println!("Subsonic API: {}", s("url"));
                println!("user:         {}", s("user"));
                println!("password:     {}", s("password"));
                println!("(give these to a Subsonic app: DSub, Symfonium, Ultrasonic, Feishin)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Playlist { command } => {
            let op = command.clone().prepared()?;
            let answer = api.call("POST", "/v1/playlist", Some(&serde_json::to_value(&op)?))?;
            busker::playlists::print(cli.json, &op, &answer)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Follow { key } | Command::Unfollow { key } => {
            let following = matches!(command, Command::Follow { .. });
            let body = json!({"key": key, "following": following});
            output::print_follow(cli.json, &api.call("POST", "/v1/follow", Some(&body))?);
            Ok(ExitCode::SUCCESS)
        }
        Command::InstallDesktop => unreachable!("handled before a node is looked for"),
        Command::Fetch { id, out } => {
            let out = out
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
            let body = json!({"id": id, "out": out});
            let v = api.call("POST", "/v1/fetch", Some(&body))?;
            if cli.json {
                output::print_json(&v);
            } else {
                println!(
                    "fetched {} bytes from {} peers in {} ms",
                    v.get("bytes").and_then(Value::as_u64).unwrap_or(0),
                    v.get("peers_used").and_then(Value::as_u64).unwrap_or(0),
                    v.get("millis").and_then(Value::as_u64).unwrap_or(0)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn radio(cli: &Cli, api: &ApiClient, command: &RadioCommand) -> Result<ExitCode> {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match command {
        RadioCommand::Start {
            name,
            ids,
            personal,
            live,
        } => {
            let body = json!({"name": name, "ids": ids, "personal": personal, "live": live});
            let v = api.call("POST", "/v1/radio/start", Some(&body))?;
            if cli.json {
                output::print_json(&v);
            } else if *live {
                println!(
                    "live channel {} ({}) is waiting for a source",
                    s(&v, "channel_id"),
                    s(&v, "name")
                );
                println!("broadcast to:  {}", s(&v, "source_url"));
                println!(
                    "  for example: ffmpeg -re -i FILE.mp3 -c copy -content_type audio/mpeg -f mp3 '{}'",
                    s(&v, "source_url")
                );
                println!("listen at:     {}", s(&v, "stream_url"));
            } else {
                println!(
                    "broadcasting {} on channel {}",
                    s(&v, "name"),
                    s(&v, "channel_id")
                );
                println!("listen at {}", s(&v, "stream_url"));
            }
        }
        RadioCommand::Stop { channel } => {
            let v = api.call(
                "POST",
                "/v1/radio/stop",
                Some(&json!({"channel_id": channel})),
            )?;
            let stopped = v.get("stopped").and_then(Value::as_bool).unwrap_or(false);
            if cli.json {
                output::print_json(&v);
            } else if stopped {
                println!("stopped channel {}", s(&v, "channel_id"));
            } else {
                println!("channel {} was not broadcasting here", s(&v, "channel_id"));
            }
        }
        RadioCommand::List => {
            for c in list_of(api.call("GET", "/v1/radio/list", None)?) {
                if cli.json {
                    output::print_json(&c);
                } else {
                    let listeners = c.get("listeners").and_then(Value::as_u64).unwrap_or(0);
                    let mut flags = String::new();
                    if c.get("broadcasting").and_then(Value::as_bool) == Some(true) {
                        flags.push_str(" (broadcasting here)");
                    }
                    if c.get("tuned").and_then(Value::as_bool) == Some(true) {
                        flags.push_str(" (tuned)");
                    }
                    println!(
                        "{}  {}  {listeners} listeners{flags}",
                        s(&c, "channel_id"),
                        s(&c, "name")
                    );
                    if let Some(t) = c.get("now_playing").filter(|t| t.is_object()) {
                        println!("    now playing: {}", track_line(t));
                    }
                }
            }
        }
        RadioCommand::Tune {
            channel,
            out,
            seconds,
        } => {
            let out = out
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()));
            let body = json!({"channel_id": channel, "out": out, "seconds": seconds});
            let v = api.call("POST", "/v1/radio/tune", Some(&body))?;
            if cli.json {
                output::print_json(&v);
            } else {
                let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                println!(
                    "played {} segments ({} late, continuity {:.3}); first audio after {:.0} ms, lag {:.0} ms, {:.0} kbit/s received",
                    v.get("segments").and_then(Value::as_u64).unwrap_or(0),
                    v.get("late").and_then(Value::as_u64).unwrap_or(0),
                    f("continuity"),
                    f("startup_ms"),
                    f("lag_ms"),
                    f("kbps")
                );
                for t in v
                    .get("tracks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    println!("  played {}", track_line(t));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `Title - Artist (id)` of a `{"id", "title", "artist"}` track: the id to fetch or rate it by.
fn track_line(t: &Value) -> String {
    let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default();
    format!("{} - {} ({})", s("title"), s("artist"), s("id"))
}

/// Prints a `{"link"}` answer: the link alone on its line either way.
pub(crate) fn print_link(cli: &Cli, v: &Value) {
    if cli.json {
        output::print_json(v);
    } else {
        println!(
            "{}",
            v.get("link").and_then(Value::as_str).unwrap_or_default()
        );
    }
}

/// Prints what `open` opened: a track as `list` does, an artist as `artist` does, a peer.
fn print_opened(cli: &Cli, v: &Value) {
    if v.get("owner").is_some() && !cli.json {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
        println!("playlist {name:?}, kept here (busker playlist show {name:?}):");
        for track in v["releases"].as_array().into_iter().flatten() {
            if track.get("title").is_some() {
                println!("  {}", output::summary_line(track));
            } else {
                println!(
                    "  {}  (no reachable peer describes it)",
                    track["id"].as_str().unwrap_or_default()
                );
            }
        }
    } else if v.get("releases").is_some() {
        output::print_artist(cli.json, v);
        if !cli.json && v.get("following").and_then(Value::as_bool) == Some(false) {
            println!(
                "  follow with: busker follow {}",
                v.get("artist_key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
    } else if v.get("title").is_some() {
        output::print_track(cli.json, v);
    } else if cli.json {
        output::print_json(v);
    } else if let Some(peer) = v.get("peer_id").and_then(Value::as_str) {
        println!("joined {peer}");
    }
}

/// `busker open --app [LINK]`, what the desktop runs for a link: hands it to the running app or
/// node (the app shows it), else starts the app with it.
pub fn open_in_app(cli: &Cli, api: Option<&ApiClient>, link: Option<&str>) -> Result<ExitCode> {
    if let Some(link) = link {
        // Checked here first, so that a broken link says so at once and never starts the app.
        busker_core::link::Link::parse(link)?;
    }
    match (api, link) {
        (Some(api), Some(link)) => {
            let body = json!({"link": link, "show": true, "resolve": false});
            let v = api.call("POST", "/v1/open", Some(&body))?;
            if v.get("handed_to_app").and_then(Value::as_bool) == Some(true) {
                if cli.json {
                    output::print_json(&v);
                } else {
                    println!("opened in the running app");
                }
            } else {
                print_opened(cli, &v);
            }
            Ok(ExitCode::SUCCESS)
        }
        (Some(_), None) => {
            println!("Busker is already running on this data dir");
            Ok(ExitCode::SUCCESS)
        }
        (None, link) => {
            let mut options = busker::AppOptions::new(crate::data_dir(cli)?);
            if cli.no_demo {
                options.seed_demo = Some(false);
            }
            options.open_link = link.map(str::to_owned);
            busker::app::run_native(options)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
