//! The `busker` binary: the command line and, with no command, the desktop app ([`busker::App`]).
//!
//! When a `busker node` runs on the data dir, every command goes through its local control API
//! ([`http`]); otherwise commands that need no network open the data dir themselves and do their
//! work through [`busker_core::Library`], and commands that need the network fail with a clear
//! message. Output is readable text or, with `--json`, one JSON object per line (`CLI.md` is the
//! contract). Errors print once, as one line on stderr, and the exit code is non-zero.

mod cli;
mod node;

use busker::output::ShareTarget;
use busker::{http, output, play, playlists};

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use busker_core::{DataDir, Library, LibraryOptions, PublishEvent, PublishOptions};
use clap::Parser;

use crate::cli::{Cli, Command, KeyCommand};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,symphonia=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", busker_core::Report(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn data_dir(cli: &Cli) -> Result<PathBuf> {
    match &cli.data_dir {
        Some(dir) => Ok(dir.clone()),
        None => DataDir::default_root()
            .context("no home directory to keep Busker's data in; pass --data-dir DIR"),
    }
}

pub(crate) fn open_library(cli: &Cli, artist: Option<&str>) -> Result<Library> {
    let dir = data_dir(cli)?;
    let mut options = LibraryOptions::new(&dir);
    if cli.no_demo {
        options = options.seed_demo(false);
    }
    if let Some(name) = artist {
        options = options.artist_name(name);
    }
    let options = options.on_move_progress(|p| {
        eprintln!(
            "moving audio out of the database into files: {}/{} tracks, {} MB",
            p.done,
            p.total,
            p.bytes >> 20
        );
    });
    Library::open(options).with_context(|| format!("cannot open data dir {}", dir.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = &cli.command else {
        let mut options = busker::AppOptions::new(data_dir(&cli)?);
        if cli.no_demo {
            options.seed_demo = Some(false);
        }
        busker::app::run_native(options)?;
        return Ok(ExitCode::SUCCESS);
    };
    let dir = data_dir(&cli)?;
    if let Command::Key {
        command: KeyCommand::Export { file },
    } = command
    {
        // Reads the key file alone: works beside a running node. A data dir never opened gets
        // its keys first.
        if !dir.join("keys").join("artist.key").exists() {
            drop(open_library(&cli, None)?);
        }
        let key = busker_core::export_artist_key(&dir, file)
            .with_context(|| format!("cannot export the artist key of {}", dir.display()))?;
        output::print_key(
            cli.json,
            &serde_json::json!({"artist_key": key.to_hex(), "file": file}),
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::InstallDesktop = command {
        return install_desktop(&cli);
    }
    let api = http::ApiClient::discover(&dir);
    if let Command::Open { link, app: true } = command {
        return node::open_in_app(&cli, api.as_ref(), link.as_deref());
    }
    if let Some(api) = api {
        return node::remote(&cli, &api, command);
    }
    match command {
        Command::Node {
            listen,
            peer,
            external,
            mdns,
        } => node::run(
            &cli,
            node::NodeArgs {
                listen,
                peers: peer,
                external,
                mdns: *mdns,
            },
        ),
        Command::Connect { .. }
        | Command::Invite { .. }
        | Command::Join { .. }
        | Command::Open { .. }
        | Command::Status
        | Command::Peers
        | Command::Fetch { .. }
        | Command::Artist { key: Some(_) }
        | Command::Radio { .. }
        | Command::Subsonic => anyhow::bail!(
            "no busker node is running on {}; start one with `busker --data-dir {} node`",
            dir.display(),
            dir.display()
        ),
        Command::Publish {
            paths,
            artist,
            title,
            album,
        } => publish(&cli, paths, artist.as_deref(), title.clone(), album.clone()),
        Command::Artist { key: None } => {
            let library = open_library(&cli, None)?;
            let catalog = library.artist_catalog()?;
            output::print_artist(
                cli.json,
                &output::artist_json(&library.artist_key(), catalog.as_ref()),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::List => {
            let library = open_library(&cli, None)?;
            for track in library.list()? {
                output::print_track(cli.json, &output::summary_json(&track));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, limit } => {
            let library = open_library(&cli, None)?;
            let query = query.join(" ");
            let hits = library.search(&query, *limit)?;
            if hits.is_empty() && !cli.json {
                eprintln!("no tracks match {query:?}");
            }
            for track in hits {
                output::print_track(cli.json, &output::summary_json(&track));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Play { id, out, seconds } => play(&cli, id, out.as_deref(), *seconds),
        Command::Recommend { limit } => {
            let library = open_library(&cli, None)?;
            let list: Vec<serde_json::Value> = library
                .recommend(usize::from(*limit))?
                .iter()
                .map(output::recommendation_json)
                .collect();
            output::print_recommendations(cli.json, &list);
            Ok(ExitCode::SUCCESS)
        }
        Command::Playlist { command } => {
            let op = command.clone().prepared()?;
            let answer = playlists::apply(&open_library(&cli, None)?, &op)?;
            playlists::print(cli.json, &op, &answer)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key { command } => key(&cli, command),
        Command::InstallDesktop => install_desktop(&cli),
        Command::Share { id } => {
            // Without a node: no peer hints, the id alone (the network finds holders).
            let library = open_library(&cli, None)?;
            let link = match output::share_target(&library, id)? {
                ShareTarget::Track(track) => {
                    busker_core::link::Link::Track(busker_core::link::TrackLink {
                        id: track,
                        hints: Vec::new(),
                    })
                }
                ShareTarget::Artist(key) => busker_core::link::Link::Artist(key),
                // The record goes into the DHT when a node next starts on this data dir.
                ShareTarget::Playlist(list) => {
                    library.store().set_playlist_shared(&list)?;
                    busker_core::link::Link::Playlist(busker_core::link::PlaylistLink {
                        id: list,
                        hints: Vec::new(),
                    })
                }
            };
            node::print_link(&cli, &serde_json::json!({"link": link.to_string()}));
            Ok(ExitCode::SUCCESS)
        }
        Command::Follow { key } | Command::Unfollow { key } => {
            let following = matches!(command, Command::Follow { .. });
            let key = key.parse().context("an artist key is 64 hex digits")?;
            open_library(&cli, None)?.follow(&key, following)?;
            output::print_follow(cli.json, &output::follow_json(&key, following));
            Ok(ExitCode::SUCCESS)
        }
        Command::Block { key } | Command::Unblock { key } => {
            let blocked = matches!(command, Command::Block { .. });
            let key = key.parse().context("an artist key is 64 hex digits")?;
            open_library(&cli, None)?.block(&key, blocked)?;
            output::print_block(cli.json, &output::block_json(&key, blocked));
            Ok(ExitCode::SUCCESS)
        }
        Command::Rate { id, stars } => {
            let library = open_library(&cli, None)?;
            let id = library.resolve(id)?;
            library.rate(&id, *stars)?;
            if cli.json {
                output::print_json(&serde_json::json!({"id": id.to_hex(), "stars": stars}));
            } else if *stars == 0 {
                println!("cleared the rating of {}", &id.to_hex()[..12]);
            } else {
                println!(
                    "rated {} {}",
                    &id.to_hex()[..12],
                    "*".repeat(*stars as usize)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn play(
    cli: &Cli,
    id: &str,
    out: Option<&std::path::Path>,
    seconds: Option<f64>,
) -> Result<ExitCode> {
    let library = open_library(cli, None)?;
    let id = library.resolve(id)?;
    let manifest = library.manifest(&id)?;
    if !library.store().is_local(&id)? {
        anyhow::bail!(
            "{} is not on this peer yet; playing it from peers needs a running `busker node`",
            &id.to_hex()[..12]
        );
    }
    let report = play::play_track(
        library.store().clone(),
        &manifest,
        std::sync::Arc::new(busker_core::stream::NoNetwork),
        out,
        seconds,
        play::LOCAL_CHUNK_TIMEOUT,
    )?;
    report.print(cli.json, out);
    Ok(ExitCode::SUCCESS)
}

fn publish(
    cli: &Cli,
    paths: &[PathBuf],
    artist: Option<&str>,
    title: Option<String>,
    album: Option<String>,
) -> Result<ExitCode> {
    let library = std::sync::Arc::new(open_library(cli, artist)?);
    let options = PublishOptions {
        title,
        artist: artist.map(str::to_owned),
        album,
    };
    // Ctrl-C or SIGTERM stops the publish at its next chunk: what is done stays.
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (library, interrupted) = (library.clone(), interrupted.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the signal handler")?;
        std::thread::spawn(move || {
            if runtime.block_on(node::wait_for_signal()).is_ok() {
                interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                library.stop_publishing();
            }
        });
    }
    let show_progress = !cli.json && std::io::stderr().is_terminal();
    let bar = indicatif::ProgressBar::hidden();
    let mut cover_refused = None;
    let results = library.publish_paths(paths, &options, |event| match event {
        PublishEvent::Found(n) => {
            if show_progress && n > 1 {
                bar.set_length(n as u64);
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
        }
        PublishEvent::CoverRefused { path, refused, .. } => {
            let note = format!("{}: {refused}", path.display());
            bar.suspend(|| eprintln!("warning: {note}"));
            cover_refused = Some(note);
        }
        PublishEvent::Finished(result) => {
            bar.inc(1);
            match result {
                Ok(m) => {
                    bar.set_message(m.info().title.clone());
                    if cli.json {
                        let mut v = output::track_json(m);
                        if let (Some(note), serde_json::Value::Object(map)) =
                            (cover_refused.take(), &mut v)
                        {
                            map.insert("cover_refused".into(), note.into());
                        }
                        output::print_json(&v);
                    } else {
                        bar.suspend(|| {
                            println!(
                                "published {}  {} - {}",
                                &m.id().to_hex()[..12],
                                m.info().artist,
                                m.info().title
                            )
                        });
                    }
                }
                Err(e) => bar.suspend(|| eprintln!("error: {e}")),
            }
        }
    });
    bar.finish_and_clear();
    let failed = results.iter().filter(|r| r.is_err()).count();
    if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "interrupted: {} published and kept; the file in progress left nothing behind",
            results.len() - failed
        );
        return Ok(ExitCode::from(130));
    }
    if failed > 0 {
        if !cli.json {
            eprintln!("{} published, {failed} failed", results.len() - failed);
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `busker key import` (export runs before a node is looked for, see [`run`]).
fn key(cli: &Cli, command: &KeyCommand) -> Result<ExitCode> {
    let KeyCommand::Import { file, replace } = command else {
        unreachable!("export is handled before the data dir is opened");
    };
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let key = busker_core::artist::backup::parse(&text)
        .map_err(busker_core::Error::from)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let replaced = open_library(cli, None)?.import_artist_key(&key, *replace)?;
    output::print_key(
        cli.json,
        &serde_json::json!({
            "artist_key": key.public().to_hex(),
            "replaced": replaced.map(|k| k.to_hex()),
        }),
    );
    Ok(ExitCode::SUCCESS)
}

/// `busker install-desktop`: see [`busker::desktop`].
fn install_desktop(cli: &Cli) -> Result<ExitCode> {
    let installed = busker::desktop::install_this(cli.data_dir.as_deref())?;
    if cli.json {
        output::print_json(&serde_json::json!({
            "desktop_file": installed.desktop_file,
            "mimeapps": installed.mimeapps,
            "handler": busker::desktop::SCHEME_HANDLER,
        }));
    } else {
        println!(
            "busker:// links now open in Busker ({}, default set in {})",
            installed.desktop_file.display(),
            installed.mimeapps.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
